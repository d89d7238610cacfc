"""The engine's units of work on whatever backend JAX has (written for a lent GPU): the GD epoch,
the Hessian-vector product and the certified top-8 eigensolve, one model at a time and vmapped
over a batch of models, for the paper's two workhorses.

* **MLP** on the first 1,000 / 200 Fashion-MNIST images (Figure 5a's grid, chapters 2-5).
* **VGG10** (GhostBatchNorm over 1,024) on the first 5,000 / 1,000 CIFAR-10 images (Figures
  5b, 6 and 13 at the paper's scale).

Both read the standardized images from ``.devicedata/`` (``python benchmarks/bench_gpu.py pack``
here writes the fMNIST file; ``tools/device_cifar.py pack`` the CIFAR one), so the device needs no
dataset files. Per model and per batch of ``--models`` MLPs / ``--vgg-models`` VGG10s (one vmapped program: the sweep's
:func:`eoslib.gd.run_epochs` with ``batched=True``; ``jax.vmap`` of the HVP and of
:func:`eoslib.lanczos.lanczos_eigh`, each lane certified on its own), at initialization:

* ``epoch_s``: seconds per GD epoch (training step + evaluation pass), over ``--epochs`` epochs
  in one compiled loop;
* ``hvp_s``: seconds per Hessian-vector product (jitted, a fresh random vector each call);
* ``top8_s`` / ``top8_uncertified_s``: seconds per top-8 solve to relative residual 1e-3 with
  the missed-eigenvalue check (the library's default) and without it (``check=None``), with their
  HVP counts; ``top8_linearized_s``: the certified solve with linearized products
  (``Objective(hvp_mode="linearized")``, one ``jax.linearize`` per solve, inside the program); ``top8_eigsh_s``: one model's top-8 by ``scipy.sparse.linalg.eigsh`` calling the
  jitted HVP from the host (as Cohen et al.'s code does), at ARPACK tol 1e-3.

Every time is the median of ``--repeats`` calls after one compiling call, blocked on the
result. ``model_*_per_s`` = models / seconds. Writes ``<out>/bench_gpu.json``; the committed
copy of a GPU run is ``benchmarks/results/gpu.json``.

    python benchmarks/bench_gpu.py pack                      # here, once (needs EOSLIB_DATA_DIR)
    python benchmarks/bench_gpu.py run --out $OUT            # on the device (carry .devicedata)
    python benchmarks/bench_gpu.py run --out /tmp/b --quick  # a CPU smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # on the device eoslib is the travelled tree
FMNIST_PACK = ROOT / ".devicedata" / "fmnist_1000_200.npz"
CIFAR_PACK = ROOT / ".devicedata" / "cifar10_5000_1000.npz"


def pack() -> None:
    """The standardized first 1,000 / 200 Fashion-MNIST images into ``.devicedata/``."""
    from eoslib import data
    split = data.fashion_mnist(1000, 200)
    FMNIST_PACK.parent.mkdir(exist_ok=True)
    np.savez_compressed(FMNIST_PACK, **{k: getattr(split, k) for k in ("x_train", "y_train", "x_eval", "y_eval")})
    print(f"{FMNIST_PACK} ({FMNIST_PACK.stat().st_size / 2**20:.1f} MiB)")


def median_s(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls after one (compiling) call."""
    import jax
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def _solves():
    from eoslib.lanczos import DEFAULT_CHECK
    return ((DEFAULT_CHECK, "top8", "direct"), (None, "top8_uncertified", "direct"),
            (DEFAULT_CHECK, "top8_linearized", "linearized"))


def bench_model(name: str, config, split, models: int, epochs: int, repeats: int, save, solves: bool = True) -> dict:
    """Epoch, HVP and top-8 timings of ``config``'s model, single and ``models``-vmapped;
    ``save(out)`` after each measurement (a run stopped at its time limit keeps what it has)."""
    import jax
    from jax.flatten_util import ravel_pytree

    from eoslib import sweep
    from eoslib.gd import run_epochs
    from eoslib.lanczos import lanczos_eigh
    from eoslib.runs import prepare
    out = {"model": name, "n_train": int(len(split.y_train)), "vmapped_models": models}
    for m in (1, models):
        configs = sweep.lr_seed_grid(config, [0.05], range(m))
        prep = prepare(configs, split, batched=m > 1)
        train = jax.device_put(prep.train_data)
        args = [jax.device_put(getattr(prep, k)) for k in ("eval_data", "limits", "schedule", "state")]
        epoch = lambda p=prep, m=m, t=train, a=args: run_epochs(  # noqa: E731
            p.objective, epochs, t, *a[:3], a[3], 0, batched=m > 1, lane_groups=p.plan.lane_groups)[0]
        out[f"epoch_s_{m}"] = median_s(epoch, repeats) / epochs
        save(out)
        params, stats = args[3].params, args[3].batch_stats
        dim = ravel_pytree(jax.tree.map(lambda x: x[0], params) if m > 1 else params)[0].size
        out["params"] = int(dim)

        def hvp(p, s, v, o=prep.objective, t=train):
            return o.hessian_matvec(p, s, t)(v)

        def top8(p, s, key, check, mode, o=prep.objective, t=train):
            matvec = dataclasses.replace(o, hvp_mode=mode).hessian_matvec(p, s, t)
            e = lanczos_eigh(matvec, dim, 8, tol=1e-3, key=key, check=check)
            return e.values, e.num_matvecs, e.certified

        shape = (m, dim) if m > 1 else (dim,)
        keys = jax.random.split(jax.random.key(1), m) if m > 1 else jax.random.key(1)
        vmap = (lambda f, axes: jax.vmap(f, in_axes=axes)) if m > 1 else (lambda f, axes: f)
        hvp_j = jax.jit(vmap(hvp, (0, 0, 0)))
        vs = iter(jax.random.normal(jax.random.key(2), (repeats + 1, *shape)))
        out[f"hvp_s_{m}"] = median_s(lambda: hvp_j(params, stats, next(vs)), repeats)
        save(out)
        for check, label, mode in _solves() if solves else ():
            solve = jax.jit(vmap(lambda p, s, k, c=check, h=mode: top8(p, s, k, c, h), (0, 0, 0)))
            out[f"{label}_s_{m}"] = median_s(lambda: solve(params, stats, keys), repeats)
            _, hvps, certified = solve(params, stats, keys)
            out[f"{label}_hvps_{m}"] = np.asarray(hvps).tolist()
            out[f"{label}_certified_{m}"] = np.asarray(certified).tolist()
            save(out)
        for kind in ("epoch", "hvp", "top8") if solves else ("epoch", "hvp"):
            out[f"model_{kind}s_per_s_{m}"] = m / out[f"{kind}_s_{m}"]
        if m == 1 and solves:
            out["top8_eigsh_s_1"] = eigsh_seconds(jax.jit(lambda v: hvp(params, stats, v)), dim, repeats)
            save(out)
    return out


def eigsh_seconds(matvec, dim: int, repeats: int) -> float:
    """Median seconds of ARPACK's top-8 (tol 1e-3) on the jitted HVP called from the host."""
    import jax.numpy as jnp
    import scipy.sparse.linalg as spla

    def solve():
        op = spla.LinearOperator((dim, dim), dtype=np.float64,
                                 matvec=lambda v: np.asarray(matvec(jnp.asarray(v, jnp.float32)), np.float64))
        return spla.eigsh(op, k=8, which="LA", tol=1e-3, v0=np.random.default_rng(0).normal(size=dim))[0]
    return median_s(solve, max(1, repeats // 2))


def load(path: Path):
    from eoslib import data
    with np.load(path) as f:
        return data.Split(**{k: f[k] for k in ("x_train", "y_train", "x_eval", "y_eval")})


def run(out: Path, models: int, vgg_models: int, epochs: int, repeats: int, quick: bool) -> dict:
    import jax

    from eoslib.chapters.generalization import experiment as generalization
    from eoslib.provenance import provenance
    sys.path.insert(0, str(ROOT / "tools"))
    from device_cifar import load_pack
    out.mkdir(parents=True, exist_ok=True)
    result = {"provenance": provenance(), "devices": [str(d) for d in jax.devices()], "models": []}
    cifar = load_pack()
    fmnist = load(FMNIST_PACK)
    if quick:
        from eoslib import data
        cifar = data.subset(cifar, 32, 32)
    mlp = generalization.fmnist_base()
    vgg = generalization.cifar_base("paper", n_train=len(cifar.y_train), n_eval=len(cifar.y_eval))
    for name, config, split, m, ep in (("mlp", mlp, fmnist, models, epochs * 10),
                                       ("vgg10", vgg, cifar, vgg_models, epochs)):
        tic, done = time.perf_counter(), len(result["models"])

        def save(entry, done=done, tic=tic):
            result["models"][done:] = [{**entry, "bench_wall_s": time.perf_counter() - tic}]
            (out / "bench_gpu.json").write_text(json.dumps(result, indent=1))
        # --quick: no VGG10 eigensolves (its compiled solve loop runs ~6x slower per HVP than
        # eager conv backprop on a CPU: minutes; on a GPU it is the fast path)
        solves = not (quick and name == "vgg10")
        print(json.dumps(bench_model(name, config, split, m, ep, repeats, save, solves)), flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("pack")
    r = sub.add_parser("run")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--models", type=int, default=40, help="MLPs in the vmapped batch (the fMNIST sweep's 8 rates x 5 seeds)")
    r.add_argument("--vgg-models", type=int, default=8, help="VGG10s in the vmapped batch (its HVP at 5k images needs ~7 GB a lane)")
    r.add_argument("--epochs", type=int, default=20, help="VGG10 epochs per timed call (MLP: 10x)")
    r.add_argument("--repeats", type=int, default=5)
    r.add_argument("--quick", action="store_true", help="CPU smoke: 32 CIFAR images, 2 models, 2 epochs, no VGG10 eigensolves")
    args = parser.parse_args()
    if args.step == "pack":
        pack()
    elif args.quick:
        run(args.out, 2, 2, 2, 1, True)
    else:
        run(args.out, args.models, args.vgg_models, args.epochs, args.repeats, False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Is every certified eigenpair set right? Chapter 2's ``ci`` run checked against ARPACK (issue 27).

The run: the paper's MLP (the authors' initialization) on the first 1,000 Fashion-MNIST images,
full-batch GD at η = 0.1 for 300 epochs, seed 0: chapter 2's ``ci`` run, whose trajectory does
not depend on the eigensolves. At every epoch:

* the reference: ``scipy.sparse.linalg.eigsh`` at tol 1e-10 on the float64 Hessian at the
  float32 iterate, the top ``max(k) + 1`` eigenvalues;
* the book's tracked solve, for each ``k``: float32, warm-started from the previous epoch's
  ``k`` vectors (:func:`eoslib.tracking.top_eigenpairs`, the trainer's path, key 0).

A certified set is *wrong* when one of its values differs from the true sorted top-k by more
than the stated error, ``error_bound`` (at least ``tol · S``, S the top
eigenvalue; the 8-step check of the stores states no bound: 0), beyond the float32 operator's
own precision. Also counted: certified sets beyond ``tol · S`` (the solver's tolerance).

    python tools/certificate_check.py --ks 8,10,20 -o benchmarks/results/certificate.json

The trajectory and the reference are cached under ``--cache`` (``/tmp/eoslib-certificate``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eoslib import data, provenance, schedules  # noqa: E402
from eoslib.chapters.rotations import experiment as rotations  # noqa: E402
from eoslib.gd import run_epochs  # noqa: E402
from eoslib.lanczos import DEFAULT_CHECK, LEGACY_CHECK  # noqa: E402
from eoslib.objective import Batch  # noqa: E402
from eoslib.runs import prepare  # noqa: E402
from eoslib.tracking import top_eigenpairs  # noqa: E402


def trajectory(epochs: int, cache: Path):
    """(E + 1, d) float32 flat parameters of chapter 2's ci run, epochs 0..E, and the prepared run."""
    P = rotations.PRESETS["ci"]
    split = data.fashion_mnist(P["n_train"], P["n_eval"])
    config = rotations.run_config(P, 0, schedules.constant(P["eta"]), epochs)
    prep = prepare([config], split, batched=False)
    path = cache / f"trajectory_{epochs}.npy"
    if path.exists():
        return np.load(path), prep
    state, flats = prep.state, []
    for epoch in range(epochs + 1):
        flats.append(np.asarray(ravel_pytree(state.params)[0]))
        state, _ = run_epochs(prep.objective, 1, prep.train_data, prep.eval_data, prep.limits,
                              prep.schedule, state, epoch)
    flats = np.stack(flats)
    np.save(path, flats)
    return flats, prep


def matvec_at(prep, flat, dtype):
    unravel = ravel_pytree(prep.state.params)[1]
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype), unravel(jnp.asarray(flat)))
    batch = Batch(prep.train_data.x.astype(dtype), prep.train_data.y)
    return prep.objective.hessian_matvec(params, {}, batch)


def reference(flats, prep, k: int, cache: Path) -> np.ndarray:
    """(E + 1, k) true top-k values (float64 Hessian, ARPACK tol 1e-10), cached."""
    import scipy.sparse.linalg as spla

    path = cache / f"reference_{len(flats) - 1}_{k}.npy"
    if path.exists():
        return np.load(path)
    apply = jax.jit(lambda m, v: m(v))
    out = []
    with jax.enable_x64(True):
        for epoch, flat in enumerate(flats):
            m = matvec_at(prep, flat.astype(np.float64), jnp.float64)
            op = spla.LinearOperator((flat.size,) * 2, dtype=np.float64,
                                     matvec=lambda v, m=m: np.asarray(apply(m, jnp.asarray(v))))
            out.append(np.sort(spla.eigsh(op, k=k, which="LA", tol=1e-10, return_eigenvectors=False))[::-1])
            if epoch % 50 == 0:
                print(f"reference epoch {epoch}: S = {out[-1][0]:.3f}", flush=True)
    out = np.stack(out)
    np.save(path, out)
    return out


def tracked(flats, prep, k: int, tol: float, **solver):
    """The book's path at every epoch: values (E + 1, k), HVPs, certified, miss bounds."""
    apply_solve = lambda m, prev: top_eigenpairs(m, flats.shape[1], k, tol=tol, prev_vectors=prev, **solver)  # noqa: E731
    prev, rows = None, []
    for flat in flats:
        pairs = apply_solve(matvec_at(prep, flat, jnp.float32), prev)
        prev = pairs.vectors
        rows.append((np.asarray(pairs.values), int(pairs.num_matvecs), bool(pairs.certified),
                     float(pairs.error_bound), np.asarray(pairs.residuals)))
    return tuple(np.array(x) for x in zip(*rows))


def judge(values, true, certified, bounds, residuals, tol: float) -> dict:
    """Per epoch: the largest error against the true sorted top-k. Wrong = certified and beyond
    the stated error ``error_bound`` (0 for the legacy check, which states none),
    plus 0.5 % of tol · S for the float32 operator's precision against the float64 reference."""
    k = values.shape[1]
    error = np.max(np.abs(values - true[:, :k]), axis=1)
    stated = np.nan_to_num(bounds, nan=0.0)
    allowed = np.maximum(stated, tol * true[:, 0]) + 5e-3 * tol * true[:, 0]
    wrong = certified & (error > allowed)
    missed = error > tol * true[:, 0] * 1.005
    return dict(certified=int(certified.sum()), epochs=int(len(error)), wrong=int(wrong.sum()),
                wrong_epochs=[int(e) for e in np.nonzero(wrong)[0]],
                beyond_tol=int(missed.sum()), beyond_tol_certified=int((missed & certified).sum()),
                max_error_over_s=float(np.max(error / true[:, 0])))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ks", default="8,10,20")
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--cache", type=Path, default=Path("/tmp/eoslib-certificate"))
    p.add_argument("--checks", default="legacy,default",
                   help="legacy: the fixed 8-step check (eoslib.runs.CHECKS['legacy']); default: the library's")
    p.add_argument("-o", "--output", type=Path)
    a = p.parse_args()
    a.cache.mkdir(parents=True, exist_ok=True)
    ks = [int(k) for k in a.ks.split(",")]
    flats, prep = trajectory(a.epochs, a.cache)
    true = reference(flats, prep, max(ks) + 1, a.cache)
    checks = {"legacy": LEGACY_CHECK, "default": DEFAULT_CHECK}
    results = {}
    for name in a.checks.split(","):
        results[name] = {}
        for k in ks:
            t0 = time.perf_counter()
            values, hvps, certified, bounds, residuals = tracked(flats, prep, k, a.tol, check=checks[name])
            results[name][str(k)] = dict(judge(values, true, certified, bounds, residuals, a.tol),
                                         hvps_per_epoch=float(hvps.mean()), hvps_max=int(hvps.max()),
                                         wall_s=time.perf_counter() - t0)
            print(name, k, results[name][str(k)], flush=True)
    if a.output:
        a.output.write_text(json.dumps(dict(
            made_by="tools/certificate_check.py", command=" ".join(sys.argv), epochs=a.epochs, tol=a.tol,
            run="chapter 2 ci: MLP (flax init), 1000 fMNIST images, eta 0.1, seed 0; tracked in float32, "
                "reference eigsh tol 1e-10 on the float64 Hessian at the float32 iterates",
            default_check=DEFAULT_CHECK._asdict(), provenance=provenance.provenance(), checks=results), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

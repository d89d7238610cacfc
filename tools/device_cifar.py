"""The paper-scale CIFAR-10 runs (Figures 5b, 6 and 13 at 5k / 1k images) on a lent GPU, within a
time budget, and their return into the committed store.

Three steps (README, "Paper-scale CIFAR-10 on a GPU"):

    python tools/device_cifar.py pack                    # here: .devicedata/cifar10_5000_1000.npz (18 MB)
    # on the device (the `device` tool's run, carry [".devicedata"]):
    python tools/device_cifar.py run --budget-s 540 --out $OUT
    python tools/device_cifar.py unpack <files_at>/records.tar.gz   # here: into store/cifar-generalization

``pack`` writes the raw first 5,000 training and 1,000 test images of the verified official
files (``eoslib.data.load_cifar10``) and their SHA-256: the official archives (180 MB) do not fit
the 64 MiB a device call carries. ``run`` checks the hash, standardizes exactly as
``eoslib.data.cifar10`` does (so the records' configs and keys are those of the chapter's
``paper`` profile), measures the VGG10 epoch on CIFAR-10-5k one model at a time and vmapped
(models per second), then runs ``tools/fill_store.py``'s paper-scale sweep (the vmapped sweep,
``--rates-per-batch`` rates x 5 seeds per program) in a child process that is stopped
``--margin-s`` seconds before the budget ends. Every record is written atomically when its
model stops, so a stopped sweep loses only its unfinished models, and the next call resumes
from the records committed since (the travelled tree's store); the new records come back as one
tarball (the device returns at most 8 files) with ``timings.json``. Their provenance names the GPU.
``unpack`` checks that each record's config hashes to its key before adding it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # on the device eoslib is the travelled tree, not an installed package
PACK = ROOT / ".devicedata" / "cifar10_5000_1000.npz"
N_TRAIN, N_EVAL = 5000, 1000


def _digest(arrays: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return h.hexdigest()


def pack(path: Path = PACK, n_train: int = N_TRAIN, n_eval: int = N_EVAL) -> None:
    """The raw first ``n_train`` / ``n_eval`` CIFAR-10 images and their SHA-256 into ``path``."""
    from eoslib import data
    raw = data.load_cifar10()
    arrays = {"x_train": raw.x_train[:n_train], "y_train": raw.y_train[:n_train],
              "x_eval": raw.x_eval[:n_eval], "y_eval": raw.y_eval[:n_eval]}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, sha256=_digest(arrays), **arrays)
    print(f"{path} ({path.stat().st_size / 2**20:.1f} MiB)")


def load_pack(pack: Path = PACK, n_train: int | None = None, n_eval: int | None = None):
    """The packed raw images, checked against their hash, their first ``n_train`` / ``n_eval``
    (default: all) standardized as ``eoslib.data.cifar10(n_train, n_eval)`` does, so that a
    smaller scale (``cpu-1k``) trains on exactly the chapter's data."""
    from eoslib import data
    with np.load(pack) as f:
        arrays = {k: f[k] for k in ("x_train", "y_train", "x_eval", "y_eval")}
        if _digest(arrays) != str(f["sha256"]):
            raise SystemExit(f"{pack}: contents do not match their SHA-256")
    return data.subset(data.Split(**arrays), n_train or len(arrays["y_train"]), n_eval or len(arrays["y_eval"]))


def measure(split, models: int, epochs: int = 5) -> dict:
    """Seconds per VGG10 epoch on CIFAR-10-5k for one model and for ``models`` vmapped models."""
    import jax

    from eoslib import sweep
    from eoslib.chapters.generalization import experiment as generalization
    from eoslib.gd import run_epochs
    from eoslib.runs import prepare

    out = {}
    for m in (1, models):
        configs = sweep.lr_seed_grid(generalization.cifar_base("paper"), [0.05], range(m))
        prep = prepare(configs, split, batched=m > 1)
        prep = prep._replace(**{k: jax.device_put(getattr(prep, k))
                                for k in ("train_data", "eval_data", "state", "schedule", "limits")})

        def run(prep=prep, m=m):
            state, _ = run_epochs(prep.objective, epochs, prep.train_data, prep.eval_data, prep.limits,
                                  prep.schedule, prep.state, 0, batched=m > 1, lane_groups=prep.plan.lane_groups)
            jax.block_until_ready(state)
        run()  # compile
        tic = time.perf_counter()
        run()
        seconds = (time.perf_counter() - tic) / epochs
        out[f"epoch_s_{m}_models"] = seconds
        out[f"model_epochs_per_s_{m}_models"] = m / seconds
    return out


def _fill(store_root: str, rates_per_batch: int, figures: str, scale, pack: Path) -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    from fill_store import fill_cifar

    from eoslib.chapters.generalization.experiment import cifar_scale
    from eoslib.results import ResultsStore
    s = cifar_scale(scale)
    fill_cifar(ResultsStore(store_root, compact_points=200), scale, rates_per_batch, figures,
               split=load_pack(pack, s["n_train"], s["n_eval"]))


def run(budget_s: float, margin_s: float, out: Path, models: int, rates_per_batch: int,
        figures: str = "5b,6,13", *, scale="paper", pack: Path = PACK,
        store_root: Path = Path("/tmp/eoslib-store"),
        committed: Path | None = ROOT / "store" / "cifar-generalization") -> None:
    """Measure (``models`` > 0), then fill ``scale`` (a name of ``CIFAR_SCALES`` or its settings)
    from ``pack`` into ``store_root``, resuming from the records in ``committed``, in a child
    stopped ``margin_s`` before ``budget_s``; the new records to ``out/records.tar.gz``."""
    start = time.perf_counter()
    import jax

    from eoslib.provenance import provenance
    from eoslib.results import ResultsStore
    out.mkdir(parents=True, exist_ok=True)
    timings = {"provenance": provenance(), "devices": [str(d) for d in jax.devices()]}
    split = load_pack(pack)
    if models > 0:  # benchmarks/bench_gpu.py measures the same and more
        timings.update(measure(split, models))
    store = ResultsStore(store_root, compact_points=200)
    for path in committed.glob("*.json") if committed else ():  # the travelled tree's records: resume
        store.put(json.loads(path.read_text()))
    before = set(store.keys())
    child = multiprocessing.get_context("spawn").Process(target=_fill, args=(str(store_root), rates_per_batch, figures, scale, pack))
    child.start()
    child.join(timeout=max(0.0, budget_s - margin_s - (time.perf_counter() - start)))
    stopped = child.is_alive()
    if stopped:
        child.terminate()
        child.join()
    store.remove_partial_writes()
    new = sorted(set(store.keys()) - before)
    with tarfile.open(out / "records.tar.gz", "w:gz") as tar:
        for key in new:
            tar.add(store_root / f"{key}.json", arcname=f"{key}.json")
    timings.update(records_new=len(new), stopped_at_budget=stopped, wall_s=time.perf_counter() - start,
                   model_seconds=[store.get(k)["wall_time_s"] for k in new])
    (out / "timings.json").write_text(json.dumps(timings, indent=1, default=str))
    print(json.dumps({k: v for k, v in timings.items() if k != "model_seconds"}, indent=1, default=str))


def unpack(tarball: Path, store=None) -> int:
    """Add the tarball's records to ``store`` (default: the committed ``cifar-generalization``),
    each checked to hash to its key; the number added."""
    from eoslib.chapters.generalization import experiment as generalization
    from eoslib.runs import RunConfig
    store = generalization.committed_store("cifar-generalization") if store is None else store
    added = 0
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            record = json.load(io.TextIOWrapper(tar.extractfile(member)))
            if RunConfig.from_dict(record["config"]).key() != record["key"]:
                raise SystemExit(f"{member.name}: its config does not hash to its key")
            if record["key"] not in store:
                store.put(record)
                added += 1
    print(f"{added} records added to {store.root}")
    return added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("pack")
    r = sub.add_parser("run")
    r.add_argument("--budget-s", type=float, default=540, help="seconds for the whole command")
    r.add_argument("--margin-s", type=float, default=60, help="stop the sweep this long before the budget")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--models", type=int, default=20, help="models vmapped in the timing (0: none)")
    r.add_argument("--rates-per-batch", type=int, default=4, help="rates x 5 seeds per vmapped program")
    r.add_argument("--figures", default="5b,6,13", help="whose runs, in this order (fill_store.fill_cifar)")
    r.add_argument("--scale", default="paper",
                   help="a scale of CIFAR_SCALES (cpu-1k: the CPU scale's runs, from the same pack)")
    u = sub.add_parser("unpack")
    u.add_argument("tarball", type=Path)
    args = parser.parse_args()
    if args.step == "pack":
        pack()
    elif args.step == "run":
        run(args.budget_s, args.margin_s, args.out, args.models, args.rates_per_batch, args.figures, scale=args.scale)
    else:
        unpack(args.tarball)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

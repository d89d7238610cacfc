"""The whole Figure 5a sweep (chapter 4's Fashion-MNIST grid) from an empty store, today's code
against a baseline commit, measured in one run: the two arms side by side, one core each.

Run: ``python benchmarks/bench_sweep.py --baseline <commit>`` (needs ``EOSLIB_DATA_DIR``; about an
hour on two cores). Writes ``benchmarks/results/sweep.json``.

Each arm runs :func:`eoslib.grid.sweep_until_divergence` on
:func:`eoslib.grid.fmnist_base` (the authors' initialization, ``--check`` eigensolves:
the top 3 every 50 epochs and at the end) with seeds 0-4 and the grid's 8 rates below 0.01, into
its own empty scratch store, pinned to its own core (``taskset``). Each arm runs from a ``git
worktree`` of its commit (``--new``, default ``HEAD``, and ``--baseline``; commit first), with the
same virtual environment and data, so that edits made meanwhile cannot reach a running arm. From each arm's
per-batch report (:func:`eoslib.sweep.run_batch` with a progress bar) the time is split into
training epochs and eigensolves. The grid ends at the first rate at which every seed failed, so
the arms may train different numbers of models when a seed's fate near the end differs (the runs
are chaotic there): both counts are reported.

``--scratch``: where the arms' stores go (kept: the new arm's records are a refill of the grid
with ``--check``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARM = """
import json, sys, time
import eoslib
from eoslib.chapters.generalization import experiment as generalization
from eoslib.results import ResultsStore
root, check, seeds, below, max_rates = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
tic = time.perf_counter()
records = generalization.sweep_until_divergence(
    generalization.fmnist_base(eig_check=check), range(seeds), ResultsStore(root, compact_points=200),
    below=below, max_rates=max_rates, rates_per_batch=8, progress=True)
print("ARM " + json.dumps({"models": len(records), "wall_s": time.perf_counter() - tic,
                           "eoslib": eoslib.__file__}), flush=True)
"""
BATCH = re.compile(r"batch of (\d+): (\d+) s, of which epochs (\d+) s \((\d+) lane-epochs\), "
                   r"eigensolves (\d+) s \((\d+) solves\)")


def start_arm(tree: Path, core: int, store: Path, args, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(tree)}
    command = ["taskset", "-c", str(core), sys.executable, "-c", ARM, str(store), args.check,
               str(args.seeds), str(args.below), str(args.max_rates)]
    return subprocess.Popen(command, cwd=tree, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def summary(log: Path) -> dict:
    """The arm's result line and its batches' epochs / eigensolve split."""
    text = log.read_text().replace("\r", "\n")
    arm = json.loads(next(line[4:] for line in text.splitlines() if line.startswith("ARM ")))
    batches = [tuple(map(int, m)) for m in BATCH.findall(text)]
    return {**arm, "batches": len(batches), "epochs_s": sum(b[2] for b in batches),
            "eigensolve_s": sum(b[4] for b in batches), "lane_epochs": sum(b[3] for b in batches),
            "solves": sum(b[5] for b in batches)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="the commit to compare with")
    ap.add_argument("--new", default="HEAD", help="the commit measured")
    ap.add_argument("--check", default="adaptive", choices=["adaptive", "legacy"])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--below", type=int, default=8)
    ap.add_argument("--max-rates", type=int, default=80, help="rates from 0.01 at most (a smoke run: 1)")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/eoslib-bench-sweep"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sweep.json")
    args = ap.parse_args()
    from benchmarks._worktrees import arm_trees
    from eoslib.provenance import provenance

    commits, trees = arm_trees(args.new, args.baseline, args.scratch)
    stores = {name: args.scratch / f"store-{sha[:10]}" for name, sha in commits.items()}
    for store in stores.values():
        if store.exists() and any(store.iterdir()):
            raise SystemExit(f"{store} is not empty: the sweep must start from nothing")
    logs = {name: args.scratch / f"{name}.log" for name in stores}
    tic = time.perf_counter()
    arms = {name: start_arm(trees[name], core, stores[name], args, logs[name])
            for core, name in enumerate(("new", "baseline"))}
    for name, proc in arms.items():
        if proc.wait():
            raise SystemExit(f"the {name} arm failed: see {logs[name]}")
    new, old = summary(logs["new"]), summary(logs["baseline"])
    ratio = new["wall_s"] / old["wall_s"]
    out = {"what": "chapter 4's fMNIST grid (Figure 5a) from an empty store, each arm on one core, side by side",
           "check": args.check, "seeds": args.seeds, "below": args.below, "max_rates": args.max_rates,
           "models": new["models"], "wall_s": new["wall_s"], "epochs_s": new["epochs_s"],
           "eigensolve_s": new["eigensolve_s"], "baseline_wall_s": old["wall_s"],
           "commit": commits["new"], "baseline_commit": commits["baseline"], "new": new, "baseline": old,
           "elapsed_s": time.perf_counter() - tic,
           "targets": [{"what": "full fMNIST grid sweep, wall time against the baseline", "target": "<= 0.5",
                        "measured": round(ratio, 3), "met": ratio <= 0.5}],
           "provenance": provenance()}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"new {new['wall_s']:.0f} s ({new['models']} models; epochs {new['epochs_s']} s, eigensolves "
          f"{new['eigensolve_s']} s), baseline {old['wall_s']:.0f} s ({old['models']} models; epochs "
          f"{old['epochs_s']} s, eigensolves {old['eigensolve_s']} s): ratio {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compute what a committed results store lacks (resumable: kill and rerun at will).

    python tools/fill_store.py fmnist-generalization      # Figure 5a: 0.01 x 1.1^k, k >= -8, until every seed diverges
    python tools/fill_store.py fmnist-generalization --root /tmp/fresh   # the whole sweep from nothing (timing)

Prints the wall time of the whole sweep, and per vmapped batch where it goes (training epochs
against eigensolves). The chapters ask the same store for the same configs
and compute only what is missing; this tool is for filling it ahead (on a CPU or a GPU).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from eoslib import generalization
from eoslib.results import ResultsStore


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", choices=["fmnist-generalization"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--below", type=int, default=8, help="rates of the grid under 0.01 (stable ones)")
    parser.add_argument("--rates-per-batch", type=int, default=8, help="rates per vmapped sweep")
    parser.add_argument("--root", type=Path, help="a store folder other than the committed one")
    args = parser.parse_args()
    store = (generalization.committed_store(args.store) if args.root is None
             else ResultsStore(args.root, compact_points=200))
    before = len(store.keys())
    start = time.perf_counter()
    records = generalization.sweep_until_divergence(generalization.fmnist_base(), range(args.seeds), store,
                                                    below=args.below, rates_per_batch=args.rates_per_batch,
                                                    progress=True)
    seconds = time.perf_counter() - start
    print(f"{len(records)} records ({len(store.keys()) - before} computed) in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

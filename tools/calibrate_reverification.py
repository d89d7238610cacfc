"""Measure how far re-runs made here drift from stored records made elsewhere (another CPU, other
rounding), over the window that ``eoslib.verification.verify`` compares: the calibration of its
accuracy and value tolerances (``store/README.md``, "Re-verification: what must agree").

    EOSLIB_DATA_DIR=../shared/data python tools/calibrate_reverification.py fmnist-mse 24 -o gaps.json

Records longer than 3,000 epochs are re-run for their first 3,000, as ``tests/test_store.py`` does.
"""

from __future__ import annotations

import argparse
import json
import random

from eoslib import verification
from eoslib.results import open_store

WHOLE_UP_TO = 3000


def _peers(record: dict, everyone: list[dict]) -> list[dict]:
    """The other stored seeds of ``record``'s rate (as ``tests/test_store.py`` passes them)."""
    c = record["config"]
    return [r for r in everyone if r["key"] != record["key"]
            and r["config"]["schedule"] == c["schedule"] and r["config"]["n_train"] == c["n_train"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", default="calibration")
    parser.add_argument("--made-on", default="AMD", help="only records whose device names this")
    parser.add_argument("--max-lr", type=float, default=float("inf"),
                        help="only records at rates up to this (above 0.8 * 2/S(0) the window is epoch 0 only)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    store = open_store(args.store)
    records = [r for r in store.records() if args.made_on in r["provenance"]["device"]
               and r["config"]["schedule"]["lr"] <= args.max_lr]
    everyone = list(store.records())
    rows = []
    for record in random.Random(args.seed).sample(records, min(args.count, len(records))):
        prefix = WHOLE_UP_TO if record["final"]["epochs"] > WHOLE_UP_TO else None
        again = verification.rerun(record, prefix=prefix)
        last = verification.deterministic_until(record, again)
        gaps = verification.history_gaps(record, again, last)
        rows.append({"key": record["key"][:12], "lr": record["config"]["schedule"]["lr"],
                     "seed": record["config"]["seed"], "compared_until": last, "prefix": prefix,
                     "gaps": gaps, "series": verification.history_gap_series(record, again, last),
                     "problems": verification.verify(record, again, _peers(record, everyone))})
        print(rows[-1]["key"], rows[-1]["lr"], last, {k: (e, round(g, 4)) for k, (e, g) in gaps.items()},
              rows[-1]["problems"], flush=True)
    with open(args.output, "w") as f:
        json.dump({"store": args.store, "made_on": args.made_on, "records": rows}, f, indent=1)


if __name__ == "__main__":
    main()

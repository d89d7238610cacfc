"""Summarize a timed ``make test`` into ``benchmarks/results/tests.json``.

    make test PYTEST_ARGS=--junitxml=/tmp/junit.xml      # on a clean clone (or `CI=true bash .ci/run`)
    python tools/test_timings.py /tmp/junit.xml --make-test-s 812 [--ci-total-s 960] [--commit SHA] [-o benchmarks/results/tests.json]

From pytest's JUnit XML: the time of nbval's re-execution of each chapter (the sum of its cells),
of the store re-verification (``tests/test_store.py``), of the tiny smoke run of each chapter,
and the 15 slowest tests. ``--make-test-s`` and ``--ci-total-s`` are wall times measured around
``make test`` and ``.ci/run`` (e.g. with ``time``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from eoslib.provenance import cpu_model


def summarize(junit: Path) -> dict:
    """Per-chapter nbval seconds, store re-verification seconds, smoke runs and the 15 slowest."""
    cases = [(c.get("classname", ""), c.get("name", ""), float(c.get("time", 0)))
             for c in ET.parse(junit).getroot().iter("testcase")]
    nbval, smoke, store = defaultdict(float), {}, 0.0
    for cls, name, t in cases:
        match = re.search(r"book[./](\d\d_\w+)(\.ipynb)?$", cls)
        if match and name.startswith("Cell"):
            nbval[match.group(1)] += t
        elif cls.endswith("test_store"):
            store += t
        elif name.startswith("test_papermill_smoke_run_with_tiny_profile"):
            smoke[name.split("[")[-1].rstrip("]")] = round(t, 1)
    slowest = sorted(cases, key=lambda c: -c[2])[:15]
    return {"per_chapter_nbval_s": {k: round(v, 1) for k, v in sorted(nbval.items())},
            "store_reverify_s": round(store, 1), "tiny_smoke_s": smoke,
            "pytest_s": round(sum(t for _, _, t in cases), 1),
            "slowest": [{"test": f"{cls}::{name}", "s": round(t, 1)} for cls, name, t in slowest]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("junit", type=Path)
    parser.add_argument("--make-test-s", type=float, required=True)
    parser.add_argument("--ci-total-s", type=float, default=None)
    parser.add_argument("--commit", default="unknown", help="the commit the clean clone was at")
    parser.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/tests.json"))
    args = parser.parse_args()
    out = {"make_test_s": args.make_test_s, **summarize(args.junit), "ci_total_s": args.ci_total_s,
           "made_by": "tools/test_timings.py",
           "provenance": {"device": f"{platform.machine()} CPU ({cpu_model()}), {len(os.sched_getaffinity(0))} cores",
                          "git_commit": args.commit}}
    limits = [("make test (s)", 900, out["make_test_s"]),
              ("slowest chapter nbval (s)", 120, max(out["per_chapter_nbval_s"].values(), default=0.0)),
              ("store re-verification (s)", 240, out["store_reverify_s"]), (".ci/run (s)", 1500, out["ci_total_s"])]
    out["targets"] = [{"what": what, "target": f"<= {limit}", "measured": measured,
                       "met": measured is not None and measured <= limit} for what, limit, measured in limits]
    args.output.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

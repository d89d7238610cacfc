"""Compile time of the certified eigensolve (the largest program the tests and a run's first
solve compile), today's code against a baseline commit, measured in one run.

Run: ``python benchmarks/bench_compile.py --baseline <commit>`` (needs ``EOSLIB_DATA_DIR`` for
Fashion-MNIST; a few minutes on two cores). Writes ``benchmarks/results/compile.json``.

Each measurement is a fresh process (nothing compiled yet) pinned to one core, running
:func:`eoslib.lanczos.lanczos_eigh` (default certified check) for the top ``k`` of the Hessian
of chapter 4's MLP (784-32-32-32-32-10, the first 1,000 images) at initialization, twice: the
first call's time less the second's is the compile time; the second is the solve time. The two
arms run side by side, one core each, from ``git worktree``s of their commits with the same
virtual environment, and swap cores every round, so that load hits both alike. Their HVP counts
and eigenvalues are reported, to show that the same solve was timed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ARM = """
import json, sys, time
import jax
import eoslib
from eoslib import lanczos
from eoslib.runs import RunConfig, prepare
k = int(sys.argv[1])
config = RunConfig(n_train=1000)
prep = prepare([config], config.load_data(), batched=False)
state = prep.state
matvec = prep.objective.hessian_matvec(state.params, state.batch_stats, prep.train_data)
dim = sum(leaf.size for leaf in jax.tree.leaves(state.params))
times = []
for _ in range(2):
    tic = time.perf_counter()
    pairs = lanczos.lanczos_eigh(matvec, dim, k)
    pairs.values.block_until_ready()
    times.append(time.perf_counter() - tic)
print("ARM " + json.dumps({"compile_s": times[0] - times[1], "solve_s": times[1],
                           "hvps": int(pairs.num_matvecs), "certified": bool(pairs.certified),
                           "values": [float(v) for v in pairs.values], "eoslib": eoslib.__file__}), flush=True)
"""


def run_pair(trees: dict, cores: dict, k: int) -> dict:
    procs = {}
    for name, tree in trees.items():
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(tree)}
        procs[name] = subprocess.Popen(["taskset", "-c", str(cores[name]), sys.executable, "-c", ARM, str(k)],
                                       cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"the {name} arm failed:\n{stderr[-2000:]}")
        out[name] = json.loads(next(line[4:] for line in stdout.splitlines() if line.startswith("ARM ")))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="the commit to compare with")
    ap.add_argument("--new", default="HEAD", help="the commit measured")
    ap.add_argument("--ks", type=int, nargs="+", default=[3, 8])
    ap.add_argument("--rounds", type=int, default=4, help="per k; the arms swap cores every round")
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/eoslib-bench-compile"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "compile.json")
    args = ap.parse_args()
    from benchmarks._worktrees import arm_trees
    from eoslib.provenance import provenance

    commits, trees = arm_trees(args.new, args.baseline, args.scratch)
    results, targets = {}, []
    for k in args.ks:
        rounds = [run_pair(trees, {"new": r % 2, "baseline": 1 - r % 2}, k) for r in range(args.rounds)]
        arm = {name: {"compile_s": [round(r[name]["compile_s"], 3) for r in rounds],
                      "solve_s": [round(r[name]["solve_s"], 4) for r in rounds],
                      "hvps": rounds[0][name]["hvps"], "certified": rounds[0][name]["certified"],
                      "values": rounds[0][name]["values"]} for name in trees}
        ratio = statistics.median(r["new"]["compile_s"] / r["baseline"]["compile_s"] for r in rounds)
        solve_ratio = statistics.median(r["new"]["solve_s"] / r["baseline"]["solve_s"] for r in rounds)
        results[f"top{k}"] = {**arm, "compile_ratio": round(ratio, 3), "solve_ratio": round(solve_ratio, 3)}
        targets.append({"what": f"certified top-{k} first-call compile, new vs baseline (median of per-round ratios)",
                        "target": "< 1", "measured": round(ratio, 3), "met": ratio < 1})
        targets.append({"what": f"certified top-{k} solve time, new vs baseline (no slower: noise ~10 %)",
                        "target": "<= 1.1", "measured": round(solve_ratio, 3), "met": solve_ratio <= 1.1})
        print(f"top-{k}: compile {statistics.median(arm['new']['compile_s']):.2f} s vs "
              f"{statistics.median(arm['baseline']['compile_s']):.2f} s (ratio {ratio:.3f}), solve ratio "
              f"{solve_ratio:.3f}, HVPs {arm['new']['hvps']} vs {arm['baseline']['hvps']}", flush=True)
    out = {"what": "certified eigensolve of chapter 4's MLP at initialization: compile and solve time, "
                   "fresh processes, the arms side by side on one core each",
           "commit": commits["new"], "baseline_commit": commits["baseline"], "results": results,
           "targets": targets, "command": f"python benchmarks/bench_compile.py --baseline {args.baseline}",
           "provenance": provenance()}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Linearized against direct Hessian-vector products (``RunConfig.hvp``, ``Objective.hvp_mode``).

Run: ``python benchmarks/bench_hvp_modes.py [--quick] [--no-vgg-solve]`` (needs Fashion-MNIST and
CIFAR-10 through ``EOSLIB_DATA_DIR``). Writes ``benchmarks/results/hvp_modes.json``.

For each model, at its initialization as the trainer prepares it (``eoslib.runs.prepare``, the
execution plan of this machine):

1. **One product**: the jitted matvec of each mode applied to a fixed vector, in interleaved
   rounds (direct, linearized, direct, ...); each round's time is the median of its calls, and
   the ratio linearized / direct is the median of the per-round ratios (comparable on a busy
   machine). Compilation excluded.
2. **The linearization**: the seconds :meth:`eoslib.objective.Objective.linearized_matvec` takes
   to evaluate the forward and backward pass once (paid once per eigensolve), compiled.
3. **A certified top-3 eigensolve** (:func:`eoslib.runs.state_eigenpairs`, the adaptive check:
   the unit of work of every recorded eigensolve) after a loose warm-up solve (tolerance 0.5):
   the fastest of 5 for the MLP, a single one for VGG10 (minutes), with its HVP count; and how
   far the two modes' eigenvalues and products differ (rounding).

Models: chapter 4's MLP on 1,000 Fashion-MNIST images (compiled loops), and VGG10 on 1,000
CIFAR-10 images (the ``cpu-1k`` scale of chapter 6; Python loops over jitted steps on XLA:CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_trainer import run_times  # noqa: E402

from eoslib import data, schedules  # noqa: E402
from eoslib.chapters.generalization.experiment import cifar_base  # noqa: E402
from eoslib.provenance import provenance  # noqa: E402
from eoslib.runs import RunConfig, prepare, state_eigenpairs  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "hvp_modes.json"


def _cases() -> dict[str, tuple[RunConfig, data.Split]]:
    mlp = RunConfig(n_train=1000, n_eval=200, schedule=schedules.constant(0.1))
    vgg = cifar_base("cpu-1k", schedule=schedules.constant(0.08796))
    return {"mlp-fmnist-1k": (mlp, data.load("fmnist", mlp.n_train, mlp.n_eval)),
            "vgg10-cifar10-1k": (vgg, data.load("cifar10", vgg.n_train, vgg.n_eval))}


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - start, out


def bench_case(config: RunConfig, split: data.Split, rounds: int, calls: int, solve: int) -> dict:
    """The three measurements of the module docstring for one model."""
    direct = prepare([config], split, batched=False)
    linear = prepare([dataclasses.replace(config, hvp="linearized")], split, batched=False)
    state, batch = direct.state, direct.train_data
    make = {"direct": lambda: direct.objective.hessian_matvec(state.params, state.batch_stats, batch),
            "linearized": lambda: linear.objective.hessian_matvec(state.params, state.batch_stats, batch)}
    apply = jax.jit(lambda m, u: m(u))
    v = jax.random.normal(jax.random.key(0), (ravel_pytree(state.params)[0].size,))
    out = {"parameters": int(v.size), "n_train": config.n_train, "plan": direct.plan.as_dict()}
    compile_s, linearize_s, products = {}, [], {}
    for mode in make:
        compile_s[mode], products[mode] = _timed(lambda mode=mode: apply(make[mode](), v))
    out["first_product_s_with_compile"] = compile_s
    matvecs = {mode: make[mode]() for mode in make}
    per_round = {mode: [] for mode in make}
    for _ in range(rounds):
        for mode in make:
            per_round[mode].append(statistics.median(run_times(lambda m=mode: apply(matvecs[m], v).block_until_ready(), calls)))
        linearize_s.append(_timed(make["linearized"])[0])
    ratios = [lin / dir_ for lin, dir_ in zip(per_round["linearized"], per_round["direct"])]
    out["product_s"] = {mode: statistics.median(ts) for mode, ts in per_round.items()}
    out["product_ratio_linearized_over_direct"] = statistics.median(ratios)
    out["product_ratio_per_round"] = ratios
    out["linearize_s"] = statistics.median(linearize_s)
    diff = np.asarray(products["linearized"] - products["direct"])
    out["product_max_rel_diff"] = float(np.max(np.abs(diff)) / np.max(np.abs(np.asarray(products["direct"]))))
    if solve:
        out["solve"] = bench_solve(direct, linear, solve)
    return out


def bench_solve(direct, linear, repeats: int, k: int = 3, tol: float = 1e-3) -> dict:
    """A certified top-k solve of each mode at the initial state (the fastest of ``repeats``),
    after a loose one (tolerance 0.5, few products) that compiles the same programs."""
    res = {}
    for name, prepared in (("direct", direct), ("linearized", linear)):
        state_eigenpairs(prepared, prepared.state, k, 0.5)
        runs = [_timed(lambda p=prepared: state_eigenpairs(p, p.state, k, tol)) for _ in range(repeats)]
        seconds, pairs = min(runs, key=lambda r: r[0])
        res[name] = {"s": seconds, "repeats": repeats, "hvps": int(pairs.num_matvecs), "certified": bool(pairs.certified),
                     "values": np.asarray(pairs.values).tolist()}
    res["ratio_linearized_over_direct"] = res["linearized"]["s"] / res["direct"]["s"]
    a, b = np.asarray(res["direct"]["values"]), np.asarray(res["linearized"]["values"])
    res["values_max_rel_diff"] = float(np.max(np.abs(a - b) / np.abs(a)))
    return res


def targets(results: dict) -> list[dict]:
    vgg = results["cases"]["vgg10-cifar10-1k"]
    rows = [{"what": "VGG10 CIFAR-10-1k (chapter 6's cpu-1k): linearized / direct Hessian-vector product",
             "target": "<= 0.8", "measured": round(vgg["product_ratio_linearized_over_direct"], 3)}]
    if "solve" in vgg:
        rows.append({"what": "VGG10 CIFAR-10-1k: certified top-3 eigensolve, linearized / direct",
                     "target": "<= 0.8", "measured": round(vgg["solve"]["ratio_linearized_over_direct"], 3)})
    for row in rows:
        row["met"] = row["measured"] <= 0.8
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (2 rounds of 2 calls)")
    parser.add_argument("--no-vgg-solve", action="store_true", help="skip VGG10's eigensolves (minutes)")
    parser.add_argument("--cases", nargs="+", default=None, help="some of the cases (the others kept from --out)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rounds, calls = (2, 2) if args.quick else (5, 5)
    cases = json.loads(args.out.read_text())["cases"] if args.cases and args.out.exists() else {}
    for name, (config, split) in _cases().items():
        if args.cases and name not in args.cases:
            continue
        mlp = name.startswith("mlp")
        solve = 0 if args.quick or (args.no_vgg_solve and not mlp) else (5 if mlp else 1)
        cases[name] = r = bench_case(config, split, rounds if mlp else max(2, rounds - 2), calls if mlp else 2, solve)
        r["provenance"] = provenance()
        line = (f"{name}: product {r['product_s']['direct'] * 1e3:.2f} ms direct, "
                f"{r['product_s']['linearized'] * 1e3:.2f} ms linearized (ratio "
                f"{r['product_ratio_linearized_over_direct']:.3f}), linearization {r['linearize_s'] * 1e3:.1f} ms, "
                f"products differ by {r['product_max_rel_diff']:.1e}")
        if "solve" in r:
            s = r["solve"]
            line += (f"; certified top-3 {s['direct']['s']:.2f} s ({s['direct']['hvps']} HVPs) vs "
                     f"{s['linearized']['s']:.2f} s ({s['linearized']['hvps']}), ratio "
                     f"{s['ratio_linearized_over_direct']:.3f}, eigenvalues differ by {s['values_max_rel_diff']:.1e}")
        print(line, flush=True)
    results = {"cases": cases, "provenance": provenance()}
    results = {"targets": targets(results), **results}
    if not args.quick:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

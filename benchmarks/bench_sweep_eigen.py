"""A sweep's eigensolves: one lane after another (the CPU default) against one vmapped program.

Run: ``python benchmarks/bench_sweep_eigen.py [--epochs 300] [--repeats 3]`` (needs
``EOSLIB_DATA_DIR``). Writes ``benchmarks/results/sweep_eigen.json``.

The batch is one of the fMNIST grid's (Figure 5a, :func:`eoslib.grid.fmnist_base` with
the adaptive certified check): 2 rates x 5 seeds, the MLP trained ``--epochs`` epochs as one
vmapped program, then the top-3 Hessian eigenpairs of every lane, tracked from a cold solve at the
same parameters (as the sweep tracks from its previous record):

* ``per_lane``: :func:`eoslib.runs.state_eigenpairs` lane by lane (``ExecutionPlan.
  batched_eigensolves`` False: what :func:`eoslib.sweep.run_batch` does on CPU);
* ``vmapped``: :func:`eoslib.runs.batched_eigenpairs`, every lane in one program, each certified
  on its own (the plan's choice off the CPU).

Times are medians over ``--repeats`` calls after a compiling one, per solve (batch time / lanes).
The ratio ``per_lane / vmapped`` > 1 means the vmapped program is faster.

``basis``: the per-lane solves (a basis that starts at :data:`eoslib.lanczos.FIRST_BASIS` rows and
grows to its full size when full, the default) against the same solves in one basis allocated at its full size
(:func:`eoslib.lanczos.default_max_iters`: 81 rows here, and 64 for the check), as before the
growing basis. Every Lanczos step passes over the whole allocated basis, so on CPU its size sets
the cost of a step beyond the HVP. The two take the same steps (equal HVP counts); their values
differ by rounding only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sweep_eigen.json")
    args = ap.parse_args()
    import jax
    import jax.numpy as jnp
    import numpy as np

    from eoslib import lanczos, sweep
    from eoslib.chapters.generalization import experiment as generalization
    from eoslib.gd import run_epochs
    from eoslib.provenance import provenance
    from eoslib.runs import batched_eigenpairs, check_of, prepare, state_eigenpairs

    base = generalization.fmnist_base(eig_check="adaptive")
    configs = sweep.lr_seed_grid(base, [0.05, 0.2], range(5))
    prep = prepare(configs, base.load_data(), batched=True)
    prep = prep._replace(**{name: jax.tree.map(jnp.asarray, getattr(prep, name))
                            for name in ("train_data", "eval_data", "limits", "schedule")})
    state, _ = run_epochs(prep.objective, args.epochs, prep.train_data, prep.eval_data, prep.limits,
                          prep.schedule, prep.state, 0, batched=True, lane_groups=prep.plan.lane_groups)
    single, lanes, check = prep._replace(batched=False), len(configs), check_of(base.eig_check)
    lane = lambda i: jax.tree.map(lambda a: a[i], state)  # noqa: E731
    prev = [state_eigenpairs(single, lane(i), 3, 1e-3, check=check).vectors for i in range(lanes)]
    stacked = jnp.stack(prev)

    def per_lane():
        return [jax.block_until_ready(state_eigenpairs(single, lane(i), 3, 1e-3, prev[i], check=check))
                for i in range(lanes)]

    def vmapped():
        return jax.block_until_ready(batched_eigenpairs(single, state, 3, 1e-3, stacked, check=check))

    def one_basis():  # the whole basis allocated at once (FIRST_BASIS >= its size)
        growing, lanczos.FIRST_BASIS = lanczos.FIRST_BASIS, 10**9
        try:
            return per_lane()
        finally:
            lanczos.FIRST_BASIS = growing

    def median_s(fn):
        fn()
        times = []
        for _ in range(args.repeats):
            tic = time.perf_counter()
            fn()
            times.append(time.perf_counter() - tic)
        return statistics.median(times)

    a, b = per_lane(), vmapped()
    rel = max(float(np.max(np.abs(np.asarray(b.values[i]) - a[i].values) / np.abs(a[i].values))) for i in range(lanes))
    t_lane, t_vmap = median_s(per_lane) / lanes, median_s(vmapped) / lanes
    c = one_basis()
    t_cap = median_s(one_basis) / lanes
    rel_cap = max(float(np.max(np.abs(c[i].values - a[i].values) / np.abs(a[i].values))) for i in range(lanes))
    out = {
        "what": "top-3 certified eigensolves of a sweep batch (10 MLP lanes), per solve",
        "epochs_trained": args.epochs, "lanes": lanes,
        "per_lane_s": t_lane, "vmapped_s": t_vmap, "ratio_per_lane_over_vmapped": t_lane / t_vmap,
        "hvps_per_solve": float(np.mean([p.num_matvecs for p in a])),
        "max_relative_value_difference": rel,
        "basis": {"first_basis": lanczos.FIRST_BASIS, "one_basis_per_lane_s": t_cap,
                  "speedup_of_growing_basis": t_cap / t_lane,
                  "hvps_per_solve": float(np.mean([p.num_matvecs for p in c])),
                  "max_relative_value_difference": rel_cap,
                  "all_certified": bool(all(bool(p.certified) for p in c))},
        "all_certified": bool(all(bool(p.certified) for p in a) and bool(np.all(np.asarray(b.certified)))),
        "targets": [{"what": "vmapped eigensolves vs one lane after another (CPU)", "target": ">= 1x to use them on CPU",
                     "measured": round(t_lane / t_vmap, 2), "met": t_lane / t_vmap >= 1},
                    {"what": "per-lane solve, growing basis vs one basis of the full size",
                     "target": ">= 1.5x (issue 26 lead)", "measured": round(t_cap / t_lane, 2), "met": t_cap / t_lane >= 1.5}],
        "provenance": provenance(),
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"per lane {t_lane * 1e3:.1f} ms/solve, vmapped {t_vmap * 1e3:.1f} ms/solve "
          f"(ratio {t_lane / t_vmap:.2f}); max relative difference {rel:.1e}; one basis of full size: "
          f"{t_cap * 1e3:.1f} ms/solve (growing {t_cap / t_lane:.2f}x faster), HVPs {np.mean([p.num_matvecs for p in c]):.1f} "
          f"vs {np.mean([p.num_matvecs for p in a]):.1f}, max relative difference {rel_cap:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Initial states: one compiled initializer per model (``eoslib.gd.init_states``) against the
vmapped initializer compiled per number of keys (the implementation before it).

Run: ``python benchmarks/bench_init.py [--quick]``. Writes ``benchmarks/results/init.json``.

Each model is initialized for a sequence of key counts as a process meets them (a chapter, a
sweep, a test module): M = 1, 3, 8, then ``jax.clear_caches()`` (what the test suite does after
every module, ``tests/conftest.py``), then M = 1, 3 again. Each implementation runs the whole
sequence in a fresh Python process of its own, so neither reuses what the other compiled; the
time is wall-clock seconds with ``block_until_ready``, compilation included, since it is the
compilation of the initializers' threefry hashes that costs (the run itself takes milliseconds).
The two give the same values bit for bit (checked here on the last M = 3, and in
``tests/test_runs.py``).

Models: chapter 4's MLP (28×28×1 inputs), VGG10 and ResNet20 (32×32×3), Flax's initialization.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "init.json"
MODELS = {"mlp": (28, 28, 1), "vgg10": (32, 32, 3), "resnet20": (32, 32, 3)}
SEQUENCE = (1, 3, 8, "clear", 1, 3)


def one(impl: str, name: str) -> dict:
    """The sequence for one model and implementation, in this process: seconds per step and the
    leaves of the last initial state (for the bit-for-bit check)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from eoslib import gd
    from eoslib.models import MODELS as ALL

    model, shape = ALL[name](weight_init="flax"), MODELS[name]
    vmapped = jax.jit(lambda keys: jax.vmap(lambda k: gd.init_state(model, k, shape, 200))(keys))
    init = (lambda keys: gd.init_states(model, keys, shape, 200)) if impl == "one_program" else vmapped
    jax.block_until_ready(jnp.zeros(3) + 1)  # the backend is up before the first timed step
    steps, state = [], None
    for step in SEQUENCE:
        if step == "clear":
            jax.clear_caches()
            continue
        keys = jax.vmap(jax.random.key)(jnp.arange(step))
        start = time.perf_counter()
        state = jax.block_until_ready(init(keys))
        steps.append({"keys": step, "s": time.perf_counter() - start})
    digest = [float(np.asarray(leaf, np.float64).sum()) for leaf in jax.tree.leaves(state.params)]
    return {"steps": steps, "total_s": sum(s["s"] for s in steps), "digest": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the MLP only (smoke run; results not written)")
    parser.add_argument("--one", nargs=2, metavar=("IMPL", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    from eoslib.provenance import provenance

    cases = {}
    for name in (["mlp"] if args.quick else MODELS):
        runs = {impl: json.loads(subprocess.run([sys.executable, __file__, "--one", impl, name], check=True,
                                                capture_output=True, text=True).stdout)
                for impl in ("vmapped_per_key_count", "one_program")}
        same = runs["one_program"].pop("digest") == runs["vmapped_per_key_count"].pop("digest")
        ratio = runs["one_program"]["total_s"] / runs["vmapped_per_key_count"]["total_s"]
        cases[name] = {**runs, "ratio_one_program_over_vmapped": ratio, "same_values": same}
        print(f"{name}: {runs['vmapped_per_key_count']['total_s']:.2f} s vmapped per key count, "
              f"{runs['one_program']['total_s']:.2f} s one program (ratio {ratio:.3f}), same values: {same}", flush=True)
    rows = [{"what": f"{name}: initial states for M = 1, 3, 8, clear_caches, 1, 3 (one program / vmapped)",
             "target": "<= 0.5", "measured": round(c["ratio_one_program_over_vmapped"], 3),
             "met": c["ratio_one_program_over_vmapped"] <= 0.5 and c["same_values"]} for name, c in cases.items()]
    results = {"targets": rows, "sequence": list(SEQUENCE), "cases": cases, "provenance": provenance()}
    if not args.quick:
        OUT.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

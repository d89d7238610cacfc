"""Trainer speed: epoch time against the matmul roofline, vmapped vs sequential sweeps, VGG10.

Run: ``python benchmarks/bench_trainer.py [--quick]`` (needs ``EOSLIB_DATA_DIR``). Writes
``benchmarks/results/trainer.json`` and prints a table. All timings exclude compilation (each
program is run once first) and are medians over repeats, measured in one process; the sweep's
two programs run in interleaved rounds and its speed-up is the median of the per-round ratios,
so the ratios are comparable even on a busy machine.

1. fMNIST MLP (1,000 examples, 200 evaluation): seconds per GD epoch, against its matmul
   roofline = FLOPs of one epoch / peak GEMM throughput measured now (float32 1024^3, jitted,
   fastest of 20 calls); peak and epoch are measured in interleaved rounds and the ratio is the
   median of the per-round ratios.
   FLOPs of one epoch, all in matmuls (P = 28,480 weights, P_1 = 784 x 32 of them in the first
   layer): forward (2 N P), weight gradients (2 N P) and activation gradients (2 N (P - P_1), none
   for the input) on the N training examples, plus a forward pass on the evaluation set
   (2 N_eval P). Also reported: the time of the epoch's GEMMs alone, each timed at its own
   shape and operand layout inside a compiled loop and summed (no elementwise work, no
   dispatch): a floor for the epoch under XLA:CPU's kernels, which run these skinny shapes
   (first layer 1000 x 784 @ 784 x 32, its weight gradient X^T G from the stored X^T,
   32 x 1000 @ 1000 x 32 for the hidden weight gradients) below the square-GEMM peak.
2. A sweep of 24 MLPs (8 learning rates x 3 seeds) run as one vmapped program
   (:func:`eoslib.sweep.run_batch`) against the same 24 runs one after another
   (:func:`eoslib.runs.train`), same number of epochs each; once with the one default CPU
   device (the vmapped epoch then runs one lane group per core,
   :func:`eoslib.execution.plan`) and once, in a subprocess, with the CPU exposed as
   2 JAX devices (``--xla_force_host_platform_device_count=2``) over which the sweep shards its
   model axis.
VGG10 on CIFAR-10 (its epoch against a convolution roofline): ``benchmarks/bench_vgg10.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if "--host-devices" in sys.argv:  # before importing jax
    _n = sys.argv[sys.argv.index("--host-devices") + 1]
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={_n}"

import jax
import jax.numpy as jnp
import numpy as np

from eoslib import data, execution, models, schedules, sweep
from eoslib.gd import Limits, run_epochs
from eoslib.objective import Batch
from eoslib.provenance import provenance
from eoslib.runs import RunConfig, prepare, train

OUT = Path(__file__).resolve().parent / "results" / "trainer.json"


def run_times(fn, repeats: int) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after one warm-up call (compilation)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def median_time(fn, repeats: int) -> float:
    return statistics.median(run_times(fn, repeats))


def gemm_flops_per_s(m: int = 1024, k: int = 1024, n: int = 1024, repeats: int = 20) -> float:
    """Peak FLOP/s of a jitted float32 (m, k) @ (k, n): the fastest of ``repeats`` calls (a
    roofline uses the best the machine does; the median moves with the VM's load)."""
    a = jax.random.normal(jax.random.key(0), (m, k), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (k, n), jnp.float32)
    mm = jax.jit(jnp.matmul)
    return 2 * m * k * n / min(run_times(lambda: mm(a, b).block_until_ready(), repeats))


def gemm_in_loop_seconds(lhs_shape, rhs_shape, contract: tuple[int, int], repeats: int,
                         calls: int = 200) -> float:
    """Seconds of one float32 ``dot_general`` contracting ``lhs`` axis ``contract[0]`` with
    ``rhs`` axis ``contract[1]``, timed inside a compiled loop of ``calls`` dependent calls (the
    way the epoch runs it: no dispatch overhead, operands in their stored layout). Each call
    depends on the previous one through a scalar added to the smaller operand (so that XLA
    cannot hoist the product out of the loop), which costs one pass over that operand."""
    a = jax.random.normal(jax.random.key(0), lhs_shape, jnp.float32)
    b = jax.random.normal(jax.random.key(1), rhs_shape, jnp.float32)
    dims = (((contract[0],), (contract[1],)), ((), ()))
    perturb_lhs = a.size <= b.size

    def body(_, carry):
        a, b, acc = carry
        out = jax.lax.dot_general(a, b, dims)
        eps = 1e-12 * out[0, 0]
        return (a + eps, b, acc + out[0, 0]) if perturb_lhs else (a, b + eps, acc + out[0, 0])

    loop = jax.jit(lambda a, b: jax.lax.fori_loop(0, calls, body, (a, b, jnp.float32(0))))
    return median_time(lambda: jax.block_until_ready(loop(a, b)), repeats) / calls


def mlp_epoch_gemms(n: int, n_eval: int, widths=(784, 32, 32, 32, 32, 10)) -> list[tuple]:
    """Every matmul of one GD epoch of the bias-free MLP as (name, lhs shape, rhs shape,
    contracted axes), in the layouts the trainer uses: forward on the training and evaluation
    sets; weight gradients A^T G, for the input layer from the stored X^T (features x examples,
    :func:`eoslib.models.matmul_stored_transpose`), for the others with A, G stored examples x
    features (the GEMM contracts their leading axes); activation gradients G W^T (none for the
    input)."""
    out = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        wgrad = ((a, n), (n, b), (1, 0)) if i == 0 else ((n, a), (n, b), (0, 0))
        out += [(f"layer {i} forward {a}->{b}", (n, a), (a, b), (1, 0)),
                (f"layer {i} eval forward {a}->{b}", (n_eval, a), (a, b), (1, 0)),
                (f"layer {i} weight gradient {a}x{b}", *wgrad)]
        if i > 0:
            out.append((f"layer {i} activation gradient {b}->{a}", (n, b), (a, b), (1, 1)))
    return out


def epoch_seconds(config: RunConfig, split: data.Split, epochs: int, repeats: int) -> float:
    """Median seconds per epoch of ``epochs`` GD epochs (:func:`eoslib.gd.run_epochs`)."""
    prep = prepare([config], split, batched=False)
    objective, state = prep.objective, prep.state
    train_data = Batch(jnp.asarray(split.x_train), jnp.asarray(split.y_train))
    eval_data = Batch(jnp.asarray(split.x_eval), jnp.asarray(split.y_eval))
    limits = Limits(jnp.int32(10**9), jnp.float32(2.0), jnp.float32(1e30))
    schedule = schedules.as_arrays(config.schedule)

    def run():
        out_state, _ = run_epochs(objective, epochs, train_data, eval_data, limits, schedule,
                                  state, 0)
        jax.block_until_ready(out_state)

    return median_time(run, repeats) / epochs


def bench_mlp_roofline(fmnist: data.Split, repeats: int) -> dict:
    config = RunConfig(schedule=schedules.constant(0.01))
    weights, first_layer = 28_480, 784 * 32
    n, n_eval = len(fmnist.y_train), len(fmnist.y_eval)
    flops = 2 * n * (3 * weights - first_layer) + 2 * n_eval * weights
    gemms, epochs, ratios = [], [], []
    for _ in range(repeats):  # interleaved rounds: peak and epoch measured under the same load
        gemms.append(gemm_flops_per_s())
        epochs.append(epoch_seconds(config, fmnist, 200, 1))
        ratios.append(epochs[-1] * gemms[-1] / flops)
    gemm, seconds = statistics.median(gemms), statistics.median(epochs)
    roofline = flops / gemm
    kernels = {name: gemm_in_loop_seconds(lhs, rhs, contract, repeats)
               for name, lhs, rhs, contract in mlp_epoch_gemms(n, n_eval)}
    kernel_total = sum(kernels.values())
    return {"epoch_s": seconds, "flops_per_epoch": flops, "gemm_flops_per_s": gemm,
            "roofline_s": roofline, "ratio_to_roofline": statistics.median(ratios),
            "ratio_to_roofline_per_round": ratios,
            "gemm_kernels_s": kernel_total, "ratio_gemm_kernels_to_roofline": kernel_total / roofline,
            "gemm_kernel_s": kernels}


def bench_sweep(fmnist: data.Split, epochs: int, repeats: int) -> dict:
    base = RunConfig(max_epochs=epochs, schedule=schedules.constant(0.01), sharpness_at_end=False,
                     completion_accuracy=2.0)  # never completes: every run does `epochs` epochs
    lrs = np.geomspace(0.01, 0.2, 8)
    configs = sweep.lr_seed_grid(base, lrs, [0, 1, 2])
    runs = {"vmapped": lambda: sweep.run_batch(configs, fmnist, progress=False),
            "sequential": lambda: [train(c, fmnist, progress=False) for c in configs]}
    times = {name: [] for name in runs}
    for run in runs.values():
        run()  # compile / warm up
    for _ in range(repeats):  # interleaved rounds: the VM's load drifts by 10-20 % over minutes
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    ratios = [s / v for s, v in zip(times["sequential"], times["vmapped"])]
    return {"models": len(configs), "epochs": epochs, "devices": len(jax.devices()),
            "lane_groups": execution.plan(models.MLP(), num_models=len(configs)).lane_groups,
            "vmapped_s": statistics.median(times["vmapped"]),
            "sequential_s": statistics.median(times["sequential"]),
            "speedup": statistics.median(ratios), "speedup_per_round": ratios}


def bench_sweep_on_host_devices(devices: int, quick: bool) -> dict:
    """:func:`bench_sweep` in a subprocess that exposes the CPU as ``devices`` JAX devices."""
    cmd = [sys.executable, __file__, "--sweep-only", "--host-devices", str(devices)]
    out = subprocess.run(cmd + (["--quick"] if quick else []), check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def targets(results: dict) -> list[dict]:
    """The issue's speed targets against the measured values (shown on the book's status page)."""
    ratio = results["mlp_roofline"]["ratio_to_roofline"]
    rows = [{"what": "fMNIST MLP epoch / matmul roofline (square-GEMM peak)", "target": "<= 2",
             "measured": round(ratio, 2), "met": ratio <= 2}]
    for key in ("mlp_sweep_24", "mlp_sweep_24_2_host_devices"):
        s = results[key]
        rows.append({"what": f"24 MLPs vmapped vs one after another, {s['devices']} CPU device(s)",
                     "target": ">= 1.5x", "measured": round(s["speedup"], 2),
                     "met": s["speedup"] >= 1.5})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and epochs")
    parser.add_argument("--sweep-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host-devices", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeats = 2 if args.quick else 7
    sweep_args = (100 if args.quick else 300, 1 if args.quick else 5)
    fmnist = data.fashion_mnist()
    if args.sweep_only:
        print(json.dumps(bench_sweep(fmnist, *sweep_args)))
        return
    results = {
        "provenance": provenance(),
        "mlp_roofline": bench_mlp_roofline(fmnist, repeats),
        "mlp_sweep_24": bench_sweep(fmnist, *sweep_args),
        "mlp_sweep_24_2_host_devices": bench_sweep_on_host_devices(2, args.quick),
    }
    results = {"targets": targets(results), **results}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")

    r = results["mlp_roofline"]
    print(f"device: {results['provenance']['device']}")
    print(f"{'benchmark':<44}{'value':>14}")
    print(f"{'GEMM throughput (1024^3, float32)':<44}{r['gemm_flops_per_s'] / 1e9:>10.1f} GF/s")
    print(f"{'MLP epoch (fMNIST 1k/200)':<44}{r['epoch_s'] * 1e3:>11.2f} ms")
    print(f"{'MLP epoch matmul roofline':<44}{r['roofline_s'] * 1e3:>11.2f} ms")
    print(f"{'  epoch / roofline (target <= 2)':<44}{r['ratio_to_roofline']:>14.2f}")
    print(f"{'the epoch GEMMs alone, each in a loop':<44}{r['gemm_kernels_s'] * 1e3:>11.2f} ms")
    print(f"{'  GEMMs alone / roofline':<44}{r['ratio_gemm_kernels_to_roofline']:>14.2f}")
    for s in (results["mlp_sweep_24"], results["mlp_sweep_24_2_host_devices"]):
        runs = f"24 MLPs x {s['epochs']} epochs"
        vmapped = f"{runs}, vmapped on {s['devices']} device(s)"
        print(f"{runs + ', sequential':<44}{s['sequential_s']:>12.2f} s")
        print(f"{vmapped:<44}{s['vmapped_s']:>12.2f} s")
        print(f"{'  speed-up (target >= 1.5)':<44}{s['speedup']:>14.2f}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

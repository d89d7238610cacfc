"""VGG10 on CIFAR-10-5k: the GD epoch against a convolution roofline, the Hessian-vector product,
and the FLOPs behind the GPU-hour estimate of the paper-scale CIFAR-10 runs.

Run: ``python benchmarks/bench_vgg10.py [--quick]`` (needs CIFAR-10 through ``EOSLIB_DATA_DIR``).
Writes ``benchmarks/results/vgg10.json`` and prints a table. Timings exclude compilation and are
medians; the epoch and its roofline are measured in interleaved rounds and their ratio is the
median of the per-round ratios (comparable on a busy machine).

1. **Convolution roofline.** One epoch (5,000 training images in ghost batches of 1,024, plus a
   forward pass over 1,000 evaluation images) runs, per 3x3 convolution of VGG10 (channels
   3-8-8-8 at 32x32, 8-16-16-16 at 16x16, 16-32-32-32 at 8x8), a forward convolution, a weight
   gradient and (except the first layer) an input gradient on each training chunk, and a forward
   convolution on the evaluation set. Each of those convolutions is timed alone at its own shape
   (jitted ``lax.conv_general_dilated`` in NHWC/HWIO as Flax's ``Conv``, its gradients through
   ``jax.vjp``); their sum is the time the epoch's convolutions take at the throughput XLA:CPU
   reaches at those shapes, i.e. the epoch's convolution FLOPs divided by that measured
   throughput. Ratio = epoch / roofline (target <= 2): the rest is BatchNorm, ReLU, pooling, the
   loss and the update.
2. **Hessian-vector product** (the eigensolver's unit of work): seconds per product at the same
   5,000 images (forward-over-reverse, chunked as the epoch), against the epoch.
3. **FLOPs for the GPU-hour estimate**: XLA's cost analysis of one gradient on 64 images for
   VGG10, VGG19 and ResNet20, scaled to the training sets of Figures 5b, 6 and 7 (this only
   counts; the estimate's assumptions are written out in ``gpu_estimate``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_trainer import epoch_seconds, median_time  # noqa: E402

from eoslib import data, models, schedules  # noqa: E402
from eoslib.provenance import provenance  # noqa: E402
from eoslib.runs import RunConfig, prepare  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "vgg10.json"
VGG10_CONVS = [(32, 3, 8), (32, 8, 8), (32, 8, 8), (16, 8, 16), (16, 16, 16), (16, 16, 16),
               (8, 16, 32), (8, 32, 32), (8, 32, 32)]  # (map size, in channels, out channels)
N_TRAIN, N_EVAL, CHUNK = 5000, 1000, models.GHOST_BATCH_SIZE


def _conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))


def conv_ops(batch: int, eval_batch: int) -> list[tuple[str, float, object]]:
    """(name, FLOPs, zero-argument timed function) of every convolution an epoch runs on one
    training chunk of ``batch`` images, and the evaluation forward on ``eval_batch`` images."""
    key = jax.random.key(0)
    ops = []
    for i, (h, cin, cout) in enumerate(VGG10_CONVS):
        w = jax.random.normal(key, (3, 3, cin, cout))
        flops = 2.0 * h * h * cin * cout * 9
        for name, n, fn in [("forward", batch, jax.jit(_conv)),
                            ("weight gradient", batch, jax.jit(lambda x, w, g: jax.vjp(lambda w: _conv(x, w), w)[1](g)[0])),
                            ("input gradient", batch, jax.jit(lambda x, w, g: jax.vjp(lambda x: _conv(x, w), x)[1](g)[0])),
                            ("eval forward", eval_batch, jax.jit(_conv))]:
            if name == "input gradient" and i == 0:
                continue  # no gradient with respect to the images
            x = jax.random.normal(key, (n, h, h, cin))
            g = jax.random.normal(key, (n, h, h, cout))
            args = (x, w) if "forward" in name else (x, w, g)
            jax.block_until_ready(fn(*args))
            ops.append((f"conv {i} ({h}x{h}, {cin}->{cout}) {name}", flops * n,
                        lambda fn=fn, args=args: jax.block_until_ready(fn(*args))))
    return ops


def bench_roofline(cifar: data.Split, rounds: int) -> dict:
    config = RunConfig(model="vgg10", dataset="cifar10", n_train=N_TRAIN, n_eval=N_EVAL,
                       schedule=schedules.warmup(0.01))
    chunks = N_TRAIN / CHUNK  # the chunks' convolutions scale with their images
    ops = conv_ops(CHUNK, N_EVAL)
    per_round, epochs, floors, op_times = [], [], [], {name: [] for name, _, _ in ops}
    for _ in range(rounds):
        epoch = epoch_seconds(config, cifar, 2, 1)
        times = {name: median_time(fn, 3) for name, _, fn in ops}
        floor = sum(t * (1 if "eval" in name else chunks) for name, t in times.items())
        per_round.append(epoch / floor)
        epochs.append(epoch)
        floors.append(floor)
        for name, t in times.items():
            op_times[name].append(t)
    flops = sum(f * (1 if "eval" in name else chunks) for name, f, _ in ops)
    floor = statistics.median(floors)
    return {"epoch_s": statistics.median(epochs), "conv_roofline_s": floor,
            "ratio_to_roofline": statistics.median(per_round), "ratio_per_round": per_round,
            "conv_flops_per_epoch": flops, "conv_flops_per_s_at_their_shapes": flops / floor,
            "conv_op_s": {name: statistics.median(t) for name, t in op_times.items()},
            "n_train": N_TRAIN, "n_eval": N_EVAL, "chunk": CHUNK}


def bench_hvp(cifar: data.Split, repeats: int) -> dict:
    config = RunConfig(model="vgg10", dataset="cifar10", n_train=N_TRAIN, n_eval=N_EVAL)
    prep = prepare([config], cifar, batched=False)
    state = prep.state
    matvec = jax.jit(lambda v: prep.objective.hessian_matvec(state.params, state.batch_stats, prep.train_data)(v))
    dim = jax.flatten_util.ravel_pytree(state.params)[0].size
    v = jnp.ones(dim) / np.sqrt(dim)
    jax.block_until_ready(matvec(v))
    return {"hvp_s": median_time(lambda: jax.block_until_ready(matvec(v)), repeats), "params": int(dim)}


def gradient_flops(model_name: str, batch: int = 64) -> float:
    """XLA's FLOP count of one training-loss gradient of ``model_name`` on ``batch`` CIFAR images."""
    model = models.MODELS[model_name]()
    x = jnp.zeros((batch, 32, 32, 3))
    y = jnp.zeros((batch,), jnp.int32)
    variables = models.init_variables(model, jax.random.key(0), (32, 32, 3))

    def loss(params):
        out, _ = model.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"])
        return -jnp.mean(jax.nn.log_softmax(out)[jnp.arange(batch), y])
    cost = jax.jit(jax.grad(loss)).lower(variables["params"]).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"]) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    cifar = data.cifar10(N_TRAIN, N_EVAL)
    roof = bench_roofline(cifar, 2 if args.quick else 5)
    hvp = bench_hvp(cifar, 2 if args.quick else 3)
    per_image = {m: gradient_flops(m) for m in ("vgg10", "vgg19", "resnet20")}
    results = {
        "targets": [{"what": "VGG10 CIFAR-10-5k epoch / convolution roofline (its convolutions at their shapes)",
                     "target": "<= 2", "measured": round(roof["ratio_to_roofline"], 2),
                     "met": roof["ratio_to_roofline"] <= 2}],
        "provenance": provenance(), "roofline": roof, "hvp": {**hvp, "hvp_per_epoch": hvp["hvp_s"] / roof["epoch_s"]},
        "gradient_flops_per_image": per_image,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"device: {results['provenance']['device']}")
    print(f"VGG10 epoch (CIFAR-10 5k/1k)            {roof['epoch_s']:8.2f} s")
    print(f"its convolutions alone (roofline)       {roof['conv_roofline_s']:8.2f} s "
          f"({roof['conv_flops_per_s_at_their_shapes'] / 1e9:.1f} GFLOP/s at their shapes)")
    print(f"  epoch / roofline (target <= 2)        {roof['ratio_to_roofline']:8.2f}")
    print(f"Hessian-vector product                  {hvp['hvp_s']:8.2f} s ({results['hvp']['hvp_per_epoch']:.2f} epochs)")
    for m, f in per_image.items():
        print(f"gradient FLOPs per image, {m:<9}      {f / 1e6:8.1f} MFLOP")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

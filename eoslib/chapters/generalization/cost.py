"""What the paper-scale CIFAR-10 runs cost: FLOPs per model from counts measured here, and
device-hours at an assumed sustained throughput (an estimate, not a GPU measurement).

Per model (full-batch GD, one gradient over the training set per epoch, a forward pass over the
validation set, about a third of a gradient, and the eigensolves):

    FLOPs = epochs · (g · n_train + g/3 · n_eval) + solves · matvecs · h · g · n_train

with ``g`` the gradient FLOPs per image (XLA's cost analysis, ``benchmarks/bench_vgg10.py``),
``h`` the cost of a Hessian-vector product in gradients (measured there as a time ratio),
``solves = epochs / eig_every`` and ``matvecs`` the products per top-3 solve (measured in the
CPU-scale store's records). Device-hours = Σ FLOPs / throughput.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

__all__ = ["Workload", "model_flops", "device_hours", "paper_workloads"]


class Workload(NamedTuple):
    """``models`` runs of one kind: ``model`` trained on ``n_train`` images for ``epochs`` each."""

    figure: str
    model: str
    n_train: int
    n_eval: int
    models: int
    epochs: float
    eig_every: int = 0  # 0: no eigensolves


def model_flops(w: Workload, gradient_flops: Mapping[str, float], *, matvecs: float, hvp_gradients: float) -> float:
    """FLOPs of one model of ``w`` (module docstring)."""
    g = gradient_flops[w.model]
    train = w.epochs * (g * w.n_train + g / 3 * w.n_eval)
    eigen = (w.epochs / w.eig_every) * matvecs * hvp_gradients * g * w.n_train if w.eig_every else 0.0
    return train + eigen


def device_hours(workloads: Sequence[Workload], gradient_flops: Mapping[str, float], throughput: float, *,
                 matvecs: float, hvp_gradients: float) -> dict[str, float]:
    """Device-hours per figure at ``throughput`` FLOP/s sustained."""
    out: dict[str, float] = {}
    for w in workloads:
        flops = w.models * model_flops(w, gradient_flops, matvecs=matvecs, hvp_gradients=hvp_gradients)
        out[w.figure] = out.get(w.figure, 0.0) + flops / throughput / 3600
    return out


def paper_workloads(epochs: float, eig_every: int = 50) -> list[Workload]:
    """Figures 5b, 6 and 7 at the paper's scale with ``epochs`` epochs per model: 5b, 120 VGG10s
    on 5k / 1k (the paper's count); 6, 4 rates x 5 switch epochs (``CIFAR_SCALES["paper"]``);
    7, six rates each of VGG19 on 50k and on the 10x augmented 500k and of ResNet20 on 500k, and
    4 + 4 ResNet20s with η_small (no eigensolves), validated on 10k."""
    return [Workload("5b", "vgg10", 5000, 1000, 120, epochs, eig_every),
            Workload("6", "vgg10", 5000, 1000, 20, epochs, eig_every),
            Workload("7", "vgg19", 50_000, 10_000, 6, epochs),
            Workload("7", "vgg19", 500_000, 10_000, 6, epochs),
            Workload("7", "resnet20", 500_000, 10_000, 6 + 4 + 4, epochs)]

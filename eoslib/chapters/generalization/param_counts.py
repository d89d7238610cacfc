"""Which reading of Appendix F gives the paper's VGG parameter counts (47,892 and 335,277)?

Appendix F: "The VGG10s consisted of 3 VGG blocks [...] 3 convolutional layers, with each block
increasing in width 8, 16, 32, leading to a total of 47,892 parameters (including BatchNorm
params)"; "The VGG19s consisted of 6 VGG blocks with 3 convolutional layers, with each block
increasing in width 16, 32, 64, 128, 256, 512, leading to a total parameter count of 335,277."
The paper's ResNet20 count (271,117) is PyTorch's ``state_dict`` count (BatchNorm running
statistics and ``num_batches_tracked`` included; :func:`eoslib.models.count_params`), so the
VGG counts are presumably counted the same way.

:func:`vgg_count` counts a VGG in closed form for one :class:`Reading` of the text: convolutions
per block, kernel size, convolution biases, what a BatchNorm layer counts (none, the 2 affine
parameters per channel, 4 with the running statistics, plus 1 ``num_batches_tracked``), how many
blocks are followed by 2x2 pooling, global average pooling, hidden classifier layers and their
biases. For the reading :mod:`eoslib.models` builds, it equals ``count_params`` of the Flax
model (``tests/test_param_counts.py``). :func:`readings` enumerates the family and
:func:`closest` ranks it against a target count.

What it shows (the chapter on CIFAR-10 quotes it): no reading of the family gives 47,892 or
335,277 exactly. For VGG19 no reading can: a single 3x3 convolution from 256 to 512 channels
has 1,179,648 weights, 3.5 times the paper's total, and even 1x1 convolutions at the stated
widths exceed it (:func:`lower_bound`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import NamedTuple

__all__ = ["BATCHNORM_COUNTS", "Reading", "MODELS_READING", "vgg_count", "lower_bound", "readings", "closest", "PAPER_COUNTS"]

PAPER_COUNTS = {"vgg10": ((8, 16, 32), 47_892), "vgg19": ((16, 32, 64, 128, 256, 512), 335_277)}

# parameters a BatchNorm layer of C channels counts: (per channel, per layer)
BATCHNORM_COUNTS = {"none": (0, 0), "affine": (2, 0), "affine+running": (4, 0), "state_dict": (4, 1)}


class Reading(NamedTuple):
    """One reading of Appendix F's VGG description (the defaults: what :mod:`eoslib.models`
    builds, counted as trainable parameters)."""

    convs_per_block: int = 3
    kernel: int = 3
    conv_bias: bool = False
    batchnorm: str = "affine"
    pooled_blocks: int | None = None  # the first blocks followed by 2x2 pooling (while the map is > 1x1); None: all
    global_pool: bool = False
    head_hidden: tuple[int, ...] = ()
    head_bias: bool = True


MODELS_READING = Reading()
"""The reading :mod:`eoslib.models` builds (trainable parameters)."""


def vgg_count(widths: Sequence[int], reading: Reading = MODELS_READING, *, in_channels: int = 3,
              image_size: int = 32, num_classes: int = 10) -> int:
    """Parameters of a VGG with block ``widths`` under ``reading``, in closed form."""
    per_channel, per_layer = BATCHNORM_COUNTS[reading.batchnorm]
    total, channels, size = 0, in_channels, image_size
    for block, width in enumerate(widths):
        for _ in range(reading.convs_per_block):
            total += channels * width * reading.kernel ** 2 + width * reading.conv_bias
            total += width * per_channel + per_layer
            channels = width
        pooled = size > 1 and (reading.pooled_blocks is None or block < reading.pooled_blocks)
        size = size // 2 if pooled else size
    features = channels if reading.global_pool else channels * size * size
    for width in (*reading.head_hidden, num_classes):
        total += features * width + width * reading.head_bias
        features = width
    return total


def lower_bound(widths: Sequence[int], convs_per_block: int = 3) -> int:
    """The fewest parameters any reading can have: 1x1 convolutions, nothing else."""
    return vgg_count(widths, Reading(convs_per_block=convs_per_block, kernel=1, batchnorm="none",
                                     pooled_blocks=0, global_pool=True, head_bias=False))


HEADS = ((), (32,), (64,), (128,), (256,), (512,), (32, 32), (64, 64), (128, 128), (256, 256), (512, 512))


def readings(num_blocks: int) -> Iterator[Reading]:
    """The family searched: 2-4 convolutions per block, kernels 3 and 5, with and without
    convolution and classifier biases, every BatchNorm count of :data:`BATCHNORM_COUNTS`, 0 to
    ``num_blocks`` pooled blocks, flatten or global pooling, and the classifiers of ``HEADS``."""
    for convs, kernel, bias, bn, pooled, gap, head, head_bias in itertools.product(
            (2, 3, 4), (3, 5), (False, True), BATCHNORM_COUNTS, range(num_blocks + 1), (False, True), HEADS,
            (False, True)):
        yield Reading(convs, kernel, bias, bn, pooled, gap, head, head_bias)


def closest(widths: Sequence[int], target: int, count: int = 5) -> list[tuple[int, Reading]]:
    """The ``count`` distinct parameter counts nearest ``target``, nearest first, each with the
    first reading of :func:`readings` (in its order) that gives it: deterministic, whatever
    the hash seed, and no count is listed twice when several readings tie."""
    first: dict[int, Reading] = {}
    for r in readings(len(widths)):
        first.setdefault(vgg_count(widths, r), r)
    return sorted(first.items(), key=lambda nr: (abs(nr[0] - target), nr[0]))[:count]

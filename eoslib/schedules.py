"""Learning-rate schedules of the paper as pure functions of (epoch, state).

A :class:`Schedule` is a pytree of scalars, so a sweep can ``vmap`` over a batch of schedules
(one row per model). Its only state is ``reduced``: whether the switch to ``lr_small`` has
happened. The switch happens at a fixed epoch, or the first time the training accuracy reaches
a threshold (Section 4.2: at 90 % / 98 % accuracy), and is never undone:

    reduced_t = reduced_{t-1} or t >= reduce_epoch or train_accuracy(θ_t) >= reduce_accuracy
    η_t       = lr_small                              if reduced_t
              = lr * min(1, (t + 1) / warmup_epochs)  otherwise (linear warm-up, Appendix F)

with ``train_accuracy(θ_t)`` measured in the same full-batch pass that computes the gradient of
step ``t``. Defaults (``warmup_epochs=0``, ``reduce_epoch=inf``, ``reduce_accuracy=inf``) give
a constant learning rate.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Schedule", "constant", "warmup", "reduce_at_epoch", "reduce_at_accuracy", "as_arrays",
           "update_reduced", "learning_rate"]


class Schedule(NamedTuple):
    """Scalars (or, batched, arrays (M,)) describing one learning-rate schedule."""

    lr: float
    warmup_epochs: float = 0.0
    lr_small: float = 0.0
    reduce_epoch: float = float("inf")
    reduce_accuracy: float = float("inf")


def constant(lr: float) -> Schedule:
    return Schedule(lr)


def warmup(lr: float, warmup_epochs: int = 100) -> Schedule:
    """Linear warm-up to ``lr`` over the first ``warmup_epochs`` epochs (VGG/ResNet setting)."""
    return Schedule(lr, warmup_epochs=warmup_epochs)


def reduce_at_epoch(lr: float, lr_small: float, epoch: int, warmup_epochs: int = 0) -> Schedule:
    """``lr`` (after warm-up) until ``epoch``, then ``lr_small`` (Figure 6)."""
    return Schedule(lr, warmup_epochs, lr_small, reduce_epoch=epoch)


def reduce_at_accuracy(lr: float, lr_small: float, accuracy: float, warmup_epochs: int = 0) -> Schedule:
    """``lr`` until the training accuracy first reaches ``accuracy`` (e.g. 0.9), then
    ``lr_small`` (Figure 7)."""
    return Schedule(lr, warmup_epochs, lr_small, reduce_accuracy=accuracy)


def as_arrays(schedule: Schedule, dtype=jnp.float32) -> Schedule:
    """The schedule with every field a JAX array (for ``jit``/``vmap``)."""
    return Schedule(*(jnp.asarray(v, dtype) for v in schedule))


def update_reduced(schedule: Schedule, epoch: jax.Array, reduced: jax.Array,
                   train_accuracy: jax.Array) -> jax.Array:
    """The state ``reduced_t`` from ``reduced_{t-1}``, the epoch ``t`` and accuracy at θ_t."""
    return reduced | (epoch >= schedule.reduce_epoch) | (train_accuracy >= schedule.reduce_accuracy)


def learning_rate(schedule: Schedule, epoch: jax.Array, reduced: jax.Array) -> jax.Array:
    """η_t for epoch ``t`` (0-based) given the state ``reduced_t``."""
    ramp = jnp.where(schedule.warmup_epochs > 0,
                     jnp.minimum(1.0, (epoch + 1) / jnp.maximum(schedule.warmup_epochs, 1.0)), 1.0)
    return jnp.where(reduced, schedule.lr_small, schedule.lr * ramp)

"""Per-example losses and accuracy on logits (N, C) and integer labels (N,).

The trainer sums these over chunks and divides by the number of examples, so the training loss
is the exact mean over the data set (see :class:`eoslib.objective.Objective`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

__all__ = ["cross_entropy", "mse", "correct", "LOSSES"]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Softmax cross-entropy per example: (N, C), (N,) -> (N,)."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def mse(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Squared error to the one-hot target, ``0.5 * ||f(x) - e_y||^2`` per example: -> (N,)."""
    target = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    return 0.5 * jnp.sum(jnp.square(logits - target), axis=-1)


def correct(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """1.0 where the arg-max class equals the label, else 0.0: -> (N,) in the logits' dtype."""
    return (jnp.argmax(logits, axis=-1) == labels).astype(logits.dtype)


LOSSES = {"xent": cross_entropy, "mse": mse}

"""Tiny models, losses and problems shared by the numerical tests (dense Hessians stay cheap).

Imported by the test modules as ``tiny`` (pytest puts tests/ on sys.path). Everything is
parametrized so that each test keeps its own shapes and seeds; with the same arguments the
parameters and data are bitwise what the tests used to build inline.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class TinyMLP(nn.Module):
    """Dense layers of `widths` with tanh, then a Dense(`classes`) head.

    `head_first`: create the head before the last hidden layer, as the one-liner
    ``nn.Dense(classes)(jnp.tanh(nn.Dense(width)(x)))`` does. Flax names submodules in order of
    creation and seeds each one's initializer by its name, so this decides which layer is
    ``Dense_{i}`` and therefore the initial parameter values.
    """

    widths: Sequence[int] = (6,)
    classes: int = 3
    head_first: bool = False

    @nn.compact
    def __call__(self, x):
        *early, last = self.widths
        for width in early:
            x = jnp.tanh(nn.Dense(width)(x))
        if self.head_first:
            head = nn.Dense(self.classes)
            return head(jnp.tanh(nn.Dense(last)(x)))
        x = jnp.tanh(nn.Dense(last)(x))
        return nn.Dense(self.classes)(x)


class TinyBNNet(nn.Module):
    """Dense(`width`) -> BatchNorm (batch statistics) -> ReLU -> Dense(`classes`)."""

    width: int = 5
    classes: int = 3

    @nn.compact
    def __call__(self, x):
        x = nn.Dense(self.width)(x)
        x = nn.relu(nn.BatchNorm(use_running_average=False)(x))
        return nn.Dense(self.classes)(x)


def xent_sum(logits, y):
    """Summed cross-entropy of integer labels `y`."""
    return -jnp.sum(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def xent_mean(logits, y):
    """Mean cross-entropy of integer labels `y`."""
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def tiny_data(n, features, classes, seed=0, dtype=None):
    """`n` standard-normal inputs of `features` values, then `n` labels below `classes`."""
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(n, features)), dtype)
    y = jnp.asarray(rng.integers(0, classes, size=n))
    return x, y


def mlp_problem(widths, classes, n, features, seed=0, head_first=False):
    """Mean cross-entropy of a `TinyMLP` on `tiny_data`, with float64 parameters initialized
    from ``PRNGKey(seed)``: returns ``(loss, params)``. Call under ``jax.enable_x64(True)``."""
    x, y = tiny_data(n, features, classes, seed)
    model = TinyMLP(widths, classes, head_first)
    params = jax.tree_util.tree_map(
        lambda a: a.astype(jnp.float64), model.init(jax.random.PRNGKey(seed), x)
    )

    def loss(p):
        return xent_mean(model.apply(p, x), y)

    return loss, params


class TanhNet(nn.Module):
    """6 inputs -> Dense(6), tanh -> Dense(3): 63 parameters."""

    @nn.compact
    def __call__(self, x):
        return nn.Dense(3)(nn.tanh(nn.Dense(6)(x)))


def tanh_problem():
    """:class:`TanhNet` on 40 random float64 examples of 3 classes: ``(loss(params, batch),
    (x, y), params)`` with the mean cross-entropy (call under x64)."""
    import optax

    kx, ky, kp = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (40, 6), jnp.float64)
    y = jax.random.randint(ky, (40,), 0, 3)
    params = jax.tree.map(lambda a: a.astype(jnp.float64), TanhNet().init(kp, x)["params"])

    def loss(p, batch):
        return optax.softmax_cross_entropy_with_integer_labels(TanhNet().apply({"params": p}, batch[0]), batch[1]).mean()
    return loss, (x, y), params

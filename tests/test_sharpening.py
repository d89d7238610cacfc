"""Progressive-sharpening factor against finite differences of the sharpness."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from eoslib.sharpening import sharpening_factor, sharpness_gradient


class TinyMLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.Dense(3)(jnp.tanh(nn.Dense(6)(x)))


def _problem():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(16, 4)))
    y = jnp.asarray(rng.integers(0, 3, size=16))
    model = TinyMLP()
    params = jax.tree_util.tree_map(
        lambda a: a.astype(jnp.float64), model.init(jax.random.PRNGKey(0), x)
    )

    def loss(p):
        logp = jax.nn.log_softmax(model.apply(p, x))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    return loss, params


def test_alpha_matches_finite_difference_of_sharpness():
    with jax.enable_x64(True):
        loss, params = _problem()
        flat, unravel = ravel_pytree(params)
        flat_loss = lambda f: loss(unravel(f))  # noqa: E731
        hessian = jax.jit(jax.hessian(flat_loss))
        evals, evecs = np.linalg.eigh(np.asarray(hessian(flat)))
        assert evals[-1] - evals[-2] > 1e-3 * evals[-1]  # simple top eigenvalue
        top = jnp.asarray(evecs[:, -1])
        grad = jax.grad(flat_loss)(flat)

        def sharpness(f):
            return np.linalg.eigvalsh(np.asarray(hessian(f)))[-1]

        eps = 1e-4
        finite_diff = (sharpness(flat - eps * grad) - sharpness(flat + eps * grad)) / (2 * eps)
        alpha = sharpening_factor(loss, params, top)
        np.testing.assert_allclose(alpha, finite_diff, rtol=1e-5)
        # pytree and flat eigenvectors give the same alpha; and alpha = -grad L . grad S
        np.testing.assert_allclose(sharpening_factor(loss, params, unravel(top)), alpha, rtol=1e-12)
        grad_s = ravel_pytree(sharpness_gradient(loss, params, top))[0]
        np.testing.assert_allclose(-grad @ grad_s, alpha, rtol=1e-10)

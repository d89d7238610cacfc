"""Progressive-sharpening factor against finite differences of the sharpness."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from tiny import mlp_problem

from eoslib.sharpening import sharpening_factor, sharpness_gradient


def _problem():  # 4 -> 6 -> 3, 16 examples
    return mlp_problem((6,), 3, n=16, features=4, head_first=True)


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

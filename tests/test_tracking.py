"""Warm-started tracking equals cold solves, with fewer Hessian-vector products."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from tiny import mlp_problem

from eoslib.hvp import flat_hvp
from eoslib.lanczos import lanczos_eigh
from eoslib.similarity import cosine_grassmann_similarity, eigvec_cosines
from eoslib.tracking import track_eigh


def _problem():  # 6 -> 12 -> 12 -> 4, 32 examples
    return mlp_problem((12, 12), 4, n=32, features=6, head_first=True)


def test_tracking_along_gd_matches_cold_solves():
    with jax.enable_x64(True):
        loss, params = _problem()
        dim = ravel_pytree(params)[0].shape[0]
        k, tol = 4, 1e-8
        step = jax.jit(lambda p: jax.tree_util.tree_map(lambda a, g: a - 0.1 * g, p, jax.grad(loss)(p)))
        matvec, _ = flat_hvp(loss, params)
        prev = lanczos_eigh(matvec, dim, k, tol=tol, dtype=jnp.float64)
        warm_total = cold_total = 0
        for _ in range(3):
            params = step(params)
            matvec, _ = flat_hvp(loss, params)
            cold = lanczos_eigh(matvec, dim, k, tol=tol, dtype=jnp.float64)
            warm = track_eigh(matvec, prev.vectors, tol=tol)
            scale = float(jnp.max(jnp.abs(warm.values)))
            assert np.all(np.asarray(warm.residuals) <= tol * scale * (1 + 1e-6))
            np.testing.assert_allclose(warm.values, cold.values, rtol=1e-12)
            assert np.all(np.asarray(eigvec_cosines(warm.vectors, cold.vectors)) >= 1 - 1e-9)
            assert cosine_grassmann_similarity(warm.vectors, cold.vectors) >= 1 - 1e-9
            warm_total += int(warm.num_matvecs)
            cold_total += int(cold.num_matvecs)
            prev = warm
        assert warm_total < cold_total, (warm_total, cold_total)


def test_tracking_unchanged_operator_costs_one_block():
    with jax.enable_x64(True):
        q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(80, 80)))
        mat = jnp.asarray((q * np.r_[9.0, 7.0, 5.0, np.linspace(-1, 1, 77)]) @ q.T)
        result = track_eigh(lambda v: mat @ v, jnp.asarray(q[:, :3]), tol=1e-10)
        assert int(result.num_matvecs) == 3
        np.testing.assert_allclose(result.values, [9.0, 7.0, 5.0], rtol=1e-12)
        # more previous vectors than wanted pairs, float32 working precision
        result32 = track_eigh(lambda v: mat.astype(jnp.float32) @ v, jnp.asarray(q[:, :4], jnp.float32), k=2)
        assert result32.values.dtype == jnp.float32 and result32.values.shape == (2,)
        np.testing.assert_allclose(result32.values, [9.0, 7.0], rtol=1e-5)

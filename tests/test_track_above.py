"""Threshold-driven tracking (eoslib.tracking.track_above, issue 31): the tracked set follows
the eigenvalues above a threshold as they cross it, upward and back down, always
certified, on a synthetic spectrum in float64; and on the paper's MLP it returns the same
eigenvalues as ARPACK."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg as spla
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial

from eoslib import models
from eoslib.objective import Batch, Objective
from eoslib.tracking import track_above

D, THRESHOLD = 120, 4.0


def _spectrum(t: float) -> np.ndarray:
    """6 eigenvalues 4.5 - 0.3 i + 0.15 t rising through the threshold as t grows (2 above it at
    t = 0, 5 at t = 6, all 6 at t = 12), the rest fixed in [0, 2]."""
    rest = np.random.default_rng(0).uniform(0.0, 2.0, D - 6)
    return np.concatenate([4.5 - 0.3 * np.arange(6) + 0.15 * t, rest])


def test_tracked_set_grows_and_shrinks_with_the_eigenvalues_above_the_threshold(x64):
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(D, D)))
    prev, sizes = None, []
    for t in (0, 6, 12, 6, 0):  # up, then back down (each solve size compiles once)
        lam = _spectrum(t)
        h = jnp.asarray(q @ np.diag(lam) @ q.T)
        got = track_above(Partial(jnp.matmul, h), D, THRESHOLD, prev_vectors=prev, k_max=D, tol=1e-6,
                          key=jax.random.PRNGKey(t), dtype=jnp.float64)
        want = np.sort(lam)[::-1]
        count = int(np.sum(lam > THRESHOLD))
        assert got.certified and got.complete and got.above == count, (t, got.above, count)
        assert got.values.shape == (count + 1,)
        np.testing.assert_allclose(np.asarray(got.values), want[:count + 1], rtol=1e-9)
        prev, sizes = got.vectors, sizes + [got.values.shape[0]]
    assert sizes == [3, 6, 7, 6, 3]  # grew by crossings (3 at once at t = 6), shrank back


def test_saturated_set_is_flagged_incomplete(x64):
    h = jnp.diag(jnp.asarray(_spectrum(12)))
    got = track_above(Partial(jnp.matmul, h), D, THRESHOLD, k_max=5, tol=1e-6, dtype=jnp.float64)
    assert got.above == 5 and got.values.shape == (5,) and got.certified and not got.complete
    with pytest.raises(ValueError):
        track_above(lambda v: v, D, 1.0, k_min=3, k_max=2)


def test_paper_mlp_pairs_above_a_threshold_match_eigsh(small_split):
    model = models.MLP()
    params = models.init_variables(model, jax.random.key(0), small_split.x_train.shape[1:])["params"]
    batch = Batch(jnp.asarray(small_split.x_train), jnp.asarray(small_split.y_train))
    matvec = jax.jit(Objective(model, "xent", 128).hessian_matvec(params, {}, batch))
    dim = ravel_pytree(params)[0].size
    op = spla.LinearOperator((dim, dim), dtype=np.float64,
                             matvec=lambda v: np.asarray(matvec(jnp.asarray(v, jnp.float32)), np.float64))
    ref = np.sort(spla.eigsh(op, k=12, which="LA", tol=1e-6, v0=np.ones(dim))[0])[::-1]
    threshold = 0.5 * (ref[3] + ref[4])  # four eigenvalues above it
    got = track_above(matvec, dim, threshold, tol=1e-4, k_max=12)
    assert got.complete and got.above == 4
    np.testing.assert_allclose(np.asarray(got.values), ref[:5], rtol=2e-3)

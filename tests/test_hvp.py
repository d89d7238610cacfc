"""Hessian-vector products against dense autodiff Hessians (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from tiny import TinyBNNet, TinyMLP, tiny_data, xent_sum

from eoslib.hvp import chunked_mean_loss, flat_hvp, hvp


def _data(n, dtype):
    return tiny_data(n, features=4, classes=3, dtype=dtype)


def _mlp_setup(n=23, dtype=jnp.float64):
    model = TinyMLP(widths=(6,), classes=3)
    x, y = _data(n, dtype)
    params = model.init(jax.random.PRNGKey(1), x[:1])

    def per_chunk(p, chunk):
        cx, cy = chunk
        return xent_sum(model.apply(p, cx), cy)

    def full_loss(p):
        return per_chunk(p, (x, y)) / n

    return params, per_chunk, full_loss, (x, y)


def _bn_setup(n=23):
    model = TinyBNNet(width=5, classes=3)
    x, y = _data(n, jnp.float64)
    variables = model.init(jax.random.PRNGKey(2), x[:8])
    params, stats = variables["params"], variables["batch_stats"]

    def per_chunk(p, chunk):
        cx, cy = chunk
        logits, _ = model.apply({"params": p, "batch_stats": stats}, cx, mutable=["batch_stats"])
        return xent_sum(logits, cy)

    return params, per_chunk, (x, y)


def _dense_hessian(loss, params):
    flat, unravel = ravel_pytree(params)
    return jax.jit(jax.hessian(lambda f: loss(unravel(f))))(flat)


def test_hvp_matches_dense_hessian_on_pytrees():
    with jax.enable_x64(True):
        params, _, loss, _ = _mlp_setup()
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
        flat, unravel = ravel_pytree(params)
        v = jnp.asarray(np.random.default_rng(3).normal(size=flat.shape))
        dense = _dense_hessian(loss, params)
        got = ravel_pytree(hvp(loss, params, unravel(v)))[0]
        np.testing.assert_allclose(got, dense @ v, rtol=1e-12, atol=1e-12)


def test_flat_hvp_casts_to_requested_precision_and_is_jittable():
    with jax.enable_x64(True):
        params, _, loss, _ = _mlp_setup()  # float32 parameters from init
        matvec, unravel = flat_hvp(loss, params, dtype=jnp.float64)
        params64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
        dense = _dense_hessian(loss, params64)
        v = jnp.asarray(np.random.default_rng(4).normal(size=dense.shape[0]))
        got = jax.jit(lambda m, u: m(u))(matvec, v)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, dense @ v, rtol=1e-12, atol=1e-12)
        assert jax.tree_util.tree_structure(unravel(v)) == jax.tree_util.tree_structure(params)


def test_flat_hvp_partial_does_not_recompile_for_new_parameters():
    params, _, loss, _ = _mlp_setup(dtype=jnp.float32)
    apply = jax.jit(lambda m, u: m(u))
    v = jnp.ones(ravel_pytree(params)[0].shape)
    for scale in (1.0, 0.5, 2.0):
        matvec, _ = flat_hvp(loss, jax.tree_util.tree_map(lambda a: scale * a, params))
        apply(matvec, v)
    assert apply._cache_size() == 1


@pytest.mark.parametrize("n, chunk_size", [(23, 5), (20, 5), (23, 64)])
def test_chunked_mean_loss_is_the_exact_mean(n, chunk_size):
    with jax.enable_x64(True):
        params, per_chunk, full_loss, data = _mlp_setup(n)
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
        chunked = chunked_mean_loss(per_chunk, data, chunk_size)
        flat, unravel = ravel_pytree(params)
        v = jnp.asarray(np.random.default_rng(5).normal(size=flat.shape))
        np.testing.assert_allclose(jax.jit(chunked)(params), full_loss(params), rtol=1e-13)
        chunked_hv, _ = flat_hvp(chunked, params)
        plain_hv, _ = flat_hvp(full_loss, params)
        np.testing.assert_allclose(jax.jit(lambda u: chunked_hv(u))(v), plain_hv(v), rtol=1e-11, atol=1e-13)


def test_chunked_hvp_with_batchnorm_is_the_ghost_batch_hessian():
    """BatchNorm in train mode: statistics per chunk, remainder chunk included."""
    with jax.enable_x64(True):
        params, per_chunk, (x, y) = _bn_setup(23)
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
        chunked = chunked_mean_loss(per_chunk, (x, y), 8)  # chunks 8, 8, 7

        def ghost_loss(p):  # the same function written as an explicit Python loop
            bounds = [(0, 8), (8, 16), (16, 23)]
            return sum(per_chunk(p, (x[a:b], y[a:b])) for a, b in bounds) / 23

        dense = _dense_hessian(ghost_loss, params)
        v = jnp.asarray(np.random.default_rng(6).normal(size=dense.shape[0]))
        matvec, _ = flat_hvp(chunked, params)
        np.testing.assert_allclose(chunked(params), ghost_loss(params), rtol=1e-13)
        np.testing.assert_allclose(jax.jit(lambda u: matvec(u))(v), dense @ v, rtol=1e-10, atol=1e-12)
        # and it differs from the Hessian with full-batch statistics
        full_batch = _dense_hessian(lambda p: per_chunk(p, (x, y)) / 23, params)
        assert np.linalg.norm(full_batch @ v - dense @ v) > 1e-3 * np.linalg.norm(dense @ v)

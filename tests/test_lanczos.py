"""The eigensolver against dense `eigh` (float64) and operators with known spectra."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from tiny import TinyBNNet, TinyMLP, xent_sum

from eoslib.hvp import chunked_mean_loss, flat_hvp
from eoslib.lanczos import lanczos_eigh
from eoslib.similarity import cosine_grassmann_similarity


# ---------------------------------------------------------------- tiny models
class TinyConvNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = jnp.tanh(nn.Conv(4, (3, 3))(x))
        x = nn.avg_pool(x, (2, 2), strides=(2, 2))
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


def _loss_and_params(name, dtype=jnp.float64):
    """A loss (chunked, with a remainder chunk) and its parameters."""
    rng = np.random.default_rng(0)
    n = 24
    y = jnp.asarray(rng.integers(0, 3, size=n))
    if name == "conv":
        model, x = TinyConvNet(), jnp.asarray(rng.normal(size=(n, 6, 6, 1)), dtype)
    else:
        model = TinyMLP(widths=(10, 10)) if name == "mlp" else TinyBNNet(width=10)  # 3 classes
        x = jnp.asarray(rng.normal(size=(n, 5)), dtype)
    variables = model.init(jax.random.PRNGKey(3), x[:8])
    params = jax.tree_util.tree_map(lambda a: a.astype(dtype), variables["params"])

    def per_chunk(p, chunk):
        cx, cy = chunk
        if name == "bn":
            logits, _ = model.apply(
                {"params": p, "batch_stats": variables["batch_stats"]}, cx, mutable=["batch_stats"]
            )
        else:
            logits = model.apply({"params": p}, cx)
        return xent_sum(logits, cy)

    return chunked_mean_loss(per_chunk, (x, y), 16), params


def _dense_eigh(loss, params):
    flat, unravel = ravel_pytree(params)
    hess = jax.jit(jax.hessian(lambda f: loss(unravel(f))))(flat)
    evals, evecs = np.linalg.eigh(np.asarray(hess))
    return np.asarray(hess), evals, evecs


def _check_against_dense(result, hess, evals, evecs, which, k):
    order = np.argsort(-evals) if which == "LA" else np.argsort(evals)
    want_vals, want_vecs = evals[order[:k]], evecs[:, order[: k + 1]]
    gaps = np.abs(np.diff(evals[order[: k + 1]]))
    assert gaps.min() > 1e-4 * np.abs(evals).max(), "reference spectrum must be simple here"
    vals, vecs, res = map(np.asarray, result[:3])
    np.testing.assert_allclose(vals, want_vals, rtol=1e-8, atol=1e-12 * np.abs(evals).max())
    cos = np.abs(np.sum(vecs * want_vecs[:, :k], axis=0))
    assert np.all(cos >= 1 - 1e-8), cos
    true_res = np.linalg.norm(hess @ vecs - vecs * vals, axis=0)
    np.testing.assert_allclose(res, true_res, rtol=1e-6, atol=1e-12 * np.abs(evals).max())
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(k), atol=1e-12)


@pytest.mark.parametrize("name, whichs", [("mlp", ("LA", "SA")), ("bn", ("LA",)), ("conv", ("LA",))])
def test_eigenpairs_match_dense_eigh(name, whichs):
    with jax.enable_x64(True):
        loss, params = _loss_and_params(name)
        hess, evals, evecs = _dense_eigh(loss, params)
        dim = hess.shape[0]
        matvec, _ = flat_hvp(loss, params)
        for which in whichs:
            k = 4
            result = lanczos_eigh(matvec, dim, k, which=which, tol=1e-10, max_iters=dim, dtype=jnp.float64)
            _check_against_dense(result, hess, evals, evecs, which, k)
            assert int(result.num_matvecs) < dim  # stopped early


def test_float32_default_path_agrees_with_float64():
    with jax.enable_x64(True):
        loss, params = _loss_and_params("mlp")
        _, evals, _ = _dense_eigh(loss, params)
    loss32, params32 = _loss_and_params("mlp", jnp.float32)
    matvec, _ = flat_hvp(loss32, params32)  # x64 off: float32 everywhere
    dim = evals.shape[0]
    result = lanczos_eigh(matvec, dim, 3)
    assert result.values.dtype == jnp.float32 and result.vectors.dtype == jnp.float32
    np.testing.assert_allclose(result.values, np.sort(evals)[::-1][:3], rtol=2e-3)
    assert np.all(np.asarray(result.residuals) <= 1e-3 * float(result.values[0]) * (1 + 1e-3))


def test_runs_inside_user_jit_with_traced_parameters():
    loss, params = _loss_and_params("mlp", jnp.float32)
    dim = ravel_pytree(params)[0].shape[0]

    @jax.jit
    def top2(p):
        return lanczos_eigh(flat_hvp(loss, p)[0], dim, 2).values

    outside = lanczos_eigh(flat_hvp(loss, params)[0], dim, 2).values
    np.testing.assert_allclose(top2(params), outside, rtol=1e-6)


# ------------------------------------------------------- synthetic operators
def _operator(spectrum, seed=0):
    d = len(spectrum)
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    mat = (q * np.asarray(spectrum)) @ q.T
    mat = 0.5 * (mat + mat.T)
    return jnp.asarray(mat), q


def _solve(spectrum, k, **kw):
    with jax.enable_x64(True):
        mat, q = _operator(spectrum)
        mv = lambda v: mat @ v  # noqa: E731
        result = lanczos_eigh(mv, len(spectrum), k, dtype=jnp.float64, **kw)
        return jax.tree_util.tree_map(np.asarray, result), np.asarray(mat), q


def _assert_valid_pairs(result, mat, k):
    vals, vecs, res = result[:3]
    np.testing.assert_allclose(vecs.T @ vecs, np.eye(k), atol=1e-10)
    np.testing.assert_allclose(res, np.linalg.norm(mat @ vecs - vecs * vals, axis=0), atol=1e-10)


def test_large_gap_converges_in_few_products():
    spectrum = np.concatenate([[100.0], np.linspace(-1, 1, 199)])
    result, mat, q = _solve(spectrum, 1, tol=1e-10)
    np.testing.assert_allclose(result.values, [100.0], rtol=1e-12)
    assert int(result.num_matvecs) <= 12
    assert abs(q[:, 0] @ result.vectors[:, 0]) >= 1 - 1e-12


def test_no_gap_uniform_spectrum():
    spectrum = np.linspace(0.0, 1.0, 150)
    result, mat, _ = _solve(spectrum, 3, tol=1e-10, max_iters=150)
    np.testing.assert_allclose(result.values, spectrum[::-1][:3], rtol=1e-8)
    _assert_valid_pairs(result, mat, 3)


def test_clustered_eigenvalues_are_resolved():
    cluster = 10.0 - np.array([0.0, 1e-6, 2e-6])
    spectrum = np.concatenate([cluster, np.linspace(-2, 5, 117)])
    result, mat, q = _solve(spectrum, 3, tol=1e-12, max_iters=120)
    np.testing.assert_allclose(result.values, cluster, rtol=1e-10)
    _assert_valid_pairs(result, mat, 3)
    with jax.enable_x64(True):
        assert cosine_grassmann_similarity(result.vectors, q[:, :3]) >= 1 - 1e-8


def test_exactly_repeated_eigenvalue_with_block():
    spectrum = np.concatenate([[10.0, 9.0, 9.0, 9.0, 7.0], np.linspace(-3, 3, 95)])
    result, mat, q = _solve(spectrum, 5, tol=1e-10, block_size=3)
    np.testing.assert_allclose(result.values, spectrum[:5], rtol=1e-10)
    _assert_valid_pairs(result, mat, 5)
    with jax.enable_x64(True):
        assert cosine_grassmann_similarity(result.vectors[:, 1:4], q[:, 1:4]) >= 1 - 1e-10


def test_repeated_eigenvalue_single_vector_returns_no_ghosts():
    """One start vector: every returned pair is a true, distinct eigenpair."""
    spectrum = np.concatenate([[10.0, 9.0, 9.0, 9.0, 7.0], np.linspace(-3, 3, 95)])
    result, mat, _ = _solve(spectrum, 5, tol=1e-10, max_iters=100)
    _assert_valid_pairs(result, mat, 5)  # orthonormal: no duplicated vectors
    assert np.all(result.residuals <= 1e-9 * 10)
    # each value is an eigenvalue, in descending order, and 10 appears once
    assert np.all(np.min(np.abs(result.values[:, None] - spectrum[None, :]), axis=1) < 1e-8)
    assert np.all(np.diff(result.values) <= 1e-12)
    assert np.sum(np.abs(result.values - 10.0) < 1e-8) == 1


def test_negative_spectrum_both_ends():
    spectrum = np.concatenate([[-0.5, -0.7], np.linspace(-10, -1, 96), [-50.0, -40.0]])
    top, mat, _ = _solve(spectrum, 2, tol=1e-10, max_iters=100)
    np.testing.assert_allclose(top.values, [-0.5, -0.7], rtol=1e-8)
    bottom, _, _ = _solve(spectrum, 2, which="SA", tol=1e-10)
    np.testing.assert_allclose(bottom.values, [-50.0, -40.0], rtol=1e-10)
    _assert_valid_pairs(bottom, mat, 2)


def test_rank_deficient_operator_breakdown_and_restart():
    """Rank 3: the Krylov space becomes invariant after 4 vectors (breakdown)."""
    spectrum = np.concatenate([[5.0, 3.0, 2.0], np.zeros(57)])
    result, mat, q = _solve(spectrum, 6, tol=1e-10)
    np.testing.assert_allclose(result.values, [5, 3, 2, 0, 0, 0], atol=1e-10)
    _assert_valid_pairs(result, mat, 6)
    assert int(result.num_matvecs) <= 10


def test_full_spectrum_of_small_operator():
    spectrum = np.array([4.0, 2.0, 2.0, 1.0, -1.0, -3.0, 0.5, 0.0])
    result, mat, _ = _solve(spectrum, 8, tol=1e-12, max_iters=8)
    np.testing.assert_allclose(result.values, np.sort(spectrum)[::-1], atol=1e-12)
    _assert_valid_pairs(result, mat, 8)
    assert int(result.num_matvecs) == 8

"""Slices and the curvature of the sharpness against a closed form (float64).

The toy loss is quadratic plus quartic, ``L(x) = ½ Σ a_i x_i² + (b/12) (cᵀx)⁴`` with a unit
``c`` in the plane of the first two coordinates, so ``∇²L(x) = diag(a) + b (cᵀx)² c cᵀ``: its
top eigenvalue along any line is the largest eigenvalue of a 2 x 2 matrix, in closed form, and
its eigenvector turns with t (the rotation term of λ'' is not zero).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.chapters.flattening import landscape

A = np.array([3.0, 1.0, 0.5, 0.2, -0.1, -0.5])
B = 2.0
PHI = 0.6
C = np.array([np.cos(PHI), np.sin(PHI), 0, 0, 0, 0])


def toy_loss(x):
    return 0.5 * jnp.sum(jnp.asarray(A) * x ** 2) + B / 12 * jnp.dot(jnp.asarray(C), x) ** 4


def closed_form_sharpness(x0, d, t):
    """λ_max of the 2 x 2 block diag(a_1, a_2) + b (cᵀx)² c cᵀ at x = x0 + t d."""
    s = B * (jnp.dot(C, x0) + t * jnp.dot(C, d)) ** 2
    m11, m22, m12 = A[0] + s * C[0] ** 2, A[1] + s * C[1] ** 2, s * C[0] * C[1]
    return 0.5 * (m11 + m22 + jnp.sqrt((m11 - m22) ** 2 + 4 * m12 ** 2))


@pytest.fixture
def line(x64):
    rng = np.random.default_rng(0)
    x0 = jnp.asarray(rng.normal(size=A.size) * 0.5 + C)  # (cᵀx)² ≈ 1: the quartic term mixes e1, e2
    d = landscape.unit_direction(jnp.asarray(rng.normal(size=A.size)))
    return x0, d


def dense_top(x, k):
    h = np.asarray(jax.hessian(toy_loss)(x))
    w, v = np.linalg.eigh(h)
    return w[::-1][:k], v[:, ::-1][:, :k]


def test_closed_form_is_the_hessian_top_eigenvalue(line):
    x0, d = line
    for t in (-0.7, 0.0, 0.4):
        assert closed_form_sharpness(x0, d, t) == pytest.approx(dense_top(x0 + t * d, 1)[0][0], rel=1e-12)


def test_slice_matches_the_closed_form(line):
    x0, d = line
    ts = landscape.symmetric_range(0.8, 9)
    values, vectors = dense_top(x0, 2)
    sl = landscape.line_slice(toy_loss, x0, d, ts, k=2, tol=1e-9, center_vectors=jnp.asarray(vectors))
    expected = np.array([float(closed_form_sharpness(x0, d, t)) for t in ts])
    np.testing.assert_allclose(sl.sharpness, expected, rtol=1e-8)
    np.testing.assert_allclose(sl.loss, [float(toy_loss(x0 + t * d)) for t in ts], rtol=1e-12)
    assert sl.certified.all() and (sl.residual <= 1e-9).all()
    assert (sl.second < sl.sharpness).all()


@pytest.mark.parametrize("k", [1, 3])
def test_sharpness_derivatives_match_the_closed_form(line, k):
    """λ' and λ'' from nested JVPs and CG equal the derivatives of the closed form, whether the
    other eigenpairs enter through CG only (k = 1) or partly exactly (k = 3)."""
    x0, d = line
    values, vectors = dense_top(x0, k)
    out = landscape.sharpness_derivatives(toy_loss, x0, d, jnp.asarray(values), jnp.asarray(vectors),
                                          cg_tol=1e-12)
    s = lambda t: closed_form_sharpness(x0, d, t)  # noqa: E731
    assert out.value == pytest.approx(float(s(0.0)), rel=1e-12)
    assert out.first == pytest.approx(float(jax.grad(s)(0.0)), rel=1e-9)
    assert out.second == pytest.approx(float(jax.grad(jax.grad(s))(0.0)), rel=1e-8)
    assert out.rotation > 0.01 * abs(out.second)  # the eigenvector turns: the term matters
    assert out.cg_residual <= 1e-10


def test_fixed_vector_part_is_the_curvature_of_the_rayleigh_quotient(line):
    x0, d = line
    values, vectors = dense_top(x0, 1)
    v = vectors[:, 0]
    out = landscape.sharpness_derivatives(toy_loss, x0, d, jnp.asarray(values), jnp.asarray(vectors))
    quotient = lambda t: v @ jax.hessian(toy_loss)(x0 + t * d) @ v  # noqa: E731
    assert out.fixed_vector == pytest.approx(float(jax.grad(jax.grad(quotient))(0.0)), rel=1e-9)


def test_loss_curvature_and_projection(line):
    x0, d = line
    h = np.asarray(jax.hessian(toy_loss)(x0))
    assert landscape.loss_curvature(toy_loss, x0, d) == pytest.approx(float(d @ h @ d), rel=1e-12)
    assert landscape.projection(x0 + 0.3 * d, x0, d) == pytest.approx(0.3)


def test_conjugate_gradient_solves_spd_systems(x64):
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    a = jnp.asarray(q @ np.diag(np.linspace(1, 50, 20)) @ q.T)
    b = jnp.asarray(rng.normal(size=20))
    x, iters, res = landscape.conjugate_gradient(lambda v: a @ v, b, tol=1e-12, max_iters=100)
    np.testing.assert_allclose(np.asarray(x), np.linalg.solve(a, b), rtol=1e-9)
    assert res <= 1e-11 and 0 < int(iters) <= 25
    zero, iters0, _ = landscape.conjugate_gradient(lambda v: a @ v, jnp.zeros(20), tol=1e-8, max_iters=10)
    assert int(iters0) == 0 and not np.any(np.asarray(zero))


def test_symmetric_range_contains_zero():
    ts = landscape.symmetric_range(2.0, 41)
    assert ts.size == 41 and ts[20] == 0 and ts[0] == -2.0
    with pytest.raises(ValueError):
        landscape.symmetric_range(1.0, 40)


def test_fit_curvature_recovers_a_parabola_and_ignores_points_outside():
    t = landscape.symmetric_range(1.0, 21)
    y = 3.0 * t ** 2 - t + 2 + np.where(np.abs(t) > 0.5, 100 * t ** 4, 0.0)
    assert landscape.fit_curvature(t, y, 0.5) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="need >= 3"):
        landscape.fit_curvature(t, y, 0.05)


def test_sharpness_curvature_of_the_paper_mlp_matches_finite_differences(small_split, x64):
    """On the ReLU MLP (128 images, float64, trained 30 epochs at eta = 0.3): λ' and λ''
    agree with central differences of the certified top eigenvalue at h = 1e-5, inside one
    activation region (measured: λ'' = 112.6308 both ways, the rotation term 23.75 of it)."""
    from eoslib import runs, schedules

    config = runs.RunConfig(n_train=128, n_eval=32, max_epochs=30, schedule=schedules.constant(0.3),
                            sharpness_at_end=False)
    state = runs.states_at(config, [30], small_split)[30]
    prep = runs.prepare([config], small_split, batched=False)
    cast = lambda tree: jax.tree.map(  # noqa: E731
        lambda a: jnp.asarray(a, jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)
    params, batch = cast(state.params), cast(prep.train_data)
    loss_fn = prep.objective.loss_fn({}, batch)
    d = landscape.unit_direction(prep.objective.loss_and_grad(params, {}, batch)[3])

    exact, rows = landscape.finite_differences(loss_fn, params, d, [1e-5], k=3, tol=1e-11)
    (h, fd1, fd2), = rows
    assert exact.first == pytest.approx(fd1, rel=1e-4)
    assert exact.second == pytest.approx(fd2, rel=1e-4)


def test_boundary_distance_is_the_first_sign_change_along_the_line(small_split):
    x0 = jnp.array([1.0, -2.0, 0.5])
    d = landscape.unit_direction(jnp.array([1.0, 1.0, -1.0]))
    assert landscape.boundary_distance(lambda x: x, x0, d) == pytest.approx(0.5 * np.sqrt(3), rel=1e-6)
    # the MLP's activation pattern is unchanged inside the distance (first order: up to 1/2 of it)
    from eoslib import models
    model = models.MLP()
    params = models.init_variables(model, jax.random.key(0), (28, 28, 1))["params"]
    x = jnp.asarray(small_split.x_train)
    d = landscape.unit_direction(jax.tree.map(lambda p: jax.random.normal(jax.random.key(1), p.shape), params))
    relu_inputs = lambda p: models.mlp_relu_inputs(model, p, x)  # noqa: E731
    b = landscape.boundary_distance(relu_inputs, params, d)
    signs = lambda t: np.asarray(relu_inputs(landscape.offset(params, d, t)) > 0)  # noqa: E731
    assert 0 < b < 1 and (signs(0.5 * b) == signs(0.0)).all() and (signs(-0.5 * b) == signs(0.0)).all()
    assert not (signs(20 * b) == signs(0.0)).all()

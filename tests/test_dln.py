"""eoslib.dln against autodiff and eigh, in float64 (Sections 3.1-3.2, Appendices B-C)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import dln

Z2, Z4, ZMIX = dln.monomial(2), dln.monomial(4), dln.EvenPolynomial((1.0, 0.5))


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def autodiff_hessian(theta, z):
    return jax.hessian(lambda t: dln.loss(t, z))(theta)


def random_points(n_points, n, seed=0):
    rng = np.random.default_rng(seed)
    return 10.0 ** rng.uniform(-1, 1, (n_points, n)) * rng.choice([-1.0, 1.0], (n_points, n))


@pytest.mark.parametrize("z", [Z2, Z4, ZMIX])
def test_polynomial_derivatives_match_autodiff(z):
    for t in (-2.0, -0.3, 0.0, 0.7, 3.0):
        t = jnp.float64(t)
        assert np.isclose(z.d1(t), jax.grad(z)(t), rtol=1e-13, atol=1e-13)
        assert np.isclose(z.d2(t), jax.grad(jax.grad(z))(t), rtol=1e-13, atol=1e-13)
    assert z.d2(jnp.float64(0.5)) > 0


def test_monomial_rejects_odd_or_small_degree():
    for q in (0, 1, 3):
        with pytest.raises(ValueError, match="even-degree"):
            dln.monomial(q)


@pytest.mark.parametrize("z", [Z2, Z4, ZMIX])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_hessian_matches_autodiff(z, n):
    for theta in random_points(20, n, seed=n):
        theta = jnp.asarray(theta)
        np.testing.assert_allclose(dln.hessian(theta, z), autodiff_hessian(theta, z), rtol=1e-12, atol=1e-12)


def test_hessian_is_eq4_for_two_parameters():
    t1, t2 = -0.3, 2.5
    big, d1, d2 = t1 * t2, Z4.d1(t1 * t2), Z4.d2(t1 * t2)
    eq4 = np.array([[d2 * t2**2, d2 * big + d1], [d2 * big + d1, d2 * t1**2]])
    np.testing.assert_allclose(dln.hessian(jnp.array([t1, t2]), Z4), eq4, rtol=1e-14)


def test_hessian_is_appendix_c_form_when_no_parameter_is_zero():
    theta = jnp.array([0.4, -1.3, 2.2, 0.9])
    big = dln.output(theta)
    D = Z2.d2(big) * big**2 + Z2.d1(big) * big
    app_c = D / jnp.outer(theta, theta) - jnp.diag(Z2.d1(big) * big / theta**2)
    np.testing.assert_allclose(dln.hessian(theta, Z2), app_c, rtol=1e-13)


def test_hessian_exact_at_a_zero_parameter():
    """Theta -> 0: the leave-out products need no division by theta_j."""
    theta = jnp.array([0.0, 2.0, -1.5])
    np.testing.assert_allclose(dln.hessian(theta, Z2), autodiff_hessian(theta, Z2), atol=1e-14)


@pytest.mark.parametrize("z", [Z2, Z4, ZMIX])
def test_eq5_eigenvalues_and_eq1_ratio_match_eigh(z):
    for theta in random_points(200, 2, seed=1):
        theta = jnp.asarray(theta)
        values, vectors = np.linalg.eigh(np.asarray(autodiff_hessian(theta, z)))
        np.testing.assert_allclose(dln.eigenvalues_2d(theta, z), values[::-1], rtol=1e-10,
                                   atol=1e-12 * np.abs(values).max())
        u = vectors[:, -1]
        r2_eigh = max(abs(u[0] / u[1]), abs(u[1] / u[0]))
        assert np.isclose(dln.rotation_ratio(dln.beta(theta, z)), r2_eigh, rtol=1e-10)


def test_rotation_ratio_numerical_is_r2_when_theta1_is_sharper():
    theta = jnp.array([0.2, -3.0])
    assert np.isclose(dln.rotation_ratio_numerical(theta, Z2)[0], dln.rotation_ratio(dln.beta(theta, Z2)), rtol=1e-12)


def test_r2_invariances_appendix_b1():
    """Sign flips and the exchange theta_1 <-> theta_2 leave R_2 unchanged."""
    theta = jnp.array([0.3, 4.0])
    r = dln.rotation_ratio(dln.beta(theta, Z4))
    for other in ([-0.3, 4.0], [0.3, -4.0], [-0.3, -4.0], [4.0, 0.3], [-4.0, 0.3]):
        assert np.isclose(dln.rotation_ratio(dln.beta(jnp.array(other), Z4)), r, rtol=1e-14)
    assert r > 1


def test_equal_magnitudes_give_r2_one_and_diagonal_eigenvector():
    """theta_1 = theta_2: beta = 0, R_2 = 1, v_1 equally aligned with both parameters."""
    theta = jnp.array([1.5, 1.5])
    assert dln.beta(theta, Z2) == 0.0
    assert dln.rotation_ratio(dln.beta(theta, Z2)) == 1.0
    _, v1 = dln.top_eigenvector(theta, Z2)
    np.testing.assert_allclose(jnp.abs(v1), [2**-0.5, 2**-0.5], rtol=1e-14)


def test_zero_theta1_gives_infinite_r2_and_axis_aligned_eigenvector():
    theta = jnp.array([0.0, 3.0])
    assert np.isinf(dln.beta(theta, Z2))
    _, v1 = dln.top_eigenvector(theta, Z2)
    np.testing.assert_allclose(v1, [1.0, 0.0], atol=1e-15)


def test_thresholds_of_figure1():
    """(-0.1, 10), z = Theta^2: eta_eos = 0.01 (the paper's caption); quadratic: 1/H11 and 2/H11 (1 - xi)."""
    theta = jnp.array([-0.1, 10.0])
    th = dln.thresholds(theta, Z2)
    h11 = dln.hessian(theta, Z2)[0, 0]
    assert np.isclose(th.eta_eos, 0.01, rtol=1e-14)
    assert np.isclose(th.eta_asymptote_low, 1 / h11, rtol=1e-14)
    assert np.isclose(th.eta_gamma_one, 2 / h11 * (1 - dln.xi(theta)), rtol=1e-14)
    assert np.isclose(th.eta_asymptote_high * th.eta_asymptote_low, 1 / Z2.d1(dln.output(theta)) ** 2, rtol=1e-14)
    assert np.isclose(dln.s_factor(theta), -100.01, rtol=1e-14)


@pytest.mark.parametrize("theta", [[-0.1, 10.0], [0.5, 2.0], [-1.0, -4.0]])
def test_gamma_beta_regimes(theta):
    theta = jnp.array(theta)
    th = dln.thresholds(theta, Z2)
    g = lambda e: float(dln.update_ratio_approx(e, theta, Z2))  # noqa: E731
    assert np.isclose(g(th.eta_gamma_one), 1.0, rtol=1e-10)
    assert g(0.5 * th.eta_gamma_one) > 1 and g(1.05 * th.eta_gamma_one) < 1
    assert np.isclose(g(th.eta_gamma_zero), 0.0, atol=1e-12)
    assert g(th.eta_asymptote_low * (1 + 1e-9)) > 1e6


@pytest.mark.parametrize("z", [Z2, Z4])
def test_eq2_is_exact_for_monomials(z):
    theta = jnp.array([-0.4, 3.0])
    etas = jnp.linspace(0.01, 1.9, 50) / jnp.abs(z.d1(dln.output(theta)))
    np.testing.assert_allclose(dln.update_ratio_approx(etas, theta, z), dln.update_ratio_exact(etas, theta, z),
                               rtol=1e-9)


def test_eq2_is_approximate_for_mixed_polynomials():
    theta = jnp.array([-0.1, 10.0])
    eta = 0.5 / jnp.abs(ZMIX.d1(dln.output(theta)))
    ratio = dln.update_ratio_approx(eta, theta, ZMIX) / dln.update_ratio_exact(eta, theta, ZMIX)
    assert abs(float(ratio) - 1) > 1e-3


def test_gd_step_is_autodiff_gradient_step():
    theta, eta = jnp.array([0.3, -2.0, 1.1]), 0.05
    expected = theta - eta * jax.grad(lambda t: dln.loss(t, Z4))(theta)
    np.testing.assert_allclose(dln.gd_step(theta, eta, Z4), expected, rtol=1e-14)


def test_trajectory_matches_a_python_loop_and_eigh():
    theta0, eta, steps = jnp.array([-0.1, 10.0]), 0.011, 30
    traj = dln.gd_trajectory(theta0, eta, Z2, steps)
    assert traj.theta.shape == (steps + 1, 2) and traj.eigenvalues.shape == (steps + 1, 2)
    theta = theta0
    for t in range(steps):
        theta = theta - eta * jax.grad(lambda x: dln.loss(x, Z2))(theta)
        np.testing.assert_allclose(traj.theta[t + 1], theta, rtol=1e-12)
    values, vectors = np.linalg.eigh(np.asarray(autodiff_hessian(traj.theta[steps], Z2)))
    np.testing.assert_allclose(traj.eigenvalues[steps], values[::-1], rtol=1e-10)
    assert abs(np.dot(traj.top_vector[steps], vectors[:, -1])) > 1 - 1e-12
    np.testing.assert_allclose(traj.loss, jax.vmap(lambda t: dln.loss(t, Z2))(traj.theta), rtol=1e-14)


def test_unstable_eta_rotates_away_then_back():
    """Figure 1's central observation at eta = 0.013 > eta_eos = 0.01."""
    traj = dln.gd_trajectory(jnp.array([-0.1, 10.0]), 0.013, Z2, 60)
    r2 = np.asarray(dln.rotation_ratio(jax.vmap(dln.beta, in_axes=(0, None))(traj.theta, Z2)))
    i_min = int(np.argmin(r2))
    assert 0 < i_min < 59 and r2[1] < r2[0] and r2[-1] > r2[i_min]
    assert 0.013 * traj.eigenvalues[-1, 0] < 2.0


@pytest.mark.parametrize("z", [Z2, Z4])
def test_eq14_is_an_identity_with_the_exact_top_eigenvalue(z):
    for theta in random_points(30, 6, seed=3):
        theta = jnp.asarray(theta[np.argsort(np.abs(theta))])
        lam, v1 = dln.top_eigenvector(theta, z)
        np.testing.assert_allclose(dln.rotation_ratio_eq14(theta, z, lam[0]), jnp.abs(v1[0] / v1[1:]), rtol=1e-9)


def test_psi_and_approximate_top_vector_eq10():
    theta = jnp.array([0.2, -1.0, 3.0, 7.0])
    assert dln.psi(theta) < jnp.min(jnp.abs(theta))
    u = dln.approximate_top_vector(theta)
    assert np.isclose(jnp.linalg.norm(u), 1.0, rtol=1e-14)
    np.testing.assert_allclose(u * theta, dln.psi(theta), rtol=1e-14)


def test_deviation_sum_is_small_and_non_positive():
    for theta in random_points(30, 5, seed=4):
        a = dln.deviation_sum(jnp.asarray(theta), Z2)
        assert -2.0 <= a <= 0.0


def test_phase_claim_counts_steps_and_instability_episodes():
    import numpy as np

    from eoslib import dln

    up = dln.PhaseSteps(np.array([[0.1, 0.2], [-0.1, -0.3], [0.2, 0.1]]), np.array([[0.5, 0.1], [-0.2, -0.1], [0.1, 0.3]]),
                        np.array([False, True, False]))
    ok = dln.claim_phases([up])
    assert ok.verdict == "PASS" and "3 of 3 steps" in ok.measured and "100% of 1 instability" in ok.measured
    wrong = up._replace(d_log_R=up.d_log_R * np.array([[1, 1], [1, -1], [1, 1]]))
    assert dln.claim_phases([wrong]).verdict == "FAIL"
    assert dln.claim_phases([]).verdict == "UNRESOLVED"


def test_phase_steps_follow_a_real_trajectory():
    import jax
    import jax.numpy as jnp

    from eoslib import dln

    with jax.enable_x64(True):
        theta0 = jnp.array([0.3, 1.5, -4.0])
        z = dln.monomial(2)
        lam0 = float(dln.top_eigenvector(theta0, z)[0][0])
        steps = dln.phase_steps(dln.gd_trajectory(theta0, 1.5 / lam0, z, 50), 1.5 / lam0)
    assert steps.d_log_r.shape == steps.d_log_R.shape == (50, 2) and not steps.unstable.any()
    assert dln.claim_phases([steps]).verdict == "PASS"


def test_appendix_c_checks_hold_on_random_ill_conditioned_dlns(x64):
    rng = np.random.default_rng(0)
    thetas = np.sign(rng.normal(size=(8, 4))) * 10 ** rng.uniform(-1, 1, size=(8, 4))
    thetas = jnp.asarray(np.take_along_axis(thetas, np.argsort(np.abs(thetas), axis=1), axis=1))
    c = dln.appendix_c_checks(thetas, dln.monomial(2))
    assert set(c) >= {"eq14_err", "rn_ge_1", "psi_lt_theta1", "A", "lam_gt_bound", "monotone", "scale_err"}
    assert c["eq14_err"].max() < 1e-8 and c["scale_err"].max() < 1e-8  # identities
    assert c["rn_ge_1"].all() and c["psi_lt_theta1"].all() and np.all((c["A"] >= -2) & (c["A"] <= 0))

"""Appendix D: the equilibrium rate of the two-step map and the ReLU-mask linearization."""

import numpy as np

from eoslib.chapters.rotations import period2


def test_asymmetric_quadratic_equilibrium_is_the_sum_of_inverse_curvatures():
    for theta in (3.0, 0.2, -1.5):
        np.testing.assert_allclose(period2.equilibrium_rate(theta, period2.asymmetric_quadratic(2.0, 5.0)),
                                   1 / 2 + 1 / 5, rtol=1e-12)
    np.testing.assert_allclose(period2.equilibrium_rate(1.0, period2.asymmetric_quadratic(4.0, 4.0)), 2 / 4,
                               rtol=1e-12)  # symmetric: the stability limit 2/lambda


def test_quartic_equilibrium_is_a_two_cycle():
    dz = period2.asymmetric_quartic(1.0, 3.0)
    for theta in (0.1, 1.0, 7.0, -0.3, -4.0):
        eta = period2.equilibrium_rate(theta, dz)
        two = period2.two_step(theta, eta, dz)
        assert abs(two - theta) <= 1e-10 * abs(theta)
        assert abs(period2.two_step(two, eta, dz) - theta) <= 1e-9 * abs(theta)
        assert np.sign(theta - eta * dz(theta)) != np.sign(theta)  # it crosses the minimum every step


def test_no_equilibrium_where_the_assumption_fails():
    flat_left = lambda t: t if t > 0 else 0.0  # noqa: E731  (no restoring force below 0)
    assert period2.bracket(1.0, flat_left) is None
    assert np.isnan(period2.equilibrium_rate(1.0, flat_left))


def _kernels(rng):
    return [rng.normal(size=(6, 5)), rng.normal(size=(5, 4)), rng.normal(size=(4, 3))]


def test_mask_flips_and_linearization():
    rng = np.random.default_rng(0)
    k, x = _kernels(rng), rng.normal(size=(50, 6))
    assert period2.mask_flips(k, k, x) == 0.0 and period2.linearization_error(k, k, x) == 0.0
    other = [k[0] * np.r_[1, 1, 1, 1, -1][None, :], k[1], k[2]]  # unit 4 of layer 1 flips sign
    flips = period2.mask_flips(k, other, x)
    assert 0 < flips <= 5 / 9 + 1e-12  # at most that unit and the 4 of layer 2
    assert period2.linearization_error(k, other, x) > 0
    near = [a + 1e-9 * rng.normal(size=a.shape) for a in k]
    assert period2.linearization_error(k, near, x) < 1e-6


def test_claims_on_synthetic_values():
    assert period2.claim_equilibrium(np.full(10, 1e-13), 1e-14).verdict == "PASS"
    assert period2.claim_equilibrium(np.r_[1e-13, 1e-6], 1e-14).verdict == "FAIL"  # a rate that misses
    assert period2.claim_equilibrium(np.full(10, 1e-13), 1e-6).verdict == "FAIL"  # the closed form misses
    assert period2.claim_equilibrium(np.r_[1e-13, np.nan], 1e-14).verdict == "UNRESOLVED"  # a Theta_t not bracketed
    assert period2.claim_equilibrium(np.r_[1e-6, np.nan], 1e-14).verdict == "FAIL"  # decided anyway
    assert period2.claim_equilibrium(np.array([]), 0.0).verdict == "UNRESOLVED"  # nothing drawn
    ok = period2.claim_period2_masks({1: [0.05, 0.04], 2: [0.01, 0.008]}, {1: [0.05], 2: [0.003, 0.004]})
    assert ok.verdict == "PASS"
    assert period2.claim_period2_masks({1: [0.05], 2: [0.04]}, {2: [0.003]}).verdict == "FAIL"
    assert period2.claim_period2_masks({1: [0.05], 2: [0.01]}, {2: [0.03]}).verdict == "FAIL"
    assert period2.claim_period2_masks({1: [], 2: []}, {}).verdict == "UNRESOLVED"

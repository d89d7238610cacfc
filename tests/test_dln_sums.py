"""Appendix E: the two-term DLN's block Hessian (eq. 15), its per-term constancy conditions and
the paper's R_n(i_a, j_b), against jax.hessian and eigh in float64."""

import numpy as np

from eoslib import dln
from eoslib.chapters.dln import sums as dln_sums

Z2, Z4 = dln.monomial(2), dln.monomial(4)


def test_eq15_with_the_z_prime_term_is_the_hessian_and_the_printed_entries_are_not():
    rng = np.random.default_rng(0)
    for z in (Z2, Z4):
        for n_a, n_b in ((2, 2), (3, 4)):
            theta = dln_sums.random_two_term(rng, n_a, n_b)
            ref = dln_sums.hessian_autodiff(theta, n_a, z)
            h = dln_sums.hessian(theta, n_a, z)
            assert np.max(np.abs(h - ref)) <= 1e-13 * np.max(np.abs(ref))
            printed = dln_sums.printed_eq15(theta, n_a, z)
            off = printed - ref  # only the in-block off-diagonal entries differ, by z' Theta_t / (theta_j theta_k)
            assert np.allclose(np.diag(off), 0, atol=1e-12 * np.max(np.abs(ref)))
            assert np.allclose(off[:n_a, n_a:], 0, atol=1e-12 * np.max(np.abs(ref)))
            s, (a, _) = sum(dln_sums.terms(theta, n_a)), dln_sums.terms(theta, n_a)
            np.testing.assert_allclose(off[0, 1], -dln_sums._dz(z, s, 1) * a / (theta[0] * theta[1]), rtol=1e-10)


def test_per_term_constancy_is_exact_and_the_paper_ratio_needs_equal_constants():
    rng = np.random.default_rng(1)
    theta = dln_sums.random_two_term(rng, 3, 3)
    lam, u = dln_sums.top_pair(dln_sums.hessian(theta, 3, Z2))
    for i, j in ((0, 3), (1, 5), (2, 4)):
        np.testing.assert_allclose(dln_sums.cross_ratio_exact(theta, 3, Z2, lam, u, i, j), abs(u[i] / u[j]), rtol=1e-10)
    # two identical terms: C_a = C_b by symmetry, so the paper's ratio is exact
    half = np.array([0.3, 2.0, -4.0])
    twin = np.concatenate([half, half])
    lam, u = dln_sums.top_pair(dln_sums.hessian(twin, 3, Z2))
    c_a, c_b = dln_sums.term_constants(twin, 3, Z2, u)
    np.testing.assert_allclose(abs(c_a), abs(c_b), rtol=1e-10)
    np.testing.assert_allclose(dln_sums.cross_ratio_paper(twin, 3, Z2, lam, 0, 5), abs(u[0] / u[5]), rtol=1e-10)


def test_deviation_is_zero_at_u_star():
    theta = np.array([0.5, -2.0, 3.0, 1.5])
    u_star = 1.0 / theta / np.sqrt(np.sum(theta**-2.0))
    assert abs(dln_sums.deviation_sum(theta, -u_star)) < 1e-15
    assert -1.0 <= dln_sums.deviation_sum(theta, np.eye(4)[0]) < 0


def _checks(**changes):
    n = 4
    base = dict(block_err=np.full(n, 1e-16), printed_err=np.full(n, 0.5), paper_err=np.full(n, 1e-4),
                exact_err=np.full(n, 1e-14), monotone=np.ones(n, bool), monotone_within=np.ones(n, bool),
                deviation=np.full(n, -1e-3), ab_ratio=np.ones(n), thetas=tuple(np.ones((n, 4))))
    return dln_sums.TwoTermChecks(**{**base, **changes})


def test_claims_pass_on_synthetic_agreement_and_fail_on_disagreement():
    assert [c.verdict for c in dln_sums.claims(_checks())] == ["PASS"] * 3
    bad = _checks(block_err=np.array([1e-16, 1e-6, 0, 0]), paper_err=np.array([0.5, 0, 0, 0]),
                  monotone=np.array([True, False, True, True]))
    assert [c.verdict for c in dln_sums.claims(bad)] == ["FAIL"] * 3
    assert dln_sums.counter_example(bad).startswith("theta = (1, 1, 1, 1)")
    assert dln_sums.counter_example(_checks()) == "none"
    assert dln_sums.claims(dln_sums.TwoTermChecks(*[np.array([])] * 8, ()))[0].verdict == "NOT RUN"


def test_two_term_checks_on_real_dlns():
    c = dln_sums.two_term_checks(np.random.default_rng(2), 5, [(2, 2), (2, 3)], Z2)
    assert c.block_err.shape == (10,) and c.block_err.max() < 1e-13 and c.exact_err.max() < 1e-8
    assert np.all((c.deviation >= -1) & (c.deviation <= 0))


def test_concat_joins_checks():
    c = _checks()
    joined = dln_sums.concat([c, c])
    assert joined.block_err.shape == (8,) and len(joined.thetas) == 8

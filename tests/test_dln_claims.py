"""Chapter 1's claims (eoslib.chapters.dln.claims): each on synthetic data that must PASS and data that
must FAIL, and the quadratic boundaries on real DLN points."""

import jax.numpy as jnp
import numpy as np

from eoslib.chapters.dln import claims as dln_claims


def test_rotation_claims_pass_on_the_papers_picture_and_fail_otherwise():
    rising, dip = np.exp(np.linspace(0, 1, 20)), np.r_[1.0, 0.5, 0.4, 0.6, 0.9]
    stable, unstable = dln_claims.rotation_rows([0.1, 0.5], [rising, dip], [1.0, 3.0], eta_gamma_one=0.3)
    assert dln_claims.stable_rotation(stable).passed and dln_claims.unstable_rotation(unstable).passed
    # a stable run whose R2 falls once; an unstable run that never returns to stability (eta lambda = 2.4)
    stable, unstable = dln_claims.rotation_rows([0.1, 0.8], [np.r_[1.0, 1.2, 1.1, 1.3], dip], [1.0, 3.0], 0.3)
    assert not dln_claims.stable_rotation(stable).passed and not dln_claims.unstable_rotation(unstable).passed
    assert not dln_claims.stable_rotation([]).passed  # nothing measured is not a pass


def test_gamma_regimes():
    grid = np.linspace(0.01, 1.0, 100)
    gamma = 1.5 - grid
    assert dln_claims.gamma_regimes(grid, gamma, 0.5, 1.0, 1.0, 0.25).passed
    assert not dln_claims.gamma_regimes(grid, gamma + 0.2, 0.5, 1.0, 1.0, 0.25).passed


def test_quadratic_boundaries_hold_on_real_points_and_fail_when_moved(x64):
    thetas = jnp.asarray(np.random.default_rng(0).uniform(0.1, 2.0, size=(50, 2)))
    points = dln_claims.quadratic_points(thetas)
    assert 0 < points["asym_lam"].size < 50  # only the points where theta_1 is the sharper parameter
    assert dln_claims.quadratic_boundaries(points).passed
    assert not dln_claims.quadratic_boundaries({**points, "asym_lam": points["asym_lam"] * 0.9}).passed
    assert not dln_claims.quadratic_boundaries({**points, "h11_err": points["h11_err"] + 1e-6}).passed


def test_formulas_and_appendix_c():
    assert dln_claims.formulas(10, {"eq4": 1e-14, "eq5": 2e-13, "eq1": 0.0}, {"scale": 1e-15}).passed
    assert not dln_claims.formulas(10, {"eq4": 1e-14, "eq5": 2e-9, "eq1": 0.0}, {"scale": 1e-15}).passed
    ones = np.ones(6, bool)
    rows = {"eq14_err": np.full(6, 1e-12), "scale_err": np.full(6, 1e-13), "A": np.full(6, -0.5),
            "rn_ge_1": ones, "psi_lt_theta1": ones, "lam_gt_bound": ones, "monotone": ones}
    assert dln_claims.appendix_c(rows, [3, 5]).passed
    assert not dln_claims.appendix_c({**rows, "A": np.r_[np.full(5, -0.5), 0.1]}, [3, 5]).passed
    assert not dln_claims.appendix_c({**rows, "monotone": np.r_[ones[:5], False]}, [3, 5]).passed

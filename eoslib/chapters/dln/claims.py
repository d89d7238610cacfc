"""Chapter 1's claims (Sections 3.1-3.2, App. B-C): one function per claim, from the chapter's data.

Each function takes the measured arrays (computed in the chapter with :mod:`eoslib.dln`) and
returns a :class:`~eoslib.report.Claim`; :func:`claims_table` assembles the chapter's table with
the claims of :mod:`eoslib.chapters.dln.som` (App. A eq. 3), :mod:`eoslib.chapters.dln.sums` (App. E) and
:func:`eoslib.dln.claim_phases` (App. C along trajectories). The tests feed each one synthetic
data that must PASS and data that must FAIL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from eoslib import dln
from eoslib.report import Claim

__all__ = ["stable_rotation", "unstable_rotation", "gamma_regimes", "quadratic_points", "quadratic_boundaries",
           "formulas", "appendix_c", "rotation_rows"]


def _stable_row(eta: float, r2: np.ndarray) -> tuple[bool, str]:
    """R_2 increases at every step (``r2``: (T,) R_2 while Θ has not underflowed)."""
    steps = np.diff(np.log(r2))
    return steps.min() > 0, f"eta={eta:g}: min log(R2[t+1]/R2[t]) = {steps.min():.3g} over {steps.size} steps"


def _unstable_row(eta: float, r2: np.ndarray, lam_end: float) -> tuple[bool, str]:
    """R_2 first decreases, then training returns to stability (η λ_max < 2 at the end) and R_2
    rises again."""
    i_min = int(np.argmin(r2))
    back_to_stable = eta * lam_end < 2.0
    rises_after = i_min < r2.size - 1 and np.all(np.diff(np.log(r2[i_min:])) > 0)
    passed = r2[1] < r2[0] and i_min > 0 and back_to_stable and rises_after
    return passed, (f"eta={eta:g}: R2 {r2[0]:.3g} -> min {r2[i_min]:.3g} at step {i_min}, then rising; "
                    f"eta*lambda_max at end = {eta * lam_end:.3f}")


def rotation_rows(etas: Sequence[float], r2s: Sequence[np.ndarray], lam_ends: Sequence[float],
                  eta_gamma_one: float) -> tuple[list, list]:
    """``(stable, unstable)`` rows ``(passed, message)`` of the Figure 1 trajectories: a rate below
    η_{γβ=1} is checked as stable, the others as unstable. ``r2s``: per rate (T,) R_2 at the live
    steps; ``lam_ends``: λ_max at the last step."""
    stable, unstable = [], []
    for eta, r2, lam in zip(etas, r2s, lam_ends):
        if eta < eta_gamma_one:
            stable.append(_stable_row(eta, np.asarray(r2)))
        else:
            unstable.append(_unstable_row(eta, np.asarray(r2), float(lam)))
    return stable, unstable


def stable_rotation(rows: Sequence[tuple[bool, str]]) -> Claim:
    """Section 3.2: at a stable η, R_2 increases monotonically (v_1 aligns with θ_1)."""
    return Claim("(1) Stable eta: R2 increases monotonically along the trajectory (v1 aligns with theta_1)",
                 "; ".join(m for _, m in rows) or "no stable eta given", "every step: R2[t+1] > R2[t]",
                 bool(rows) and all(p for p, _ in rows))


def unstable_rotation(rows: Sequence[tuple[bool, str]]) -> Claim:
    """Section 3.2: at an unstable η, R_2 first decreases (v_1 rotates away from θ_1) and training
    returns to stability."""
    return Claim("(2) Unstable eta: R2 first decreases (v1 rotates away from theta_1), training returns to stability",
                 "; ".join(m for _, m in rows) or "no unstable eta given",
                 "R2[1] < R2[0]; eta*lambda_max < 2 at the end; R2 rising after its minimum",
                 bool(rows) and all(p for p, _ in rows))


def gamma_regimes(grid: np.ndarray, gamma: np.ndarray, boundary: float, upper: float, d1_0: float,
                  eta_eos: float) -> Claim:
    """App. B: γ_β > 1 below η_{γβ=1} (``boundary``) and < 1 above it, on ``grid`` (G,) of rates up
    to ``upper`` (where η z' = s/2 and γ_β returns above 1), ``gamma`` (G,) γ_β there."""
    below, above = grid < boundary, grid > boundary
    ok = bool(np.all(gamma[below] > 1) and np.all(gamma[above] < 1))
    return Claim("(3) gamma_beta > 1 below eta_{gamma_beta=1} and < 1 above it",
                 f"{grid.size} learning rates in (0, {upper:.4g}); boundary at {boundary:.6g}; "
                 f"min gamma below = {gamma[below].min():.4f}, max gamma above = {gamma[above].max():.4f}",
                 "holds for eta z' < s/2 (gamma_beta returns above 1 beyond; s/2 = "
                 f"{upper * d1_0:.4g}, i.e. {upper / eta_eos:.0f} x eta_eos)", ok)


def quadratic_points(thetas: jax.Array) -> dict[str, np.ndarray]:
    """For z = Θ² at the points ``thetas`` (N, 2) where θ_1 is the sharper parameter: η_asym·H11 − 1,
    η_asym·λ_max and η_{γ=1}·λ_max/(2(1 − ξ)), and the exact bound 4θ_1²/(θ_2² − θ_1²) on
    λ_max/H11 − 1 (from eq. 5), each (M,)."""
    ths = jax.vmap(dln.thresholds, in_axes=(0, None))(thetas, dln.monomial(2))
    lam = jax.vmap(dln.eigenvalues_2d, in_axes=(0, None))(thetas, dln.monomial(2))[:, 0]
    h11 = 2.0 * thetas[:, 1] ** 2
    flat = np.asarray(jnp.abs(thetas[:, 0]) < jnp.abs(thetas[:, 1]))  # the claim's convention: theta_1 sharper
    out = {"h11_err": ths.eta_asymptote_low * h11 - 1, "asym_lam": ths.eta_asymptote_low * lam,
           "gam1_lam": ths.eta_gamma_one * lam / (2 * (1 - jax.vmap(dln.xi)(thetas))),
           "dev_bound": 4 * thetas[:, 0] ** 2 / (thetas[:, 1] ** 2 - thetas[:, 0] ** 2)}
    return {name: np.asarray(v)[flat] for name, v in out.items()}


def quadratic_boundaries(points: Mapping[str, np.ndarray]) -> Claim:
    """Section 3.1 for a quadratic z: the regime boundaries are 1/λ and 2/λ, exactly with λ = H11 and
    within eq. 5's bound with λ_max (``points``: :func:`quadratic_points`)."""
    exact = float(np.max(np.abs(points["h11_err"])))
    asym, gam1, dev = points["asym_lam"], points["gam1_lam"], points["dev_bound"]
    within = np.all((asym >= 1 - 1e-12) & (asym <= 1 + dev + 1e-12) & (gam1 >= 1 - 1e-12) & (gam1 <= 1 + dev + 1e-12))
    return Claim("(4) Quadratic z: the regime boundaries are 1/lambda and 2/lambda",
                 f"eta_asym * H11 - 1 <= {exact:.1e}; against lambda_max at {asym.size} trajectory points: "
                 f"eta_asym*lambda_max in [{asym.min():.6f}, {asym.max():.6f}]",
                 "exact with lambda = H11 = z'' theta_2^2; with lambda_max: 0 <= lambda_max/H11 - 1 <= 4 t1^2/(t2^2 - t1^2)",
                 bool(exact < 1e-12 and within))


def formulas(num_points: int, errors: Mapping[str, float], invariance: Mapping[str, float]) -> Claim:
    """Eqs. 4, 5 and 1 (``errors``: relative errors against autodiff + eigh, keys ``eq4``, ``eq5``,
    ``eq1``) and R_2's invariances (``invariance``: name → relative error)."""
    return Claim("(5) Eqs. 4, 5 and 1 match autodiff + eigh",
                 f"{num_points} random points: eq.4 {errors['eq4']:.1e}, eq.5 {errors['eq5']:.1e}, "
                 f"eq.1 {errors['eq1']:.1e}; invariances {max(invariance.values()):.1e}",
                 "relative error <= 1e-10", max(*errors.values(), *invariance.values()) <= 1e-10)


def appendix_c(rows: Mapping[str, np.ndarray], sizes: Sequence[int]) -> Claim:
    """App. C on random n-parameter DLNs (``rows``: per DLN ``eq14_err``, ``scale_err``, ``A`` and
    the booleans ``rn_ge_1``, ``psi_lt_theta1``, ``lam_gt_bound``, ``monotone``)."""
    frac = {k: float(np.mean(rows[k])) for k in ("rn_ge_1", "psi_lt_theta1", "lam_gt_bound", "monotone")}
    frac["A"] = float(np.mean((rows["A"] >= -2) & (rows["A"] <= 0)))
    eq14, scale = float(rows["eq14_err"].max()), float(rows["scale_err"].max())
    return Claim("(6) Appendix C: eq. 14, psi < |theta_1|, -2 <= A <= 0, lambda_1 > z'Theta/theta_1^2, R_n >= 1, "
                 "dR_n/dr_k > 0, scale invariance",
                 f"{rows['A'].size} DLNs (n in {list(sizes)}, z = T^2, T^4): eq.14 worst {eq14:.1e}; "
                 f"psi {frac['psi_lt_theta1']:.1%}; A {frac['A']:.1%} (max A {rows['A'].max():.2e}); "
                 f"lambda bound {frac['lam_gt_bound']:.1%}; R_n>=1 {frac['rn_ge_1']:.1%}; dR/dr_k>0 {frac['monotone']:.1%}; "
                 f"scale worst {scale:.1e}",
                 "all fractions 100%; eq. 14 and scale invariance to 1e-8 relative",
                 eq14 < 1e-8 and scale < 1e-8 and all(v == 1.0 for v in frac.values()))

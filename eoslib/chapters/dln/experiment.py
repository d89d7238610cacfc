"""Chapter 1's experiment: diagonal linear networks, closed forms against GD (Sections 3.1-3.2,
App. A-C, E): the profiles and their checks, and the numerical checks of the closed forms
(:func:`closed_form_errors`: eqs. 1, 4, 5 against autodiff and ``eigh``; :func:`eq2_errors`:
eq. 2 against one real GD step). The theory itself is :mod:`eoslib.dln` (and
:mod:`eoslib.chapters.dln.sums`); everything takes seconds, so nothing is stored."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eoslib import dln

__all__ = ["PRESETS", "VALIDATORS", "random_thetas", "closed_form_errors", "eq2_errors"]

_PAPER = dict(theta0=[-0.1, 10.0], etas=[0.001, 0.0095, 0.011, 0.013], z_degree=2, num_steps=400,
              num_random_points=20000, appendix_c_sizes=[3, 5, 10], num_random_dlns=2000, num_networks=200,
              two_term_sizes=[[2, 2], [3, 3], [2, 5]], num_two_term=1000, num_trajectories=50, seed=0)
PRESETS: dict[str, dict[str, Any]] = {
    "paper": _PAPER,
    "ci": {**_PAPER, "num_random_points": 2000, "num_random_dlns": 300, "num_networks": 50, "num_two_term": 100,
           "num_trajectories": 10},
    "tiny": {**_PAPER, "num_steps": 150, "num_random_points": 100, "num_random_dlns": 20, "num_networks": 3,
             "num_two_term": 3, "num_trajectories": 2},
}
"""Chapter 1's profiles (:func:`eoslib.params.resolve`): Figure 1's start θ0 = (θ1, θ2) and rates,
Appendix C's sizes, Appendix E's two-term sums and the sample sizes of each check."""


def _check_theta0(t) -> str | None:
    if len(t) != 2 or not all(np.isfinite(t)) or 0 in t:
        return "must be two finite, non-zero numbers"
    if abs(t[0]) >= abs(t[1]):
        return "theta_1 must be the sharper parameter, |theta_1| < |theta_2| (swap them)"
    return None


def _check_pairs(v) -> str | None:
    return None if len(v) and all(len(t) == 2 and t[0] >= 2 and t[1] >= 1 for t in v) \
        else "must list pairs (n_a >= 2, n_b >= 1)"


VALIDATORS = {
    "theta0": _check_theta0,
    "etas": lambda v: None if len(v) and all(e > 0 for e in v) else "must be a non-empty list of positive numbers",
    "z_degree": lambda q: None if q >= 2 and q % 2 == 0 else "must be an even integer >= 2",
    "num_steps": lambda n: None if n >= 20 else "must be >= 20",
    "num_random_points": lambda n: None if n >= 10 else "must be >= 10",
    "appendix_c_sizes": lambda v: None if len(v) and all(n >= 3 for n in v) else "must list sizes n >= 3",
    "num_random_dlns": lambda n: None if n >= 5 else "must be >= 5",
    "num_networks": lambda n: None if n >= 1 else "must be >= 1",
    "two_term_sizes": _check_pairs,
    "num_two_term": lambda n: None if n >= 1 else "must be >= 1",
    "num_trajectories": lambda n: None if n >= 1 else "must be >= 1",
}
"""Chapter 1's parameter checks."""


def random_thetas(n_points: int, n_params: int, rng: np.random.Generator,
                  decades: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Log-uniform magnitudes in ``10^decades`` and random signs, shape ``(n_points, n_params)``."""
    mags = 10.0 ** rng.uniform(*decades, size=(n_points, n_params))
    return mags * rng.choice([-1.0, 1.0], size=(n_points, n_params))


def closed_form_errors(points: jax.Array, z: dln.EvenPolynomial) -> dict[str, float]:
    """The largest errors over ``points`` (N, 2) of the two-parameter DLN's closed forms:
    ``eq4``, the Hessian (eq. 4) against ``jax.hessian`` of z(θ1 θ2); ``eq5``, the eigenvalues
    (eq. 5) against ``numpy.linalg.eigh`` of it, both relative to the largest |λ| at each
    point; ``eq1``, the rotation ratio R_2(β) (eq. 1) against max(|u11/u12|, |u12/u11|) of
    eigh's sharpest eigenvector, relative."""
    h_auto = jax.vmap(jax.hessian(lambda t: dln.loss(t, z)))(points)
    h_closed = jax.vmap(dln.hessian, in_axes=(0, None))(points, z)
    lam_eigh, vec_eigh = np.linalg.eigh(np.asarray(h_auto))
    lam_eq5 = np.asarray(jax.vmap(dln.eigenvalues_2d, in_axes=(0, None))(points, z))
    v1 = vec_eigh[:, :, -1]
    r2_eigh = np.maximum(np.abs(v1[:, 0] / v1[:, 1]), np.abs(v1[:, 1] / v1[:, 0]))
    r2_eq1 = np.asarray(dln.rotation_ratio(jax.vmap(dln.beta, in_axes=(0, None))(points, z)))
    scale = np.abs(lam_eigh).max(axis=1)
    return {"eq4": float(np.max(np.abs(h_auto - h_closed).max(axis=(1, 2)) / scale)),
            "eq5": float(np.max(np.abs(lam_eq5[:, ::-1] - lam_eigh).max(axis=1) / scale)),
            "eq1": float(np.max(np.abs(r2_eq1 / r2_eigh - 1.0)))}


def eq2_errors(z: dln.EvenPolynomial, shape: Sequence[float], x_grid: np.ndarray,
               scales: Sequence[float]) -> tuple[list[float], dict[float, tuple[np.ndarray, np.ndarray]]]:
    """Eq. 2 (the approximate one-step ratio γ_β) against β(θ_{t+1})/β(θ_t) after one real GD
    step, at the points ``shape · √c`` (so Θ = c · Θ(shape)) for each ``c`` of ``scales`` and the
    rates η with η z' in ``x_grid``: the worst |eq. 2 / exact − 1| at each scale, and per scale the
    ``(η z', eq. 2 / exact)`` curve over the finite ratios."""
    shape = jnp.asarray(shape)
    worst, curves = [], {}
    for c in scales:
        theta = shape * np.sqrt(c)
        eta = x_grid / abs(float(z.d1(dln.output(theta))))
        ratio = np.asarray(dln.update_ratio_approx(eta, theta, z) / dln.update_ratio_exact(eta, theta, z))
        ok = np.isfinite(ratio)
        worst.append(np.max(np.abs(ratio[ok] - 1.0)))
        curves[c] = (x_grid[ok], ratio[ok])
    return worst, curves

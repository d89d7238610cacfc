"""Chapter 1's experiment: diagonal linear networks, closed forms against GD (Sections 3.1-3.2,
App. A-C, E): the profiles and their checks (the chapter's computations are in :mod:`eoslib.dln`
and :mod:`eoslib.chapters.dln.sums`; they take seconds, so nothing is stored)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PRESETS", "VALIDATORS"]

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

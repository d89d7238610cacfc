"""The statistics behind chapter 4's claims (Section 4.1; Appendix I), one function per claim.

Models: those that did not fail (diverge or die, :func:`eoslib.generalization.failed`); the validation error is ``1 − val_acc``. Intervals are
95 % percentile-bootstrap intervals over models (:mod:`eoslib.generalization`), seeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from eoslib import generalization as gen
from eoslib.report import Claim, ClaimsTable

__all__ = ["rate_means", "claim_flat_below", "claim_rise_above", "claim_goldilocks",
           "claim_sharpness", "claim_rho", "correlations", "claims_table"]


def _live(rows):
    return [r for r in rows if not r["failed"] and r["val_acc"] is not None]


def rate_means(rows: Sequence[Mapping]) -> dict[float, float]:
    """Mean validation accuracy of the seeds of each rate that did not fail."""
    live = _live(rows)
    return {eta: float(np.mean([r["val_acc"] for r in live if r["eta0"] == eta]))
            for eta in sorted({r["eta0"] for r in live})}


def claim_flat_below(rows, threshold: float) -> Claim:
    """Claim 1: no monotone trend of validation accuracy with log η0 below the threshold
    (permutation test of Spearman's ρ, two-sided, 5 % level)."""
    below = [r for r in _live(rows) if r["eta0"] < threshold]
    if len(below) < 4:
        return Claim("Below the threshold, validation accuracy does not depend on η0", f"{len(below)} models below",
                     "permutation p >= 0.05 (needs 4+ models)", False)
    rho, p = gen.permutation_trend(np.log([r["eta0"] for r in below]), [r["val_acc"] for r in below])
    return Claim("Below the threshold, validation accuracy does not depend on η0 (flat)",
                 f"{len(below)} models: Spearman ρ(log η0, accuracy) = {rho:+.2f}, permutation p = {p:.3f}",
                 "no significant trend: p >= 0.05", bool(p >= 0.05))


def claim_rise_above(rows, threshold: float) -> Claim:
    """Claim 2: mean accuracy above the threshold minus below, with a bootstrap interval."""
    live = _live(rows)
    above = [r["val_acc"] for r in live if r["eta0"] >= threshold]
    below = [r["val_acc"] for r in live if r["eta0"] < threshold]
    if not above or not below:
        return Claim("Validation accuracy rises past the stability threshold",
                     f"{len(above)} models above and {len(below)} below the threshold: nothing to compare",
                     "interval above 0", False)
    diff, (lo, hi) = gen.mean_difference_ci(above, below)
    # context, not the verdict: "above" only up to the first rate at which a seed did not complete
    broke = [r["eta0"] for r in rows if not r.get("completed", True)]
    cut = min(broke, default=float("inf"))
    early = [r["val_acc"] for r in live if threshold <= r["eta0"] < cut]
    context = ""
    if early and cut < float("inf"):
        d2, (lo2, hi2) = gen.mean_difference_ci(early, below)
        context = (f"; above only up to the first rate with a seed that did not complete ({cut:g}): "
                   f"{100 * d2:+.2f} [{100 * lo2:+.2f}, {100 * hi2:+.2f}] ({len(early)} models)")
    return Claim("Validation accuracy rises past the stability threshold",
                 f"mean above − mean below = {100 * diff:+.2f} points [{100 * lo:+.2f}, {100 * hi:+.2f}] "
                 f"({len(above)} vs {len(below)} models){context}", "interval above 0", bool(lo > 0))


def claim_goldilocks(rows, threshold: float) -> Claim:
    """Claim 3: the rate with the best mean accuracy is interior: above the threshold's rate
    and below the largest rate with a seed that did not fail, and the mean falls after it."""
    means = rate_means(rows)
    rates = list(means)
    best = max(rates, key=means.get)
    last = rates[-1]
    interior = threshold <= best < last and means[last] < means[best]
    return Claim("Goldilocks: accuracy falls again toward divergence (the best rate is interior)",
                 f"best mean {100 * means[best]:.1f} % at η0 = {best:g}; {100 * means[last]:.1f} % at the largest "
                 f"rate with a surviving seed ({last:g}); threshold {threshold:g}",
                 "threshold <= best < largest surviving rate, and lower there", bool(interior))


def correlations(rows) -> dict[str, tuple[float, tuple[float, float]]]:
    """Spearman's ρ of validation error with η0, S at completion and ρ, with intervals (NaN
    with fewer than 3 models)."""
    live = _live(rows)
    err = [1 - r["val_acc"] for r in live]
    nan = (float("nan"), (float("nan"), float("nan")))
    return {k: gen.spearman_ci([r[k] for r in live], err) if len(live) >= 3 else nan
            for k in ("eta0", "sharpness", "rho")}


def claim_sharpness(corr: Mapping) -> Claim:
    """Claim 4: lower S at completion goes with higher accuracy (ρ(S, error) > 0)."""
    rho, (lo, hi) = corr["sharpness"]
    return Claim("Lower sharpness at completion goes with higher accuracy",
                 f"Spearman ρ(S, validation error) = {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]", "interval above 0",
                 bool(lo > 0))


def claim_rho(corr: Mapping) -> Claim:
    """Claim 5: ρ has the paper's sign: more rotation (lower ρ) with lower error, ρ(ρ, error) > 0."""
    rho, (lo, hi) = corr["rho"]
    return Claim("ρ (eigenvector similarity) correlates with validation error with the paper's sign "
                 "(more rotation, better generalization)",
                 f"Spearman ρ(ρ, validation error) = {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]", "interval above 0",
                 bool(lo > 0))


def claims_table(rows, threshold: float | None) -> ClaimsTable:
    """Claims 1-5 (claims 1-3 fail when no rate reached 2/η in most seeds: no threshold)."""
    corr = correlations(rows)
    if threshold is None:
        none = [Claim(name, "no rate reached 2/η in most seeds (no threshold)", "a threshold", False)
                for name in ("Flat below the threshold", "Rise past the threshold", "Goldilocks")]
    else:
        none = [claim_flat_below(rows, threshold), claim_rise_above(rows, threshold),
                claim_goldilocks(rows, threshold)]
    return ClaimsTable([*none, claim_sharpness(corr), claim_rho(corr)])

"""The statistics behind chapter 3's claims table (Section 3.3 of the paper), one function per
claim; :func:`claims_table` assembles them.

Curvatures here are those of the visible curves, :func:`eoslib.landscape.fit_curvature` of
the slices (see :mod:`eoslib.landscape` for why not the local λ'' of a ReLU network). Rank
correlations are Spearman's; a series needs 3 points or more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import spearmanr

from eoslib.flattening import cycle_phases
from eoslib.instability import Cycle
from eoslib.report import Claim, ClaimsTable

__all__ = ["rank_correlation", "trend_statistics", "claim_progressive_sharpening",
           "claim_growth_then_change", "claim_later_switch", "claim_larger_eta0",
           "claim_every_cycle", "claim_eta_small_stable", "claims_table"]


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's ρ of ``y`` against ``x`` (NaN for fewer than 3 points or a constant series)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3 or np.ptp(y[keep]) == 0 or np.ptp(x[keep]) == 0:
        return float("nan")
    return float(spearmanr(x[keep], y[keep]).statistic)


def claim_progressive_sharpening(epochs: np.ndarray, fit_loss: np.ndarray, fit_sharp: np.ndarray,
                                 cycle: Cycle) -> Claim:
    """Claim 1: over the shown epochs before the crossing (S < 2/η), the curvatures of the
    L- and S-curves both rise with the epoch (ρ > 0 for both)."""
    before = np.asarray(epochs) < cycle.cross
    rho_l = rank_correlation(epochs[before], fit_loss[before])
    rho_s = rank_correlation(epochs[before], fit_sharp[before])
    return Claim(
        "During progressive sharpening (S < 2/η) the curvature of L and of S along the gradient "
        "both increase",
        f"epochs {int(epochs[before][0])}-{int(epochs[before][-1])}: Spearman ρ(epoch, curvature of L) = "
        f"{rho_l:+.2f}, ρ(epoch, curvature of S) = {rho_s:+.2f}",
        "both ρ > 0", bool(rho_l > 0 and rho_s > 0))


def claim_growth_then_change(epochs: np.ndarray, fit_sharp: np.ndarray, distance: np.ndarray,
                             cycle: Cycle, band_epochs: int = 4) -> Claim:
    """Claim 2: (a) |θ − θ*| is larger at the loss peak than at the crossing; (b) after the
    crossing the S-curve's curvature stays in the steady band of its last ``band_epochs``
    values before the crossing for at least 2 epochs, then leaves it before the return to
    stability (:func:`eoslib.flattening.cycle_phases`); (c) at the return its curvature is
    below that at the first shown epoch."""
    epochs = np.asarray(epochs)
    at = {int(e): i for i, e in enumerate(epochs)}
    phases = cycle_phases(epochs, fit_sharp, cycle, band_epochs)
    (lo, hi), change, steady = phases["band"], phases["change"], phases["steady"]
    grew = distance[at[cycle.peak]] > distance[at[cycle.cross]]
    start, back = fit_sharp[0], fit_sharp[at[cycle.back]]
    ok = bool(grew and steady >= 2 and change is not None and back < start)
    return Claim(
        "Past 2/η, |θ − θ*| grows while the S-curve's curvature stays in a band; then the S-curve "
        "changes, and at the return to stability its curvature is below the cycle's start",
        f"|θ − θ*| {distance[at[cycle.cross]]:.3f} at the crossing (epoch {cycle.cross}) -> "
        f"{distance[at[cycle.peak]]:.3f} at the loss peak ({cycle.peak}); curvature of S within "
        f"[{lo:.1f}, {hi:.1f}] for {steady} epoch(s) past 2/η, leaves it at epoch {change}; "
        f"{back:.1f} at the return (epoch {cycle.back}) vs {start:.1f} at epoch {int(epochs[0])}",
        f"(a) larger at the peak, (b) >= 2 steady epochs then a change before epoch {cycle.back}, "
        "(c) return < start", ok)


def claim_every_cycle(cycles: Sequence[Cycle], fit_sharp_at: Mapping[int, float]) -> Claim:
    """Claim 5: for every complete cycle of the run, the S-curve's curvature at the return to
    stability (``back``) is below that at the last stable epoch before it (``cross − 1``)."""
    lower = [fit_sharp_at[c.back] < fit_sharp_at[c.cross - 1] for c in cycles]
    pairs = ", ".join(f"{fit_sharp_at[c.cross - 1]:.0f}->{fit_sharp_at[c.back]:.0f}" for c in cycles)
    return Claim(
        "Across all cycles, the curvature of S after a cycle is below the curvature before it",
        f"{sum(lower)}/{len(lower)} cycles lower (before -> after: {pairs})",
        "more than half of the cycles", bool(sum(lower) > len(lower) / 2))


def trend_statistics(rows: Sequence[Mapping], along: str, within: str) -> dict:
    """Spearman ρ of S_max against ``along`` (``"switch"`` or ``"eta0"``) for each value of
    ``within`` (the other one) and seed: the per-series ρ, the fraction negative, ρ of the
    seed means per ``within`` value, and the seeds whose every series is negative. S_max is
    censored at 2/η_small (``row["censored"]``: a run that reached it ties with every other
    such run), and runs without a value (completed before the switch) are left out."""
    valid = [{**r, "s_max": r["censored"]} for r in rows if np.isfinite(r["s_max"])]
    seeds = sorted({r["seed"] for r in rows})
    groups = sorted({r[within] for r in rows})
    series = {}
    for g in groups:
        for s in seeds:
            mine = sorted((r[along], r["s_max"]) for r in valid if r[within] == g and r["seed"] == s)
            rho = rank_correlation(*zip(*mine)) if len(mine) >= 3 else float("nan")
            if np.isfinite(rho):
                series[(g, s)] = rho
    mean_rho = {}
    for g in groups:
        xs = sorted({r[along] for r in valid if r[within] == g})
        means = [np.mean([r["s_max"] for r in valid if r[within] == g and r[along] == x]) for x in xs]
        mean_rho[g] = rank_correlation(xs, means) if len(xs) >= 3 else float("nan")
    values = np.array(list(series.values()))
    agree = [s for s in seeds if any(k[1] == s for k in series)
             and all(v < 0 for k, v in series.items() if k[1] == s)]
    return dict(series=series, fraction_negative=float(np.mean(values < 0)) if values.size else float("nan"),
                mean_rho=mean_rho, seeds=seeds, agreeing_seeds=agree, num_series=len(series))


def _trend_claim(claim: str, rows, along: str, within: str, unit: str) -> Claim:
    st = trend_statistics(rows, along, within)
    means = ", ".join(f"{unit} {g:g}: {v:+.2f}" for g, v in st["mean_rho"].items() if np.isfinite(v))
    ok = (st["num_series"] > 0 and st["fraction_negative"] >= 2 / 3
          and all(v < 0 for v in st["mean_rho"].values() if np.isfinite(v)))
    return Claim(
        claim,
        f"ρ of the seed means ({means}); {st['fraction_negative']:.0%} of {st['num_series']} "
        f"per-seed series negative; seeds whose every series is negative: "
        f"{len(st['agreeing_seeds'])}/{len(st['seeds'])} (S_max censored at 2/η_small)",
        "every seed-mean ρ < 0 and >= 2/3 of the per-seed series negative", bool(ok))


def claim_later_switch(rows: Sequence[Mapping]) -> Claim:
    """Claim 3: S_max decreases as the switch is delayed (per η0)."""
    return _trend_claim("S_max decreases as the switch to η_small is delayed (Figure 4)", rows,
                        "switch", "eta0", "η0")


def claim_larger_eta0(rows: Sequence[Mapping]) -> Claim:
    """Claim 4: S_max decreases with larger η0 at a fixed switch epoch."""
    return _trend_claim("S_max decreases with larger η0 at a fixed switch epoch (Figure 4)", rows,
                        "eta0", "switch", "switch")


def claim_eta_small_stable(rows: Sequence[Mapping], eta_small: float) -> Claim:
    """The premise of Figure 4: η_small is stable (S_max < 2/η_small) for every run that was
    switched (runs that completed before their switch have no S_max and are not counted)."""
    switched = [r for r in rows if np.isfinite(r["s_max"])]
    stable = sum(r["stable"] for r in switched)
    worst = max((r["s_max"] for r in switched), default=float("nan"))
    return Claim(
        f"η_small = {eta_small:g} keeps every run stable after the switch (Figure 4's premise)",
        f"{stable}/{len(switched)} switched runs with S_max < 2/η_small = {2 / eta_small:g} (largest S_max "
        f"{worst:.0f}); {len(rows) - len(switched)} completed before their switch",
        "all switched runs", stable == len(switched) > 0)


def claims_table(epochs, fit_loss, fit_sharp, distance, cycle: Cycle, cycles: Sequence[Cycle],
                 fit_sharp_at: Mapping[int, float], rows: Sequence[Mapping], eta_small: float,
                 band_epochs: int = 4) -> ClaimsTable:
    """Claims 1-5 of the issue and Figure 4's premise, in that order."""
    epochs = np.asarray(epochs)
    return ClaimsTable([
        claim_progressive_sharpening(epochs, np.asarray(fit_loss), np.asarray(fit_sharp), cycle),
        claim_growth_then_change(epochs, np.asarray(fit_sharp), np.asarray(distance), cycle, band_epochs),
        claim_later_switch(rows),
        claim_larger_eta0(rows),
        claim_every_cycle(cycles, fit_sharp_at),
        claim_eta_small_stable(rows, eta_small),
    ])

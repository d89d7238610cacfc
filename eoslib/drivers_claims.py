"""The statistics behind chapter 5's claims table (Appendix G of the paper), one function per
claim; :func:`claims_table` assembles them.

Claims 3-5 are computed for every instability of Figure 10 and agree when the majority of the
instabilities do (each row says how many). Distances between sharpness trajectories are
:func:`eoslib.drivers.trajectory_distance` in gradient-flow time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from eoslib.drivers import Phase, fraction_near, nearest_offsets, trajectory_distance
from eoslib.interventions import Trajectory, oscillation_amplitude
from eoslib.report import Claim, ClaimsTable, proportion_claim

__all__ = ["claim_peaks_coincide", "claim_alpha_negative", "s_distance", "claim_suppress_like_flow",
           "claim_stabilize_like_suppress", "claim_restrict_oscillates", "claim_reference_converged",
           "claims_table"]

COINCIDE = 0.75  # claim 1: fraction of peaks within the tolerance
RATIO = 0.5  # claims 3, 4: a trajectory "like" another one is at most half as far as GD is


def _majority(flags: Sequence[bool]) -> bool:
    return 2 * sum(flags) > len(flags)


def claim_peaks_coincide(loss_peaks: Sequence[int], sharpness_peaks: Sequence[int],
                         distance_maxima: Sequence[int], tolerance: int = 2) -> Claim:
    """Claim 1: at least :data:`COINCIDE` of the loss peaks and of the S peaks lie within
    ``± tolerance`` epochs of a maximum of |θ − θ*|, decided on the Wilson intervals of the
    two counts (:func:`eoslib.report.proportion_claim`: UNRESOLVED when a run has too few
    peaks to tell)."""
    def near(peaks):
        return round(fraction_near(peaks, distance_maxima, tolerance) * len(peaks)) if len(peaks) else 0

    n, k_loss, k_sharp = len(loss_peaks), near(loss_peaks), near(sharpness_peaks)
    lag = np.nanmedian(nearest_offsets(sharpness_peaks, distance_maxima)) if n else float("nan")
    return proportion_claim(
        "The peaks of L and S coincide with peaks of |θ − θ*|",
        f"within ±{tolerance} epochs of one of {len(distance_maxima)} |θ − θ*| maxima: "
        f"{k_loss}/{n} loss peaks ({k_loss / max(n, 1):.0%}), {k_sharp}/{len(sharpness_peaks)} S peaks "
        f"({k_sharp / max(len(sharpness_peaks), 1):.0%}; median offset of an S peak from its nearest maximum "
        f"{lag:+.0f} epochs)",
        [(k_loss, n), (k_sharp, len(sharpness_peaks))], COINCIDE, f"≥ {COINCIDE:.0%} of each")


def claim_alpha_negative(epochs: np.ndarray, alpha: np.ndarray, phases: Sequence[Phase]) -> Claim:
    """Claim 2: α < 0 at more than half of the epochs (also reported by phase type), decided on
    the Wilson interval of the count (:func:`eoslib.report.proportion_claim`)."""
    epochs, alpha = np.asarray(epochs), np.asarray(alpha)
    parts = []
    for growing, name in ((True, "growing"), (False, "shrinking")):
        mask = np.zeros(epochs.size, bool)
        for p in phases:
            if p.growing == growing:
                mask |= (epochs >= p.start) & (epochs < p.end)
        if mask.any():
            parts.append(f"{name} |θ − θ*|: {np.mean(alpha[mask] < 0):.0%} of {mask.sum()}")
    negative = int(np.sum(alpha < 0))
    return proportion_claim(
        "The sharpening factor α = −∇L·∇S is predominantly negative",
        f"α < 0 at {negative / alpha.size:.0%} of {alpha.size} epochs ({int(epochs[0])}-{int(epochs[-1])}); "
        + "; ".join(parts),
        [(negative, alpha.size)], 0.5, "> 50 % of the epochs")


def s_distance(a: Trajectory, b: Trajectory) -> float:
    """Distance between the sharpness trajectories of two runs in gradient-flow time."""
    return trajectory_distance(a.time, a.values[:, 0], b.time, b.values[:, 0])


def _ratio(a: float, b: float) -> float:
    """``a / b`` (inf when only ``b`` is 0: ``a`` is then not "like" anything)."""
    return a / b if b > 0 else (float("nan") if a == 0 else float("inf"))


def _ratio_claim(claim: str, starts: Sequence[int], ratios: Sequence[float], what: str) -> Claim:
    agree = [r < RATIO for r in ratios]
    listed = ", ".join(f"{s}: {r:.2f}" for s, r in zip(starts, ratios))
    return Claim(claim, f"{what} by instability start ({listed}); {sum(agree)}/{len(agree)} "
                 f"below {RATIO}", f"< {RATIO} for the majority of instabilities", _majority(agree))


def claim_suppress_like_flow(starts: Sequence[int], suites: Sequence[Mapping[str, Trajectory]]) -> Claim:
    """Claim 3: under (a) (η_u = 0) S follows the gradient-flow reference: d(a, ref) is below
    :data:`RATIO` · d(GD, ref)."""
    ratios = [_ratio(s_distance(s["suppress"], s["reference"]), s_distance(s["none"], s["reference"]))
              for s in suites]
    return _ratio_claim("Under η_u = 0 along unstable directions (a), S rises slowly like the "
                        "gradient-flow reference", starts, ratios, "d(S_a, S_ref) / d(S_GD, S_ref)")


def claim_stabilize_like_suppress(starts: Sequence[int],
                                  suites: Sequence[Mapping[str, Trajectory]]) -> Claim:
    """Claim 4: (b) (η_u λ < 2) behaves like (a): d(b, a) below :data:`RATIO` · d(GD, a)."""
    ratios = [_ratio(s_distance(s["stabilize"], s["suppress"]), s_distance(s["none"], s["suppress"]))
              for s in suites]
    claim = _ratio_claim("Effective stability (b, η_u λ < 2) behaves like (a)", starts, ratios,
                         "d(S_b, S_a) / d(S_GD, S_a)")
    to_flow = [_ratio(s_distance(s["stabilize"], s["reference"]), s_distance(s["none"], s["reference"]))
               for s in suites]
    return claim._replace(measured=claim.measured + "; for comparison d(S_b, S_ref) / d(S_GD, S_ref): "
                          + ", ".join(f"{r:.2f}" for r in to_flow))


def claim_restrict_oscillates(starts: Sequence[int],
                              suites: Sequence[Mapping[str, Trajectory]]) -> Claim:
    """Claim 5: restricting updates to the top-k directions (c) re-introduces oscillations:
    the oscillation amplitude of L (:func:`eoslib.interventions.oscillation_amplitude`) is at
    more than twice that under (a), for the majority of instabilities."""
    amp = {rule: [oscillation_amplitude(s[rule].loss) for s in suites]
           for rule in ("restrict", "suppress", "none")}
    agree = [c > 2 * a for c, a in zip(amp["restrict"], amp["suppress"])]
    listed = ", ".join(f"{s}: {c:.1e} vs {a:.1e} (GD {g:.1e})"
                       for s, c, a, g in zip(starts, amp["restrict"], amp["suppress"], amp["none"]))
    return Claim("Restricting updates to the sharpest directions (c) re-introduces oscillations",
                 f"oscillation amplitude of L, (c) vs (a), by instability start: {listed}; "
                 f"{sum(agree)}/{len(agree)} more than 2x", "(c) > 2 x (a) for the majority",
                 _majority(agree))


def claim_reference_converged(suites: Sequence[Mapping[str, Trajectory]], tol: float = 0.02) -> Claim:
    """Premise of claims 3-4: the small-η GD reference is converged in its step, S changes by
    less than ``tol`` (relative) when the step is halved, at every instability."""
    worst = max(float(np.max(np.abs(s["reference"].values[:, 0] - s["reference_half"].values[:, 0])
                             / np.abs(s["reference_half"].values[:, 0]))) for s in suites)
    return Claim("(Premise of 3-4, added) the small-η GD reference approximates gradient flow",
                 f"largest relative change of S when its step is halved: {worst:.1e}",
                 f"< {tol:.0%}", bool(worst < tol))


def claims_table(*, loss_peaks, sharpness_peaks, distance_maxima, epochs, alpha, phases,
                 starts, suites) -> ClaimsTable:
    """Chapter 5's claims table (the functions above, in order)."""
    return ClaimsTable([
        claim_peaks_coincide(loss_peaks, sharpness_peaks, distance_maxima),
        claim_alpha_negative(epochs, alpha, phases),
        claim_suppress_like_flow(starts, suites),
        claim_stabilize_like_suppress(starts, suites),
        claim_restrict_oscillates(starts, suites),
        claim_reference_converged(suites),
    ])

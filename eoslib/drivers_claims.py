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
from eoslib.report import Claim, ClaimsTable, proportion_claim, wilson_interval

__all__ = ["claim_peaks_coincide", "claim_alpha_negative", "s_distance", "claim_suppress_like_flow",
           "claim_stabilize_like_suppress", "claim_restrict_oscillates", "claim_reference_converged",
           "claims_table", "prose_values"]

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


def _num(x: float, spec: str) -> str:
    """``x`` formatted with ``spec``, the minus sign typeset (U+2212)."""
    return f"{x:{spec}}".replace("-", "\u2212")


def _pct(x: float) -> str:
    return f"{x:.0%}".replace("%", " %")


def _interval(lo: float, hi: float) -> str:
    return f"{100 * lo:.0f}\u2013{100 * hi:.0f} %"


def _and(items: Sequence[str]) -> str:
    """``"a, b and c"``."""
    items = list(items)
    return " and ".join(items) if len(items) < 3 else ", ".join(items[:-1]) + " and " + items[-1]


def _span(values: Sequence[float], spec: str) -> str:
    lo, hi = _num(min(values), spec), _num(max(values), spec)
    return lo if lo == hi else f"{lo}\u2013{hi}"


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")


def _ordinal(i: int) -> str:
    return "the " + (_ORDINALS[i] if i < len(_ORDINALS) else f"{i + 1}th")


def prose_values(study, maxima: Sequence[int], phases: Sequence[Phase], loss_peaks: Sequence[int],
                 sharpness_peaks: Sequence[int], claims: ClaimsTable, *, eta: float, min_rise: float,
                 num_eigs: int, tolerance: int = 2) -> dict[str, str]:
    """The measured values chapter 5's discussion quotes, as text to glue into it (``{glue:md}``).

    ``study`` the :class:`eoslib.drivers.DriversStudy` (its ``sharpness``, ``num_matvecs``,
    ``reached``, ``spikes``, ``chosen``, ``window``, ``alpha``, ``starts``, ``suites`` and times
    are read), ``maxima`` the maxima of |θ − θ*|, ``phases`` Figure 9's phases, ``loss_peaks``
    and ``sharpness_peaks`` those of the instabilities (counted from the window's first epoch on,
    as the claims table does) and ``claims`` the chapter's :func:`claims_table`. Keys:

    - Figure 9: ``reached``, ``min_rise`` (the rule's rise, in percent), ``n_peaks``,
      ``loss_near``/``sharp_near`` (peaks within ± ``tolerance`` epochs of a maximum),
      ``loss_pct``/``sharp_pct``, ``sharp_far`` (offsets of the others), ``sharp_before``,
      ``sharp_after`` and ``sharp_median`` (S peaks before/after their maximum, median offset),
      ``above`` (the two fractions against :data:`COINCIDE`), ``loss_ci``/``sharp_ci`` (their
      95 % intervals), ``all_n`` (what n of n would give), ``c1``..``c6`` (verdicts),
      ``alpha_pos_epochs``, ``alpha_pos_median`` and ``s_pos`` (the first stretch of α > 0: its
      epochs, median α and S from its first to its last epoch), ``alpha_neg``, ``n_window``,
      ``alpha_neg_after`` (α < 0 over the window, and after that stretch), ``alpha_shrink`` and
      ``alpha_grow`` (by phase), ``n_spikes``, ``third_spike`` (start–end of the third
      instability);
    - Figure 10: ``n_suites``, ``starts``, ``c3_ratios``, ``c3_count``, ``c4_ratios``,
      ``c4_count``, ``b_ref_ratios``, ``worst_which``, ``worst_rise``, ``worst_smallest``,
      ``worst_a_end``, ``worst_ref_end`` (where (a) is farthest from the flow), ``steps``,
      ``rise_frac`` (least share of the steps at which S rises under (a) and (b)), ``end_ab``
      (S after the last step under them), ``sat_which``, ``sat_frac`` (where all tracked
      directions are unstable under (a) the most), ``num_eigs``, ``c5_where``, ``c5_ratios``
      ((c)/(a) amplitude where (c) oscillates more than twice (a)), ``gd_over_c``, ``c5_other``
      (a sentence on the others), ``restrict_below`` (steps until S < 2/η under (c)),
      ``restrict_stays``, ``c5_count``, ``ref_change`` (claim 6's largest change);
    - cost: ``hvps_steps``, ``hvps_run``, ``run_s``, ``alpha_s``, ``suite_s``, ``total_min``,
      ``epochs``.
    """
    window, alpha = np.asarray(study.window), np.asarray(study.alpha, float)
    loss_peaks = [e for e in loss_peaks if e >= window[0]]
    sharpness_peaks = [e for e in sharpness_peaks if e >= window[0]]
    n = len(loss_peaks)
    offsets = nearest_offsets(sharpness_peaks, maxima)
    k_loss = round(fraction_near(loss_peaks, maxima, tolerance) * n) if n else 0
    k_sharp = int(np.sum(np.abs(offsets) <= tolerance))
    fractions = (k_loss / max(n, 1), k_sharp / max(len(sharpness_peaks), 1))
    above = [f >= COINCIDE for f in fractions]
    ci = [wilson_interval(k, m) for k, m in ((k_loss, n), (k_sharp, len(sharpness_peaks)))]
    lo_all, hi_all = wilson_interval(n, n)
    stretch = 0
    while stretch < alpha.size and alpha[stretch] > 0:
        stretch += 1
    shares = {}
    for growing in (True, False):
        mask = np.zeros(window.size, bool)
        for p in phases:
            if p.growing == growing:
                mask |= (window >= p.start) & (window < p.end)
        shares[growing] = _pct(np.mean(alpha[mask] < 0)) if mask.any() else "none"
    verdicts = [c.verdict for c in claims.claims]
    out = {
        "reached": str(study.reached), "min_rise": _pct(min_rise - 1), "n_peaks": str(n),
        "loss_near": str(k_loss), "sharp_near": str(k_sharp), "loss_pct": _pct(fractions[0]),
        "sharp_pct": _pct(fractions[1]),
        "sharp_far": _and([_num(o, "+.0f") for o in offsets if abs(o) > tolerance]) or "none",
        "sharp_before": str(int(np.sum(offsets < 0))), "sharp_after": str(int(np.sum(offsets > 0))),
        "sharp_median": _num(float(np.median(offsets)), "+.0f") if offsets.size else "none",
        "above": ("both above" if all(above) else "both below" if not any(above) else
                  "respectively above and below" if above[0] else "respectively below and above"),
        "loss_ci": _interval(*ci[0]), "sharp_ci": _interval(*ci[1]),
        "all_n": (f"even {n} of {n} would leave it so" if lo_all < COINCIDE else f"{n} of {n} would resolve it")
                 + ", " + _interval(lo_all, hi_all),
        "alpha_pos_epochs": f"{window[0]}\u2013{window[stretch - 1]}" if stretch else "none",
        "alpha_pos_median": _num(float(np.median(alpha[:stretch])), "+.0f") if stretch else "none",
        "s_pos": (f"{study.sharpness[window[0]]:.1f} to {study.sharpness[window[stretch - 1]]:.0f}"
                  if stretch else "none"),
        "alpha_neg": _pct(np.mean(alpha < 0)), "n_window": str(window.size),
        "alpha_neg_after": _pct(np.mean(alpha[stretch:] < 0)) if stretch < alpha.size else "none",
        "alpha_shrink": shares[False], "alpha_grow": shares[True],
        "n_spikes": str(len(study.spikes)),
        "third_spike": (f"{study.spikes[2].start}\u2013{study.spikes[2].end}" if len(study.spikes) > 2 else "none"),
    }
    out.update({f"c{i + 1}": v for i, v in enumerate(verdicts)})
    out.update(_figure10_values(study, eta, num_eigs))
    hvps = [s[r].num_matvecs[1:].mean() for s in study.suites for r in ("none", "suppress", "stabilize", "restrict")]
    total = study.run_seconds + study.alpha_seconds + study.suite_seconds
    out.update({
        "c5_count": out.pop("_c5_count"),
        "hvps_steps": _span(hvps, ".0f"), "hvps_run": f"{np.mean(study.num_matvecs[1:]):.0f}",
        "run_s": f"{study.run_seconds:.0f}", "alpha_s": f"{study.alpha_seconds:.0f}",
        "suite_s": f"{study.suite_seconds:.0f}", "total_min": f"{total / 60:.0f}",
        "epochs": str(len(study.sharpness) - 1),
    })
    return out


def _figure10_values(study, eta: float, num_eigs: int) -> dict[str, str]:
    """The Figure-10 keys of :func:`prose_values`."""
    starts, suites = list(study.starts), list(study.suites)
    limit = 2 / eta
    r3 = [_ratio(s_distance(s["suppress"], s["reference"]), s_distance(s["none"], s["reference"])) for s in suites]
    r4 = [_ratio(s_distance(s["stabilize"], s["suppress"]), s_distance(s["none"], s["suppress"])) for s in suites]
    rb = [_ratio(s_distance(s["stabilize"], s["reference"]), s_distance(s["none"], s["reference"])) for s in suites]
    worst = int(np.argmax(r3))
    rises = [c.rise for c in study.chosen]
    amp = {rule: [oscillation_amplitude(s[rule].loss) for s in suites] for rule in ("restrict", "suppress", "none")}
    more = [i for i, (c, a) in enumerate(zip(amp["restrict"], amp["suppress"])) if c > 2 * a]
    other = [i for i in range(len(suites)) if i not in more]
    sat = [float(np.mean(s["suppress"].unstable == num_eigs)) for s in suites]
    below, stays = [], True
    for s in suites:
        v = s["restrict"].values[:, 0]
        hit = np.nonzero(v < limit)[0]
        below.append(str(int(s["restrict"].steps[hit[0]])) if hit.size else "never")
        stays &= bool(hit.size and np.all(v[hit[0]:] < limit))
    ab = [s[r].values[:, 0] for s in suites for r in ("suppress", "stabilize")]
    worst_end = suites[worst]
    return {
        "n_suites": str(len(suites)), "starts": _and(map(str, starts)),
        "c3_ratios": _and([f"{r:.2f}" for r in r3]), "c3_count": _of(sum(r < RATIO for r in r3), len(r3)),
        "c4_ratios": _and([f"{r:.2f}" for r in r4]), "c4_count": _of(sum(r < RATIO for r in r4), len(r4)),
        "b_ref_ratios": _and([f"{r:.2f}" for r in rb]),
        "worst_which": _ordinal(worst), "worst_rise": f"{rises[worst]:.2f}",
        "worst_smallest": (f", the smallest of the {len(rises)}" if len(rises) > 1 and rises[worst] == min(rises)
                           else ""),
        "worst_a_end": f"{worst_end['suppress'].values[-1, 0]:.0f}",
        "worst_ref_end": f"{worst_end['reference'].values[-1, 0]:.0f}",
        "steps": str(int(suites[0]["none"].steps[-1])) if suites else "none",
        "rise_frac": _pct(min(float(np.mean(np.diff(v) > 0)) for v in ab)),
        "end_ab": _span([float(v[-1]) for v in ab], ".0f"),
        "sat_which": _ordinal(int(np.argmax(sat))), "sat_frac": _pct(max(sat)), "num_eigs": str(num_eigs),
        "c5_where": ("none of the instabilities" if not more else
                     "the instability at epoch " + str(starts[more[0]]) if len(more) == 1 else
                     "the instabilities at epochs " + _and([str(starts[i]) for i in more])),
        "c5_ratios": _and([f"{amp['restrict'][i] / amp['suppress'][i]:.0f}" for i in more]) or "none",
        "gd_over_c": _span([amp["none"][i] / amp["restrict"][i] for i in more], ".0f") if more else "none",
        "c5_other": ("" if not other else
                     f"At {_and(['epoch ' + str(starts[i]) for i in other])}, (c) oscillates only "
                     + _and([f"{amp['restrict'][i] / amp['suppress'][i]:.1f}" for i in other])
                     + " times as much as (a)."),
        "restrict_below": _and(below), "restrict_stays": "stays there" if stays else "does not always stay there",
        "_c5_count": _of(len(more), len(suites)),
        "ref_change": _pct_fine(max(float(np.max(np.abs(s["reference"].values[:, 0] - s["reference_half"].values[:, 0])
                                                  / np.abs(s["reference_half"].values[:, 0]))) for s in suites)),
    }


def _of(k: int, n: int) -> str:
    return f"all {n}" if k == n else f"{k} of {n}"


def _pct_fine(x: float) -> str:
    """A small fraction as a percentage with two significant digits (``"0.15 %"``)."""
    return f"{100 * x:.2g} %"

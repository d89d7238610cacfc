"""The statistics behind chapter 5's claims table (Appendix G of the paper), one function per
claim; :func:`claims_table` assembles them.

Claims 3-5 are computed for every instability of Figure 10. Claim 3 agrees when the majority of
the instabilities do; claims 4 and 5 are voted by :func:`_vote`, which leaves an instability
whose statistic is undefined (a missing or too short trajectory, a NaN) out of the agreeing
ones and reads UNRESOLVED when those could decide. Each row lists the instabilities. Distances
between sharpness trajectories are :func:`eoslib.chapters.drivers.experiment.trajectory_distance` in gradient-flow
time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from eoslib.chapters.drivers.experiment import Phase, fraction_near, nearest_offsets, trajectory_distance
from eoslib.chapters.drivers.interventions import Trajectory
from eoslib.report import Claim, ClaimsTable, proportion_claim, wilson_interval

__all__ = ["claim_peaks_coincide", "claim_alpha_negative", "s_distance", "claim_suppress_like_flow",
           "threshold_index", "stable_window_ratio", "claim_stabilize_like_flow", "RestrictOutcome",
           "restrict_outcome", "claim_restrict_unstable", "claim_reference_converged", "claims_table",
           "prose_values"]

COINCIDE = 0.75  # claim 1: fraction of peaks within the tolerance
RATIO = 0.5  # claims 3, 4: a trajectory "like" another one is at most half as far as GD is
MIN_STEPS = 3  # claim 4: a window of fewer steps before (b)'s stability threshold is too short to tell
FEW = 5  # claim 5: "quickly", within this many steps of the start
RISE = 1.05  # claim 5: the loss rises to this factor of its value at the start (a stable descent never does)


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


def _vote(flags: Sequence[bool | None]) -> tuple[bool, bool]:
    """``(passed, unresolved)`` of per-instability outcomes ``flags`` (None: undefined there):
    PASS when a strict majority of all the instabilities agree; FAIL when fewer would agree
    even if every undefined one did; UNRESOLVED otherwise, and when there is no instability."""
    yes, undefined, need = sum(f is True for f in flags), sum(f is None for f in flags), len(flags) // 2 + 1
    passed = bool(flags) and yes >= need
    return passed, not passed and (not flags or yes + undefined >= need)


def _tally(flags: Sequence[bool | None]) -> str:
    """``"k/n"``, and ``", u undefined"`` when some are."""
    undefined = sum(f is None for f in flags)
    return f"{sum(f is True for f in flags)}/{len(flags)}" + (f", {undefined} undefined" if undefined else "")


def threshold_index(trajectory: Trajectory) -> int | None:
    """Index of the first record of ``trajectory`` at which every tracked direction is unstable
    (``unstable`` equals the number k of tracked eigenvalues: the k-th, the smallest, has reached
    2/η), None when there is none. From there on a direction that is not tracked may be unstable
    too and still step at η: effective stability (b) is no longer guaranteed, its "stability
    threshold is reached" (claim 4)."""
    hit = np.nonzero(np.asarray(trajectory.unstable) >= np.asarray(trajectory.values).shape[1])[0]
    return int(hit[0]) if hit.size else None


def stable_window_ratio(suite: Mapping[str, Trajectory], min_steps: int = MIN_STEPS) -> tuple[float, int]:
    """``(d(S_b, S_ref) / d(S_GD, S_ref), n)`` over the ``n`` records of (b) after its start up
    to its :func:`threshold_index` (inclusive: S there is still the result of effectively stable
    steps; every record when it is never reached), plain GD's distance over the same records.
    The ratio is NaN (undefined) when a trajectory is missing, S is not finite there or
    ``n < min_steps``."""
    b, gd, ref = (suite.get(rule) for rule in ("stabilize", "none", "reference"))
    if b is None or gd is None or ref is None:
        return float("nan"), 0
    cut = threshold_index(b)
    end = min(len(b.steps) if cut is None else cut + 1, len(gd.steps))
    s_b, s_gd = np.asarray(b.values, float)[1:end, 0], np.asarray(gd.values, float)[1:end, 0]
    if end - 1 < min_steps or not (np.isfinite(s_b).all() and np.isfinite(s_gd).all()):
        return float("nan"), max(end - 1, 0)
    s_ref = np.asarray(ref.values, float)[:, 0]
    d_b = trajectory_distance(b.time[1:end], s_b, ref.time, s_ref)
    d_gd = trajectory_distance(gd.time[1:end], s_gd, ref.time, s_ref)
    return (float("nan") if np.isnan(d_b) or np.isnan(d_gd) else _ratio(d_b, d_gd)), end - 1


def claim_stabilize_like_flow(starts: Sequence[int], suites: Sequence[Mapping[str, Trajectory]],
                              min_steps: int = MIN_STEPS) -> Claim:
    """Claim 4. Appendix G, third paragraph (on Figure 10): "Similarly, reducing the learning
    rate along unstable directions to achieve *effective stability*, i.e. η_u < 2/S(θ),
    reproduces this behavior up until the stability threshold is reached". "This behavior" is
    that of the two sentences before: under η_u = 0, "S(θ) follows a trajectory similar to that
    when observed under a globally small learning rate [...] characterized by slow and gradual
    increases to S(θ)", i.e. the small-η reference (the gradient flow's stand-in).

    At each instability, (b)'s S is "like" the reference's when d(S_b, S_ref) is below
    :data:`RATIO` · d(S_GD, S_ref), both over the window of :func:`stable_window_ratio`: the
    steps until (b)'s stability threshold is reached (:func:`threshold_index`). (S reaching 2/η
    cannot end the window: an instability usually starts with S above 2/η already, and while S
    is below it (b) changes no rate: it is plain GD.) Decided by :func:`_vote` (undefined ratio: NaN, e.g. a
    window of fewer than ``min_steps`` steps)."""
    found = [stable_window_ratio(s, min_steps) for s in suites]
    flags = [None if np.isnan(r) else bool(r < RATIO) for r, _ in found]
    passed, unresolved = _vote(flags)
    listed = ", ".join(f"{s}: {_r2(r)} ({n} steps)" for s, (r, n) in zip(starts, found))
    return Claim("Effective stability (b, η_u λ < 2) follows the small-η reference up until its stability "
                 "threshold is reached",
                 f"d(S_b, S_ref) / d(S_GD, S_ref) until all tracked directions are unstable under (b), by "
                 f"instability start ({listed or 'no instability'}); {_tally(flags)} below {RATIO}",
                 f"< {RATIO} at a strict majority of the instabilities", passed, unresolved=unresolved)


class RestrictOutcome(NamedTuple):
    """Claim 5 at one instability (:func:`restrict_outcome`): ``unstable`` (None: undefined),
    ``above`` (S > 2/η at some step), ``step`` (first step at which the loss reaches the rise;
    None: never) and ``factor`` (largest L_t / L_0), all over steps 1 to ``few``."""

    unstable: bool | None
    above: bool
    step: int | None
    factor: float


def restrict_outcome(trajectory: Trajectory | None, few: int = FEW, rise: float = RISE) -> RestrictOutcome:
    """Whether ``trajectory`` becomes unstable "quickly": at some record of steps 1 to ``few``
    S exceeds 2/η (a tracked direction has η λ > 2: ``unstable`` ≥ 1) and at some the loss is at
    least ``rise`` times its value at the start. Undefined when the trajectory is missing, ends
    before step ``few`` or its loss is not finite and positive there."""
    if trajectory is None:
        return RestrictOutcome(None, False, None, float("nan"))
    steps, loss = np.asarray(trajectory.steps), np.asarray(trajectory.loss, float)
    mask = (steps >= 1) & (steps <= few)
    if steps.size == 0 or steps[-1] < few or not (np.isfinite(loss[mask]).all() and np.isfinite(loss[0]) and loss[0] > 0):
        return RestrictOutcome(None, False, None, float("nan"))
    factor = loss[mask] / loss[0]
    up = np.nonzero(factor >= rise)[0]
    step = int(steps[mask][up[0]]) if up.size else None
    above = bool(np.any(np.asarray(trajectory.unstable)[mask] >= 1))
    return RestrictOutcome(above and step is not None, above, step, float(factor.max()))


def claim_restrict_unstable(starts: Sequence[int], suites: Sequence[Mapping[str, Trajectory]],
                            few: int = FEW, rise: float = RISE) -> Claim:
    """Claim 5. Figure 10's caption: "restricting updates to only unstable directions leads
    quickly to instability"; Appendix G, third paragraph: "when gradient updates are restricted
    solely to the directions of the sharpest eigenvectors, unstable oscillations are
    re-introduced". At each instability, (c) is unstable when S exceeds 2/η and the loss rises
    by the factor ``rise`` within ``few`` steps (:func:`restrict_outcome`); decided by
    :func:`_vote`. The same test on (a) and on plain GD is listed for comparison."""
    out = {rule: [restrict_outcome(s.get(rule), few, rise) for s in suites] for rule in ("restrict", "suppress", "none")}
    flags = [o.unstable for o in out["restrict"]]
    passed, unresolved = _vote(flags)

    def one(s, o):
        if o.unstable is None:
            return f"{s}: undefined"
        notes = ([f"×{rise:g} at step {o.step}"] if o.step else []) + ([] if o.above else ["S ≤ 2/η"])
        return f"{s}: L up to ×{o.factor:.2f}" + (f" ({'; '.join(notes)})" if notes else "")

    listed = ", ".join(one(s, o) for s, o in zip(starts, out["restrict"]))
    control = "; ".join(f"{name}: {_tally([o.unstable for o in out[rule]])}"
                        for rule, name in (("suppress", "(a)"), ("none", "plain GD")))
    return Claim("Restricting updates to the sharpest directions (c) leads quickly to instability",
                 f"(c) over steps 1-{few}, by instability start ({listed or 'no instability'}); "
                 f"{_tally(flags)} with S > 2/η and L ≥ {rise:g} L_0; the same test, for comparison: {control}",
                 f"S > 2/η and L ≥ {rise:g} L_0 within {few} steps, at a strict majority of the instabilities",
                 passed, unresolved=unresolved)


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
        claim_stabilize_like_flow(starts, suites),
        claim_restrict_unstable(starts, suites),
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

    ``study`` the :class:`eoslib.chapters.drivers.experiment.DriversStudy` (its ``sharpness``, ``num_matvecs``,
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
    - Figure 10: ``n_suites``, ``starts``, ``c3_ratios``, ``c3_count``, ``worst_which``,
      ``worst_rise``, ``worst_smallest``, ``worst_a_end``, ``worst_ref_end`` (where (a) is
      farthest from the flow), ``steps``, ``rise_frac`` (least share of the steps at which S
      rises under (a) and (b)), ``end_ab`` (S after the last step under them), ``sat_which``,
      ``sat_frac`` (where all tracked directions are unstable under (a) the most), ``num_eigs``,
      ``ref_change`` (claim 6's largest change);
    - claim 4 (:func:`claim_stabilize_like_flow`): ``c4_ratios`` (its ratios), ``c4_count``
      (below :data:`RATIO`), ``c4_cut`` (where (b)'s stability threshold is reached: "at step t
      at epoch e", "never");
    - claim 5 (:func:`claim_restrict_unstable`): ``c5_few`` (:data:`FEW`), ``c5_rise_pct``
      (:data:`RISE`, in percent), ``c5_where`` (where (c) becomes unstable), ``c5_rise`` (its
      largest loss factor there), ``c5_step`` (the steps at which the loss reaches the rise),
      ``c5_other`` (a sentence on the others, empty when none), ``c5_a`` and ``c5_gd`` (the same
      test on (a) and plain GD), ``c5_count``, ``restrict_below`` (steps until S < 2/η under
      (c)), ``restrict_stays``;
    - cost: ``hvps_steps``, ``hvps_run``, ``run_s``, ``alpha_s``, ``suite_s``, ``total_min``,
      ``epochs``.
    """
    verdicts = [c.verdict for c in claims.claims]
    out = _figure9_values(study, maxima, phases, loss_peaks, sharpness_peaks, min_rise, tolerance)
    out.update({f"c{i + 1}": v for i, v in enumerate(verdicts)})
    out.update(_figure10_values(study, eta, num_eigs))
    out.update(_cost_values(study))
    return out


def _figure9_values(study, maxima: Sequence[int], phases: Sequence[Phase], loss_peaks: Sequence[int],
                    sharpness_peaks: Sequence[int], min_rise: float, tolerance: int) -> dict[str, str]:
    """The Figure-9 keys of :func:`prose_values` (its docstring)."""
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
    return {
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


def _cost_values(study) -> dict[str, str]:
    """The cost keys of :func:`prose_values` (its docstring)."""
    hvps = [s[r].num_matvecs[1:].mean() for s in study.suites for r in ("none", "suppress", "stabilize", "restrict")]
    total = study.run_seconds + study.alpha_seconds + study.suite_seconds
    return {
        "hvps_steps": _span(hvps, ".0f"), "hvps_run": f"{np.mean(study.num_matvecs[1:]):.0f}",
        "run_s": f"{study.run_seconds:.0f}", "alpha_s": f"{study.alpha_seconds:.0f}",
        "suite_s": f"{study.suite_seconds:.0f}", "total_min": f"{total / 60:.0f}",
        "epochs": str(len(study.sharpness) - 1),
    }


def _figure10_values(study, eta: float, num_eigs: int) -> dict[str, str]:
    """The Figure-10 keys of :func:`prose_values`, but those of claims 4 and 5."""
    starts, suites = list(study.starts), list(study.suites)
    r3 = [_ratio(s_distance(s["suppress"], s["reference"]), s_distance(s["none"], s["reference"])) for s in suites]
    worst = int(np.argmax(r3))
    rises = [c.rise for c in study.chosen]
    sat = [float(np.mean(s["suppress"].unstable == num_eigs)) for s in suites]
    ab = [s[r].values[:, 0] for s in suites for r in ("suppress", "stabilize")]
    worst_end = suites[worst]
    out = {
        "n_suites": str(len(suites)), "starts": _and(map(str, starts)),
        "c3_ratios": _and([f"{r:.2f}" for r in r3]), "c3_count": _of(sum(r < RATIO for r in r3), len(r3)),
        "worst_which": _ordinal(worst), "worst_rise": f"{rises[worst]:.2f}",
        "worst_smallest": (f", the smallest of the {len(rises)}" if len(rises) > 1 and rises[worst] == min(rises)
                           else ""),
        "worst_a_end": f"{worst_end['suppress'].values[-1, 0]:.0f}",
        "worst_ref_end": f"{worst_end['reference'].values[-1, 0]:.0f}",
        "steps": str(int(suites[0]["none"].steps[-1])) if suites else "none",
        "rise_frac": _pct(min(float(np.mean(np.diff(v) > 0)) for v in ab)),
        "end_ab": _span([float(v[-1]) for v in ab], ".0f"),
        "sat_which": _ordinal(int(np.argmax(sat))), "sat_frac": _pct(max(sat)), "num_eigs": str(num_eigs),
        "ref_change": _pct_fine(max(float(np.max(np.abs(s["reference"].values[:, 0] - s["reference_half"].values[:, 0])
                                                  / np.abs(s["reference_half"].values[:, 0]))) for s in suites)),
    }
    return {**out, **_claim4_values(starts, suites), **_claim5_values(starts, suites, eta)}


def _claim4_values(starts: Sequence[int], suites: Sequence[Mapping[str, Trajectory]]) -> dict[str, str]:
    """Claim 4's keys of :func:`prose_values`."""
    ratios = [r for r, _ in (stable_window_ratio(s) for s in suites)]
    cut = [(start, int(s["stabilize"].steps[i])) for start, s in zip(starts, suites)
           if "stabilize" in s and (i := threshold_index(s["stabilize"])) is not None]
    where = _and([f"at step {t} at epoch {start}" for start, t in cut])
    rest = len(suites) - len(cut)
    return {
        "c4_ratios": _and([_r2(r) for r in ratios]), "c4_count": _of(sum(r < RATIO for r in ratios), len(ratios)),
        "c4_cut": ("never" if not cut else where if not rest else
                   f"{where}, never at the other{'s' * (rest > 1)}"),
    }


def _claim5_values(starts: Sequence[int], suites: Sequence[Mapping[str, Trajectory]], eta: float) -> dict[str, str]:
    """Claim 5's keys of :func:`prose_values`."""
    outs = {rule: [restrict_outcome(s.get(rule)) for s in suites] for rule in ("restrict", "suppress", "none")}
    more = [i for i, o in enumerate(outs["restrict"]) if o.unstable]
    other = [i for i in range(len(suites)) if i not in more]

    def why(i):
        o = outs["restrict"][i]
        if o.unstable is None:
            return f"epoch {starts[i]} the test is undefined (too short a trajectory)"
        return (f"epoch {starts[i]} the loss reaches at most \u00d7{o.factor:.2f} of its start"
                + ("" if o.above else " and S stays at or below 2/\u03b7"))

    below, stays = [], True
    for s in suites:
        v = s["restrict"].values[:, 0]
        hit = np.nonzero(v < 2 / eta)[0]
        below.append(str(int(s["restrict"].steps[hit[0]])) if hit.size else "never")
        stays &= bool(hit.size and np.all(v[hit[0]:] < 2 / eta))
    return {
        "c5_few": str(FEW), "c5_rise_pct": _pct(RISE - 1),
        "c5_where": ("none of the instabilities" if not more else
                     "the instability at epoch " + str(starts[more[0]]) if len(more) == 1 else
                     "the instabilities at epochs " + _and([str(starts[i]) for i in more])),
        "c5_rise": _and([f"{outs['restrict'][i].factor:.2f}" for i in more]) or "none",
        "c5_step": _span([outs["restrict"][i].step for i in more], ".0f") if more else "none",
        "c5_other": f"At {_and([why(i) for i in other])}." if other else "",
        "c5_a": _of(sum(o.unstable is True for o in outs["suppress"]), len(suites)),
        "c5_gd": _of(sum(o.unstable is True for o in outs["none"]), len(suites)),
        "c5_count": _of(len(more), len(suites)),
        "restrict_below": _and(below), "restrict_stays": "stays there" if stays else "does not always stay there",
    }


def _r2(r: float) -> str:
    """A ratio with two decimals, ``"undefined"`` for NaN."""
    return "undefined" if np.isnan(r) else f"{r:.2f}"


def _of(k: int, n: int) -> str:
    return f"all {n}" if k == n else f"{k} of {n}"


def _pct_fine(x: float) -> str:
    """A small fraction as a percentage with two significant digits (``"0.15 %"``)."""
    return f"{100 * x:.2g} %"

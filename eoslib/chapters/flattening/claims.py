"""The statistics behind chapter 3's claims table (Section 3.3 of the paper), one function per
claim; :func:`claims_table` assembles them.

Curvatures here are those of the visible curves, :func:`eoslib.chapters.flattening.landscape.fit_curvature` of
the slices (see :mod:`eoslib.chapters.flattening.landscape` for why not the local λ'' of a ReLU network). Rank
correlations are Spearman's; a series needs 3 points or more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import numpy as np
from scipy.stats import spearmanr

from eoslib.chapters.flattening.experiment import (
    cycle_phases,
    is_mid_training,
    significant_round,
    stability_threshold,
)
from eoslib.instability import Cycle
from eoslib.report import Claim, ClaimsTable

__all__ = ["rank_correlation", "trend_statistics", "claim_progressive_sharpening",
           "claim_growth_then_change", "claim_later_switch", "claim_larger_eta0",
           "claim_every_cycle", "claim_eta_small_stable", "claims_table", "FIRST_APPROACH", "prose_values",
           "figure4_values"]


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's ρ of ``y`` against ``x`` (NaN for fewer than 3 points or a constant series)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3 or np.ptp(y[keep]) == 0 or np.ptp(x[keep]) == 0:
        return float("nan")
    return float(spearmanr(x[keep], y[keep]).statistic)


FIRST_APPROACH = ("the analysed cycle is the run's first approach to 2/η from initialization (no complete "
                  "cycle follows an earlier instability), not a mid-training cycle like the paper's")
"""Why claims 1 and 2 are UNRESOLVED on such a cycle (:func:`eoslib.chapters.flattening.experiment.choose_cycle`)."""


def _verdict(claim: str, measured: str, bound: str, ok: bool, undecided: str | None) -> Claim:
    """PASS/FAIL on ``ok``, or UNRESOLVED (never a PASS) with ``undecided`` saying why."""
    if undecided:
        return Claim(claim, f"{measured}; UNRESOLVED: {undecided}", bound, False, unresolved=True)
    return Claim(claim, measured, bound, bool(ok))


def claim_progressive_sharpening(epochs: np.ndarray, fit_loss: np.ndarray, fit_sharp: np.ndarray,
                                 cycle: Cycle) -> Claim:
    """Claim 1: over the shown epochs before the crossing (S < 2/η), the curvatures of the
    L- and S-curves both rise with the epoch (ρ > 0 for both). UNRESOLVED when a ρ is undefined
    (fewer than 3 such epochs, or a constant curvature) or the cycle is the approach from
    initialization (:func:`eoslib.chapters.flattening.experiment.is_mid_training`)."""
    epochs = np.asarray(epochs)
    before = epochs < cycle.cross
    rho_l = rank_correlation(epochs[before], fit_loss[before])
    rho_s = rank_correlation(epochs[before], fit_sharp[before])
    span = f"epochs {int(epochs[before][0])}-{int(epochs[before][-1])}" if before.any() else "no epoch"
    undecided = (FIRST_APPROACH if not is_mid_training(cycle) else
                 None if np.isfinite(rho_l) and np.isfinite(rho_s) else
                 "a rank correlation is undefined (fewer than 3 epochs before the crossing, or constant)")
    return _verdict(
        "During progressive sharpening (S < 2/η) the curvature of L and of S along the gradient "
        "both increase",
        f"{span} before the crossing: Spearman ρ(epoch, curvature of L) = {rho_l:+.2f}, "
        f"ρ(epoch, curvature of S) = {rho_s:+.2f}",
        "both ρ > 0", rho_l > 0 and rho_s > 0, undecided)


def claim_growth_then_change(epochs: np.ndarray, fit_sharp: np.ndarray, distance: np.ndarray,
                             cycle: Cycle, band_epochs: int = 4) -> Claim:
    """Claim 2: (a) |θ − θ*| is larger at the loss peak than at the crossing; (b) after the
    crossing the S-curve's curvature stays in the steady band of its last ``band_epochs``
    values before the crossing for at least 2 epochs, then leaves it before the return to
    stability (:func:`eoslib.chapters.flattening.experiment.cycle_phases`); (c) at the return its curvature is
    below that at the first shown epoch. UNRESOLVED without a band (fewer than 2 shown epochs
    before the crossing) or on the approach from initialization."""
    epochs = np.asarray(epochs)
    at = {int(e): i for i, e in enumerate(epochs)}
    phases = cycle_phases(epochs, fit_sharp, cycle, band_epochs)
    (lo, hi), change, steady = phases["band"], phases["change"], phases["steady"]
    grew = distance[at[cycle.peak]] > distance[at[cycle.cross]]
    start, back = fit_sharp[0], fit_sharp[at[cycle.back]]
    undecided = (FIRST_APPROACH if not is_mid_training(cycle) else
                 None if np.isfinite(lo) else "no steady band (fewer than 2 shown epochs before the crossing)")
    return _verdict(
        "Past 2/η, |θ − θ*| grows while the S-curve's curvature stays in a band; then the S-curve "
        "changes, and at the return to stability its curvature is below the cycle's start",
        f"|θ − θ*| {distance[at[cycle.cross]]:.3f} at the crossing (epoch {cycle.cross}) -> "
        f"{distance[at[cycle.peak]]:.3f} at the loss peak ({cycle.peak}); curvature of S within "
        f"[{lo:.1f}, {hi:.1f}] for {steady} epoch(s) past 2/η, leaves it at epoch {change}; "
        f"{back:.1f} at the return (epoch {cycle.back}) vs {start:.1f} at epoch {int(epochs[0])}",
        f"(a) larger at the peak, (b) >= 2 steady epochs then a change before epoch {cycle.back}, "
        "(c) return < start", grew and steady >= 2 and change is not None and back < start, undecided)


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


def _num(x: float, spec: str = ".0f") -> str:
    """``x`` formatted with ``spec``, the minus sign typeset (U+2212)."""
    return f"{x:{spec}}".replace("-", "\u2212")


def _sci(x: float) -> str:
    """``x`` to one significant digit as ``"2 × 10⁻⁵"``."""
    mantissa, exponent = f"{x:.0e}".split("e")
    sup = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
    return f"{mantissa} \u00d7 10{str(int(exponent)).translate(sup)}"


def _span(values: Sequence[float], spec: str) -> str:
    """``"lo–hi"`` of ``values`` (``"lo to hi"`` when one is negative, one value when both read
    alike), minus signs typeset."""
    lo, hi = _num(min(values), spec), _num(max(values), spec)
    return lo if lo == hi else f"{lo} to {hi}" if min(values) < 0 else f"{lo}\u2013{hi}"


def _epochs(epochs: Sequence[int]) -> str:
    """``"52–54"`` for consecutive epochs, else a list (``"none"`` without any)."""
    epochs = sorted(int(e) for e in epochs)
    if not epochs:
        return "none"
    if len(epochs) > 1 and epochs == list(range(epochs[0], epochs[-1] + 1)):
        return f"{epochs[0]}\u2013{epochs[-1]}"
    return ", ".join(map(str, epochs))


def _trend(rho: float) -> str:
    return "rises" if rho > 0 else "*falls*" if rho < 0 else "does not move monotonically"


def _of(k: int, n: int) -> str:
    return ("both" if n == 2 else f"all {n}") if k == n else f"{k} of {n}"


def _series(values: Sequence[float], labels: Sequence[str]) -> str:
    """``"falls from 163 (a) to 88 (b)"``: the verb from the values' order."""
    verb = ("falls" if all(b < a for a, b in zip(values, values[1:])) else
            "rises" if all(b > a for a, b in zip(values, values[1:])) else "goes")
    return f"{verb} from " + " to ".join(f"{v:.0f}{lab}" for v, lab in zip(values, labels))


def prose_values(study, fit_sharp: np.ndarray, fit_loss: np.ndarray, rows: Sequence[Mapping],
                 reference: Mapping, onsets: Mapping[float, int | None], claims: ClaimsTable, *,
                 eta: float, eta_small: float, min_lead: int, band_epochs: int = 4,
                 fit_fraction: float = 0.5) -> dict[str, str]:
    """The measured values chapter 3's discussion quotes, as text to glue into it (``{glue:md}``).

    ``study`` the :class:`eoslib.chapters.flattening.experiment.CycleStudy` (its ``loss``, ``sharpness``,
    ``distance``, ``cycles``, ``shown``, ``window``, ``geometry``, ``ts``, ``reach``,
    ``slices``, ``e0``, ``exact`` and ``fd`` are read), ``fit_sharp`` and ``fit_loss`` the slice
    curvatures of the S- and L-curves per row of ``study.geometry``, ``rows`` Figure 4's
    :func:`eoslib.chapters.flattening.experiment.switch_rows`, ``reference`` the stored stable run that sets the
    threshold, ``onsets`` each η0's first instability and ``claims`` the chapter's
    :func:`claims_table`; ``min_lead`` the parameter of :func:`eoslib.chapters.flattening.experiment.choose_cycle`.
    Keys:

    - the cycles: ``n_cycles``, ``shown_which`` (the shown cycle's rank), ``shown_rule`` (which
      step of :func:`eoslib.chapters.flattening.experiment.choose_cycle` chose it), ``first_cross`` (the run's first
      epoch with S ≥ 2/η), ``epochs`` (of the run), ``cross``, ``peak``, ``back``, ``stable_to``
      and ``lead`` of the shown cycle, ``rise`` (its loss rise factor), ``s_back`` (S at the
      return), ``other_leads`` (stable epochs before the other cycles), ``window`` (the shown
      epochs);
    - the slices: ``before_epochs`` (shown epochs before the crossing), ``l_before`` (range of
      the L-curve's curvature there), ``s_before`` (S at the first and last of them), ``slope_verb`` and
      ``first_before`` (the sign and range of λ' there), ``steady_n``, ``steady_epochs`` and
      ``change`` (the S-curve's steady epochs past 2/η and the first epoch it leaves its band),
      ``trough`` (epochs from the change to the peak whose S at t = 0 is below both ends of the
      slice) and ``walls`` (S at those ends), ``prev_min`` and ``prev_min_epoch`` (the previous
      parameters' farthest position at t < 0), ``first_peak`` (λ' at the peak), ``back_ends``
      (S at the ends of the return's slice);
    - the curvatures: ``half`` (half-width of the fits), ``l_trend``/``s_trend``/``lam_trend``
      and ``l_from``/``l_to``, ``s_from``/``s_to``, ``lam_from``/``lam_to`` (the L-curve's,
      S-curve's and local λ'' before the crossing), ``c1``..``c6`` (verdict phrases; ``c1``
      and ``c2`` say what fails, or why a claim is unresolved),
      ``s_cross`` (curvature of S at the crossing), ``s_top`` and ``s_top_epoch`` (its largest
      before the peak), ``s_back_curv``, ``s_start`` and ``back_vs_start`` (at the return
      against the first shown epoch), ``d_cross``, ``d_peak``, ``dist_cmp``, ``dist_paper``,
      ``d_min`` and ``d_min_epoch`` (|θ − θ*|), ``flip`` (first epoch past the crossing with
      the previous parameters at t < 0), ``c5_higher`` (cycles whose return is more curved),
      ``dhd_first``, ``s_first`` (d'Hd and S before the first crossing), ``dhd_returns`` and
      ``dhd_later`` (d'Hd at the returns, before the later crossings);
    - the λ'' check: ``boundary`` (median distance to an activation boundary), ``spacing`` and
      ``spacing_ratio`` (slice spacing, and over that median), ``e0``, ``lam_exact``,
      ``lam_fd``, ``lam_fd10``, ``fd_verdict``, ``lam_min``, ``lam_max`` (λ'' over the window);
    - Figure 4: ``f4_verdict``, ``ref_smax``, ``ref_epoch``, ``eta_c_frac``, ``small_ratio``,
      ``small_side``, ``n_unstable``, ``n_switched``, ``unstable_first``, ``n_first``,
      ``unstable_later``, ``f4_eta0``, ``f4_by_switch``, ``f4_switches``, ``f4_at``,
      ``f4_by_eta0``, ``c3_means``, ``c3_rhos``, ``c4_means``, ``c4_rhos``, ``series_neg``,
      ``n_completed``, ``completed_list``;
    - the numerics: ``n_slices``, ``hvps``, ``slice_certified``, ``max_residual``, ``n_runs``.
    """
    c = _context(study, fit_sharp, fit_loss, band_epochs)
    passed = [claim.passed for claim in claims.claims]
    unresolved = [claim.unresolved for claim in claims.claims]
    out = {**_cycle_values(c, min_lead, eta), **_slice_values(c),
           **_curvature_values(c, passed, unresolved, fit_fraction), **_check_values(c, passed)}
    out.update(figure4_values(rows, reference, onsets, passed, eta_small))
    residuals = np.concatenate([np.asarray(sl.residual) for sl in study.slices])
    out.update({
        "n_slices": str(len(study.slices)), "n_points": str(len(study.ts)),
        "hvps": f"{np.concatenate([np.asarray(sl.num_matvecs) for sl in study.slices]).mean():.0f}",
        "slice_certified": f"{np.concatenate([np.asarray(sl.certified) for sl in study.slices]).mean():.0%}"
                           .replace("%", " %"),
        "max_residual": _sci(float(residuals.max())), "n_runs": str(len(rows)),
    })
    return out


def _context(study, fit_sharp, fit_loss, band_epochs: int) -> SimpleNamespace:
    """What :func:`prose_values`' sections share: the study's series, the shown cycle's phases
    and epochs (``before`` the crossing, ``steady``, ``trough``, ``past`` it, ...), by name."""
    geo, shown, window = study.geometry, study.shown, [int(e) for e in study.window]
    fit_sharp, fit_loss = np.asarray(fit_sharp, float), np.asarray(fit_loss, float)
    row = {int(e): i for i, e in enumerate(geo.epochs)}
    phases = cycle_phases(np.asarray(window), fit_sharp[[row[e] for e in window]], shown, band_epochs)
    change = phases["change"]
    mid = len(study.ts) // 2

    def ends(e):  # S at the slice's ends, t = ±reach
        return np.asarray(study.slices[row[e]].sharpness, float)[[0, -1]]

    return SimpleNamespace(
        study=study, geo=geo, shown=shown, window=window, fit_sharp=fit_sharp, fit_loss=fit_loss, row=row,
        phases=phases, change=change, ends=ends, sharp=np.asarray(study.sharpness, float),
        dist=np.asarray(study.distance, float), cycles=list(study.cycles),
        before=[e for e in window if e < shown.cross],
        steady=list(range(shown.cross, shown.cross + phases["steady"])),
        trough=[e for e in window if (change or shown.cross) <= e < shown.peak
                and study.slices[row[e]].sharpness[mid] < ends(e).min()],
        past=[e for e in window if shown.cross <= e <= shown.peak])


def _cycle_values(c: SimpleNamespace, min_lead: int, eta: float) -> dict[str, str]:
    """:func:`prose_values`' keys on the cycles (its docstring)."""
    shown, cycles = c.shown, c.cycles
    others = [x for x in cycles if x != shown]
    return {
        "n_cycles": str(len(cycles)),
        "shown_which": ("the first", "the second", "the third", "the fourth")[cycles.index(shown)]
                       if cycles.index(shown) < 4 else f"cycle {cycles.index(shown) + 1}",
        "shown_rule": _shown_rule(shown, min_lead), "first_cross": str(int(np.argmax(c.sharp >= 2 / eta))),
        "epochs": str(len(c.sharp) - 1), "cross": str(shown.cross), "lead": str(shown.lead),
        "peak": str(shown.peak), "back": str(shown.back), "stable_to": str(shown.stable_to),
        "rise": f"{shown.rise:.2f}", "s_back": f"{c.sharp[shown.back]:.1f}",
        "other_leads": _span([x.lead for x in others], "d") if others else "none",
        "window": _epochs(c.window),
    }


def _slice_values(c: SimpleNamespace) -> dict[str, str]:
    """:func:`prose_values`' keys on the slices (its docstring)."""
    geo, row, before, shown = c.geo, c.row, c.before, c.shown
    prev = [(geo.prev_position[row[e]], e) for e in c.window if e >= shown.cross]
    return {
        "before_epochs": _epochs(before), "l_before": _span(c.fit_loss[[row[e] for e in before]], ".2f"),
        "s_before": f"{_num(c.sharp[before[0]], '.0f')} to {_num(c.sharp[before[-1]], '.0f')}",
        "first_before": _span(np.asarray(geo.first)[[row[e] for e in before]], ".1f"),
        "slope_verb": ("decreases" if all(geo.first[row[e]] < 0 for e in before) else
                       "increases" if all(geo.first[row[e]] > 0 for e in before) else "changes direction"),
        "steady_n": str(len(c.steady)), "steady_epochs": _epochs(c.steady), "change": str(c.change),
        "trough": _epochs(c.trough),
        "walls": _span([v for e in c.trough for v in c.ends(e)], ".0f") if c.trough else "none",
        "prev_min": _num(min(prev)[0], ".2f"), "prev_min_epoch": str(min(prev)[1]),
        "first_peak": _num(geo.first[row[shown.peak]], ".0f"),
        "back_ends": " and ".join(_num(v, ".0f") for v in c.ends(shown.back)),
    }


def _curvature_values(c: SimpleNamespace, passed: list, unresolved: list, fit_fraction: float) -> dict[str, str]:
    """:func:`prose_values`' keys on the curvatures and |θ − θ*| (its docstring)."""
    geo, row, before, shown, cycles = c.geo, c.row, c.before, c.shown, c.cycles
    fit_sharp, fit_loss, dist = c.fit_sharp, c.fit_loss, c.dist
    flips = [e for e in c.window if e > shown.cross and geo.prev_position[row[e]] < 0]
    top = max((e for e in c.window if shown.cross <= e < shown.peak), key=lambda e: fit_sharp[row[e]])
    d_cross, d_peak = dist[shown.cross], dist[shown.peak]
    d_min = min(c.past, key=lambda e: dist[e])
    rho_l = rank_correlation(before, fit_loss[[row[e] for e in before]])
    rho_s = rank_correlation(before, fit_sharp[[row[e] for e in before]])
    rho_lam = rank_correlation(before, np.asarray(geo.second)[[row[e] for e in before]])
    start, back = fit_sharp[row[c.window[0]]], fit_sharp[row[shown.back]]
    higher = sum(fit_sharp[row[x.back]] > fit_sharp[row[x.cross - 1]] for x in cycles)
    first = cycles[0]
    return {
        "half": f"{fit_fraction * c.study.reach:.2f}",
        "l_trend": _trend(rho_l), "s_trend": _trend(rho_s), "lam_trend": _trend(rho_lam),
        "l_from": _num(fit_loss[row[before[0]]], ".2f"), "l_to": _num(fit_loss[row[before[-1]]], ".2f"),
        "s_from": _num(fit_sharp[row[before[0]]], ".0f"), "s_to": _num(fit_sharp[row[before[-1]]], ".0f"),
        "lam_from": _num(geo.second[row[before[0]]], ".1f"), "lam_to": _num(geo.second[row[before[-1]]], ".1f"),
        "c1": (_unresolved(shown) if unresolved[0] else "holds" if passed[0] else " ".join(["fails on"] + [" and ".join(
            n for n, r in (("the L-curve", rho_l), ("the S-curve", rho_s)) if not r > 0)]).strip()),
        "s_cross": _num(fit_sharp[row[shown.cross]], ".1f"),
        "s_top": f"{fit_sharp[row[top]]:,.0f}".replace("-", "\u2212"), "s_top_epoch": str(top),
        "s_back_curv": _num(back, ".0f"), "s_start": _num(start, ".0f"),
        "back_vs_start": "well above" if back > 2 * start else "above" if back > start else "below",
        "c2": _unresolved(shown) if unresolved[1] else "holds" if passed[1] else "fails on " + " and ".join(
            n for n, bad in (("its first part (a)", not d_peak > d_cross),
                             ("its second part (b)", not (c.phases["steady"] >= 2 and c.change is not None)),
                             ("its last part (c)", not back < start)) if bad),
        "d_cross": f"{d_cross:.3f}", "d_peak": f"{d_peak:.3f}",
        "dist_cmp": "larger" if d_peak > d_cross else "not larger",
        "dist_paper": "as the paper says" if d_peak > d_cross else "unlike the paper's account",
        "d_min": f"{dist[d_min]:.3f}", "d_min_epoch": str(d_min),
        "flip": str(flips[0]) if flips else "none",
        "c5_higher": "every time" if higher == len(cycles) else f"in {higher} of the {len(cycles)}",
        "dhd_first": _num(geo.loss_curvature[row[first.cross - 1]], ".1f"),
        "s_first": _num(geo.sharpness[row[first.cross - 1]], ".0f"),
        "dhd_returns": _span([geo.loss_curvature[row[x.back]] for x in cycles], ".0f"),
        "dhd_later": _span([geo.loss_curvature[row[x.cross - 1]] for x in cycles[1:]], ".1f") if cycles[1:] else "none",
    }


def _check_values(c: SimpleNamespace, passed: list) -> dict[str, str]:
    """:func:`prose_values`' keys on the λ'' check and claims 3-6 (its docstring)."""
    geo, row, study = c.geo, c.row, c.study
    boundary = float(np.median(np.asarray(geo.boundary)[[row[e] for e in c.window]]))
    spacing = float(study.ts[1] - study.ts[0])
    lam_window = np.asarray(geo.second)[[row[e] for e in c.window]]
    exact, fd = study.exact, np.asarray(study.fd)
    agree = abs(fd[0, 2] - exact.second) <= 1e-2 * abs(exact.second)
    return {
        "boundary": _sci(boundary), "spacing": f"{spacing:.2g}", "spacing_ratio": f"{float(f'{spacing / boundary:.2g}'):,.0f}",
        "e0": str(study.e0), "lam_exact": _num(exact.second, ".6g"), "lam_fd": _num(fd[0, 2], ".5g"),
        "lam_fd10": _num(fd[1, 2], ".0f"), "fd_verdict": "confirm" if agree else "do not confirm",
        "lam_min": _num(round(float(lam_window.min()), -1), ",.0f"),
        "lam_max": _num(round(float(lam_window.max()), -1), "+,.0f"),
        "c3": "holds" if passed[2] else "fails", "c4": "holds" if passed[3] else "fails",
        "c5": "holds" if passed[4] else "fails", "c6": "holds" if passed[5] else "fails",
    }


def _shown_rule(shown: Cycle, min_lead: int) -> str:
    """Which step of :func:`eoslib.chapters.flattening.experiment.choose_cycle` chose ``shown``, in words."""
    if not is_mid_training(shown):
        return ("the run's first approach to $2/\\eta$ from initialization: no complete cycle follows an "
                "earlier instability (the rule's fallback)")
    if shown.lead >= min_lead:
        return (f"the first complete cycle after the run's first instability with at least {min_lead} stable "
                "epochs before its crossing")
    return (f"the complete cycle after the run's first instability with the longest stable phase before its "
            f"crossing (none has the {min_lead} epochs the rule asks for)")


def _unresolved(shown: Cycle) -> str:
    """The verdict phrase of an UNRESOLVED claim 1 or 2, and why."""
    return ("is unresolved: the analysed cycle is the approach from initialization" if not is_mid_training(shown)
            else "is unresolved: its statistic is undefined (see the claims table)")


def figure4_values(rows: Sequence[Mapping], reference: Mapping, onsets: Mapping[float, int | None],
                   passed: Sequence[bool], eta_small: float) -> dict[str, str]:
    """The Figure-4 keys of :func:`prose_values` (its docstring): Figure 4's runs as phrases, from
    their ``rows`` (:func:`eoslib.chapters.flattening.experiment.switch_rows`), the ``reference`` run, each η0's first
    instability ``onsets`` and the verdicts ``passed`` of claims 1-6 (3 and 4 are Figure 4's)."""
    switched = [r for r in rows if np.isfinite(r["s_max"])]
    return {"f4_verdict": ("holds" if passed[2] and passed[3] else "fails" if not (passed[2] or passed[3])
                           else "holds only in part"),
            **_f4_reference_values(reference, eta_small), **_f4_stability_values(switched, onsets),
            **_f4_mean_values(rows, switched), **_f4_trend_values(rows)}


def _f4_reference_values(reference: Mapping, eta_small: float) -> dict[str, str]:
    """The threshold's reference run: its S_max, where, η_c = 2/S_max, and η_small against it."""
    eta_c = significant_round(stability_threshold(reference), 2)
    values = np.asarray(reference["eigen"]["values"], float)[:, 0]
    return {"ref_smax": f"{values.max():.0f}", "ref_epoch": f"{int(reference['eigen']['epoch'][int(np.argmax(values))]):,}",
            "eta_c_frac": f"2/{values.max():.0f} = {eta_c:g}",
            "small_ratio": f"{eta_small / eta_c:.1f}", "small_side": "above" if eta_small > eta_c else "below"}


def _f4_stability_values(switched: Sequence[Mapping], onsets: Mapping[float, int | None]) -> dict[str, str]:
    """How many switched runs became unstable under η_small: at each η0's first switch, and later."""
    unstable = [r for r in switched if not r["stable"]]
    first_switch = {e: min(r["switch"] for r in switched if r["eta0"] == e) for e in {r["eta0"] for r in switched}}
    at_first = [r for r in switched if r["switch"] == first_switch[r["eta0"]]]
    groups = sorted({(r["eta0"], r["switch"]) for r in switched if r["switch"] != first_switch[r["eta0"]]})
    later = []
    for e, s in groups:
        mine = [r for r in switched if (r["eta0"], r["switch"]) == (e, s)]
        k = sum(not r["stable"] for r in mine)
        if k:
            gap = f" ({s - onsets[e]:,} epochs after it)" if onsets.get(e) is not None else ""
            later.append(f"{_of(k, len(mine))} switched at epoch {s:,} for \u03b7\u2080 = {e:g}{gap}")
    return {"n_unstable": str(len(unstable)), "n_switched": str(len(switched)),
            "unstable_first": str(sum(not r["stable"] for r in at_first)), "n_first": str(len(at_first)),
            "unstable_later": ", ".join(later) if later else "none of the runs switched later"}


def _f4_mean_values(rows: Sequence[Mapping], switched: Sequence[Mapping]) -> dict[str, str]:
    """The mean S_max of the stable seeds along the switch epochs (at the η0 with the most
    switches) and along η0 (at the switch epoch shared by the most η0)."""
    seeds = sorted({r["seed"] for r in rows})

    def mean(e, s):
        vals = [r["s_max"] for r in switched if (r["eta0"], r["switch"]) == (e, s) and r["stable"]]
        return (float(np.mean(vals)), len(vals)) if vals else None

    pairs = {(r["eta0"], r["switch"]): mean(r["eta0"], r["switch"]) for r in switched}
    pairs = {k: v for k, v in pairs.items() if v is not None}
    eta0s, switches = sorted({k[0] for k in pairs}), sorted({k[1] for k in pairs})
    f4_eta0 = max(eta0s, key=lambda e: (sum(k[0] == e for k in pairs), e), default=None)
    by_switch = sorted(s for (e, s) in pairs if e == f4_eta0)
    f4_at = max(switches, key=lambda s: (sum(k[1] == s for k in pairs), -s), default=None)
    by_eta0 = sorted(e for (e, s) in pairs if s == f4_at)

    def note(e, s, first):
        n = pairs[(e, s)][1]
        label = f"\u03b7\u2080 = {e:g}" if first else f"{e:g}"
        return f" ({label}, {n} of {len(seeds)} seeds stable)" if n < len(seeds) else f" ({label})"

    return {"f4_eta0": "none" if f4_eta0 is None else f"{f4_eta0:g}",  # none: no switched run stayed stable
            "f4_by_switch": _series([pairs[(f4_eta0, s)][0] for s in by_switch], ["" for _ in by_switch]),
            "f4_switches": "from epoch " + " to ".join(f"{s:,}" for s in by_switch) if by_switch else "none",
            "f4_at": "none" if f4_at is None else f"{f4_at:,}",
            "f4_by_eta0": _series([pairs[(e, f4_at)][0] for e in by_eta0],
                                  [note(e, f4_at, i == 0) for i, e in enumerate(by_eta0)])}


def _f4_trend_values(rows: Sequence[Mapping]) -> dict[str, str]:
    """Claims 3 and 4's mean Spearman correlations, the share of negative series, and the runs
    that completed before their sharpness peaked."""
    st3, st4 = trend_statistics(rows, "switch", "eta0"), trend_statistics(rows, "eta0", "switch")
    m3 = [v for v in st3["mean_rho"].values() if np.isfinite(v)]
    m4 = [v for v in st4["mean_rho"].values() if np.isfinite(v)]
    series = list(st3["series"].values()) + list(st4["series"].values())
    completed = [r for r in rows if not np.isfinite(r["s_max"])]
    done = sorted({(r["eta0"], r["switch"]) for r in completed})
    return {"c3_means": _of(sum(v < 0 for v in m3), len(m3)), "c3_rhos": ", ".join(_num(v, ".2f") for v in m3),
            "c4_means": _of(sum(v < 0 for v in m4), len(m4)), "c4_rhos": ", ".join(_num(v, ".2f") for v in m4),
            "series_neg": _of(sum(v < 0 for v in series), len(series)),
            "n_completed": str(len(completed)),
            "completed_list": "; ".join(
                f"\u03b7\u2080 = {e:g} switched at epoch {s:,}: "
                f"{_of(sum((r['eta0'], r['switch']) == (e, s) for r in completed), sum((r['eta0'], r['switch']) == (e, s) for r in rows))} seeds"
                for e, s in done) or "none"}

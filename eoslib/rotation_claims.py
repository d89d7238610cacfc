"""The claims of chapter 2 (eigenvector rotations, Section 3.2 and Appendix D), as statistics.

Each function checks one claim of the paper on the measurements of the chapter and returns a
small named tuple: the figures it measured and ``passed`` (whether they are within the bound).
:func:`seed_checks` runs all six on one seed's run; :func:`claims_table` turns the checks of
several seeds into the chapter's :class:`eoslib.report.ClaimsTable` (a claim PASSes when a strict
majority of seeds pass), and :func:`rule_grid` sets the verdicts under several spike-detection
rules side by side.
Thresholds are keyword parameters; their defaults are the bounds the chapter reports.

The inputs are those the chapter builds with :mod:`eoslib.instability`:

* ``sharpness`` (E,): ``S(theta)``, the top Hessian eigenvalue, at epochs ``0 .. E - 1``;
* ``snapshots``: the analysed :class:`~eoslib.instability.Instability` spikes (N of them);
* ``top``: per snapshot, the :class:`~eoslib.instability.SimilarityToBaseline` at comparison
  period ``T = 2`` from its start to ``after_epochs`` past its end (``epochs`` (J,),
  ``cosines`` (J, k) for the top-k eigenvectors, ``subspace`` (J,) for the top subspace);
* ``bottom``: per snapshot, a mapping ``reduction epoch r -> SimilarityToBaseline`` of the reruns
  whose learning rate is reduced at epoch ``r`` (``epochs`` start at ``r``, the baseline is still
  the snapshot's start); negative keys are the constant-learning-rate run and are skipped;
* ``by_period``: per snapshot, a mapping ``period T -> SimilarityToBaseline`` at period ``T``.

The claims (the paper's wording is in :func:`claims_table`):

1. :func:`edge_of_stability`: ``S`` rises to ``2/eta`` and then hovers at or above it.
2. :func:`rise_monotonicity`: while the loss rises to its peak, the similarities to the baseline
   fall monotonically (Section 3.2, Figure 2 top).
3. :func:`widespread_rotation`: all the top-k eigenvectors rotate, not a single one.
4. :func:`subspace_gap_after_resolution`: after the instability resolves, the top subspace
   stays more similar to the baseline than its individual eigenvectors.
5. :func:`reversal_after_reduction`: reducing the learning rate during an instability reverses
   the rotation at once (Figure 2 bottom).
6. :func:`period_smoothness`: rotations are smooth at even comparison periods only
   (Appendix D, Figure 8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy.stats import spearmanr

from eoslib.instability import Instability, SimilarityToBaseline, parity_dips, sign_change_fraction
from eoslib.report import Claim, ClaimsTable, SeedVote, VerdictGrid, seed_vote

__all__ = [
    "EdgeOfStability",
    "edge_of_stability",
    "RiseMonotonicity",
    "rise_monotonicity",
    "WidespreadRotation",
    "widespread_rotation",
    "SubspaceGap",
    "subspace_gap_after_resolution",
    "ReductionReversal",
    "reversal_after_reduction",
    "PeriodSmoothness",
    "period_smoothness",
    "SeedChecks",
    "seed_checks",
    "SEED_FIGURES",
    "seed_votes",
    "claim_texts",
    "claims_table",
    "rule_grid",
]


class EdgeOfStability(NamedTuple):
    """Claim (1). ``reached``: first epoch with ``S >= 2/eta`` (None if never); ``num_epochs``:
    ``E - 1``; ``fraction_at_edge``: fraction of epochs from ``reached`` on with
    ``S >= level * 2/eta``; ``median_ratio``: median of ``S / (2/eta)`` over those epochs."""

    reached: int | None
    num_epochs: int
    fraction_at_edge: float
    median_ratio: float
    passed: bool


def edge_of_stability(sharpness: np.ndarray, eta: float, *, level: float = 0.9, min_fraction: float = 0.9,
                      median_range: tuple[float, float] = (1.0, 1.6)) -> EdgeOfStability:
    """Claim (1): ``S(theta)`` rises to ``2/eta`` and then hovers at or above it (edge of stability).

    ``sharpness`` (E,): ``S`` at epochs ``0 .. E - 1``. Passes when ``S`` first reaches ``2/eta``
    in the first half of the run, afterwards ``S >= level * 2/eta`` in at least ``min_fraction``
    of the epochs, and the median of ``S / (2/eta)`` after the crossing lies in ``median_range``.
    """
    sharpness = np.asarray(sharpness)
    num_epochs = len(sharpness) - 1
    crossed = sharpness >= 2.0 / eta
    if not np.any(crossed):
        return EdgeOfStability(None, num_epochs, float("nan"), float("nan"), False)
    reached = int(np.argmax(crossed))
    after = sharpness[reached:] * eta / 2.0  # S / (2/eta) from the first crossing on
    fraction = float(np.mean(after >= level))
    median = float(np.median(after))
    lo, hi = median_range
    passed = reached < len(sharpness) / 2 and fraction >= min_fraction and lo <= median <= hi
    return EdgeOfStability(reached, num_epochs, fraction, median, bool(passed))


def _rise(sim: SimilarityToBaseline, snap: Instability) -> np.ndarray:
    """Mask (J,) of the comparison epochs up to the loss peak."""
    return sim.epochs <= snap.peak


class RiseMonotonicity(NamedTuple):
    """Claim (2), per snapshot: Spearman correlation of the epoch with the subspace similarity
    (``rho_subspace``) and with the mean of the top-k cosines (``rho_mean``) over the rise (NaN
    below ``min_points`` points), and the number of comparison epochs in the rise (``points``)."""

    rho_subspace: tuple[float, ...]
    rho_mean: tuple[float, ...]
    points: tuple[int, ...]
    passed: bool


def rise_monotonicity(top: Sequence[SimilarityToBaseline], snapshots: Sequence[Instability], *,
                      max_rho: float = -0.8, min_points: int = 3) -> RiseMonotonicity:
    """Claim (2): while ``L`` rises to its peak, the similarities to the baseline fall monotonically.

    For each snapshot, the comparison epochs ``<= peak`` of ``top[i]`` (the rise, baseline
    included) are ranked against the top-subspace similarity and against the mean over the k
    eigenvectors of ``cosines`` (J, k). A monotone fall gives Spearman -1. Passes when every
    subspace correlation is finite (at least ``min_points`` points) and every correlation, of
    both series, is ``<= max_rho``.
    """
    rho_sub, rho_mean, points = [], [], []
    for sim, snap in zip(top, snapshots):
        keep = _rise(sim, snap)
        epochs, sub, mean_cos = sim.epochs[keep], sim.subspace[keep], sim.cosines[keep].mean(axis=1)
        enough = epochs.size >= min_points
        rho_sub.append(float(spearmanr(epochs, sub).statistic) if enough else np.nan)
        rho_mean.append(float(spearmanr(epochs, mean_cos).statistic) if enough else np.nan)
        points.append(int(np.sum(keep)))
    passed = (bool(rho_sub) and all(np.isfinite(rho_sub))
              and max(rho_sub) <= max_rho and max(rho_mean) <= max_rho)
    return RiseMonotonicity(tuple(rho_sub), tuple(rho_mean), tuple(points), bool(passed))


class WidespreadRotation(NamedTuple):
    """Claim (3), per snapshot: the fraction of the top-k eigenvectors whose cosine to the baseline
    falls below ``level`` at some comparison epoch up to the resolution."""

    lost_fraction: tuple[float, ...]
    passed: bool


def widespread_rotation(top: Sequence[SimilarityToBaseline], snapshots: Sequence[Instability], *,
                        level: float = 0.9, min_fraction: float = 0.75) -> WidespreadRotation:
    """Claim (3): all the top-k eigenvectors lose similarity during an instability, not a single one.

    For each snapshot, the minimum over the comparison epochs ``<= end`` of ``top[i].cosines``
    (J, k) is taken per eigenvector; the measured figure is the fraction of the k minima below
    ``level``. Passes when that fraction is ``>= min_fraction`` in every snapshot.
    """
    lost = [float(np.mean(sim.cosines[sim.epochs <= snap.end].min(axis=0) < level))
            for sim, snap in zip(top, snapshots)]
    return WidespreadRotation(tuple(lost), bool(lost) and min(lost) >= min_fraction)


class SubspaceGap(NamedTuple):
    """Claim (4), per snapshot: median over the comparison epochs ``>= end`` of the top-subspace
    similarity minus the mean cosine of the top-``subspace_k`` eigenvectors."""

    gap: tuple[float, ...]
    passed: bool


def subspace_gap_after_resolution(top: Sequence[SimilarityToBaseline], snapshots: Sequence[Instability],
                                  subspace_k: int, *, min_gap: float = 0.0) -> SubspaceGap:
    """Claim (4): after resolution the top subspace similarity stays above the individual ones.

    The paper (Section 3.2) finds the top-3 subspace returning towards the baseline while its
    individual eigenvectors keep rotating within it. For each snapshot, over the comparison
    epochs ``>= end``: ``subspace`` (J,) minus the mean of ``cosines[:, :subspace_k]``, and the
    median of that over the epochs. Passes when the median gap is ``> min_gap`` in every snapshot.
    (Ye & Lim's similarity is a product of principal-angle cosines, so a single large principal
    angle pulls it below the mean of the individual cosines.)
    """
    gaps = []
    for sim, snap in zip(top, snapshots):
        post = sim.epochs >= snap.end
        gaps.append(float(np.median(sim.subspace[post] - sim.cosines[post, :subspace_k].mean(axis=1))))
    return SubspaceGap(tuple(gaps), bool(gaps) and all(g > min_gap for g in gaps))


class ReductionReversal(NamedTuple):
    """Claim (5), per reduced rerun (snapshots in order, reduction epochs in each mapping's order):
    change of the top-subspace similarity from the reduction epoch to the next comparison epoch
    (``immediate``) and to the last one (``overall``)."""

    immediate: tuple[float, ...]
    overall: tuple[float, ...]
    passed: bool


def reversal_after_reduction(bottom: Sequence[Mapping[int, SimilarityToBaseline]], *, rise: float = 0.02,
                             min_fraction: float = 0.8) -> ReductionReversal:
    """Claim (5): after the learning rate is reduced during an instability, the rotation reverses at once.

    ``bottom[i][r]``: similarity to the start of snapshot ``i`` of the rerun whose learning rate
    is reduced at epoch ``r``, at comparison epochs ``r, r + T, ...`` (``subspace`` (J,), J >= 2);
    negative keys (the run at constant learning rate) are skipped. Passes when at least one
    rerun exists and the similarity rises by more than ``rise`` over the first period in at
    least ``min_fraction`` of them. The default ``rise = 0.02`` is above the eigenvector error
    at the chapter's residual tolerance (``|angle| <~ tol * lambda_max / gap``).
    """
    immediate, overall = [], []
    for reductions in bottom:
        for r, red in reductions.items():
            if r >= 0:
                immediate.append(float(red.subspace[1] - red.subspace[0]))  # first comparison after the reduction
                overall.append(float(red.subspace[-1] - red.subspace[0]))
    passed = bool(immediate) and float(np.mean(np.array(immediate) > rise)) >= min_fraction
    return ReductionReversal(tuple(immediate), tuple(overall), bool(passed))


class PeriodSmoothness(NamedTuple):
    """Claim (6). ``roughness``: per comparison period ``T``, the mean over snapshots of the
    fraction of direction changes of the subspace similarity
    (:func:`eoslib.instability.sign_change_fraction`); ``dips`` (D,): the parity dips
    (:func:`eoslib.instability.parity_dips`) of the period-1 subspace similarity from each
    snapshot's start to its resolution, concatenated over snapshots (empty without ``T = 1``);
    ``mean_dip`` and ``dip_fraction``: their mean and the fraction that are positive (NaN if
    there are none)."""

    roughness: dict[int, float]
    dips: np.ndarray
    mean_dip: float
    dip_fraction: float
    passed: bool


def period_smoothness(by_period: Sequence[Mapping[int, SimilarityToBaseline]], snapshots: Sequence[Instability],
                      *, min_dip: float = 0.05, min_dip_fraction: float = 0.75) -> PeriodSmoothness:
    """Claim (6): rotations are smooth at even comparison periods, not at odd ones (Appendix D).

    At the edge of stability the parameters cross the valley every step, so epochs an odd number
    of steps from the baseline see the landscape from the other side. ``by_period[i][T]``:
    similarity to the start of snapshot ``i`` at period ``T`` (the periods are those of
    ``by_period[0]``, in its order). Passes when ``T = 2`` changes direction less often than
    every odd period and, at ``T = 1`` during the instabilities, the mean parity dip is
    ``> min_dip`` with at least ``min_dip_fraction`` of the odd offsets dipping.
    """
    periods = list(by_period[0]) if by_period else []
    roughness = {T: float(np.mean([sign_change_fraction(bp[T].subspace) for bp in by_period])) for T in periods}
    parts = ([parity_dips(bp[1].subspace[bp[1].epochs <= snap.end]) for bp, snap in zip(by_period, snapshots)]
             if 1 in roughness else [])
    dips = np.concatenate(parts) if parts else np.array([])
    mean_dip = float(dips.mean()) if dips.size else float("nan")
    dip_fraction = float(np.mean(dips > 0)) if dips.size else float("nan")
    odd = [v for T, v in roughness.items() if T % 2 == 1]
    passed = (2 in roughness and bool(odd) and roughness[2] < min(odd)
              and dips.size > 0 and mean_dip > min_dip and dip_fraction >= min_dip_fraction)
    return PeriodSmoothness(roughness, dips, mean_dip, dip_fraction, bool(passed))


class SeedChecks(NamedTuple):
    """The six checks on one seed's run (claims (1)-(6) of the module docstring)."""

    seed: int
    eos: EdgeOfStability
    mono: RiseMonotonicity
    wide: WidespreadRotation
    gap: SubspaceGap
    rev: ReductionReversal
    smooth: PeriodSmoothness

    @property
    def results(self) -> tuple:
        return self.eos, self.mono, self.wide, self.gap, self.rev, self.smooth


def seed_checks(seed: int, sharpness: np.ndarray, eta: float, snapshots: Sequence[Instability],
                top: Sequence[SimilarityToBaseline], bottom: Sequence[Mapping[int, SimilarityToBaseline]],
                by_period: Sequence[Mapping[int, SimilarityToBaseline]], *, subspace_k: int) -> SeedChecks:
    """Claims (1)-(6) at their default bounds on one seed's measurements (module docstring)."""
    return SeedChecks(seed, edge_of_stability(sharpness, eta), rise_monotonicity(top, snapshots),
                      widespread_rotation(top, snapshots), subspace_gap_after_resolution(top, snapshots, subspace_k),
                      reversal_after_reduction(bottom), period_smoothness(by_period, snapshots))


def _worst(values: Sequence[float], pick) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(pick(finite)) if finite else float("nan")


# The figure summarizing each check on one seed (the claims table gives its median and range over seeds).
SEED_FIGURES = (
    ("fraction of epochs at >= 0.9 (2/eta) after the crossing", ".0%", lambda c: c.fraction_at_edge),
    ("largest Spearman over instabilities and both series", ".2f",  # none if a rise is too short to rank
     lambda c: max(c.rho_subspace + c.rho_mean) if c.rho_subspace and np.all(np.isfinite(c.rho_subspace))
     else float("nan")),
    ("smallest fraction over instabilities", ".0%", lambda c: _worst(c.lost_fraction, min)),
    ("smallest median gap over instabilities", "+.2f", lambda c: _worst(c.gap, min)),
    ("fraction of reduced reruns rising", ".0%",
     lambda c: float(np.mean(np.array(c.immediate) > reversal_after_reduction.__kwdefaults__["rise"]))
     if c.immediate else float("nan")),
    ("mean dip at T=1", ".2f", lambda c: c.mean_dip),
)


def seed_votes(checks: Sequence[SeedChecks]) -> list[SeedVote]:
    """Per claim, the :class:`~eoslib.report.SeedVote` of ``checks`` (one per seed)."""
    seeds = [c.seed for c in checks]
    return [seed_vote(seeds, [figure(c.results[i]) for c in checks], [c.results[i].passed for c in checks])
            for i, (_, _, figure) in enumerate(SEED_FIGURES)]


def claim_texts(num_eigs: int, reduction_factor: float) -> list[str]:
    """The paper's six claims, worded for the chapter's ``num_eigs`` and ``reduction_factor``."""
    return [
        "(1) S(theta) rises to 2/eta and then hovers at or above it (edge of stability)",
        "(2) While L rises to its peak, eigenvector similarities to the baseline fall monotonically (T = 2)",
        f"(3) All top-{num_eigs} eigenvectors lose similarity, not a single one",
        "(4) After resolution the top-3 subspace similarity stays above the individual eigenvector similarities",
        f"(5) After reducing eta to {reduction_factor:g} eta the rotations reverse at once (similarity to "
        "the baseline rises)",
        "(6) Rotations are smooth at even comparison periods, not at odd ones (Appendix D)",
    ]


def _floats(values: Sequence[float], spec: str) -> str:
    return ", ".join(f"{v:{spec}}" for v in values)


def claims_table(checks: Sequence[SeedChecks], *, num_eigs: int, subspace_k: int, period: int,
                 reduction_factor: float) -> ClaimsTable:
    """Chapter 2's claims table over seeds: claims (1)-(6) at their default bounds on each seed
    (:func:`seed_checks`, ``checks[0]`` the seed shown in the figures); a row is PASS when a
    strict majority of the seeds pass (:func:`eoslib.report.majority`). ``measured`` gives the
    count, the passing seeds, the median and range of the per-seed figure (:data:`SEED_FIGURES`)
    and, for the shown seed, the detailed figures. ``num_eigs``: tracked eigenvectors;
    ``subspace_k``: size of the top subspace; ``period``: the comparison period of ``top`` and
    ``bottom``; ``reduction_factor``: the reruns' learning rate as a fraction of ``eta``.
    """
    votes = seed_votes(checks)
    shown = checks[0]
    eos, mono, wide, gap, rev, smooth = shown.results
    # the bounds printed are the checks' defaults, read from their signatures (one source of truth)
    b1, b2, b3 = (edge_of_stability.__kwdefaults__, rise_monotonicity.__kwdefaults__,
                  widespread_rotation.__kwdefaults__)
    b4, b5, b6 = (subspace_gap_after_resolution.__kwdefaults__, reversal_after_reduction.__kwdefaults__,
                  period_smoothness.__kwdefaults__)
    lo, hi = b1["median_range"]
    detail = [
        f"S reaches 2/eta at epoch {eos.reached} of {eos.num_epochs}; afterwards S >= {b1['level']:g} "
        f"(2/eta) in {eos.fraction_at_edge:.1%} of epochs, median S/(2/eta) = {eos.median_ratio:.2f}",
        f"Spearman(similarity, epoch) over the rise, per instability: top-{subspace_k} subspace "
        f"{_floats(mono.rho_subspace, '.2f')}; mean of the top-{num_eigs} "
        f"{_floats(mono.rho_mean, '.2f')} ({', '.join(map(str, mono.points))} points)",
        f"fraction of the top-{num_eigs} whose similarity drops below {b3['level']:g} during the "
        f"instability: {_floats(wide.lost_fraction, '.0%')}",
        f"median over epochs after resolution of (subspace - mean of the top-{subspace_k} individual): "
        f"{_floats(gap.gap, '+.2f')}",
        f"{len(rev.immediate)} reduced reruns: change of the top-{subspace_k} subspace similarity over the first "
        f"{period} epochs after the reduction {_floats(rev.immediate, '+.2f')}; to the end of the window "
        f"{_floats(rev.overall, '+.2f')}",
        "fraction of direction changes of the subspace similarity (mean over instabilities): "
        + ", ".join(f"T={T}: {v:.2f}" for T, v in smooth.roughness.items())
        + f"; at T=1 during the instabilities, odd-offset epochs dip below their even neighbours by "
        f"{smooth.mean_dip:.2f} on average ({smooth.dip_fraction:.0%} of them dip)",
    ]
    bounds = [
        f"reached in the first half; >= {b1['min_fraction']:.0%} of epochs at >= {b1['level']:g} (2/eta); "
        f"median in [{lo:g}, {hi:g}]",
        f"every Spearman <= {b2['max_rho']:g} (>= {b2['min_points']} points)",
        f">= {b3['min_fraction']:.0%} in every instability",
        f"> {b4['min_gap']:g} in every instability",
        f">= {b5['min_fraction']:.0%} of reruns rise by more than {b5['rise']} over the first period",
        f"T=2 changes direction less often than every odd T; mean dip > {b6['min_dip']:g} with >= "
        f"{b6['min_dip_fraction']:.0%} of odd offsets dipping (T=4 is shown, not bounded: it has few points "
        "per window)",
    ]
    majority_text = f"; PASS when at least {votes[0].required} of {len(checks)} seeds pass (a strict majority)"
    return ClaimsTable([
        Claim(claim, f"{vote.describe(name, spec)}. Seed {shown.seed} (the figures): {text}",
              f"per seed: {bound}{majority_text}", vote.passed)
        for claim, vote, (name, spec, _), text, bound in zip(claim_texts(num_eigs, reduction_factor), votes,
                                                             SEED_FIGURES, detail, bounds)])


def rule_grid(checks_by_rule: Mapping[str, Sequence[SeedChecks]], *, num_eigs: int,
              reduction_factor: float) -> VerdictGrid:
    """Each claim's verdict over seeds under each detection rule (columns, e.g.
    :func:`eoslib.rotations.rules`), and whether it flips between rules."""
    claims = [c.split(")")[0] + ")" for c in claim_texts(num_eigs, reduction_factor)]
    return VerdictGrid(claims, {name: seed_votes(checks) for name, checks in checks_by_rule.items()})


def _span(values: Sequence[float], spec: str) -> str:
    """``"lo–hi"`` of the finite ``values`` (``"lo to hi"`` when one is negative, one value when
    both read alike, ``"none"`` without any), minus signs typeset (U+2212)."""
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return "none"
    lo, hi = (f"{v:{spec}}".replace("-", "\u2212") for v in (min(finite), max(finite)))
    return lo if lo == hi else f"{lo} to {hi}" if min(finite) < 0 else f"{lo}\u2013{hi}"


def prose_values(results: Sequence[Any], checks_by_rule: Mapping[str, Sequence[SeedChecks]],
                 *, period: int = 2, periods: Sequence[int] = (1, 2, 3, 4)) -> dict[str, str]:
    """The measured values chapter 2's discussion quotes, as text to glue into it (``{glue:md}``):
    ``results`` the seeds' :class:`eoslib.rotations.SeedResult` (the first is shown in the
    figures), ``checks_by_rule`` their :class:`SeedChecks` per detection rule, the chapter's
    rule first (as for :func:`rule_grid`). Keys ``s0_*`` describe the shown seed, ``all_*`` the
    seeds, ``grid_*`` the verdicts per rule."""
    rules = list(checks_by_rule)
    shown, checks = results[0], checks_by_rule[rules[0]]
    a, c0 = shown.analyses[0], checks[0]
    ends = [s.end for s in a.snapshots]
    last_after = [float(b[r].subspace[-1]) for b in a.bottom[2:3] for r in b if r != -1]
    returns = [float(np.max(b[r].subspace[1:])) for b in a.bottom[:2] for r in b if r != -1]
    votes = seed_votes(checks)
    missing = [s for s, f in zip(votes[1].seeds, votes[1].figures) if not np.isfinite(f)]
    grid = {name: seed_votes(ch) for name, ch in checks_by_rule.items()}
    flips = [i + 1 for i in range(len(votes)) if len({g[i].passed for g in grid.values()}) > 1]
    out = {
        "s0_reached": str(c0.eos.reached), "s0_median_ratio": f"{c0.eos.median_ratio:.2f}",
        "s0_rises": _span([s.peak - s.start for s in a.snapshots], "d"),
        "s0_points": _span(c0.mono.points, "d"),
        "s0_min_subspace": _span([float(np.min(t.subspace[t.epochs <= e])) for t, e in zip(a.top, ends)], ".1f"),
        "s0_gaps": ", ".join(f"{g:+.2f}".replace("-", "\u2212") for g in c0.gap.gap),
        "s0_returns": _span(returns, ".2f"), "s0_third_after": _span(last_after, ".2f"),
        "s0_t4_points": _span([len(b[4].epochs) for b in a.by_period if 4 in b], "d") if 4 in periods else "none",
        "all_reached": _span([c.eos.reached for c in checks if c.eos.reached is not None], "d"),
        "all_unranked": ", ".join(f"seed {s}" for s in missing) or "no seed",
        "all_lost_min": f"{min(v for c in checks for v in c.wide.lost_fraction):.0%}".replace("%", " %"),
        "all_gap_span": _span(votes[3].figures, "+.2f"),
        "all_gap_median": f"{np.nanmedian(votes[3].figures):+.2f}".replace("-", "\u2212"),
        "all_rev_span": _span([100 * f for f in votes[4].figures], ".0f"),
        "all_rev_median": f"{100 * np.nanmedian(votes[4].figures):.0f}",
        "grid_flips": ("no verdict flips" if not flips else
                       "the verdict of claim " + ", ".join(map(str, flips)) + " flips"),
    }
    out.update({f"c{i + 1}": v.count().replace(" seeds", "") for i, v in enumerate(votes)})
    out.update({f"grid_c{i + 1}_{j}": g[i].count().replace(" seeds", "") for j, g in enumerate(grid.values())
                for i in range(len(votes))})
    return out

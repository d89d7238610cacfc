"""The claims of chapter 2 (eigenvector rotations, Section 3.2 and Appendix D), as statistics.

Each function checks one claim of the paper (its docstring quotes the paper's sentence) on the
measurements of the chapter and returns a small named tuple: the figures it measured, ``passed``
(they are within the bound) and ``unresolved`` (the statistic is undefined or underpowered, e.g.
no instability to measure or a rise too short to rank: the seed neither passes nor fails; an
unmeasurable statistic is never a FAIL). :func:`seed_checks` runs all six on one seed's run;
:func:`claims_table` turns the checks of several seeds into the chapter's
:class:`eoslib.report.ClaimsTable` (a claim PASSes when a strict majority of seeds pass, FAILs
when no majority could pass even if every unresolved seed passed, and is UNRESOLVED otherwise),
and :func:`rule_grid` sets the verdicts under several spike-detection rules side by side.
Thresholds are keyword parameters; their defaults are the bounds the chapter reports.

The inputs are those the chapter builds with :mod:`eoslib.instability`:

* ``sharpness`` (E,): ``S(theta)``, the top Hessian eigenvalue, at epochs ``0 .. E - 1``;
* ``snapshots``: the analysed :class:`~eoslib.instability.Instability` spikes (N of them; the
  chapter takes them from the edge-of-stability phase, :func:`eoslib.chapters.rotations.experiment.find_snapshots`);
* ``top``: per snapshot, the :class:`~eoslib.instability.SimilarityToBaseline` at comparison
  period ``T = 2`` from its start to ``after_epochs`` past its end (``epochs`` (J,),
  ``cosines`` (J, k) index-wise and ``matched`` (J, k) after matching for the top-k
  eigenvectors, ``subspace`` (J,) for the top subspace);
* ``bottom``: per snapshot, a mapping ``reduction epoch r -> SimilarityToBaseline`` of the reruns
  whose learning rate is reduced at epoch ``r`` (``epochs`` start at ``r``, the baseline is still
  the snapshot's start); negative keys are the constant-learning-rate run and are skipped;
* ``by_period``: per snapshot, a mapping ``period T -> SimilarityToBaseline`` at period ``T``.

The claims (each check's docstring quotes the paper's sentence; :data:`CLAIMS` holds, per claim, its
check, its wording, its per-seed figure and its bound for the table):

1. :func:`edge_of_stability`: ``S`` rises to ``2/eta`` and then hovers at or above it.
2. :func:`rise_monotonicity`: while the loss rises to its peak, the similarities to the baseline
   fall monotonically (Section 3.2, Figure 2 top).
3. :func:`widespread_rotation`: all the top-k eigenvectors rotate, not a single one (each
   eigenvector compared with its matched counterpart, so a reordering is not a rotation).
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
    "ClaimSpec",
    "CLAIMS",
    "seed_votes",
    "claim_texts",
    "claims_table",
    "rule_grid",
]


def _outcome(fails: bool, passes: bool) -> tuple[bool, bool]:
    """``(passed, unresolved)`` of a check that FAILs when ``fails`` (decided whatever could not
    be measured), PASSes when ``passes`` (every part measured and within its bound) and is
    UNRESOLVED otherwise (an undefined or underpowered statistic is never a FAIL)."""
    return bool(passes and not fails), bool(not passes and not fails)


class EdgeOfStability(NamedTuple):
    """Claim (1). ``reached``: first epoch with ``S >= 2/eta`` (None if never); ``num_epochs``:
    ``E - 1``; ``fraction_at_edge``: fraction of epochs from ``reached`` on with
    ``S >= level * 2/eta``; ``median_ratio``: median of ``S / (2/eta)`` over those epochs;
    ``passed``, ``unresolved``: the seed's outcome (:func:`_outcome`)."""

    reached: int | None
    num_epochs: int
    fraction_at_edge: float
    median_ratio: float
    passed: bool
    unresolved: bool


def edge_of_stability(sharpness: np.ndarray, eta: float, *, level: float = 0.9, min_fraction: float = 0.9,
                      median_range: tuple[float, float] = (1.0, 1.6)) -> EdgeOfStability:
    """Claim (1): ``S(theta)`` rises to ``2/eta`` and then hovers at or above it (edge of stability).

    Paper, Section 2.1 (after Cohen et al.): "Once sharpness reaches the stability limit, it sits
    at, or just above, the stability threshold."

    ``sharpness`` (E,): ``S`` at epochs ``0 .. E - 1``. PASS when ``S`` first reaches ``2/eta``
    in the first half of the run, afterwards ``S >= level * 2/eta`` in at least ``min_fraction``
    of the epochs, and the median of ``S / (2/eta)`` after the crossing lies in ``median_range``;
    FAIL otherwise (also when ``S`` never reaches ``2/eta``); UNRESOLVED when ``sharpness`` has
    no finite value (a diverged run: nothing was measured).
    """
    sharpness = np.asarray(sharpness, dtype=float)
    num_epochs = len(sharpness) - 1
    crossed = sharpness >= 2.0 / eta
    if not np.any(crossed):
        measured = bool(np.any(np.isfinite(sharpness)))
        return EdgeOfStability(None, num_epochs, float("nan"), float("nan"), False, not measured)
    reached = int(np.argmax(crossed))
    after = sharpness[reached:] * eta / 2.0  # S / (2/eta) from the first crossing on
    fraction = float(np.mean(after >= level))
    median = float(np.median(after))
    lo, hi = median_range
    passed = reached < len(sharpness) / 2 and fraction >= min_fraction and lo <= median <= hi
    return EdgeOfStability(reached, num_epochs, fraction, median, bool(passed), False)


def _rise(sim: SimilarityToBaseline, snap: Instability) -> np.ndarray:
    """Mask (J,) of the comparison epochs up to the loss peak."""
    return sim.epochs <= snap.peak


def _spearman(x: np.ndarray, y: np.ndarray, min_points: int) -> float:
    """Spearman correlation of ``x`` and ``y``; NaN below ``min_points`` points or for a constant series."""
    if x.size < min_points or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)


class RiseMonotonicity(NamedTuple):
    """Claim (2), per snapshot: Spearman correlation of the epoch with the subspace similarity
    (``rho_subspace``) and with the mean of the top-k cosines (``rho_mean``) over the rise (NaN
    below ``min_points`` points or for a constant series), and the number of comparison epochs
    in the rise (``points``)."""

    rho_subspace: tuple[float, ...]
    rho_mean: tuple[float, ...]
    points: tuple[int, ...]
    passed: bool
    unresolved: bool


def rise_monotonicity(top: Sequence[SimilarityToBaseline], snapshots: Sequence[Instability], *,
                      max_rho: float = -0.8, min_points: int = 3) -> RiseMonotonicity:
    """Claim (2): while ``L`` rises to its peak, the similarities to the baseline fall monotonically.

    Paper, Section 3.2 (Figure 2, top): "Focusing on the top panel, we observe gradual and
    monotonic rotations as L(θ) approaches its peak values as predicted by theory."

    For each snapshot, the comparison epochs ``<= peak`` of ``top[i]`` (the rise, baseline
    included) are ranked against the top-subspace similarity and against the mean over the k
    eigenvectors of ``cosines`` (J, k). A monotone fall gives Spearman -1. FAIL when any
    correlation, of either series, is ``> max_rho``; otherwise PASS when there are snapshots
    and every correlation is defined; UNRESOLVED when there is no snapshot or a rise has fewer
    than ``min_points`` points (too short to rank).
    """
    rho_sub, rho_mean, points = [], [], []
    for sim, snap in zip(top, snapshots):
        keep = _rise(sim, snap)
        epochs = sim.epochs[keep]
        rho_sub.append(_spearman(epochs, sim.subspace[keep], min_points))
        rho_mean.append(_spearman(epochs, sim.cosines[keep].mean(axis=1), min_points))
        points.append(int(np.sum(keep)))
    rhos = np.array(rho_sub + rho_mean, dtype=float)
    fails = bool(np.any(rhos[np.isfinite(rhos)] > max_rho))
    passed, unresolved = _outcome(fails, rhos.size > 0 and bool(np.all(np.isfinite(rhos))))
    return RiseMonotonicity(tuple(rho_sub), tuple(rho_mean), tuple(points), passed, unresolved)


class WidespreadRotation(NamedTuple):
    """Claim (3), per snapshot: the fraction of the top-k eigenvectors whose similarity to the
    baseline falls below ``level`` at some comparison epoch up to the resolution, each
    eigenvector matched to its counterpart (``lost_fraction``, the verdict's) and index-wise
    (``lost_fraction_indexwise``); ``indexwise_passed``: the verdict the index-wise fractions
    would give."""

    lost_fraction: tuple[float, ...]
    lost_fraction_indexwise: tuple[float, ...]
    indexwise_passed: bool
    passed: bool
    unresolved: bool


def _lost(series: np.ndarray, epochs: np.ndarray, end: int, level: float) -> float:
    """Fraction of the columns of ``series`` (J, k) whose minimum over ``epochs <= end`` is below ``level``."""
    return float(np.mean(series[epochs <= end].min(axis=0) < level))


def widespread_rotation(top: Sequence[SimilarityToBaseline], snapshots: Sequence[Instability], *,
                        level: float = 0.9, min_fraction: float = 0.75) -> WidespreadRotation:
    """Claim (3): all the top-k eigenvectors lose similarity during an instability, not a single one.

    Paper, Section 3.2 (Figure 2, top): "Notably, these rotations do not involve sudden changes
    in any single eigenvector but reflect a general decrease in similarity across all
    eigenvectors, conforming to our expectations."

    The similarity of each baseline eigenvector is its ``|cos|`` to its counterpart at the
    comparison epoch under the optimal one-to-one matching of the two top-k sets
    (``top[i].matched`` (J, k), :func:`eoslib.similarity.matched_cosines`), so two eigenvalues
    that swap order count as no rotation; the index-wise cosines (``cosines``, the k-th
    eigenvector with the k-th) are computed alongside. For each snapshot, the minimum over the
    comparison epochs ``<= end`` is taken per eigenvector; the figure is the fraction of the k
    minima below ``level``. PASS when that fraction (matched) is ``>= min_fraction`` in every
    snapshot, FAIL when it is not; UNRESOLVED without snapshots.
    """
    pairs = list(zip(top, snapshots))
    matched = [_lost(sim.matched, sim.epochs, snap.end, level) for sim, snap in pairs]
    indexwise = [_lost(sim.cosines, sim.epochs, snap.end, level) for sim, snap in pairs]
    passed, unresolved = _outcome(bool(matched) and min(matched) < min_fraction, bool(matched))
    return WidespreadRotation(tuple(matched), tuple(indexwise), bool(indexwise) and min(indexwise) >= min_fraction,
                              passed, unresolved)


class SubspaceGap(NamedTuple):
    """Claim (4), per snapshot: median over the comparison epochs ``>= end`` of the top-subspace
    similarity minus the mean cosine of the top-``subspace_k`` eigenvectors (NaN: no such epoch)."""

    gap: tuple[float, ...]
    passed: bool
    unresolved: bool


def subspace_gap_after_resolution(top: Sequence[SimilarityToBaseline], snapshots: Sequence[Instability],
                                  subspace_k: int, *, min_gap: float = 0.0) -> SubspaceGap:
    """Claim (4): after resolution the top subspace similarity stays above the individual ones.

    Paper, Section 3.2 (Figure 2, top): "Interestingly, even after the instability is resolved,
    the similarity among individual eigenvectors fall while the overall subspace similarity
    remains high."

    For each snapshot, over the comparison epochs ``>= end``: ``subspace`` (J,) minus the mean
    of ``cosines[:, :subspace_k]``, and the median of that over the epochs. FAIL when a median
    gap is ``<= min_gap``; otherwise PASS when every snapshot has one; UNRESOLVED without
    snapshots or when a snapshot has no comparison epoch after its end. (Ye & Lim's similarity
    is a product of principal-angle cosines, so a single large principal angle pulls it below
    the mean of the individual cosines.)
    """
    gaps = []
    for sim, snap in zip(top, snapshots):
        post = sim.epochs >= snap.end
        diff = sim.subspace[post] - sim.cosines[post, :subspace_k].mean(axis=1)
        gaps.append(float(np.median(diff)) if diff.size else float("nan"))
    finite = [g for g in gaps if np.isfinite(g)]
    passed, unresolved = _outcome(any(g <= min_gap for g in finite), bool(gaps) and len(finite) == len(gaps))
    return SubspaceGap(tuple(gaps), passed, unresolved)


class ReductionReversal(NamedTuple):
    """Claim (5), per reduced rerun (snapshots in order, reduction epochs in each mapping's order):
    change of the top-subspace similarity from the reduction epoch to the next comparison epoch
    (``immediate``) and to the last one (``overall``)."""

    immediate: tuple[float, ...]
    overall: tuple[float, ...]
    passed: bool
    unresolved: bool


def reversal_after_reduction(bottom: Sequence[Mapping[int, SimilarityToBaseline]], *, rise: float = 0.02,
                             min_fraction: float = 0.8, min_reruns: int = 3) -> ReductionReversal:
    """Claim (5): after the learning rate is reduced during an instability, the rotation reverses at once.

    Paper, Section 3.2 (Figure 2, bottom): "Since these models have undergone some instability,
    the eigenvectors have rotated away from their stable orientations (akin to the θ1 direction
    in the 2-parameter DLN), but these rotations are immediately reversed once η-reduction
    takes place."

    ``bottom[i][r]``: similarity to the start of snapshot ``i`` of the rerun whose learning rate
    is reduced at epoch ``r``, at comparison epochs ``r, r + T, ...`` (``subspace`` (J,));
    negative keys (the run at constant learning rate) and reruns with fewer than 2 comparison
    epochs are skipped. PASS when the similarity rises by more than ``rise`` over the first
    period in at least ``min_fraction`` of the reruns, FAIL when not; UNRESOLVED with fewer
    than ``min_reruns`` reruns. The default ``rise = 0.02`` is above the eigenvector error at
    the chapter's residual tolerance (``|angle| <~ tol * lambda_max / gap``).
    """
    immediate, overall = [], []
    for reductions in bottom:
        for r, red in reductions.items():
            if r >= 0 and len(red.subspace) >= 2:
                immediate.append(float(red.subspace[1] - red.subspace[0]))  # first comparison after the reduction
                overall.append(float(red.subspace[-1] - red.subspace[0]))
    enough = len(immediate) >= min_reruns
    rising = float(np.mean(np.array(immediate) > rise)) if immediate else float("nan")
    passed, unresolved = _outcome(enough and rising < min_fraction, enough and rising >= min_fraction)
    return ReductionReversal(tuple(immediate), tuple(overall), passed, unresolved)


class PeriodSmoothness(NamedTuple):
    """Claim (6). ``roughness``: per comparison period ``T``, the mean over snapshots of the
    fraction of direction changes of the subspace similarity
    (:func:`eoslib.instability.sign_change_fraction`) over the series with at least
    ``min_points`` points (NaN: none); ``dips`` (D,): the parity dips
    (:func:`eoslib.instability.parity_dips`) of the period-1 subspace similarity from each
    snapshot's start to its resolution, concatenated over snapshots (empty without ``T = 1``);
    ``mean_dip`` and ``dip_fraction``: their mean and the fraction that are positive (NaN if
    there are none)."""

    roughness: dict[int, float]
    dips: np.ndarray
    mean_dip: float
    dip_fraction: float
    passed: bool
    unresolved: bool


def _roughness(series: Sequence[SimilarityToBaseline], min_points: int) -> float:
    """Mean :func:`sign_change_fraction` of the subspace similarities with ``>= min_points`` points."""
    values = [sign_change_fraction(s.subspace) for s in series if len(s.subspace) >= min_points]
    return float(np.mean(values)) if values else float("nan")


def period_smoothness(by_period: Sequence[Mapping[int, SimilarityToBaseline]], snapshots: Sequence[Instability],
                      *, min_dip: float = 0.05, min_dip_fraction: float = 0.75, min_points: int = 4,
                      min_dips: int = 4) -> PeriodSmoothness:
    """Claim (6): rotations are smooth at even comparison periods, not at odd ones (Appendix D).

    Paper, Appendix D (Figure 8): "Gradual rotations in the eigenvectors are observed over
    even-period processes, and not for adjacent odd-period processes."

    At the edge of stability the parameters cross the valley every step, so epochs an odd number
    of steps from the baseline see the landscape from the other side. ``by_period[i][T]``:
    similarity to the start of snapshot ``i`` at period ``T`` (the periods are those of
    ``by_period[0]``, in its order). Two parts: (a) ``T = 2`` changes direction less often than
    every odd period; (b) at ``T = 1`` during the instabilities the mean parity dip is
    ``> min_dip`` with at least ``min_dip_fraction`` of the odd offsets dipping. A part is
    measured when its periods have series of ``>= min_points`` points (a); with at least
    ``min_dips`` dips (b). FAIL when a measured part fails; PASS when both are measured and
    hold; UNRESOLVED otherwise (no snapshot, no ``T = 2`` or odd period, too few points).
    """
    periods = list(by_period[0]) if by_period else []
    roughness = {T: _roughness([bp[T] for bp in by_period], min_points) for T in periods}
    parts = ([parity_dips(bp[1].subspace[bp[1].epochs <= snap.end]) for bp, snap in zip(by_period, snapshots)]
             if 1 in roughness else [])
    dips = np.concatenate(parts) if parts else np.array([])
    mean_dip = float(dips.mean()) if dips.size else float("nan")
    dip_fraction = float(np.mean(dips > 0)) if dips.size else float("nan")
    compared = [roughness.get(2, np.nan)] + [v for T, v in roughness.items() if T % 2 == 1]
    smooth = None if len(compared) < 2 or not np.all(np.isfinite(compared)) else bool(compared[0] < min(compared[1:]))
    dipping = None if dips.size < min_dips else bool(mean_dip > min_dip and dip_fraction >= min_dip_fraction)
    passed, unresolved = _outcome(smooth is False or dipping is False, bool(smooth and dipping))
    return PeriodSmoothness(roughness, dips, mean_dip, dip_fraction, passed, unresolved)


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


def _rising(immediate: Sequence[float]) -> float:
    """Fraction of reduced reruns rising by more than claim (5)'s default ``rise`` (NaN: none)."""
    rise = reversal_after_reduction.__kwdefaults__["rise"]
    return float(np.mean(np.array(immediate) > rise)) if len(immediate) else float("nan")


def _floats(values: Sequence[float], spec: str) -> str:
    return ", ".join(f"{v:{spec}}" for v in values)


class ClaimSpec(NamedTuple):
    """One of chapter 2's claims, with everything its table row prints, in one place.

    Attributes:
      field: the :class:`SeedChecks` field holding this claim's per-seed result.
      check: the per-seed check; its keyword defaults are the bounds (:attr:`bounds`).
      text: ``(num_eigs, reduction_factor) -> str``, the claim as the table words it.
      figure, spec, value: the per-seed figure (its name, format and ``result -> float``) whose
        median and range over seeds the row gives.
      detail: ``(result, bounds, num_eigs, subspace_k, period) -> str``, the shown seed's figures.
      bound: ``bounds -> str``, the per-seed bound and what leaves a seed unresolved.
    """

    field: str
    check: Any
    text: Any
    figure: str
    spec: str
    value: Any
    detail: Any
    bound: Any

    @property
    def bounds(self) -> dict:
        """The bounds the table prints: the check's keyword defaults, with which :func:`seed_checks`
        runs it."""
        return dict(self.check.__kwdefaults__)


def _detail_eos(r: EdgeOfStability, b: Mapping, num_eigs: int, subspace_k: int, period: int) -> str:
    return (f"S reaches 2/eta at epoch {r.reached} of {r.num_epochs}; afterwards S >= {b['level']:g} "
            f"(2/eta) in {r.fraction_at_edge:.1%} of epochs, median S/(2/eta) = {r.median_ratio:.2f}")


def _detail_mono(r: RiseMonotonicity, b: Mapping, num_eigs: int, subspace_k: int, period: int) -> str:
    return (f"Spearman(similarity, epoch) over the rise, per instability: top-{subspace_k} subspace "
            f"{_floats(r.rho_subspace, '.2f')}; mean of the top-{num_eigs} "
            f"{_floats(r.rho_mean, '.2f')} ({', '.join(map(str, r.points))} points)")


def _detail_wide(r: WidespreadRotation, b: Mapping, num_eigs: int, subspace_k: int, period: int) -> str:
    same = "the same verdict" if r.indexwise_passed == r.passed else "the other verdict"
    return (f"fraction of the top-{num_eigs} whose similarity to their matched counterparts drops below "
            f"{b['level']:g} during the instability: {_floats(r.lost_fraction, '.0%')}; index-wise (k-th with "
            f"k-th): {_floats(r.lost_fraction_indexwise, '.0%')} ({same})")


def _detail_gap(r: SubspaceGap, b: Mapping, num_eigs: int, subspace_k: int, period: int) -> str:
    return (f"median over epochs after resolution of (subspace - mean of the top-{subspace_k} individual): "
            f"{_floats(r.gap, '+.2f')}")


def _detail_rev(r: ReductionReversal, b: Mapping, num_eigs: int, subspace_k: int, period: int) -> str:
    return (f"{len(r.immediate)} reduced reruns: change of the top-{subspace_k} subspace similarity over the first "
            f"{period} epochs after the reduction {_floats(r.immediate, '+.2f')}; to the end of the window "
            f"{_floats(r.overall, '+.2f')}")


def _detail_smooth(r: PeriodSmoothness, b: Mapping, num_eigs: int, subspace_k: int, period: int) -> str:
    return ("fraction of direction changes of the subspace similarity (mean over instabilities): "
            + ", ".join(f"T={T}: {v:.2f}" for T, v in r.roughness.items())
            + f"; at T=1 during the instabilities, odd-offset epochs dip below their even neighbours by "
            f"{r.mean_dip:.2f} on average ({r.dip_fraction:.0%} of {r.dips.size} dip)")


def _bound_eos(b: Mapping) -> str:
    lo, hi = b["median_range"]
    return (f"reached in the first half; >= {b['min_fraction']:.0%} of epochs at >= {b['level']:g} (2/eta); "
            f"median in [{lo:g}, {hi:g}] (unresolved: no finite S)")


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("eos", edge_of_stability,
              lambda num_eigs, factor: "(1) S(theta) rises to 2/eta and then hovers at or above it (edge of stability)",
              "fraction of epochs at >= 0.9 (2/eta) after the crossing", ".0%", lambda c: c.fraction_at_edge,
              _detail_eos, _bound_eos),
    ClaimSpec("mono", rise_monotonicity,
              lambda num_eigs, factor: "(2) While L rises to its peak, eigenvector similarities to the baseline fall "
                                       "monotonically (T = 2)",
              "largest Spearman over instabilities and both series", ".2f",  # over the rises long enough to rank
              lambda c: _worst(c.rho_subspace + c.rho_mean, max), _detail_mono,
              lambda b: f"every Spearman <= {b['max_rho']:g} (unresolved: a rise of < {b['min_points']} points, or no "
                        "instability)"),
    ClaimSpec("wide", widespread_rotation,
              lambda num_eigs, factor: f"(3) All top-{num_eigs} eigenvectors lose similarity, not a single one "
                                       "(eigenvectors matched across epochs)",
              "smallest fraction (matched eigenvectors) over instabilities", ".0%",
              lambda c: _worst(c.lost_fraction, min), _detail_wide,
              lambda b: f">= {b['min_fraction']:.0%} in every instability, eigenvectors matched (unresolved: no "
                        "instability)"),
    ClaimSpec("gap", subspace_gap_after_resolution,
              lambda num_eigs, factor: "(4) After resolution the top-3 subspace similarity stays above the individual "
                                       "eigenvector similarities",
              "smallest median gap over instabilities", "+.2f", lambda c: _worst(c.gap, min), _detail_gap,
              lambda b: f"> {b['min_gap']:g} in every instability (unresolved: no instability)"),
    ClaimSpec("rev", reversal_after_reduction,
              lambda num_eigs, factor: f"(5) After reducing eta to {factor:g} eta the rotations reverse at once "
                                       "(similarity to the baseline rises)",
              "fraction of reduced reruns rising", ".0%", lambda c: _rising(c.immediate), _detail_rev,
              lambda b: f">= {b['min_fraction']:.0%} of reruns rise by more than {b['rise']} over the first period "
                        f"(unresolved: < {b['min_reruns']} reruns)"),
    ClaimSpec("smooth", period_smoothness,
              lambda num_eigs, factor: "(6) Rotations are smooth at even comparison periods, not at odd ones "
                                       "(Appendix D)",
              "mean dip at T=1", ".2f", lambda c: c.mean_dip, _detail_smooth,
              lambda b: f"T=2 changes direction less often than every odd T; mean dip > {b['min_dip']:g} with >= "
                        f"{b['min_dip_fraction']:.0%} of odd offsets dipping (unresolved: series of < "
                        f"{b['min_points']} points or < {b['min_dips']} dips; T=4 is shown, not bounded: it has few "
                        "points per window)"),
)
"""Chapter 2's six claims in the table's order (module docstring)."""


def seed_votes(checks: Sequence[SeedChecks]) -> list[SeedVote]:
    """Per claim, the :class:`~eoslib.report.SeedVote` of ``checks`` (one per seed), with the
    seeds whose check was unresolved."""
    seeds = [c.seed for c in checks]
    return [seed_vote(seeds, [spec.value(getattr(c, spec.field)) for c in checks],
                      [getattr(c, spec.field).passed for c in checks], [getattr(c, spec.field).unresolved for c in checks])
            for spec in CLAIMS]


def claim_texts(num_eigs: int, reduction_factor: float) -> list[str]:
    """The paper's six claims, worded for the chapter's ``num_eigs`` and ``reduction_factor``."""
    return [spec.text(num_eigs, reduction_factor) for spec in CLAIMS]


def claims_table(checks: Sequence[SeedChecks], *, num_eigs: int, subspace_k: int, period: int,
                 reduction_factor: float) -> ClaimsTable:
    """Chapter 2's claims table over seeds: claims (1)-(6) at their default bounds on each seed
    (:func:`seed_checks`, ``checks[0]`` the seed shown in the figures). Each seed passes, fails
    or is unresolved; a row is PASS when a strict majority of the seeds pass
    (:func:`eoslib.report.majority`), FAIL when no majority could pass even if every unresolved
    seed passed, and UNRESOLVED otherwise (:attr:`eoslib.report.SeedVote.verdict`).
    ``measured`` gives the count, the passing and unresolved seeds, the median and range of the
    per-seed figure (:data:`CLAIMS`) and, for the shown seed, the detailed figures.
    ``num_eigs``: tracked eigenvectors; ``subspace_k``: size of the top subspace; ``period``:
    the comparison period of ``top`` and ``bottom``; ``reduction_factor``: the reruns' learning
    rate as a fraction of ``eta``.
    """
    votes = seed_votes(checks)
    shown = checks[0]
    majority_text = (f"; PASS when at least {votes[0].required} of {len(checks)} seeds pass (a strict majority), "
                     "UNRESOLVED when the unresolved seeds could still make one")
    rows = []
    for spec, vote in zip(CLAIMS, votes):  # seed_votes: one vote per spec, in order
        detail = spec.detail(getattr(shown, spec.field), spec.bounds, num_eigs, subspace_k, period)
        rows.append(Claim(spec.text(num_eigs, reduction_factor),
                          f"{vote.describe(spec.figure, spec.spec)}. Seed {shown.seed} (the figures): {detail}",
                          f"per seed: {spec.bound(spec.bounds)}{majority_text}", vote.passed,
                          unresolved=vote.verdict == "UNRESOLVED"))
    return ClaimsTable(rows)


def rule_grid(checks_by_rule: Mapping[str, Sequence[SeedChecks]], *, num_eigs: int,
              reduction_factor: float) -> VerdictGrid:
    """Each claim's verdict (PASS, FAIL or UNRESOLVED) over seeds under each detection rule
    (columns, e.g. :func:`eoslib.chapters.rotations.experiment.rules`), and whether it flips between rules."""
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


def _median(values: Sequence[float], spec: str) -> str:
    """The median of the finite ``values`` (``"none"`` without any), minus signs typeset."""
    finite = [v for v in values if np.isfinite(v)]
    return f"{np.median(finite):{spec}}".replace("-", "\u2212") if finite else "none"


def _count(vote: SeedVote) -> str:
    """``"k/N"`` (``"k/N, u unresolved"``) of a vote, for the prose."""
    return vote.count().replace(" seeds", "")


def _eos_phase_values(results: Sequence[Any], checks: Sequence[SeedChecks]) -> dict[str, str]:
    """Prose values of the spike rule's window (``s0_fitted``, ``all_fitted``, ``all_snapshots``)
    and of claim (3) under matched and index-wise cosines (``all_lost_min``, ``c3_indexwise``,
    ``c3_same``)."""
    fitted = [r.analyses[0].fitted for r in results]
    done = [f for f in fitted if f is not None]
    matched = seed_votes(checks)[2]
    indexwise = seed_vote(matched.seeds, matched.figures, [c.wide.indexwise_passed for c in checks],
                          [c.wide.unresolved for c in checks])
    lost = [v for c in checks for v in c.wide.lost_fraction]
    return {
        "s0_fitted": "the end of the run" if fitted[0] is None else f"epoch {fitted[0]}",
        "all_fitted": (f"{len(done)} of the {len(fitted)} seeds reach it within the run, at epochs {_span(done, 'd')}"
                       if done else f"none of the {len(fitted)} seeds reaches it within the run"),
        "all_snapshots": _span([len(r.analyses[0].snapshots) for r in results], "d"),
        "all_lost_min": f"{min(lost):.0%}".replace("%", " %") if lost else "none",
        "c3_indexwise": _count(indexwise),
        "c3_same": ("the verdict does not depend on the choice" if indexwise.verdict == matched.verdict else
                    f"the verdict would be {indexwise.verdict} instead of {matched.verdict}"),
    }


def prose_values(results: Sequence[Any], checks_by_rule: Mapping[str, Sequence[SeedChecks]],
                 *, period: int = 2, periods: Sequence[int] = (1, 2, 3, 4)) -> dict[str, str]:
    """The measured values chapter 2's discussion quotes, as text to glue into it (``{glue:md}``):
    ``results`` the seeds' :class:`eoslib.chapters.rotations.experiment.SeedResult` (the first is shown in the
    figures), ``checks_by_rule`` their :class:`SeedChecks` per detection rule, the chapter's
    rule first (as for :func:`rule_grid`). Keys ``s0_*`` describe the shown seed, ``all_*`` the
    seeds, ``c*`` the counts of the claims table, ``grid_*`` the verdicts per rule."""
    rules = list(checks_by_rule)
    shown, checks = results[0], checks_by_rule[rules[0]]
    a, c0 = shown.analyses[0], checks[0]
    ends = [s.end for s in a.snapshots]
    last_after = [float(b[r].subspace[-1]) for b in a.bottom[2:3] for r in b if r != -1]
    returns = [float(np.max(b[r].subspace[1:])) for b in a.bottom[:2] for r in b if r != -1]
    votes = seed_votes(checks)
    unranked = [c.seed for c in checks if not np.all(np.isfinite(c.mono.rho_subspace))]
    grid = {name: seed_votes(ch) for name, ch in checks_by_rule.items()}
    flips = [i + 1 for i in range(len(votes)) if len({g[i].verdict for g in grid.values()}) > 1]
    out = {
        "s0_reached": str(c0.eos.reached), "s0_median_ratio": f"{c0.eos.median_ratio:.2f}",
        "s0_rises": _span([s.peak - s.start for s in a.snapshots], "d"),
        "s0_points": _span(c0.mono.points, "d"),
        "s0_min_subspace": _span([float(np.min(t.subspace[t.epochs <= e])) for t, e in zip(a.top, ends)], ".1f"),
        "s0_gaps": ", ".join(f"{g:+.2f}".replace("-", "\u2212") for g in c0.gap.gap) or "none",
        "s0_returns": _span(returns, ".2f"), "s0_third_after": _span(last_after, ".2f"),
        "s0_t4_points": _span([len(b[4].epochs) for b in a.by_period if 4 in b], "d") if 4 in periods else "none",
        "all_reached": _span([c.eos.reached for c in checks if c.eos.reached is not None], "d"),
        "all_unranked": ", ".join(f"seed {s}" for s in unranked) or "no seed",
        "all_gap_span": _span(votes[3].figures, "+.2f"),
        "all_gap_median": _median(votes[3].figures, "+.2f"),
        "all_rev_span": _span([100 * f for f in votes[4].figures], ".0f"),
        "all_rev_median": _median([100 * f for f in votes[4].figures], ".0f"),
        "grid_flips": ("no verdict flips" if not flips else
                       "the verdict of claim " + ", ".join(map(str, flips)) + " flips"),
        **_eos_phase_values(results, checks),
    }
    out.update({f"c{i + 1}": _count(v) for i, v in enumerate(votes)})
    out.update({f"grid_c{i + 1}_{j}": _count(g[i]) for j, g in enumerate(grid.values()) for i in range(len(votes))})
    return out

"""The claims of chapter 2 (eigenvector rotations, Section 3.2 and Appendix D), as statistics.

Each function checks one claim of the paper on the measurements of the chapter and returns a
small named tuple: the figures it measured and ``passed`` (whether they are within the bound).
:func:`claims_table` turns all six into the chapter's :class:`eoslib.report.ClaimsTable`.
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
from typing import NamedTuple

import numpy as np
from scipy.stats import spearmanr

from eoslib.instability import Instability, SimilarityToBaseline, parity_dips, sign_change_fraction
from eoslib.report import Claim, ClaimsTable

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
    "claims_table",
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


def _floats(values: Sequence[float], spec: str) -> str:
    return ", ".join(f"{v:{spec}}" for v in values)


def claims_table(sharpness: np.ndarray, eta: float, snapshots: Sequence[Instability],
                 top: Sequence[SimilarityToBaseline], bottom: Sequence[Mapping[int, SimilarityToBaseline]],
                 by_period: Sequence[Mapping[int, SimilarityToBaseline]], *, subspace_k: int, period: int,
                 reduction_factor: float) -> ClaimsTable:
    """Chapter 2's claims table: claims (1)-(6) of the module docstring at their default bounds.

    ``sharpness`` (E,), ``snapshots``, ``top``, ``bottom`` and ``by_period`` as in the module
    docstring; ``eta``: the constant learning rate of the run; ``subspace_k``: size of the top
    subspace; ``period``: the comparison period of ``top`` and ``bottom``; ``reduction_factor``:
    the reduced learning rate of the reruns as a fraction of ``eta``. k (the number of tracked
    eigenvectors) is read from ``top[0].cosines``.
    """
    num_eigs = top[0].cosines.shape[1] if top else 0
    eos = edge_of_stability(sharpness, eta)
    mono = rise_monotonicity(top, snapshots)
    wide = widespread_rotation(top, snapshots)
    gap = subspace_gap_after_resolution(top, snapshots, subspace_k)
    rev = reversal_after_reduction(bottom)
    smooth = period_smoothness(by_period, snapshots)
    # the bounds printed are the checks' defaults, read from their signatures (one source of truth)
    b1, b2, b3 = (edge_of_stability.__kwdefaults__, rise_monotonicity.__kwdefaults__,
                  widespread_rotation.__kwdefaults__)
    b4, b5, b6 = (subspace_gap_after_resolution.__kwdefaults__, reversal_after_reduction.__kwdefaults__,
                  period_smoothness.__kwdefaults__)
    lo, hi = b1["median_range"]
    return ClaimsTable([
        Claim("(1) S(theta) rises to 2/eta and then hovers at or above it (edge of stability)",
              f"S reaches 2/eta at epoch {eos.reached} of {eos.num_epochs}; afterwards S >= {b1['level']:g} "
              f"(2/eta) in {eos.fraction_at_edge:.1%} of epochs, median S/(2/eta) = {eos.median_ratio:.2f}",
              f"reached in the first half; >= {b1['min_fraction']:.0%} of epochs at >= {b1['level']:g} "
              f"(2/eta); median in [{lo:g}, {hi:g}]", eos.passed),
        Claim("(2) While L rises to its peak, eigenvector similarities to the baseline fall monotonically (T = 2)",
              f"Spearman(similarity, epoch) over the rise, per instability: top-3 subspace "
              f"{_floats(mono.rho_subspace, '.2f')}; mean of the top-{num_eigs} "
              f"{_floats(mono.rho_mean, '.2f')} ({', '.join(map(str, mono.points))} points)",
              f"every Spearman <= {b2['max_rho']:g} (>= {b2['min_points']} points)", mono.passed),
        Claim(f"(3) All top-{num_eigs} eigenvectors lose similarity, not a single one",
              f"fraction of the top-{num_eigs} whose similarity drops below {b3['level']:g} during the "
              f"instability: {_floats(wide.lost_fraction, '.0%')}",
              f">= {b3['min_fraction']:.0%} in every instability", wide.passed),
        Claim("(4) After resolution the top-3 subspace similarity stays above the individual eigenvector similarities",
              f"median over epochs after resolution of (subspace - mean of the top-{subspace_k} individual): "
              f"{_floats(gap.gap, '+.2f')}", f"> {b4['min_gap']:g} in every instability", gap.passed),
        Claim(f"(5) After reducing eta to {reduction_factor:g} eta the rotations reverse at once (similarity to "
              "the baseline rises)",
              f"{len(rev.immediate)} reduced reruns: change of the top-3 subspace similarity over the first {period} "
              f"epochs after the reduction {_floats(rev.immediate, '+.2f')}; to the end of the window "
              f"{_floats(rev.overall, '+.2f')}",
              f">= {b5['min_fraction']:.0%} of reruns rise by more than {b5['rise']} over the first period",
              rev.passed),
        Claim("(6) Rotations are smooth at even comparison periods, not at odd ones (Appendix D)",
              "fraction of direction changes of the subspace similarity (mean over instabilities): "
              + ", ".join(f"T={T}: {v:.2f}" for T, v in smooth.roughness.items())
              + f"; at T=1 during the instabilities, odd-offset epochs dip below their even neighbours by "
              f"{smooth.mean_dip:.2f} on average ({smooth.dip_fraction:.0%} of them dip)",
              f"T=2 changes direction less often than every odd T; mean dip > {b6['min_dip']:g} with >= "
              f"{b6['min_dip_fraction']:.0%} of odd offsets dipping "
              "(T=4 is shown, not bounded: it has few points per window)", smooth.passed),
    ])

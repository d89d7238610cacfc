"""Instabilities of gradient descent at the edge of stability, and eigenvector rotations through them.

Section 3.2 and Appendix D of the paper: while the training loss spikes, the sharpest Hessian
eigenvectors rotate away from their orientation at the start of the spike (the *baseline*).

Detection rule (:func:`detect_instabilities`). At the edge of stability the loss oscillates with
period 2, so spikes are found on the 2-epoch moving average ``m_t = (L_t + L_{t+1}) / 2``:

* a *peak* is a local maximum of ``log m`` whose topographic prominence (``scipy.signal.find_peaks``)
  is at least ``log(min_rise)``, i.e. the loss rises by a factor ``min_rise`` above the higher of
  the two surrounding valleys;
* its *start* (the baseline epoch) is the last epoch before the peak from which ``m`` increases
  at every epoch up to the peak (the bottom of the rise);
* its *end* (resolution) is the first epoch after the peak at which ``m`` is back at or below its
  value at the start (``end="start"``, the default); with ``end="half"``, back at or below the
  geometric midpoint ``sqrt(m_start * m_peak)`` (half the rise undone, in log scale); with
  ``end="valley"``, the bottom of the fall (the first epoch after the peak from which ``m`` no
  longer decreases). The last epoch if it never is. Chapter 2 checks that its claims do not
  hinge on these choices: it repeats them with another ``min_rise`` and the two other ends.

Instability cycles (:func:`stability_cycles`, Section 3.3: "from stability to instability and
back to stability"). With the sharpness ``S_t`` at every epoch and the stability limit ``2/η``:

* an *unstable stretch* is a maximal run of epochs with ``S_t ≥ 2/η``;
* it is a complete *cycle* when stable epochs (``S_t < 2/η``) come right before and right after
  it and a loss spike of :func:`detect_instabilities` peaks inside it (or at its first stable
  epoch after);
* the cycle's epochs: ``stable_from`` (first epoch of the stable stretch before), ``cross``
  (first unstable epoch), ``peak`` (the largest such spike's peak), ``back`` (first stable
  epoch after: the return to stability) and ``stable_to`` (last epoch of the stable stretch
  after).

:func:`longest_lead` picks the cycle with the longest stable phase before it (progressive
sharpening below ``2/η``; ties: the larger loss rise), and :func:`cycle_window` the epochs shown.

Comparisons at period ``T`` (Appendix D): eigenvectors at epochs ``start + jT`` are compared with
those at ``start``. Under period-2 oscillations only even ``T`` compare parameters on the same
side of the valley, so only even periods show smooth rotations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy.signal import find_peaks

from eoslib import similarity

__all__ = ["Instability", "smoothed_loss", "END_CRITERIA", "detect_instabilities", "largest", "CHOICES", "choose", "Cycle",
           "stability_cycles", "longest_lead", "cycle_window",
           "SimilarityToBaseline", "similarity_to_baseline", "comparison_epochs",
           "sign_change_fraction", "parity_dips"]


class Instability(NamedTuple):
    """Epoch indices of one loss spike and its rise factor ``m_peak / m_start``."""

    start: int
    peak: int
    end: int
    rise: float


def smoothed_loss(loss: np.ndarray) -> np.ndarray:
    """2-epoch moving average ``m_t = (L_t + L_{t+1}) / 2``; (T,) -> (T - 1,)."""
    loss = np.asarray(loss, dtype=float)
    return 0.5 * (loss[1:] + loss[:-1])


END_CRITERIA = ("start", "half", "valley")


def detect_instabilities(loss: np.ndarray, *, min_rise: float = 1.1, first_epoch: int = 0,
                         end: str = "start") -> list[Instability]:
    """Loss spikes of a training run (the rule of the module docstring), in time order.

    ``loss``: (T,) training loss per epoch; peaks before ``first_epoch`` are ignored; ``end``:
    the resolution criterion, one of :data:`END_CRITERIA`.
    """
    if end not in END_CRITERIA:
        raise ValueError(f"end={end!r}: choose one of {END_CRITERIA}")
    m = smoothed_loss(loss)
    log_m = np.log(m)
    peaks, _ = find_peaks(log_m, prominence=np.log(min_rise))
    found = []
    for peak in peaks[peaks >= first_epoch]:
        start = int(peak)
        while start > 0 and m[start - 1] < m[start]:
            start -= 1
        if end == "valley":
            after = np.nonzero(np.diff(m[peak:]) >= 0)[0]
        else:
            after = np.nonzero(m[peak:] <= (m[start] if end == "start" else np.sqrt(m[start] * m[peak])))[0]
        resolved = int(peak + after[0]) if after.size else m.size - 1
        found.append(Instability(start, int(peak), resolved, float(m[peak] / m[start])))
    return found


def largest(instabilities: Sequence[Instability], count: int) -> list[Instability]:
    """The ``count`` instabilities with the largest rise, back in time order."""
    chosen = sorted(instabilities, key=lambda s: s.rise, reverse=True)[:count]
    return sorted(chosen, key=lambda s: s.start)


CHOICES = ("first", "largest")


def choose(instabilities: Sequence[Instability], count: int, rule: str) -> list[Instability]:
    """``count`` of the instabilities (every one when ``count`` is 0), in time order: the
    earliest (``rule="first"``) or those with the largest rise (``"largest"``, :func:`largest`).

    The earliest are reproducible across CPUs: an edge-of-stability run is chaotic, so
    rounding differences between machines grow until, after some instabilities, the runs
    part; the first instabilities happen before they do."""
    if rule not in CHOICES:
        raise ValueError(f"rule must be one of {CHOICES}, not {rule!r}")
    if count == 0:
        return list(instabilities)
    return list(instabilities[:count]) if rule == "first" else largest(instabilities, count)


class Cycle(NamedTuple):
    """Epochs of a complete instability cycle (module docstring) and its largest loss rise."""

    stable_from: int
    cross: int
    peak: int
    back: int
    stable_to: int
    rise: float

    @property
    def lead(self) -> int:
        """Stable epochs before the crossing."""
        return self.cross - self.stable_from


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``(first, last)`` of True in a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0] - 1))


def stability_cycles(loss: np.ndarray, sharpness: np.ndarray, eta: float, *,
                     min_rise: float = 1.1) -> list[Cycle]:
    """Complete stable → unstable → stable cycles of a run (the rule of the module docstring).

    ``loss``, ``sharpness``: (T,) per epoch; ``eta``: the constant learning rate."""
    unstable = np.asarray(sharpness) >= 2.0 / eta
    spikes = detect_instabilities(loss, min_rise=min_rise)
    stable_runs = _runs(~unstable)
    cycles = []
    for first, last in _runs(unstable):
        if first == 0 or last == unstable.size - 1:
            continue
        inside = [s for s in spikes if first <= s.peak <= last + 1]
        if not inside:
            continue
        before = next(r for r in stable_runs if r[1] == first - 1)
        after = next(r for r in stable_runs if r[0] == last + 1)
        top = max(inside, key=lambda s: s.rise)
        cycles.append(Cycle(int(before[0]), int(first), top.peak, int(last + 1), int(after[1]),
                            top.rise))
    return cycles


def longest_lead(cycles: Sequence[Cycle]) -> Cycle:
    """The cycle with the longest stable phase before its crossing (ties: larger rise)."""
    if not cycles:
        raise ValueError("no complete instability cycle: train longer or change eta")
    return max(cycles, key=lambda c: (c.lead, c.rise))


def cycle_window(cycle: Cycle, lead: int, tail: int) -> np.ndarray:
    """Epochs shown for ``cycle``: from ``lead`` epochs before the crossing (at most its stable
    phase) to ``tail`` epochs after the return to stability (at most its stable phase after)."""
    return np.arange(max(cycle.stable_from, cycle.cross - lead),
                     min(cycle.stable_to, cycle.back + tail) + 1)


class SimilarityToBaseline(NamedTuple):
    """Similarity of eigenvectors at ``epochs`` (J,) to those at ``epochs[0]``.

    ``cosines`` (J, k): index-wise ``|cos|`` of the k-th eigenvector; ``matched`` (J, k): after
    matching eigenvectors across epochs (:func:`eoslib.similarity.matched_cosines`);
    ``subspace`` (J,): cosine-Grassmannian similarity of the top ``subspace_k`` subspaces.
    """

    epochs: np.ndarray
    cosines: np.ndarray
    matched: np.ndarray
    subspace: np.ndarray


def similarity_to_baseline(vectors: np.ndarray | Mapping[int, np.ndarray], epochs: Sequence[int],
                           baseline: np.ndarray | None = None, subspace_k: int = 3) -> SimilarityToBaseline:
    """Compare ``vectors[e]`` (d, k) for ``e`` in ``epochs`` with ``baseline`` (d, k).

    ``vectors``: eigenvectors indexed by epoch, an array (E, d, k) or a mapping
    ``epoch -> (d, k)``; ``baseline`` defaults to ``vectors[epochs[0]]``.
    """
    epochs = np.asarray(epochs)
    base = vectors[epochs[0]] if baseline is None else baseline
    cos = np.stack([np.asarray(similarity.eigvec_cosines(base, vectors[e])) for e in epochs])
    matched = np.stack([np.asarray(similarity.matched_cosines(base, vectors[e])[0]) for e in epochs])
    sub = np.array([float(similarity.cosine_grassmann_similarity(base[:, :subspace_k], vectors[e][:, :subspace_k]))
                    for e in epochs])
    return SimilarityToBaseline(epochs, cos, matched, sub)


def comparison_epochs(start: int, stop: int, period: int) -> np.ndarray:
    """``start, start + T, ...`` up to ``stop`` inclusive (Appendix D's comparison period ``T``)."""
    return np.arange(start, stop + 1, period)


def sign_change_fraction(series: np.ndarray) -> float:
    """Fraction of consecutive steps of ``series`` whose direction flips (0: monotone, 1: zigzag)."""
    steps = np.sign(np.diff(np.asarray(series, dtype=float)))
    steps = steps[steps != 0]
    return float(np.mean(steps[1:] != steps[:-1])) if steps.size > 1 else 0.0


def parity_dips(series: np.ndarray) -> np.ndarray:
    """``(s_{j-1} + s_{j+1}) / 2 - s_j`` at the odd offsets ``j`` of a period-1 series (J,).

    Positive values mean the epochs an odd number of steps from the baseline are less similar
    to it than their even neighbours: the period-2 structure behind Appendix D's observation
    that only even comparison periods give smooth curves.
    """
    s = np.asarray(series, dtype=float)
    odd = np.arange(1, s.size - 1, 2)
    return 0.5 * (s[odd - 1] + s[odd + 1]) - s[odd]

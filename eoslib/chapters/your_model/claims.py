"""Claims of the chapter "Edge-of-stability diagnostics for your own model": the paper's
Section 2 (its background, after Cohen et al.) and Cohen et al.'s adaptive-optimizer result,
tested on a model of the reader's own from the records of :func:`eoslib.diagnostics.train`.

The paper (Section 2) states, for gradient descent at learning rate η:

* :func:`claim_progressive_sharpening`: "So long as training is stable (S(θ) ≤ 2/η), gradient
  descent has an overwhelming tendency to continually increase sharpness."
* :func:`claim_edge_of_stability`: "Once sharpness reaches the stability limit, it sits at, or
  just above, the stability threshold."
* :func:`claim_loss_decreases`: "... the training loss nonetheless continues to decrease,
  albeit non-monotonically."

Beyond the paper, Cohen et al. (2022, "Adaptive gradient methods at the edge of stability",
abstract): the top eigenvalue of the preconditioned Hessian λ_max(P⁻¹H) rises to the optimizer's
stability threshold, 38/η for Adam with β1 = 0.9 (:func:`claim_reaches_limit`). And the library's
own: :func:`claim_always_certified`.

Only certified, finite eigenvalues count. A statistic with too few of them is UNRESOLVED, never
FAIL.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eoslib.report import Claim

__all__ = ["REACH_FRACTION", "JUST_ABOVE", "MIN_POINTS", "MIN_CHANGES", "reach", "claim_progressive_sharpening",
           "claim_edge_of_stability", "claim_reaches_limit", "claim_loss_decreases", "claim_always_certified"]

REACH_FRACTION = 0.9
"""A series *reaches* its limit when a certified measurement is at least this fraction of it:
the solves are made every ``eig_every`` steps of an oscillating trajectory, so the largest
measured value can lie below the largest one along the run."""

JUST_ABOVE = 1.25
"""*Just above* the limit (Section 2's "sits at, or just above"): at most 25 % above it."""

MIN_POINTS = 3
"""Fewest certified measurements from the first reach on that a statistic over them needs; with
fewer, the claim is UNRESOLVED."""

MIN_CHANGES = 4
"""Fewest consecutive changes of S before the first reach that progressive sharpening's
fraction of increases needs (one change more or less moves it by 25 % or less); with fewer,
UNRESOLVED."""


def _certified(steps, values, certified) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, float)
    ok = np.asarray(certified, bool) & np.isfinite(values)
    return np.asarray(steps)[ok], values[ok]


def reach(steps: Sequence[int], values: Sequence[float], certified: Sequence[bool], limit: float,
          fraction: float = REACH_FRACTION) -> dict:
    """Where a recorded (effective) sharpness series first reaches ``fraction · limit``.

    ``steps``, ``values``, ``certified``: (E,) at the eigen-steps. Returns ``measured`` (the
    certified, finite values), ``peak`` (the largest over ``limit``; NaN if none), ``first``
    (the first step at or above ``fraction · limit``, or None), ``before`` and ``after`` (how
    many measurements lie before it, and from it on) and ``median_after`` (the median of value /
    limit from it on: where the series settles; NaN if never reached)."""
    s, v = _certified(steps, values, certified)
    ratio = v / limit
    hits = np.flatnonzero(ratio >= fraction)
    i = int(hits[0]) if hits.size else None
    return dict(measured=int(ratio.size), peak=float(ratio.max()) if ratio.size else float("nan"),
                first=None if i is None else int(s[i]), before=ratio.size if i is None else i,
                after=0 if i is None else ratio.size - i,
                median_after=float("nan") if i is None else float(np.median(ratio[i:])))


def claim_progressive_sharpening(claim: str, steps, values, certified, limit: float, *,
                                 at_least: float = 0.75) -> Claim:
    """Section 2's progressive sharpening: among the certified measurements before S first
    reaches the limit (:func:`reach`), at least ``at_least`` of the consecutive changes are
    increases, and S rose overall. UNRESOLVED with fewer than :data:`MIN_CHANGES` changes in
    that stable phase (e.g. a run that starts at the limit)."""
    _, v = _certified(steps, values, certified)
    r = reach(steps, values, certified, limit)
    stable = v[:r["before"]]
    bound = f"≥ {at_least:.0%} of the changes of S before it reaches the limit are increases"
    if stable.size - 1 < MIN_CHANGES:
        return Claim(claim, f"{stable.size} certified measurements before S reached the limit", bound,
                     False, unresolved=True)
    ups = float(np.mean(np.diff(stable) > 0))
    measured = f"{ups:.0%} of {stable.size - 1} changes are increases; S {stable[0]:.4g} → {stable[-1]:.4g}"
    return Claim(claim, measured, bound, bool(ups >= at_least and stable[-1] > stable[0]))


def claim_edge_of_stability(claim: str, steps, values, certified, limit: float, *,
                            just_above: float = JUST_ABOVE) -> Claim:
    """Section 2's edge of stability: S reaches the limit (:data:`REACH_FRACTION`), and from then
    on the median of S / limit lies in [:data:`REACH_FRACTION`, ``just_above``]. FAIL when S
    never reaches it or settles outside the band; UNRESOLVED with fewer than
    :data:`MIN_POINTS` certified measurements from the first reach on."""
    r = reach(steps, values, certified, limit)
    bound = f"reaches {REACH_FRACTION:g} × limit, then median S/limit in [{REACH_FRACTION:g}, {just_above:g}]"
    if r["first"] is None:
        if not r["measured"]:
            return Claim(claim, "no certified measurement of S", bound, False, unresolved=True)
        return Claim(claim, f"never reached: max S = {r['peak']:.2f} × limit", bound, False)
    measured = (f"reached at step {r['first']}; median S/limit {r['median_after']:.2f} over {r['after']} "
                f"measurements (limit {limit:.4g})")
    if r["after"] < MIN_POINTS:
        return Claim(claim, measured, bound, False, unresolved=True)
    return Claim(claim, measured, bound, bool(REACH_FRACTION <= r["median_after"] <= just_above))


def claim_reaches_limit(claim: str, steps, values, certified, limit: float, *, what: str = "S") -> Claim:
    """PASS when a certified ``what`` reaches :data:`REACH_FRACTION` of ``limit``, FAIL when
    certified measurements exist and none does, UNRESOLVED when none is certified. The measured
    text also gives the median ratio from the first reach on (where the series settles)."""
    r = reach(steps, values, certified, limit)
    bound = f"max certified {what} ≥ {REACH_FRACTION:g} × limit ({REACH_FRACTION * limit:.4g})"
    if not r["measured"]:
        return Claim(claim, f"no certified measurement of {what}", bound, False, unresolved=True)
    measured = f"max {what} = {r['peak']:.2f} × limit ({r['peak'] * limit:.4g}; limit {limit:.4g})"
    if r["first"] is not None:
        measured += f"; reached at step {r['first']}, median {r['median_after']:.2f} × limit after"
    return Claim(claim, measured, bound, r["first"] is not None)


def claim_loss_decreases(claim: str, loss: Sequence[float], steps, values, certified, limit: float) -> Claim:
    """Section 2: at the edge of stability the loss "continues to decrease, albeit
    non-monotonically". ``loss`` (T+1,) at every step. From the first step S reaches the limit
    (:func:`reach`) to the end: the last loss is below the loss there, and at least one step
    raised it. UNRESOLVED when S never reached the limit (there is no edge-of-stability phase)
    or reached it fewer than :data:`MIN_POINTS` measurements before the end."""
    r = reach(steps, values, certified, limit)
    bound = "from the first reach: last loss < loss there, with at least one increase"
    if r["first"] is None or r["after"] < MIN_POINTS:
        return Claim(claim, f"{r['after']} certified measurements of S at the limit", bound, False,
                     unresolved=True)
    phase = np.asarray(loss, float)[r["first"]:]
    ups = int(np.sum(np.diff(phase) > 0))
    measured = f"loss {phase[0]:.3g} → {phase[-1]:.3g} over {phase.size - 1} steps, {ups} of them increases"
    return Claim(claim, measured, bound, bool(phase[-1] < phase[0] and ups > 0))


def claim_always_certified(claim: str, certified: Sequence[bool]) -> Claim:
    """PASS when every solve of the run is certified, FAIL when one is not, UNRESOLVED when
    there was no solve."""
    certified = np.asarray(certified, bool)
    if not certified.size:
        return Claim(claim, "no eigensolve was made", "every solve certified", False, unresolved=True)
    return Claim(claim, f"{int(certified.sum())}/{certified.size} solves certified", "every solve certified",
                 bool(certified.all()))

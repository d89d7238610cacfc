"""Section 3.2's last statement: the DLN predicts a *smooth* resolution of an instability, the
MLP's is *sharp*, and the paper reads the mismatch as "a potential limitation of the DLN-SOP
model".

**The resolution, measured alike on both.** An instability ends when the sharpness ``S_t`` falls
back below the stability limit ``2/η``. Its *fall* is the stretch from the last local maximum of
``S`` before that epoch (``peak``: ``S_peak ≥`` both neighbours) to the first stable epoch
(``back``), and its length in GD steps, ``steps = back − peak``, is the statistic: a sharp
resolution takes a few steps (at most ``sharp_steps``, 3 by default: under two periods of the
edge of stability's period-2 oscillation), a smooth one many. The *excess* ``η S_peak / 2`` (1 at
the stability limit) says how far past the limit the fall starts.

- The DLN (:func:`dln_resolution`): GD on the two-parameter DLN from ``θ_0`` with
  ``S(θ_0) > 2/η`` (Figure 1's unstable rates), ``S`` the exact top Hessian eigenvalue at every
  step; its first return below ``2/η``.
- The MLP (:func:`cycle_resolutions`): every complete stable → unstable → stable cycle of a run
  (:func:`eoslib.instability.stability_cycles`, ``S`` at every epoch).
- Matched (:func:`excess_scan`, :func:`matched`): the DLN over a fine grid of rates, each
  resolution's excess and steps, and the DLN rate whose excess is closest to the MLP cycles'
  median: the same comparison at the same distance past the limit.

Paper, Section 3.2: "the predicted trajectory of resolution is smooth, but the empirical
trajectory of resolution in Figure 2 and others are sharp. We find that this mismatch of
prediction to observation may reflect a potential limitation of the DLN-SOP model".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from eoslib import dln
from eoslib.instability import stability_cycles
from eoslib.report import Claim

__all__ = ["SHARP_STEPS", "Resolution", "resolution", "dln_resolution", "cycle_resolutions", "excess_scan",
           "matched", "claim_predicted_smooth", "claim_empirical_sharp", "claim_dln_limitation", "prose_values"]

SHARP_STEPS = 3
"""A fall of at most this many GD steps is sharp (two periods of the edge of stability's
period-2 oscillation are 4 steps)."""


class Resolution(NamedTuple):
    """The fall of ``S`` that ends an instability (module docstring)."""

    peak: int  # the last local maximum of S before `back`
    back: int  # the first stable epoch (S < 2/eta)
    steps: int  # back - peak
    excess: float  # eta * S[peak] / 2


def resolution(sharpness: np.ndarray, eta: float, first: int, back: int) -> Resolution:
    """The fall ending at ``back`` (first stable epoch) of the unstable stretch that began at
    ``first``: from the last ``t`` in [``first``, ``back``) with ``S_t ≥ S_{t−1}`` and
    ``S_t ≥ S_{t+1}`` (``first`` itself if none). ``sharpness``: (T,) per step."""
    s = np.asarray(sharpness, dtype=float)
    t = back - 1
    while t > first and not (s[t] >= s[t - 1] and s[t] >= s[t + 1]):
        t -= 1
    return Resolution(int(t), int(back), int(back - t), float(eta * s[t] / 2))


def dln_resolution(theta0: Sequence[float], eta: float, z: dln.EvenPolynomial,
                   num_steps: int = 400) -> Resolution | None:
    """The DLN's resolution: GD from ``theta0`` (unstable: ``S(θ_0) ≥ 2/η``) at ``η``, its first
    step back below ``2/η`` (:func:`resolution` from step 0). None when ``θ_0`` is stable, or
    when ``S`` does not come back within ``num_steps`` (diverged, or still unstable)."""
    with jax.enable_x64(True):
        traj = dln.gd_trajectory(jnp.asarray(theta0, jnp.float64), jnp.float64(eta), z, num_steps)
        s = np.asarray(traj.eigenvalues[:, 0])
    stable = np.isfinite(s) & (s < 2.0 / eta)
    if stable[0] or not stable.any() or not np.isfinite(s[:int(np.argmax(stable)) + 1]).all():
        return None
    return resolution(s, eta, 0, int(np.argmax(stable)))


def cycle_resolutions(loss: np.ndarray, sharpness: np.ndarray, eta: float) -> list[Resolution]:
    """The resolution of every complete instability cycle of a run (``loss``, ``sharpness``:
    (T,) per epoch at constant ``eta``; :func:`eoslib.instability.stability_cycles`)."""
    return [resolution(sharpness, eta, c.cross, c.back) for c in stability_cycles(loss, sharpness, eta)]


def excess_scan(theta0: Sequence[float], z: dln.EvenPolynomial, *, num: int = 120,
                top: float = 2.2) -> list[tuple[float, Resolution]]:
    """``(η, resolution)`` of the DLN at ``num`` rates from just above ``2/S(θ_0)`` to ``top``
    times it (beyond about 2.2 the DLN diverges); rates without a resolution are left out."""
    with jax.enable_x64(True):
        limit = 2.0 / float(dln.eigenvalues_2d(jnp.asarray(theta0, jnp.float64), z)[0])
    out = [(float(eta), dln_resolution(theta0, float(eta), z)) for eta in np.linspace(1.01, top, num) * limit]
    return [(eta, r) for eta, r in out if r is not None]


def matched(scan: Sequence[tuple[float, Resolution]], excess: float) -> tuple[float, Resolution] | None:
    """The scanned DLN rate whose resolution starts at the excess nearest ``excess``; None when
    the scan is empty or ``excess`` lies outside the scanned range (more than 5 % beyond it)."""
    if not scan:
        return None
    excesses = np.array([r.excess for _, r in scan])
    if not excesses.min() / 1.05 <= excess <= excesses.max() * 1.05:
        return None
    return scan[int(np.argmin(np.abs(excesses - excess)))]


def claim_predicted_smooth(dln_runs: Sequence[tuple[float, Resolution | None]], *,
                           sharp_steps: int = SHARP_STEPS) -> Claim:
    """§3.2, the prediction: the DLN's resolution at Figure 1's unstable rates (``dln_runs``:
    ``(η, resolution or None)``) is smooth, i.e. takes more than ``sharp_steps`` steps. PASS
    when every resolved rate's does, FAIL when one is sharp, UNRESOLVED when none resolved."""
    name = "§3.2: the predicted (DLN) trajectory of resolution is smooth"
    bound = f"the fall of S back below 2/eta takes > {sharp_steps} GD steps at every unstable eta of Figure 1"
    done = [(eta, r) for eta, r in dln_runs if r is not None]
    if not done:
        return Claim(name, "no rate resolved", bound, False, unresolved=True)
    measured = "; ".join(f"eta {eta:g}: {r.steps} steps from excess {r.excess:.2f}" for eta, r in done)
    return Claim(name, measured, bound, all(r.steps > sharp_steps for _, r in done))


def claim_empirical_sharp(cycles: Sequence[Resolution], *, sharp_steps: int = SHARP_STEPS,
                          min_cycles: int = 5) -> Claim:
    """§3.2, the observation: the MLP's resolutions (``cycles``, pooled over seeds) are sharp:
    the median fall takes at most ``sharp_steps`` steps. UNRESOLVED below ``min_cycles``."""
    name = "§3.2: the empirical (MLP) trajectory of resolution is sharp"
    bound = f"median fall of S back below 2/eta <= {sharp_steps} GD steps over the cycles"
    if len(cycles) < min_cycles:
        return Claim(name, f"{len(cycles)} complete cycles (fewer than {min_cycles})", bound, False, unresolved=True)
    steps = np.array([r.steps for r in cycles])
    measured = (f"{int(np.sum(steps <= sharp_steps))} of {steps.size} cycles within {sharp_steps} steps; "
                f"median {np.median(steps):g}, range {steps.min()}–{steps.max()}")
    return Claim(name, measured, bound, bool(np.median(steps) <= sharp_steps))


def claim_dln_limitation(cycles: Sequence[Resolution], scan: Sequence[tuple[float, Resolution]], *,
                         sharp_steps: int = SHARP_STEPS, min_cycles: int = 5) -> Claim:
    """§3.2, the reading: the mismatch "may reflect a potential limitation of the DLN-SOP model",
    i.e. the DLN does not resolve sharply where the MLP does. Tested at the same excess: the
    scanned DLN rate (:func:`matched`) whose resolution starts at the MLP cycles' median excess.
    PASS when that resolution is smooth (> ``sharp_steps`` steps: the model misses the sharp
    fall), FAIL when it is sharp too (the mismatch is one of excess, not of the model);
    UNRESOLVED with fewer than ``min_cycles`` cycles or no DLN rate at that excess."""
    name = "§3.2: the mismatch reflects a limitation of the DLN (it stays smooth at the MLP's excess)"
    bound = f"the DLN at the MLP cycles' median excess takes > {sharp_steps} steps"
    if len(cycles) < min_cycles:
        return Claim(name, f"{len(cycles)} complete cycles (fewer than {min_cycles})", bound, False, unresolved=True)
    target = float(np.median([r.excess for r in cycles]))
    hit = matched(scan, target)
    if hit is None:
        return Claim(name, f"no DLN rate resolves from excess {target:.2f}", bound, False, unresolved=True)
    eta, r = hit
    sharp = [x.excess for _, x in scan if x.steps <= sharp_steps]
    edge = f"; the DLN's first sharp fall in the scan is at excess {min(sharp):.2f}" if sharp else ""
    return Claim(name, f"MLP median excess {target:.2f}; DLN at eta {eta:.4g} (excess {r.excess:.2f}): "
                       f"{r.steps} steps{edge}", bound, r.steps > sharp_steps)


def prose_values(dln_runs: Sequence[tuple[float, Resolution | None]], cycles: Sequence[Resolution],
                 scan: Sequence[tuple[float, Resolution]], *, sharp_steps: int = SHARP_STEPS) -> dict[str, str]:
    """The measured values chapter 2's §3.2 paragraph quotes: ``res_dln`` (steps at Figure 1's
    rates), ``res_n_cycles``, ``res_sharp_cycles``, ``res_mlp_median``, ``res_mlp_excess``
    (median and range of the cycles' excess), ``res_sharp_from`` (the smallest excess at which
    the scanned DLN falls within ``sharp_steps`` steps) and ``res_matched`` (the DLN at the
    MLP's median excess)."""
    steps = np.array([r.steps for r in cycles]) if cycles else np.array([])
    excess = np.array([r.excess for r in cycles]) if cycles else np.array([])
    sharp = [r.excess for _, r in scan if r.steps <= sharp_steps]
    hit = matched(scan, float(np.median(excess))) if cycles else None
    return {
        "res_dln": ", ".join(f"{r.steps} steps at eta = {eta:g}" for eta, r in dln_runs if r is not None) or "none",
        "res_n_cycles": str(len(cycles)),
        "res_sharp_cycles": f"{int(np.sum(steps <= sharp_steps))} of {steps.size}" if cycles else "none",
        "res_mlp_median": f"{np.median(steps):g}" if cycles else "none",
        "res_mlp_excess": f"{np.median(excess):.2f} ({excess.min():.2f}–{excess.max():.2f})" if cycles else "none",
        "res_sharp_from": f"{min(sharp):.2f}" if sharp else "none",
        "res_matched": (f"{hit[1].steps} steps (eta = {hit[0]:.4g}, excess {hit[1].excess:.2f})" if hit else "none"),
    }

"""Figures 3, 4 and 11: the landscape along the gradient through an instability cycle, and the
eventual maximum sharpness after a learning-rate reduction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from eoslib.chapters.flattening.landscape import Slice
from eoslib.instability import Cycle

LOSS_COLOR, SHARP_COLOR = "#1f77b4", "#d62728"


def _slice_panel(ax, sl: Slice, prev_position: float, eta: float, title: str, s_range, l_range):
    ax.plot(sl.t, sl.loss, color=LOSS_COLOR, lw=1.2)
    ax.set_ylim(*l_range)
    ax.tick_params(axis="y", colors=LOSS_COLOR, labelsize=6)
    ax.tick_params(axis="x", labelsize=6)
    ax_s = ax.twinx()
    ax_s.plot(sl.t, sl.sharpness, color=SHARP_COLOR, lw=1.2)
    ax_s.axhline(2.0 / eta, color=SHARP_COLOR, ls=":", lw=0.8)
    ax_s.set_ylim(*s_range)
    ax_s.tick_params(axis="y", colors=SHARP_COLOR, labelsize=6)
    ax.axvline(0.0, color="k", lw=0.9)
    ax.axvline(prev_position, color="k", lw=0.9, ls=":")
    ax.set_title(title, fontsize=8)
    return ax_s


def _ranges(slices: Sequence[Slice]):
    s = np.concatenate([sl.sharpness for sl in slices])
    loss = np.concatenate([sl.loss for sl in slices])
    return (0.0, 1.05 * s.max()), (0.0, 1.05 * loss.max())


def slices_grid(epochs: Sequence[int], slices: Sequence[Slice], prev_positions: Sequence[float],
                eta: float, labels: Mapping[int, str] | None = None, ncols: int = 6) -> plt.Figure:
    """One panel per epoch: L(θ + t d) (blue, left axis) and S(θ + t d) (red, right axis; dotted:
    2/η) along the normalized gradient d; solid vertical line: the current parameters (t = 0),
    dotted: the projection of the previous ones. Shared axes ranges, so panels compare."""
    n = len(epochs)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 1.9 * nrows), squeeze=False,
                             constrained_layout=True)
    s_range, l_range = _ranges(slices)
    for ax, e, sl, p in zip(axes.flat, epochs, slices, prev_positions):
        label = (labels or {}).get(int(e), "")
        _slice_panel(ax, sl, p, eta, f"epoch {e}" + (f": {label}" if label else ""), s_range, l_range)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("t (along the normalized gradient)", fontsize=7)
    return fig


def cycle_curvatures(epochs: np.ndarray, sharpness: np.ndarray, fit_s: np.ndarray,
                     local_s: np.ndarray, fit_l: np.ndarray, distance: np.ndarray, eta: float,
                     cycle: Cycle) -> plt.Figure:
    """Across the cycle: S(θ) with 2/η and |θ − θ*| (left); the curvature of the S-curve along
    the gradient, at the slice's scale (parabola fit) and inside the activation region (λ'',
    symlog), and the curvature of the L-curve (right). Shaded: the unstable stretch."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.4), constrained_layout=True)
    ax1.plot(epochs, sharpness, "-o", ms=2.5, color=SHARP_COLOR, label=r"$S(\theta)$")
    ax1.axhline(2.0 / eta, color=SHARP_COLOR, ls="--", lw=0.8, label=r"$2/\eta$")
    ax1.set_ylabel(r"$S(\theta)$")
    ax1b = ax1.twinx()
    ax1b.plot(epochs, distance, "-s", ms=2.5, color="0.3", label=r"$|\theta-\theta^*|$")
    ax1b.set_ylabel(r"$|\theta-\theta^*|$ (10-epoch mean)")
    lines = ax1.get_lines() + ax1b.get_lines()
    ax1.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="upper left")
    ax2.plot(epochs, fit_s, "-o", ms=2.5, color=SHARP_COLOR, label="S-curve, slice fit")
    ax2.plot(epochs, local_s, "--", lw=0.9, color="#ff9896", label=r"S-curve, local $\lambda''$")
    ax2.plot(epochs, fit_l, "-s", ms=2.5, color=LOSS_COLOR, label="L-curve, slice fit")
    ax2.set_yscale("symlog", linthresh=1.0)
    ax2.axhline(0, color="k", lw=0.5)
    ax2.set_ylabel("curvature along the gradient")
    ax2.legend(fontsize=7, loc="upper left")
    for ax in (ax1, ax2):
        ax.axvspan(cycle.cross, cycle.back - 1, color="0.85", zorder=0)
        ax.axvline(cycle.peak, color="k", ls=":", lw=0.8)
        ax.set_xlabel("epoch")
    return fig


def figure4(rows: Sequence[Mapping], eta_small: float) -> plt.Figure:
    """S_max against the switch epoch (log axis), one line per η0 (colour ramp), mean over
    seeds with the seeds' min-max as a band and the seeds as points; runs whose S_max reached
    2/η_small (unstable under η_small) are drawn as red crosses and left out of the means."""
    etas = sorted({r["eta0"] for r in rows})
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(etas)))
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    for eta0, color in zip(etas, colors):
        mine = [r for r in rows if r["eta0"] == eta0]
        switches = sorted({r["switch"] for r in mine})
        means, lows, highs, xs = [], [], [], []
        for sw in switches:
            vals = [r["s_max"] for r in mine if r["switch"] == sw and r["stable"]]
            if vals:
                xs.append(sw)
                means.append(np.mean(vals))
                lows.append(np.min(vals))
                highs.append(np.max(vals))
        ax.plot(xs, means, "-o", color=color, ms=4, label=rf"$\eta_0$ = {eta0:g}")
        ax.fill_between(xs, lows, highs, color=color, alpha=0.2, lw=0)
        for r in mine:
            if r["stable"]:
                ax.plot(r["switch"], r["s_max"], ".", color=color, ms=3)
            elif np.isfinite(r["s_max"]):
                ax.plot(r["switch"], r["s_max"], "x", color="#d62728", ms=6, mew=1.5)
    ax.axhline(2.0 / eta_small, color="#d62728", ls="--", lw=0.8,
               label=rf"$2/\eta_{{small}}$ = {2.0 / eta_small:g}")
    ax.set_xscale("log")
    switches = sorted({r["switch"] for r in rows})
    ax.set_xticks(switches, [str(w) for w in switches])
    ax.minorticks_off()
    ax.set_xlabel(r"epoch of the switch to $\eta_{small}$")
    ax.set_ylabel(r"eventual maximum sharpness $S(\theta)_{\max}$")
    ax.legend(fontsize=7)
    return fig

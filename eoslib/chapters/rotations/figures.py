"""Figure 2 and Figure 8: eigenvector rotations through instabilities of an MLP at the edge of stability."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.gridspec import GridSpec

from eoslib.chapters.rotations.resolution import Resolution
from eoslib.instability import Instability, SimilarityToBaseline

SNAPSHOT_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def _training_panel(ax_loss, loss, sharpness, sharpness_epochs, eta, snapshots):
    ax_loss.semilogy(np.arange(len(loss)), loss, color="k", lw=0.8, label=r"$L(\theta)$")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel(r"training loss $L(\theta)$")
    ax_s = ax_loss.twinx()
    ax_s.plot(sharpness_epochs, sharpness, color="#d62728", lw=0.8, label=r"$S(\theta)$")
    ax_s.axhline(2.0 / eta, color="#d62728", ls="--", lw=1, label=r"$2/\eta$")
    ax_s.set_ylabel(r"sharpness $S(\theta)$", color="#d62728")
    for i, snap in enumerate(snapshots):
        ax_loss.axvspan(snap.start, snap.end, color=SNAPSHOT_COLORS[i], alpha=0.25)
        ax_loss.text(snap.peak, ax_loss.get_ylim()[1], f"#{i + 1}", ha="center", va="bottom", fontsize=8)
    lines = ax_loss.get_lines()[:1] + ax_s.get_lines()
    ax_loss.legend(lines, [ln.get_label() for ln in lines], fontsize=7, loc="upper right")


def figure2(loss: np.ndarray, sharpness: np.ndarray, sharpness_epochs: np.ndarray, eta: float,
            snapshots: Sequence[Instability], top: Sequence[SimilarityToBaseline],
            bottom: Sequence[Mapping[int, SimilarityToBaseline]]) -> plt.Figure:
    """Left: ``L`` and ``S`` with ``2/eta`` and the snapshot windows (shaded). Top row: for each
    snapshot, the similarity of the k-th eigenvector (coloured, viridis from k = 1) and of the
    top subspace (black) to the baseline. Bottom row: the subspace similarity after reducing the
    learning rate at the epochs given as keys of ``bottom[i]`` (key ``-1``: no reduction, black).
    """
    n = len(snapshots)
    fig = plt.figure(figsize=(4.2 * (n + 1.4), 7.2), constrained_layout=True)
    grid = GridSpec(2, n + 1, figure=fig, width_ratios=[1.4] + [1] * n)
    _training_panel(fig.add_subplot(grid[:, 0]), loss, sharpness, sharpness_epochs, eta, snapshots)
    for i, (snap, sim, reductions) in enumerate(zip(snapshots, top, bottom)):
        ax = fig.add_subplot(grid[0, i + 1])
        k = sim.cosines.shape[1]
        colors = plt.cm.viridis(np.linspace(0, 0.9, k))
        for j in range(k):
            ax.plot(sim.epochs, sim.cosines[:, j], "-o", ms=2.5, lw=1, color=colors[j], label=f"$v_{{{j + 1}}}$")
        ax.plot(sim.epochs, sim.subspace, "-o", ms=3, lw=2, color="k", label="top-3 subspace")
        _mark(ax, snap)
        ax.set_title(f"instability #{i + 1} (epochs {snap.start}-{snap.end})", fontsize=9)
        ax.set_ylabel("similarity to baseline" if i == 0 else "")
        if i == n - 1:
            ax.legend(fontsize=6, ncol=2, loc="lower left")
        axb = fig.add_subplot(grid[1, i + 1], sharex=ax)
        cmap = plt.cm.autumn(np.linspace(0, 0.8, max(1, len(reductions) - 1)))
        shade = iter(cmap)
        for epoch, red in sorted(reductions.items()):
            if epoch < 0:
                axb.plot(red.epochs, red.subspace, "-o", ms=3, lw=2, color="k", label=r"constant $\eta$")
            else:
                c = next(shade)
                axb.plot(red.epochs, red.subspace, "-o", ms=3, lw=1.2, color=c, label=f"reduce at {epoch}")
                axb.axvline(epoch, color=c, lw=0.8, ls=":")
        _mark(axb, snap)
        axb.set_xlabel("epoch")
        axb.set_ylabel("top-3 subspace similarity" if i == 0 else "")
        axb.legend(fontsize=6, loc="lower left")
    return fig


def figure8(snapshots: Sequence[Instability], by_period: Sequence[Mapping[int, SimilarityToBaseline]]) -> plt.Figure:
    """For each snapshot, the top-subspace similarity to the baseline at comparison periods T."""
    n = len(snapshots)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 3.4), constrained_layout=True, squeeze=False)
    for i, (snap, sims) in enumerate(zip(snapshots, by_period)):
        ax = axes[0, i]
        for period, sim in sorted(sims.items()):
            ax.plot(sim.epochs, sim.subspace, marker="o", ms=3, lw=2.2 if period % 2 == 0 else 1.0,
                    ls="-" if period % 2 == 0 else "--", label=f"T = {period}")
        _mark(ax, snap)
        ax.set_title(f"instability #{i + 1}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("top-3 subspace similarity" if i == 0 else "")
        ax.legend(fontsize=7)
    return fig


def _mark(ax, snap: Instability) -> None:
    ax.axvline(snap.peak, color="grey", lw=0.8, ls="--")
    ax.axvspan(snap.start, snap.peak, color="#d62728", alpha=0.06)
    ax.set_ylim(-0.03, 1.03)


def resolution_figure(scan: Sequence[tuple[float, Resolution]], cycles: Sequence[Resolution],
                      dln_runs: Sequence[tuple[float, Resolution | None]], sharp_steps: int) -> plt.Figure:
    """§3.2's smooth versus sharp resolution (:mod:`eoslib.chapters.rotations.resolution`): the GD steps of the fall
    of S back below 2/η against the excess η S_peak / 2 where it starts, for the DLN over a scan
    of rates (small dots), at Figure 1's rates (stars), and for every cycle of the MLP runs (dots,
    jittered vertically); dashed: ``sharp_steps``."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.plot([r.excess for _, r in scan], [r.steps for _, r in scan], ".", color="C0", ms=4, label="DLN (rate scan)")
    done = [(eta, r) for eta, r in dln_runs if r is not None]
    ax.plot([r.excess for _, r in done], [r.steps for _, r in done], "*", color="C0", ms=11,
            label="DLN at Figure 1's rates")
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(cycles))
    ax.plot([r.excess for r in cycles], np.array([r.steps for r in cycles]) + jitter, "o", color="C3", ms=3.5,
            alpha=0.6, label="MLP cycles")
    ax.axhline(sharp_steps, ls="--", color="grey", lw=0.8)
    ax.set(xlabel="excess $\\eta S_{peak} / 2$ where the fall starts", ylabel="steps of the fall", yscale="log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

"""Figures 9 and 10: phases of |θ − θ*| with the sharpening factor α, and interventions along
unstable directions against the gradient-flow reference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from eoslib.chapters.drivers.experiment import Phase
from eoslib.chapters.drivers.interventions import Trajectory

PANELS = (("suppress", r"(a) $\eta_u = 0$ along unstable directions"),
          ("stabilize", r"(b) effective stability, $\eta_u \lambda < 2$"),
          ("restrict", r"(c) updates only along the top-$k$ directions"),
          ("none", r"constant $\eta$ (no intervention)"))


def figure9(epochs: np.ndarray, distance: np.ndarray, loss: np.ndarray, sharpness: np.ndarray,
            alpha: np.ndarray, eta: float, maxima: Sequence[int], minima: Sequence[int],
            phases: Sequence[Phase]) -> plt.Figure:
    """Stacked panels over ``epochs`` (T,): |θ − θ*| with its turning points (maxima red,
    minima blue, growing phases shaded), L, S with 2/η, and α (all (T,))."""
    fig, axes = plt.subplots(4, 1, figsize=(10, 8.5), sharex=True, constrained_layout=True)
    ax = axes[0]
    ax.semilogy(epochs, distance, color="k", lw=0.9)
    inside = lambda es: [e for e in es if epochs[0] <= e <= epochs[-1]]  # noqa: E731
    for e in inside(maxima):
        for a in axes:
            a.axvline(e, color="#d62728", lw=0.6, alpha=0.6)
    for e in inside(minima):
        for a in axes:
            a.axvline(e, color="#1f77b4", lw=0.6, ls="--", alpha=0.6)
    for p in phases:
        if p.growing and p.end >= epochs[0]:
            ax.axvspan(max(p.start, epochs[0]), p.end, color="#ffbb78", alpha=0.3, lw=0)
    ax.set_ylabel(r"$|\theta - \theta^*|$")
    axes[1].semilogy(epochs, loss, color="k", lw=0.9)
    axes[1].set_ylabel(r"$L(\theta)$")
    axes[2].plot(epochs, sharpness, color="#d62728", lw=0.9)
    axes[2].axhline(2.0 / eta, color="k", ls=":", lw=1, label=r"$2/\eta$")
    axes[2].set_ylabel(r"$S(\theta)$")
    axes[2].legend(fontsize=8, loc="upper left")
    axes[3].plot(epochs, alpha, color="#9467bd", lw=0.9)
    axes[3].axhline(0, color="k", lw=0.6)
    axes[3].set_yscale("symlog", linthresh=max(1.0, float(np.percentile(np.abs(alpha), 20))))
    axes[3].set_ylabel(r"$\alpha = -\nabla L \cdot \nabla S$")
    axes[3].set_xlabel("epoch")
    return fig


def figure10(starts: Sequence[int], suites: Sequence[Mapping[str, Trajectory]], eta: float) -> plt.Figure:
    """One column per instability (its start epoch in ``starts``), one row per intervention:
    the top-k eigenvalues (thin, S bold) against gradient-flow time in epochs at ``eta``
    (τ / η), the gradient-flow reference's S dashed and 2/η dotted."""
    n = len(suites)
    fig, axes = plt.subplots(len(PANELS), n, figsize=(3.6 * n + 1, 2.4 * len(PANELS)), squeeze=False,
                             sharex="col", constrained_layout=True)
    for j, (start, suite) in enumerate(zip(starts, suites)):
        ref = suite["reference"]
        for i, (rule, title) in enumerate(PANELS):
            ax, tr = axes[i, j], suite[rule]
            t = start + tr.time / eta
            k = tr.values.shape[1]
            colors = plt.cm.viridis(np.linspace(0, 0.9, k))
            for m in range(k - 1, 0, -1):
                ax.plot(t, tr.values[:, m], color=colors[m], lw=0.7)
            ax.plot(t, tr.values[:, 0], color=colors[0], lw=1.8, label=r"$S(\theta)$")
            ax.plot(start + ref.time / eta, ref.values[:, 0], "k--", lw=1.2, label="gradient flow")
            ax.axhline(2.0 / eta, color="k", ls=":", lw=0.8)
            if j == 0:
                ax.set_ylabel(title, fontsize=8)
            if i == 0:
                ax.set_title(f"instability at epoch {start}", fontsize=9)
            if i == len(PANELS) - 1:
                ax.set_xlabel(r"epoch ($t_0 + \tau/\eta$)")
    axes[0, -1].legend(fontsize=7, loc="upper left")
    return fig

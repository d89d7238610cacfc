"""Figures 5a and 12a: validation accuracy at completion against the learning rate, the
sharpness at completion and the eigenvector similarity ρ."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def _colors(rates):
    ramp = plt.cm.plasma(np.linspace(0.0, 0.9, len(rates)))  # purple to yellow, as in the paper
    return dict(zip(rates, ramp))


def figure5a(rows: Sequence[Mapping], threshold: float | None) -> plt.Figure:
    """Validation accuracy at the end of training against η0 (log axis): seeds as markers
    (x below the threshold, o above), their mean as a line, the threshold dotted; seeds that
    failed (diverged or died) are left out, rates where some did are marked by orange ticks at
    the bottom, rates where all did by red ones."""
    rates = sorted({r["eta0"] for r in rows})
    color = _colors(rates)
    fig, ax = plt.subplots(figsize=(7.0, 4.0), constrained_layout=True)
    means = []
    for eta in rates:
        mine = [r for r in rows if r["eta0"] == eta]
        live = [r for r in mine if not r["failed"]]
        marker = "o" if threshold is not None and eta >= threshold else "x"
        for r in live:
            ax.plot(eta, 100 * r["val_acc"], marker, color=color[eta], ms=4, mfc="none" if marker == "o" else None)
        means.append(np.mean([100 * r["val_acc"] for r in live]) if live else np.nan)
        if len(live) < len(mine):
            ax.plot(eta, 0, "|", color="#d62728" if not live else "#ff7f0e", ms=10 if not live else 6,
                    transform=ax.get_xaxis_transform())
    ax.plot(rates, means, "-", color="0.2", lw=1.2, label="mean over seeds")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls=":", lw=1, label=rf"threshold $\eta$ = {threshold:g}")
    ax.set_xscale("log")
    ax.set_xlabel(r"learning rate $\eta_0$")
    ax.set_ylabel("validation accuracy at completion (%)")
    ax.legend(fontsize=7, loc="lower left")
    return fig


def figure12a(rows: Sequence[Mapping], correlations: Mapping[str, tuple[float, tuple[float, float]]]) -> plt.Figure:
    """Validation accuracy against η0, S at completion and ρ (one panel each, colour: η0),
    titled with Spearman's ρ with the validation error and its bootstrap interval."""
    rates = sorted({r["eta0"] for r in rows})
    color = _colors(rates)
    live = [r for r in rows if not r["failed"]]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True, sharey=True)
    for ax, (key, label) in zip(axes, [("eta0", r"$\eta_0$"), ("sharpness", r"$S(\theta)$ at completion"),
                                       ("rho", r"$\rho$ (top-3 similarity)")]):
        ax.scatter([r[key] for r in live], [100 * r["val_acc"] for r in live],
                   c=[color[r["eta0"]] for r in live], s=10)
        rho, (lo, hi) = correlations[key]
        ax.set_title(f"Spearman with val. error: {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]", fontsize=9)
        ax.set_xlabel(label)
        if key != "rho":
            ax.set_xscale("log")
    axes[0].set_ylabel("validation accuracy (%)")
    return fig

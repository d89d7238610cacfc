"""Chapter 9's figure: the learning-rate grid under the squared loss beside cross-entropy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

LOSS_COLORS = {"cross-entropy": "#1f77b4", "squared loss": "#d62728"}


def _per_rate(rows: Sequence[Mapping], key: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
    """Rates and the mean of ``key`` over the seeds of each rate that did not fail (NaN: none)."""
    rates = sorted({r["eta0"] for r in rows})
    means = []
    for eta in rates:
        live = [scale * r[key] for r in rows if r["eta0"] == eta and not r["failed"] and r[key] is not None]
        means.append(float(np.mean(live)) if live else np.nan)
    return rates, means


def compare_grids(grids: Mapping[str, tuple[Sequence[Mapping], float | None]]) -> plt.Figure:
    """Two panels against η0 (log axis), one line per loss (``grids``: loss name -> (rows of
    :func:`eoslib.grid.summary_rows`, threshold)): (a) the mean validation accuracy at
    completion, (b) the mean sharpness at the last epoch with 2/η0 (grey); dotted: each loss's
    threshold. Seeds that failed (diverged or died) are left out of the means."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    for name, (rows, threshold) in grids.items():
        color = LOSS_COLORS.get(name)
        rates, acc = _per_rate(rows, "val_acc", 100.0)
        a.plot(rates, acc, "o-", ms=3, color=color, label=name)
        rates, sharp = _per_rate(rows, "sharpness")
        b.plot(rates, sharp, "o-", ms=3, color=color, label=name)
        for ax in (a, b):
            if threshold is not None:
                ax.axvline(threshold, color=color, ls=":", lw=1)
    every = sorted({r["eta0"] for rows, _ in grids.values() for r in rows})
    b.plot(every, [2 / e for e in every], color="0.6", lw=1, label=r"$2/\eta_0$")
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_xlabel(r"learning rate $\eta_0$")
        ax.legend(fontsize=7)
    b.set_yscale("log")
    a.set_ylabel("mean validation accuracy at completion (%)")
    b.set_ylabel(r"mean $S(\theta)$ at the last epoch")
    a.set_title("(a) generalization", fontsize=9)
    b.set_title("(b) sharpness at the end of training", fontsize=9)
    return fig

"""Appendix F's figure: Figure 5a's grid with each initialization."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from eoslib.grid import summary_rows

__all__ = ["grids_by_init"]


def grids_by_init(grids: Mapping[str, Sequence[dict]]):
    """Two panels over η0 (log scale), one line per initialization: the fraction of the seeds
    that did not fail whose S reached 2/η0 (left) and the mean validation accuracy of those
    seeds (right). ``grids``: records by initialization name. Returns the figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, records in grids.items():
        rows = [r for r in summary_rows(records) if not r["failed"]]
        rates = sorted({r["eta0"] for r in rows})
        at = [[r for r in rows if r["eta0"] == e] for e in rates]
        left.plot(rates, [np.mean([r["reached"] for r in m]) for m in at], marker="o", ms=3, label=name)
        right.plot(rates, [100 * np.mean([r["val_acc"] for r in m]) for m in at], marker="o", ms=3, label=name)
    for ax, label in ((left, "fraction of seeds with S ≥ 2/η0"), (right, "mean validation accuracy (%)")):
        ax.set_xscale("log")
        ax.set_xlabel("η0")
        ax.set_ylabel(label)
        ax.axvline(0.01, color="grey", lw=0.8, ls=":")
        ax.legend(title="initialization")
    fig.tight_layout()
    return fig

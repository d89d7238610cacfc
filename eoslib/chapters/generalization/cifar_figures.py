"""Figures 6 and 13 of the CIFAR-10 chapter (Figures 5b and 12b-c are
:func:`eoslib.chapters.generalization.figures.figure5a` / ``figure12a`` on the VGG10 rows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from eoslib.chapters.generalization.figures import _colors


def figure6(rows: Sequence[Mapping], constant: Sequence[Mapping]) -> plt.Figure:
    """Sharpness at completion (left) and validation accuracy (right) against the epoch at which
    η0 was switched to η_small, one line per (η0, seed) (colour: η0); the same η0 and seed run at
    constant η0 (never switched) as a star at its completion epoch. Failed models left out."""
    rates = sorted({r["eta0"] for r in rows})
    color = _colors(rates)
    fig, (ax_s, ax_a) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for key in sorted({(r["eta0"], r["seed"]) for r in rows}):
        mine = sorted((r for r in rows if (r["eta0"], r["seed"]) == key and not r["failed"]),
                      key=lambda r: r["reduce_epoch"])
        ref = [r for r in constant if (r["eta0"], r["seed"]) == key and not r["failed"]]
        for ax, k, scale in ((ax_s, "sharpness", 1), (ax_a, "val_acc", 100)):
            ax.plot([r["reduce_epoch"] for r in mine], [scale * r[k] for r in mine], "o-", color=color[key[0]],
                    ms=4, lw=1, label=rf"$\eta_0$ = {key[0]:g}, seed {key[1]}")
            for r in ref:
                ax.plot(r["epochs"], scale * r[k], "*", color=color[key[0]], ms=9)
    ax_s.set_ylabel(r"$S(\theta)$ at completion")
    ax_a.set_ylabel("validation accuracy at completion (%)")
    for ax in (ax_s, ax_a):
        ax.set_xlabel(r"epoch of the switch to $\eta_{small}$ (star: never switched, at its completion epoch)")
    ax_s.legend(fontsize=7)
    return fig


def figure13(groups: Sequence[Mapping]) -> plt.Figure:
    """Within-rate rank correlations with validation accuracy (left ρ, right S) against η0, one
    point per group of seeds, the mean of each phase dashed, the phase boundary dotted."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True, sharey=True)
    extreme = [g["eta0"] for g in groups if g["phase"] == "extreme"]
    for ax, key, label in zip(axes, ("rho", "sharpness"), (r"$\rho$", r"$S(\theta)$")):
        for phase, style in (("eos", "C0"), ("extreme", "C3")):
            mine = [g for g in groups if g["phase"] == phase]
            if mine:
                values = np.array([g[key] for g in mine])
                ax.plot([g["eta0"] for g in mine], values, "o", color=style, ms=5)
                if np.isfinite(values).any():
                    ax.axhline(np.nanmean(values), color=style, ls="--", lw=1)
        if extreme:
            ax.axvline(min(extreme), color="k", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel(r"learning rate $\eta_0$")
        ax.set_title(f"{label}: rank correlation with accuracy", fontsize=9)
    axes[0].set_ylabel("Spearman correlation (group of seeds)")
    return fig

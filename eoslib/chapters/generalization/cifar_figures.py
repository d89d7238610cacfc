"""Figures 6 and 13 of the CIFAR-10 chapter (Figures 5b and 12b-c are
:func:`eoslib.chapters.generalization.figures.figure5a` / ``figure12a`` on the VGG10 rows)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
    if rows:  # no switched run stored yet: no line to name (and no legend warning in the notebook)
        ax_s.legend(fontsize=7)
    else:
        ax_s.text(0.5, 0.5, "no switched run stored yet", transform=ax_s.transAxes, ha="center")
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


def figure13_caption(groups: Sequence[Mapping], means: Mapping[str, tuple], P: Mapping[str, Any], scale: str,
                     profile: str, scale_group_size: int, scale_group_stored: int, scale_group_rates,
                     missing: int = 0) -> str:
    """Figure 13's caption (Markdown): what was run and the mean within-group correlations
    (``means``: ``"rho"`` / ``"sharpness"`` -> (mean, (low, high))), or why nothing was
    (``missing``: the group's runs the store does not hold yet), and the paper's values."""
    head = (f"**Figure 13 ({scale} scale). Rank correlation with validation accuracy within groups of "
            f"{P['group_size']} seeds that share $\\eta_0$.** ")
    if groups:
        body = (f"VGG10 at $\\eta_0 \\in$ {P['group_rates']}, seeds {P['seed']}–{P['seed'] + P['group_size'] - 1}, "
                f"first {P['n_train']} training / {P['n_eval']} validation images, the runs of Figure 5b (warm-up, "
                f"completion) with the top-3 eigenpairs every {P['group_eig_every']} epochs from epoch "
                f"{P['group_eig_start']}, so that every model has its ρ anchor; {len(groups)} group(s), profile "
                f"`{profile}`. Left: Spearman's correlation of the validation accuracy with ρ, right: with the "
                f"sharpness at completion; dashed: the phase's mean. Means (95 % bootstrap interval, models "
                f"resampled within their group): ρ {means['rho'][0]:+.2f} [{means['rho'][1][0]:+.2f}, "
                f"{means['rho'][1][1]:+.2f}], S {means['sharpness'][0]:+.2f} [{means['sharpness'][1][0]:+.2f}, "
                f"{means['sharpness'][1][1]:+.2f}]. ")
    elif not P["group_rates"]:
        body = (f"Not run in this profile (`group_rates` = []): the {P['scale']} scale's group, {scale_group_size} "
                f"runs at $\\eta_0 \\in$ {list(scale_group_rates)}, has {scale_group_stored} in the store; "
                "`tools/fill_store.py cifar-generalization --figures 13` fills it. ")
    elif missing:
        body = (f"Not complete yet: the store holds {scale_group_stored} of the {scale_group_size} runs at "
                f"$\\eta_0 \\in$ {P['group_rates']} (a fill in progress; {missing} missing). ")
    else:
        body = f"No rate of {P['group_rates']} has {P['group_size']} models that did not fail. "
    return head + body + ("The paper (VGG10, 5k images, its Figure 13b): EoS phase ρ −0.40, S +0.56; extremely "
                          "large η: ρ −0.03, S −0.27.")

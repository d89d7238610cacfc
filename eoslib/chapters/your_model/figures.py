"""Figures and tables of the chapter "Edge-of-stability diagnostics for your own model", drawn
from the records of :func:`eoslib.diagnostics.train`."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["gd_and_adam", "cost_table"]


def gd_and_adam(gd: Mapping, adam: Mapping, gd_limit: float, adam_limit: float, threshold: float):
    """Four panels. GD: the training loss (a); the tracked eigenvalues (every one above
    ``threshold`` plus one below, :func:`eoslib.tracking.track_above`) with 2/η and the
    threshold (b); how many are tracked and how many lie above (c). Adam: the plain sharpness
    λ_max(H) and the effective sharpness λ_max(P⁻¹H) against Adam's limit (d, log scale).
    Returns the figure."""
    fig, ax = plt.subplots(2, 2, figsize=(11, 6.4))
    (a, b), (c, d) = ax
    a.plot(gd["loss"], lw=0.8)
    a.set(yscale="log", xlabel="step", ylabel="training loss", title="(a) GD: loss")
    steps = gd["eig_step"]
    for j in range(gd["values"].shape[1]):
        b.plot(steps, gd["values"][:, j], ".", ms=3, color=f"C{min(j, 9)}")
    b.axhline(gd_limit, color="k", ls="--", lw=0.8, label="2/η")
    b.axhline(threshold, color="grey", ls=":", lw=0.8, label="tracking threshold")
    b.set(xlabel="step", ylabel="Hessian eigenvalue", title="(b) GD: tracked eigenvalues")
    b.legend(fontsize=8)
    c.step(steps, gd["tracked"], where="post", label="tracked")
    c.step(steps, gd["above"], where="post", label="above the threshold")
    c.set(xlabel="step", ylabel="pairs", title="(c) GD: threshold-driven tracking")
    c.legend(fontsize=8)
    d.plot(adam["eig_step"], adam["sharpness"], "o-", ms=3, lw=0.8, label="λ_max(H)")
    d.plot(adam["eig_step"], adam["effective"], "o-", ms=3, lw=0.8, label="λ_max(P⁻¹H)")
    d.axhline(adam_limit, color="k", ls="--", lw=0.8, label="Adam's limit (2+2β1)/((1−β1)η)")
    d.set(yscale="log", xlabel="step", ylabel="eigenvalue", title="(d) Adam: plain and effective sharpness")
    d.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cost_table(runs: Mapping[str, Mapping]) -> str:
    """A Markdown table of each run's eigensolve cost: optimizer steps, solves (plain and, with
    a preconditioner, effective), Hessian-vector products in all, per solve (mean and largest)
    and per optimizer step, and the certified fraction."""
    lines = ["| run | optimizer steps | solves | HVPs | HVPs per solve (mean, max) | HVPs per step | certified |",
             "|---|---|---|---|---|---|---|"]
    for name, out in runs.items():
        hvps = np.asarray(out["hvps"])
        certified = np.asarray(out["certified"])
        solves, total = hvps.size, int(hvps.sum())
        if "effective_hvps" in out:
            eff = np.asarray(out["effective_hvps"])[np.asarray(out["eig_step"]) > 0]
            hvps = np.concatenate([hvps, eff])
            certified = np.concatenate([certified, np.asarray(out["effective_certified"])[np.asarray(out["eig_step"]) > 0]])
            solves, total = solves + eff.size, total + int(eff.sum())
        steps = len(out["loss"]) - 1
        lines.append(f"| {name} | {steps} | {solves} | {total:,} | {hvps.mean():.1f}, {hvps.max()} | "
                     f"{total / steps:.1f} | {certified.mean():.0%} |")
    return "\n".join(lines)

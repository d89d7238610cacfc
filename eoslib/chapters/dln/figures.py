"""Figure 1: regimes of gamma_beta, the DLN loss landscape, and eigenvector orientations."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from eoslib import dln

COLORS = ("#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd", "#8c564b", "#e377c2")


def figure1(
    theta0: np.ndarray,
    etas: Sequence[float],
    trajectories: Sequence[dln.Trajectory],
    z: dln.EvenPolynomial,
    eta_grid: np.ndarray,
    gamma_grid: np.ndarray,
    max_steps_shown: int = 60,
) -> plt.Figure:
    """Three panels of Figure 1.

    Left: ``gamma_beta`` (eq. 2) against ``eta`` at ``theta0`` (``eta_grid``, ``gamma_grid``
    of equal shape), with the asymptotes, ``eta_{gamma_beta=1}`` and the stable (``gamma_beta > 1``)
    and unstable (``gamma_beta < 1``) regimes shaded. Middle: ``log10 z(theta_1 theta_2)`` with
    the trajectories and, on the valley ``theta_1 = 0``, the edge of each ``eta``'s stable
    minima (``lambda_max = 2/eta``); ``theta_1`` on a symmetric-log axis so that small
    oscillations show. Right: the orientation of the sharpest eigenvector ``v_1 = (u_11, u_12)``,
    the angle ``arctan(|u_12| / |u_11|)`` to the ``theta_1`` axis, over the first
    ``max_steps_shown`` steps (log scale: it is monotone in ``1/R_2``).
    """
    fig, (ax_g, ax_l, ax_v) = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    _gamma_panel(ax_g, theta0, etas, z, eta_grid, gamma_grid)
    _landscape_panel(fig, ax_l, theta0, etas, trajectories, z)
    _orientation_panel(ax_v, etas, trajectories, max_steps_shown)
    return fig


def _gamma_panel(ax_g, theta0, etas, z, eta_grid, gamma_grid) -> None:
    """Figure 1, left: the regimes of γ_β (:func:`figure1`)."""
    th = dln.thresholds(np.asarray(theta0), z)
    ax_g.plot(eta_grid, gamma_grid, color="k", lw=1.5, label=r"$\gamma_\beta$ (eq. 2)")
    ax_g.axhline(1.0, color="grey", lw=0.8)
    lo, hi = eta_grid.min(), eta_grid.max()
    ax_g.axvspan(lo, float(th.eta_gamma_one), color="#2ca02c", alpha=0.08, label=r"stable: $\gamma_\beta>1$")
    ax_g.axvspan(float(th.eta_gamma_one), hi, color="#d62728", alpha=0.08, label=r"unstable: $\gamma_\beta<1$")
    ax_g.axvline(float(th.eta_asymptote_low), color="k", ls="--", lw=1,
                 label=r"asymptote $\eta z'=\theta_1/\theta_2$")
    ax_g.axvline(float(th.eta_gamma_one), color="#d62728", lw=1.2,
                 label=r"$\eta_{\gamma_\beta=1}=\eta_{eos}(1-\xi)$")
    ax_g.axvline(float(th.eta_eos), color="#1f77b4", ls=":", lw=1.2, label=r"$\eta_{eos}$")
    for eta, color in zip(etas, COLORS):
        g = float(dln.update_ratio_approx(eta, np.asarray(theta0), z))
        ax_g.plot([eta], [g], "o", color=color, ms=7, mec="k", label=fr"$\eta={eta:g}$")
    ax_g.set_yscale("log")
    ax_g.set_xlim(lo, hi)
    ax_g.set_xlabel(r"learning rate $\eta$")
    ax_g.set_ylabel(r"$\gamma_\beta$ at initialization")
    ax_g.set_title(r"Regimes of $\gamma_\beta$")
    ax_g.legend(fontsize=7, loc="upper right")
    ax_g.ticklabel_format(axis="x", style="sci", scilimits=(-2, 2))


def _landscape_panel(fig, ax_l, theta0, etas, trajectories, z) -> None:
    """Figure 1, middle: the loss landscape and the trajectories (:func:`figure1`)."""
    all_theta = np.concatenate([np.asarray(t.theta) for t in trajectories])
    t1max = 1.15 * max(np.abs(all_theta[:, 0]).max(), abs(theta0[0]))
    t2lo, t2hi = all_theta[:, 1].min(), all_theta[:, 1].max()
    pad = 0.08 * (t2hi - t2lo)
    g1, g2 = np.meshgrid(np.linspace(-t1max, t1max, 300), np.linspace(t2lo - pad, t2hi + pad, 300))
    zz = np.asarray(z(g1 * g2))
    cs = ax_l.contourf(g1, g2, np.maximum(zz, 1e-8), levels=np.logspace(-8, np.log10(zz.max()), 25),
                       norm=LogNorm(), cmap="Greys", alpha=0.6)
    fig.colorbar(cs, ax=ax_l, label=r"$L=z(\theta_1\theta_2)$", format="%.0e")
    for eta, traj, color in zip(etas, trajectories, COLORS):
        th_t = np.asarray(traj.theta)
        ax_l.plot(th_t[:, 0], th_t[:, 1], "-o", color=color, ms=2.5, lw=0.4, label=fr"$\eta={eta:g}$")
        edge = _stable_valley_edge(eta, z)
        if edge is not None and t2lo - pad < edge < t2hi + pad:
            ax_l.plot([-0.06 * t1max, 0.06 * t1max], [edge, edge], color=color, lw=3)
    ax_l.plot([theta0[0]], [theta0[1]], "k*", ms=12, label="initialization")
    ax_l.set_xscale("symlog", linthresh=0.05, linscale=0.5)
    ax_l.set_xticks([t for t in (-1.0, -0.1, 0.0, 0.1, 1.0) if abs(t) <= t1max])
    ax_l.set_xticklabels([f"{t:g}" for t in (-1.0, -0.1, 0.0, 0.1, 1.0) if abs(t) <= t1max])
    ax_l.set_xlabel(r"$\theta_1$ (sharper parameter; symmetric log scale)")
    ax_l.set_ylabel(r"$\theta_2$")
    ax_l.set_title("Loss landscape and GD trajectories\n(bars: largest stable minimum for each $\\eta$)")
    ax_l.legend(fontsize=7, loc="lower right")


def _orientation_panel(ax_v, etas, trajectories, max_steps_shown: int) -> None:
    """Figure 1, right: the orientation of v_1 along each trajectory (:func:`figure1`)."""
    for eta, traj, color in zip(etas, trajectories, COLORS):
        v = np.abs(np.asarray(traj.top_vector))
        angle = np.degrees(np.arctan2(v[:, 1], v[:, 0]))
        steps = np.arange(angle.size)
        ax_v.semilogy(steps, angle, "-o", color=color, ms=2, lw=0.8, label=fr"$\eta={eta:g}$")
    ax_v.set_ylim(1e-3, 90)
    ax_v.set_xlim(0, max_steps_shown)
    ax_v.set_xlabel("GD step")
    ax_v.set_ylabel(r"angle between $v_1$ and the $\theta_1$ axis (degrees)")
    ax_v.set_title(r"Orientation of the sharpest eigenvector $v_1$" "\n(up: away from $\\theta_1$, down: towards it)")
    ax_v.legend(fontsize=7, loc="upper right")


def _stable_valley_edge(eta: float, z: dln.EvenPolynomial) -> float | None:
    """``theta_2 > 0`` where the minimum ``(0, theta_2)`` has ``lambda_max = z''(0) theta_2^2 = 2/eta``."""
    curvature = float(z.d2(np.float64(0.0)))
    return None if curvature <= 0 else float(np.sqrt(2.0 / (eta * curvature)))


def eq2_accuracy(errors: dict[str, tuple[list[float], dict]], scales: Sequence[float], mixed: str) -> plt.Figure:
    """Eq. 2 against one real GD step (:func:`eoslib.chapters.dln.experiment.eq2_errors`).
    ``errors``: label of z -> its ``(worst, curves)``; left, the curves of the ``mixed`` z, one
    per |Θ|; right, each z's worst relative error against |Θ| (floored at 1e-17)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), constrained_layout=True)
    for c, (x, ratio) in errors[mixed][1].items():
        left.plot(x, ratio, label=f"$|\\Theta|={c:.2g}$")
    for label, (worst, _) in errors.items():
        right.loglog(scales, np.maximum(worst, 1e-17), "o-", label=label)
    left.set_xlabel(r"$\eta z'$")
    left.set_ylabel(r"eq. 2 / exact one-step $\gamma_\beta$")
    left.set_title(r"$z=\Theta^2+\Theta^4$: eq. 2 against one real GD step")
    left.legend(fontsize=7)
    right.set_xlabel(r"$|\Theta|$")
    right.set_ylabel(r"max over $\eta$ of |eq. 2 / exact $- 1$|")
    right.set_title("Approximation error of eq. 2")
    right.legend(fontsize=7)
    return fig

"""Diagonal linear networks (DLNs): the paper's model of one multiplicative term.

A DLN with parameters ``theta = (theta_1, ..., theta_n)`` outputs the product
``Theta = prod_i theta_i`` and is trained on the loss ``L = z(Theta)`` for an
even-degree convex polynomial ``z`` with its unique minimum at ``Theta = 0``
(Section 3.1). This module holds the closed forms of Section 3.1-3.2 and
Appendices B-C together with gradient-descent trajectories, so that the book can
check every formula against autodiff and ``eigh``.

Conventions (the paper's): for ``n = 2``, ``theta_1`` is the *sharper* parameter,
``theta_2**2 > theta_1**2`` (the loss is more sensitive to ``theta_1``). ``z'`` and
``z''`` are derivatives with respect to ``Theta``. All functions are pure ``jnp``
and run in float64 when ``jax_enable_x64`` is on.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from eoslib.report import Claim

__all__ = ["appendix_c_checks", "EvenPolynomial", "monomial", "output", "loss", "hessian", "eigenvalues_2d", "beta",
           "rotation_ratio", "top_eigenvector", "rotation_ratio_numerical", "gradient", "gd_step",
           "Thresholds", "s_factor", "xi", "thresholds", "update_ratio_approx",
           "update_ratio_exact", "Trajectory", "gd_trajectory", "psi", "approximate_top_vector",
           "rotation_ratio_eq14", "deviation_sum", "PhaseSteps", "phase_steps", "claim_phases"]

Array = jax.Array


class EvenPolynomial(NamedTuple):
    """``z(Theta) = sum_k coeffs[k-1] * Theta**(2k)``, ``k = 1..K``.

    With non-negative coefficients (not all zero) this is a non-negative convex
    polynomial with a unique minimum at ``Theta = 0``: the class of losses of
    Section 3.1. ``monomial(2)`` is ``Theta**2``, ``monomial(4)`` is ``Theta**4``.
    """

    coeffs: tuple[float, ...]

    @property
    def degree(self) -> int:
        return 2 * len(self.coeffs)

    def _terms(self, theta_prod: Array, derivative: int) -> Array:
        total = jnp.zeros_like(theta_prod)
        for k, c in enumerate(self.coeffs, start=1):
            p = 2 * k
            factor = 1.0
            for i in range(derivative):
                factor *= p - i
            total = total + c * factor * theta_prod ** (p - derivative)
        return total

    def __call__(self, theta_prod: Array) -> Array:
        """``z(Theta)``."""
        return self._terms(theta_prod, 0)

    def d1(self, theta_prod: Array) -> Array:
        """``z'(Theta)``; it has the sign of ``Theta``, so ``z' Theta >= 0``."""
        return self._terms(theta_prod, 1)

    def d2(self, theta_prod: Array) -> Array:
        """``z''(Theta) > 0`` away from ``Theta = 0`` (and at 0 when ``coeffs[0] > 0``)."""
        return self._terms(theta_prod, 2)


def monomial(degree: int) -> EvenPolynomial:
    """``z(Theta) = Theta**degree`` for an even ``degree >= 2``."""
    if degree < 2 or degree % 2:
        raise ValueError(f"z must be an even-degree polynomial of degree >= 2, got degree={degree}")
    return EvenPolynomial(tuple([0.0] * (degree // 2 - 1) + [1.0]))


def output(theta: Array) -> Array:
    """The DLN output ``Theta = prod_i theta_i``; ``theta``: (n,) -> ()."""
    return jnp.prod(theta)


def loss(theta: Array, z: EvenPolynomial) -> Array:
    """The DLN loss ``L(theta) = z(Theta)``; ``theta``: (n,) -> ()."""
    return z(output(theta))


def _leave_out_products(theta: Array) -> tuple[Array, Array]:
    """``P_j = prod_{i != j} theta_i`` (n,) and ``P_jk = prod_{i != j,k} theta_i`` (n, n).

    Computed by masking, not by division, so they are exact when some
    ``theta_i = 0`` (``Theta -> 0``). The diagonal of ``P_jk`` is unused.
    """
    n = theta.shape[0]
    eye = jnp.eye(n, dtype=bool)
    p_j = jnp.prod(jnp.where(eye, 1.0, theta[None, :]), axis=1)
    mask_jk = eye[:, None, :] | eye[None, :, :]
    p_jk = jnp.prod(jnp.where(mask_jk, 1.0, theta[None, None, :]), axis=2)
    return p_j, p_jk


def hessian(theta: Array, z: EvenPolynomial) -> Array:
    """Closed-form loss Hessian of an n-parameter DLN; ``theta``: (n,) -> (n, n).

    ``H_jk = z'' P_j P_k + z' P_jk (j != k)`` and ``H_jj = z'' P_j**2`` with the
    leave-out products of :func:`_leave_out_products`. For ``n = 2`` this is eq. 4,
    ``[[z'' theta_2**2, z'' Theta + z'], [z'' Theta + z', z'' theta_1**2]]``; when
    no ``theta_i`` is zero it equals Appendix C's
    ``H_jk = D / (theta_j theta_k) - z' Theta / theta_j**2 delta_jk`` with
    ``D = z'' Theta**2 + z' Theta``.
    """
    big_theta = output(theta)
    p_j, p_jk = _leave_out_products(theta)
    off = z.d2(big_theta) * jnp.outer(p_j, p_j) + z.d1(big_theta) * p_jk
    return jnp.where(jnp.eye(theta.shape[0], dtype=bool), z.d2(big_theta) * p_j**2, off)


def eigenvalues_2d(theta: Array, z: EvenPolynomial) -> Array:
    """Eq. 5: the two Hessian eigenvalues of the 2-parameter DLN, descending; (2,) -> (2,).

    ``lambda_{1,2} = (z''(t1^2 + t2^2) +- sqrt(z''^2 (t1^2 - t2^2)^2 + 4 (z' + z'' Theta)^2)) / 2``.
    """
    t1, t2 = theta[0], theta[1]
    big_theta = t1 * t2
    d1, d2 = z.d1(big_theta), z.d2(big_theta)
    root = jnp.sqrt(d2**2 * (t1**2 - t2**2) ** 2 + 4.0 * (d1 + d2 * big_theta) ** 2)
    centre = d2 * (t1**2 + t2**2)
    return jnp.stack([(centre + root) / 2.0, (centre - root) / 2.0])


def beta(theta: Array, z: EvenPolynomial) -> Array:
    """Eq. 1/6: ``beta = |z''(t2^2 - t1^2) / (2 (z' + z'' Theta))| = |r1 / r2|``; (2,) -> ()."""
    t1, t2 = theta[0], theta[1]
    big_theta = t1 * t2
    return jnp.abs(z.d2(big_theta) * (t2**2 - t1**2) / (2.0 * (z.d1(big_theta) + z.d2(big_theta) * big_theta)))


def rotation_ratio(beta_value: Array) -> Array:
    """Eq. 1/6: ``R_2(beta) = beta + sqrt(beta^2 + 1)`` (>= 1, increasing in beta).

    ``R_2 = |u_sharp / u_flat|``, the ratio of the sharpest eigenvector's coordinate
    along the sharper parameter to that along the flatter one: large ``R_2`` means
    ``v_1`` is aligned with the sharper parameter.
    """
    return beta_value + jnp.sqrt(beta_value**2 + 1.0)


def top_eigenvector(theta: Array, z: EvenPolynomial) -> tuple[Array, Array]:
    """Eigenvalues (n,) descending and the sharpest eigenvector ``v_1`` (n,) from ``eigh``.

    The sign of ``v_1`` is fixed so that its largest-magnitude coordinate is positive.
    """
    values, vectors = jnp.linalg.eigh(hessian(theta, z))
    v1 = vectors[:, -1]
    v1 = v1 * jnp.sign(v1[jnp.argmax(jnp.abs(v1))])
    return values[::-1], v1


def rotation_ratio_numerical(theta: Array, z: EvenPolynomial) -> Array:
    """``R_n(k) = |u_{1,1} / u_{1,k}|`` for ``k = 2..n`` from ``eigh``; (n,) -> (n - 1,).

    For ``n = 2`` and ``theta_1`` the sharper parameter this is ``R_2`` of eq. 1.
    """
    _, v1 = top_eigenvector(theta, z)
    return jnp.abs(v1[0] / v1[1:])


def gradient(theta: Array, z: EvenPolynomial) -> Array:
    """``dL/dtheta_j = z'(Theta) P_j``; (n,) -> (n,). Section 3.1: ``Delta theta_1 = eta z' theta_2``."""
    p_j, _ = _leave_out_products(theta)
    return z.d1(output(theta)) * p_j


def gd_step(theta: Array, eta: Array, z: EvenPolynomial) -> Array:
    """One gradient-descent step ``theta - eta grad L``; (n,) -> (n,)."""
    return theta - eta * gradient(theta, z)


class Thresholds(NamedTuple):
    """Learning-rate thresholds of Section 3.1-3.2 at one point ``(theta_1, theta_2)``.

    ``eta_eos = 2 theta_1 / (theta_2 z')`` is the edge-of-stability limit along the
    sharper parameter; ``eta_gamma_one = eta_eos (1 - xi)`` is where ``gamma_beta = 1``
    (the stable/unstable boundary of RPE); the asymptotes of ``gamma_beta`` are at
    ``eta z' = theta_1/theta_2`` (``eta_asymptote_low``, where ``theta_1 = 0`` after one
    step) and ``eta z' = theta_2/theta_1`` (``eta_asymptote_high``); ``gamma_beta = 0``
    at ``eta_gamma_zero = 1 / z'``.
    """

    eta_eos: Array
    eta_gamma_one: Array
    eta_asymptote_low: Array
    eta_asymptote_high: Array
    eta_gamma_zero: Array


def s_factor(theta: Array) -> Array:
    """Eq. 2: ``s = theta_1/theta_2 + theta_2/theta_1``; ``|s| >= 2`` with the sign of Theta."""
    return theta[0] / theta[1] + theta[1] / theta[0]


def xi(theta: Array) -> Array:
    """``xi = theta_1^2 / (theta_1^2 + theta_2^2)``, small when ``theta_1`` is much sharper."""
    return theta[0] ** 2 / (theta[0] ** 2 + theta[1] ** 2)


def thresholds(theta: Array, z: EvenPolynomial) -> Thresholds:
    """The thresholds of :class:`Thresholds` at ``theta`` (2,), with ``theta_1`` sharper.

    ``theta_1/(theta_2 z')`` is positive whatever the signs, since ``z'`` has the
    sign of ``Theta`` and so has ``theta_1/theta_2``.
    """
    d1 = z.d1(output(theta))
    ratio = theta[0] / theta[1]
    eta_eos = 2.0 * ratio / d1
    return Thresholds(
        eta_eos=eta_eos,
        eta_gamma_one=eta_eos * (1.0 - xi(theta)),
        eta_asymptote_low=ratio / d1,
        eta_asymptote_high=1.0 / (ratio * d1),
        eta_gamma_zero=1.0 / jnp.abs(d1),
    )


def update_ratio_approx(eta: Array, theta: Array, z: EvenPolynomial) -> Array:
    """Eq. 2: ``gamma_beta ~ |(1 - eta^2 z'^2) / (1 - s eta z' + eta^2 z'^2)| = gamma_r1 / gamma_Theta``.

    Exact for the numerator (``gamma_r1``); the denominator replaces the ratio of
    change of ``r_2 = 2(z'/z'' + Theta)`` by that of ``Theta`` (Appendix B.2), exact
    for quadratic z. ``eta`` may be an array (broadcasts).
    """
    x = eta * z.d1(output(theta))
    return jnp.abs((1.0 - x**2) / (1.0 - s_factor(theta) * x + x**2))


def update_ratio_exact(eta: Array, theta: Array, z: EvenPolynomial) -> Array:
    """``gamma_beta = beta(theta_{t+1}) / beta(theta_t)`` after one real GD step; () per eta."""
    step = lambda e: beta(gd_step(theta, e, z), z) / beta(theta, z)  # noqa: E731
    return jnp.vectorize(step)(jnp.asarray(eta))


class Trajectory(NamedTuple):
    """A GD trajectory of ``T`` steps; arrays have ``T + 1`` rows (initialization included)."""

    theta: Array  # (T+1, n)
    loss: Array  # (T+1,)
    eigenvalues: Array  # (T+1, n), descending, from eigh of the exact Hessian
    top_vector: Array  # (T+1, n), v_1 with its largest coordinate positive


@partial(jax.jit, static_argnames=("z", "num_steps"))
def gd_trajectory(theta0: Array, eta: Array, z: EvenPolynomial, num_steps: int) -> Trajectory:
    """Run ``num_steps`` of full GD from ``theta0`` (n,) and diagonalize the Hessian at every step."""

    def step(theta, _):
        nxt = gd_step(theta, eta, z)
        return nxt, nxt

    _, rest = jax.lax.scan(step, theta0, None, length=num_steps)
    thetas = jnp.concatenate([theta0[None], rest])
    values, vectors = jax.vmap(top_eigenvector, in_axes=(0, None))(thetas, z)
    return Trajectory(thetas, jax.vmap(loss, in_axes=(0, None))(thetas, z), values, vectors)


# --- Appendix C: the n-parameter DLN -------------------------------------------------


def psi(theta: Array) -> Array:
    """Eq. 10: ``psi = (sum_k theta_k^-2)^(-1/2)``, smaller than every ``|theta_j|``."""
    return 1.0 / jnp.sqrt(jnp.sum(theta**-2.0))


def approximate_top_vector(theta: Array) -> Array:
    """Eq. 10: ``u*_{1,j} = psi / theta_j``, the maximizer of eq. 9 under normalization only."""
    return psi(theta) / theta


def rotation_ratio_eq14(theta: Array, z: EvenPolynomial, lam1: Array) -> Array:
    """Eq. 14: ``R_n(k) = f(theta_k) / f(theta_1)``, ``f(t) = |t| |lam1 + z' Theta / t^2|``; (n,) -> (n-1,).

    With ``lam1`` the exact top eigenvalue this is an identity (it follows from the
    constancy constraints of eq. 8); the paper evaluates it at an approximate
    ``lambda_hat_1``.
    """
    zt = z.d1(output(theta)) * output(theta)
    f = jnp.abs(theta) * jnp.abs(lam1 + zt / theta**2)
    return f[1:] / f[0]


def deviation_sum(theta: Array, z: EvenPolynomial) -> Array:
    """``A = sum_j (u*_j)^2 eps_j`` of Appendix C, with ``v_1 = u* (1 + eps)`` from ``eigh``.

    The paper states ``-2 <= A <= 0`` and observes ``A -> 0^-``.
    """
    _, v1 = top_eigenvector(theta, z)
    u_star = approximate_top_vector(theta)
    v1 = v1 * jnp.sign(jnp.dot(v1, u_star))
    eps = v1 / u_star - 1.0
    return jnp.sum(u_star**2 * eps)


def appendix_c_checks(thetas: Array, z: EvenPolynomial, rel_step: float = 1e-5) -> dict[str, np.ndarray]:
    """App. C's statements on the DLNs ``thetas`` (N, n), sorted so that ``θ_1`` is the sharpest
    (smallest): per DLN, ``eq14_err`` (eq. 14 at the exact λ_1 against ``eigh``, relative),
    ``rn_ge_1`` (every ``R_n(k) ≥ 1``), ``psi_lt_theta1`` (``ψ < |θ_1|``, eq. 10), ``A``
    (:func:`deviation_sum`), ``lam_gt_bound`` (``λ_1 > z'Θ/θ_1²``), ``monotone`` (``dR_n(k)/dr_k > 0``
    for every k, by a relative step ``rel_step`` of ``|θ_k|`` and ``eigh``), ``scale_err``
    (footnote 2: ``R_n`` unchanged when every θ is multiplied by 1.7) and ``cos_u_star``
    (``|cos(u*, v_1)|``); each (N,)."""
    top = jax.vmap(top_eigenvector, in_axes=(0, None))
    lam, v1 = top(thetas, z)
    r_eigh = np.abs(np.asarray(v1[:, :1] / v1[:, 1:]))
    r_eq14 = np.asarray(jax.vmap(rotation_ratio_eq14, in_axes=(0, None, 0))(thetas, z, lam[:, 0]))
    big = np.prod(np.asarray(thetas), axis=1)
    zt = np.asarray(z.d1(big)) * big  # z' Theta > 0
    grows = []
    for k in range(1, thetas.shape[1]):
        bumped = thetas.at[:, k].multiply(1.0 + rel_step)
        r_b = np.abs(np.asarray(top(bumped, z)[1][:, 0] / top(bumped, z)[1][:, k]))
        grows.append(r_b > r_eigh[:, k - 1])
    scaled = np.abs(np.asarray(top(thetas * 1.7, z)[1]))
    r_scaled = scaled[:, :1] / scaled[:, 1:]
    return dict(
        eq14_err=np.max(np.abs(r_eq14 / r_eigh - 1.0), axis=1),
        rn_ge_1=np.all(r_eigh >= 1.0, axis=1),
        psi_lt_theta1=np.asarray(jax.vmap(psi)(thetas)) < np.abs(np.asarray(thetas[:, 0])),
        A=np.asarray(jax.vmap(deviation_sum, in_axes=(0, None))(thetas, z)),
        lam_gt_bound=np.asarray(lam[:, 0]) > zt / np.asarray(thetas[:, 0]) ** 2,
        monotone=np.all(np.stack(grows, axis=1), axis=1),
        scale_err=np.max(np.abs(r_scaled / r_eigh - 1.0), axis=1),
        cos_u_star=np.abs(np.sum(np.asarray(v1) * np.asarray(jax.vmap(approximate_top_vector)(thetas)), axis=1)),
    )


# --- Appendix C along trajectories ----------------------------------------------------


class PhaseSteps(NamedTuple):
    """App. C's phases along GD trajectories, one row per step ``t -> t + 1`` that stays finite
    and away from ``Theta = 0`` (all of one or more trajectories). ``d_log_r`` (S, n-1): change of
    ``log r_k = log |theta_k / theta_1|`` (``theta_1`` the initially sharpest parameter);
    ``d_log_R`` (S, n-1): change of ``log R_n(k) = log |u_1,1 / u_1,k|`` (from ``eigh``);
    ``unstable`` (S,): ``eta * lambda_1 >= 2`` at ``t``."""

    d_log_r: np.ndarray
    d_log_R: np.ndarray
    unstable: np.ndarray


def phase_steps(trajectory: Trajectory, eta: float, *, floor: float = 1e-150) -> PhaseSteps:
    """:class:`PhaseSteps` of one trajectory of :func:`gd_trajectory` (``theta[:, 0]`` the
    sharpest parameter at initialization); steps with ``|Theta| < floor`` are left out."""
    th, v = np.asarray(trajectory.theta), np.asarray(trajectory.top_vector)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.log(np.abs(th[:, 1:] / th[:, :1]))
        log_R = np.log(np.abs(v[:, :1] / v[:, 1:]))
        d_r, d_R = np.diff(log_r, axis=0), np.diff(log_R, axis=0)
    ok = (np.abs(np.prod(th, axis=1)) > floor)[1:] & np.isfinite(d_r).all(1) & np.isfinite(d_R).all(1)
    unstable = eta * np.asarray(trajectory.eigenvalues)[:-1, 0] >= 2.0
    return PhaseSteps(d_r[ok], d_R[ok], unstable[ok])


def _episode_falls(p: PhaseSteps) -> list[bool]:
    """For each run of consecutive unstable steps of ``p``: whether every ``r_k`` fell over it."""
    out, i, u = [], 0, p.unstable
    while i < len(u):
        j = i
        while j < len(u) and u[j]:
            j += 1
        if j > i:
            out.append(bool((p.d_log_r[i:j].sum(axis=0) < 0).all()))
        i = j + 1
    return out


def claim_phases(parts: Sequence[PhaseSteps], *, small: float = 1e-12) -> Claim:
    """App. C's phases along trajectories: in every step ``R_n(k)`` moves in the direction of
    ``r_k`` for every flat parameter ``k`` (the consequence of ``dR_n/dr_k > 0`` the phases rest
    on), over the steps of ``parts`` (one per trajectory); steps where some ``|Δ log r_k| <=
    small`` are not counted. PASS when every counted step agrees; UNRESOLVED without steps. The
    measured text adds, as context, in how many instability episodes (consecutive steps with
    ``eta * lambda_1 >= 2``) every ``r_k`` fell, the paper's description of phase 2."""
    name = ("App. C phases along GD: R_n(k) rises when the ratio r_k = |theta_k/theta_1| rises "
            "and falls when it falls")
    agree = [(np.sign(p.d_log_R) == np.sign(p.d_log_r)).all(axis=1)[(np.abs(p.d_log_r) > small).all(axis=1)]
             for p in parts]
    agree = np.concatenate(agree) if agree else np.array([], bool)
    if not agree.size:
        return Claim(name, "no steps", "every step", False, unresolved=True)
    episodes = [f for p in parts for f in _episode_falls(p)]
    context = (f"; every r_k fell in {np.mean(episodes):.0%} of {len(episodes)} instability episodes "
               f"(eta*lambda_1 >= 2)" if episodes else "; no instability episodes")
    return Claim(name, f"R_n follows r_k (every k) in {int(agree.sum())} of {agree.size} steps{context}",
                 "every step", bool(agree.all()))

"""The loss and sharpness landscapes along a line, and the curvature of the sharpness
(Section 3.3 and Appendix H of the paper; Figures 3 and 11).

Slices. Through parameters θ and along a unit direction d (the paper: the normalized gradient,
:func:`unit_direction`), a slice is the pair of curves

    L(t) = L(θ + t d),        S(t) = λ_max(∇²L(θ + t d)),

at points ``ts`` (:func:`line_slice`). S(t) comes from the certified Lanczos solver of
:mod:`eoslib.tracking`, warm-started from point to point, outward from the point nearest
``t = 0`` (seeded there with the caller's eigenvectors, e.g. the tracked ones of that epoch):
neighbouring points have close Hessians, so each solve starts near its answer. Every value
carries its relative residual ``‖H v − S v‖ / |S|`` and certificate.

Curvature of the sharpness. For a simple top eigenvalue λ(t) with unit eigenvector v(t) and
``H(t) = ∇²L(θ + t d)``, first- and second-order perturbation theory give

    λ'  = vᵀ H' v,
    λ'' = vᵀ H'' v + 2 Σ_{j≥2} (v_jᵀ H' v)² / (λ − λ_j),

where ``H' v = d/dt [H(θ + t d) v]`` and ``vᵀ H'' v`` (v fixed) are nested forward-mode
derivatives of the HVP (third and fourth derivatives of L contracted with d and v, never
formed; :func:`sharpness_derivatives`). The first term is the curvature of the fixed-vector
curve ``t ↦ vᵀ H(t) v``; the second, never negative when λ is the top eigenvalue, is the
contribution of the eigenvector turning as t moves (it grows as ``1/(λ − λ_2)`` near a
crossing, where S(t) = max_j λ_j(t) stops being smooth). The sum over the other eigenpairs is
``(P u)ᵀ (λ I − H)⁺ (P u)`` with ``u = H' v`` and ``P = I − v vᵀ``: the tracked top pairs
``2..k`` enter exactly, and the rest by conjugate gradients (:func:`conjugate_gradient`) on
the complement of the tracked subspace, where ``λ I − H`` is positive definite with condition
number at most ``(λ − λ_min) / (λ − λ_{k+1})``. The result is the exact second derivative of
S(t) at ``t = 0`` up to the eigenpairs' residuals and the CG tolerance; the tests check it
against a closed form and, on the paper's MLP in float64, against finite differences.

Piecewise smoothness. In a ReLU network the Hessian jumps wherever an activation pattern
changes, and along a line through 1,000 examples x 128 units such boundaries are crossed every
~1e-4 in t. λ'' is the curvature within the current activation region: finite differences
agree with it at steps h ~ 1e-5 (float64) and not at the spacing of a slice (h ~ 1e-2), where
S(t) is a smooth-looking curve made of thousands of pieces. The curvature of that visible
curve, the one the paper's Figures 3 and 11 show, is :func:`fit_curvature`: the second
derivative of the least-squares parabola through the slice near ``t = 0``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial

from eoslib.lanczos import DEFAULT_CHECK, Check
from eoslib.objective import as_partial, flat_hvp, hvp
from eoslib.sharpening import sharpness_along
from eoslib.tracking import top_eigenpairs

PyTree = Any
Array = jax.Array

__all__ = ["unit_direction", "offset", "projection", "symmetric_range", "Slice", "line_slice",
           "fit_curvature", "finite_differences", "boundary_distance",
           "loss_curvature", "conjugate_gradient", "SharpnessDerivatives",
           "sharpness_derivatives"]


def unit_direction(direction: PyTree) -> PyTree:
    """``direction / ‖direction‖`` (Euclidean norm over all leaves)."""
    flat, unravel = ravel_pytree(direction)
    return unravel(flat / jnp.linalg.norm(flat))


def offset(params: PyTree, direction: PyTree, t) -> PyTree:
    """``θ + t d`` on pytrees."""
    return jax.tree.map(lambda p, d: p + jnp.asarray(t, p.dtype) * d, params, direction)


def projection(point: PyTree, params: PyTree, direction: PyTree) -> float:
    """Coordinate t of ``point`` on the line ``θ + t d``: ``(point − θ) · d`` for unit d (the
    position of the previous parameters in a slice through the current ones)."""
    a, b, d = (ravel_pytree(x)[0] for x in (point, params, direction))
    return float(jnp.vdot(a - b, d))


def symmetric_range(reach: float, num_points: int) -> np.ndarray:
    """``num_points`` (odd, so that ``t = 0`` is a point) equally spaced ``t`` in
    ``[-reach, reach]``."""
    if num_points < 3 or num_points % 2 == 0:
        raise ValueError(f"num_points must be odd and >= 3, got {num_points}")
    return np.linspace(-reach, reach, num_points)


class Slice(NamedTuple):
    """A slice at points ``t`` (P,): ``loss`` (P,), ``sharpness`` (P,) = S(t), ``second``
    (P,) = λ_2(t) (NaN unless k ≥ 2), ``residual`` (P,) relative residual of the top pair,
    ``certified`` (P,) bool, ``num_matvecs`` (P,) HVPs of each solve."""

    t: np.ndarray
    loss: np.ndarray
    sharpness: np.ndarray
    second: np.ndarray
    residual: np.ndarray
    certified: np.ndarray
    num_matvecs: np.ndarray


@jax.jit
def _losses_along(loss_fn: Partial, params, direction, ts):
    """``loss_fn`` is a pytree (its bound arrays traced, its function static): one compile for
    every slice of the same objective, not one per slice."""
    return jax.vmap(lambda t: loss_fn(offset(params, direction, t)))(ts)


def line_slice(loss_fn: Callable[[PyTree], Array], params: PyTree, direction: PyTree,
               ts: Sequence[float], *, k: int = 2, tol: float = 1e-4,
               center_vectors: Array | None = None, compiled: bool = True,
               key: Array | None = None, check: Check = DEFAULT_CHECK) -> Slice:
    """L(θ + t d) and the top-k Hessian eigenvalues at every ``t`` of ``ts`` (see the module
    docstring for the warm starts).

    ``loss_fn``: the training loss of a parameter pytree (a :class:`~jax.tree_util.Partial`,
    such as :meth:`eoslib.objective.Objective.loss_fn`, compiles once); ``direction``: unit,
    like ``params``; ``center_vectors`` (d, k'): seeds of the solve nearest ``t = 0`` (cold
    if None); ``tol``: relative residual of every solve; ``check``: their missed-eigenvalue
    check."""
    loss_fn = as_partial(loss_fn)
    ts = np.asarray(ts, dtype=float)
    flat_dtype = ravel_pytree(params)[0].dtype
    losses = np.asarray(_losses_along(loss_fn, params, direction, jnp.asarray(ts, flat_dtype)))
    dim = ravel_pytree(params)[0].size
    values = np.full((ts.size, k), np.nan)
    residual, certified = np.full(ts.size, np.nan), np.zeros(ts.size, bool)
    matvecs = np.zeros(ts.size, int)
    center = int(np.argmin(np.abs(ts)))
    key = jax.random.PRNGKey(0) if key is None else key
    order = [center] + [j for pair in zip(range(center + 1, ts.size), range(center - 1, -1, -1))
                        for j in pair]
    order += [j for j in range(ts.size) if j not in order]
    seeds = {}
    for j in order:
        neighbour = j - 1 if j > center else j + 1
        seed = center_vectors if j == center else seeds[neighbour]
        matvec, _ = flat_hvp(loss_fn, offset(params, direction, ts[j]))
        pairs = top_eigenpairs(matvec, dim, k, tol=tol, prev_vectors=seed,
                               key=jax.random.fold_in(key, j), compiled=compiled,
                               dtype=flat_dtype, check=check)
        seeds[j] = pairs.vectors
        values[j] = np.asarray(pairs.values)
        residual[j] = float(pairs.residuals[0]) / abs(float(pairs.values[0]))
        certified[j], matvecs[j] = bool(pairs.certified), int(pairs.num_matvecs)
    second = values[:, 1] if k >= 2 else np.full(ts.size, np.nan)
    return Slice(ts, losses, values[:, 0], second, residual, certified, matvecs)


def fit_curvature(t: np.ndarray, values: np.ndarray, half_width: float) -> float:
    """Curvature ``2a`` of the least-squares parabola ``a t² + b t + c`` through the points of a
    slice with ``|t| ≤ half_width``: the curvature of the curve at the scale of the slice,
    rather than at one point (needs 3 points or more)."""
    t, values = np.asarray(t, float), np.asarray(values, float)
    inside = np.abs(t) <= half_width * (1 + 1e-9)
    if inside.sum() < 3:
        raise ValueError(f"half_width {half_width} keeps {inside.sum()} points; need >= 3")
    return float(2.0 * np.polyfit(t[inside], values[inside], 2)[0])


def boundary_distance(relu_inputs: Callable[[PyTree], Array], params: PyTree,
                      direction: PyTree) -> float:
    """Distance along ``direction`` from θ to the nearest activation boundary, to first order:
    ``min_i |z_i / ż_i|`` over the ReLU inputs ``z = relu_inputs(θ)`` and their derivatives
    ``ż`` along the direction (one JVP). Inside ``|t|`` below it the activation pattern, hence
    the formula for the Hessian, does not change."""
    z, dz = jax.jvp(relu_inputs, (params,), (direction,))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(np.asarray(z) / np.asarray(dz))
    return float(np.nanmin(t))


def loss_curvature(loss_fn: Callable[[PyTree], Array], params: PyTree, direction: PyTree) -> float:
    """``dᵀ ∇²L(θ) d``: the second derivative of ``L(θ + t d)`` at ``t = 0`` for unit d."""
    return float(sharpness_along(loss_fn, params, direction))


def conjugate_gradient(matvec: Callable[[Array], Array], b: Array, *, tol: float,
                       max_iters: int) -> tuple[Array, Array, Array]:
    """Solve ``A x = b`` for symmetric positive definite ``A`` (given by ``matvec`` on (d,)
    vectors) by conjugate gradients from ``x = 0``, until ``‖r‖ ≤ tol ‖b‖`` or ``max_iters``
    iterations (one matvec each; traceable). Returns ``x`` (d,), the iterations and the
    relative residual ``‖b − A x‖ / ‖b‖`` recomputed from ``x`` (not the recursive one)."""
    b_norm = jnp.linalg.norm(b)
    scale = jnp.where(b_norm > 0, b_norm, 1.0)

    def cond(carry):
        i, _, _, _, rs = carry
        return (i < max_iters) & (jnp.sqrt(rs) > tol * scale)

    def body(carry):
        i, x, r, p, rs = carry
        ap = matvec(p)
        alpha = rs / jnp.vdot(p, ap)
        x, r = x + alpha * p, r - alpha * ap
        rs_new = jnp.vdot(r, r)
        return i + 1, x, r, r + (rs_new / rs) * p, rs_new

    zero = jnp.zeros_like(b)
    iters, x, _, _, _ = jax.lax.while_loop(cond, body, (0, zero, b, b, jnp.vdot(b, b)))
    return x, iters, jnp.linalg.norm(b - matvec(x)) / scale


class SharpnessDerivatives(NamedTuple):
    """Derivatives of S(t) = λ_max(∇²L(θ + t d)) at ``t = 0`` (module docstring):
    ``value`` λ, ``first`` λ', ``second`` λ'', its parts ``fixed_vector`` (vᵀ H'' v) and
    ``rotation`` (2 Σ_j (v_jᵀ H' v)² / (λ − λ_j) ≥ 0), the ``gap`` λ − λ_2 of the given pairs,
    and the CG solve's iterations and relative residual."""

    value: float
    first: float
    second: float
    fixed_vector: float
    rotation: float
    gap: float
    cg_iterations: int
    cg_residual: float


@partial(jax.jit, static_argnums=(6,))
def _derivatives(loss_fn, params, direction, values, vectors, cg_tol, cg_max_iters):
    x, unravel = ravel_pytree(params)
    d = ravel_pytree(direction)[0]
    vectors = vectors.astype(x.dtype)
    values = values.astype(x.dtype)
    flat_loss = lambda y: loss_fn(unravel(y))  # noqa: E731
    v, lam = vectors[:, 0], values[0]

    def h_v(y):
        return hvp(flat_loss, y, v)

    def first_derivative(y):
        return jax.jvp(h_v, (y,), (d,))[1]

    dhv, ddhv = jax.jvp(first_derivative, (x,), (d,))  # H' v and H'' v
    first, fixed = jnp.vdot(v, dhv), jnp.vdot(v, ddhv)
    coeffs = vectors.T @ dhv
    tracked = jnp.sum(coeffs[1:] ** 2 / (lam - values[1:]))
    rest = dhv - vectors @ coeffs
    project = lambda w: w - vectors @ (vectors.T @ w)  # noqa: E731
    shifted = lambda w: lam * w - project(hvp(flat_loss, x, project(w)))  # noqa: E731
    w, iters, cg_res = conjugate_gradient(shifted, rest, tol=cg_tol, max_iters=cg_max_iters)
    rotation = 2.0 * (tracked + jnp.vdot(rest, w))
    gap = lam - values[1] if values.shape[0] > 1 else jnp.nan
    return lam, first, fixed + rotation, fixed, rotation, gap, iters, cg_res


def sharpness_derivatives(loss_fn: Callable[[PyTree], Array], params: PyTree, direction: PyTree,
                          values: Array, vectors: Array, *, cg_tol: float = 1e-4,
                          cg_max_iters: int = 500) -> SharpnessDerivatives:
    """λ' and λ'' of the top Hessian eigenvalue along the unit ``direction`` (a pytree like
    ``params``) at θ = ``params``.

    ``values`` (k,) and ``vectors`` (d, k): the top-k eigenpairs at θ, in descending order
    (e.g. :func:`eoslib.tracking.top_eigenpairs`; their residuals bound the error). The top
    eigenvalue must be simple: the result scales as ``1 / gap`` near a crossing, and the
    returned ``gap`` says how close one is."""
    out = _derivatives(as_partial(loss_fn), params, direction, jnp.asarray(values),
                       jnp.asarray(vectors), cg_tol, cg_max_iters)
    lam, first, second, fixed, rotation, gap, iters, cg_res = jax.device_get(out)
    return SharpnessDerivatives(float(lam), float(first), float(second), float(fixed),
                                float(rotation), float(gap), int(iters), float(cg_res))


def finite_differences(loss_fn: Callable[[PyTree], Array], params: PyTree, direction: PyTree,
                       steps: Sequence[float], *, k: int = 3, tol: float = 1e-10,
                       compiled: bool = True,
                       check: Check = DEFAULT_CHECK) -> tuple[SharpnessDerivatives, np.ndarray]:
    """:func:`sharpness_derivatives` at θ and central differences of the certified top
    eigenvalue at each step h of ``steps``: rows ``(h, (S(h) − S(−h)) / 2h,
    (S(h) − 2 S(0) + S(−h)) / h²)`` (len(steps), 3). Run in float64 (``params`` float64,
    under ``jax.enable_x64``) for steps below ~1e-3."""
    dtype = ravel_pytree(params)[0].dtype
    dim = ravel_pytree(params)[0].size

    def top(t, seed=None):
        matvec, _ = flat_hvp(loss_fn, offset(params, direction, t))
        return top_eigenpairs(matvec, dim, k, tol=tol, prev_vectors=seed, compiled=compiled,
                              dtype=dtype, check=check)

    center = top(0.0)
    exact = sharpness_derivatives(loss_fn, params, direction, center.values, center.vectors,
                                  cg_tol=tol)
    rows = []
    for h in steps:
        plus, minus = (float(top(sign * h, center.vectors).values[0]) for sign in (1, -1))
        rows.append((h, (plus - minus) / (2 * h), (plus - 2 * exact.value + minus) / h ** 2))
    return exact, np.asarray(rows)

"""Progressive-sharpening factor α of Damian et al. (2023), paper Appendix G.

With ``S(θ) = λ_max(∇²L(θ))`` and top unit eigenvector ``v`` (simple
eigenvalue), the first-order change of S along the GD direction is governed by

    α = −∇L(θ) · ∇S(θ),    ∇S(θ) = ∇_θ (vᵀ ∇²L(θ) v) = ∇³L(θ)[v, v, ·]

(Hellmann–Feynman: ``v`` is held fixed when differentiating). α > 0 means that a
small gradient step increases the sharpness. We never form ∇S: α is the
directional derivative of ``θ ↦ vᵀ H(θ) v`` along ``−∇L``, one JVP of the HVP
(forward-over-forward-over-reverse), costing a few gradient evaluations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from eoslib.objective import hvp

PyTree = Any
Array = jax.Array

__all__ = ["sharpness_along", "sharpening_factor", "sharpness_gradient"]


def _as_tree(params: PyTree, vector: PyTree | Array) -> PyTree:
    """Accept a flat ``(d,)`` vector or a pytree like ``params``."""
    flat, unravel = ravel_pytree(params)
    if hasattr(vector, "ndim") and vector.ndim == 1 and vector.shape == flat.shape:
        return unravel(jnp.asarray(vector, flat.dtype))
    return vector


def sharpness_along(loss_fn: Callable[[PyTree], Array], params: PyTree, vector: PyTree) -> Array:
    """Curvature ``vᵀ ∇²L(θ) v`` of ``loss_fn`` along the pytree ``vector``."""
    products = hvp(loss_fn, params, vector)
    return sum(
        jnp.vdot(a, b)
        for a, b in zip(jax.tree_util.tree_leaves(vector), jax.tree_util.tree_leaves(products))
    )


def sharpness_gradient(
    loss_fn: Callable[[PyTree], Array], params: PyTree, top_vector: PyTree | Array
) -> PyTree:
    """``∇S(θ) = ∇_θ (vᵀ ∇²L(θ) v)`` with ``v`` fixed, as a pytree like ``params``.

    ``top_vector`` must be the unit top eigenvector (flat ``(d,)`` or pytree).
    """
    v = _as_tree(params, top_vector)
    return jax.grad(lambda p: sharpness_along(loss_fn, p, v))(params)


def sharpening_factor(
    loss_fn: Callable[[PyTree], Array], params: PyTree, top_vector: PyTree | Array
) -> Array:
    """Progressive-sharpening factor ``α = −∇L(θ) · ∇S(θ)`` (Damian et al., 2023).

    Args:
      loss_fn: scalar training loss ``L(params)``.
      params: parameter pytree θ.
      top_vector: unit eigenvector of the largest Hessian eigenvalue, flat
        ``(d,)`` (ravel order of ``params``) or a pytree like ``params``.

    Returns:
      ``()`` α, which for a simple top eigenvalue is the derivative of
      ``S(θ − ε∇L)`` at ``ε = 0``.
    """
    v = _as_tree(params, top_vector)
    grad = jax.grad(loss_fn)(params)
    direction = jax.tree_util.tree_map(jnp.negative, grad)
    _, dS = jax.jvp(lambda p: sharpness_along(loss_fn, p, v), (params,), (direction,))
    return dS

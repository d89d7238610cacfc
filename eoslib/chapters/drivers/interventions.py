"""Gradient descent with a learning rate per direction of a tracked Hessian eigenbasis
(Appendix G of the paper, Figure 10: what drives an instability).

With ``V`` (d, k) orthonormal top-k Hessian eigenvectors and eigenvalues ``λ`` (k,) at θ_t, one
step is

    θ_{t+1} = θ_t − [ V diag(η_in) Vᵀ + η_out (I − V Vᵀ) ] ∇L(θ_t)

(:func:`directional_update`): each tracked direction v_i gets its own learning rate
``η_in[i]`` and the complement of span V the rate ``η_out``. The paper's interventions are
choices of these rates (:func:`rates`), with ``η`` the run's learning rate and a direction
*unstable* when ``η λ_i > 2``:

* ``"suppress"`` (Figure 10, η_u = 0): unstable directions get 0, every other direction η;
* ``"stabilize"`` (effective stability, η_u λ < 2): unstable directions get
  ``fraction · 2/λ_i`` (``fraction`` < 1), every other direction η;
* ``"restrict"`` (updates only along the sharpest directions): the k tracked directions get
  η, the complement 0;
* ``"none"``: η everywhere (plain GD, the reference of the interventions).

:func:`intervene` runs such steps from given parameters, tracking the top-k eigenpairs at every
step (warm-started, certified: :func:`eoslib.tracking.top_eigenpairs`): the cost driver, one
solve per step, reported as HVPs per step.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from eoslib.lanczos import DEFAULT_CHECK, Check
from eoslib.objective import Batch, Objective
from eoslib.tracking import top_eigenpairs

Array = jax.Array
PyTree = Any

__all__ = ["RULES", "rates", "directional_update", "Trajectory", "intervene",
           "intervention_suite", "oscillation_amplitude"]

RULES = ("none", "suppress", "stabilize", "restrict")


def rates(rule: str, values: Array, eta: float, *, fraction: float = 0.9) -> tuple[Array, Array]:
    """``(η_in (k,), η_out ())`` of an intervention ``rule`` (module docstring) for top-k
    eigenvalues ``values`` (k,) and learning rate ``eta``."""
    values = jnp.asarray(values)
    eta = jnp.asarray(eta, values.dtype)
    unstable = eta * values > 2.0
    if rule == "none":
        return jnp.full_like(values, eta), eta
    if rule == "suppress":
        return jnp.where(unstable, 0.0, eta), eta
    if rule == "stabilize":
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        return jnp.where(unstable, fraction * 2.0 / values, eta), eta
    if rule == "restrict":
        return jnp.full_like(values, eta), jnp.zeros((), values.dtype)
    raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}")


def directional_update(grad: Array, vectors: Array, rate_in: Array, rate_out: Array) -> Array:
    """The step ``[V diag(rate_in) Vᵀ + rate_out (I − V Vᵀ)] grad`` (d,) for a flat gradient
    ``grad`` (d,) and orthonormal ``vectors`` V (d, k); subtract it from θ."""
    coeffs = vectors.T @ grad
    inside = vectors @ coeffs
    return vectors @ (rate_in * coeffs) + rate_out * (grad - inside)


class Trajectory(NamedTuple):
    """An intervention run, recorded every ``record_every`` steps: ``steps`` (R,), ``time``
    (R,) = Σ η (gradient-flow time), ``loss`` (R,), ``values`` (R, k) top-k eigenvalues,
    ``num_matvecs`` (R,) HVPs of each solve, ``certified`` (R,), ``unstable`` (R,) number of
    tracked directions with η λ > 2, and the final ``params``."""

    steps: np.ndarray
    time: np.ndarray
    loss: np.ndarray
    values: np.ndarray
    num_matvecs: np.ndarray
    certified: np.ndarray
    unstable: np.ndarray
    params: PyTree


@partial(jax.jit, static_argnums=0)
def _apply(objective, params, stats, batch, vectors, rate_in, rate_out):
    loss, _, _, grad = objective.loss_and_grad(params, stats, batch)
    flat, unravel = ravel_pytree(params)
    step = directional_update(ravel_pytree(grad)[0], vectors.astype(flat.dtype),
                              rate_in.astype(flat.dtype), rate_out.astype(flat.dtype))
    return loss, unravel(flat - step)


def intervene(objective: Objective, params: PyTree, stats: PyTree, batch: Batch, eta: float,
              rule: str, steps: int, *, k: int = 8, tol: float = 1e-3,
              seed_vectors: Array | None = None, fraction: float = 0.9,
              record_every: int = 1, compiled: bool = True, check: Check = DEFAULT_CHECK) -> Trajectory:
    """``steps`` GD steps at learning rate ``eta`` from ``params`` with the per-direction rates
    of ``rule`` (:func:`rates`) in the top-k eigenbasis, tracked at every step (warm-started
    from ``seed_vectors`` (d, k) at the first; ``check``: the solves' missed-eigenvalue check).
    With ``rule="none"`` the eigenpairs are only computed at the recorded steps (the gradient
    step does not need them)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}")
    dim = ravel_pytree(params)[0].size
    vectors, rows = seed_vectors, []
    time = 0.0
    for t in range(steps + 1):
        record = t % record_every == 0 or t == steps
        if record or rule != "none":
            pairs = top_eigenpairs(objective.hessian_matvec(params, stats, batch), dim, k, tol=tol,
                                   prev_vectors=vectors, compiled=compiled, check=check)
            vectors = pairs.vectors
        rate_in, rate_out = rates(rule, pairs.values, eta, fraction=fraction) if rule != "none" \
            else (jnp.full((k,), eta), jnp.asarray(eta))
        loss, new = _apply(objective, params, stats, batch, vectors, rate_in, rate_out)
        if record:
            rows.append((t, time, float(loss), np.asarray(pairs.values), int(pairs.num_matvecs),
                         bool(pairs.certified), int(np.sum(eta * np.asarray(pairs.values) > 2))))
        if t < steps:
            params, time = new, time + eta
    cols = [np.asarray(c) for c in zip(*rows)]
    return Trajectory(*cols, params)


def oscillation_amplitude(loss: np.ndarray) -> float:
    """Mean of ``|L_t − (L_{t−1} + L_{t+1}) / 2|`` relative to the mean loss: the size of the
    period-2 oscillation of a loss series (0 for a loss that changes linearly)."""
    loss = np.asarray(loss, float)
    if loss.size < 3:
        return float("nan")
    return float(np.mean(np.abs(loss[1:-1] - 0.5 * (loss[:-2] + loss[2:]))) / np.mean(loss))


def intervention_suite(objective: Objective, params: PyTree, stats: PyTree, batch: Batch,
                       eta: float, steps: int, *, k: int = 8, tol: float = 1e-3,
                       seed_vectors: Array | None = None, ref_fraction: float = 0.1,
                       fraction: float = 0.9, compiled: bool = True,
                       check: Check = DEFAULT_CHECK) -> dict[str, Trajectory]:
    """Figure 10 from one start: ``steps`` steps of every rule of :data:`RULES` at ``eta``
    (recorded at every step), and the stable reference, small-η GD at ``ref_fraction · eta`` for
    the same gradient-flow time ``steps · eta`` (``"reference"``, recorded every
    ``1 / ref_fraction`` steps, so at the same times) and at half that step (``"reference_half"``:
    its step control, the reference must not change when its step is halved)."""
    per = round(1 / ref_fraction)
    if per < 2 or abs(per * ref_fraction - 1) > 1e-9:
        raise ValueError(f"ref_fraction must be 1/n with n >= 2, got {ref_fraction}")
    run = partial(intervene, objective, params, stats, batch, k=k, tol=tol,
                  seed_vectors=seed_vectors, fraction=fraction, compiled=compiled, check=check)
    out = {rule: run(eta, rule, steps) for rule in RULES}
    out["reference"] = run(eta / per, "none", steps * per, record_every=per)
    out["reference_half"] = run(eta / (2 * per), "none", steps * 2 * per, record_every=2 * per)
    return out

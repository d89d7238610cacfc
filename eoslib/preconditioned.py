"""Effective (preconditioned) sharpness of adaptive optimizers, and each optimizer's stability limit.

An optimizer with a diagonal preconditioner ``P`` (Adam, RMSProp) steps ``θ ← θ − η P⁻¹ u`` with
``u`` the gradient or its momentum. Frozen at ``P``, its quadratic model is GD on the loss in the
coordinates ``P^{1/2} θ``, so its stability is governed by the *effective sharpness*
``λ_max(P⁻¹ H)`` instead of ``λ_max(H)`` (Cohen et al., "Adaptive gradient methods at the edge of
stability", 2022). ``P⁻¹ H`` is not symmetric, but it is similar to the symmetric
``P^{-1/2} H P^{-1/2}`` (same eigenvalues), which :func:`preconditioned_matvec` applies, so the
certified Lanczos solver (:func:`eoslib.lanczos.lanczos_eigh`) computes it with one HVP per step.
Its eigenvectors ``w`` map to those of ``P⁻¹ H`` as ``P^{-1/2} w``.

The preconditioners are read from optax's own states (:func:`adam_preconditioner`,
:func:`rmsprop_preconditioner`); their hyperparameters (``eps``, bias correction) are not in
the state, so they are arguments with optax's defaults, and the tests check each against
optax's update. Stability limits (:func:`stability_limit`), for a quadratic with curvature λ
along an eigenvector:

* GD: ``η λ < 2``;
* GD with heavy-ball momentum β (``optax.sgd(η, momentum=β)``: ``t ← g + β t``, ``θ ← θ − η t``):
  the recursion ``x_{t+1} = (1 + β − η λ) x_t − β x_{t−1}`` is stable iff ``η λ < 2 + 2β``;
* RMSProp without momentum: ``η λ_max(P⁻¹H) < 2``;
* Adam (β1): the same recursion on the preconditioned curvature, with the EMA's step
  ``(1 − β1)``: ``η λ_max(P⁻¹H) < (2 + 2β1) / (1 − β1)`` (38/η at β1 = 0.9; Cohen et al.,
  2022, Sec. 2).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial

from eoslib.lanczos import Eigenpairs, lanczos_eigh
from eoslib.objective import as_partial

__all__ = ["find_state", "adam_preconditioner", "rmsprop_preconditioner", "preconditioned_matvec",
           "effective_sharpness", "stability_limit"]

PyTree = object


def find_state(opt_state, kind: type):
    """The first sub-state of type ``kind`` (e.g. ``optax.ScaleByAdamState``) in an optax state
    (nested tuples of states, as ``optax.chain`` builds); ``ValueError`` if there is none."""
    if isinstance(opt_state, kind):
        return opt_state
    if isinstance(opt_state, tuple):
        for sub in opt_state:
            try:
                return find_state(sub, kind)
            except ValueError:
                pass
    raise ValueError(f"no {kind.__name__} in this optimizer state")


def adam_preconditioner(opt_state, *, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0) -> PyTree:
    """``P = sqrt(ν̂ + eps_root) + eps``, ``ν̂ = ν / (1 − b2^count)``, as ``optax.adam`` divides by
    (a pytree like the parameters), from its ``ScaleByAdamState``. Needs ``count ≥ 1``."""
    s = find_state(opt_state, optax.ScaleByAdamState)
    return jax.tree.map(lambda nu: jnp.sqrt(nu / (1.0 - b2 ** s.count.astype(nu.dtype)) + eps_root) + eps, s.nu)


def rmsprop_preconditioner(opt_state, *, eps: float = 1e-8, eps_in_sqrt: bool = True) -> PyTree:
    """``P = sqrt(ν + eps)`` (``eps_in_sqrt``, optax's default) or ``sqrt(ν) + eps``, as
    ``optax.rmsprop`` (no bias correction, not centered) divides by, from its ``ScaleByRmsState``."""
    s = find_state(opt_state, optax.ScaleByRmsState)
    return jax.tree.map(lambda nu: jnp.sqrt(nu + eps) if eps_in_sqrt else jnp.sqrt(nu) + eps, s.nu)


def _scaled_apply(matvec, scale, w):
    return scale * matvec(scale * w)


def preconditioned_matvec(matvec: Callable[[jax.Array], jax.Array], p: PyTree | jax.Array) -> Partial:
    """``w ↦ P^{-1/2} H P^{-1/2} w`` on flat (d,) vectors, from the flat HVP ``matvec`` and the
    diagonal ``p`` (a pytree like the parameters, or flat (d,), all entries > 0); a
    :class:`~jax.tree_util.Partial` (compiled once when ``matvec`` is one)."""
    scale = jax.lax.rsqrt(p if isinstance(p, jax.Array) else ravel_pytree(p)[0])
    return Partial(_scaled_apply, as_partial(matvec), scale)


def effective_sharpness(matvec: Callable[[jax.Array], jax.Array], p: PyTree | jax.Array, dim: int, k: int = 1,
                        **lanczos_kw) -> Eigenpairs:
    """The top-k eigenpairs of ``P^{-1/2} H P^{-1/2}`` (certified as :func:`lanczos_eigh`'s):
    ``values`` are the eigenvalues of ``P⁻¹H``, ``values[0]`` the effective sharpness."""
    return lanczos_eigh(preconditioned_matvec(matvec, p), dim, k, **lanczos_kw)


def stability_limit(optimizer: str, lr: float, *, momentum: float | None = None) -> float:
    """The largest stable (effective) sharpness of ``optimizer`` at learning rate ``lr`` (module
    docstring): ``"gd"`` 2/η, ``"momentum"`` (2 + 2β)/η, ``"rmsprop"`` 2/η (of λ_max(P⁻¹H)),
    ``"adam"`` (2 + 2β1)/((1 − β1) η) with ``momentum`` = β1 (of λ_max(P⁻¹H)). ``momentum``
    defaults to optax's 0.9 for ``"adam"`` and must be given for ``"momentum"``."""
    if momentum is None:
        if optimizer == "momentum":
            raise ValueError("momentum: give the heavy-ball coefficient")
        momentum = 0.9 if optimizer == "adam" else 0.0
    if lr <= 0 or not 0 <= momentum < 1:
        raise ValueError("need lr > 0 and 0 <= momentum < 1")
    limits = {"gd": 2.0, "rmsprop": 2.0, "momentum": 2.0 + 2.0 * momentum,
              "adam": (2.0 + 2.0 * momentum) / (1.0 - momentum)}
    if optimizer not in limits:
        raise ValueError(f"optimizer {optimizer!r}: choose one of {sorted(limits)}")
    return limits[optimizer] / lr

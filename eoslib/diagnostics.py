"""Edge-of-stability diagnostics for a model of one's own: any ``loss(params, batch)``, any optax
optimizer, full-batch training with certified Hessian eigenpairs along the way.

The paper's runs go through :class:`eoslib.runs.RunConfig` (its four models, its two data sets);
this module needs neither. A :class:`Problem` is a loss of a parameter pytree and a batch (the
whole training set, as arrays the user brings). :func:`train` runs full-batch steps of an optax
``GradientTransformation`` and, every ``eig_every`` steps, records

* the sharpness ``S = λ_max(H)`` and the tracked top eigenvalues of the Hessian ``H`` of exactly
  the loss being optimized (certified, :func:`eoslib.tracking.top_eigenpairs`), either a fixed
  top-``k`` or, with ``threshold``, every eigenvalue above ``threshold`` (the tracked set grows
  and shrinks as eigenvalues cross it, :func:`eoslib.tracking.track_above`);
* for Adam and RMSProp, the effective sharpness ``λ_max(P⁻¹H)`` from the optimizer's state
  (:mod:`eoslib.preconditioned`), the quantity whose stability limit is the optimizer's own;
* the HVPs each solve spent.

For GD the limit is ``2/η`` (:func:`eoslib.preconditioned.stability_limit` gives the others).
Everything is float32 unless the parameters are float64 (with x64 enabled). Model state such as
BatchNorm statistics belongs in the loss's closure or the batch: the Hessian is of exactly the
loss passed, so pass the train-mode loss that the optimizer descends (``tests/
test_batchnorm_mode.py`` shows what an eval-mode Hessian gets wrong).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial

from eoslib import preconditioned
from eoslib.tracking import top_eigenpairs, track_above

__all__ = ["Problem", "hessian_operator", "train"]

PRECONDITIONERS = {"adam": preconditioned.adam_preconditioner, "rmsprop": preconditioned.rmsprop_preconditioner}


class Problem(NamedTuple):
    """``loss(params, batch) -> ()``, the full-batch training loss, and the ``batch`` it is
    evaluated on (any pytree of arrays: the whole training set)."""

    loss: Callable[[Any, Any], jax.Array]
    batch: Any


@dataclass(frozen=True)
class _FlatHVP:
    """``(batch, params, v) -> ∇²L(θ) v`` on flat vectors; hashable by its loss (static in jit)."""

    loss: Callable

    def __call__(self, batch, params, v):
        _, unravel = ravel_pytree(params)
        grad = jax.grad(lambda p: self.loss(p, batch))
        return ravel_pytree(jax.jvp(grad, (params,), (unravel(v),))[1])[0]


def hessian_operator(problem: Problem, params) -> tuple[Partial, int]:
    """``(matvec, d)``: ``v ↦ ∇²L(θ) v`` on flat (d,) vectors (forward-over-reverse), as a
    :class:`~jax.tree_util.Partial` whose function is static and whose data (batch, θ) are
    traced, so the eigensolvers compile it once for every θ of a run."""
    return Partial(_FlatHVP(problem.loss), problem.batch, params), ravel_pytree(params)[0].size


def train(problem: Problem, params, optimizer: optax.GradientTransformation, steps: int, *,
          eig_every: int = 1, k: int = 3, threshold: float | None = None, k_max: int = 20,
          preconditioner: str | None = None, preconditioner_kw: dict | None = None,
          tol: float = 1e-3, key: jax.Array | None = None, compiled: bool = True) -> dict:
    """``steps`` full-batch optimizer steps from ``params``, with eigenpairs every ``eig_every``.

    ``k``: top eigenpairs tracked (warm-started), or with ``threshold`` the minimum of the
    threshold-driven set (at most ``k_max``). ``preconditioner``: ``"adam"`` or ``"rmsprop"``
    (``preconditioner_kw``: their ``eps`` etc., as given to optax) also records the effective
    sharpness λ_max(P⁻¹H) (top-1, certified). Returns a dict of numpy arrays: ``loss`` (steps+1,)
    at θ_0..θ_T; at the eigen-steps ``eig_step`` (E,): ``sharpness``, ``values`` (E, k_max) NaN-
    padded, ``tracked`` (number of pairs), ``above`` (with ``threshold``), ``certified`` and
    ``error_bound`` (:class:`eoslib.lanczos.Eigenpairs`: with probability ≥ 1 − 1e-3 each true top
    value is within it of ``values``), ``hvps``, and with a preconditioner ``effective``, ``effective_certified``, ``effective_hvps``;
    and ``params``, the last parameters.

    ``compiled``: the eigensolver's driver (:func:`eoslib.lanczos.lanczos_eigh`): True compiles
    each solve whole (fastest per solve), False runs its loop on the host with only the HVP
    and the Lanczos step compiled (a few seconds of compiling per distinct ``k`` instead of
    tens: the better choice on a CPU when the solves are few or, with ``threshold``, ``k``
    varies)."""
    if steps < 1 or eig_every < 1 or not 1 <= k <= k_max:
        raise ValueError("need steps >= 1, eig_every >= 1 and 1 <= k <= k_max")
    if preconditioner not in (None, *PRECONDITIONERS):
        raise ValueError(f"preconditioner {preconditioner!r}: choose None or one of {sorted(PRECONDITIONERS)}")
    key = jax.random.PRNGKey(0) if key is None else key
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state):
        loss, grad = jax.value_and_grad(problem.loss)(params, problem.batch)
        updates, opt_state = optimizer.update(grad, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rows, losses, prev = [], [], None
    dtype = ravel_pytree(params)[0].dtype
    for t in range(steps + 1):
        if t % eig_every == 0 or t == steps:
            key, sub, sub2 = jax.random.split(key, 3)
            matvec, dim = hessian_operator(problem, params)
            if threshold is None:
                pairs = top_eigenpairs(matvec, dim, k, tol=tol, prev_vectors=prev, key=sub, dtype=dtype,
                                       compiled=compiled)
                above = -1
            else:
                pairs = track_above(matvec, dim, threshold, prev_vectors=prev, k_min=k, k_max=k_max, tol=tol,
                                    key=sub, dtype=dtype, compiled=compiled)
                above = pairs.above
            prev = pairs.vectors
            values = np.full(k_max, np.nan)
            values[:pairs.values.shape[0]] = np.asarray(pairs.values)
            row = dict(eig_step=t, sharpness=float(pairs.values[0]), values=values, tracked=pairs.values.shape[0],
                       above=above, certified=bool(pairs.certified), error_bound=float(pairs.error_bound),
                       hvps=int(pairs.num_matvecs))
            if preconditioner is not None and t > 0:  # the optimizer's state holds P from step 1 on
                p = PRECONDITIONERS[preconditioner](opt_state, **(preconditioner_kw or {}))
                eff = preconditioned.effective_sharpness(matvec, p, dim, 1, tol=tol, key=sub2, dtype=dtype,
                                                        compiled=compiled)
                row.update(effective=float(eff.values[0]), effective_certified=bool(eff.certified),
                           effective_hvps=int(eff.num_matvecs))
            elif preconditioner is not None:
                row.update(effective=np.nan, effective_certified=False, effective_hvps=0)
            rows.append(row)
        if t == steps:
            losses.append(float(problem.loss(params, problem.batch)))
            break
        params, opt_state, loss = step(params, opt_state)
        losses.append(float(loss))
    out = {name: np.asarray([r[name] for r in rows]) for name in rows[0]}
    return {"loss": np.asarray(losses), **out, "params": params}

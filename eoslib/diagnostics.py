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

:func:`train_lanes` runs L lanes (seeds, learning rates, any hyperparameter of the optimizer) in
one vmapped step; ``train(..., checkpoint=path)`` resumes a killed run from its last eigen-step.

For GD the limit is ``2/η`` (:func:`eoslib.preconditioned.stability_limit` gives the others).
Everything is float32 unless the parameters are float64 (with x64 enabled). Model state such as
BatchNorm statistics belongs in the loss's closure or the batch: the Hessian is of exactly the
loss passed, so pass the train-mode loss that the optimizer descends (``tests/
test_batchnorm_mode.py`` shows what an eval-mode Hessian gets wrong).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial

from eoslib import preconditioned
from eoslib.objective import HVP_MODES, linearized_flat_hvp
from eoslib.tracking import top_eigenpairs, track_above

__all__ = ["Problem", "hessian_operator", "train", "train_lanes"]

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


@dataclass(frozen=True)
class _LossOf:
    """``(batch, params) -> loss(params, batch)``; hashable by its loss."""

    loss: Callable

    def __call__(self, batch, params):
        return self.loss(params, batch)


def hessian_operator(problem: Problem, params, hvp: str = "direct") -> tuple[Partial, int]:
    """``(matvec, d)``: ``v ↦ ∇²L(θ) v`` on flat (d,) vectors, as a
    :class:`~jax.tree_util.Partial` whose function is static and whose data (batch, θ) are
    traced, so the eigensolvers compile it once for every θ of a run. ``hvp``
    (:data:`eoslib.objective.HVP_MODES`): ``"direct"``, forward-over-reverse at every product;
    ``"linearized"``, one :func:`jax.linearize` of the gradient at θ, then products without the
    primal pass (:func:`eoslib.objective.linearized_flat_hvp`: equal to rounding, cheaper, more
    memory)."""
    if hvp not in HVP_MODES:
        raise ValueError(f"hvp={hvp!r}: must be one of {HVP_MODES}")
    dim = ravel_pytree(params)[0].size
    if hvp == "linearized":
        return linearized_flat_hvp(Partial(_LossOf(problem.loss), problem.batch), params), dim
    return Partial(_FlatHVP(problem.loss), problem.batch, params), dim


def _eigen_row(problem: Problem, params, opt_state, prev, keys, step: int, *, k: int, threshold, k_max: int,
               tol: float, compiled: bool, preconditioner, preconditioner_kw, hvp: str) -> tuple[dict, jax.Array]:
    """One record of :func:`train` at ``step``: the tracked eigenpairs (warm-started from
    ``prev``; ``keys``: two PRNG keys, of that solve and of the effective one) and, with a
    preconditioner, the effective sharpness. Returns ``(row, vectors)``."""
    sub, sub2 = keys
    dtype = ravel_pytree(params)[0].dtype
    matvec, dim = hessian_operator(problem, params, hvp)
    if threshold is None:
        pairs = top_eigenpairs(matvec, dim, k, tol=tol, prev_vectors=prev, key=sub, dtype=dtype, compiled=compiled)
        above = -1
    else:
        pairs = track_above(matvec, dim, threshold, prev_vectors=prev, k_min=k, k_max=k_max, tol=tol,
                            key=sub, dtype=dtype, compiled=compiled)
        above = pairs.above
    values = np.full(k_max, np.nan)
    values[:pairs.values.shape[0]] = np.asarray(pairs.values)
    row = dict(eig_step=step, sharpness=float(pairs.values[0]), values=values, tracked=pairs.values.shape[0],
               above=above, certified=bool(pairs.certified), error_bound=float(pairs.error_bound),
               hvps=int(pairs.num_matvecs))
    if preconditioner is not None and step > 0:  # the optimizer's state holds P from step 1 on
        p = PRECONDITIONERS[preconditioner](opt_state, **(preconditioner_kw or {}))
        eff = preconditioned.effective_sharpness(matvec, p, dim, 1, tol=tol, key=sub2, dtype=dtype,
                                                compiled=compiled)
        row.update(effective=float(eff.values[0]), effective_certified=bool(eff.certified),
                   effective_hvps=int(eff.num_matvecs))
    elif preconditioner is not None:
        row.update(effective=np.nan, effective_certified=False, effective_hvps=0)
    return row, pairs.vectors


def _save(path: Path, step: int, params, opt_state, prev, key, rows: list, losses: list) -> None:
    """The state of a run after ``step`` (:func:`train`'s ``checkpoint``), written atomically."""
    leaves = jax.tree.leaves((params, opt_state))
    arrays = {f"leaf{i}": np.asarray(a) for i, a in enumerate(leaves)}
    arrays.update(step=np.asarray(step), key=np.asarray(key), losses=np.asarray(losses, float),
                  rows=np.asarray(json.dumps([{n: (v.tolist() if isinstance(v, np.ndarray) else v)
                                                for n, v in r.items()} for r in rows])))
    if prev is not None:
        arrays["prev"] = np.asarray(prev)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _load(path: Path, params, opt_state):
    """``(step, params, opt_state, prev, key, rows, losses)`` saved by :func:`_save`; the pytree
    structures are those of ``params`` and ``opt_state`` (a fresh run's)."""
    with np.load(path) as f:
        treedef = jax.tree.structure((params, opt_state))
        leaves = [jnp.asarray(f[f"leaf{i}"]) for i in range(treedef.num_leaves)]
        params, opt_state = jax.tree.unflatten(treedef, leaves)
        rows = [{n: (np.asarray(v, float) if n == "values" else v) for n, v in r.items()}
                for r in json.loads(str(f["rows"]))]
        prev = jnp.asarray(f["prev"]) if "prev" in f else None
        return (int(f["step"]), params, opt_state, prev, jnp.asarray(f["key"]), rows,
                [float(x) for x in f["losses"]])


def _outputs(rows: list, losses: list, params) -> dict:
    out = {name: np.asarray([r[name] for r in rows]) for name in rows[0]}
    return {"loss": np.asarray(losses), **out, "params": params}


def _check_settings(steps, eig_every, k, k_max, preconditioner):
    if steps < 1 or eig_every < 1 or not 1 <= k <= k_max:
        raise ValueError("need steps >= 1, eig_every >= 1 and 1 <= k <= k_max")
    if preconditioner not in (None, *PRECONDITIONERS):
        raise ValueError(f"preconditioner {preconditioner!r}: choose None or one of {sorted(PRECONDITIONERS)}")


def train(problem: Problem, params, optimizer: optax.GradientTransformation, steps: int, *,
          eig_every: int = 1, k: int = 3, threshold: float | None = None, k_max: int = 20,
          preconditioner: str | None = None, preconditioner_kw: dict | None = None,
          tol: float = 1e-3, key: jax.Array | None = None, compiled: bool = True,
          hvp: str = "direct", checkpoint: str | os.PathLike | None = None) -> dict:
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
    varies). ``hvp``: how the solves form Hessian-vector products (:func:`hessian_operator`;
    ``"linearized"`` is cheaper per product, most for convolutional models on a CPU:
    ``benchmarks/results/hvp_modes.json``).

    ``checkpoint``: a file (``.npz``) where the run's state is saved at every eigen-step; a run
    started with an existing checkpoint resumes from it (same ``problem``, ``params`` and
    settings: the result is the uninterrupted run's, bit for bit)."""
    _check_settings(steps, eig_every, k, k_max, preconditioner)
    key = jax.random.PRNGKey(0) if key is None else key
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state):
        loss, grad = jax.value_and_grad(problem.loss)(params, problem.batch)
        updates, opt_state = optimizer.update(grad, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    settings = dict(k=k, threshold=threshold, k_max=k_max, tol=tol, compiled=compiled,
                    preconditioner=preconditioner, preconditioner_kw=preconditioner_kw, hvp=hvp)
    rows, losses, prev, start = [], [], None, 0
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and path.exists():
        start, params, opt_state, prev, key, rows, losses = _load(path, params, opt_state)
    for t in range(start, steps + 1):
        if (t % eig_every == 0 or t == steps) and not (rows and rows[-1]["eig_step"] == t):
            key, sub, sub2 = jax.random.split(key, 3)
            row, prev = _eigen_row(problem, params, opt_state, prev, (sub, sub2), t, **settings)
            rows.append(row)
            if path is not None:
                _save(path, t, params, opt_state, prev, key, rows, losses)
        if t == steps:
            losses.append(float(problem.loss(params, problem.batch)))
            break
        params, opt_state, loss = step(params, opt_state)
        losses.append(float(loss))
    return _outputs(rows, losses, params)


def train_lanes(problem: Problem, params, make_optimizer: Callable[[jax.Array], optax.GradientTransformation],
                hyper, steps: int, *, eig_every: int = 1, k: int = 3, threshold: float | None = None,
                k_max: int = 20, preconditioner: str | None = None, preconditioner_kw: dict | None = None,
                tol: float = 1e-3, key: jax.Array | None = None, compiled: bool = True,
                hvp: str = "direct") -> list[dict]:
    """:func:`train` for L lanes at once: seeds and/or hyperparameters, the optimizer steps of all
    lanes in one vmapped, compiled step.

    ``params``: a pytree whose leaves have a leading lane axis (L, ...) (e.g. ``jax.vmap(init)``
    over L keys, or one initialization repeated); ``hyper`` (L,) or a pytree of (L,) arrays: lane
    i runs ``make_optimizer(hyper[i])`` (e.g. ``lambda lr: optax.sgd(lr)``; it is traced, so
    it must accept an array). The eigensolves run lane by lane (warm-started within each lane);
    ``threshold`` may be a scalar or (L,) (e.g. ``c · 2/η`` per lane). Returns one dict per
    lane, as :func:`train` returns."""
    _check_settings(steps, eig_every, k, k_max, preconditioner)
    lanes = jax.tree.leaves(params)[0].shape[0]
    key = jax.random.PRNGKey(0) if key is None else key
    thresholds = np.broadcast_to(np.asarray(np.nan if threshold is None else threshold, float), (lanes,))

    def one_step(params, opt_state, h):
        loss, grad = jax.value_and_grad(problem.loss)(params, problem.batch)
        updates, opt_state = make_optimizer(h).update(grad, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    step = jax.jit(jax.vmap(one_step))
    opt_state = jax.vmap(lambda p, h: make_optimizer(h).init(p))(params, hyper)
    lane = lambda tree, i: jax.tree.map(lambda a: a[i], tree)  # noqa: E731
    rows, losses, prev = [[] for _ in range(lanes)], [[] for _ in range(lanes)], [None] * lanes
    keys = list(jax.random.split(key, lanes))
    for t in range(steps + 1):
        if t % eig_every == 0 or t == steps:
            for i in range(lanes):
                keys[i], sub, sub2 = jax.random.split(keys[i], 3)
                row, prev[i] = _eigen_row(
                    problem, lane(params, i), lane(opt_state, i), prev[i], (sub, sub2), t, k=k,
                    threshold=None if np.isnan(thresholds[i]) else float(thresholds[i]), k_max=k_max, tol=tol,
                    compiled=compiled, preconditioner=preconditioner, preconditioner_kw=preconditioner_kw, hvp=hvp)
                rows[i].append(row)
        if t == steps:
            final = jax.vmap(problem.loss, in_axes=(0, None))(params, problem.batch)
            for i in range(lanes):
                losses[i].append(float(final[i]))
            break
        params, opt_state, loss = step(params, opt_state, hyper)
        for i in range(lanes):
            losses[i].append(float(loss[i]))
    return [_outputs(rows[i], losses[i], lane(params, i)) for i in range(lanes)]

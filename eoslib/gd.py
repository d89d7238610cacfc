"""Full-batch gradient descent epochs as pure functions (paper, Appendix F: no momentum, no
weight decay), looped in blocks; one code path for single runs and vmapped sweeps.

One epoch = one GD step θ_{t+1} = θ_t − η_t ∇L(θ_t) (:func:`epoch_step`). The metrics of
epoch t are taken at θ_t: training loss and accuracy (from the same pass as the gradient),
evaluation loss and accuracy (BatchNorm in eval mode, running averages), ‖θ_t‖, |θ_t − θ*_t|
with θ*_t the mean of the last ``mean_window`` parameter vectors θ_{t−W+1..t} (Appendix G,
Figure 9), and η_t.

A run stops at completion (training accuracy above ``completion_accuracy``, measured at θ_t:
no step is taken after it), at ``max_epochs``, at divergence (a non-finite loss or parameter
norm, or a loss above ``divergence_factor`` times the initial loss), or *frozen*: at an exactly
zero gradient (and BatchNorm statistics that no longer change), a fixed point of GD that no later
epoch can leave, so stopping there changes nothing but the epochs spent (a dead network: every
unit of a ReLU layer off on every training image; ``eoslib.runs`` names the layer). Diverged and
frozen runs are flagged, never raised.

:func:`run_epochs` loops :func:`epoch_step` over a block of epochs, in one compiled
:func:`run_block` or, without ``objective.compiled_loops``, in Python; models that stopped are
frozen by a mask, so :func:`eoslib.runs.train` and the vmapped sweeps of :mod:`eoslib.sweep`
run the same code. A model trained inside a vmapped sweep follows the same arithmetic but
XLA's batched kernels round differently, so it agrees with a single run only up to float
rounding, which the edge of stability amplifies over long runs.
"""

from __future__ import annotations

from functools import partial, reduce
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from eoslib import models
from eoslib.objective import Batch, Objective
from eoslib.schedules import Schedule, learning_rate, update_reduced

PyTree = Any

__all__ = ["Limits", "TrainState", "init_state", "epoch_step", "run_block", "run_epochs",
           "split_lanes", "join_lanes", "init_states"]


class Limits(NamedTuple):
    """Stopping rules (scalars, or arrays (M,) in a sweep)."""

    max_epochs: jax.Array
    completion_accuracy: jax.Array
    divergence_factor: jax.Array


class TrainState(NamedTuple):
    """State of one run between epochs; ``window`` (W, d) holds the last W flat parameters and
    ``window_rest`` (d,) the sum of its rows except the one the next epoch overwrites."""

    params: PyTree
    batch_stats: PyTree
    epoch: jax.Array  # () int32: GD steps taken so far (t of θ_t)
    reduced: jax.Array  # () bool: learning-rate reduction has happened
    stopped: jax.Array  # () bool
    completed: jax.Array  # () bool
    diverged: jax.Array  # () bool
    frozen: jax.Array  # () bool: stopped at an exactly zero gradient (a fixed point of GD)
    initial_loss: jax.Array  # () float
    window: jax.Array  # (W, d)
    window_rest: jax.Array  # (d,)


def _fresh_state(variables: dict, mean_window: int, lead: tuple[int, ...] = ()) -> TrainState:
    """The state before the first epoch around initialized ``variables``, whose leaves (and so
    every field) have the leading axes ``lead``: () for one run, (M,) for a batch."""
    leaves = jax.tree.leaves(variables["params"])
    d, dtype = sum(leaf[(0,) * len(lead)].size for leaf in leaves), jnp.result_type(*leaves)
    false = jnp.zeros(lead, bool)
    return TrainState(
        params=variables["params"], batch_stats=variables.get("batch_stats", {}),
        epoch=jnp.zeros(lead, jnp.int32), reduced=false, stopped=false, completed=false, diverged=false,
        frozen=false, initial_loss=jnp.full(lead, jnp.nan, dtype),
        window=jnp.zeros((*lead, mean_window, d), dtype), window_rest=jnp.zeros((*lead, d), dtype))


def init_state(model: nn.Module, key: jax.Array, input_shape, mean_window: int) -> TrainState:
    """Fresh state: parameters initialized with ``key`` (traceable, so ``vmap`` over keys)."""
    return _fresh_state(models.init_variables(model, key, input_shape), mean_window)


def init_states(model: nn.Module, keys: jax.Array, input_shape, mean_window: int) -> TrainState:
    """:func:`init_state` for one key () or for a batch of keys (M,): the same values bit for bit
    as ``jax.vmap(init_state)``, from the initializer compiled once per model and input shape
    (:func:`eoslib.models.init_variables`), called once per key, not a vmapped program
    compiled anew for every number of keys (``benchmarks/bench_init.py``)."""
    if keys.ndim == 0:
        return init_state(model, keys, input_shape, mean_window)
    drawn = [models.init_variables(model, key, input_shape) for key in keys]
    variables = jax.tree.map(lambda *leaves: jnp.asarray(np.stack([np.asarray(x) for x in leaves])), *drawn)
    return _fresh_state(variables, mean_window, (len(drawn),))


def _window_sums(window: jax.Array, rest: jax.Array, row: jax.Array,
                 slot: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Σ of the rows of ``window`` (W, d) just after ``row`` (d,) was written at row ``slot``, and
    that sum less the row the next epoch overwrites (``slot + 1`` mod W), both (d,). ``rest``:
    the latter as the previous epoch returned it (the sum without row ``slot``). The sum is taken
    afresh when ``slot`` is 0, i.e. every W epochs, and is ``rest + row`` otherwise, so rounding
    accumulates over fewer than W epochs while an epoch reads two rows, not all W (a vmapped
    sweep's windows are far too large to stream through every epoch). The rows are read after
    the write: reading the overwritten row before it would make XLA copy the whole window."""
    total = jax.lax.cond(slot == 0, lambda: sum(window[1:], window[0]), lambda: rest + row)
    return total, total - window[(slot + 1) % window.shape[0]]


def _all_zero(tree) -> jax.Array:
    """() bool: every entry of every leaf of ``tree`` is exactly zero."""
    return reduce(jnp.logical_and, [jnp.all(leaf == 0) for leaf in jax.tree.leaves(tree)], jnp.array(True))


def _all_equal(a, b) -> jax.Array:
    """() bool: the pytrees ``a`` and ``b`` are equal entry by entry."""
    return reduce(jnp.logical_and, [jnp.all(x == y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))],
                  jnp.array(True))


def epoch_step(objective: Objective, train_data: Batch, eval_data: Batch, limits: Limits,
               schedule: Schedule, state: TrainState, slot: jax.Array) -> tuple[TrainState, dict]:
    """Record the metrics at θ_t and take one GD step unless the run stops at θ_t.

    ``slot`` () int is the row of ``state.window`` that θ_t replaces, ``t mod W``; it is an
    argument rather than computed from ``state.epoch`` so that a vmapped sweep, whose active
    models all share t, writes one row for all (a dynamic slice, not a per-model scatter).
    Returns the new state and the epoch's metrics (scalars; ``active`` is False for a run that
    had already stopped, whose state is returned unchanged)."""
    active = ~state.stopped
    loss, acc, new_stats, grad = objective.loss_and_grad(state.params, state.batch_stats,
                                                         train_data)
    eval_loss, eval_acc = objective.evaluate(state.params, state.batch_stats, eval_data)
    flat, _ = ravel_pytree(state.params)
    w = state.window.shape[0]
    row = jnp.where(active, flat, state.window[slot])
    window = state.window.at[slot].set(row)
    window_sum, window_rest = _window_sums(window, state.window_rest, row, slot)
    center = window_sum / jnp.minimum(state.epoch + 1, w)
    initial_loss = jnp.where(state.epoch == 0, loss.astype(state.initial_loss.dtype),
                             state.initial_loss)
    param_norm = jnp.linalg.norm(flat)
    diverged = ~jnp.isfinite(loss) | ~jnp.isfinite(param_norm) | (
        loss > limits.divergence_factor * initial_loss)
    completed = acc > limits.completion_accuracy
    frozen = _all_zero(grad) & _all_equal(new_stats, state.batch_stats)
    stop = diverged | completed | frozen | (state.epoch >= limits.max_epochs)
    reduced = update_reduced(schedule, state.epoch, state.reduced, acc)
    lr = learning_rate(schedule, state.epoch, reduced)
    step = active & ~stop
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(step, a, b), new, old)  # noqa: E731
    new_state = TrainState(
        params=keep(jax.tree.map(lambda p, g: p - lr.astype(p.dtype) * g, state.params, grad),
                    state.params),
        batch_stats=keep(new_stats, state.batch_stats),
        epoch=state.epoch + step.astype(jnp.int32),
        reduced=jnp.where(active, reduced, state.reduced),
        stopped=state.stopped | stop,
        completed=jnp.where(active, completed, state.completed),
        diverged=jnp.where(active, diverged, state.diverged),
        frozen=jnp.where(active, frozen, state.frozen),
        initial_loss=jnp.where(active, initial_loss, state.initial_loss),
        window=window, window_rest=window_rest)
    metrics = dict(train_loss=loss, train_acc=acc, eval_loss=eval_loss, eval_acc=eval_acc,
                   param_norm=param_norm, dist_to_mean=jnp.linalg.norm(flat - center), lr=lr,
                   active=active)
    return new_state, metrics


def _stepper(objective: Objective, train_data: Batch, eval_data: Batch, batched: bool):
    step = partial(epoch_step, objective, train_data, eval_data)
    return jax.vmap(step, in_axes=(0, 0, 0, None)) if batched else step


def split_lanes(tree, groups: int) -> tuple:
    """``groups`` consecutive slices of the leading (model) axis of every leaf, sizes differing
    by at most one (``np.array_split``); ``(tree,)`` for one group."""
    if groups == 1:
        return (tree,)
    size = jax.tree.leaves(tree)[0].shape[0]
    cuts = np.linspace(0, size, groups + 1).round().astype(int)
    return tuple(jax.tree.map(lambda a, lo=lo, hi=hi: a[lo:hi], tree)
                 for lo, hi in zip(cuts[:-1], cuts[1:]))


def join_lanes(trees: tuple):
    """Inverse of :func:`split_lanes`: concatenate along the leading axis."""
    return trees[0] if len(trees) == 1 else jax.tree.map(lambda *a: jnp.concatenate(a), *trees)


def _grouped_epoch(step, lanes: tuple, states: tuple, slot: jax.Array) -> tuple[tuple, tuple]:
    """One epoch of every lane group: independent computations in one program, which XLA:CPU's
    executor runs concurrently on the cores (the small per-model GEMMs of a vmapped MLP epoch
    do not use two cores by themselves)."""
    out = [step(limits, schedule, state, slot) for (limits, schedule), state in zip(lanes, states)]
    return tuple(o[0] for o in out), tuple(o[1] for o in out)


def run_block(objective: Objective, capacity: int, batched: bool, groups: int,
              train_data: Batch, eval_data: Batch, limits: Limits, schedule: Schedule,
              state: TrainState, start_epoch: jax.Array, num_epochs: jax.Array):
    """Up to ``num_epochs`` (traced, at most the static ``capacity``) calls of :func:`epoch_step`
    in one ``lax.while_loop``, leaving early once every model has stopped. ``batched``: state,
    schedule and limits carry a leading model axis (M,) and the epoch is ``vmap``ped, separately
    over ``groups`` consecutive lane groups (:func:`split_lanes`; the loop carries them apart, so
    they are split and joined once per block). ``start_epoch``: the epoch t of the active models.
    Returns the state and the metrics, arrays (capacity,) or (M, capacity) whose entries from
    ``num_epochs`` on, and those with ``active`` False, are unused."""
    step = _stepper(objective, train_data, eval_data, batched)
    window = state.window.shape[-2]
    lanes = split_lanes((limits, schedule), groups)
    states = split_lanes(state, groups)
    metrics = tuple(
        {k: jnp.zeros((*s.shape, capacity), s.dtype)
         for k, s in jax.eval_shape(step, *lane, st, start_epoch)[1].items()}
        for lane, st in zip(lanes, states))

    def body(carry):
        i, sts, ms = carry
        sts, new = _grouped_epoch(step, lanes, sts, (start_epoch + i) % window)
        return i + 1, sts, tuple({k: m[k].at[..., i].set(n[k]) for k in m}
                                 for m, n in zip(ms, new))

    def cond(carry):
        running = [~jnp.all(st.stopped) for st in carry[1]]
        return (carry[0] < num_epochs) & reduce(jnp.logical_or, running)

    _, states, metrics = jax.lax.while_loop(cond, body, (0, states, metrics))
    return join_lanes(states), join_lanes(metrics)


run_block_jit = jax.jit(run_block, static_argnums=(0, 1, 2, 3))

MIN_CAPACITY = 128
"""Epochs a compiled block has room for at least (:func:`block_capacity`)."""


def block_capacity(num_epochs: int) -> int:
    """The static room of the compiled block that runs ``num_epochs`` epochs: the next power of
    two from :data:`MIN_CAPACITY` on. The epoch count itself is traced, so blocks of other
    lengths (to the next eigensolve, an anchor reached at any epoch, a remainder) share one
    compiled program instead of compiling the epoch anew for each length; the epochs run, and
    their results, are the same either way (``tests/test_runs.py``)."""
    return max(MIN_CAPACITY, 1 << max(int(num_epochs) - 1, 0).bit_length())


@partial(jax.jit, static_argnums=(0, 1, 2))
def _epoch_jit(objective, batched, groups, train_data, eval_data, limits, schedule, state, slot):
    step = _stepper(objective, train_data, eval_data, batched)
    states, metrics = _grouped_epoch(step, split_lanes((limits, schedule), groups),
                                     split_lanes(state, groups), slot)
    return join_lanes(states), join_lanes(metrics)


def run_epochs(objective: Objective, num_epochs: int, train_data: Batch, eval_data: Batch,
               limits: Limits, schedule: Schedule, state: TrainState, start_epoch: int, *,
               batched: bool = False, lane_groups: int = 1):
    """Up to ``num_epochs`` epochs from epoch ``start_epoch`` (that of the active models): one
    compiled :func:`run_block`, or, without ``objective.compiled_loops``, a Python loop over the
    jitted :func:`epoch_step` that stops once every model has stopped. ``lane_groups``
    (``batched`` only, from :func:`eoslib.execution.plan`): lane groups run side by side
    (:func:`run_block`). Returns the state
    and metrics (num_epochs',) or, ``batched``, (M, num_epochs'), ``num_epochs' <=
    num_epochs``."""
    args = (train_data, eval_data, limits, schedule)
    if objective.compiled_loops:
        state, metrics = run_block_jit(objective, block_capacity(num_epochs), batched, lane_groups, *args, state,
                                       jnp.int32(start_epoch), jnp.int32(num_epochs))
        return state, jax.tree.map(lambda a: a[..., :num_epochs], metrics)
    collected, window = [], state.window.shape[-2]
    for i in range(num_epochs):
        slot = jnp.int32((start_epoch + i) % window)
        state, metrics = _epoch_jit(objective, batched, lane_groups, *args, state, slot)
        collected.append(metrics)
        if bool(jnp.all(state.stopped)):
            break
    return state, {k: jnp.stack([m[k] for m in collected], axis=-1) for k in collected[0]}

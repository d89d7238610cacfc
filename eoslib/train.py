"""Full-batch gradient descent as in the paper (Appendix F): no momentum, no weight decay.

One objective serves training, evaluation and the Hessian: :class:`Objective` sums per-example
losses over consecutive chunks of the data (``lax.scan`` over full chunks plus one remainder
chunk; gradients and HVPs are summed chunk by chunk, so memory is that of one chunk) and divides
by the number of examples, so the loss is the exact full-batch mean whatever the chunk size.
For GhostBatchNorm models the chunks are the ghost batches (1,024 examples, or a multiple), run
in train mode: that is the function GD minimizes, and the one whose Hessian
:func:`hessian_matvec` multiplies by (derivatives through the batch statistics included).

One epoch = one GD step θ_{t+1} = θ_t − η_t ∇L(θ_t). The record of epoch t holds the metrics at
θ_t: training loss and accuracy (from the same pass as the gradient), evaluation loss and
accuracy (BatchNorm in eval mode, running averages), ‖θ_t‖, |θ_t − θ*_t| with θ*_t the mean of
the last ``mean_window`` parameter vectors θ_{t−W+1..t} (Appendix G, Figure 9), and η_t.

A run stops at completion (training accuracy > 99.99 %, Section 4, measured at θ_t: no step is
taken after it), at ``max_epochs`` (θ_{max_epochs} is recorded), or at divergence: a non-finite
loss or parameter norm, or a loss above ``divergence_factor`` times the initial loss. A diverged
run is flagged, never raised.

The epoch is a pure function :func:`epoch_step` of a :class:`TrainState`; :func:`run_block`
loops it over a block of epochs (models that stopped are frozen by a mask), so the single-run
trainer :func:`train` and the vmapped sweeps of :mod:`eoslib.sweep` run the same code. On CPU,
convolutional models loop over epochs and chunks in Python instead (see :class:`Objective`).

Reproducibility: the same config on the same machine gives bitwise identical results. A model
trained inside a vmapped sweep follows the same arithmetic but XLA's batched kernels round
differently, so it agrees with :func:`train` only up to float rounding, which the edge of
stability amplifies over long runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from functools import partial, reduce
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial
from tqdm import tqdm  # text bar: tqdm.auto warns in notebooks without ipywidgets

from eoslib import data as datasets
from eoslib import losses, models
from eoslib.lanczos import Eigenpairs, host_lanczos, lanczos_eigh
from eoslib.schedules import Schedule, as_arrays, learning_rate, update_reduced
from eoslib.tracking import track_eigh

PyTree = Any

MODELS = {"mlp": models.MLP, "vgg10": models.VGG10, "vgg19": models.VGG19,
          "resnet20": models.ResNet20}
METRICS = ("train_loss", "train_acc", "eval_loss", "eval_acc", "param_norm", "dist_to_mean", "lr")


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run (and its results-store key).

    ``dataset``: ``"fmnist"``, ``"cifar10"`` or ``"cifar10-aug"`` (``n_train`` a multiple of
    50,000: 500,000 is the paper's CIFAR-10-500k). ``chunk_size``: examples per chunk of the
    full-batch sums; default the whole set, or the ghost batch (1,024) for BatchNorm models.
    ``eig_every`` > 0 records the top ``eig_k`` Hessian eigenpairs every that many epochs from
    epoch ``eig_start`` on (``eig_start + j * eig_every``); ``sharpness_at_end`` records the
    top eigenvalue at the last parameters.
    """

    model: str = "mlp"
    dataset: str = "fmnist"
    n_train: int = 1000
    n_eval: int = 200
    loss: str = "xent"
    schedule: Schedule = Schedule(0.01)
    seed: int = 0
    max_epochs: int = 1000
    chunk_size: int | None = None
    completion_accuracy: float = 0.9999
    divergence_factor: float = 1000.0
    mean_window: int = 10
    eig_every: int = 0
    eig_start: int = 0
    eig_k: int = 1
    eig_tol: float = 1e-3
    keep_eigenvectors: bool = False
    sharpness_at_end: bool = True

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["schedule"] = {k: float(v) for k, v in self.schedule._asdict().items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        return cls(**{**d, "schedule": Schedule(**d["schedule"])})

    def key(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict` (the results-store key)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def load_split(config: RunConfig, data_dir=None) -> datasets.Split:
    """The data set of ``config`` (see :mod:`eoslib.data`)."""
    if config.dataset == "fmnist":
        return datasets.fashion_mnist(config.n_train, config.n_eval, data_dir)
    if config.dataset == "cifar10":
        return datasets.cifar10(config.n_train, config.n_eval, data_dir)
    if config.dataset == "cifar10-aug":
        copies, rest = divmod(config.n_train, 50_000)
        if rest:
            raise ValueError("cifar10-aug needs n_train a multiple of 50,000")
        return datasets.cifar10_augmented(copies, config.n_eval, data_dir)
    raise ValueError(f"unknown dataset {config.dataset!r}")


# --------------------------------------------------------------------------- objective


class Batch(NamedTuple):
    x: jax.Array  # (N, H, W, C) float
    y: jax.Array  # (N,) int32


def _tree_add(a, b):
    return jax.tree.map(jnp.add, a, b)


def sum_over_chunks(fn, batch: Batch, chunk_size: int, unroll: bool = False):
    """Σ_chunks fn(chunk) over consecutive chunks of ``chunk_size`` examples: a ``lax.scan``
    over the full chunks (a Python loop if ``unroll``) plus one call on the remainder. ``fn``
    returns a pytree of sums."""
    n = batch.y.shape[0]
    size = min(chunk_size, n)
    num_full, rem = divmod(n, size)
    full = jax.tree.map(lambda a: a[: num_full * size].reshape(num_full, size, *a.shape[1:]), batch)
    if num_full == 1 or unroll:
        total = fn(jax.tree.map(lambda a: a[0], full))
        for i in range(1, num_full):
            total = _tree_add(total, fn(jax.tree.map(lambda a: a[i], full)))
    else:
        first = jax.eval_shape(fn, jax.tree.map(lambda a: a[0], full))
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), first)
        total, _ = jax.lax.scan(lambda acc, chunk: (_tree_add(acc, fn(chunk)), None), zeros, full)
    if rem:
        total = _tree_add(total, fn(jax.tree.map(lambda a: a[num_full * size:], batch)))
    return total


@dataclass(frozen=True)
class Objective:
    """Static description of the training objective (hashable, so ``jit`` caches on it).

    ``compiled_loops=False`` runs the loops over chunks and epochs in Python (unrolled or
    epoch by epoch) instead of ``lax.scan``/``lax.while_loop``: on XLA:CPU the backward pass of
    a convolution inside a compiled loop is about 30x slower than outside one (measured with
    jax 0.10.2), so :func:`make_objective` turns it off for convolutional models on CPU.
    """

    model: nn.Module
    loss: str = "xent"
    chunk_size: int = 1024
    compiled_loops: bool = True

    def _apply(self, params, stats, x, train: bool, update_stats: bool):
        variables = {"params": params, **({"batch_stats": stats} if stats else {})}
        if update_stats and stats:
            logits, new = self.model.apply(variables, x, train=train, mutable=["batch_stats"])
            return logits, new["batch_stats"]
        return self.model.apply(variables, x, train=train), stats

    def chunk_loss(self, params, stats, chunk: Batch) -> jax.Array:
        """Sum over the chunk of the per-example training loss (train mode)."""
        logits, _ = self._apply(params, stats, chunk.x, True, False)
        return jnp.sum(losses.LOSSES[self.loss](logits, chunk.y))

    def chunk_train_sums(self, params, stats, chunk: Batch):
        """(loss sum, (correct count, size-weighted updated batch stats)) in train mode."""
        logits, new_stats = self._apply(params, stats, chunk.x, True, True)
        weighted = jax.tree.map(lambda s: s * chunk.y.shape[0], new_stats)
        return jnp.sum(losses.LOSSES[self.loss](logits, chunk.y)), (
            jnp.sum(losses.correct(logits, chunk.y)), weighted)

    def loss_and_grad(self, params, stats, batch: Batch):
        """Full-batch mean loss, accuracy, updated running stats and gradient, accumulated
        chunk by chunk (memory of one chunk)."""

        def one(chunk):
            with models.stored_transpose_weight_gradients():  # GD's gradient only, not HVPs
                (loss, (hits, new_stats)), grad = jax.value_and_grad(
                    self.chunk_train_sums, has_aux=True)(params, stats, chunk)
            return loss, hits, new_stats, grad

        n = batch.y.shape[0]
        loss, hits, new_stats, grad = sum_over_chunks(one, batch, self.chunk_size,
                                                     not self.compiled_loops)
        scale = lambda t: jax.tree.map(lambda a: a / n, t)  # noqa: E731
        return loss / n, hits / n, scale(new_stats), scale(grad)

    def evaluate(self, params, stats, batch: Batch, train: bool = False):
        """Mean loss and accuracy (BatchNorm in eval mode unless ``train``)."""

        def one(chunk):
            logits, _ = self._apply(params, stats, chunk.x, train, False)
            return (jnp.sum(losses.LOSSES[self.loss](logits, chunk.y)),
                    jnp.sum(losses.correct(logits, chunk.y)))

        loss, hits = sum_over_chunks(one, batch, self.chunk_size, not self.compiled_loops)
        return loss / batch.y.shape[0], hits / batch.y.shape[0]

    def loss_fn(self, stats, batch: Batch) -> Partial:
        """``loss(params) -> ()``: the full-batch training loss GD minimizes, data bound."""
        return Partial(_BoundLoss(self), stats, batch)


@dataclass(frozen=True)
class _BoundLoss:
    """``(stats, batch, params) -> ()`` full-batch training loss; hashable static function."""

    objective: Objective

    def __call__(self, stats, batch, params):
        obj = self.objective
        return sum_over_chunks(partial(obj.chunk_loss, params, stats), batch, obj.chunk_size,
                               not obj.compiled_loops) / batch.y.shape[0]


@dataclass(frozen=True)
class _ChunkedFlatHVP:
    """``(stats, batch, params, v) -> H v``, per-chunk HVPs summed; hashable static function."""

    objective: Objective

    def __call__(self, stats, batch, params, vector):
        flat, unravel = ravel_pytree(params)
        tangent = unravel(vector.astype(flat.dtype))
        chunk_loss = self.objective.chunk_loss

        def one(chunk):
            grad = lambda p: jax.grad(chunk_loss)(p, stats, chunk)  # noqa: E731
            return ravel_pytree(jax.jvp(grad, (params,), (tangent,))[1])[0]

        obj = self.objective
        return sum_over_chunks(one, batch, obj.chunk_size,
                               not obj.compiled_loops) / batch.y.shape[0]


def hessian_matvec(objective: Objective, params, stats, batch: Batch) -> Partial:
    """``v -> H v`` on flat (d,) vectors, H the Hessian of the full-batch training loss at
    ``params``; accumulated chunk by chunk (per-chunk HVPs summed), so its memory is that of one
    chunk. A :class:`~jax.tree_util.Partial`, as :func:`eoslib.lanczos.lanczos_eigh` expects."""
    return Partial(_ChunkedFlatHVP(objective), stats, batch, params)


def default_chunk_size(model: nn.Module, n: int, chunk_size: int | None) -> int:
    """The whole set for plain models; for GhostBatchNorm models the ghost batch (checked)."""
    ghost = getattr(model, "ghost_size", None)
    if ghost is None:
        return n if chunk_size is None else chunk_size
    size = ghost if chunk_size is None else chunk_size
    if size < n and size % ghost:
        raise ValueError(f"chunk_size {size} must be a multiple of the ghost batch {ghost}")
    return size


# --------------------------------------------------------------------------- GD epochs


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
    initial_loss: jax.Array  # () float
    window: jax.Array  # (W, d)
    window_rest: jax.Array  # (d,)


def init_state(model: nn.Module, key: jax.Array, input_shape, mean_window: int) -> TrainState:
    """Fresh state: parameters initialized with ``key`` (traceable, so ``vmap`` over keys)."""
    variables = models.init_variables(model, key, input_shape)
    flat, _ = ravel_pytree(variables["params"])
    return TrainState(
        params=variables["params"], batch_stats=variables.get("batch_stats", {}),
        epoch=jnp.zeros((), jnp.int32), reduced=jnp.zeros((), bool), stopped=jnp.zeros((), bool),
        completed=jnp.zeros((), bool), diverged=jnp.zeros((), bool),
        initial_loss=jnp.full((), jnp.nan, flat.dtype),
        window=jnp.zeros((mean_window, flat.size), flat.dtype),
        window_rest=jnp.zeros((flat.size,), flat.dtype))


_init_state_jit = jax.jit(init_state, static_argnums=(0, 2, 3))


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
    stop = diverged | completed | (state.epoch >= limits.max_epochs)
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


def run_block(objective: Objective, num_epochs: int, batched: bool, groups: int,
              train_data: Batch, eval_data: Batch, limits: Limits, schedule: Schedule,
              state: TrainState, start_epoch: jax.Array):
    """Up to ``num_epochs`` calls of :func:`epoch_step` in one ``lax.while_loop``, leaving early
    once every model has stopped. ``batched``: state, schedule and limits carry a leading model
    axis (M,) and the epoch is ``vmap``ped, separately over ``groups`` consecutive lane groups
    (:func:`split_lanes`; the loop carries them apart, so they are split and joined once per
    block). ``start_epoch``: the epoch t of the active models. Returns the state and the
    metrics, arrays (num_epochs,) or (M, num_epochs) whose entries with ``active`` False are
    unused."""
    step = _stepper(objective, train_data, eval_data, batched)
    window = state.window.shape[-2]
    lanes = split_lanes((limits, schedule), groups)
    states = split_lanes(state, groups)
    metrics = tuple(
        {k: jnp.zeros((*s.shape, num_epochs), s.dtype)
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
    (``batched`` only): lane groups run side by side (:func:`run_block`). Returns the state
    and metrics (num_epochs',) or, ``batched``, (M, num_epochs'), ``num_epochs' <=
    num_epochs``."""
    num_models = state.epoch.shape[0] if batched else 1
    if not 1 <= lane_groups <= num_models:
        raise ValueError(f"lane_groups={lane_groups}: need 1 <= lane_groups <= {num_models} "
                         "(the number of models)")
    args = (train_data, eval_data, limits, schedule)
    if objective.compiled_loops:
        return run_block_jit(objective, num_epochs, batched, lane_groups, *args, state,
                             jnp.int32(start_epoch))
    collected, window = [], state.window.shape[-2]
    for i in range(num_epochs):
        slot = jnp.int32((start_epoch + i) % window)
        state, metrics = _epoch_jit(objective, batched, lane_groups, *args, state, slot)
        collected.append(metrics)
        if bool(jnp.all(state.stopped)):
            break
    return state, {k: jnp.stack([m[k] for m in collected], axis=-1) for k in collected[0]}


# --------------------------------------------------------------------------- single runs


@dataclass
class RunResult:
    """A finished run: per-epoch ``history`` (arrays (T+1,) for θ_0..θ_T), ``eigen`` records
    (``epoch`` (R,), ``values``/``residuals`` (R, k), ``num_matvecs`` (R,), optionally
    ``vectors`` (R, d, k)), final metrics, flags and the final state."""

    config: RunConfig
    history: dict
    eigen: dict
    final: dict
    diverged: bool
    wall_time_s: float
    state: TrainState = field(repr=False)


def progress_enabled(progress: bool | None) -> bool:
    """``None``: show progress bars only on an interactive terminal (silent under pytest/nbval)."""
    return sys.stderr.isatty() if progress is None else progress


def top_eigenpairs(objective: Objective, state: TrainState, train_data: Batch, k: int,
                   tol: float, prev_vectors=None, key=None) -> Eigenpairs:
    """Top-k Hessian eigenpairs of the training loss at ``state``; warm-started from
    ``prev_vectors`` (d, k) when given (:func:`eoslib.tracking.track_eigh`). Without
    ``objective.compiled_loops`` (convolutions on CPU) the Lanczos iteration runs in Python
    (:func:`host_lanczos`) so that each HVP is a jitted call outside any compiled loop."""
    matvec = hessian_matvec(objective, state.params, state.batch_stats, train_data)
    dim = ravel_pytree(state.params)[0].size
    if not objective.compiled_loops:
        rng = np.random.default_rng(0)
        v0 = rng.standard_normal(dim) if prev_vectors is None else np.sum(prev_vectors, axis=1)
        return host_lanczos(partial(_apply_jit, matvec), v0, k, tol)
    if prev_vectors is not None:
        return track_eigh(matvec, prev_vectors, k=k, tol=tol, key=key)
    return lanczos_eigh(matvec, dim, k, tol=tol, key=key)


@jax.jit
def _apply_jit(matvec, vector):
    return matvec(vector)


def _final_metrics(history: dict, state: TrainState) -> dict:
    last = {name: float(values[-1]) for name, values in history.items()}
    return {"epochs": int(state.epoch), "completed": bool(state.completed), **last}


def uses_convolution(model: nn.Module, input_shape) -> bool:
    """Whether the forward pass of ``model`` on inputs (N, *input_shape) has a convolution."""
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    jaxpr = jax.make_jaxpr(partial(model.init, train=False))(jax.random.key(0), x)
    return "conv_general_dilated" in str(jaxpr)


def make_objective(config: RunConfig, n_train: int, input_shape) -> Objective:
    """The :class:`Objective` of ``config`` for ``n_train`` inputs of shape ``input_shape``."""
    model = MODELS[config.model]()
    compiled = jax.default_backend() != "cpu" or not uses_convolution(model, tuple(input_shape))
    return Objective(model, config.loss, default_chunk_size(model, n_train, config.chunk_size),
                     compiled)


def train(config: RunConfig, split: datasets.Split | None = None, *, data_dir=None,
          progress: bool | None = None, block_epochs: int = 100) -> RunResult:
    """Train one model by full-batch GD as ``config`` says; never raises on divergence.

    ``split`` overrides the data set named in ``config`` (then ``n_train``/``n_eval`` are
    ignored). Epochs run in jitted blocks of ``block_epochs`` (or ``eig_every``) epochs.
    """
    start = time.perf_counter()
    split = load_split(config, data_dir) if split is None else split
    train_data = Batch(jnp.asarray(split.x_train), jnp.asarray(split.y_train))
    eval_data = Batch(jnp.asarray(split.x_eval), jnp.asarray(split.y_eval))
    objective = make_objective(config, len(split.y_train), split.x_train.shape[1:])
    state = _init_state_jit(objective.model, jax.random.key(config.seed),
                            tuple(split.x_train.shape[1:]), config.mean_window)
    limits = Limits(jnp.int32(config.max_epochs), jnp.float32(config.completion_accuracy),
                    jnp.float32(config.divergence_factor))
    schedule = as_arrays(config.schedule)
    block = config.eig_every if config.eig_every > 0 else min(block_epochs, config.max_epochs + 1)
    chunks, eig = [], {"epoch": [], "values": [], "residuals": [], "num_matvecs": [], "vectors": []}
    vectors = None
    bar = tqdm(total=config.max_epochs + 1, disable=not progress_enabled(progress), unit="epoch")
    if config.eig_every > 0 and config.eig_start > 0:  # run up to the first recorded epoch
        state, metrics = run_epochs(objective, config.eig_start, train_data, eval_data, limits,
                                    schedule, state, 0)
        chunks.append(jax.device_get(metrics))
        bar.update(int(np.sum(chunks[-1]["active"])))
    while not bool(state.stopped):
        if config.eig_every > 0:
            pairs = top_eigenpairs(objective, state, train_data, config.eig_k, config.eig_tol,
                                   vectors)
            vectors = pairs.vectors
            _append_eigen(eig, int(state.epoch), pairs, config.keep_eigenvectors)
        state, metrics = run_epochs(objective, block, train_data, eval_data, limits, schedule,
                                    state, int(state.epoch))
        metrics = jax.device_get(metrics)
        chunks.append(metrics)
        bar.update(int(np.sum(metrics["active"])))
    bar.close()
    active = np.concatenate([m["active"] for m in chunks])
    history = {name: np.concatenate([m[name] for m in chunks])[active] for name in METRICS}
    final = _final_metrics(history, state)
    if config.sharpness_at_end and not bool(state.diverged):
        pairs = top_eigenpairs(objective, state, train_data, 1, config.eig_tol, None)
        final["sharpness"] = float(pairs.values[0])
    eigen = {k: np.asarray(v) for k, v in eig.items() if v}
    return RunResult(config, history, eigen, final, bool(state.diverged),
                     time.perf_counter() - start, state)


def _append_eigen(eig: dict, epoch: int, pairs, keep_vectors: bool) -> None:
    eig["epoch"].append(epoch)
    eig["values"].append(np.asarray(pairs.values))
    eig["residuals"].append(np.asarray(pairs.residuals))
    eig["num_matvecs"].append(int(pairs.num_matvecs))
    if keep_vectors:
        eig["vectors"].append(np.asarray(pairs.vectors))

"""The training objective: the chunked full-batch mean loss, its gradient and its Hessian-vector
products (Pearlmutter's trick), on pytrees and on flat vectors. Every part of eoslib that needs
a loss, a gradient or an HVP (the trainer, the eigensolver, the chapters, the benchmarks and the
tests) takes it from here.

Chunks. :class:`Objective` sums per-example losses over consecutive chunks of the data
(:func:`sum_over_chunks`: ``lax.scan`` over the full chunks plus one remainder chunk, or a
Python loop) and divides by the number of examples ``n``, so

    L(θ) = (1/n) Σ_c Σ_{i ∈ chunk c} ℓ(f_θ(x_i), y_i)

is the exact full-batch mean whatever the chunk size, and gradients and HVPs are summed chunk
by chunk (memory of one chunk).

HVPs. ``H v = d/dε ∇L(θ + ε v)`` is the forward-mode derivative (JVP) of the reverse-mode
gradient (:func:`hvp`), a small multiple of one gradient's cost
(``benchmarks/results/hessian.json``). :meth:`Objective.hessian_matvec` is the chunked HVP of
the training loss on flat ``(d,)`` vectors, in the ravel order of
:func:`jax.flatten_util.ravel_pytree`; :func:`flat_hvp` gives the same for any scalar loss.
Both return a :class:`~jax.tree_util.Partial` whose arrays (parameters, data) are traced
arguments of ``jit``, so a solver compiles once per objective and is reused at every epoch.

Linearized HVPs (``Objective(hvp_mode="linearized")``). Each product above re-evaluates the
forward and backward pass at θ along with their tangents. :func:`jax.linearize` of ∇L at θ
evaluates them once, when the matvec is made, and keeps their residuals, so that a product
evaluates only the tangent (linear) part: the same H v to rounding, cheaper by the primal pass
(``benchmarks/results/hvp_modes.json``), at the memory of the whole batch's residuals instead of
one chunk's. The products are not bit for bit the direct ones (with BatchNorm they round
differently), so the mode is part of a run's config (:attr:`eoslib.runs.RunConfig.hvp`).

BatchNorm. With ghost batch normalization (Hoffer et al., 2018; the paper's VGG/ResNet
setting, Appendix F) the chunks are the ghost batches (1,024 examples, or a multiple) run in
train mode, so the normalization statistics of chunk ``c`` depend on θ: that is the function GD
minimizes, and the 2/η stability threshold applies to its Hessian, derivatives through the
batch statistics included (running averages would give the Hessian of another function).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial

from eoslib import losses, models

PyTree = Any
Array = jax.Array

__all__ = ["Batch", "Objective", "HVP_MODES", "sum_over_chunks", "hvp", "flat_hvp", "linearized_flat_hvp", "as_partial",
           "default_chunk_size"]

HVP_MODES = ("direct", "linearized")
"""How :meth:`Objective.hessian_matvec` forms products: ``"direct"``, forward-over-reverse at
every product (:func:`hvp`); ``"linearized"``, from one :func:`jax.linearize` of ∇L per matvec."""


class Batch(NamedTuple):
    """Examples: ``x`` (N, H, W, C) float inputs, ``y`` (N,) int32 labels."""

    x: jax.Array
    y: jax.Array


def _tree_add(a, b):
    return jax.tree.map(jnp.add, a, b)


def sum_over_chunks(fn, batch: Batch, chunk_size: int, unroll: bool = False):
    """``Σ_chunks fn(chunk)`` over consecutive chunks of ``chunk_size`` examples: a ``lax.scan``
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


def hvp(loss_fn: Callable[[PyTree], Array], params: PyTree, tangent: PyTree) -> PyTree:
    """``∇²L(params) · tangent`` by forward-over-reverse; pytrees like ``params`` in and out."""
    return jax.jvp(jax.grad(loss_fn), (params,), (tangent,))[1]


def as_partial(fn: Callable) -> Partial:
    """``fn`` as a :class:`~jax.tree_util.Partial` (unchanged if it is one): its bound arrays are
    traced by ``jit``, its function is static (compared by identity)."""
    return fn if isinstance(fn, Partial) else Partial(fn)


def _flat_apply(tree_hvp: Partial, params: PyTree, vector: Array) -> Array:
    """``tree_hvp(params, tangent)`` on a flat (d,) ``vector``, returned flat (d,)."""
    flat, unravel = ravel_pytree(params)
    return ravel_pytree(tree_hvp(params, unravel(vector.astype(flat.dtype))))[0]


def _cast_floats(tree: PyTree, dtype) -> PyTree:
    return jax.tree.map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def flat_hvp(loss_fn: Callable[[PyTree], Array], params: PyTree, *,
             dtype=None) -> tuple[Partial, Callable[[Array], PyTree]]:
    """``(matvec, unravel)``: ``matvec(v) = ∇²L(params) v`` on flat (d,) vectors for any scalar
    ``loss_fn`` (a ``Partial`` keeps its bound data traced), ``unravel`` (d,) -> pytree.
    ``dtype`` (e.g. ``jnp.float64``) casts the floating leaves of ``params`` first."""
    if dtype is not None:
        params = _cast_floats(params, dtype)
    _, unravel = ravel_pytree(params)
    return Partial(_flat_apply, Partial(hvp, as_partial(loss_fn)), params), unravel


def linearized_flat_hvp(loss_fn: Callable[[PyTree], Array], params: PyTree) -> Partial:
    """``matvec(v) = ∇²L(params) v`` on flat (d,) vectors, like :func:`flat_hvp`, from one
    :func:`jax.linearize` of the flat gradient ``g(θ) = ∇L(θ)`` at ``params``: ``H v = ∂g(θ)[v]``.
    The forward and backward pass run once, here (compiled once per ``loss_fn`` function and
    shapes); the returned ``Partial`` carries their residuals as arrays, so a product evaluates
    only the linear part, and its treedef (which holds the linearized program) is the same at
    every call, so a solver compiles once for it. A ``Partial`` ``loss_fn`` keeps its bound
    data traced. Vectors are cast to the parameters' dtype. Memory: the residuals of the whole
    loss (every chunk's activations), where a direct product holds one chunk's."""
    return _linearize(as_partial(loss_fn), params)


@jax.jit
def _linearize(loss_fn: Partial, params: PyTree) -> Partial:
    flat, unravel = ravel_pytree(params)
    grad = lambda f: ravel_pytree(jax.grad(loss_fn)(unravel(f)))[0]  # noqa: E731
    return Partial(_apply_linear, jax.linearize(grad, flat)[1], jnp.zeros((), flat.dtype))


def _apply_linear(linear: Partial, like: Array, vector: Array) -> Array:
    return linear(vector.astype(like.dtype))


@dataclass(frozen=True)
class Objective:
    """Static description of the training objective (hashable, so ``jit`` caches on it).

    ``compiled_loops``: loops over chunks (and, in the trainer, epochs) as ``lax.scan`` /
    ``lax.while_loop``; otherwise Python loops. ``stored_transpose``: GD's gradient traces the
    input layer through :func:`eoslib.models.matmul_stored_transpose`. Both are decided by
    :mod:`eoslib.execution`, not here. ``hvp_mode``: one of :data:`HVP_MODES`, how
    :meth:`hessian_matvec` forms its products (a choice of the run's config, since it can change
    results by rounding).
    """

    model: nn.Module
    loss: str = "xent"
    chunk_size: int = 1024
    compiled_loops: bool = True
    stored_transpose: bool = False
    hvp_mode: str = "direct"

    def __post_init__(self):
        if self.hvp_mode not in HVP_MODES:
            raise ValueError(f"hvp_mode={self.hvp_mode!r}: must be one of {HVP_MODES}")

    def _apply(self, params, stats, x, train: bool, update_stats: bool):
        variables = {"params": params, **({"batch_stats": stats} if stats else {})}
        if update_stats and stats:
            logits, new = self.model.apply(variables, x, train=train, mutable=["batch_stats"])
            return logits, new["batch_stats"]
        return self.model.apply(variables, x, train=train), stats

    def _sum(self, fn, batch: Batch):
        return sum_over_chunks(fn, batch, self.chunk_size, not self.compiled_loops)

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
        """Full-batch mean loss, accuracy, updated running stats and gradient ∇L(θ)."""

        def one(chunk):
            with models.stored_transpose_weight_gradients(self.stored_transpose):
                (loss, (hits, new_stats)), grad = jax.value_and_grad(
                    self.chunk_train_sums, has_aux=True)(params, stats, chunk)
            return loss, hits, new_stats, grad

        n = batch.y.shape[0]
        loss, hits, new_stats, grad = self._sum(one, batch)
        scale = lambda t: jax.tree.map(lambda a: a / n, t)  # noqa: E731
        return loss / n, hits / n, scale(new_stats), scale(grad)

    def evaluate(self, params, stats, batch: Batch, train: bool = False):
        """Mean loss and accuracy (BatchNorm in eval mode unless ``train``)."""

        def one(chunk):
            logits, _ = self._apply(params, stats, chunk.x, train, False)
            return (jnp.sum(losses.LOSSES[self.loss](logits, chunk.y)),
                    jnp.sum(losses.correct(logits, chunk.y)))

        loss, hits = self._sum(one, batch)
        return loss / batch.y.shape[0], hits / batch.y.shape[0]

    def loss_fn(self, stats, batch: Batch) -> Partial:
        """``loss(params) -> ()``: the full-batch training loss L(θ) GD minimizes, data bound."""
        return Partial(_BoundLoss(self), stats, batch)

    def hvp(self, params, stats, batch: Batch, tangent: PyTree) -> PyTree:
        """``∇²L(θ) · tangent`` on pytrees, per-chunk HVPs summed (memory of one chunk)."""
        return _ChunkedHVP(self)(stats, batch, params, tangent)

    def hessian_matvec(self, params, stats, batch: Batch) -> Partial:
        """``v -> ∇²L(θ) v`` on flat (d,) vectors, as :func:`eoslib.lanczos.lanczos_eigh`
        expects: the chunked :meth:`hvp` through :func:`flat_hvp`'s flat wrapper, or (``hvp_mode
        = "linearized"``) :meth:`linearized_matvec`."""
        if self.hvp_mode == "linearized":
            return self.linearized_matvec(params, stats, batch)
        return Partial(_flat_apply, Partial(_ChunkedHVP(self), stats, batch), params)

    def linearized_matvec(self, params, stats, batch: Batch) -> Partial:
        """``v -> ∇²L(θ) v`` on flat (d,) vectors from one linearization of ∇L at θ
        (:func:`linearized_flat_hvp` of :meth:`loss_fn`): the same products as
        :meth:`hessian_matvec`'s direct ones to rounding, each without the primal pass."""
        return linearized_flat_hvp(self.loss_fn(stats, batch), params)


@dataclass(frozen=True)
class _BoundLoss:
    """``(stats, batch, params) -> ()`` full-batch training loss; hashable static function."""

    objective: Objective

    def __call__(self, stats, batch, params):
        obj = self.objective
        return obj._sum(partial(obj.chunk_loss, params, stats), batch) / batch.y.shape[0]


@dataclass(frozen=True)
class _ChunkedHVP:
    """``(stats, batch, params, tangent) -> H tangent``; hashable static function."""

    objective: Objective

    def __call__(self, stats, batch, params, tangent):
        obj = self.objective

        def one(chunk):
            return hvp(lambda p: obj.chunk_loss(p, stats, chunk), params, tangent)

        total = obj._sum(one, batch)
        return jax.tree.map(lambda a: a / batch.y.shape[0], total)


def default_chunk_size(model: nn.Module, n: int, chunk_size: int | None) -> int:
    """The whole set for plain models; for GhostBatchNorm models the ghost batch (checked)."""
    ghost = getattr(model, "ghost_size", None)
    if ghost is None:
        return n if chunk_size is None else chunk_size
    size = ghost if chunk_size is None else chunk_size
    if size < n and size % ghost:
        raise ValueError(f"chunk_size {size} must be a multiple of the ghost batch {ghost}")
    return size

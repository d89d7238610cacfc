"""Hessian-vector products of a training loss (Pearlmutter's trick).

The Hessian ``H(θ) = ∇²L(θ)`` is never formed: ``H v`` is the forward-mode
derivative (JVP) of the reverse-mode gradient along ``v``, which costs a small
constant multiple of one gradient evaluation (about 2x for the paper's MLP, see
``benchmarks/bench_hessian.py``).

Three pieces:

* :func:`hvp` — pytree in, pytree out, for any scalar ``loss_fn(params)``.
* :func:`flat_hvp` — the same product as a matvec on flat ``(d,)`` vectors, the
  form the eigensolvers of :mod:`eoslib.lanczos` consume. The matvec is a
  :class:`jax.tree_util.Partial` whose array leaves (the parameters, and the data
  when ``loss_fn`` is itself a ``Partial`` such as the one returned by
  :func:`chunked_mean_loss`) are *traced* arguments of ``jit``: the solver
  compiles once per loss function and is reused at every epoch.
* :func:`chunked_mean_loss` — the exact mean loss over a large data set as a
  ``lax.scan`` over fixed-size chunks ("ghost batches") plus the remainder
  chunk, so that gradients and HVPs of the full-batch loss fit in memory.

BatchNorm. With ghost batch normalization (Hoffer et al., 2018; the paper's
VGG/ResNet setting, Appendix F) gradient descent minimizes

    L(θ) = (1/n) Σ_c Σ_{i ∈ chunk c} ℓ(f_θ(x_i; μ_c(θ), σ_c(θ)), y_i),

where the normalization statistics ``μ_c, σ_c`` are computed (in train mode)
over chunk ``c`` and therefore depend on θ. The stability threshold 2/η of GD
applies to the Hessian of *this* function, so the per-chunk loss passed to
:func:`chunked_mean_loss` must run the model in train mode over the chunk (and
discard the updated running averages); the Hessian then includes the
derivatives through the batch statistics. Using running averages (eval mode)
would give the Hessian of a different function, not the one GD descends. Use
the same ``chunk_size`` as training so that the ghost batches coincide.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial

PyTree = Any
Array = jax.Array

__all__ = ["hvp", "flat_hvp", "chunked_mean_loss", "as_partial"]


def hvp(loss_fn: Callable[[PyTree], Array], params: PyTree, tangent: PyTree) -> PyTree:
    """Hessian-vector product ``∇²L(params) · tangent`` by forward-over-reverse.

    Args:
      loss_fn: scalar function of the parameter pytree.
      params: parameter pytree θ.
      tangent: pytree with the structure and dtypes of ``params``.

    Returns:
      A pytree like ``params``: ``d/dε ∇L(θ + ε t) |_{ε=0}``.
    """
    return jax.jvp(jax.grad(loss_fn), (params,), (tangent,))[1]


def as_partial(fn: Callable) -> Partial:
    """Wrap ``fn`` as a :class:`~jax.tree_util.Partial` (unchanged if it is one).

    A ``Partial`` is a pytree: its bound arguments are leaves that ``jit``
    traces, its function is static (compared by identity). Passing a ``Partial``
    to a jitted solver therefore recompiles only when the function changes.
    """
    return fn if isinstance(fn, Partial) else Partial(fn)


def _flat_hvp_apply(loss_fn: Partial, params: PyTree, vector: Array) -> Array:
    flat, unravel = ravel_pytree(params)
    tangent = unravel(vector.astype(flat.dtype))
    return ravel_pytree(hvp(loss_fn, params, tangent))[0]


def _cast_floats(tree: PyTree, dtype) -> PyTree:
    return jax.tree_util.tree_map(
        lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree
    )


def flat_hvp(
    loss_fn: Callable[[PyTree], Array], params: PyTree, *, dtype=None
) -> tuple[Partial, Callable[[Array], PyTree]]:
    """Hessian-vector product on flat vectors.

    Args:
      loss_fn: scalar function of the parameter pytree (a plain function or a
        ``Partial``; with a ``Partial`` its bound arrays, e.g. the data, are
        traced rather than baked into compiled code as constants).
      params: parameter pytree θ with ``d`` scalar entries in total.
      dtype: if given (e.g. ``jnp.float64``, which needs x64 enabled), the
        floating-point leaves of ``params`` are cast to it first, so the
        Hessian is evaluated in that precision.

    Returns:
      ``(matvec, unravel)``: ``matvec(v)`` maps a ``(d,)`` vector to the
      ``(d,)`` vector ``H v`` in the order of
      :func:`jax.flatten_util.ravel_pytree`; ``unravel`` maps a ``(d,)``
      vector back to a parameter pytree. ``matvec`` is a ``Partial`` binding
      ``params`` (and the data of a ``Partial`` loss), so it can be passed
      through ``jit`` and ``vmap``.
    """
    if dtype is not None:
        params = _cast_floats(params, dtype)
    _, unravel = ravel_pytree(params)
    return Partial(_flat_hvp_apply, as_partial(loss_fn), params), unravel


@dataclasses.dataclass(frozen=True)
class _ChunkedMean:
    """Static part of a chunked mean loss; hashable so that jit caches it."""

    per_chunk_loss: Callable[[PyTree, PyTree], Array]
    num_examples: int

    def __call__(self, full_chunks: PyTree, remainder: PyTree | None, params: PyTree) -> Array:
        first = jax.tree_util.tree_map(lambda x: x[0], full_chunks)
        out = jax.eval_shape(self.per_chunk_loss, params, first)
        total = jnp.zeros(out.shape, out.dtype)

        def body(carry, chunk):
            return carry + self.per_chunk_loss(params, chunk), None

        total, _ = jax.lax.scan(body, total, full_chunks)  # at least one full chunk
        if remainder is not None:
            total = total + self.per_chunk_loss(params, remainder)
        return total / self.num_examples


def chunked_mean_loss(
    per_chunk_loss: Callable[[PyTree, PyTree], Array], data: PyTree, chunk_size: int
) -> Partial:
    """Exact mean loss over ``n`` examples, accumulated over chunks.

    The examples (leading axis of every leaf of ``data``) are split, in order,
    into ``n // chunk_size`` full chunks, reduced with ``lax.scan``, and one
    remainder chunk of ``n % chunk_size`` examples (if non-empty) evaluated once
    more with its own static shape. The result is
    ``(Σ_chunks per_chunk_loss(params, chunk)) / n``, the exact mean whatever
    the remainder. Gradients and HVPs of it are therefore those of the
    full-batch loss (or, with BatchNorm in train mode, of the ghost-batch loss
    that GD minimizes: see the module docstring).

    Args:
      per_chunk_loss: ``per_chunk_loss(params, chunk) -> ()``, the SUM of the
        per-example losses over the chunk (not the mean, so that chunks of
        different sizes are weighted correctly). ``chunk`` has the pytree
        structure of ``data`` with leading axis ``chunk_size`` (or the
        remainder size).
      data: pytree of arrays with a common leading axis ``n``.
      chunk_size: examples per chunk, ``>= 1``.

    Returns:
      ``loss(params) -> ()``, a ``Partial`` whose bound arrays are the chunked
      data (traced under ``jit``, not embedded as constants).
    """
    leaves = jax.tree_util.tree_leaves(data)
    n = leaves[0].shape[0]
    if any(x.shape[0] != n for x in leaves):
        raise ValueError("all leaves of `data` need the same leading axis")
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    chunk_size = min(chunk_size, n)
    num_full, rem = divmod(n, chunk_size)
    full = jax.tree_util.tree_map(
        lambda x: x[: num_full * chunk_size].reshape(num_full, chunk_size, *x.shape[1:]), data
    )
    remainder = jax.tree_util.tree_map(lambda x: x[num_full * chunk_size :], data) if rem else None
    return Partial(_ChunkedMean(per_chunk_loss, n), full, remainder)

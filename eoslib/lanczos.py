"""Extreme eigenpairs of a symmetric operator given only as a matvec.

:func:`lanczos_eigh` computes the top-k (or bottom-k) eigenpairs of a symmetric
``d x d`` operator ``H`` (in this project a loss Hessian, through
:func:`eoslib.hvp.flat_hvp`) by Rayleigh–Ritz on a Krylov subspace with full
re-orthogonalization, entirely inside ``jit`` (one ``lax.while_loop``).

Algorithm. The method keeps an orthonormal basis ``Q = [q_1 .. q_n]`` of the
search space, the products ``W = H Q`` (one HVP per basis vector, never
recomputed) and the projected matrix ``T = Qᵀ H Q``. Each iteration

1. Rayleigh–Ritz: ``T = Y Θ Yᵀ``; the wanted Ritz pairs are ``(θ_i, Q y_i)``
   and their residuals ``r_i = W y_i − θ_i Q y_i = H v_i − θ_i v_i`` are exact
   up to rounding (no extra HVP);
2. stops when every wanted pair has ``‖r_i‖ ≤ tol · max_j |θ_j|``;
3. otherwise appends to the basis the residual(s) of the wanted pair(s) with
   the largest residual norm, orthogonalized against ``Q``, and applies ``H``
   to the new basis vector(s).

Because ``r_i ∈ span(Q, HQ)``, starting from one vector ``v0`` the basis after
``n`` steps spans the Krylov space ``K_n(H, v0) = span(v0, Hv0, …, H^{n−1}v0)``
whichever residual is appended: the Ritz pairs are exactly those of the
Lanczos method with full re-orthogonalization, with the same number of HVPs.
Starting from a block ``V0`` of ``s`` vectors and appending ``b`` residuals per
step, it is a block Krylov method (block Lanczos for ``b = s``; with ``b <
s`` it is Davidson's method without preconditioner, which spends HVPs only on
the least converged pairs). :mod:`eoslib.tracking` uses this to warm-start
from the previous epoch's eigenvectors.

Orthogonalization ("twice is enough"). A new vector ``p`` is orthogonalized
against the whole basis by classical Gram–Schmidt, ``p' = p − Q Qᵀ p``. Following
the Parlett–Kahan criterion as modified by Hegedüs (Abaffy & Fodor, 2015;
the paper cites it), if ``‖p'‖ ≥ ‖p‖/κ`` (κ = √2 here) ``p'`` is accepted;
otherwise digits were lost to cancellation and a second pass
``p'' = p' − Q Qᵀ p'`` is made; if ``‖p''‖ ≥ ‖p'‖/κ`` it is accepted, else ``p``
lies in ``span(Q)`` to working precision. That last case is a *breakdown*:
the search space is (numerically) invariant. It happens when the wanted pairs
have converged to rounding level or when ``H`` has fewer distinct eigenvalues
than the basis size (low rank, repeated eigenvalues). The solver then restarts
in a fresh direction: a Gaussian random vector orthogonalized twice against
``Q``. As every basis vector is orthonormal to working precision, the
Rayleigh–Ritz values are those of a well-conditioned projection: no spurious
copies ("ghosts") of converged eigenvalues appear, and distinct Ritz vectors
are orthogonal.

Repeated eigenvalues. A Krylov space started from ``s`` vectors contains at
most ``s`` independent vectors of any eigenspace before a breakdown. With the
default single start vector, an eigenvalue of multiplicity ``m > 1`` is
therefore returned ONCE (and the next eigenvalue takes the following slot)
unless a breakdown happens first; pass ``block_size >= m`` (and
``v0=None``) to resolve multiplicities up to ``block_size``. Clusters of
distinct but close eigenvalues are resolved with any block size (they only
need more iterations).

Tolerance. ``tol`` is relative: a pair is converged when
``‖H v − θ v‖₂ ≤ tol · max_j |θ_j|``, the max over all current Ritz values
(a lower bound on ‖H‖₂ that converges to it; for a Hessian with a dominant
positive outlier this is ``|λ_max|``). For a simple eigenvalue with gap δ to
the rest of the spectrum, the eigenvalue error is at most ``‖r‖²/δ`` and the
angle to the eigenvector at most ``‖r‖/δ``.

Cost per iteration besides the HVP(s): an ``m x m`` ``eigh`` and ``O(d m k)``
flops for the residuals, where ``m = max_iters`` is the static maximal basis
size; memory ``2 d m`` for ``Q`` and ``W``.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from eoslib.hvp import as_partial

Array = jax.Array

__all__ = ["Eigenpairs", "lanczos_eigh", "default_max_iters"]

_KAPPA = math.sqrt(2.0)


class Eigenpairs(NamedTuple):
    """Ritz approximations of ``k`` eigenpairs of a symmetric operator.

    Attributes:
      values: ``(k,)`` eigenvalues, sorted descending for ``which="LA"`` and
        ascending (most negative first) for ``which="SA"``.
      vectors: ``(d, k)`` orthonormal eigenvectors, column ``i`` for
        ``values[i]`` (sign arbitrary).
      residuals: ``(k,)`` ``‖H v_i − λ_i v_i‖₂``, computed from the stored
        products (exact up to rounding, not an estimate).
      num_matvecs: ``()`` int, number of operator applications (HVPs) used.
    """

    values: Array
    vectors: Array
    residuals: Array
    num_matvecs: Array


def default_max_iters(dim: int, k: int, start_size: int = 1) -> int:
    """Default maximal basis size: ``min(dim, start_size + max(60, 6 k))``."""
    return min(dim, start_size + max(60, 6 * k))


def _orthogonalize(basis: Array, p: Array) -> tuple[Array, Array]:
    """Orthogonalize ``p`` against the columns of ``basis`` ("twice is enough").

    ``basis`` is ``(m, d)`` with orthonormal or zero rows. Returns
    ``(p_perp, dependent)`` where ``dependent`` is True when ``p`` lies in the
    span of ``basis`` to working precision (including ``p == 0``).
    """
    norm0 = jnp.linalg.norm(p)
    p1 = p - (basis @ p) @ basis
    norm1 = jnp.linalg.norm(p1)

    def second_pass(x):
        x2 = x - (basis @ x) @ basis
        return x2, jnp.linalg.norm(x2) < jnp.linalg.norm(x) / _KAPPA

    p2, lost_again = jax.lax.cond(
        norm1 < norm0 / _KAPPA, second_pass, lambda x: (x, jnp.array(False)), p1
    )
    tiny = jnp.finfo(p.dtype).tiny
    dependent = lost_again | (jnp.linalg.norm(p2) <= tiny) | (norm0 <= tiny)
    return p2, dependent


def _random_orthogonal(basis: Array, key: Array) -> Array:
    """A unit Gaussian vector orthogonalized twice against ``basis``."""
    p = jax.random.normal(key, (basis.shape[1],), basis.dtype)
    for _ in range(2):
        p = p - (basis @ p) @ basis
    return p / jnp.linalg.norm(p)


class _State(NamedTuple):
    # Vectors are stored as rows (row-major: appending one is a contiguous write).
    basis: Array  # (m, d) orthonormal rows, zero beyond `size`
    products: Array  # (m, d) rows H q_i
    projected: Array  # (m, m) basis.T @ H @ basis, zero outside [:size, :size]
    size: Array  # () int, number of basis vectors
    num_matvecs: Array  # () int
    values: Array  # (p,) wanted Ritz values
    coeffs: Array  # (m, p) Ritz vectors in the basis
    residual_vectors: Array  # (p, d)
    residual_norms: Array  # (p,)
    converged: Array  # () bool
    key: Array


def _append(state: _State, candidates: Array, matvec: Partial) -> _State:
    """Orthonormalize the ``(b, d)`` candidates into the basis and apply H."""
    b = candidates.shape[0]
    basis, size, key = state.basis, state.size, state.key
    new_cols = []
    for j in range(b):  # b is small and static
        key, sub = jax.random.split(key)
        p, dependent = _orthogonalize(basis, candidates[j])
        p = jax.lax.cond(
            dependent,
            lambda: _random_orthogonal(basis, sub),
            lambda: p / jnp.linalg.norm(p),
        )
        basis = jax.lax.dynamic_update_slice(basis, p[None, :], (size + j, 0))
        new_cols.append(p)
    block = jnp.stack(new_cols)
    new_products = jax.vmap(matvec)(block).astype(basis.dtype)
    products = jax.lax.dynamic_update_slice(state.products, new_products, (size, 0))
    cross = basis @ new_products.T  # (m, b): rows >= size + b are zero
    inner = jax.lax.dynamic_slice(cross, (size, 0), (b, b))
    cross = jax.lax.dynamic_update_slice(cross, 0.5 * (inner + inner.T), (size, 0))
    projected = jax.lax.dynamic_update_slice(state.projected, cross, (0, size))
    projected = jax.lax.dynamic_update_slice(projected, cross.T, (size, 0))
    return state._replace(
        basis=basis,
        products=products,
        projected=projected,
        size=size + b,
        num_matvecs=state.num_matvecs + b,
        key=key,
    )


def _rayleigh_ritz(state: _State, k: int, which: str, tol: Array) -> _State:
    """Wanted Ritz pairs of the current basis, their residuals, convergence."""
    m = state.projected.shape[0]
    num_wanted = state.values.shape[0]
    active = jnp.arange(m) < state.size
    scale = jnp.sqrt(jnp.sum(state.projected**2))
    tiny = jnp.finfo(state.basis.dtype).tiny
    # Inactive rows are decoupled and put beyond the wanted end of the
    # spectrum at a distance ~ ||T||, so eigh's accuracy is not harmed.
    sentinel = -(3 * scale + tiny) if which == "LA" else 3 * scale + tiny
    shifted = state.projected + jnp.diag(jnp.where(active, 0.0, sentinel))
    evals, evecs = jnp.linalg.eigh(shifted)
    if which == "LA":
        evals, evecs = evals[::-1], evecs[:, ::-1]
    values = evals[:num_wanted]
    coeffs = evecs[:, :num_wanted]
    # The sentinels sort last in both cases, so the first `size` are active.
    norm_estimate = jnp.max(jnp.where(active, jnp.abs(evals), 0.0))
    residual_vectors = coeffs.T @ state.products - values[:, None] * (coeffs.T @ state.basis)
    residual_norms = jnp.linalg.norm(residual_vectors, axis=1)
    wanted_ok = residual_norms[:k] <= tol * norm_estimate
    converged = (state.size >= k) & jnp.all(wanted_ok)
    return state._replace(
        values=values,
        coeffs=coeffs,
        residual_vectors=residual_vectors,
        residual_norms=residual_norms,
        converged=converged,
    )


def _solve(
    matvec: Partial,
    start: Array,
    key: Array,
    tol: Array,
    *,
    k: int,
    which: str,
    max_basis: int,
    block_size: int,
) -> Eigenpairs:
    dim, num_start = start.shape
    dtype = start.dtype
    num_wanted = max(k, block_size)
    zeros_md = jnp.zeros((max_basis, dim), dtype)
    state = _State(
        basis=zeros_md,
        products=zeros_md,
        projected=jnp.zeros((max_basis, max_basis), dtype),
        size=jnp.array(0, int),
        num_matvecs=jnp.array(0, int),
        values=jnp.zeros((num_wanted,), dtype),
        coeffs=jnp.zeros((max_basis, num_wanted), dtype),
        residual_vectors=jnp.zeros((num_wanted, dim), dtype),
        residual_norms=jnp.zeros((num_wanted,), dtype),
        converged=jnp.array(False),
        key=key,
    )
    # The start block enters the basis `block_size` columns per iteration
    # through the same loop body as the expansions (one compiled HVP site).
    num_start_steps = -(-num_start // block_size)
    start = jnp.pad(start.T, ((0, num_start_steps * block_size - num_start), (0, 0)))

    def cond(s: _State):
        return (~s.converged) & (s.size + block_size <= max_basis)

    def body(s: _State):
        # Residuals of not-yet-available pairs (size < num_wanted) are zero and
        # lead to random restarts in `_append`, which is what is wanted then.
        _, chosen = jax.lax.top_k(s.residual_norms, block_size)
        in_start = s.size < num_start
        offset = jnp.minimum(s.size, start.shape[0] - block_size)
        start_rows = jax.lax.dynamic_slice(start, (offset, 0), (block_size, dim))
        candidates = jnp.where(in_start, start_rows, s.residual_vectors[chosen])
        s = _append(s, candidates, matvec)
        return _rayleigh_ritz(s, k, which, tol)

    state = jax.lax.while_loop(cond, body, state)
    vectors = state.basis.T @ state.coeffs[:, :k]
    return Eigenpairs(
        values=state.values[:k],
        vectors=vectors,
        residuals=state.residual_norms[:k],
        num_matvecs=state.num_matvecs,
    )


_solve_jit = jax.jit(_solve, static_argnames=("k", "which", "max_basis", "block_size"))


def lanczos_eigh(
    matvec: Callable[[Array], Array],
    dim: int,
    k: int,
    *,
    which: str = "LA",
    tol: float = 1e-3,
    max_iters: int | None = None,
    key: Array | None = None,
    v0: Array | None = None,
    dtype=jnp.float32,
    block_size: int = 1,
) -> Eigenpairs:
    """Top-k (``which="LA"``) or bottom-k (``"SA"``) eigenpairs of a symmetric operator.

    Krylov–Rayleigh–Ritz with full re-orthogonalization (see the module
    docstring for the algorithm, the breakdown handling and the exact
    convergence test), compiled as one ``lax.while_loop``.

    Args:
      matvec: ``(d,) -> (d,)`` symmetric linear map, e.g. the first output of
        :func:`eoslib.hvp.flat_hvp`. A :class:`~jax.tree_util.Partial` is
        traced through ``jit`` (compiled once per underlying function); any
        other callable is treated as static (recompiles when a new function
        object is passed). Works inside a user's ``jit`` too.
      dim: ``d``.
      k: number of eigenpairs, ``1 <= k <= d``.
      which: ``"LA"`` largest algebraic, ``"SA"`` smallest algebraic.
      tol: relative residual tolerance, ``‖H v_i − λ_i v_i‖ ≤ tol · max|θ|``
        for all ``i < k``.
      max_iters: maximal basis size = maximal number of HVPs (static; memory
        ``2 d max_iters``). Default :func:`default_max_iters`. The solver
        stops there if not converged; check ``residuals``.
      key: PRNG key for the start block and breakdown restarts
        (default ``PRNGKey(0)``).
      v0: optional start vector ``(d,)`` or start block ``(d, s)`` (need not
        be orthonormal; dependent columns are replaced by random ones).
      dtype: working precision of the basis and Ritz computations
        (``jnp.float64`` needs x64 enabled; evaluate the HVP in the same
        precision, e.g. ``flat_hvp(..., dtype=jnp.float64)``).
      block_size: number of basis vectors (HVPs) added per iteration; when
        ``v0`` is None also the number of random start vectors. Use
        ``block_size >= m`` to resolve eigenvalues of multiplicity ``m``.

    Returns:
      :class:`Eigenpairs` with ``k`` pairs.
    """
    if which not in ("LA", "SA"):
        raise ValueError(f"which must be 'LA' or 'SA', got {which!r}")
    if not 1 <= k <= dim:
        raise ValueError(f"need 1 <= k <= dim, got k={k}, dim={dim}")
    key = jax.random.PRNGKey(0) if key is None else key
    key, start_key = jax.random.split(key)
    if v0 is None:
        start = jax.random.normal(start_key, (dim, block_size), dtype)
    else:
        start = jnp.asarray(v0, dtype)
        start = start[:, None] if start.ndim == 1 else start
    num_start = start.shape[1]
    max_basis = default_max_iters(dim, k, num_start) if max_iters is None else min(max_iters, dim)
    block_size = min(block_size, max(1, max_basis - num_start))
    if num_start > max_basis:
        raise ValueError("max_iters is smaller than the number of start vectors")
    return _solve_jit(
        as_partial(matvec),
        start,
        key,
        jnp.asarray(tol, dtype),
        k=k,
        which=which,
        max_basis=max_basis,
        block_size=block_size,
    )

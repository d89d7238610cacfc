"""Extreme eigenpairs of a symmetric operator given only as a matvec.

:func:`host_lanczos` (end of the module) is the same Lanczos iteration driven from Python,
one jitted HVP per step: XLA:CPU runs convolution backprop ~30x slower inside compiled
loops, so :mod:`eoslib.train` uses it for convolutional models on CPU.

:func:`lanczos_eigh` computes the top-k (or bottom-k) eigenpairs of a symmetric
``d x d`` operator ``H`` (in this project a loss Hessian, through
:func:`eoslib.hvp.flat_hvp`) by the (block) Lanczos method with full
re-orthogonalization and Rayleigh–Ritz, entirely inside ``jit`` (one
``lax.while_loop``).

Algorithm. The method keeps an orthonormal basis ``Q`` (rows ``q_1 … q_n``) of
the Krylov space ``K_n(H, V0) = span(V0, H V0, H² V0, …)`` of a start block
``V0`` of ``b`` vectors (``b = 1``: classical Lanczos), the products
``W = H Q`` (one HVP per basis vector, never recomputed) and the projected
matrix ``T = Q H Qᵀ``. Each iteration

1. appends the pending block ``Q_new`` to the basis, computes ``H Q_new``
   (``b`` HVPs, batched with ``vmap``) and the new rows/columns of ``T``;
2. Rayleigh–Ritz: ``T = Y Θ Yᵀ``; the wanted Ritz pairs are ``(θ_i, Qᵀ y_i)``;
3. forms the next block by orthogonalizing ``H Q_new`` against the whole basis
   (full re-orthogonalization). Writing ``F = (I − QᵀQ) (H Q_new)ᵀ =
   Q_nextᵀ R``, the Lanczos relation ``H Qᵀ = Qᵀ T + F E_lastᵀ`` gives the
   residual of pair i as ``F y_i,last``, so ``‖H v_i − θ_i v_i‖ = ‖R y_i,last‖``
   (``y_i,last``: the last ``b`` coefficients of ``y_i``) at the cost of a
   ``b x b`` product, before spending any further HVP;
4. stops when every wanted pair has ``‖r_i‖ ≤ tol · max_j |θ_j|``.

The returned residuals are recomputed explicitly at the end from the stored
products, ``‖W y_i − θ_i Q y_i‖`` (exact up to rounding, not an estimate).
Step 3 first subtracts the three-term part, the components of ``H Q_new``
along ``Q_new`` and the block before it (in exact arithmetic the only
nonzero ones), and then orthogonalizes the remainder against the whole
basis; the coefficients of both steps together are the new column of ``T``,
so step 1 costs no extra pass over the basis. As the remainder is already
nearly orthogonal to the basis, the first full pass almost always passes the
test below, so an iteration reads the basis twice (one projection and one
combination), not four times: these passes are memory-bound and cost more
than the ``eigh`` of step 2 (``benchmarks/bench_hessian.py``).

Orthogonalization ("twice is enough"). A new vector ``p`` is orthogonalized
against the whole basis by classical Gram–Schmidt, ``p' = p − Q Qᵀ p``, with
the Parlett–Kahan criterion (the paper cites its modified form, Abaffy & Fodor
2015, after Hegedüs, which refines how the two tests below are thresholded; we
use the classical thresholds): if ``‖p'‖ ≥ ‖p‖/κ`` (κ = √2) ``p'`` is
accepted; otherwise digits were lost to cancellation and a second pass
``p'' = p' − Q Qᵀ p'`` is made; if ``‖p''‖ ≥ ‖p'‖/κ`` it is accepted, else
(or if a norm underflows) ``p`` lies in ``span(Q)`` to working precision.
That last case is a *breakdown*: the Krylov space is (numerically) an
invariant subspace of ``H``, which happens when the start block has components
along fewer distinct eigenvalues than the basis size (low rank, repeated
eigenvalues, small ``d``). The residuals of all current Ritz pairs are then
zero; if fewer than ``k`` pairs exist yet, the solver continues in a fresh
direction: a Gaussian random vector orthogonalized twice against ``Q``. As every basis vector is orthonormal to working precision, the
Rayleigh–Ritz values are those of a well-conditioned projection: no spurious
copies ("ghosts") of converged eigenvalues appear, and distinct Ritz vectors
are orthogonal.

Repeated eigenvalues. A Krylov space started from ``b`` vectors contains at
most ``b`` independent vectors of any eigenspace before a breakdown. With the
default single start vector, an eigenvalue of multiplicity ``m > 1`` is
therefore returned ONCE (and the next eigenvalue takes the following slot)
unless a breakdown happens first; pass ``block_size >= m`` to resolve
multiplicities up to ``block_size``. Clusters of distinct but close
eigenvalues are resolved with any block size (they only need more
iterations).

Tolerance. ``tol`` is relative: a pair is converged when
``‖H v − θ v‖₂ ≤ tol · max_j |θ_j|``, the max over all current Ritz values
(a lower bound on ‖H‖₂ that converges to it; for a Hessian with a dominant
positive outlier this is ``|λ_max|``). For a simple eigenvalue with gap δ to
the rest of the spectrum, the eigenvalue error is at most ``‖r‖²/δ`` and the
angle to the eigenvector at most ``‖r‖/δ``.

Cost per iteration besides the ``b`` HVPs: an ``m x m`` ``eigh`` (``m =
max_iters``, the static maximal basis size) and usually two (at most four)
dense passes over the ``m x d`` basis storage (``O(d m b)`` flops; unused rows
are zero); memory ``2 d m`` for ``Q`` and ``W``. There is no restart: if
``max_iters`` is reached first, the best pairs are returned with their (too
large) residuals.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
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


def default_max_iters(dim: int, k: int, block_size: int = 1) -> int:
    """Default maximal basis size: ``min(dim, max(60, 6 k) + block_size)``."""
    return min(dim, max(60, 6 * k) + block_size)


# Basis products run over all m stored rows (rows beyond the current size are
# zero): dense matrix-vector products over the whole padded basis are ~4x
# faster on CPU than a loop over only the occupied row chunks.
def _combine_rows(mat: Array, coeffs: Array) -> Array:
    """``coeffs.T @ mat``: ``(p, d)`` for ``mat`` (m, d) and ``coeffs`` (m, p)."""
    return coeffs.T @ mat


def _project_rows(mat: Array, vecs: Array) -> Array:
    """``mat @ vecs.T``: ``(m, p)`` for ``mat`` (m, d) and ``vecs`` (p, d)."""
    return mat @ vecs.T


def _project_out(basis: Array, p: Array) -> Array:
    """``p − Qᵀ Q p`` for the rows ``Q`` of ``basis`` (orthonormal or zero)."""
    return p - _combine_rows(basis, _project_rows(basis, p[None, :]))[0]


def _orthogonalize(
    basis: Array, p: Array, within=lambda x: x, coeffs: Array | None = None
) -> tuple[Array, Array]:
    """Orthogonalize ``p`` against the rows of ``basis`` ("twice is enough").

    ``basis`` is ``(m, d)`` with orthonormal rows up to the current size and
    zero rows after; ``within`` projects out further (already orthonormal) vectors.
    Returns ``(p_perp, dependent)`` where ``dependent`` is True when ``p``
    lies in the span of those rows to working precision (or ``p == 0``).
    ``coeffs``, if given, are the precomputed ``(m,)`` products ``basis @ p``.
    """
    norm0 = jnp.linalg.norm(p)
    if coeffs is None:
        p1 = within(_project_out(basis, p))
    else:
        p1 = within(p - _combine_rows(basis, coeffs[:, None])[0])
    norm1 = jnp.linalg.norm(p1)

    def second_pass(x):
        x2 = within(_project_out(basis, x))
        return x2, jnp.linalg.norm(x2) < jnp.linalg.norm(x) / _KAPPA

    p2, lost_again = jax.lax.cond(
        norm1 < norm0 / _KAPPA, second_pass, lambda x: (x, jnp.array(False)), p1
    )
    tiny = jnp.finfo(p.dtype).tiny
    dependent = lost_again | (jnp.linalg.norm(p2) <= tiny) | (norm0 <= tiny)
    return p2, dependent


def _random_orthogonal(basis: Array, key: Array, within=lambda x: x) -> Array:
    """A unit Gaussian vector orthogonalized twice against the rows of ``basis``."""
    p = jax.random.normal(key, (basis.shape[1],), basis.dtype)
    for _ in range(2):
        p = within(_project_out(basis, p))
    return p / jnp.linalg.norm(p)


class _State(NamedTuple):
    # Vectors are stored as rows (row-major: appending one is a contiguous write).
    basis: Array  # (m, d) orthonormal rows q_i, zero beyond `size`
    products: Array  # (m, d) rows H q_i
    projected: Array  # (m, m) T = Q H Qᵀ, zero outside [:size, :size]
    size: Array  # () int, number of basis vectors
    num_matvecs: Array  # () int
    values: Array  # (k,) wanted Ritz values
    coeffs: Array  # (m, k) their Ritz vectors in the basis
    norm_estimate: Array  # () max |Ritz value|
    residual_norms: Array  # (k,)
    converged: Array  # () bool
    pending: Array  # (b, d) next block, orthonormal to the basis
    key: Array


def _orthonormalize_block(
    basis: Array, candidates: Array, key: Array, coeffs: Array | None = None
):
    """Orthonormalize the ``(b, d)`` candidates against the basis and each other.

    ``coeffs`` optionally holds the precomputed ``(m, b)`` ``basis @ candidates.T``.

    Returns the new rows ``(b, d)`` (not yet written into ``basis``) and the
    key. A candidate dependent on the basis (breakdown) is replaced by a random
    direction orthogonal to it.
    """
    rows = []
    for j in range(candidates.shape[0]):  # b is small and static
        key, sub = jax.random.split(key)
        if rows:  # against the rows of this block found so far, then the basis
            block = jnp.stack(rows)
            within = lambda x, block=block: x - (block @ x) @ block  # noqa: E731
        else:
            within = lambda x: x  # noqa: E731
        if coeffs is None or rows:
            p, dependent = _orthogonalize(basis, within(candidates[j]), within)
        else:
            p, dependent = _orthogonalize(basis, candidates[j], within, coeffs[:, j])
        p = jax.lax.cond(
            dependent,
            lambda: _random_orthogonal(basis, sub, within),
            lambda: p / jnp.linalg.norm(p),
        )
        rows.append(p)
    return jnp.stack(rows), key


def _rayleigh_ritz(projected: Array, size: Array, k: int, which: str):
    """Wanted Ritz values, their coefficient vectors and ``max |θ|``."""
    m = projected.shape[0]
    active = jnp.arange(m) < size
    scale = jnp.sqrt(jnp.sum(projected**2))
    tiny = jnp.finfo(projected.dtype).tiny
    # Inactive rows are decoupled and put beyond the wanted end of the
    # spectrum at a distance ~ ||T||, so eigh's accuracy is not harmed.
    sentinel = -(3 * scale + tiny) if which == "LA" else 3 * scale + tiny
    evals, evecs = jnp.linalg.eigh(projected + jnp.diag(jnp.where(active, 0.0, sentinel)))
    if which == "LA":
        evals, evecs = evals[::-1], evecs[:, ::-1]
    # The sentinels sort last in both cases, so the first `size` are active.
    norm_estimate = jnp.max(jnp.where(active, jnp.abs(evals), 0.0))
    return evals[:k], evecs[:, :k], norm_estimate


def _solve(
    matvec: Partial,
    start: Array,
    key: Array,
    tol: Array,
    *,
    k: int,
    which: str,
    max_basis: int,
) -> Eigenpairs:
    block_size, dim = start.shape
    dtype = start.dtype
    zeros_md = jnp.zeros((max_basis, dim), dtype)
    zero = jnp.array(0, int)
    pending, key = _orthonormalize_block(zeros_md, start, key)
    state = _State(
        basis=zeros_md,
        products=zeros_md,
        projected=jnp.zeros((max_basis, max_basis), dtype),
        size=zero,
        num_matvecs=zero,
        values=jnp.zeros((k,), dtype),
        coeffs=jnp.zeros((max_basis, k), dtype),
        norm_estimate=jnp.zeros((), dtype),
        residual_norms=jnp.full((k,), jnp.inf, dtype),
        converged=jnp.array(False),
        pending=pending,
        key=key,
    )

    def cond(s: _State):
        return (~s.converged) & (s.size + block_size <= max_basis)

    def body(s: _State):
        # 1. Append the pending block, apply H, Rayleigh–Ritz.
        basis = jax.lax.dynamic_update_slice_in_dim(s.basis, s.pending, s.size, 0)
        new_products = jax.vmap(matvec)(s.pending).astype(dtype)
        products = jax.lax.dynamic_update_slice_in_dim(s.products, new_products, s.size, 0)
        size = s.size + block_size
        # Q (H Q_new)ᵀ, the new columns of T, in two steps. (a) The three-term
        # part: in exact arithmetic H Q_new only has components along Q_new and
        # the block before it; subtracting them first (reading 2b rows) leaves
        # a vector nearly orthogonal to the basis, so that the full pass (b)
        # usually satisfies the Parlett–Kahan test at once: one pass over the
        # basis instead of two (the passes are memory-bound).
        prev_start = jnp.maximum(s.size - block_size, 0)
        previous = jax.lax.dynamic_slice_in_dim(basis, prev_start, block_size)
        previous = previous * (s.size > 0).astype(dtype)  # no block before the first
        local_cur = s.pending @ new_products.T  # (b, b)
        local_prev = previous @ new_products.T
        reduced = new_products - local_cur.T @ s.pending - local_prev.T @ previous
        # (b) the full pass: coefficients of the reduced vectors on the whole basis.
        full = _project_rows(basis, reduced)  # (m, b)
        cross = full + jax.lax.dynamic_update_slice_in_dim(
            jnp.zeros_like(full), local_prev, prev_start, 0)
        inner = jax.lax.dynamic_slice_in_dim(cross, s.size, block_size) + local_cur
        cross = jax.lax.dynamic_update_slice_in_dim(cross, 0.5 * (inner + inner.T), s.size, 0)
        projected = jax.lax.dynamic_update_slice(s.projected, cross, (0, s.size))
        projected = jax.lax.dynamic_update_slice(projected, cross.T, (s.size, 0))
        values, coeffs, norm_estimate = _rayleigh_ritz(projected, size, k, which)
        # 2. Block Lanczos: the next block is H Q_last orthogonalized against
        # the basis, F = (I − QᵀQ) H Q_lastᵀ = Q_nextᵀ R. The residual of a
        # Ritz pair (θ, Qᵀy) is F y_last, so ‖r‖ = ‖R y_last‖ with
        # R = Q_next (H Q_last)ᵀ (b x b): convergence is known before the next HVP.
        pending, key = _orthonormalize_block(basis, reduced, s.key, full)
        coupling = pending @ new_products.T
        y_last = jax.lax.dynamic_slice_in_dim(coeffs, s.size, block_size)  # (b, k)
        residual_norms = jnp.linalg.norm(coupling @ y_last, axis=0)
        converged = (size >= k) & jnp.all(residual_norms <= tol * norm_estimate)
        return _State(
            basis=basis, products=products, projected=projected, size=size,
            num_matvecs=s.num_matvecs + block_size, values=values, coeffs=coeffs,
            norm_estimate=norm_estimate, residual_norms=residual_norms,
            converged=converged, pending=pending, key=key,
        )  # fmt: skip

    state = jax.lax.while_loop(cond, body, state)
    # Final pairs with their residuals computed explicitly from the stored products.
    ritz_rows = _combine_rows(state.basis, state.coeffs)  # (k, d)
    product_rows = _combine_rows(state.products, state.coeffs)
    residuals = jnp.linalg.norm(product_rows - state.values[:, None] * ritz_rows, axis=1)
    return Eigenpairs(
        values=state.values,
        vectors=ritz_rows.T,
        residuals=residuals,
        num_matvecs=state.num_matvecs,
    )


_solve_jit = jax.jit(_solve, static_argnames=("k", "which", "max_basis"))


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
    block_size: int | None = None,
) -> Eigenpairs:
    """Top-k (``which="LA"``) or bottom-k (``"SA"``) eigenpairs of a symmetric operator.

    (Block) Lanczos with full re-orthogonalization and Rayleigh–Ritz (see the
    module docstring for the algorithm, the breakdown handling and the exact
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
      v0: optional start vector ``(d,)`` or start block ``(d, b)`` (need not
        be orthonormal; dependent columns are replaced by random ones).
      dtype: working precision of the basis and Ritz computations
        (``jnp.float64`` needs x64 enabled; evaluate the HVP in the same
        precision, e.g. ``flat_hvp(..., dtype=jnp.float64)``).
      block_size: ``b``, the number of basis vectors (HVPs) added per
        iteration. Default: the number of columns of ``v0``, or 1. With
        ``v0=None`` the start block is ``b`` random vectors. Eigenvalues of
        multiplicity up to ``b`` are resolved.

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
        start = jax.random.normal(start_key, (dim, block_size or 1), dtype)
    else:
        start = jnp.asarray(v0, dtype)
        start = start[:, None] if start.ndim == 1 else start
        if block_size not in (None, start.shape[1]):
            raise ValueError("block_size must equal the number of columns of v0")
    block_size = start.shape[1]
    max_basis = default_max_iters(dim, k, block_size) if max_iters is None else min(max_iters, dim)
    max_basis -= max_basis % block_size  # whole blocks
    if max_basis < max(block_size, k):
        raise ValueError("max_iters must be at least max(k, block_size)")
    return _solve_jit(
        as_partial(matvec), start.T, key, jnp.asarray(tol, dtype), k=k, which=which,
        max_basis=max_basis,
    )  # fmt: skip


def host_lanczos(matvec, v0: np.ndarray, k: int, tol: float, max_iters: int = 100) -> Eigenpairs:
    """Top-k eigenpairs of a symmetric operator by Lanczos with full re-orthogonalization,
    driven from Python (one call of ``matvec`` per iteration, float32 basis (m, d)).

    Stops when every wanted Ritz pair has ``‖H v − θ v‖ = β_m |y_m| ≤ tol · max|θ|`` (the same
    relative test as :func:`eoslib.lanczos.lanczos_eigh`), or after ``max_iters`` products.
    """
    dim = v0.size
    basis = np.zeros((min(max_iters, dim) + 1, dim), np.float32)
    basis[0] = v0 / np.linalg.norm(v0)
    alphas, betas = [], []
    for m in range(1, basis.shape[0]):
        w = np.asarray(matvec(jnp.asarray(basis[m - 1])), np.float64)
        alphas.append(float(basis[m - 1] @ w))
        for _ in range(2):  # classical Gram-Schmidt against the whole basis, twice
            w -= basis[:m].T.astype(np.float64) @ (basis[:m].astype(np.float64) @ w)
        betas.append(float(np.linalg.norm(w)))
        tri = np.diag(alphas) + np.diag(betas[:-1], 1) + np.diag(betas[:-1], -1)
        theta, y = np.linalg.eigh(tri)
        top = np.argsort(theta)[::-1][: min(k, m)]
        residuals = betas[-1] * np.abs(y[-1, top])
        done = m >= k and np.all(residuals <= tol * np.max(np.abs(theta)))
        if done or betas[-1] <= 1e-12 * np.max(np.abs(theta)) or m == basis.shape[0] - 1:
            break
        basis[m] = w / betas[-1]
    vectors = basis[:m].T @ y[:, top].astype(np.float32)
    return Eigenpairs(jnp.asarray(theta[top], jnp.float32), jnp.asarray(vectors),
                      jnp.asarray(residuals, jnp.float32), jnp.asarray(m))

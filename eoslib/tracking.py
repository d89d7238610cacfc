"""Warm-started tracking of the top Hessian eigenpairs along training.

Between two GD epochs the Hessian changes by ``O(η ‖∇L‖)``, so the previous
epoch's top-k eigenvectors ``X = [x_1 … x_k']`` span a subspace close to the
new top-k eigenspace. :func:`track_eigh` runs the Lanczos solver of
:mod:`eoslib.lanczos` (full re-orthogonalization, same stopping test) from the
single start vector

    v0 = Σ_i x_i / ‖x_i‖,

whose components outside the old top-k subspace are only as large as the
rotation of that subspace. Then ``K_k'(H, v0)`` already approximates the
top-k' eigenspace (exactly, in ``k'`` HVPs, if the Hessian did not change), and
each further HVP raises the degree of the Lanczos polynomial filter for *all*
pairs at once. Seeding with the whole block ``X`` instead (block Lanczos,
``block_size = k'``) raises the degree only once per ``k'`` HVPs; in our
measurements along GD (``tests/test_tracking.py``,
``benchmarks/bench_hessian.py``) a block seed, and Davidson's method expanding
by the residual of the least converged pair, needed more HVPs than a cold
start, while the summed seed needed fewer. (LOBPCG would likewise spend
``k'`` HVPs per iteration.) As with any single-vector Krylov method,
eigenvalues of exact multiplicity are found once; use ``block_size`` for those.

How much a warm start can save depends on how far the eigenvectors move
between evaluations. At the edge of stability they move a lot (that is the
paper's subject): along GD on the paper's MLP at η = 0.1, Rayleigh–Ritz on the
previous epoch's top-8 vectors alone leaves a median relative residual of
about 0.26 at the new parameters (never below 1e-3), so every epoch needs a
real solve; tracking then costs about 18 HVPs per epoch against about 20 for a
cold start (``benchmarks/results/hessian.json``). The saving is larger when the
parameters move less between evaluations (small η, or before the edge of
stability with well-separated eigenvalues).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from eoslib.lanczos import Eigenpairs, lanczos_eigh

Array = jax.Array

__all__ = ["track_eigh"]


def track_eigh(
    matvec: Callable[[Array], Array],
    prev_vectors: Array,
    *,
    k: int | None = None,
    tol: float = 1e-3,
    max_iters: int | None = None,
    which: str = "LA",
    block_size: int = 1,
    key: Array | None = None,
) -> Eigenpairs:
    """Top-k eigenpairs of ``matvec``, warm-started from previous eigenvectors.

    Args:
      matvec: ``(d,) -> (d,)`` symmetric operator at the current parameters
        (e.g. :func:`eoslib.hvp.flat_hvp`).
      prev_vectors: ``(d, k')`` eigenvectors from the previous evaluation
        (need not be exactly orthonormal). Their dtype sets the working
        precision.
      k: number of pairs wanted, ``<= k'`` is typical; default ``k'``.
      tol: relative residual tolerance, as in :func:`eoslib.lanczos.lanczos_eigh`.
      max_iters: maximal basis size (= maximal HVPs); default as in
        :func:`eoslib.lanczos.default_max_iters`.
      which: ``"LA"`` or ``"SA"``.
      block_size: ``b``; 1 (default) seeds Lanczos with ``Σ_i x_i/‖x_i‖``;
        ``b > 1`` runs block Lanczos from the ``b`` seeds
        ``Σ_{i ≡ j (mod b)} x_i/‖x_i‖`` (``b = k'``: the block ``X`` itself),
        which resolves multiplicities up to ``b``.
      key: PRNG key for breakdown restarts.

    Returns:
      :class:`~eoslib.lanczos.Eigenpairs`; ``num_matvecs`` counts every HVP.
    """
    prev_vectors = jnp.asarray(prev_vectors)
    if prev_vectors.ndim == 1:
        prev_vectors = prev_vectors[:, None]
    dim, num_prev = prev_vectors.shape
    # seed j = sum of the previous vectors i with i = j (mod block_size)
    unit = prev_vectors / jnp.linalg.norm(prev_vectors, axis=0)
    groups = jax.nn.one_hot(jnp.arange(num_prev) % block_size, block_size, dtype=unit.dtype)
    start = unit @ groups
    return lanczos_eigh(
        matvec,
        dim,
        num_prev if k is None else k,
        which=which,
        tol=tol,
        max_iters=max_iters,
        key=key,
        v0=start,
        dtype=prev_vectors.dtype,
        block_size=block_size,
    )

"""Warm-started tracking of the top Hessian eigenpairs along training.

Between two GD epochs the Hessian changes by ``O(η ‖∇L‖)``, so the previous
epoch's top-k eigenvectors ``X`` (``(d, k')``) already span a subspace close to
the new top-k eigenspace. :func:`track_eigh` starts the Krylov–Rayleigh–Ritz
solver of :mod:`eoslib.lanczos` from that block:

* the first ``k'`` HVPs give ``H X`` and the Rayleigh–Ritz pairs of
  ``span(X)``; if the previous vectors are still accurate to the tolerance,
  that is all it costs;
* otherwise it appends, one at a time (``block_size=1``), the residual of the
  least converged Ritz pair, orthogonalized against the basis. This is
  Davidson's method without preconditioner, i.e. a block Krylov method in
  ``K(H, X)`` that spends HVPs only on the pairs that moved.

Why not the alternatives: block Lanczos seeded with ``X`` costs ``k'`` HVPs per
step even when one pair is unconverged; LOBPCG would also need ``3k'``-sized
Rayleigh–Ritz problems and per-step products for every column; subspace
(power) iteration converges with ratio ``λ_{k+1}/λ_k`` per ``k'`` HVPs, slow
for the clustered top of a Hessian spectrum. The same early-stopping test as a
cold solve is used, so warm and cold results agree to the tolerance.
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
      max_iters: maximal basis size (= maximal HVPs); default
        ``k' + max(60, 6k)``, capped at ``d``.
      which: ``"LA"`` or ``"SA"``.
      block_size: residuals appended per iteration after the start block.
      key: PRNG key for breakdown restarts.

    Returns:
      :class:`~eoslib.lanczos.Eigenpairs`; ``num_matvecs`` counts the ``k'``
      products with the start block.
    """
    prev_vectors = jnp.asarray(prev_vectors)
    if prev_vectors.ndim == 1:
        prev_vectors = prev_vectors[:, None]
    dim, num_prev = prev_vectors.shape
    return lanczos_eigh(
        matvec,
        dim,
        num_prev if k is None else k,
        which=which,
        tol=tol,
        max_iters=max_iters,
        key=key,
        v0=prev_vectors,
        dtype=prev_vectors.dtype,
        block_size=block_size,
    )

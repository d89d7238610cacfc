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

Missed eigenvalues. An eigenvalue that rises into the tracked set from below (eigenvectors
exchange at the edge of stability, chapter 2) has almost no weight in ``v0``. ``mix`` adds a
fresh Gaussian component of relative size ``mix`` to the seed, so that every direction has
weight; the guard pairs and the deflated check of :func:`eoslib.lanczos.lanczos_eigh` then
find such an eigenvalue and report whether the returned set is certified.

How much a warm start can save depends on how far the eigenvectors move
between evaluations. At the edge of stability they move a lot (that is the
paper's subject): along GD on the paper's MLP at η = 0.1, Rayleigh–Ritz on the
previous epoch's top-8 vectors alone leaves a median relative residual of
about 0.26 at the new parameters (never below 1e-3), so every epoch needs a
real solve (HVP counts with and without the certification:
``benchmarks/results/hessian.json``). The saving is larger when the
parameters move less between evaluations (small η, or before the edge of
stability with well-separated eigenvalues).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from eoslib.lanczos import DEFAULT_CHECK, Check, Eigenpairs, lanczos_eigh

Array = jax.Array

__all__ = ["track_eigh", "top_eigenpairs", "track_above", "AbovePairs", "warm_start", "DEFAULT_MIX"]

DEFAULT_MIX = 0.1


def warm_start(prev_vectors: Array, key: Array, *, block_size: int = 1,
               mix: float = DEFAULT_MIX) -> Array:
    """Seeds (d, b) from previous eigenvectors (d, k'): seed j is the normalized sum of the
    unit vectors ``x_i`` with ``i = j (mod b)`` plus ``mix`` times a unit Gaussian vector."""
    dim, num_prev = prev_vectors.shape
    unit = prev_vectors / jnp.linalg.norm(prev_vectors, axis=0)
    groups = jax.nn.one_hot(jnp.arange(num_prev) % block_size, block_size, dtype=unit.dtype)
    seeds = unit @ groups
    seeds = seeds / jnp.linalg.norm(seeds, axis=0)
    noise = jax.random.normal(key, seeds.shape, seeds.dtype)
    return seeds + mix * noise / jnp.linalg.norm(noise, axis=0)


def track_eigh(
    matvec: Callable[[Array], Array],
    prev_vectors: Array,
    *,
    k: int | None = None,
    block_size: int = 1,
    key: Array | None = None,
    mix: float = DEFAULT_MIX,
    **solver,
) -> Eigenpairs:
    """Top-k eigenpairs of ``matvec``, warm-started from previous eigenvectors.

    Args:
      matvec: ``(d,) -> (d,)`` symmetric operator at the current parameters.
      prev_vectors: ``(d, k')`` eigenvectors from the previous evaluation (need not be exactly
        orthonormal). Their dtype sets the working precision.
      k: number of pairs wanted; default ``k'``.
      block_size: ``b``; 1 (default) seeds Lanczos with one vector, ``b > 1`` runs block
        Lanczos from ``b`` seeds (:func:`warm_start`).
      key: PRNG key for the mixed-in component, breakdown restarts and the check.
      mix: relative size of the fresh random component of every seed.
      **solver: the solver's settings, as in :func:`eoslib.lanczos.lanczos_eigh` (``tol``,
        ``max_iters``, ``which``, ``guards``, ``check``, ``rounds``, ``compiled``).

    Returns:
      :class:`~eoslib.lanczos.Eigenpairs`; ``num_matvecs`` counts every HVP.
    """
    prev_vectors = jnp.asarray(prev_vectors)
    if prev_vectors.ndim == 1:
        prev_vectors = prev_vectors[:, None]
    key = jax.random.PRNGKey(0) if key is None else key
    key, seed_key = jax.random.split(key)
    start = warm_start(prev_vectors, seed_key, block_size=block_size, mix=mix)
    return lanczos_eigh(matvec, prev_vectors.shape[0], prev_vectors.shape[1] if k is None else k, key=key,
                        v0=start, dtype=prev_vectors.dtype, block_size=block_size, **solver)


def top_eigenpairs(matvec: Callable[[Array], Array], dim: int, k: int, *, tol: float = 1e-3,
                   prev_vectors: Array | None = None, key: Array | None = None,
                   compiled: bool = True, dtype=jnp.float32,
                   check: Check | None = DEFAULT_CHECK) -> Eigenpairs:
    """Top-k eigenpairs as the trainer computes them: tracked from ``prev_vectors`` (d, k) when
    given (:func:`track_eigh`), else a cold :func:`~eoslib.lanczos.lanczos_eigh`; ``check`` as
    there (the trainer passes the one its config names, :data:`eoslib.runs.CHECKS`)."""
    if prev_vectors is not None:
        return track_eigh(matvec, prev_vectors, k=k, tol=tol, key=key, compiled=compiled, check=check)
    return lanczos_eigh(matvec, dim, k, tol=tol, key=key, compiled=compiled, dtype=dtype, check=check)


class AbovePairs(NamedTuple):
    """Every eigenpair above a threshold, plus the first one below it (:func:`track_above`).

    Attributes:
      values, vectors, residuals: as :class:`~eoslib.lanczos.Eigenpairs`, for the ``above``
        pairs above the threshold and one more (at least ``k_min`` pairs in all).
      num_matvecs: HVPs of every solve of the call.
      certified: the last solve's certificate (its returned set is the true top set, to
        ``error_bound``; :class:`~eoslib.lanczos.Eigenpairs`).
      error_bound: the last solve's stated error.
      above: how many eigenvalues exceed the threshold (of those returned).
      complete: certified, and the last returned eigenvalue is at or below the threshold, so
        no eigenvalue above it is missing; False when ``k_max`` pairs were all above it
        (saturated) or the solve was not certified.
    """

    values: Array
    vectors: Array
    residuals: Array
    num_matvecs: int
    certified: bool
    error_bound: float
    above: int
    complete: bool


def track_above(matvec: Callable[[Array], Array], dim: int, threshold: float, *,
                prev_vectors: Array | None = None, k_min: int = 1, k_max: int = 20, grow: int = 2,
                tol: float = 1e-3, key: Array | None = None, compiled: bool = True,
                dtype=jnp.float32) -> AbovePairs:
    """Threshold-driven tracking (as centralflows tracks every eigenvalue above ``c · 2/η``):
    the top eigenpairs down to the first one at or below ``threshold``, however many there are
    (up to ``k_max``). A host loop over certified solves (:func:`top_eigenpairs`): it solves
    for ``k = max(k_min, k')`` pairs (``k'`` the columns of ``prev_vectors``, warm start), and
    while every returned eigenvalue is above ``threshold`` (the set is saturated) it solves
    again for ``grow`` more, warm-started from the pairs found. It returns the pairs above
    ``threshold`` and one below: passed back as ``prev_vectors`` at the next step, the tracked
    set grows as eigenvalues cross the threshold upward and shrinks as they fall below it. A
    certified top-k whose k-th value is at or below ``threshold`` contains every eigenvalue
    above it (``complete``)."""
    if not 1 <= k_min <= k_max <= dim or grow < 1:
        raise ValueError("need 1 <= k_min <= k_max <= dim and grow >= 1")
    key = jax.random.PRNGKey(0) if key is None else key
    k = k_min if prev_vectors is None else min(k_max, max(k_min, prev_vectors.shape[1]))
    spent = 0
    while True:
        key, sub = jax.random.split(key)
        pairs = top_eigenpairs(matvec, dim, k, tol=tol, prev_vectors=prev_vectors, key=sub,
                               compiled=compiled, dtype=dtype)
        spent += int(pairs.num_matvecs)
        above = int(jnp.sum(pairs.values > threshold))
        if not (bool(pairs.certified) and above == k and k < k_max):
            break
        prev_vectors, k = pairs.vectors, min(k_max, k + grow)
    keep = min(k, max(k_min, above + 1))
    certified = bool(pairs.certified)
    return AbovePairs(pairs.values[:keep], pairs.vectors[:, :keep], pairs.residuals[:keep], spent,
                      certified, float(pairs.error_bound), above, certified and above < k)

"""Similarity of Hessian eigenvectors and eigenspaces between epochs.

Eigenvectors are defined up to sign, so every similarity here is built from
absolute cosines ``|⟨u, v⟩| / (‖u‖ ‖v‖) ∈ [0, 1]``.

* :func:`eigvec_cosines` compares the i-th eigenvector of one epoch with the
  i-th of another (index-wise, the paper's Fig. 2 coloured curves).
* :func:`matched_cosines` first matches eigenvectors across epochs, so that a
  crossing of two eigenvalues (which swaps their indices) does not read as a
  rotation. The matching maximizes the total ``Σ_i |cos(u_i, v_{π(i)})|`` over
  one-to-one assignments π (Hungarian algorithm,
  :func:`scipy.optimize.linear_sum_assignment`; runs on host, not jittable).
* Subspace comparisons use the principal angles ``0 ≤ θ_1 ≤ … ≤ θ_q ≤ π/2``
  between ``U = span`` of ``p`` vectors and ``V = span`` of ``q`` vectors,
  ``q' = min(p, q)`` of them: ``cos θ_i`` are the singular values of
  ``Q_Uᵀ Q_V`` for orthonormal bases ``Q_U, Q_V``.

Ye & Lim (2016, SIAM J. Matrix Anal. Appl. 37(3)) extend the Grassmann distance
to subspaces of different dimensions as the distance from the smaller subspace
to the Schubert variety of subspaces containing (or contained in) the other;
it is expressed through the ``min(p, q)`` principal angles:

    d(U, V) = ( Σ_{i=1}^{min(p,q)} θ_i² )^{1/2}

(the usual Grassmann distance when ``p = q``; 0 iff one subspace contains the
other). The paper uses a "cosine-Grassmannian" similarity after Ye & Lim without
giving a formula. We use the cosine of the Fubini–Study distance of Ye & Lim's
Table 2, extended the same way:

    ρ(U, V) = Π_{i=1}^{min(p,q)} cos θ_i  ∈ [0, 1],

which equals ``|det(Q_Uᵀ Q_V)|`` when ``p = q``, reduces to the absolute
cosine similarity for one-dimensional subspaces (``p = q = 1``), is 1 iff one
subspace contains the other (the same subspace when ``p = q``) and 0 iff some
direction of the smaller one is orthogonal to the larger.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

Array = jax.Array

__all__ = [
    "eigvec_cosines",
    "matched_cosines",
    "principal_angles",
    "grassmann_distance",
    "cosine_grassmann_similarity",
]


def _as_columns(x: Array) -> Array:
    x = jnp.asarray(x)
    return x[:, None] if x.ndim == 1 else x


def _abs_cosine_matrix(prev_vectors: Array, vectors: Array) -> Array:
    a = _as_columns(prev_vectors)
    b = _as_columns(vectors)
    a = a / jnp.linalg.norm(a, axis=0)
    b = b / jnp.linalg.norm(b, axis=0)
    return jnp.abs(a.T @ b)


def eigvec_cosines(prev_vectors: Array, vectors: Array) -> Array:
    """Index-wise absolute cosines ``|cos(prev_i, vectors_i)|``.

    Args:
      prev_vectors: ``(d, k1)`` (or ``(d,)``).
      vectors: ``(d, k2)`` (or ``(d,)``).

    Returns:
      ``(min(k1, k2),)`` values in ``[0, 1]``.
    """
    a = _as_columns(prev_vectors)
    b = _as_columns(vectors)
    k = min(a.shape[1], b.shape[1])
    return jnp.diagonal(_abs_cosine_matrix(a[:, :k], b[:, :k]))


def matched_cosines(prev_vectors: Array, vectors: Array) -> tuple[Array, Array]:
    """Absolute cosines after an optimal one-to-one matching of eigenvectors.

    Args:
      prev_vectors: ``(d, k1)``.
      vectors: ``(d, k2)``.

    Returns:
      ``(cosines, perm)``, both ``(k1,)``: ``vectors[:, perm[i]]`` is the match
      of ``prev_vectors[:, i]`` and ``cosines[i]`` their absolute cosine. The
      assignment maximizes ``Σ_i cosines[i]``. If ``k1 > k2`` some previous
      vectors stay unmatched: ``perm[i] = -1`` and ``cosines[i] = 0``.
    """
    cos = np.asarray(_abs_cosine_matrix(prev_vectors, vectors))
    rows, cols = linear_sum_assignment(cos, maximize=True)
    perm = np.full(cos.shape[0], -1, dtype=np.int32)
    perm[rows] = cols
    matched = np.zeros(cos.shape[0], dtype=cos.dtype)
    matched[rows] = cos[rows, cols]
    return jnp.asarray(matched), jnp.asarray(perm)


def principal_angles(U: Array, V: Array) -> Array:
    """Principal angles between ``span(U)`` and ``span(V)``, ascending.

    The columns need not be orthonormal (bases are orthonormalized by QR; they
    must be linearly independent). Angles are computed from both cosines and
    sines (Björck & Golub; Knyazev & Argentati) as ``arctan2(sin θ, cos θ)``,
    accurate for small and large angles alike.

    Args:
      U: ``(d, p)`` (or ``(d,)``).
      V: ``(d, q)`` (or ``(d,)``).

    Returns:
      ``(min(p, q),)`` angles in ``[0, π/2]``, ascending.
    """
    qu, _ = jnp.linalg.qr(_as_columns(U))
    qv, _ = jnp.linalg.qr(_as_columns(V))
    if qv.shape[1] > qu.shape[1]:
        qu, qv = qv, qu
    # q = dim V <= dim U: q cosines, and the sines are the singular values of
    # the part of V orthogonal to U.
    cos = jnp.linalg.svd(qu.T @ qv, compute_uv=False)  # descending
    sin = jnp.linalg.svd(qv - qu @ (qu.T @ qv), compute_uv=False)[::-1]  # ascending
    return jnp.arctan2(sin, jnp.clip(cos, 0.0, 1.0))


def grassmann_distance(U: Array, V: Array) -> Array:
    """Ye & Lim's Grassmann distance ``(Σ_{i ≤ min(p,q)} θ_i²)^{1/2}``.

    Equals the geodesic distance on the Grassmannian when ``p = q`` and the
    distance from the smaller subspace to the Schubert variety of the larger
    one otherwise (see the module docstring). Range ``[0, (π/2)√min(p,q)]``.
    """
    return jnp.linalg.norm(principal_angles(U, V))


def cosine_grassmann_similarity(U: Array, V: Array) -> Array:
    """Cosine-Grassmannian similarity ``Π_{i ≤ min(p,q)} cos θ_i`` in ``[0, 1]``.

    1 when the subspaces coincide (or, for ``p ≠ q``, one contains the
    other); the absolute cosine for single vectors. See the module docstring
    for the definition and its relation to Ye & Lim (2016).
    """
    return jnp.prod(jnp.cos(principal_angles(U, V)))

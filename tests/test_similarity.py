"""Eigenvector and subspace similarities on constructed examples."""

import jax
import numpy as np
import scipy.linalg

from eoslib.similarity import (
    cosine_grassmann_similarity,
    eigvec_cosines,
    grassmann_distance,
    matched_cosines,
    principal_angles,
)


def _rotated_pair(angles, d=10, seed=0):
    """Orthonormal U, V (d x len(angles)) with principal angles `angles`."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    p = len(angles)
    u = q[:, :p]
    v = u * np.cos(angles) + q[:, p : 2 * p] * np.sin(angles)
    return u, v


def test_eigvec_cosines_are_sign_invariant_and_index_wise():
    u, v = _rotated_pair(np.array([0.1, 0.5, 1.2]))
    got = eigvec_cosines(u, -v)
    np.testing.assert_allclose(got, np.cos([0.1, 0.5, 1.2]), rtol=1e-6)
    assert eigvec_cosines(u[:, 0], 3.0 * u[:, 0]).shape == (1,)
    np.testing.assert_allclose(eigvec_cosines(u[:, 0], 3.0 * u[:, 0]), [1.0], rtol=1e-6)
    assert eigvec_cosines(u, v[:, :2]).shape == (2,)


def test_matched_cosines_undo_an_eigenvalue_crossing():
    u, v = _rotated_pair(np.array([0.05, 0.1, 0.2, 0.3]))
    swapped = v[:, [1, 0, 3, 2]] * np.array([1, -1, 1, -1])
    index_wise = eigvec_cosines(u, swapped)
    cos, perm = matched_cosines(u, swapped)
    assert np.all(np.asarray(index_wise) < 0.2)
    np.testing.assert_array_equal(perm, [1, 0, 3, 2])
    np.testing.assert_allclose(cos, np.cos([0.05, 0.1, 0.2, 0.3]), rtol=1e-6)


def test_matched_cosines_with_fewer_new_vectors():
    u, _ = _rotated_pair(np.zeros(3))
    cos, perm = matched_cosines(u, u[:, [2, 0]])
    np.testing.assert_array_equal(perm, [1, -1, 0])
    np.testing.assert_allclose(cos, [1.0, 0.0, 1.0], atol=1e-6)


def test_principal_angles_exact_small_and_large():
    with jax.enable_x64(True):
        angles = np.array([1e-9, 1e-4, 0.7, np.pi / 2])
        u, v = _rotated_pair(angles, d=12)
        got = principal_angles(u, v)
        np.testing.assert_allclose(got, angles, rtol=1e-6, atol=1e-15)
        # non-orthonormal bases span the same subspaces
        mix = np.random.default_rng(1).normal(size=(4, 4))
        np.testing.assert_allclose(principal_angles(u @ mix, v), angles, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(
            np.sort(np.asarray(got)), np.sort(scipy.linalg.subspace_angles(u, v)), atol=1e-8
        )


def test_grassmann_distance_and_similarity_equal_dimensions():
    with jax.enable_x64(True):
        angles = np.array([0.1, 0.3, 0.9])
        u, v = _rotated_pair(angles)
        np.testing.assert_allclose(grassmann_distance(u, v), np.linalg.norm(angles), rtol=1e-12)
        rho = cosine_grassmann_similarity(u, v)
        np.testing.assert_allclose(rho, np.prod(np.cos(angles)), rtol=1e-12)
        np.testing.assert_allclose(rho, abs(np.linalg.det(u.T @ v)), rtol=1e-10)
        np.testing.assert_allclose(cosine_grassmann_similarity(u, u @ np.diag([1, -2, 3])), 1.0)
        # one dimension: the absolute cosine similarity
        np.testing.assert_allclose(cosine_grassmann_similarity(u[:, 0], -v[:, 0]), np.cos(0.1))


def test_subspaces_of_different_dimensions():
    with jax.enable_x64(True):
        q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(9, 9)))
        small, big = q[:, :2], q[:, :5]
        assert principal_angles(small, big).shape == (2,)
        np.testing.assert_allclose(grassmann_distance(small, big), 0.0, atol=1e-12)
        np.testing.assert_allclose(grassmann_distance(big, small), 0.0, atol=1e-12)
        np.testing.assert_allclose(cosine_grassmann_similarity(big, small), 1.0, atol=1e-12)
        orthogonal = q[:, 5:8]
        np.testing.assert_allclose(cosine_grassmann_similarity(small, orthogonal), 0.0, atol=1e-12)
        np.testing.assert_allclose(grassmann_distance(small, orthogonal), np.pi / 2 * np.sqrt(2))
        tilted = np.c_[q[:, 0] * np.cos(0.4) + q[:, 7] * np.sin(0.4), q[:, 1]]
        np.testing.assert_allclose(cosine_grassmann_similarity(tilted, big), np.cos(0.4), rtol=1e-12)

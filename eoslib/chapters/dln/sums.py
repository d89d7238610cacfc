"""Sums of DLNs: the paper's Appendix E (two-term and m-term additive models).

A network is a sum of multiplicative terms (App. A.1, :mod:`eoslib.chapters.dln.som`); App. E extends the
one-DLN analysis of App. C to a loss of a *sum* of DLNs. For two terms, parameters
``theta`` (n,) split at ``m``: ``Theta_a = prod(theta[:m])``, ``Theta_b = prod(theta[m:])`` and the
loss ``z(S)`` with ``S = Theta_a + Theta_b`` (``z`` an even polynomial, :class:`eoslib.dln.EvenPolynomial`;
the paper's ``z'`` and ``z^dagger`` are both ``z'(S)`` here, and its cross derivative
``z'^dagger = z''(S)``). With ``g_j = dS/dtheta_j = Theta_{t(j)} / theta_j`` (``t(j)``: the term of
``theta_j``) the Hessian is

    H_jk = z'' g_j g_k + z' Theta_{t(j)} / (theta_j theta_k) [t(j) = t(k), j != k]          (eq. 15)

i.e. the blocks ``H(Theta_a)``, ``H(Theta_b)`` (each App. C's one-DLN Hessian, with ``z`` evaluated
at ``S``) on the diagonal and the cross blocks ``G = z'' Theta_a Theta_b / (theta_j theta_k)``.
Eq. 15 *as printed* has ``z'' Theta^2 / (theta_j theta_k)`` for every in-block entry: it omits
the ``z'`` term off the diagonal (:func:`printed_eq15`), which the paper's own ``D_a`` restores.

The eigen-equation gives, for every ``k`` in term ``a`` (and likewise for ``b``),
``(lambda + z' Theta_a / theta_k^2) theta_k u_k = C_a`` with ``C_a = D_a Σ_{j in a} u_j/theta_j +
D_ab Σ_{j in b} u_j/theta_j``, ``D_a = z'' Theta_a^2 + z' Theta_a``, ``D_ab = z'' Theta_a Theta_b``:
one constant *per term*. Hence, exactly, for ``i`` in ``a`` and ``j`` in ``b``,

    |u_i / u_j| = |C_a / C_b| · f_b(theta_j) / f_a(theta_i),   f_y(x) = |x| |lambda + z' Theta_y / x^2|,

while the paper's ``R_n(i_a, j_b) = f_b(theta_j) / f_a(theta_i)`` drops ``|C_a / C_b|``
(:func:`cross_ratio_paper`, :func:`cross_ratio_exact`). Float64 ``numpy`` throughout.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from eoslib.dln import EvenPolynomial
from eoslib.report import Claim

__all__ = ["terms", "gradient", "hessian", "printed_eq15", "hessian_autodiff", "top_pair",
           "term_constants", "cross_ratio_paper", "cross_ratio_exact", "random_two_term",
           "deviation_sum", "TwoTermChecks", "two_term_checks", "concat", "counter_example", "claims"]


def _dz(z: EvenPolynomial, s: float, order: int) -> float:
    """``z^(order)(s)`` in float64 (``EvenPolynomial``'s own methods follow JAX's default dtype)."""
    total = 0.0
    for k, c in enumerate(z.coeffs, start=1):
        p, factor = 2 * k, 1.0
        for i in range(order):
            factor *= p - i
        total += c * factor * s ** (p - order) if p >= order else 0.0
    return total


def terms(theta: np.ndarray, m: int) -> tuple[float, float]:
    """``(Theta_a, Theta_b)``: the products of ``theta[:m]`` and ``theta[m:]``."""
    return float(np.prod(theta[:m])), float(np.prod(theta[m:]))


def _term_of(theta: np.ndarray, m: int) -> np.ndarray:
    """``Theta_{t(j)}`` for every ``j`` (n,)."""
    a, b = terms(theta, m)
    return np.where(np.arange(theta.size) < m, a, b)


def gradient(theta: np.ndarray, m: int, z: EvenPolynomial) -> np.ndarray:
    """``dL/dtheta_j = z'(S) Theta_{t(j)} / theta_j`` (n,)."""
    s = sum(terms(theta, m))
    return _dz(z, s, 1) * _term_of(theta, m) / theta


def hessian(theta: np.ndarray, m: int, z: EvenPolynomial) -> np.ndarray:
    """Eq. 15 (with the ``z'`` term): ``(n, n)`` for nonzero ``theta``."""
    s, big = sum(terms(theta, m)), _term_of(theta, m)
    g = big / theta
    same = (np.arange(theta.size)[:, None] < m) == (np.arange(theta.size)[None, :] < m)
    second = np.where(same & ~np.eye(theta.size, dtype=bool), big[:, None] / np.outer(theta, theta), 0.0)
    return _dz(z, s, 2) * np.outer(g, g) + _dz(z, s, 1) * second


def printed_eq15(theta: np.ndarray, m: int, z: EvenPolynomial) -> np.ndarray:
    """Eq. 15's entries as printed: ``z'' Theta_t Theta_t' / (theta_j theta_k)`` everywhere."""
    g = _term_of(theta, m) / theta
    return _dz(z, sum(terms(theta, m)), 2) * np.outer(g, g)


@functools.cache
def _autodiff(m: int, z: EvenPolynomial):
    import jax
    import jax.numpy as jnp

    return jax.jit(jax.hessian(lambda t: z(jnp.prod(t[:m]) + jnp.prod(t[m:]))))


def hessian_autodiff(theta: np.ndarray, m: int, z: EvenPolynomial) -> np.ndarray:
    """``jax.hessian`` of ``z(prod theta[:m] + prod theta[m:])`` in float64 (the reference)."""
    import jax

    with jax.enable_x64(True):
        return np.asarray(_autodiff(m, z)(np.asarray(theta, np.float64)))


def top_pair(h: np.ndarray) -> tuple[float, np.ndarray]:
    """The top eigenvalue and its unit eigenvector of a symmetric matrix (``eigh``)."""
    w, v = np.linalg.eigh(h)
    return float(w[-1]), v[:, -1]


def term_constants(theta: np.ndarray, m: int, z: EvenPolynomial, u: np.ndarray) -> tuple[float, float]:
    """``(C_a, C_b)`` of the module docstring for a vector ``u`` (n,)."""
    a, b = terms(theta, m)
    s = a + b
    d1, d2 = _dz(z, s, 1), _dz(z, s, 2)
    sa, sb = np.sum(u[:m] / theta[:m]), np.sum(u[m:] / theta[m:])
    d_ab = d2 * a * b
    return (d2 * a * a + d1 * a) * sa + d_ab * sb, d_ab * sa + (d2 * b * b + d1 * b) * sb


def _f(x: float, lam: float, zt: float) -> float:
    return abs(x) * abs(lam + zt / x**2)


def cross_ratio_paper(theta: np.ndarray, m: int, z: EvenPolynomial, lam: float, i: int, j: int) -> float:
    """App. E.1's ``R_n(i_a, j_b) = f_b(theta_j) / f_a(theta_i)`` (``i < m <= j``) at ``lam``."""
    a, b = terms(theta, m)
    d1 = _dz(z, a + b, 1)
    return _f(theta[j], lam, d1 * b) / _f(theta[i], lam, d1 * a)


def cross_ratio_exact(theta: np.ndarray, m: int, z: EvenPolynomial, lam: float, u: np.ndarray,
                      i: int, j: int) -> float:
    """``|C_a / C_b| · f_b(theta_j) / f_a(theta_i)``: equal to ``|u_i / u_j|`` for an eigenpair
    ``(lam, u)`` (the per-term constancy conditions)."""
    c_a, c_b = term_constants(theta, m, z, u)
    return abs(c_a / c_b) * cross_ratio_paper(theta, m, z, lam, i, j)


def random_two_term(rng: np.random.Generator, n_a: int, n_b: int, *, decades: tuple[float, float] = (-1.0, 1.0)
                    ) -> np.ndarray:
    """``n_a + n_b`` parameters, magnitudes log-uniform over ``10**decades``, random signs."""
    mags = 10.0 ** rng.uniform(*decades, size=n_a + n_b)
    return mags * rng.choice([-1.0, 1.0], size=n_a + n_b)


def deviation_sum(theta: np.ndarray, u: np.ndarray) -> float:
    """App. E.1's ``A = Σ_j (u*_j)^2 eps_j`` for the top eigenvector ``u = u* (1 + eps)``, with
    ``u*_j = psi / theta_j`` over all ``n`` parameters (eq. 10); ``A = u*·u − 1`` in ``[−2, 0]``
    (the sign of ``u`` chosen so that ``A ≥ −1``); 0 when ``u = u*``. App. C observes it near
    ``0^-`` for one DLN; App. E.3 leaves open whether it stays small for sums of DLNs."""
    u_star = 1.0 / theta / np.sqrt(np.sum(theta**-2.0))
    return float(abs(np.dot(u_star, u)) - 1.0)


class TwoTermChecks(NamedTuple):
    """Per random two-term DLN (arrays of length N): ``block_err`` max |H_eq15 - H_autodiff| /
    max|H|; ``printed_err`` the same for the printed entries; ``paper_err`` and ``exact_err``
    ``|R / |u_i/u_j| - 1|`` for :func:`cross_ratio_paper` and :func:`cross_ratio_exact` (``i``:
    the smallest parameter of term a, ``j``: the largest of term b); ``monotone`` whether
    growing ``|theta_j|`` by a relative step grows ``|u_i/u_j|``; ``monotone_within`` the same for
    ``k``, the largest parameter of term a (App. C's case inside one term); ``deviation`` App.
    E.1's ``A`` (:func:`deviation_sum`); ``ab_ratio`` ``|Theta_b/Theta_a|``; ``thetas`` the DLNs."""

    block_err: np.ndarray
    printed_err: np.ndarray
    paper_err: np.ndarray
    exact_err: np.ndarray
    monotone: np.ndarray
    monotone_within: np.ndarray
    deviation: np.ndarray
    ab_ratio: np.ndarray
    thetas: tuple[np.ndarray, ...]


def two_term_checks(rng: np.random.Generator, num: int, sizes: Sequence[tuple[int, int]], z: EvenPolynomial,
                    *, rel_step: float = 1e-5) -> TwoTermChecks:
    """The App. E.1 checks on ``num`` random two-term DLNs per ``(n_a, n_b)`` in ``sizes``."""
    rows = []
    for n_a, n_b in sizes:
        for _ in range(num):
            theta = random_two_term(rng, n_a, n_b)
            i = int(np.argmin(np.abs(theta[:n_a])))
            j = n_a + int(np.argmax(np.abs(theta[n_a:])))
            h, ref = hessian(theta, n_a, z), hessian_autodiff(theta, n_a, z)
            scale = np.max(np.abs(ref))
            lam, u = top_pair(ref)
            measured = abs(u[i] / u[j])
            bumped = theta.copy()
            bumped[j] *= 1.0 + rel_step
            _, u2 = top_pair(hessian(bumped, n_a, z))
            k = int(np.argmax(np.abs(theta[:n_a])))  # the flattest parameter of term a (n_a >= 2)
            within = theta.copy()
            within[k] *= 1.0 + rel_step
            _, u3 = top_pair(hessian(within, n_a, z))
            a, b = terms(theta, n_a)
            rows.append((np.max(np.abs(h - ref)) / scale, np.max(np.abs(printed_eq15(theta, n_a, z) - ref)) / scale,
                         abs(cross_ratio_paper(theta, n_a, z, lam, i, j) / measured - 1),
                         abs(cross_ratio_exact(theta, n_a, z, lam, u, i, j) / measured - 1),
                         abs(u2[i] / u2[j]) > measured, abs(u3[i] / u3[k]) > abs(u[i] / u[k]),
                         deviation_sum(theta, u), abs(b / a), theta))
    *arrays, thetas = zip(*rows)
    return TwoTermChecks(*(np.array(c) for c in arrays), tuple(thetas))


def concat(parts: Sequence[TwoTermChecks]) -> TwoTermChecks:
    """The checks of several :func:`two_term_checks` calls as one (e.g. over ``z``)."""
    return TwoTermChecks(*(np.concatenate([getattr(p, f) for p in parts]) for f in TwoTermChecks._fields[:-1]),
                         sum((p.thetas for p in parts), ()))


def counter_example(checks: TwoTermChecks) -> str:
    """The first DLN in which growing the flatter parameter of the other term turned ``v_1``
    away from the sharp one (E.3's limitation made concrete), as text; "none" if there is none."""
    bad = np.flatnonzero(~checks.monotone)
    if not bad.size:
        return "none"
    t = checks.thetas[bad[0]]
    return (f"theta = ({', '.join(f'{x:.3g}' for x in t)}), |Theta_b/Theta_a| = {checks.ab_ratio[bad[0]]:.2g}, "
            f"A = {checks.deviation[bad[0]]:.2g}")


def claims(checks: TwoTermChecks, *, rounding: float = 1e-10, close: float = 1e-2) -> list[Claim]:
    """App. E.1's statements as claims over :func:`two_term_checks`' DLNs: the block structure
    (eq. 15, to ``rounding``), the paper's ``R_n(i_a, j_b)`` against ``eigh`` (within ``close``,
    relative, in every DLN), and ``dR_n(i_a, j_b)/dr_ij > 0`` (in every DLN)."""
    c, n = checks, checks.block_err.size
    if n == 0:
        return [Claim.unmeasured("(8-10) App. E.1", "no two-term DLNs drawn", "-")]
    return [
        Claim("(8) App. E.1 eq. 15: the two-term Hessian is the two one-DLN Hessians H(Theta_a), H(Theta_b) "
              "on the diagonal plus cross blocks G(Theta_a, Theta_b)",
              f"{n} random two-term DLNs: worst {c.block_err.max():.1e} (relative to max|H|); the entries as "
              f"printed (no z' term off the diagonal) are off by up to {c.printed_err.max():.2g}",
              f"max |H_blocks - H_autodiff| / max|H| <= {rounding:g}", bool(c.block_err.max() <= rounding)),
        Claim("(9) App. E.1: R_n(i_a, j_b) = f_Theta_b(theta_j) / f_Theta_a(theta_i) gives the ratio |u_1,i / u_1,j| "
              "of the top eigenvector across the two terms",
              f"with the exact lambda_1: within {close:g} in {np.mean(c.paper_err <= close):.0%} of {n} DLNs "
              f"(median error {np.median(c.paper_err):.2g}); with the factor |C_a / C_b| the paper drops: worst "
              f"{c.exact_err.max():.1e}", f"relative error <= {close:g} in every DLN",
              bool(np.all(c.paper_err <= close))),
        Claim("(10) App. E.1: dR_n/dr_ij > 0 for any two parameters of a two-term DLN: growing a flatter "
              "parameter aligns v_1 with the sharp one (App. C's phase analysis extends)",
              f"across the terms (i in a, j in b): {np.mean(c.monotone):.1%} of {n} DLNs; within term a: "
              f"{np.mean(c.monotone_within):.1%} (eigh, relative step); A from {c.deviation.min():.2g} to "
              f"{c.deviation.max():.2g}", "every DLN, both cases",
              bool(np.all(c.monotone) and np.all(c.monotone_within))),
    ]

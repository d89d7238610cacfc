"""The period-2 process of Appendix D: an equilibrium learning rate by the intermediate-value
argument, and the ReLU-mask linearization of an MLP over two GD steps.

**The two-step map.** App. D relaxes ``z`` to a loss with a unique minimum at ``Θ = 0`` that is
continuous and convex on each side but need not be symmetric, and studies GD on ``Θ`` over two
steps: ``Θ_{t+1} = Θ_t − η z'(Θ_t)``, ``Θ_{t+2} = Θ_{t+1} − η z'(Θ_{t+1})``. If for a ``Θ_t ≠ 0``
some ``η_s`` gives ``Θ_{t+2} < Θ_t`` and some ``η_l`` gives ``Θ_{t+2} > Θ_t`` (for ``Θ_t > 0``),
then, ``Θ_{t+2}`` being continuous in ``η``, there is an ``η_eq`` between them with
``Θ_{t+2} = Θ_t``: a two-step, dynamically stable trajectory (:func:`equilibrium_rate`, by
bisection). For the asymmetric quadratic ``z = a Θ²/2`` (``Θ > 0``), ``b Θ²/2`` (``Θ < 0``) the two
steps multiply ``Θ`` by ``(1 − η a)(1 − η b)``, so ``η_eq = 1/a + 1/b`` for every ``Θ_t`` (the
stability limit ``2/a`` when ``a = b``).

**The ReLU masks.** A ReLU MLP is linear in each region of constant activation pattern
(``σ(a) = M a``, :mod:`eoslib.chapters.dln.som`); App. D argues that the DLN's rotation results apply to it
over a period of 2 "up until the limit of the signs of pre-activations are constant".
:func:`mask_flips` measures the fraction of ReLU inputs whose sign differs between the
parameters of epochs ``t`` and ``t + T``, and :func:`linearization_error` how well the network
at ``θ_{t+T}`` with the masks of ``θ_t`` held fixed reproduces its true outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from eoslib.report import Claim

__all__ = ["two_step", "asymmetric_quadratic", "asymmetric_quartic", "bracket", "equilibrium_rate", "mlp_kernels",
           "mask_flips", "linearization_error", "claim_equilibrium", "claim_period2_masks", "mask_study"]

Derivative = Callable[[float], float]


def two_step(theta: float, eta: float, dz: Derivative) -> float:
    """``Θ_{t+2}`` from ``Θ_t`` by two GD steps on ``z`` (``dz`` = ``z'``)."""
    t1 = theta - eta * dz(theta)
    return t1 - eta * dz(t1)


def asymmetric_quadratic(a: float, b: float) -> Derivative:
    """``z'`` of ``z = a Θ²/2`` for ``Θ > 0`` and ``b Θ²/2`` for ``Θ < 0``."""
    return lambda t: a * t if t > 0 else b * t


def asymmetric_quartic(a: float, b: float) -> Derivative:
    """``z'`` of ``z = a Θ⁴`` for ``Θ > 0`` and ``b Θ²`` for ``Θ < 0`` (convex on each side, not
    symmetric, and not even of one degree)."""
    return lambda t: 4 * a * t**3 if t > 0 else 2 * b * t


def bracket(theta: float, dz: Derivative, *, doublings: int = 80) -> tuple[float, float] | None:
    """App. D's ``(η_s, η_l)`` for ``Θ_t``: a small step ``η_s = 0.01 |Θ_t / z'(Θ_t)|`` (two steps
    toward the minimum) and the first ``η_l = 2^j |Θ_t / z'(Θ_t)|`` at which ``Θ_{t+2} − Θ_t`` has
    the other sign; None when none is found (the assumption fails at ``Θ_t``)."""
    unit = abs(theta / dz(theta))
    g = lambda eta: two_step(theta, eta, dz) - theta  # noqa: E731
    small = 0.01 * unit
    for j in range(doublings):
        if np.sign(g(unit * 2.0**j)) != np.sign(g(small)):
            return small, unit * 2.0**j
    return None


def equilibrium_rate(theta: float, dz: Derivative, eta_small: float | None = None, eta_large: float | None = None,
                     *, rtol: float = 1e-13, max_iter: int = 200) -> float:
    """``η_eq`` in ``[eta_small, eta_large]`` (default: :func:`bracket`) with ``Θ_{t+2} = Θ_t``
    (intermediate-value theorem, bisection on ``g(η) = Θ_{t+2} − Θ_t``). NaN when no bracket is
    found; ``ValueError`` when ``g`` has the same sign at the given ends."""
    g = lambda eta: two_step(theta, eta, dz) - theta  # noqa: E731
    if eta_small is None or eta_large is None:
        found = bracket(theta, dz)
        if found is None:
            return float("nan")
        eta_small, eta_large = found
    lo, hi = eta_small, eta_large
    g_lo, g_hi = g(lo), g(hi)
    if np.sign(g_lo) == np.sign(g_hi):
        raise ValueError(f"no sign change of Θ_t+2 − Θ_t on [{lo:g}, {hi:g}] at Θ_t = {theta:g}")
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        g_mid = g(mid)
        if np.sign(g_mid) == np.sign(g_lo):
            lo, g_lo = mid, g_mid
        else:
            hi = mid
        if hi - lo <= rtol * hi:
            break
    return 0.5 * (lo + hi)


def mlp_kernels(params) -> list[np.ndarray]:
    """The weight matrices ``(in, out)`` of :class:`eoslib.models.MLP` (no biases), in order."""
    layers = sorted(params, key=lambda name: int(name.split("_")[-1]))
    return [np.asarray(params[name]["Dense_0"]["kernel"], np.float64) for name in layers]


def _forward(kernels: Sequence[np.ndarray], x: np.ndarray, masks: Sequence[np.ndarray] | None = None,
             first: np.ndarray | None = None):
    """Outputs (N, C) and the hidden ReLU inputs (list of (N, h)); with ``masks`` the ReLUs are
    replaced by the fixed 0/1 masks (the linearization). ``first``: ``x @ kernels[0]`` if known."""
    pre = x.reshape(x.shape[0], -1).astype(np.float64) @ kernels[0] if first is None else first
    inputs = []
    for i, k in enumerate(kernels[1:]):
        inputs.append(pre)
        a = np.maximum(pre, 0.0) if masks is None else pre * masks[i]
        pre = a @ k
    return pre, inputs


def mask_flips(kernels_t: Sequence[np.ndarray], kernels_s: Sequence[np.ndarray], x: np.ndarray) -> float:
    """The fraction of hidden ReLU inputs (examples × units) whose sign differs between two
    parameter sets of the MLP."""
    _, a = _forward(kernels_t, x)
    _, b = _forward(kernels_s, x)
    return _flips(a, b)


def _flips(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    return float(np.mean(np.concatenate([(p > 0) != (q > 0) for p, q in zip(a, b)], axis=1)))


def linearization_error(kernels_t: Sequence[np.ndarray], kernels_s: Sequence[np.ndarray], x: np.ndarray) -> float:
    """``‖f_s^{M_t}(x) − f_s(x)‖ / ‖f_s(x)‖`` over the batch: the network at ``kernels_s`` with the
    ReLU masks of ``kernels_t`` held fixed against its true outputs (0 when no sign flips)."""
    _, pre_t = _forward(kernels_t, x)
    true, _ = _forward(kernels_s, x)
    return _linearization(kernels_s, x, pre_t, true)


def _linearization(kernels_s, x, pre_t, true, first=None) -> float:
    lin, _ = _forward(kernels_s, x, [(p > 0).astype(np.float64) for p in pre_t], first)
    return float(np.linalg.norm(lin - true) / np.linalg.norm(true))


def claim_equilibrium(errors: np.ndarray, closed_form_error: float, *, bound: float = 1e-10) -> Claim:
    """App. D: for every ``Θ_t`` an ``η_eq`` with ``Θ_{t+2} = Θ_t`` exists (``errors``: the relative
    ``|Θ_{t+2} − Θ_t|`` at the bisected rates, NaN where no bracket was found) and, for the
    asymmetric quadratic, equals ``1/a + 1/b`` (``closed_form_error``, relative).

    Paper, Appendix D: "We apply the Intermediate Value Theorem for the existence of an
    equilibrium, and the corresponding learning rate η_eq: ∀Θ_t, ∃η_eq : Θ_{t+2} = ... = Θ_t,
    which implies the existence of a two-stage dynamically stable trajectory."

    FAIL when a bisected rate or the closed form misses by more than ``bound``; PASS when every
    ``Θ_t`` was bracketed and all are within ``bound``; UNRESOLVED when no ``Θ_t`` was drawn or
    some were not bracketed (the search found no rates on both sides: the existence is not
    tested there) and none misses."""
    name = ("App. D: an equilibrium rate eta_eq with Theta_t+2 = Theta_t exists for every Theta_t "
            "(intermediate values; asymmetric z)")
    bound_text = f"every Theta_t, relative error <= {bound:g} (unresolved: a Theta_t not bracketed)"
    errors = np.asarray(errors, dtype=float)
    if errors.size == 0:
        return Claim(name, "no Theta_t drawn", bound_text, False, unresolved=True)
    found = np.isfinite(errors)
    worst = float(np.max(errors[found])) if found.any() else float("nan")
    misses = (found.any() and worst > bound) or (np.isfinite(closed_form_error) and closed_form_error > bound)
    passed = bool(found.all() and worst <= bound and closed_form_error <= bound)
    return Claim(name, f"{int(found.sum())} of {found.size} Theta_t bracketed; worst |Theta_t+2 − Theta_t| / |Theta_t| "
                       f"= {worst:.1e}; asymmetric quadratic: eta_eq = 1/a + 1/b to {closed_form_error:.1e}",
                 bound_text, passed, unresolved=not (passed or misses))


def claim_period2_masks(flips: Mapping[int, Sequence[float]], errors: Mapping[int, Sequence[float]], *,
                        ratio: float = 0.5, level: float = 0.01) -> Claim:
    """App. D: at the edge of stability the signs of the pre-activations are (nearly) constant
    over a period of 2, so the MLP is a fixed sum of DLNs over two steps. ``flips`` / ``errors``
    map the period ``T`` (1 and 2) to the per-epoch :func:`mask_flips` /
    :func:`linearization_error` over the edge-of-stability epochs. PASS when the median flip
    fraction over ``T = 2`` is at most ``ratio`` times that over ``T = 1`` and the median
    linearization error over ``T = 2`` is at most ``level``, FAIL when not; UNRESOLVED without
    epochs.

    Paper, Appendix D: "our characterization of dR_n(k)/dr_k applies to the ReLU MLPs when
    considering eigenvector rotations in a period of 2 with respect to the training epochs, up
    until the limit of the signs of pre-activations are constant, which holds when (η − η_eq)
    is small."
    """
    name = ("App. D: over a period of 2 the signs of the pre-activations stay (nearly) constant, so the "
            "ReLU MLP is a fixed sum of DLNs over two steps")
    bound = f"median flips(T=2) <= {ratio:g} x median flips(T=1), median linearization error(T=2) <= {level:.0%}"
    f1, f2 = (np.asarray(flips.get(t, []), float) for t in (1, 2))
    e1, e2 = (np.asarray(errors.get(t, []), float) for t in (1, 2))
    if min(f1.size, f2.size, e2.size) == 0:
        return Claim(name, "no edge-of-stability epochs", bound, False, unresolved=True)
    m1, m2, l1, l2 = (float(np.median(a)) for a in (f1, f2, e1 if e1.size else [np.nan], e2))
    return Claim(name, f"{f2.size} epochs at the edge of stability: median sign flips {m2:.3%} over T = 2, "
                       f"{m1:.3%} over T = 1; median linearization error {l2:.2%} over T = 2, {l1:.2%} over T = 1",
                 bound, bool(m2 <= ratio * m1 and l2 <= level))


def mask_study(config, split, start: int | None, periods: Sequence[int] = (1, 2)) -> tuple[dict, dict]:
    """Train ``config`` (an MLP :class:`eoslib.runs.RunConfig`) epoch by epoch and return
    ``(flips, errors)``: for each period ``T``, :func:`mask_flips` and
    :func:`linearization_error` on the training inputs between the parameters of epochs ``t``
    and ``t + T`` for every ``t >= start`` (the edge-of-stability epochs) with ``t + T`` trained;
    empty lists when ``start`` is None (the run never reached the edge of stability)."""
    from eoslib.gd import run_epochs
    from eoslib.runs import prepare

    if start is None:
        return {t: [] for t in periods}, {t: [] for t in periods}

    prep = prepare([config], split, batched=False)
    state, kernels = prep.state, []
    x = np.asarray(prep.train_data.x, np.float64).reshape(len(prep.train_data.y), -1)
    for epoch in range(config.max_epochs + 1):
        kernels.append(mlp_kernels(state.params))
        state, _ = run_epochs(prep.objective, 1, prep.train_data, prep.eval_data, prep.limits, prep.schedule,
                              state, epoch)
    last = len(kernels) - 1
    firsts = {e: x @ kernels[e][0] for e in range(start, last + 1)}  # each epoch's forward pass, once
    passes = {e: _forward(kernels[e], x, first=firsts[e]) for e in firsts}
    pairs = {t: range(start, last - t + 1) for t in periods}
    flips = {t: [_flips(passes[e][1], passes[e + t][1]) for e in pairs[t]] for t in periods}
    errors = {t: [_linearization(kernels[e + t], x, passes[e][1], passes[e + t][0], firsts[e + t]) for e in pairs[t]]
              for t in periods}
    return flips, errors

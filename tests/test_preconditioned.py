"""Effective sharpness of Adam and RMSProp (eoslib.preconditioned), in float64 against dense
linear algebra on a small network, its preconditioners against optax's own updates, and the
optimizers' stability limits against simulated quadratics."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tiny
from jax.flatten_util import ravel_pytree

from eoslib import preconditioned as pc


def _problem():
    """tiny.tanh_problem as a loss of flat parameters: (loss, flat params, unravel)."""
    loss, batch, params = tiny.tanh_problem()
    flat, unravel = ravel_pytree(params)
    return (lambda f: loss(unravel(f), batch)), flat, unravel


def _trained_state(opt, loss, flat, unravel, steps=5):
    params, state = unravel(flat), opt.init(unravel(flat))
    grad = jax.grad(lambda p: loss(ravel_pytree(p)[0]))
    for _ in range(steps):
        updates, state = opt.update(grad(params), state, params)
        params = optax.apply_updates(params, updates)
    return params, state, grad


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_effective_sharpness_is_the_top_eigenvalue_of_the_preconditioned_dense_hessian(name, x64):
    loss, flat, unravel = _problem()
    opt = optax.adam(1e-2) if name == "adam" else optax.rmsprop(1e-2)
    params, state, _ = _trained_state(opt, loss, flat, unravel)
    p = pc.adam_preconditioner(state) if name == "adam" else pc.rmsprop_preconditioner(state)
    theta = ravel_pytree(params)[0]
    p_flat = ravel_pytree(p)[0]
    hessian = jax.hessian(loss)(theta)
    dense = np.linalg.eigvals(np.asarray(hessian) / np.asarray(p_flat)[:, None])  # P^-1 H, not symmetric
    want = np.sort(dense.real)[::-1][:3]
    matvec = lambda v: jax.jvp(jax.grad(loss), (theta,), (v,))[1]  # noqa: E731
    got = pc.effective_sharpness(matvec, p, theta.size, 3, tol=1e-10, dtype=jnp.float64)
    assert bool(got.certified)
    np.testing.assert_allclose(np.asarray(got.values), want, rtol=1e-8)
    assert want[0] > 3 * np.linalg.eigvalsh(np.asarray(hessian))[-1]  # the preconditioner matters here
    w = np.asarray(got.vectors[:, 0]) / np.sqrt(np.asarray(p_flat))  # eigenvector of P^-1 H
    np.testing.assert_allclose(np.asarray(hessian) @ w / np.asarray(p_flat), want[0] * w, atol=1e-7 * np.abs(w).max() * want[0])


def test_preconditioners_are_what_optax_divides_by(x64):
    loss, flat, unravel = _problem()
    for name, opt, precond in (("adam", optax.adam(0.1), pc.adam_preconditioner),
                               ("rmsprop", optax.rmsprop(0.1), pc.rmsprop_preconditioner)):
        params, state, grad = _trained_state(opt, loss, flat, unravel, steps=3)
        g = grad(params)
        updates, new = opt.update(g, state, params)
        p = ravel_pytree(precond(new))[0]
        if name == "adam":
            s = pc.find_state(new, optax.ScaleByAdamState)
            direction = ravel_pytree(s.mu)[0] / (1 - 0.9 ** s.count)
        else:
            direction = ravel_pytree(g)[0]
        np.testing.assert_allclose(ravel_pytree(updates)[0], -0.1 * direction / p, rtol=1e-10, err_msg=name)
    with pytest.raises(ValueError, match="no ScaleByAdamState"):
        pc.adam_preconditioner(optax.sgd(0.1).init(unravel(flat)))


def _diverges(opt, curvature, steps=3000):
    """Whether ``opt`` on L(x) = curvature x^2 / 2 from x = 1 blows up (|x| > 1e6)."""
    x, state = jnp.float64(1.0), opt.init(jnp.float64(1.0))
    for _ in range(steps):
        updates, state = opt.update(curvature * x, state)
        x = x + updates
    return bool(abs(x) > 1e6)


@pytest.mark.parametrize("name,opt,beta", [("gd", optax.sgd(0.1), None), ("momentum", optax.sgd(0.1, momentum=0.8), 0.8),
                                           ("adam", optax.chain(optax.ema(0.9, debias=False), optax.scale(-0.1)), 0.9)])
def test_stability_limits_separate_bounded_from_divergent_quadratics(name, opt, beta, x64):
    """Adam's limit with its preconditioner frozen at 1: its momentum is the EMA optax.ema(b1)."""
    limit = pc.stability_limit(name, 0.1, momentum=beta)
    assert not _diverges(opt, 0.98 * limit) and _diverges(opt, 1.02 * limit)


def test_stability_limit_values_and_errors():
    assert pc.stability_limit("gd", 0.01) == pytest.approx(200)
    assert pc.stability_limit("adam", 0.01) == pytest.approx(3800)  # (2 + 2 * 0.9) / (0.1 * 0.01)
    assert pc.stability_limit("momentum", 0.01, momentum=0.9) == pytest.approx(380)
    with pytest.raises(ValueError, match="heavy-ball"):
        pc.stability_limit("momentum", 0.01)
    with pytest.raises(ValueError, match="choose one of"):
        pc.stability_limit("lion", 0.01)

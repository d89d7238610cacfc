"""eoslib.diagnostics on models of one's own: a plain ``loss(params, batch)`` and optax
optimizers; the recorded (effective) sharpness against dense linear algebra in float64, GD's
sharpness reaching 2/η on the paper's MLP written as a plain loss, and threshold tracking."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tiny
from jax.flatten_util import ravel_pytree

from eoslib import models, runs, schedules
from eoslib.diagnostics import Problem, hessian_operator, train


def _tiny():
    loss, batch, params = tiny.tanh_problem()
    return Problem(loss, batch), params


def test_recorded_sharpness_and_effective_sharpness_are_the_dense_ones(x64):
    problem, params = _tiny()
    out = train(problem, params, optax.adam(0.05), 6, eig_every=3, k=2, preconditioner="adam", tol=1e-8)
    assert list(out["eig_step"]) == [0, 3, 6] and out["loss"].shape == (7,) and np.isnan(out["effective"][0])
    assert out["certified"].all() and out["effective_certified"][1:].all() and (out["hvps"] > 0).all()
    flat, unravel = ravel_pytree(out["params"])
    hessian = np.asarray(jax.jit(jax.hessian(lambda f: problem.loss(unravel(f), problem.batch)))(flat))
    np.testing.assert_allclose(out["values"][-1, :2], np.linalg.eigvalsh(hessian)[::-1][:2], rtol=1e-7)
    for hvp in ("direct", "linearized"):
        matvec, dim = hessian_operator(problem, out["params"], hvp)
        assert dim == flat.size
        np.testing.assert_allclose(np.asarray(matvec(jnp.ones(dim))), hessian @ np.ones(dim), rtol=1e-10)
    with pytest.raises(ValueError, match="hvp='jvp'"):
        train(problem, params, optax.adam(0.05), 6, hvp="jvp")
    # the effective sharpness at the last step, from the optimizer state that train reached
    opt, state, p = optax.adam(0.05), None, params
    state = opt.init(p)
    for _ in range(6):
        g = jax.grad(problem.loss)(p, problem.batch)
        u, state = opt.update(g, state, p)
        p = optax.apply_updates(p, u)
    pre = ravel_pytree(jax.tree.map(lambda nu: jnp.sqrt(nu / (1 - 0.999 ** 6)) + 1e-8,
                                    state[0].nu))[0]
    want = np.max(np.linalg.eigvals(hessian / np.asarray(pre)[:, None]).real)
    np.testing.assert_allclose(out["effective"][-1], want, rtol=1e-7)


def test_gd_sharpness_reaches_two_over_eta_on_the_paper_mlp(small_split):
    model = models.MLP()
    params = models.init_variables(model, jax.random.key(0), small_split.x_train.shape[1:])["params"]

    def loss(p, batch):
        return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, batch[0]), batch[1]).mean()
    problem = Problem(loss, (jnp.asarray(small_split.x_train), jnp.asarray(small_split.y_train)))
    eta = 0.2
    out = train(problem, params, optax.sgd(eta), 150, eig_every=10, k=1)
    assert out["certified"].all() and np.isfinite(out["loss"]).all()
    assert out["sharpness"][0] < 2 / eta <= 1.02 * out["sharpness"].max()


def test_a_paper_run_through_the_public_engine_is_the_run(small_split):
    """runs.problem: a RunConfig as a diagnostics.Problem. Plain GD through diagnostics.train is
    the run of runs.train: the same losses and the same certified sharpness (stable, so both
    are deterministic up to rounding of the two summation orders)."""
    n, m = len(small_split.y_train), len(small_split.y_eval)
    config = runs.RunConfig(model="mlp", n_train=n, n_eval=m, schedule=schedules.constant(0.05), max_epochs=20,
                            eig_every=10, eig_k=2, sharpness_at_end=False)
    run = runs.train(config, small_split)
    problem, params = runs.problem(config, small_split)
    out = train(problem, params, optax.sgd(0.05), 20, eig_every=10, k=2)
    assert run.history["train_loss"].shape == out["loss"].shape == (21,)
    np.testing.assert_allclose(out["loss"], run.history["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(out["values"][:, :2], run.eigen["values"], rtol=2e-3)
    assert out["certified"].all() and run.eigen["certified"].all() and out["sharpness"].max() < 2 / 0.05


def test_threshold_tracking_records_how_many_pairs_are_above(x64):
    problem, params = _tiny()
    out = train(problem, params, optax.sgd(0.5), 4, eig_every=2, k=4, threshold=0.4, k_max=12, tol=1e-8)

    def dense_count(p):
        flat, unravel = ravel_pytree(p)
        hessian = jax.jit(jax.hessian(lambda f: problem.loss(unravel(f), problem.batch)))(flat)
        return int(np.sum(np.linalg.eigvalsh(np.asarray(hessian)) > 0.4))
    first, last = dense_count(params), dense_count(out["params"])
    assert list(out["above"][[0, -1]]) == [first, last] and last > first  # an eigenvalue crossed upward
    assert list(out["tracked"][[0, -1]]) == [first + 1, last + 1] and out["certified"].all()
    with pytest.raises(ValueError, match="preconditioner"):
        train(problem, params, optax.sgd(0.1), 2, preconditioner="lion")


def test_a_resumed_run_is_the_uninterrupted_one(x64, tmp_path, monkeypatch):
    """A run killed after an eigen-step and restarted from its checkpoint gives the
    uninterrupted run's records, bit for bit."""
    import shutil

    from eoslib import diagnostics

    problem, params = _tiny()
    run = dict(eig_every=2, k=2, preconditioner="adam", tol=1e-8)
    whole = train(problem, params, optax.adam(0.05), 7, **run)
    save = diagnostics._save

    def save_and_keep(path, step, *args):  # the checkpoint as a kill after step 4's solve leaves it
        save(path, step, *args)
        if step == 4:
            shutil.copy(path, tmp_path / "killed.npz")

    monkeypatch.setattr(diagnostics, "_save", save_and_keep)
    train(problem, params, optax.adam(0.05), 7, checkpoint=tmp_path / "first.npz", **run)
    resumed = train(problem, params, optax.adam(0.05), 7, checkpoint=tmp_path / "killed.npz", **run)
    for name in whole:
        if name != "params":
            np.testing.assert_array_equal(resumed[name], whole[name], err_msg=name)
    for a, b in zip(jax.tree.leaves(resumed["params"]), jax.tree.leaves(whole["params"])):
        np.testing.assert_array_equal(a, b)


def test_linearized_products_record_the_dense_eigenvalues(x64):
    problem, params = _tiny()
    out = train(problem, params, optax.sgd(0.05), 4, eig_every=2, k=2, tol=1e-8, compiled=False, hvp="linearized")
    assert out["certified"].all()
    flat, unravel = ravel_pytree(out["params"])
    hessian = np.asarray(jax.jit(jax.hessian(lambda f: problem.loss(unravel(f), problem.batch)))(flat))
    np.testing.assert_allclose(out["values"][-1, :2], np.linalg.eigvalsh(hessian)[::-1][:2], rtol=1e-7)


def test_lanes_are_the_single_runs(x64):
    """train_lanes: two learning rates (one vmapped step) and a per-lane threshold give each
    single run's losses and (to the solver's tolerance) its eigenvalues."""
    from eoslib.diagnostics import train_lanes

    problem, params = _tiny()
    lrs = jnp.asarray([0.05, 0.2])
    stacked = jax.tree.map(lambda a: jnp.stack([a, a]), params)
    lanes = train_lanes(problem, stacked, lambda lr: optax.sgd(lr), lrs, 6, eig_every=3, k=1,
                        threshold=[1.0, 2.0], k_max=4, tol=1e-9)
    for lane, lr, threshold in zip(lanes, [0.05, 0.2], [1.0, 2.0]):
        single = train(problem, params, optax.sgd(lr), 6, eig_every=3, k=1, threshold=threshold, k_max=4, tol=1e-9)
        np.testing.assert_allclose(lane["loss"], single["loss"], rtol=1e-12)
        assert list(lane["tracked"]) == list(single["tracked"]) and lane["certified"].all()
        np.testing.assert_allclose(lane["values"], single["values"], rtol=1e-7)

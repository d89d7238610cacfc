"""Training runs (eoslib.runs, eoslib.gd): schedules, stopping rules, eigen-recording,
determinism, the Python epoch loop."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from eoslib import models, schedules
from eoslib.execution import ExecutionPlan
from eoslib.gd import Limits, init_state, run_epochs
from eoslib.monitors import Rotation, StopAbove, StopAfterPeak, has_peaked
from eoslib.objective import Batch, Objective
from eoslib.runs import Prepared, RunConfig, prepare, state_eigenpairs, states_at, train


def _f64(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


def _dense_hessian(loss, params):
    flat, unravel = ravel_pytree(params)
    return jax.jit(jax.hessian(lambda v: loss(unravel(v))))(flat)


@pytest.mark.parametrize("compiled_loops", [True, False])
def test_state_eigenpairs_match_dense_eigh(compiled_loops):
    """The trainer's eigenpairs with either driver of the execution plan, warm and cold."""
    model = models.MLP(hidden=(6, 5))
    x = jax.random.normal(jax.random.key(0), (40, 3, 3, 1), jnp.float32)
    y = jax.random.randint(jax.random.key(1), (40,), 0, 10)
    state = init_state(model, jax.random.key(2), (3, 3, 1), 2)
    objective = Objective(model, "xent", 16, compiled_loops)
    prep = Prepared(objective, ExecutionPlan(compiled_loops, 1, False), Batch(x, y), None,
                    None, None, state, False)
    pairs = state_eigenpairs(prep, state, 3, 1e-5)
    with jax.enable_x64(True):
        dense = _dense_hessian(objective.loss_fn({}, Batch(x, y)), _f64(state.params))
    evals, evecs = np.linalg.eigh(np.asarray(dense))
    np.testing.assert_allclose(pairs.values, evals[::-1][:3], rtol=1e-4)
    overlaps = np.abs(np.sum(np.asarray(pairs.vectors) * evecs[:, ::-1][:, :3], axis=0))
    np.testing.assert_allclose(overlaps, 1.0, atol=1e-3)
    assert pairs.residuals.shape == (3,) and int(pairs.num_matvecs) >= 3 and pairs.certified
    warm = state_eigenpairs(prep, state, 3, 1e-5, prev_vectors=pairs.vectors)
    np.testing.assert_allclose(warm.values, pairs.values, rtol=1e-4)


def test_schedules_are_pure_functions_of_epoch_and_state():
    lr = lambda s, t, r: float(schedules.learning_rate(schedules.as_arrays(s), t, r))  # noqa: E731
    warm = schedules.warmup(1.0, 100)
    assert [lr(warm, t, False) for t in (0, 49, 99, 500)] == pytest.approx([0.01, 0.5, 1.0, 1.0])
    assert lr(schedules.constant(0.3), 7, False) == pytest.approx(0.3)
    at_epoch = schedules.as_arrays(schedules.reduce_at_epoch(1.0, 0.02, 10))
    assert not schedules.update_reduced(at_epoch, 9, False, 1.0)
    assert schedules.update_reduced(at_epoch, 10, False, 0.0)
    at_acc = schedules.as_arrays(schedules.reduce_at_accuracy(1.0, 0.02, 0.9))
    assert not schedules.update_reduced(at_acc, 3, False, 0.89)
    reduced = schedules.update_reduced(at_acc, 4, False, 0.9)
    assert reduced and schedules.update_reduced(at_acc, 5, reduced, 0.1)  # latched
    assert lr(schedules.reduce_at_accuracy(1.0, 0.02, 0.9), 5, True) == pytest.approx(0.02)


def test_training_records_and_reduces_at_accuracy(small_split):
    config = RunConfig(n_train=128, n_eval=32, max_epochs=400, mean_window=4,
                       schedule=schedules.reduce_at_accuracy(0.2, 0.1, 0.9))
    run = train(config, small_split)
    h = run.history
    assert run.final["completed"] and not run.diverged
    t = run.final["epochs"]
    assert all(len(v) == t + 1 for v in h.values())
    assert h["train_acc"][-1] > 0.9999 and (h["train_acc"][:-1] <= 0.9999).all()
    first = int(np.argmax(h["train_acc"] >= 0.9))
    assert (h["lr"][:first] == np.float32(0.2)).all() and (h["lr"][first:] == np.float32(0.1)).all()
    assert h["dist_to_mean"][0] == 0.0 and (h["dist_to_mean"][1:] > 0).all()
    assert run.final["sharpness"] > 0
    flat = ravel_pytree(run.state.params)[0]
    assert float(jnp.linalg.norm(flat)) == pytest.approx(h["param_norm"][-1], rel=1e-6)


def test_one_epoch_is_one_gd_step(small_split):
    config = RunConfig(n_train=128, n_eval=32, max_epochs=1, schedule=schedules.constant(0.2),
                       sharpness_at_end=False)
    run = train(config, small_split)
    state0 = init_state(models.MLP(), jax.random.key(0), (28, 28, 1), 10)
    objective = Objective(models.MLP(), "xent", 128)
    batch = Batch(jnp.asarray(small_split.x_train), jnp.asarray(small_split.y_train))
    grad = jax.grad(objective.loss_fn({}, batch))(state0.params)
    expected = jax.tree.map(lambda p, g: p - 0.2 * g, state0.params, grad)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                 run.state.params, expected)
    assert len(run.history["train_loss"]) == 2 and run.final["epochs"] == 1


def test_distance_to_running_mean_matches_explicit_trajectory(small_split):
    """|θ_t − θ*_t| with θ*_t the mean of the last W = 4 iterates (fewer at the start), against
    GD steps taken by hand; 11 epochs cross the window's periodic re-summation twice."""
    epochs, window, lr = 11, 4, 0.2
    config = RunConfig(n_train=128, n_eval=32, max_epochs=epochs, mean_window=window,
                       schedule=schedules.constant(lr), sharpness_at_end=False)
    run = train(config, small_split)
    objective = Objective(models.MLP(), "xent", 128)
    batch = Batch(jnp.asarray(small_split.x_train), jnp.asarray(small_split.y_train))
    grad_fn = jax.jit(jax.grad(lambda p: objective.loss_fn({}, batch)(p)))
    params = init_state(models.MLP(), jax.random.key(0), (28, 28, 1), window).params
    trajectory = []
    for _ in range(epochs + 1):
        trajectory.append(np.asarray(ravel_pytree(params)[0], np.float64))
        params = jax.tree.map(lambda p, g: p - lr * g, params, grad_fn(params))
    expected = [np.linalg.norm(trajectory[t] - np.mean(trajectory[max(0, t - window + 1):t + 1], 0))
                for t in range(epochs + 1)]
    np.testing.assert_allclose(run.history["dist_to_mean"], expected, rtol=2e-4, atol=1e-6)


def test_divergence_is_flagged_not_raised(small_split):
    run = train(RunConfig(n_train=128, n_eval=32, max_epochs=50, schedule=schedules.constant(1e4)),
                small_split)
    assert run.diverged and not run.final["completed"]
    assert run.final["epochs"] < 50 and "sharpness" not in run.final


def test_same_seed_is_bitwise_identical_and_seeds_differ(small_split):
    config = RunConfig(n_train=128, n_eval=32, max_epochs=30, schedule=schedules.constant(0.3),
                       sharpness_at_end=False)
    a, b = train(config, small_split), train(config, small_split)
    for name in a.history:
        np.testing.assert_array_equal(a.history[name], b.history[name])
    jax.tree.map(np.testing.assert_array_equal, a.state.params, b.state.params)
    c = train(dataclasses.replace(config, seed=1), small_split)
    assert not np.array_equal(a.history["train_loss"], c.history["train_loss"])


def test_eigenpairs_are_recorded_with_warm_starts(small_split):
    config = RunConfig(n_train=128, n_eval=32, max_epochs=20, schedule=schedules.constant(0.1),
                       eig_every=5, eig_k=2, eig_tol=1e-4, keep_eigenvectors=True)
    run = train(config, small_split)
    e = run.eigen
    assert e["epoch"].tolist() == [0, 5, 10, 15, 20]
    assert e["values"].shape == e["residuals"].shape == (5, 2)
    assert e["certified"].shape == (5,) and e["certified"].all()
    assert e["vectors"].shape == (5, 28_480, 2)
    assert (e["values"][:, 0] >= e["values"][:, 1]).all()
    assert (e["residuals"] <= 1e-4 * e["values"][:, :1] * 1.01).all()
    assert (e["num_matvecs"] >= 2).all()
    # the last record (warm-started) agrees with a cold solve at the final parameters
    assert e["values"][-1, 0] == pytest.approx(run.final["sharpness"], rel=1e-3)


def test_a_linearized_run_solves_with_linearized_products_of_the_same_hessian(small_split):
    """``RunConfig.hvp`` reaches the objective of every eigensolve (state_eigenpairs and the
    batched solves take their matvec from it); training never uses HVPs. The products' accuracy
    against dense Hessians: tests/test_objective.py."""
    config = RunConfig(n_train=128, n_eval=32, schedule=schedules.constant(0.1))
    direct, linear = (prepare([c], small_split, batched=False) for c in (config, dataclasses.replace(config, hvp="linearized")))
    assert (direct.objective.hvp_mode, linear.objective.hvp_mode) == ("direct", "linearized")
    state, data = direct.state, direct.train_data
    v = jax.random.normal(jax.random.key(0), (ravel_pytree(state.params)[0].size,))
    want = jax.jit(direct.objective.hessian_matvec(state.params, state.batch_stats, data))(v)
    got = jax.jit(linear.objective.hessian_matvec(state.params, state.batch_stats, data))(v)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(jnp.max(jnp.abs(want))))


def test_has_peaked_waits_a_window_after_the_maximum():
    epochs = [0, 10, 20, 30, 40]
    assert not has_peaked(epochs[:3], [1.0, 2.0, 3.0], 10)
    assert has_peaked(epochs[:3], [1.0, 3.0, 2.0], 10)
    assert not has_peaked(epochs, [1.0, 2.0, 5.0, 4.0, 4.5], 30)
    assert has_peaked(epochs, [5.0, 2.0, 5.0, 4.0, 4.5], 40)  # first of tied maxima
    assert not has_peaked([], [], 10)


def test_run_stops_once_the_sharpness_peaked_after_the_reduction(small_split):
    config = RunConfig(n_train=128, n_eval=32, max_epochs=400, eig_every=5,
                       schedule=schedules.reduce_at_epoch(0.5, 0.1, 20), monitors=(StopAfterPeak(30),),
                       sharpness_at_end=False)
    run = train(config, small_split)
    epochs, top = run.eigen["epoch"], run.eigen["values"][:, 0]
    after = epochs > 20  # recorded with the reduced learning rate
    assert run.final["peaked"] and not run.final["completed"]
    assert epochs[-1] == run.final["epochs"] == len(run.history["train_loss"]) - 1 < 400
    assert has_peaked(epochs[after], top[after], 30)
    assert not has_peaked(epochs[after][:-1], top[after][:-1], 30)  # the first epoch it holds
    assert not run.final["above"]
    above = train(config.with_monitors(StopAbove(30.0)), small_split)
    top = above.eigen["values"][:, 0]
    after = above.eigen["epoch"] > 20
    assert above.final["above"] and top[-1] >= 30 and (top[after][:-1] < 30).all()
    with pytest.raises(ValueError, match="eig_every"):
        RunConfig(max_epochs=5, monitors=(StopAfterPeak(10),))


def test_states_at_retraces_the_run(small_split):
    config = RunConfig(n_train=128, n_eval=32, max_epochs=12, schedule=schedules.constant(0.3),
                       sharpness_at_end=False)
    run = train(config, small_split)
    states = states_at(config, [12, 4, 7], small_split)
    assert sorted(states) == [4, 7, 12]
    jax.tree.map(np.testing.assert_array_equal, states[12].params, run.state.params)
    assert all(int(s.epoch) == e for e, s in states.items())
    with pytest.raises(ValueError, match="stops at epoch 12"):
        states_at(config, [13], small_split)


def test_progress_bar_is_silent_when_not_interactive(small_split, capsys):
    train(RunConfig(n_train=128, n_eval=32, max_epochs=3, sharpness_at_end=False), small_split)
    assert capsys.readouterr().err == ""


def test_python_epoch_loop_matches_the_compiled_loop():
    """Convolutional models on CPU run epochs from Python (compiled_loops=False): same results."""
    from eoslib.schedules import as_arrays

    model = models.VGG(widths=(2,), convs_per_block=1, ghost_size=8)
    x = jax.random.normal(jax.random.key(0), (20, 4, 4, 1), jnp.float32)
    y = jax.random.randint(jax.random.key(1), (20,), 0, 10)
    state = init_state(model, jax.random.key(2), (4, 4, 1), 3)
    limits = Limits(jnp.int32(6), jnp.float32(2.0), jnp.float32(1e3))
    args = (Batch(x, y), Batch(x[:8], y[:8]), limits, as_arrays(schedules.constant(0.5)), state, 0)
    compiled = run_epochs(Objective(model, "xent", 8, True), 10, *args)
    python = run_epochs(Objective(model, "xent", 8, False), 10, *args)
    assert python[1]["active"].shape == (7,) and compiled[1]["active"].shape == (10,)
    for name in ("train_loss", "eval_acc", "param_norm", "lr"):
        np.testing.assert_allclose(python[1][name], compiled[1][name][:7], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 python[0].params, compiled[0].params)


def test_compiled_blocks_of_any_length_share_one_program_and_chain_to_one_block():
    """A compiled block's epoch count is traced (``gd.block_capacity``): blocks of 37, 50 and 3
    epochs run one program, and chained they give the metrics and state of one 90-epoch block
    bit for bit."""
    from eoslib import gd
    from eoslib.schedules import as_arrays

    model = models.MLP(hidden=(8, 8))
    x = jax.random.normal(jax.random.key(0), (32, 4, 4, 1), jnp.float32)
    y = jax.random.randint(jax.random.key(1), (32,), 0, 10)
    limits = Limits(jnp.int32(200), jnp.float32(2.0), jnp.float32(1e3))
    data = (Batch(x, y), Batch(x[:8], y[:8]), limits, as_arrays(schedules.constant(0.5)))
    objective = Objective(model, "xent", 32, True)
    state = init_state(model, jax.random.key(2), (4, 4, 1), 3)
    whole_state, whole = run_epochs(objective, 90, *data, state, 0)
    before = gd.run_block_jit._cache_size()
    chunks, epoch = [], 0
    for num in (37, 50, 3):
        state, metrics = run_epochs(objective, num, *data, state, epoch)
        assert metrics["active"].shape == (num,)
        chunks.append(metrics)
        epoch += num
    assert gd.run_block_jit._cache_size() == before and gd.block_capacity(3) == gd.block_capacity(90) == 128
    assert gd.block_capacity(129) == 256
    for name in whole:
        np.testing.assert_array_equal(np.concatenate([c[name] for c in chunks], axis=-1), whole[name])
    jax.tree.map(np.testing.assert_array_equal, state.params, whole_state.params)


def test_runs_that_differ_only_in_initialization_share_their_compiled_programs(small_split):
    """The objective holds the model with the default ``weight_init`` (``models.for_apply``):
    PyTorch- and Flax-initialized runs start from different parameters but compile one epoch
    program and one eigensolver between them, and the model's other fields are kept."""
    from eoslib.models import for_apply

    preps = [prepare([RunConfig(n_train=128, n_eval=32, max_epochs=5, weight_init=w)], small_split, batched=False)
             for w in ("torch", "flax")]
    assert preps[0].objective == preps[1].objective and hash(preps[0].objective) == hash(preps[1].objective)
    first = jax.tree.leaves(preps[0].state.params)[0]
    assert not np.array_equal(first, jax.tree.leaves(preps[1].state.params)[0])
    torch_vgg = models.VGG(widths=(2,), convs_per_block=1, ghost_size=8, weight_init="torch")
    assert for_apply(torch_vgg) == models.VGG(widths=(2,), convs_per_block=1, ghost_size=8)


def test_rho_compares_the_final_top_subspace_with_its_anchors(small_split):
    """ρ: similarity of the top-2 subspace at completion to the one at the first evaluation
    that sees 90 % training accuracy (rho) and at the first with S >= 2/η (rho_eos)."""
    config = RunConfig(n_train=128, n_eval=32, max_epochs=300, schedule=schedules.constant(0.3),
                       eig_every=5, eig_k=2, monitors=(Rotation(2),), weight_init="torch")  # completes in 300 epochs
    run = train(config, small_split)
    f, e = run.final, run.eigen
    assert f["completed"] and 0 < f["rho"] <= 1 and 0 < f["rho_eos"] <= 1
    acc = run.history["train_acc"]
    seen = acc[e["epoch"][e["epoch"] > 0] - 1]  # the accuracy each evaluation sees (epoch 0: none)
    first = e["epoch"][e["epoch"] > 0][np.argmax(seen >= 0.9)]
    assert (seen >= 0.9).any() and f["rho_epoch"] == first
    first_eos = e["epoch"][np.argmax(e["values"][:, 0] >= 2 / 0.3)]
    assert f["rho_eos_epoch"] == first_eos
    stable = train(dataclasses.replace(config, schedule=schedules.constant(0.02), max_epochs=40),
                   small_split)
    assert np.isnan(stable.final["rho_eos"]) and stable.final["rho_eos_epoch"] is None
    with pytest.raises(ValueError, match="eig_k"):
        RunConfig(eig_every=5, eig_k=1, monitors=(Rotation(2),))


def test_rho_anchor_at_accuracy_is_solved_at_the_epoch_the_accuracy_is_reached(small_split):
    """``Rotation(at_accuracy=True)``: the ρ anchor is the first epoch e whose last training accuracy
    (that of θ_{e-1}) reaches 90 %, solved there, in train() and in a vmapped sweep alike; the
    scheduled evaluations and the trajectory are those of the run without it, whose key (and
    every stored key) the new parameter leaves unchanged."""
    from eoslib import sweep

    config = RunConfig(n_train=128, n_eval=32, max_epochs=300, schedule=schedules.constant(0.3),
                       eig_every=25, eig_start=10, eig_k=2, monitors=(Rotation(2),), weight_init="torch")
    triggered = config.with_monitors(Rotation(2, at_accuracy=True))
    assert "rho_at_accuracy" not in config.to_dict() and config.key() != triggered.key()
    assert RunConfig.from_dict(config.to_dict()).key() == config.key()
    assert RunConfig.from_dict(triggered.to_dict()) == triggered
    plain, run = train(config, small_split), train(triggered, small_split)
    acc = run.history["train_acc"]
    first = int(np.argmax(acc >= 0.9)) + 1  # the first epoch e with train_acc(θ_{e-1}) >= 90 %
    assert (acc >= 0.9).any() and first > 10 and run.final["rho_epoch"] == first
    assert (first - 10) % 25 != 0 and first in run.eigen["epoch"]  # not a scheduled one
    assert plain.final["rho_epoch"] > first
    scheduled = [e for e in run.eigen["epoch"] if e != first]
    np.testing.assert_array_equal(scheduled, plain.eigen["epoch"])
    np.testing.assert_allclose(run.history["train_loss"], plain.history["train_loss"], rtol=1e-4)
    swept = sweep.run_batch([triggered, dataclasses.replace(triggered, seed=1)], small_split)
    lane = swept[0]  # vmapped lanes round otherwise, and the crossing at the edge of stability moves
    assert lane["final"]["rho_epoch"] == int(np.argmax(np.asarray(lane["history"]["train_acc"]) >= 0.9)) + 1
    assert 0 < lane["final"]["rho"] <= 1
    with pytest.raises(ValueError, match="eig_every"):
        RunConfig(monitors=(Rotation(2, at_accuracy=True),))


def test_a_dead_network_stops_frozen_and_its_dead_layer_is_named(small_split):
    """TRAINER_VERSION 2 (eoslib.gd): a run stops at an exactly zero gradient instead of standing
    still until max_epochs, flagged ``frozen``, with the ReLU layer that is all off named. Zero
    inputs kill the bias-free MLP's first layer at once; a zero kernel kills a middle one. The
    vmapped sweep stops its lanes the same way, and a live run is never flagged."""
    from eoslib.chapters.generalization import experiment as generalization
    from eoslib.runs import dead_layer, prepare
    from eoslib.sweep import run_batch

    config = RunConfig(n_train=128, n_eval=32, max_epochs=40, sharpness_at_end=True)
    zeros = dataclasses.replace(small_split, x_train=np.zeros_like(small_split.x_train))
    run = train(config, zeros)
    assert run.final["frozen"] and run.final["dead_layer"] == 0 and run.final["epochs"] == 0
    assert not run.diverged and not run.final["completed"] and run.final["sharpness"] == 0.0
    assert np.isclose(run.final["train_loss"], np.log(10.0))
    record = {"final": run.final, "diverged": run.diverged}
    assert generalization.dead(record) and generalization.failed(record)
    lanes = run_batch([config, dataclasses.replace(config, schedule=schedules.Schedule(0.02), seed=1)], zeros)
    assert [(r["final"]["frozen"], r["final"]["dead_layer"], r["final"]["epochs"]) for r in lanes] == [(True, 0, 0)] * 2

    live = train(config, small_split)
    assert not live.final["frozen"] and live.final["dead_layer"] is None and live.final["epochs"] > 0
    prep = prepare([config], small_split, batched=False)
    params = {**prep.state.params, "Linear_1": jax.tree.map(jnp.zeros_like, prep.state.params["Linear_1"])}
    state = prep.state._replace(params=params)
    assert dead_layer(prep, state) == 1 and dead_layer(prep, prep.state) is None
    after, _ = run_epochs(prep.objective, 5, prep.train_data, prep.eval_data, prep.limits, prep.schedule, state, 0)
    assert bool(after.frozen) and bool(after.stopped) and int(after.epoch) == 0


@pytest.mark.parametrize("model", [models.MLP(hidden=(6, 5), weight_init="torch"),
                                   models.VGG(widths=(2, 3), convs_per_block=1, ghost_size=8)], ids=["mlp-torch", "vgg-bn"])
def test_initial_states_are_the_vmapped_initializers_bit_for_bit_from_one_program(model):
    """``gd.init_states`` (``models.init_variables``'s initializer compiled once per model, called
    per key) gives the values of ``jax.vmap(init_state)`` (``model.init`` traced) bit for bit,
    for a batch and for one key (its row), and any number of keys and ``jax.clear_caches``
    reuse its program."""
    from eoslib import gd

    keys = jax.vmap(jax.random.key)(jnp.asarray([0, 5, 7]))
    want = jax.jit(lambda keys: jax.vmap(lambda k: init_state(model, k, (4, 4, 1), 3))(keys))(keys)
    for got, row in [(gd.init_states(model, keys, (4, 4, 1), 3), slice(None)), (gd.init_states(model, keys[1], (4, 4, 1), 3), 1)]:
        assert jax.tree.structure(got) == jax.tree.structure(want)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[row])
    misses = models._init_program.cache_info().misses
    jax.clear_caches()
    gd.init_states(model, keys[:2], (4, 4, 1), 3)
    assert models._init_program.cache_info().misses == misses

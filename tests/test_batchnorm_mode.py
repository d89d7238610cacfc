"""The Hessian eoslib computes for a GhostBatchNorm network is that of exactly the loss GD
optimizes: train-mode batch statistics per ghost batch, every example included (issue 31).

Checked in float64 on a small VGG (two 3x3 convolutions of width 2 with GhostBatchNorm over 8
examples, 20 examples: ghost batches of 8, 8 and 4) against dense Hessians by autodiff of the
loss written out directly (one ``model.apply`` in train mode over the whole batch). Two ways of
getting it wrong, both seen in public edge-of-stability code, give measurably different
Hessians here: BatchNorm in eval mode (running statistics), and chunked sums that drop the
last, smaller chunk."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from eoslib import models
from eoslib.objective import Batch, Objective

N, GHOST = 20, 8


@pytest.fixture(scope="module")
def setup():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        x = jnp.asarray(rng.normal(size=(N, 4, 4, 1)))
        y = jnp.asarray(rng.integers(0, 10, N))
        model = models.VGG(widths=(2,), convs_per_block=2, ghost_size=GHOST)
        variables = models.init_variables(model, jax.random.key(0), (4, 4, 1))
        params = jax.tree.map(lambda a: a.astype(jnp.float64), variables["params"])
        # running statistics away from their initial (0, 1), as after training
        stats = jax.tree.map(lambda a: jnp.asarray(rng.uniform(0.5, 1.5, a.shape)), variables["batch_stats"])
        flat, unravel = ravel_pytree(params)

        def loss(f, train=True, examples=N):
            logits = model.apply({"params": unravel(f), "batch_stats": stats}, x[:examples], train=train)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y[:examples]).mean()

        objective = Objective(model, "xent", GHOST)
        engine = np.asarray(jax.jit(jax.vmap(objective.hessian_matvec(params, stats, Batch(x, y)), in_axes=1, out_axes=1))(jnp.eye(flat.size)))
        dense = {"train": np.asarray(jax.jit(jax.hessian(loss))(flat)),
                 "eval": np.asarray(jax.jit(jax.hessian(lambda f: loss(f, train=False)))(flat)),
                 "dropped remainder": np.asarray(jax.jit(jax.hessian(lambda f: loss(f, examples=16)))(flat))}
        grad = ravel_pytree(objective.loss_and_grad(params, stats, Batch(x, y))[3])[0]
        return dict(model=model, x=x, flat=flat, loss=loss, engine=engine, dense=dense, grad=np.asarray(grad))


def test_ghost_batchnorm_normalizes_each_ghost_batch_with_its_own_statistics(x64):
    x = jnp.asarray(np.random.default_rng(2).normal(size=(N, 3, 3, 2)))
    bn = models.GhostBatchNorm(GHOST)
    variables = bn.init(jax.random.key(0), x)
    got = np.asarray(bn.apply(variables, x, train=True))
    for start in (0, 8, 16):
        chunk = np.asarray(x[start:start + GHOST])
        want = (chunk - chunk.mean((0, 1, 2))) / np.sqrt(chunk.var((0, 1, 2)) + 1e-5)
        np.testing.assert_allclose(got[start:start + GHOST], want, atol=1e-12)


def test_engine_hessian_is_the_dense_hessian_of_the_train_mode_loss_gd_descends(setup, x64):
    h = setup["dense"]["train"]
    np.testing.assert_allclose(setup["engine"], h, atol=1e-10 * np.abs(h).max())
    np.testing.assert_allclose(setup["grad"], np.asarray(jax.grad(setup["loss"])(setup["flat"])), atol=1e-12)


@pytest.mark.parametrize("wrong", ["eval", "dropped remainder"])
def test_the_wrong_batchnorm_mode_or_a_dropped_chunk_gives_another_hessian(setup, wrong, x64):
    right, other = setup["dense"]["train"], setup["dense"][wrong]
    top_right, top_other = np.linalg.eigvalsh(right)[-1], np.linalg.eigvalsh(other)[-1]
    assert np.linalg.norm(other - right) > 0.05 * np.linalg.norm(right)
    assert abs(top_other / top_right - 1) > 0.02, (wrong, top_right, top_other)
    assert np.linalg.norm(setup["engine"] - other) > 0.05 * np.linalg.norm(right)

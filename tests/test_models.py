"""Parameter counts against Appendix F, forward shapes, GhostBatchNorm semantics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import models

jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize(
    "model, shape, trainable, state_dict",
    [
        (models.MLP(), (28, 28, 1), 28_480, 28_480),  # paper: 28,480
        (models.ResNet20(), (32, 32, 3), 269_722, 271_117),  # paper: 271,117
        (models.VGG10(), (32, 32, 3), 35_634, 35_979),  # paper: 47,892 (deviation documented)
        (models.VGG19(), (32, 32, 3), 7_872_858, 7_878_924),  # paper: 335,277 (deviation documented)
    ],
)
def test_parameter_counts(model, shape, trainable, state_dict):
    variables = jax.eval_shape(lambda: models.init_variables(model, jax.random.key(0), shape))
    assert models.count_params(variables) == trainable
    assert models.count_params(variables, torch_state_dict=True) == state_dict


@pytest.mark.parametrize("model", [models.VGG19(), models.ResNet20()])
def test_forward_on_two_images(model):
    x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
    variables = jax.jit(lambda k: models.init_variables(model, k, (32, 32, 3)))(jax.random.key(0))
    apply = jax.jit(model.apply, static_argnames="train")
    train_logits = apply(variables, x, train=True)
    eval_logits = apply(variables, x, train=False)
    assert train_logits.shape == eval_logits.shape == (2, 10)
    assert np.isfinite(np.asarray(train_logits)).all()


def test_mlp_init_matches_pytorch_default_bounds():
    params = models.init_variables(models.MLP(), jax.random.key(0), (28, 28, 1))["params"]
    first = params["Linear_0"]["Dense_0"]["kernel"]
    assert first.shape == (784, 32)
    assert float(jnp.max(jnp.abs(first))) <= 1 / np.sqrt(784)
    assert float(jnp.std(first)) == pytest.approx(1 / np.sqrt(3 * 784), rel=0.05)


def _plain_bn(x, eps=1e-5):
    mean = x.mean(axis=(0, 1, 2))
    return (x - mean) / np.sqrt(x.var(axis=(0, 1, 2)) + eps)


def test_ghost_batchnorm_normalizes_consecutive_chunks_independently():
    bn = models.GhostBatchNorm(ghost_size=4)
    x = np.asarray(jax.random.normal(jax.random.key(0), (10, 3, 3, 2), jnp.float64)) * 3 + 1
    variables = bn.init(jax.random.key(0), x, train=True)
    y = np.asarray(bn.apply(variables, x, train=True))
    for start, stop in [(0, 4), (4, 8), (8, 10)]:
        np.testing.assert_allclose(y[start:stop], _plain_bn(x[start:stop]), atol=1e-10)
    x2 = x.copy()
    x2[4:] += 5.0
    np.testing.assert_array_equal(np.asarray(bn.apply(variables, x2, train=True))[:4], y[:4])


def test_ghost_batchnorm_running_stats_and_eval_mode():
    bn = models.GhostBatchNorm(ghost_size=4)
    x = np.asarray(jax.random.normal(jax.random.key(0), (8, 2, 2, 1), jnp.float64)) + 2.0
    variables = bn.init(jax.random.key(0), x, train=True)
    _, updated = bn.apply(variables, x, train=True, mutable=["batch_stats"])
    chunk_means = [x[:4].mean(), x[4:].mean()]
    chunk_vars = [x[:4].var(ddof=1), x[4:].var(ddof=1)]
    stats = updated["batch_stats"]
    np.testing.assert_allclose(stats["mean"], 0.1 * np.mean(chunk_means), rtol=1e-6)
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * np.mean(chunk_vars), rtol=1e-6)
    y_eval = bn.apply({"params": variables["params"], **updated}, x, train=False)
    expected = (x - stats["mean"]) / np.sqrt(stats["var"] + 1e-5)
    np.testing.assert_allclose(y_eval, expected, rtol=1e-5)

"""Parameter counts against Appendix F, forward shapes, GhostBatchNorm semantics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib import models


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
    variables = models.init_variables(model, jax.random.key(0), (32, 32, 3))
    apply = jax.jit(model.apply, static_argnames="train")
    train_logits = apply(variables, x, train=True)
    eval_logits = apply(variables, x, train=False)
    assert train_logits.shape == eval_logits.shape == (2, 10)
    assert np.isfinite(np.asarray(train_logits)).all()


def test_mlp_torch_init_matches_pytorch_default_bounds():
    params = models.init_variables(models.MLP(weight_init="torch"), jax.random.key(0), (28, 28, 1))["params"]
    first = params["Linear_0"]["Dense_0"]["kernel"]
    assert first.shape == (784, 32)
    assert float(jnp.max(jnp.abs(first))) <= 1 / np.sqrt(784)
    assert float(jnp.std(first)) == pytest.approx(1 / np.sqrt(3 * 784), rel=0.05)


def test_default_init_is_the_authors_flax_lecun_normal():
    """Variance 1/fan_in (truncated normal, |w| <= 2 std before rescaling), biases 0."""
    params = models.init_variables(models.MLP(), jax.random.key(0), (28, 28, 1))["params"]
    first = params["Linear_0"]["Dense_0"]["kernel"]
    assert float(jnp.std(first)) == pytest.approx(1 / np.sqrt(784), rel=0.05)
    assert float(jnp.max(jnp.abs(first))) <= 2.0 / 0.87962566 / np.sqrt(784)
    variables = jax.eval_shape(lambda: models.init_variables(models.VGG10(), jax.random.key(0), (32, 32, 3)))
    params = models.init_variables(models.VGG10(), jax.random.key(0), (32, 32, 3))["params"]
    conv = params["Conv_0"]["kernel"]  # fan_in 3 x 3 x 3
    assert float(jnp.std(params["Conv_8"]["kernel"])) == pytest.approx(1 / np.sqrt(9 * 32), rel=0.1)
    assert conv.shape == variables["params"]["Conv_0"]["kernel"].shape
    np.testing.assert_array_equal(params["Linear_0"]["Dense_0"]["bias"], 0.0)
    torch = models.init_variables(models.VGG10(weight_init="torch"), jax.random.key(0), (32, 32, 3))["params"]
    assert float(jnp.max(jnp.abs(torch["Linear_0"]["Dense_0"]["bias"]))) > 0
    with pytest.raises(ValueError, match="weight_init"):
        models.init_variables(models.MLP(weight_init="he"), jax.random.key(0), (28, 28, 1))


def _plain_bn(x, eps=1e-5):
    mean = x.mean(axis=(0, 1, 2))
    return (x - mean) / np.sqrt(x.var(axis=(0, 1, 2)) + eps)


def test_ghost_batchnorm_normalizes_consecutive_chunks_independently(x64):
    bn = models.GhostBatchNorm(ghost_size=4)
    x = np.asarray(jax.random.normal(jax.random.key(0), (10, 3, 3, 2), jnp.float64)) * 3 + 1
    variables = bn.init(jax.random.key(0), x, train=True)
    y = np.asarray(bn.apply(variables, x, train=True))
    for start, stop in [(0, 4), (4, 8), (8, 10)]:
        np.testing.assert_allclose(y[start:stop], _plain_bn(x[start:stop]), atol=1e-10)
    x2 = x.copy()
    x2[4:] += 5.0
    np.testing.assert_array_equal(np.asarray(bn.apply(variables, x2, train=True))[:4], y[:4])


def test_ghost_batchnorm_running_stats_and_eval_mode(x64):
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


def test_matmul_stored_transpose_has_the_gradient_of_a_matmul():
    """Value, gradients in both arguments and vmap over weights equal those of ``x @ w``; the
    MLP's gradient traced under the context equals the plain one (float64)."""
    with jax.enable_x64(True):
        x = jax.random.normal(jax.random.key(0), (50, 7), jnp.float64)
        w = jax.random.normal(jax.random.key(1), (7, 3), jnp.float64)
        matmul = models.matmul_stored_transpose
        ours = lambda x, w: jnp.sum(jnp.tanh(matmul(x, w)) ** 2)  # noqa: E731
        plain = lambda x, w: jnp.sum(jnp.tanh(x @ w) ** 2)  # noqa: E731
        close = lambda a, b: jax.tree.map(  # noqa: E731
            lambda p, q: np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-12), a, b)
        close(matmul(x, w), x @ w)
        close(jax.grad(ours, argnums=(0, 1))(x, w), jax.grad(plain, argnums=(0, 1))(x, w))
        ws = jnp.stack([w, -2 * w])
        close(jax.vmap(jax.grad(ours, argnums=1), (None, 0))(x, ws),
              jax.vmap(jax.grad(plain, argnums=1), (None, 0))(x, ws))

        model = models.MLP(hidden=(5, 4), num_classes=3)
        params = jax.tree.map(lambda a: a.astype(jnp.float64),
                              model.init(jax.random.key(2), x)["params"])
        loss = lambda p: jnp.sum(jnp.sin(model.apply({"params": p}, x)))  # noqa: E731
        with models.stored_transpose_weight_gradients():
            text = str(jax.make_jaxpr(jax.grad(loss))(params))
            assert "optimization_barrier" in text
            close(jax.jit(jax.grad(loss))(params), jax.grad(loss)(params))
            stored = jax.grad(loss)(params)
        assert "optimization_barrier" not in str(jax.make_jaxpr(jax.grad(loss))(params))
        close(stored, jax.grad(loss)(params))


def test_mlp_loss_hessian_matches_the_dense_hessian_of_plain_matmuls():
    """The trainer's HVP of the MLP (float64; only GD's gradient traces the stored-transpose
    input layer) equals the dense Hessian of the same loss written with plain ``@``."""
    from jax.flatten_util import ravel_pytree

    from eoslib import losses
    from eoslib.objective import Batch, Objective

    with jax.enable_x64(True):
        model = models.MLP(hidden=(5, 4), num_classes=3)
        x = jax.random.normal(jax.random.key(0), (20, 6), jnp.float64)
        y = jax.random.randint(jax.random.key(1), (20,), 0, 3)
        params = jax.tree.map(lambda a: a.astype(jnp.float64),
                              model.init(jax.random.key(2), x)["params"])
        flat, unravel = ravel_pytree(params)

        def plain_loss(f):
            p = unravel(f)
            kernels = [p[f"Linear_{i}"]["Dense_0"]["kernel"] for i in range(len(p))]
            h = x
            for kernel in kernels[:-1]:
                h = jax.nn.relu(h @ kernel)
            return jnp.mean(losses.LOSSES["xent"](h @ kernels[-1], y))

        dense = jax.hessian(plain_loss)(flat)
        matvec = Objective(model, "xent", 20, True).hessian_matvec(params, {}, Batch(x, y))
        vectors = jax.random.normal(jax.random.key(3), (3, flat.size), jnp.float64)
        got = jnp.stack([matvec(v) for v in vectors])
        np.testing.assert_allclose(got, vectors @ dense, rtol=1e-10, atol=1e-12)


def test_max_pool_2x2_matches_flax_max_pool_values_and_gradients_after_a_relu(x64):
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from eoslib.models import max_pool_2x2
    z = jax.random.normal(jax.random.key(0), (3, 8, 8, 4), jnp.float64)
    z = z.at[0, :2, :2, :].set(-1.0)  # a window of zeros after the ReLU: tied maxima
    w = jax.random.normal(jax.random.key(1), (3, 4, 4, 4), jnp.float64)

    def loss(pool, z):
        return jnp.sum(w * pool(jax.nn.relu(z)) ** 2)

    def flax_pool(x):
        return nn.max_pool(x, (2, 2), strides=(2, 2))

    np.testing.assert_array_equal(max_pool_2x2(jax.nn.relu(z)), flax_pool(jax.nn.relu(z)))
    np.testing.assert_allclose(jax.grad(loss, 1)(max_pool_2x2, z), jax.grad(loss, 1)(flax_pool, z), rtol=1e-12, atol=0)

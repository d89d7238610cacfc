"""The objective (eoslib.objective): the chunked full-batch loss, its gradient and its HVPs
against dense autodiff Hessians (float64, per test), on the models the trainer runs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from tiny import TinyMLP, tiny_data, xent_sum

from eoslib import models
from eoslib.objective import Batch, Objective, flat_hvp, hvp


def _f64(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


def _data(n, dtype):
    return tiny_data(n, features=4, classes=3, dtype=dtype)


def _mlp_setup(n=23, dtype=jnp.float64):
    model = TinyMLP(widths=(6,), classes=3)
    x, y = _data(n, dtype)
    params = model.init(jax.random.PRNGKey(1), x[:1])

    def per_chunk(p, chunk):
        cx, cy = chunk
        return xent_sum(model.apply(p, cx), cy)

    def full_loss(p):
        return per_chunk(p, (x, y)) / n

    return params, per_chunk, full_loss, (x, y)


def _dense_hessian(loss, params):
    flat, unravel = ravel_pytree(params)
    return jax.jit(jax.hessian(lambda f: loss(unravel(f))))(flat)


def test_hvp_matches_dense_hessian_on_pytrees(x64):
    if True:
        params, _, loss, _ = _mlp_setup()
        params = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
        flat, unravel = ravel_pytree(params)
        v = jnp.asarray(np.random.default_rng(3).normal(size=flat.shape))
        dense = _dense_hessian(loss, params)
        got = ravel_pytree(hvp(loss, params, unravel(v)))[0]
        np.testing.assert_allclose(got, dense @ v, rtol=1e-12, atol=1e-12)


def test_flat_hvp_casts_to_requested_precision_and_is_jittable(x64):
    if True:
        params, _, loss, _ = _mlp_setup()  # float32 parameters from init
        matvec, unravel = flat_hvp(loss, params, dtype=jnp.float64)
        params64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), params)
        dense = _dense_hessian(loss, params64)
        v = jnp.asarray(np.random.default_rng(4).normal(size=dense.shape[0]))
        got = jax.jit(lambda m, u: m(u))(matvec, v)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, dense @ v, rtol=1e-12, atol=1e-12)
        assert jax.tree_util.tree_structure(unravel(v)) == jax.tree_util.tree_structure(params)


def test_flat_hvp_partial_does_not_recompile_for_new_parameters():
    params, _, loss, _ = _mlp_setup(dtype=jnp.float32)
    apply = jax.jit(lambda m, u: m(u))
    v = jnp.ones(ravel_pytree(params)[0].shape)
    for scale in (1.0, 0.5, 2.0):
        matvec, _ = flat_hvp(loss, jax.tree_util.tree_map(lambda a: scale * a, params))
        apply(matvec, v)
    assert apply._cache_size() == 1



@pytest.mark.parametrize("loss_name", ["xent", "mse"])
def test_chunked_objective_is_the_exact_full_batch_mean(loss_name, x64):
    model = models.MLP(hidden=(6, 5))
    x = jax.random.normal(jax.random.key(0), (50, 3, 3, 1), jnp.float64)
    y = jax.random.randint(jax.random.key(1), (50,), 0, 10)
    params = _f64(models.init_variables(model, jax.random.key(2), (3, 3, 1))["params"])
    batch = Batch(x, y)
    whole, chunked = Objective(model, loss_name, 50), Objective(model, loss_name, 16)  # 3 x 16 + 2

    def reference(p):
        logits = model.apply({"params": p}, x)
        per = {"xent": lambda: -jax.nn.log_softmax(logits)[jnp.arange(50), y],
               "mse": lambda: 0.5 * jnp.sum((logits - jax.nn.one_hot(y, 10)) ** 2, -1)}[loss_name]()
        return jnp.mean(per)

    loss, acc, _, grad = jax.jit(chunked.loss_and_grad)(params, {}, batch)
    np.testing.assert_allclose(loss, reference(params), rtol=1e-13)
    np.testing.assert_allclose(ravel_pytree(grad)[0], ravel_pytree(jax.grad(reference)(params))[0],
                               rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(jax.jit(whole.loss_fn({}, batch))(params), reference(params),
                               rtol=1e-13)
    expected_acc = np.mean(np.argmax(model.apply({"params": params}, x), -1) == y)
    np.testing.assert_allclose(acc, expected_acc)

    dense = _dense_hessian(reference, params)
    matvec = chunked.hessian_matvec(params, {}, batch)
    v = jax.random.normal(jax.random.key(3), (dense.shape[0],), jnp.float64)
    np.testing.assert_allclose(jax.jit(matvec)(v), dense @ v, rtol=1e-10, atol=1e-12)


def test_ghost_batchnorm_objective_and_hessian_are_those_of_the_ghost_batch_loss(x64):
    model = models.VGG(widths=(3,), convs_per_block=1, ghost_size=8)
    x = jax.random.normal(jax.random.key(0), (20, 4, 4, 2), jnp.float64)
    y = jax.random.randint(jax.random.key(1), (20,), 0, 10)
    variables = models.init_variables(model, jax.random.key(2), (4, 4, 2))
    params, stats = _f64(variables["params"]), _f64(variables["batch_stats"])
    objective = Objective(model, "xent", 8)  # chunks 8, 8, 4 = the ghost batches

    def reference(p):  # the model splits the batch into the same ghost batches itself
        logits = model.apply({"params": p, "batch_stats": stats}, x, train=True)
        return jnp.mean(-jax.nn.log_softmax(logits)[jnp.arange(20), y])

    loss, _, new_stats, _ = jax.jit(objective.loss_and_grad)(params, stats, Batch(x, y))
    np.testing.assert_allclose(loss, reference(params), rtol=1e-13)
    _, updated = model.apply({"params": params, "batch_stats": stats}, x, train=True,
                             mutable=["batch_stats"])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12), new_stats,
                 updated["batch_stats"])
    dense = _dense_hessian(reference, params)
    v = jax.random.normal(jax.random.key(3), (dense.shape[0],), jnp.float64)
    np.testing.assert_allclose(jax.jit(objective.hessian_matvec(params, stats, Batch(x, y)))(v),
                               dense @ v,
                               rtol=1e-9, atol=1e-11)





def _vgg_case(n, ghost, dtype):
    """A ghost-BatchNorm VGG (two blocks of one conv) on ``n`` random 8x8 images, chunks = ghost batches."""
    vgg = models.VGG(widths=(3, 4), convs_per_block=1, ghost_size=ghost)
    x = jax.random.normal(jax.random.key(3), (n, 8, 8, 2), dtype)
    y = jax.random.randint(jax.random.key(1), (n,), 0, 10)
    variables = jax.tree.map(lambda a: a.astype(dtype), models.init_variables(vgg, jax.random.key(4), (8, 8, 2)))
    return Objective(vgg, "xent", ghost, compiled_loops=False), variables["params"], variables["batch_stats"], Batch(x, y)


@pytest.mark.xfail(reason="XLA:CPU (jax 0.10.2): a jitted vmap of the forward-over-reverse HVP over a block of "
                          "vectors, with the parameters and data as arguments, returns wrong products (27 % off the "
                          "dense Hessian) for a ghost-BatchNorm VGG whose batch is one ghost batch; one vector at a "
                          "time is right, as is the same vmap with the data as constants. The engine's solves apply "
                          "blocks of one vector (tracking.warm_start: block_size=1), so no stored result is affected; "
                          "lanczos_eigh(block_size > 1) on such a model is (its docstring says so).", strict=False)
def test_block_hvps_of_a_one_ghost_batch_vgg_are_the_single_hvps(x64):
    from eoslib.lanczos import _apply_block_jit
    objective, params, stats, batch = _vgg_case(20, 32, jnp.float64)
    flat, _ = ravel_pytree(params)
    matvec = objective.hessian_matvec(params, stats, batch)
    block = jax.random.normal(jax.random.key(5), (3, flat.size), jnp.float64)
    single = jnp.stack([jax.jit(lambda m, v: m(v))(matvec, v) for v in block])
    np.testing.assert_allclose(_apply_block_jit(matvec, block[:1]), single[:1], rtol=1e-10)  # a block of one: right
    np.testing.assert_allclose(_apply_block_jit(matvec, block), single, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", ["mlp", "bn-one-ghost-block"])
def test_linearized_products_are_the_dense_hessians(case, x64):
    """``hvp_mode="linearized"`` (one jax.linearize of ∇L, eoslib.objective.Objective.
    linearized_matvec) gives the dense Hessian's products: a chunked MLP (compiled loops, 3 x 16 +
    2 examples), and the ghost-BatchNorm VGG (Python loops) whose vmapped block of direct products
    XLA:CPU gets wrong (the xfail above): linearized, the block is right."""
    if case.startswith("mlp"):
        model = models.MLP(hidden=(6, 5))
        x = jax.random.normal(jax.random.key(0), (50, 3, 3, 1), jnp.float64)
        y = jax.random.randint(jax.random.key(1), (50,), 0, 10)
        params, stats = _f64(models.init_variables(model, jax.random.key(2), (3, 3, 1))["params"]), {}
        objective = Objective(model, "xent", 16, hvp_mode="linearized")
        batch = Batch(x, y)
    else:
        direct, params, stats, batch = _vgg_case(20, 32, jnp.float64)
        objective = Objective(direct.model, "xent", direct.chunk_size, compiled_loops=False, hvp_mode="linearized")
    reference = objective.loss_fn(stats, batch)  # L(θ), the function GD minimizes
    dense = _dense_hessian(reference, params)
    block = jax.random.normal(jax.random.key(5), (3, dense.shape[0]), jnp.float64)
    matvec = objective.hessian_matvec(params, stats, batch)
    if case == "bn-one-ghost-block":
        from eoslib.lanczos import _apply_block_jit
        got = _apply_block_jit(matvec, block)
    else:
        got = jnp.stack([jax.jit(lambda m, v: m(v))(matvec, v) for v in block])
    np.testing.assert_allclose(got, block @ dense, rtol=1e-9, atol=1e-11)


def test_linearized_matvec_compiles_once_matches_direct_in_float32_and_rejects_unknown_modes():
    objective, params, stats, batch = _vgg_case(20, 32, jnp.float32)
    linear = Objective(objective.model, "xent", 32, compiled_loops=False, hvp_mode="linearized")
    apply = jax.jit(lambda m, u: m(u))
    v = jax.random.normal(jax.random.key(6), (ravel_pytree(params)[0].size,), jnp.float32)
    for scale in (1.0, 0.5):
        p = jax.tree.map(lambda a: scale * a, params)
        got = apply(linear.hessian_matvec(p, stats, batch), v)
        want = apply(objective.hessian_matvec(p, stats, batch), v)
        assert got.dtype == jnp.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * float(jnp.max(jnp.abs(want))))
    assert apply._cache_size() == 2  # one program per mode, none per parameters
    with pytest.raises(ValueError, match="hvp_mode"):
        Objective(objective.model, hvp_mode="linearised")

"""A pure-JAX reproduction of the XLA:CPU miscompile behind the xfail test
``tests/test_objective.py::test_block_hvps_of_a_one_ghost_batch_vgg_are_the_single_hvps``, for an
upstream report (jax 0.10.2, XLA:CPU; no eoslib, no Flax).

The model: two blocks of [3x3 conv -> batch normalization over the whole batch -> ReLU -> 2x2
max-pool written as a reshape and a max], then flatten and a dense layer, float64, 20 random
8x8x2 images. The Hessian-vector product is ``jvp(grad(loss))``; a block of 3 products is
``vmap`` of it over the vectors, jitted with the parameters and the data as arguments.

Printed: the largest relative difference between the block and the products computed one at a
time, for the model as is, without the normalization, with strided subsampling instead of the
max-pool, and the same block evaluated eagerly (``jax.disable_jit``). Only the first differs:
0.67 on this project's AMD EPYC (2026-12-06), against 2e-16 to 2e-15 for the other three.

    python tools/repro_xla_block_hvp.py
"""

from __future__ import annotations

import jax
import jax.flatten_util
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)


def _block(h, w, norm: bool, pool: str):
    h = jax.lax.conv_general_dilated(h, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    if norm:
        h = (h - h.mean((0, 1, 2))) / jnp.sqrt(h.var((0, 1, 2)) + 1e-5)
    h = jax.nn.relu(h)
    b, hh, ww, c = h.shape
    if pool == "max":
        return jnp.max(h.reshape(b, hh // 2, 2, ww // 2, 2, c), axis=(2, 4))
    return h[:, ::2, ::2, :]


def make_loss(norm: bool, pool: str):
    def loss(params, x, y):
        h = _block(x, params["w1"], norm, pool)
        h = _block(h, params["w2"], norm, pool)
        logits = h.reshape(h.shape[0], -1) @ params["dense"]
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(y.shape[0]), y])
    return loss


def block_error(norm: bool, pool: str, eager: bool = False) -> float:
    keys = jax.random.split(jax.random.key(0), 6)
    params = {"w1": jax.random.normal(keys[0], (3, 3, 2, 3)) / 4, "w2": jax.random.normal(keys[1], (3, 3, 3, 4)) / 5,
              "dense": jax.random.normal(keys[2], (16, 10)) / 4}
    x = jax.random.normal(keys[3], (20, 8, 8, 2))
    y = jax.random.randint(keys[4], (20,), 0, 10)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    loss = make_loss(norm, pool)

    def hvp(f, x, y, v):
        grad = lambda g: jax.flatten_util.ravel_pytree(jax.grad(loss)(unravel(g), x, y))[0]  # noqa: E731
        return jax.jvp(grad, (f,), (v,))[1]

    vectors = jax.random.normal(keys[5], (3, flat.size))
    single = jnp.stack([jax.jit(hvp)(flat, x, y, v) for v in vectors])
    block_fn = jax.vmap(hvp, in_axes=(None, None, None, 0))
    if eager:
        with jax.disable_jit():
            block = block_fn(flat, x, y, vectors)
    else:
        block = jax.jit(block_fn)(flat, x, y, vectors)
    return float(jnp.max(jnp.abs(block - single)) / jnp.max(jnp.abs(single)))


if __name__ == "__main__":
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}")
    for label, args in (("batch norm + max-pool, jitted block", (True, "max")),
                        ("no normalization, jitted block", (False, "max")),
                        ("strided subsampling, jitted block", (True, "stride")),
                        ("batch norm + max-pool, eager block", (True, "max", True))):
        print(f"{label:40s} max relative difference {block_error(*args):.1e}")

"""The paper's networks (Appendix F) in ``flax.linen``: MLP, small VGGs and ResNet20.

All models map images (N, H, W, C) to logits (N, 10) and take ``train: bool``; in train mode
the BatchNorm layers are :class:`GhostBatchNorm` over fixed consecutive chunks of 1,024 examples,
so a full-batch forward pass is a deterministic function of the parameters.

Initialization (``weight_init``, :data:`INITS`): the paper does not state it. ``"flax"`` (the default)
is the authors' code's (``lawrencewang94/jax_eigs``, treex/Flax layers): weights of
convolutions and linear layers ``lecun_normal`` (truncated normal, variance 1/fan_in), biases 0.
``"torch"`` is PyTorch's default: weights ~ U(±1/√fan_in) (variance 1/(3 fan_in)) and biases
~ U(±1/√fan_in). Both give BatchNorm scale 1 and bias 0. The book's Appendix F measures how the
choice moves the stability threshold (:mod:`eoslib.chapters.initialization.experiment`).

Parameter counts against the paper (asserted in ``tests/test_models.py``):

=========  ==========  =================  ==========================================
model      trainable   PyTorch state_dict paper (Appendix F)
=========  ==========  =================  ==========================================
MLP        28,480      28,480             28,480 (4 x 32 hidden, no biases)
ResNet20   269,722     271,117            271,117 (matches: the paper counts BatchNorm
                                          running mean/var and ``num_batches_tracked``)
VGG10      35,634      35,979             47,892 (see below)
VGG19      7,872,858   7,878,924          335,277 (see below)
=========  ==========  =================  ==========================================

Deviations, with their reasons. The VGGs are built exactly as Appendix F describes them (blocks
of 3 convolutions 3x3 without bias, each followed by GhostBatchNorm and ReLU, 2x2 max-pooling
after each block while the feature map is larger than 1x1, then one linear classifier: 9 + 1 =
10 and 18 + 1 = 19 weight layers). For VGG10 (widths 8/16/32) this gives 35,634 trainable
parameters, not 47,892. :mod:`eoslib.chapters.generalization.param_counts` counts 8,448 readings of the text in closed
form (2-4 convolutions per block, kernels 3 and 5, convolution and classifier biases, four ways
of counting BatchNorm, 0-3 pooled blocks, global pooling, up to two hidden classifier layers of
width 32-512): none gives 47,892 exactly (the nearest, 47,896, drops BatchNorm and adds two
hidden layers of width 32, which the text does not describe), so we keep the described
architecture. For VGG19, 6 blocks of 3 convolutions of widths
16, 32, ..., 512 hold 7.9 M parameters, which cannot be reconciled with 335,277 (a single 3x3
convolution 256 -> 512 already has 1.2 M, and 1x1 convolutions at these widths still hold
878,640: :func:`eoslib.chapters.generalization.param_counts.lower_bound`); we keep the described widths, which the user can
change through :class:`VGG`'s ``widths``. A 32x32 input allows only 5 poolings, so the sixth
block runs on 1x1 maps.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Sequence
from functools import lru_cache, partial

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["INITS", "kernel_init", "bias_init", "MLP", "mlp_relu_inputs", "max_pool_2x2", "VGG", "VGG10", "VGG19", "ResNet20", "BasicBlock", "GhostBatchNorm", "Linear",
           "MODELS", "GHOST_BATCH_SIZE", "init_variables", "for_apply", "count_params",
           "matmul_stored_transpose", "stored_transpose_weight_gradients"]

GHOST_BATCH_SIZE = 1024

# PyTorch's default initializer for Linear/Conv weights: kaiming_uniform(a=sqrt(5)) on fan_in.
torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")

INITS = ("flax", "torch")
"""The initializations of :func:`kernel_init` and :func:`bias_init` (module docstring)."""


def _uniform(bound: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _check_init(init: str) -> None:
    if init not in INITS:
        raise ValueError(f"weight_init={init!r}: must be one of {INITS}")


def kernel_init(init: str):
    """Weight initializer of linear and convolution layers: ``"flax"`` lecun_normal
    (variance 1/fan_in), ``"torch"`` U(±1/√fan_in) (variance 1/(3 fan_in))."""
    _check_init(init)
    return nn.initializers.lecun_normal() if init == "flax" else torch_kernel_init


def bias_init(init: str, fan_in: int):
    """Bias initializer: ``"flax"`` zeros, ``"torch"`` U(±1/√fan_in)."""
    _check_init(init)
    return nn.initializers.zeros if init == "flax" else _uniform(1.0 / math.sqrt(fan_in))


_STORED_TRANSPOSE = contextvars.ContextVar("stored_transpose_weight_gradients", default=False)


@contextlib.contextmanager
def stored_transpose_weight_gradients(enabled: bool = True):
    """While tracing under this context with ``enabled``, :class:`Linear` layers with
    ``input_layer`` compute ``x @ w`` through :func:`matmul_stored_transpose` (reverse mode only).
    :meth:`eoslib.objective.Objective.loss_and_grad` traces GD's gradient so when its execution
    plan says so (:mod:`eoslib.execution` decides); Hessian-vector products (forward over
    reverse) trace the plain matmul, whose tangents keep the fast layout."""
    token = _STORED_TRANSPOSE.set(enabled)
    try:
        yield
    finally:
        _STORED_TRANSPOSE.reset(token)


@jax.custom_vjp
def matmul_stored_transpose(x: jax.Array, w: jax.Array) -> jax.Array:
    """``x @ w`` for ``x`` (N, a), ``w`` (a, b), whose weight gradient reads a stored ``x.T``.

    Same value and gradient as ``x @ w``; only the layout of the weight gradient changes.
    Written plainly, reverse mode computes it as ``xᵀ G``, a GEMM contracting the leading
    (example) axis of both operands, into which XLA folds any transpose and which XLA:CPU runs
    slower than the same product with ``x.T`` in memory. Here ``x.T`` passes an
    ``optimization_barrier``, so it is materialized and the weight gradient is the plain GEMM
    ``x.T @ G``. Reverse mode only (a ``custom_vjp``): Hessian-vector products use the plain
    matmul, for which this layout is slower. Whether it is used is decided by
    :func:`eoslib.execution.plan`; the measurements are in ``benchmarks/results/trainer.json``.
    """
    return x @ w


def _matmul_stored_transpose_fwd(x, w):
    return x @ w, (x, w)


def _matmul_stored_transpose_bwd(residuals, g):
    x, w = residuals
    return g @ w.T, jax.lax.optimization_barrier(x.T) @ g


matmul_stored_transpose.defvjp(_matmul_stored_transpose_fwd, _matmul_stored_transpose_bwd)


def _dense_dot_general(lhs, rhs, dimension_numbers, precision=None,
                       preferred_element_type=None):
    """``lax.dot_general`` for :class:`flax.linen.Dense`: under
    :func:`stored_transpose_weight_gradients`, the plain 2-D matmul goes through
    :func:`matmul_stored_transpose`; otherwise unchanged."""
    if (_STORED_TRANSPOSE.get() and lhs.ndim == 2 and rhs.ndim == 2
            and dimension_numbers == (((1,), (0,)), ((), ()))):
        return matmul_stored_transpose(lhs, rhs)
    return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                               preferred_element_type=preferred_element_type)


class Linear(nn.Module):
    """Dense layer initialized by ``weight_init`` (:data:`INITS`).

    ``input_layer``: the layer reads the data, so under :func:`stored_transpose_weight_gradients`
    its weight gradient reads a stored ``x.T`` (computed once per compiled loop, as the data do
    not change; for a hidden layer the transpose of the activations would be paid every step)."""

    features: int
    use_bias: bool = True
    input_layer: bool = False
    weight_init: str = "flax"

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.features, use_bias=self.use_bias, kernel_init=kernel_init(self.weight_init),
                        bias_init=bias_init(self.weight_init, x.shape[-1]),
                        dot_general=_dense_dot_general if self.input_layer else None)(x)


def _ghost_chunks(n: int, ghost_size: int) -> list[tuple[int, int]]:
    """(start, size) of the consecutive ghost batches of a batch of n examples."""
    full, rem = divmod(n, ghost_size)
    chunks = [(i * ghost_size, ghost_size) for i in range(full)]
    return chunks + ([(full * ghost_size, rem)] if rem else [])


class GhostBatchNorm(nn.Module):
    """BatchNorm with statistics over fixed consecutive chunks ("ghost batches") of the batch
    (Hoffer et al., 2018), as in the paper's full-batch training (Section 4, Appendix F).

    Train mode: each chunk of ``ghost_size`` consecutive examples (the last one may be smaller)
    is normalized with its own mean and biased variance over (N, H, W); if the ``batch_stats``
    collection is mutable, the running averages are updated once per call with the example-
    weighted mean over chunks of the chunk means and unbiased variances (PyTorch momentum 0.1).
    Eval mode: the running averages are used. Shapes: (N, ..., C) -> (N, ..., C).
    """

    ghost_size: int = GHOST_BATCH_SIZE
    momentum: float = 0.1
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x, train: bool = True):
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        running_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
        running_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
        if not train:
            y = (x - running_mean.value) * jax.lax.rsqrt(running_var.value + self.epsilon)
            return y * scale + bias
        axes = tuple(range(x.ndim - 1))
        outs, means, vars_ = [], [], []
        per_example = math.prod(x.shape[1:-1])
        for start, size in _ghost_chunks(x.shape[0], self.ghost_size):
            xc = jax.lax.slice_in_dim(x, start, start + size, axis=0)
            mean = jnp.mean(xc, axes)
            var = jnp.mean(jnp.square(xc - mean), axes)
            outs.append((xc - mean) * jax.lax.rsqrt(var + self.epsilon))
            count = size * per_example
            means.append(mean * size)
            vars_.append(var * count / max(count - 1, 1) * size)
        if self.is_mutable_collection("batch_stats") and not self.is_initializing():
            n, m = x.shape[0], self.momentum
            running_mean.value = (1 - m) * running_mean.value + m * sum(means) / n
            running_var.value = (1 - m) * running_var.value + m * sum(vars_) / n
        y = outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=0)
        return y * scale + bias


class MLP(nn.Module):
    """Appendix F: 4 hidden ReLU layers of width 32 without biases; 784 -> 10 gives 28,480
    parameters. Input (N, ...) is flattened per example."""

    hidden: Sequence[int] = (32, 32, 32, 32)
    num_classes: int = 10
    use_bias: bool = False
    weight_init: str = "flax"
    has_convolutions = False  # read by eoslib.execution

    @nn.compact
    def __call__(self, x, train: bool = True):
        x = x.reshape(x.shape[0], -1)
        for i, width in enumerate(self.hidden):
            x = nn.relu(Linear(width, use_bias=self.use_bias, input_layer=i == 0,
                               weight_init=self.weight_init)(x))
        return Linear(self.num_classes, use_bias=self.use_bias, weight_init=self.weight_init)(x)


def mlp_relu_inputs(model: MLP, params, x) -> jax.Array:
    """(N, Σ hidden): the inputs of the hidden ReLUs of ``model`` (an :class:`MLP`) on ``x``;
    their signs are the activation pattern, constant inside one linear region."""
    _, state = model.apply({"params": params}, x, capture_intermediates=True,
                           mutable=["intermediates"])
    inner = state["intermediates"]
    return jnp.concatenate([inner[f"Linear_{i}"]["__call__"][0] for i in range(len(model.hidden))],
                           axis=1)


def _conv(features: int, stride: int = 1, weight_init: str = "flax"):
    return nn.Conv(features, (3, 3), strides=(stride, stride), padding=((1, 1), (1, 1)),
                   use_bias=False, kernel_init=kernel_init(weight_init))


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2 max-pooling with stride 2 of (N, H, W, C) maps (H, W even) as a reshape and a max:
    the same values as ``flax.linen.max_pool(x, (2, 2), strides=(2, 2))``, and the same gradient
    wherever each window's maximum is unique. Where it is not, this splits the gradient among the
    tied entries and ``max_pool``'s select-and-scatter gives it to the first; after a ReLU the ties
    are windows of zeros, whose gradient the ReLU multiplies by 0 either way, so the parameter
    gradients agree. Measured on XLA:CPU (VGG10, 1,000 CIFAR-10 images, jax 0.10.2): the gradient
    ~20 % and the Hessian-vector product ~15 % faster (``benchmarks/bench_trainer.py``)."""
    n, h, w, c = x.shape
    return jnp.max(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


class VGG(nn.Module):
    """Small VGG: blocks of ``convs_per_block`` [conv 3x3 -> GhostBatchNorm -> ReLU], 2x2
    max-pooling after each block while the map is larger than 1x1, flatten, linear classifier."""

    widths: Sequence[int] = (8, 16, 32)
    convs_per_block: int = 3
    num_classes: int = 10
    ghost_size: int = GHOST_BATCH_SIZE
    weight_init: str = "flax"
    has_convolutions = True  # read by eoslib.execution

    @nn.compact
    def __call__(self, x, train: bool = True):
        for width in self.widths:
            for _ in range(self.convs_per_block):
                x = _conv(width, weight_init=self.weight_init)(x)
                x = nn.relu(GhostBatchNorm(self.ghost_size)(x, train))
            if x.shape[1] > 1:
                x = max_pool_2x2(x)
        return Linear(self.num_classes, weight_init=self.weight_init)(x.reshape(x.shape[0], -1))


VGG10 = partial(VGG, widths=(8, 16, 32), convs_per_block=3)
VGG19 = partial(VGG, widths=(16, 32, 64, 128, 256, 512), convs_per_block=3)


class BasicBlock(nn.Module):
    """He et al. (2015) CIFAR block: two 3x3 convs with GhostBatchNorm; identity shortcut,
    subsampled and zero-padded in channels when the shape changes ("option A")."""

    features: int
    stride: int = 1
    ghost_size: int = GHOST_BATCH_SIZE
    weight_init: str = "flax"

    @nn.compact
    def __call__(self, x, train: bool = True):
        conv1 = _conv(self.features, self.stride, self.weight_init)
        y = nn.relu(GhostBatchNorm(self.ghost_size)(conv1(x), train))
        y = GhostBatchNorm(self.ghost_size)(_conv(self.features, weight_init=self.weight_init)(y), train)
        shortcut = x
        if self.stride != 1 or x.shape[-1] != self.features:
            shortcut = x[:, :: self.stride, :: self.stride, :]
            extra = self.features - x.shape[-1]
            shortcut = jnp.pad(shortcut, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))
        return nn.relu(y + shortcut)


class ResNet20(nn.Module):
    """ResNet20 for CIFAR (He et al., 2015, Section 4.2): conv 16, then 3 stages of 3 basic
    blocks with 16, 32, 64 channels (stride 2 at the start of stages 2 and 3), global average
    pooling, linear classifier. 269,722 trainable parameters; 271,117 as a PyTorch state_dict."""

    num_classes: int = 10
    blocks_per_stage: int = 3
    widths: Sequence[int] = (16, 32, 64)
    ghost_size: int = GHOST_BATCH_SIZE
    weight_init: str = "flax"
    has_convolutions = True  # read by eoslib.execution

    @nn.compact
    def __call__(self, x, train: bool = True):
        stem = _conv(self.widths[0], weight_init=self.weight_init)
        x = nn.relu(GhostBatchNorm(self.ghost_size)(stem(x), train))
        for stage, width in enumerate(self.widths):
            for block in range(self.blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                x = BasicBlock(width, stride, self.ghost_size, self.weight_init)(x, train)
        return Linear(self.num_classes, weight_init=self.weight_init)(jnp.mean(x, axis=(1, 2)))


MODELS = {"mlp": MLP, "vgg10": VGG10, "vgg19": VGG19, "resnet20": ResNet20}
"""The paper's models by the names a :class:`eoslib.runs.RunConfig` uses."""


def _init(model: nn.Module, key: jax.Array, input_shape: tuple[int, ...]) -> dict:
    return dict(model.init(key, jnp.zeros((1, *input_shape), jnp.float32), train=False))


@lru_cache(maxsize=16)
def _init_program(model: nn.Module, input_shape: tuple[int, ...], key_type: jax.ShapeDtypeStruct):
    """:func:`_init` of ``model`` for one key of type ``key_type``, compiled ahead of time and
    held here, outside JAX's caches: one program per model and input shape in a process, kept
    when ``jax.clear_caches`` drops the rest (the test suite does so after every module). Its
    cost is the compilation of the initializers' threefry hashes (one per parameter array),
    more than a training epoch's for the convolutional models on a CPU
    (``benchmarks/bench_init.py``)."""
    return jax.jit(lambda key: _init(model, key, input_shape)).lower(key_type).compile()


def init_variables(model: nn.Module, key: jax.Array, input_shape: Sequence[int]) -> dict:
    """Variables ``{"params": ..., ["batch_stats": ...]}`` for inputs of shape (N, *input_shape).

    Traceable (under ``jit`` or ``vmap`` it is ``model.init``); called with a concrete key it
    runs one compiled program per model and input shape (:func:`_init_program`), with the same
    values bit for bit (the random bits are threefry's exact integer arithmetic, and each
    parameter array is drawn from its own key; ``tests/test_runs.py``)."""
    shape = tuple(int(n) for n in input_shape)
    if isinstance(key, jax.core.Tracer):
        return _init(model, key, shape)
    try:
        program = _init_program(model, shape, jax.ShapeDtypeStruct(key.shape, key.dtype))
    except TypeError:  # a model with unhashable fields: traced eagerly, op by op
        return _init(model, key, shape)
    return dict(program(key))


def for_apply(model: nn.Module) -> nn.Module:
    """``model`` with the default ``weight_init``: the same forward pass for given variables
    (initializers run in :func:`init_variables` only), so the programs compiled around it (an
    :class:`eoslib.objective.Objective`: epochs, Hessian-vector products) are shared by runs
    that differ only in their initialization instead of being compiled once per
    initialization."""
    if getattr(model, "weight_init", INITS[0]) == INITS[0]:
        return model
    return model.clone(weight_init=INITS[0])


def count_params(variables: dict, *, torch_state_dict: bool = False) -> int:
    """Number of trainable parameters; with ``torch_state_dict`` also BatchNorm running mean
    and variance and one ``num_batches_tracked`` per BatchNorm layer, as PyTorch counts
    ``sum(t.numel() for t in model.state_dict().values())``."""
    n = sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))
    if torch_state_dict and "batch_stats" in variables:
        stats = jax.tree.leaves(variables["batch_stats"])
        n += sum(leaf.size for leaf in stats) + len(stats) // 2
    return n

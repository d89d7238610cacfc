"""A network as a summation of multiplications (SoM): the paper's App. A.1, eq. 3, and App. D.

For a single-output MLP ``f(x) = W_d σ(W_{d-1} σ(… σ(W_1 x + b_1) …) + b_{d-1}) + b_d`` with
``W_i`` of shape ``(h_i, h_{i-1})``, ``h_0 = p`` inputs and ``h_d = 1``, and identity activations,
eq. 3 writes the output as a sum over *paths* of products of scalar parameters:

    f(x) = Σ_{i, m_1 … m_{d-1}} (W_d[0, m_{d-1}] ⋯ W_2[m_2, m_1] W_1[m_1, i]) x_i        (input terms)
         + Σ_{j=1}^{d} Σ_{k=1}^{h_j} (W_d[0, s_{d-1}] ⋯ W_{j+1}[s_{j+1}, k]) b_{j,k}         (bias terms)

Each bias term is a diagonal linear network (DLN, chapter 1) over the weights of its path and
the bias; each input term is a DLN scaled by the constant ``x_i``. With ReLU activations (App. D)
``σ(a) = M a`` for the diagonal 0/1 mask ``M`` of the units active at ``x``; with the masks held
constant the same decomposition holds over the paths through active units only
(``W_i → M_i W_i``), so a ReLU network is, piecewise, a sum of DLNs.

:func:`path_terms` enumerates every term explicitly (all ``p Π h_i`` input paths and every bias
path) as products of the scalars along the path, in the order the paper writes them, so that
:func:`decomposition_error` checks eq. 3 against the network's matrix form to rounding. Every
function is pure ``numpy`` in float64. Shapes: ``weights[i]`` is ``W_{i+1}`` ``(h_{i+1}, h_i)``,
``biases[i]`` is ``b_{i+1}`` ``(h_{i+1},)``, ``x`` is ``(p,)``, ``masks[i]`` ``(h_{i+1},)`` 0/1
for the hidden layers ``1 … d-1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from eoslib.report import Claim

__all__ = ["Network", "random_network", "forward", "relu_masks", "path_terms", "decomposition_error",
           "decomposition_errors", "claim_sum_of_products"]


class Network(NamedTuple):
    """A single-output MLP: ``weights[i]`` ``(h_{i+1}, h_i)`` and ``biases[i]`` ``(h_{i+1},)``,
    ``h_d = 1``."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]


def random_network(rng: np.random.Generator, inputs: int, hidden: Sequence[int]) -> Network:
    """Gaussian weights of variance ``1/fan_in`` and Gaussian biases of variance 0.1, widths
    ``inputs → hidden … → 1``."""
    sizes = [inputs, *hidden, 1]
    weights = tuple(rng.normal(size=(o, i)) / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:]))
    biases = tuple(np.sqrt(0.1) * rng.normal(size=o) for o in sizes[1:])
    return Network(weights, biases)


def forward(net: Network, x: np.ndarray, *, relu: bool = False) -> float:
    """``f(x)`` in matrix form, with identity (``relu=False``, eq. 3) or ReLU hidden activations."""
    a = np.asarray(x, float)
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        a = w @ a + b
        if relu and i < len(net.weights) - 1:
            a = np.maximum(a, 0.0)
    return float(a[0])


def relu_masks(net: Network, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """The 0/1 masks ``M_1 … M_{d-1}`` of the hidden ReLU units active at ``x`` (App. D)."""
    a, masks = np.asarray(x, float), []
    for w, b in zip(net.weights[:-1], net.biases[:-1]):
        a = w @ a + b
        masks.append((a > 0).astype(float))
        a = a * masks[-1]
    return tuple(masks)


def _paths(weights: Sequence[np.ndarray], start: np.ndarray) -> np.ndarray:
    """The products along every path from the entries of ``start`` (n,) through ``weights``:
    an array of shape ``(h_last, …, h_first, n)``, element ``[m_last, …, m_1, i]`` equal to
    ``W_last[m_last, m_{last-1}] ⋯ W_first[m_1, i] · start[i]``, each a product of scalars."""
    terms = np.asarray(start, float)
    for w in weights:  # terms[m_j, …] = w[m_j, m_{j-1}] * terms[m_{j-1}, …], an outer product
        terms = w.reshape(w.shape + (1,) * (terms.ndim - 1)) * terms[None]
    return terms


def path_terms(net: Network, x: np.ndarray, masks: Sequence[np.ndarray] | None = None
               ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The terms of eq. 3: the input terms (all ``p Π h_i`` paths, shape ``(1, h_{d-1}, …, h_1,
    p)``) and, for each layer ``j = 1 … d``, the bias terms of ``b_j`` (shape ``(1, …, h_j)``).
    ``masks`` (App. D): hidden layer ``i``'s weights become ``M_i W_i`` and its bias ``M_i b_i``."""
    weights, biases = list(net.weights), list(net.biases)
    if masks is not None:
        for i, m in enumerate(masks):
            weights[i], biases[i] = m[:, None] * weights[i], m * biases[i]
    inputs = _paths(weights, x)
    bias_terms = [_paths(weights[j + 1:], biases[j]) for j in range(len(weights))]
    return inputs, bias_terms


def decomposition_error(net: Network, x: np.ndarray, *, relu: bool = False) -> float:
    """``|Σ terms − f(x)| / Σ |terms|`` (relative to the terms' magnitude, so rounding is ~1e-16):
    eq. 3 for ``relu=False``; with ``relu=True`` the terms use the ReLU masks at ``x`` (App. D)."""
    inputs, bias_terms = path_terms(net, x, relu_masks(net, x) if relu else None)
    terms = np.concatenate([inputs.ravel(), *[b.ravel() for b in bias_terms]])
    return abs(float(np.sum(terms)) - forward(net, x, relu=relu)) / float(np.sum(np.abs(terms)))


def decomposition_errors(rng: np.random.Generator, num: int, *, inputs: int = 5,
                         depths: Sequence[int] = (2, 3, 4, 5), width: int = 4, relu: bool = False
                         ) -> np.ndarray:
    """:func:`decomposition_error` of ``num`` random networks per depth (hidden widths drawn in
    ``[2, width]``, a Gaussian input each): shape ``(len(depths), num)``."""
    out = np.empty((len(depths), num))
    for a, depth in enumerate(depths):
        for n in range(num):
            net = random_network(rng, inputs, rng.integers(2, width + 1, size=depth - 1).tolist())
            out[a, n] = decomposition_error(net, rng.normal(size=inputs), relu=relu)
    return out


def claim_sum_of_products(linear: np.ndarray, relu: np.ndarray, *, bound: float = 1e-12) -> Claim:
    """App. A.1 (eq. 3) and App. D: the sum over paths of products of parameters equals the
    network's output, for identity activations (``linear``: relative errors) and, with the
    ReLU masks at the input held constant, for ReLU activations (``relu``). PASS when every
    error is at most ``bound``; NaN errors leave it UNRESOLVED."""
    errors = np.concatenate([np.ravel(linear), np.ravel(relu)])
    if errors.size == 0 or not np.all(np.isfinite(errors)):
        return Claim("(7) App. A eq. 3 / App. D: a single-output MLP is a sum over paths of products of its "
                     "parameters (identity activations; ReLU with its masks fixed)",
                     "no finite errors measured", f"relative error <= {bound:g}", False, unresolved=True)
    return Claim("(7) App. A eq. 3 / App. D: a single-output MLP is a sum over paths of products of its "
                 "parameters (identity activations; ReLU with its masks fixed)",
                 f"{np.size(linear)} linear networks: worst {np.max(linear):.1e}; {np.size(relu)} ReLU networks: "
                 f"worst {np.max(relu) if np.size(relu) else float('nan'):.1e} (relative to the sum of |terms|)",
                 f"relative error <= {bound:g}", bool(np.max(errors) <= bound))

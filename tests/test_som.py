"""App. A.1 eq. 3 and App. D: a single-output MLP as a sum over paths of products of parameters."""

import numpy as np

from eoslib.chapters.dln import som


def test_every_path_is_one_term_the_product_of_its_scalars():
    rng = np.random.default_rng(0)
    net = som.random_network(rng, 3, [4, 2])  # W1 (4, 3), W2 (2, 4), W3 (1, 2)
    x = rng.normal(size=3)
    inputs, biases = som.path_terms(net, x)
    assert inputs.shape == (1, 2, 4, 3) and [b.shape for b in biases] == [(1, 2, 4), (1, 2), (1,)]
    w1, w2, w3 = net.weights
    assert inputs[0, 1, 2, 0] == w3[0, 1] * (w2[1, 2] * (w1[2, 0] * x[0]))  # the path x_0 -> 2 -> 1 -> out
    assert np.isclose(biases[0][0, 1, 3], w3[0, 1] * w2[1, 3] * net.biases[0][3], rtol=1e-15)
    assert biases[2][0] == net.biases[2][0]


def test_eq3_holds_to_rounding_for_linear_networks():
    errors = som.decomposition_errors(np.random.default_rng(1), 10, depths=(1, 2, 3, 5))
    assert errors.shape == (4, 10) and errors.max() < 1e-14


def test_app_d_holds_with_the_masks_at_the_input_and_fails_without():
    rng = np.random.default_rng(2)
    assert som.decomposition_errors(rng, 10, relu=True).max() < 1e-14
    net, x = som.random_network(rng, 5, [6, 6, 6]), rng.normal(size=5)
    assert 0 < som.relu_masks(net, x)[0].sum() < 6  # some units off
    inputs, biases = som.path_terms(net, x)  # all paths: the linear network's terms, not the ReLU's output
    total = inputs.sum() + sum(b.sum() for b in biases)
    assert abs(total - som.forward(net, x, relu=True)) > 1e-3


def test_the_claim_passes_on_rounding_and_fails_on_a_real_error():
    tiny, big = np.full((2, 3), 1e-16), np.array([1e-16, 1e-6])
    assert som.claim_sum_of_products(tiny, tiny).verdict == "PASS"
    assert som.claim_sum_of_products(tiny, big).verdict == "FAIL"
    assert som.claim_sum_of_products(tiny, np.array([np.nan])).verdict == "UNRESOLVED"

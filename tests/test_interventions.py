"""Per-direction learning rates on a quadratic whose eigenbasis is known (float64)."""

import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.chapters.drivers import interventions


@pytest.fixture
def quadratic(x64):
    """L(x) = ½ xᵀ A x, A = Q diag(λ) Qᵀ with λ = 30, 25, 8, 3, 1, 0.5 (η = 0.1: 2/η = 20)."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    lam = np.array([30.0, 25.0, 8.0, 3.0, 1.0, 0.5])
    a = q @ np.diag(lam) @ q.T
    x = rng.normal(size=6)
    return jnp.asarray(a), jnp.asarray(q), jnp.asarray(lam), jnp.asarray(x)


def _step(rule, quadratic, k=3, eta=0.1):
    a, q, lam, x = quadratic
    rate_in, rate_out = interventions.rates(rule, lam[:k], eta)
    new = x - interventions.directional_update(a @ x, q[:, :k], rate_in, rate_out)
    return np.asarray(q.T @ x), np.asarray(q.T @ new)


def test_suppress_leaves_the_unstable_coordinates_exactly_unchanged(quadratic):
    before, after = _step("suppress", quadratic)
    np.testing.assert_allclose(after[:2], before[:2], rtol=0, atol=1e-14)  # λ = 30, 25 > 2/η
    lam = np.asarray(quadratic[2])
    np.testing.assert_allclose(after[2:], (1 - 0.1 * lam[2:]) * before[2:], rtol=1e-12)


def test_restrict_changes_only_the_top_k_coordinates(quadratic):
    before, after = _step("restrict", quadratic)
    np.testing.assert_allclose(after[3:], before[3:], rtol=0, atol=1e-14)
    lam = np.asarray(quadratic[2])
    np.testing.assert_allclose(after[:3], (1 - 0.1 * lam[:3]) * before[:3], rtol=1e-12)


def test_stabilize_makes_every_direction_contract(quadratic):
    before, after = _step("stabilize", quadratic)
    lam = np.asarray(quadratic[2])
    factor = after / before
    np.testing.assert_allclose(factor[:2], 1 - 0.9 * 2, rtol=1e-12)  # η_u λ = 1.8 < 2
    assert (np.abs(factor) < 1).all()
    np.testing.assert_allclose(factor[2:], 1 - 0.1 * lam[2:], rtol=1e-12)


def test_none_is_plain_gradient_descent(quadratic):
    a, q, lam, x = quadratic
    before, after = _step("none", quadratic)
    np.testing.assert_allclose(after, np.asarray(q.T @ (x - 0.1 * a @ x)), rtol=1e-12)


def test_unknown_rule_and_bad_fraction_fail():
    with pytest.raises(ValueError, match="unknown rule"):
        interventions.rates("freeze", jnp.ones(2), 0.1)
    with pytest.raises(ValueError, match="fraction"):
        interventions.rates("stabilize", jnp.ones(2), 0.1, fraction=1.5)


def test_intervene_on_the_mlp_suppresses_unstable_directions_and_none_is_gd(small_split):
    """On the paper's MLP (128 images, η = 0.5 after 40 epochs at the edge of stability):
    rule "none" retraces plain GD; under "suppress" the step has no component along the
    unstable tracked eigenvectors (to the eigenvectors' accuracy). Top-8 are tracked, so that
    stable directions are among them wherever the chaotic start lands: at epoch 40 the top-4 were
    all unstable on an AMD EPYC (10.5, 5.5, 5.2 and 4.07 against 2/η = 4; 2026-12-07)."""
    from jax.flatten_util import ravel_pytree

    from eoslib import runs, schedules
    config = runs.RunConfig(n_train=128, n_eval=32, max_epochs=45, schedule=schedules.constant(0.5),
                            sharpness_at_end=False)
    states = runs.states_at(config, [40, 45], small_split)
    prep = runs.prepare([config], small_split, batched=False)
    start = states[40]
    gd = interventions.intervene(prep.objective, start.params, {}, prep.train_data, 0.5, "none", 5, k=4,
                                 record_every=5)
    np.testing.assert_allclose(ravel_pytree(gd.params)[0], ravel_pytree(states[45].params)[0], rtol=1e-5, atol=1e-6)
    assert gd.steps.tolist() == [0, 5] and gd.time.tolist() == pytest.approx([0.0, 2.5])
    sup = interventions.intervene(prep.objective, start.params, {}, prep.train_data, 0.5, "suppress", 1, k=8,
                                  tol=1e-5)
    assert 1 <= sup.unstable[0] < 8, "the start must have unstable and stable tracked directions"
    from eoslib.tracking import top_eigenpairs
    pairs = top_eigenpairs(prep.objective.hessian_matvec(start.params, {}, prep.train_data), 28_480, 8, tol=1e-5)
    step = ravel_pytree(sup.params)[0] - ravel_pytree(start.params)[0]
    unstable = np.asarray(sup.values[0]) * 0.5 > 2  # the intervention's own classification
    along = np.abs(np.asarray(pairs.vectors).T @ np.asarray(step))
    assert (along[unstable] <= 1e-3 * np.linalg.norm(step)).all() and (along[~unstable] > 0).any()


def test_oscillation_amplitude():
    assert interventions.oscillation_amplitude(np.linspace(2, 1, 10)) == pytest.approx(0, abs=1e-12)
    zigzag = 1.0 + 0.1 * (-1.0) ** np.arange(10)  # |L_t - mean of neighbours| = 0.2, mean 1
    assert interventions.oscillation_amplitude(zigzag) == pytest.approx(0.2)
    assert np.isnan(interventions.oscillation_amplitude([1.0, 2.0]))


def test_intervention_suite_records_every_rule_and_the_reference_at_the_same_times(small_split):
    """Every rule from the same start; the small-η reference (η/2 here, and η/4 for its step
    control) recorded at the same gradient-flow times as the runs at η."""
    from eoslib import runs, schedules
    config = runs.RunConfig(n_train=128, n_eval=32, max_epochs=20, schedule=schedules.constant(0.5),
                            sharpness_at_end=False)
    start = runs.states_at(config, [20], small_split)[20]
    prep = runs.prepare([config], small_split, batched=False)
    suite = interventions.intervention_suite(prep.objective, start.params, {}, prep.train_data, 0.5, 3,
                                             k=2, ref_fraction=0.5)
    assert set(suite) == {*interventions.RULES, "reference", "reference_half"}
    for name, tr in suite.items():
        assert tr.time.tolist() == pytest.approx([0.0, 0.5, 1.0, 1.5]), name
        assert tr.values.shape == (4, 2)
    assert suite["reference"].steps.tolist() == [0, 2, 4, 6]
    assert suite["reference_half"].steps.tolist() == [0, 4, 8, 12]
    np.testing.assert_allclose(suite["reference"].values[0], suite["none"].values[0], rtol=1e-2)
    with pytest.raises(ValueError, match="ref_fraction"):
        interventions.intervention_suite(prep.objective, start.params, {}, prep.train_data, 0.5, 3,
                                         ref_fraction=0.3)

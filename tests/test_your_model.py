"""Chapter 8's stored study (``eoslib.your_model``): CI re-verifies a sampled record of
``store/your-model/`` (its first steps re-trained here and compared up to the edge of
stability), and a corrupted, forged or stale record must fail the same check."""

import copy

import pytest

from eoslib import verification, your_model
from eoslib.provenance import git_commit
from eoslib.results import open_store
from eoslib.runs import TRAINER_VERSION


@pytest.fixture(scope="module")
def sampled():
    store = open_store(your_model.STORE)
    keys = store.keys()
    if not keys:
        pytest.skip("store/your-model has no records yet")
    return store.get(verification.sample_keys(keys, 1, git_commit())[0])


def test_the_data_need_attention_and_the_problem_is_the_full_batch_loss():
    tokens, labels = your_model.pointer_data(64, 0)
    assert tokens.shape == (64, your_model.LENGTH) and labels.shape == (64,)
    assert (labels == tokens[range(64), tokens[:, 0] % your_model.LENGTH] % your_model.CLASSES).all()
    problem, params = your_model.problem(dict(n_train=64, width=8, heads=2, seed=0))
    assert problem.batch[0].shape == (64, your_model.LENGTH)
    assert float(problem.loss(params, problem.batch)) == pytest.approx(1.39, abs=0.2)  # about ln 4 at init


def test_a_sampled_record_is_reproduced_here(sampled):
    assert sampled["spec"]["parameters"].keys() == set(your_model.STUDY_KEYS)
    assert your_model.reverify(sampled) == []


def test_corrupted_forged_or_stale_records_fail(sampled):
    edited = copy.deepcopy(sampled)
    edited["value"]["gd"]["loss"]["data"][2] *= 1.01
    assert any(p.startswith("gd loss at epoch 2") for p in your_model.reverify(edited, prefix=10))
    forged = copy.deepcopy(sampled)
    forged["spec"]["parameters"]["gd_lr"] *= 1.01
    assert any("key" in p for p in verification.computation_is_current(forged, your_model.VERSION))
    stale = copy.deepcopy(sampled)
    stale["spec"]["trainer_version"] = TRAINER_VERSION - 1
    assert any("trainer version" in p for p in verification.computation_is_current(stale, your_model.VERSION))
    stale["spec"]["trainer_version"], stale["spec"]["analysis_version"] = TRAINER_VERSION, your_model.VERSION - 1
    assert any("analysis version" in p for p in verification.computation_is_current(stale, your_model.VERSION))

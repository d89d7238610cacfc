"""Chapter 8's stored study (``eoslib.chapters.your_model.experiment``): CI re-verifies a sampled record of
``store/your-model/`` (its first steps re-trained here and compared up to the edge of
stability), and a corrupted, forged or stale record must fail the same check."""

import copy

import jax.numpy as jnp
import pytest

from eoslib import verification
from eoslib.chapters.your_model import experiment as your_model
from eoslib.provenance import git_commit
from eoslib.results import open_store
from eoslib.runs import TRAINER_VERSION


@pytest.fixture(scope="module")
def sampled():
    store = open_store(your_model.STORE)
    keys = store.keys()
    if not keys:
        pytest.skip("store/your-model has no records yet")
    record = store.get(verification.sample_keys(keys, 1, git_commit())[0])
    P = record["spec"]["parameters"]
    return record, your_model.run_study({**P, "gd_steps": min(10, P["gd_steps"]), "adam_steps": min(10, P["adam_steps"])})


def test_the_data_need_attention_and_the_problem_is_the_full_batch_loss():
    tokens, labels = your_model.pointer_data(64, 0)
    assert tokens.shape == (64, your_model.LENGTH) and labels.shape == (64,)
    assert (labels == tokens[jnp.arange(64), tokens[:, 0] % your_model.LENGTH] % your_model.CLASSES).all()
    problem, params = your_model.problem(dict(n_train=64, width=8, heads=2, seed=0))
    assert problem.batch[0].shape == (64, your_model.LENGTH)
    assert float(problem.loss(params, problem.batch)) == pytest.approx(1.39, abs=0.2)  # about ln 4 at init


def test_a_sampled_record_is_reproduced_here(sampled):
    """Its first 10 steps re-run here (both runs, their eigensolves at steps 0 and 10)."""
    record, again = sampled
    assert record["spec"]["parameters"].keys() == set(your_model.STUDY_KEYS)
    assert your_model.reverify(record, again=again) == []


def test_corrupted_forged_or_stale_records_fail(sampled):
    sampled, again = sampled
    edited = copy.deepcopy(sampled)
    edited["value"]["gd"]["loss"]["data"][2] *= 1.01
    assert any(p.startswith("gd loss at epoch 2") for p in your_model.reverify(edited, again=again))
    edited = copy.deepcopy(sampled)
    edited["value"]["adam"]["effective"]["data"][1] *= 1.01  # step 10's effective sharpness
    assert any(p.startswith("adam effective at epoch 1") for p in your_model.reverify(edited, again=again))
    forged = copy.deepcopy(sampled)
    forged["spec"]["parameters"]["gd_lr"] *= 1.01
    assert any("key" in p for p in verification.computation_is_current(forged, your_model.VERSION))
    stale = copy.deepcopy(sampled)
    stale["spec"]["trainer_version"] = TRAINER_VERSION - 1
    assert any("trainer version" in p for p in verification.computation_is_current(stale, your_model.VERSION))
    stale["spec"]["trainer_version"], stale["spec"]["analysis_version"] = TRAINER_VERSION, your_model.VERSION - 1
    assert any("analysis version" in p for p in verification.computation_is_current(stale, your_model.VERSION))

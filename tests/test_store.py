"""CI re-verifies the committed results stores: a few records drawn at random (the seed is the
git commit) are re-run from their configs here and compared (``eoslib.verification``), and a
corrupted record must fail the same comparison."""

import copy

import pytest

from eoslib import generalization, verification
from eoslib.provenance import git_commit
from eoslib.runs import TRAINER_VERSION

STORES = sorted(p.name for p in generalization.STORE_ROOT.iterdir() if p.is_dir()) \
    if generalization.STORE_ROOT.is_dir() else []
SAMPLE = 3


@pytest.fixture(scope="module", params=STORES)
def sampled(request, load_or_skip):
    from eoslib import data
    load_or_skip("Fashion-MNIST", data.fashion_mnist, 10, 10)
    store = generalization.committed_store(request.param)
    keys = store.keys()
    if not keys:
        pytest.skip(f"store {request.param} has no records yet")
    records = [store.get(k) for k in verification.sample_keys(keys, SAMPLE, git_commit())]
    everyone = list(store.records())

    def peers(record):
        c = record["config"]
        return [r for r in everyone if r["key"] != record["key"]
                and r["config"]["schedule"] == c["schedule"] and r["config"]["n_train"] == c["n_train"]]

    return [(r, verification.rerun(r), peers(r)) for r in records]


def test_sampled_records_are_reproduced_here(sampled):
    for stored, again, peers in sampled:
        problems = verification.verify(stored, again, peers)
        assert not problems, f"record {stored['key'][:12]} (lr {stored['config']['schedule']['lr']}, " \
                             f"seed {stored['config']['seed']}): {problems}"


def test_corrupted_or_stale_records_fail(sampled):
    stored, again, peers = sampled[0]
    edited = copy.deepcopy(stored)
    assert edited["history"]["epoch"][0] == 0
    edited["history"]["train_loss"][0] *= 1.01  # epoch 0 (initialization): compared for every run
    assert any("train_loss" in p for p in verification.verify(edited, again, peers))
    stale = copy.deepcopy(stored)
    stale["config"]["trainer_version"] = TRAINER_VERSION - 1
    assert any("trainer version" in p for p in verification.verify(stale, again, peers))
    forged = copy.deepcopy(stored)
    forged["config"]["max_epochs"] += 1
    assert any("key" in p for p in verification.verify(forged, again, peers))

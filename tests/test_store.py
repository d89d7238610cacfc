"""CI re-verifies the committed results stores: a few records drawn at random (the seed is the
git commit) are re-run from their configs here and compared (``eoslib.verification``), and a
corrupted record must fail the same comparison.

Per store (``CHECKS``): the data set, how many records are drawn, and whether they are re-run
whole (the Fashion-MNIST MLPs, seconds each) or only for a prefix of their epochs (the CIFAR-10
VGG10s, minutes to an hour each on a CPU: their first ``PREFIX_EPOCHS`` epochs, about 20 s each
on two cores at 500 images, without eigensolves; ``verification.verify(prefix=...)``)."""

import copy

import pytest

from eoslib import data, generalization, verification
from eoslib.provenance import git_commit
from eoslib.runs import TRAINER_VERSION

STORES = sorted(p.name for p in generalization.STORE_ROOT.iterdir() if p.is_dir()) \
    if generalization.STORE_ROOT.is_dir() else []
PREFIX_EPOCHS = 20
CHECKS = {  # store -> (data set name, loader, records drawn, prefix epochs or None for whole runs)
    "fmnist-generalization": ("Fashion-MNIST", data.fashion_mnist, 3, None),
    "cifar-generalization": ("CIFAR-10", data.cifar10, 2, PREFIX_EPOCHS),
}


def test_every_store_has_a_check():
    assert set(STORES) <= set(CHECKS), f"stores without a re-verification setting: {set(STORES) - set(CHECKS)}"


@pytest.fixture(scope="module", params=STORES)
def sampled(request, load_or_skip):
    what, loader, count, prefix = CHECKS[request.param]
    load_or_skip(what, loader, 10, 10)
    store = generalization.committed_store(request.param)
    keys = store.keys()
    if not keys:
        pytest.skip(f"store {request.param} has no records yet")
    records = [store.get(k) for k in verification.sample_keys(keys, count, git_commit())]
    everyone = list(store.records())

    def peers(record):
        c = record["config"]
        return [r for r in everyone if r["key"] != record["key"]
                and r["config"]["schedule"] == c["schedule"] and r["config"]["n_train"] == c["n_train"]]

    def probe(record):  # the prefix with other rounding (verification.compared_until)
        return verification.rerun(record, prefix=prefix, lanes=2) if prefix is not None else None

    return prefix, [(r, verification.rerun(r, prefix=prefix), peers(r), probe(r)) for r in records]


def test_sampled_records_are_reproduced_here(sampled):
    prefix, runs = sampled
    for stored, again, peers, probe in runs:
        problems = verification.verify(stored, again, peers, prefix=prefix, probe=probe)
        assert not problems, f"record {stored['key'][:12]} (lr {stored['config']['schedule']['lr']}, " \
                             f"seed {stored['config']['seed']}): {problems}"


def test_corrupted_or_stale_records_fail(sampled):
    prefix, runs = sampled
    stored, again, peers, probe = runs[0]
    kw = dict(prefix=prefix, probe=probe)
    edited = copy.deepcopy(stored)
    assert edited["history"]["epoch"][0] == 0
    edited["history"]["train_loss"][0] *= 1.01  # epoch 0 (initialization): compared for every run
    assert any("train_loss" in p for p in verification.verify(edited, again, peers, **kw))
    window = verification.compared_until(again, prefix, probe) if prefix is not None else None
    inside = [i for i, e in enumerate(stored["history"]["epoch"]) if window is not None and 1 <= e <= window]
    if inside:  # a prefix compares every stored epoch of its window, not only the first
        late = copy.deepcopy(stored)
        late["history"]["eval_loss"][inside[-1]] *= 1.05
        assert any("eval_loss" in p for p in verification.verify(late, again, peers, **kw))
    stale = copy.deepcopy(stored)
    stale["config"]["trainer_version"] = TRAINER_VERSION - 1
    assert any("trainer version" in p for p in verification.verify(stale, again, peers, **kw))
    forged = copy.deepcopy(stored)
    forged["config"]["max_epochs"] += 1
    assert any("key" in p for p in verification.verify(forged, again, peers, **kw))


def test_a_prefix_rerun_checks_the_epochs_up_to_the_prefix_only(load_or_skip):
    load_or_skip("Fashion-MNIST", data.fashion_mnist, 10, 10)
    store = generalization.committed_store("fmnist-generalization")
    record = min(store.records(), key=lambda r: (r["config"]["schedule"]["lr"], r["key"]))  # stable
    again = verification.rerun(record, prefix=30)
    assert again["final"]["epochs"] == 30 and not again["eigen"].get("epoch")
    assert not verification.verify(record, again, prefix=30)
    epochs = record["history"]["epoch"]
    inside = copy.deepcopy(record)
    inside["history"]["param_norm"][epochs.index(max(e for e in epochs if e <= 20))] *= 1.02
    assert any("param_norm" in p for p in verification.verify(inside, again, prefix=30))
    beyond = copy.deepcopy(record)
    beyond["history"]["param_norm"][-1] *= 1.02  # the last epoch, far past the prefix
    assert not verification.verify(beyond, again, prefix=30)


def test_the_compared_window_ends_where_rounding_is_amplified():
    """compared_until: the prefix, 5 epochs before the first loss rise, and the last epoch at
    which a probe (other rounding) agrees with the re-run to rtol / 10."""
    def record(loss, acc=None):
        h = {"epoch": list(range(len(loss))), "train_loss": list(loss)}
        return {"history": h if acc is None else {**h, "train_acc": list(acc)}}
    falling = [2.6 - 0.05 * t for t in range(21)]
    parted = [x * (1 + 1e-7 * 6.0 ** t) for t, x in enumerate(falling)]  # x6 per epoch, like VGG10 here
    assert verification.rounding_horizon(record(falling), record(falling), 5e-4) == 20
    assert verification.rounding_horizon(record(falling), record(parted), 5e-4) == 4  # 1e-7 * 6^5 > 5e-4
    assert verification.compared_until(record(falling), 20) == 20
    assert verification.compared_until(record(falling), 20, record(parted)) == 4
    rising = falling[:12] + [falling[11] + 0.1] + falling[13:]
    assert verification.compared_until(record(rising), 20) == 11 - 5
    acc = [0.1 + 0.01 * t for t in range(21)]
    flipped = acc[:7] + [acc[7] + 0.002] + acc[8:]  # one example of 500 at epoch 7
    assert verification.rounding_horizon(record(falling, acc), record(falling, flipped), 5e-4) == 6
    assert verification.rounding_horizon(record([1.0]), record([1.1]), 5e-4) == -1
    assert verification.compared_until(record([1.0, 0.9]), 20, record([1.1, 0.9])) == 0

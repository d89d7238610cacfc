"""The lent-GPU path stays ready (issue 30): ``tools/device_cifar.py`` runs end to end on the CPU
with a tiny scale and a short budget (pack, the resumable fill in a child process, the tarball
of new records, unpack with every key checked), and a budget that ends mid-run stops the child
and still returns a valid, empty tarball."""

import json
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from eoslib import data
from eoslib.results import ResultsStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import device_cifar  # noqa: E402

TINY = dict(n_train=20, n_eval=10, seeds=1, start=0.05, factor=4.0, skip=0, max_rates=1, max_epochs=3,
            eig_every=50, eig_start=50, reduce_rates=(0.05,), reduce_epochs=(2,), reduce_seeds=1, eta_small=0.01,
            group_rates=(), group_size=3, group_eig_start=1, group_eig_every=1, weight_init="flax",
            model="mlp")  # the plumbing under test is the model's; the MLP compiles in seconds, VGG10 in half a minute


@pytest.fixture(scope="module")
def pack(tmp_path_factory, load_or_skip):
    load_or_skip("CIFAR-10", data.cifar10, 10, 10)
    path = tmp_path_factory.mktemp("pack") / "cifar10_20_10.npz"
    device_cifar.pack(path, TINY["n_train"], TINY["n_eval"])
    return path


def _run(tmp_path, pack, budget_s, margin_s):
    out = tmp_path / "out"
    device_cifar.run(budget_s, margin_s, out, 0, 1, "5b", scale=TINY, pack=pack, store_root=tmp_path / "store",
                     committed=None)
    return out, json.loads((out / "timings.json").read_text())


def test_a_tiny_device_run_returns_its_records_and_unpack_checks_their_keys(tmp_path, pack):
    out, timings = _run(tmp_path, pack, 600, 30)
    assert timings["records_new"] == 1 and not timings["stopped_at_budget"]
    with tarfile.open(out / "records.tar.gz") as tar:
        [member] = tar.getmembers()
        record = json.load(tar.extractfile(member))
    assert record["config"]["n_train"] == 20 and record["final"]["epochs"] <= 3
    store = ResultsStore(tmp_path / "unpacked", compact_points=200)
    assert device_cifar.unpack(out / "records.tar.gz", store) == 1
    assert device_cifar.unpack(out / "records.tar.gz", store) == 0  # already there
    record["config"]["seed"] += 1  # a record whose config no longer hashes to its key
    forged = tmp_path / "forged.tar.gz"
    (tmp_path / member.name).write_text(json.dumps(record))
    with tarfile.open(forged, "w:gz") as tar:
        tar.add(tmp_path / member.name, arcname=member.name)
    with pytest.raises(SystemExit, match="does not hash to its key"):
        device_cifar.unpack(forged, ResultsStore(tmp_path / "other", compact_points=200))


def test_a_budget_that_ends_mid_run_stops_the_child_and_returns_an_empty_tarball(tmp_path, pack):
    out, timings = _run(tmp_path, pack, 4, 1)
    assert timings["stopped_at_budget"] and timings["records_new"] == 0
    with tarfile.open(out / "records.tar.gz") as tar:
        assert tar.getmembers() == []


def test_a_smaller_scale_reads_the_chapters_data_from_the_pack(pack):
    """``--scale cpu-1k`` on a device trains on the pack's first images standardized as the
    chapter's own data are (``eoslib.data.cifar10(n_train, n_eval)``), so its records' keys and
    runs are the chapter's."""
    small, whole = device_cifar.load_pack(pack, 8, 4), device_cifar.load_pack(pack)
    want = data.cifar10(8, 4)
    assert all(np.array_equal(getattr(small, k), getattr(want, k)) for k in ("x_train", "y_train", "x_eval", "y_eval"))
    assert len(whole.y_train) == TINY["n_train"] and not np.array_equal(whole.x_train[:8], small.x_train)

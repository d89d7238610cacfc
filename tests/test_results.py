"""Results store (atomic records keyed by config hash), tidy tables, provenance."""

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eoslib import data, schedules
from eoslib.lanczos import DEFAULT_CHECK, LEGACY_CHECK
from eoslib.provenance import provenance
from eoslib.results import (
    ResultsStore,
    columns,
    history_table,
    make_computation,
    make_record,
    spec_key,
    summary_table,
)
from eoslib.runs import RunConfig, check_of, run_or_load, save_run, train


@pytest.fixture(scope="module")
def small_split(load_or_skip):  # overrides conftest.py's: 64 training, 16 evaluation examples
    return load_or_skip("Fashion-MNIST", data.fashion_mnist, 64, 16)


def test_provenance_describes_device_version_and_commit():
    p = provenance()
    assert p["device"] and p["backend"] in {"cpu", "gpu", "tpu", "cuda", "rocm"}
    assert p["eoslib_version"] and p["jax_version"]
    assert p["git_commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", p["git_commit"])


def test_the_commit_is_read_when_eoslib_is_imported():
    """A fill that runs for hours names the commit of the code it loaded, not the HEAD of the
    hour it writes a record: a subprocess that imports eoslib has read it before any record."""
    code = ("from eoslib import provenance; import sys; "
            "sys.exit(0 if provenance.git_commit.cache_info().currsize == 1 else 1)")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent).returncode == 0


def test_config_key_is_a_hash_of_the_canonical_config():
    a = RunConfig(schedule=schedules.constant(0.1))
    assert a.key() == RunConfig(schedule=schedules.Schedule(0.1)).key()
    assert re.fullmatch(r"[0-9a-f]{64}", a.key())
    assert a.key() != RunConfig(schedule=schedules.constant(0.1), seed=1).key()
    assert RunConfig.from_dict(json.loads(json.dumps(a.to_dict()))) == a


def test_eig_check_is_a_key_field_and_old_records_used_the_legacy_check():
    a = RunConfig(schedule=schedules.constant(0.1))
    assert a.eig_check == "adaptive" and check_of("adaptive") is DEFAULT_CHECK
    assert a.key() != RunConfig(schedule=schedules.constant(0.1), eig_check="legacy").key()
    old = {k: v for k, v in a.to_dict().items() if k != "eig_check"}  # made before the field existed
    assert RunConfig.from_dict(old).eig_check == "legacy" and check_of("legacy") is LEGACY_CHECK
    with pytest.raises(ValueError, match="eig_check='exact'"):
        RunConfig(eig_check="exact")


def test_hvp_mode_is_a_key_field_only_away_from_direct_the_mode_of_every_older_record():
    a = RunConfig(schedule=schedules.constant(0.1))
    assert a.hvp == "direct" and "hvp" not in a.to_dict()  # records made before the field keep their keys
    b = dataclasses.replace(a, hvp="linearized")
    assert b.to_dict()["hvp"] == "linearized" and b.key() != a.key()
    assert RunConfig.from_dict(json.loads(json.dumps(b.to_dict()))) == b
    with pytest.raises(ValueError, match="hvp='jvp'"):
        RunConfig(hvp="jvp")


def test_migrate_store_writes_the_field_and_rekeys_without_touching_results(tmp_path):
    """``tools/migrate_store.py``: a run record and a computation record made before a key
    field existed state it afterwards, under the key of their new config / spec."""
    import importlib.util

    spec_ = importlib.util.spec_from_file_location("migrate_store", "tools/migrate_store.py")
    tool = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(tool)
    config = RunConfig(schedule=schedules.constant(0.1), eig_check="legacy")
    run = make_record(config, {"lr": [0.1]}, {}, {"epochs": 0, "completed": False}, False, 1.0, batch_size=1)
    del run["config"]["eig_check"]  # as made before the field existed
    run["key"] = tool._canonical_key(run["config"])
    comp = make_computation("k", {"parameters": {"eta": 0.1}, "seed": 0}, {"x": [1.0]}, 1.0)
    store = ResultsStore(tmp_path)
    store.put(run)
    store.put(comp)
    (tmp_path / "old.npz").write_bytes(b"")  # an unrelated file is left alone
    assert tool.migrate(tmp_path, "eig_check", "legacy") == (2, 0, [])
    assert tool.migrate(tmp_path, "eig_check", "legacy") == (0, 2, [])
    new_comp = spec_key({"kind": "k", "parameters": {"eta": 0.1, "eig_check": "legacy"}, "seed": 0})
    assert sorted(store.keys()) == sorted([config.key(), new_comp])
    assert store.get(config.key())["history"] == run["history"]
    assert store.get(new_comp)["value"] == {"x": [1.0]}


def test_store_roundtrip_is_atomic_and_keyed(tmp_path):
    store = ResultsStore(tmp_path / "r")
    config = RunConfig(schedule=schedules.reduce_at_epoch(0.1, 0.01, 5))
    history = {"train_loss": np.array([2.3, np.float32(1.5)], np.float32), "lr": [0.1, 0.1]}
    record = make_record(config, history, {}, {"epochs": 1, "completed": False}, False, 1.25,
                         batch_size=1)
    vectors = np.arange(6.0).reshape(1, 3, 2)
    store.put(record, {"eigen_vectors": vectors})
    assert config.key() in store and store.keys() == [config.key()]
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == sorted(
        [f"{config.key()}.json", f"{config.key()}.npz"])
    loaded = store.get(config.key(), arrays=True)
    np.testing.assert_array_equal(loaded.pop("arrays")["eigen_vectors"], vectors)
    assert loaded == {**record, "arrays_file": f"{config.key()}.npz"}
    assert loaded["history"]["train_loss"] == [float(np.float32(2.3)), 1.5]  # float32 exact
    assert loaded["config"]["schedule"]["reduce_accuracy"] == float("inf")


def test_run_or_load_trains_once_and_tables_are_tidy(small_split, tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    configs = [RunConfig(n_train=64, n_eval=16, max_epochs=4, schedule=schedules.constant(lr),
                         eig_every=2, keep_eigenvectors=True) for lr in (0.05, 0.1)]
    records = [run_or_load(c, store, split=small_split) for c in configs]
    assert store.get(configs[0].key(), arrays=True)["arrays"]["eigen_vectors"].shape == (3, 28_480, 1)
    monkeypatch.setattr("eoslib.runs.train", lambda *a, **k: pytest.fail("retrained"))
    assert run_or_load(configs[0], store) == records[0]

    summary = summary_table(store.records())
    assert len(summary) == 2 and {"schedule_lr", "final_eval_acc", "diverged"} <= set(summary[0])
    rows = history_table(store.records())
    assert len(rows) == 2 * 5 and rows[0]["epoch"] == 0
    cols = columns(rows)
    assert cols["train_loss"].dtype == np.float64 and cols["epoch"].tolist()[:5] == [0, 1, 2, 3, 4]
    assert sorted(set(cols["schedule_lr"].tolist())) == [0.05, 0.1]


def test_save_run_keeps_eigenvectors_out_of_the_json(small_split, tmp_path):
    run = train(RunConfig(n_train=64, n_eval=16, max_epochs=2, eig_every=1,
                          keep_eigenvectors=True), small_split)
    record = save_run(ResultsStore(tmp_path), run)
    assert "vectors" not in record["eigen"] and record["eigen"]["epoch"] == [0, 1, 2]
    assert (tmp_path / f"{run.config.key()}.json").stat().st_size < 100_000


def test_partial_writes_of_a_killed_writer_are_removed(tmp_path):
    store = ResultsStore(tmp_path)
    (tmp_path / "abc.json").write_text("{}")
    (tmp_path / ".def.json.x1y2.tmp").write_text("{partial")
    assert store.remove_partial_writes() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["abc.json"]
    assert ResultsStore(tmp_path / "missing").remove_partial_writes() == 0


def test_downsample_and_compact_keep_the_ends_and_the_early_epochs():
    from eoslib.results import compact, downsample_indices
    assert downsample_indices(50, 200).tolist() == list(range(50))
    idx = downsample_indices(5000, 200)
    assert idx.size <= 200 and idx[0] == 0 and idx[-1] == 4999 and (np.diff(idx) > 0).all()
    assert set(range(1, 8)) <= set(idx.tolist())  # geometric part: dense at the start
    config = RunConfig(schedule=schedules.constant(0.1))
    record = make_record(config, {"train_loss": list(np.linspace(2, 0, 5000))}, {}, {"epochs": 4999}, False, 1.0)
    small = compact(record, 200)
    assert small["compact"] and small["history"]["epoch"] == idx.tolist()
    assert small["history"]["train_loss"][-1] == 0.0 and compact(small) is small
    rows = history_table([small])
    assert [r["epoch"] for r in rows] == idx.tolist()


def test_a_record_without_trainer_version_is_never_current():
    from eoslib.runs import TRAINER_VERSION
    config = RunConfig(schedule=schedules.constant(0.1))
    old = {k: v for k, v in config.to_dict().items() if k != "trainer_version"}
    restored = RunConfig.from_dict(old)
    assert restored.trainer_version == 0 != TRAINER_VERSION and restored.key() != config.key()
    assert RunConfig.from_dict(config.to_dict()) == config


def test_open_store_resolves_committed_local_and_folders(tmp_path):
    from eoslib.results import STORE_ROOT, default_root, open_store

    assert open_store("x").root == STORE_ROOT / "x" == open_store("x", "committed").root
    assert open_store("x", profile="tiny").root == default_root() / "x" == open_store("x", "local").root
    assert open_store("x", str(tmp_path)).root == tmp_path / "x"
    with pytest.raises(ValueError, match="must be 'committed', 'local' or a folder"):
        open_store("x", "comitted")


def test_computation_records_are_keyed_by_kind_and_spec_and_restore_values_exactly(tmp_path):
    import collections

    from eoslib.results import computed, pack, spec_key, unpack

    Pair = collections.namedtuple("Pair", "a b")
    value = {"x": np.array([1.5, np.nan], np.float32), "flags": np.array([True, False]), "pair": Pair(3, [1.0]),
             "by_epoch": {-1: np.arange(3), 4: np.zeros((2, 0))}, "scalar": np.float64(0.25)}
    back = unpack(json.loads(json.dumps(pack(value))), (Pair,))
    assert back["x"].dtype == np.float32 and np.array_equal(back["x"], value["x"], equal_nan=True)
    assert back["flags"].dtype == bool and back["pair"] == Pair(3, [1.0]) and back["scalar"] == 0.25
    assert list(back["by_epoch"]) == [-1, 4] and back["by_epoch"][4].shape == (2, 0)
    store, calls = ResultsStore(tmp_path), []

    def compute(spec):
        calls.append(spec["n"])
        return pack({"square": np.array([spec["n"] ** 2])})

    specs = [{"n": 2, "trainer_version": 1}, {"n": 3, "trainer_version": 1}]
    first = computed(store, "squares", specs, compute)
    again = computed(store, "squares", specs[::-1], compute)
    assert calls == [2, 3] and [r["key"] for r in again] == [r["key"] for r in first][::-1]
    assert first[0]["key"] == spec_key({"kind": "squares", **specs[0]}) != spec_key({"kind": "cubes", **specs[0]})
    assert first[0]["spec"] == specs[0] and first[0]["kind"] == "squares" and first[0]["provenance"]["device"]
    assert unpack(first[1]["value"])["square"].tolist() == [9]

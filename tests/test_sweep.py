"""Vmapped sweeps: agreement with single runs, masks, sharding over 2 host devices, and
resumption after a real SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from eoslib import data, schedules, sweep
from eoslib.execution import plan
from eoslib.gd import run_epochs
from eoslib.models import MODELS
from eoslib.monitors import Rotation, StopAfterPeak
from eoslib.results import ResultsStore
from eoslib.runs import RunConfig, train

WORKER = Path(__file__).with_name("sweep_worker.py")
VOLATILE = ("wall_time_s", "provenance")


def _stable(record):
    return {k: v for k, v in record.items() if k not in VOLATILE}


def _run_worker(store, devices, out=None, **popen):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    args = [sys.executable, str(WORKER), str(store), str(devices)] + ([str(out)] if out else [])
    return subprocess.Popen(args, env=env, **popen)


def test_plan_batches_groups_compatible_runs_in_order():
    base = RunConfig(max_epochs=5)
    grid = sweep.lr_seed_grid(base, [0.1, 0.2], [0, 1, 2])
    other = RunConfig(max_epochs=6)
    batches = sweep.plan_batches(grid[:3] + [other] + grid[3:], batch_size=4)
    assert [len(b) for b in batches] == [4, 2, 1]
    assert batches[0] == grid[:4] and batches[2] == [other]
    assert len({c.key() for c in grid}) == 6


def test_sweep_agrees_with_single_runs_and_masks_diverged_models(small_split, tmp_path):
    base = RunConfig(n_train=128, n_eval=32, max_epochs=25, schedule=schedules.constant(0.05))
    configs = sweep.lr_seed_grid(base, [0.02, 0.05, 1e4], [0, 1])
    records = sweep.sweep(configs, ResultsStore(tmp_path), split=small_split)
    assert [r["key"] for r in records] == [c.key() for c in configs]
    assert [r["diverged"] for r in records] == [False] * 4 + [True] * 2
    for config, record in zip(configs[:4], records[:4]):
        single = train(config, small_split)
        for name, values in single.history.items():
            np.testing.assert_allclose(record["history"][name], values, rtol=2e-5, atol=1e-6)
        assert record["final"]["epochs"] == 25
        assert record["final"]["sharpness"] == pytest.approx(single.final["sharpness"], rel=1e-3)
    assert all(len(r["history"]["train_loss"]) < 25 for r in records[4:])


def test_sweep_records_eigenpairs_and_stops_models_once_their_sharpness_peaked(small_split, tmp_path):
    """eig_every in a sweep: each model tracked as train() tracks it, and the stop-after-peak
    rule stops models one by one (the others go on)."""
    base = RunConfig(n_train=128, n_eval=32, max_epochs=200, eig_every=5, eig_k=2,
                     schedule=schedules.reduce_at_epoch(0.5, 0.1, 20), monitors=(StopAfterPeak(30),),
                     sharpness_at_end=False, weight_init="torch")  # the stable run outlasts the peaked one
    configs = sweep.lr_seed_grid(base, [0.5, 0.02], [0])
    records = sweep.sweep(configs, ResultsStore(tmp_path), split=small_split)
    peaked, stable = records
    assert peaked["final"]["peaked"] and not peaked["final"]["completed"]
    assert peaked["eigen"]["epoch"][-1] == peaked["final"]["epochs"] < 200
    assert stable["final"]["epochs"] > peaked["final"]["epochs"]
    for config, record in zip(configs, records):
        single = train(config, small_split)
        assert single.final["peaked"] == record["final"]["peaked"]
        first = min(len(single.eigen["epoch"]), 5)  # before chaos amplifies vmap rounding
        assert record["eigen"]["epoch"][:first] == single.eigen["epoch"][:first].tolist()
        np.testing.assert_allclose(np.asarray(record["eigen"]["values"])[:first],
                                   single.eigen["values"][:first], rtol=1e-3)
        assert all(record["eigen"]["certified"])


def test_sharded_sweep_matches_unsharded(small_split, tmp_path):  # small_split: skip w/o data
    outs = {}
    for devices in (2, 1):
        out = tmp_path / f"out{devices}.json"
        proc = _run_worker(tmp_path / f"store{devices}", devices, out)
        assert proc.wait(timeout=300) == 0
        outs[devices] = json.loads(out.read_text())
    assert outs[2]["num_devices"] == 2
    two, one = outs[2]["records"], outs[1]["records"]
    assert [r["key"] for r in two] == [r["key"] for r in one]
    for a, b in zip(two, one):
        assert a["diverged"] == b["diverged"] and a["final"]["epochs"] == b["final"]["epochs"]
        # Per-device batch sizes differ (1 vs 2 models), so XLA's kernels round differently:
        # equal up to float rounding, which the edge of stability amplifies over time.
        if not a["diverged"]:
            for name in a["history"]:
                np.testing.assert_allclose(a["history"][name][:40], b["history"][name][:40],
                                           rtol=1e-4, atol=1e-6)


def test_killed_sweep_resumes_without_loss_or_duplicates(small_split, tmp_path):
    from sweep_worker import configs

    killed = tmp_path / "killed"
    proc = _run_worker(killed, 1)
    deadline = time.time() + 240
    while not list(killed.glob("*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    before = {p.name: p.read_bytes() for p in killed.glob("*.json")}
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    total = len(configs())
    assert 0 < len(before) < total, "the kill must land mid-way through the sweep"

    assert _run_worker(killed, 1).wait(timeout=300) == 0
    reference = tmp_path / "reference"
    assert _run_worker(reference, 1).wait(timeout=300) == 0

    store, ref = ResultsStore(killed), ResultsStore(reference)
    assert sorted(store.keys()) == sorted(ref.keys()) == sorted({c.key() for c in configs()})
    assert len(list(killed.iterdir())) == total  # no duplicates, no temporary files left
    for name, content in before.items():  # records written before the kill are untouched
        assert (killed / name).read_bytes() == content
    for key in ref.keys():
        assert _stable(store.get(key)) == _stable(ref.get(key))


def test_conv_sweep_on_cpu_runs_epoch_by_epoch_and_agrees_with_single_runs(tmp_path, load_or_skip):
    split = load_or_skip("CIFAR-10", data.cifar10, 48, 16)
    # small rates: at 0.02 the gradient at epoch 1 of this 48-image VGG10 already amplifies
    # rounding (equal parameters to 1e-7, losses 3e-4 apart after two steps on one thread), and
    # at 0.1 it diverges; the programs are compared where their rounding stays rounding
    base = RunConfig(model="vgg10", dataset="cifar10", n_train=48, n_eval=16, max_epochs=2,
                     schedule=schedules.warmup(0.01, 2), sharpness_at_end=False)
    on_cpu = jax.default_backend() == "cpu"  # CPU: Python epoch loop for convolutions
    assert plan(MODELS[base.model]()).compiled_loops == (not on_cpu)
    configs = sweep.lr_seed_grid(base, [0.005, 0.01], [0])
    records = sweep.sweep(configs, ResultsStore(tmp_path), split=split)
    for config, record in zip(configs, records):
        single = train(config, split)
        assert record["final"]["epochs"] == single.final["epochs"] == 2
        for name, values in single.history.items():
            np.testing.assert_allclose(record["history"][name], values, rtol=1e-4, atol=1e-6)


def test_split_lanes_cuts_the_model_axis_into_near_equal_groups():
    from eoslib.gd import join_lanes, split_lanes

    tree = {"a": np.arange(14).reshape(7, 2), "b": np.arange(7)}
    parts = split_lanes(tree, 3)
    assert [len(p["b"]) for p in parts] == [2, 3, 2]
    assert split_lanes(tree, 1) == (tree,)
    joined = join_lanes(parts)
    np.testing.assert_array_equal(joined["a"], tree["a"])
    np.testing.assert_array_equal(joined["b"], tree["b"])


def test_lane_groups_agree_with_one_vmapped_group(small_split):
    """Lane groups run side by side in one program: same runs, masks and stopping epochs as one
    vmapped group (values equal up to the rounding of a different batch size). The two finite
    rates stay below 2/η for the 30 epochs: at 0.05 seed 1 reaches an instability near epoch 28,
    where the two programs' rounding grows to 5e-4 on an AMD EPYC (within 2e-5 on an Intel Xeon;
    2026-12-07), so a test of the lanes' bookkeeping would depend on the CPU."""
    base = RunConfig(n_train=128, n_eval=32, max_epochs=30, schedule=schedules.constant(0.05),
                     sharpness_at_end=False)
    configs = sweep.lr_seed_grid(base, [0.01, 0.03, 1e4], [0, 1])
    one = sweep.run_batch(configs, small_split, lane_groups=1, block_epochs=8)
    four = sweep.run_batch(configs, small_split, lane_groups=4, block_epochs=8)
    for a, b in zip(one, four):
        assert a["diverged"] == b["diverged"] and a["final"]["epochs"] == b["final"]["epochs"]
        for name, values in a["history"].items():
            np.testing.assert_allclose(b["history"][name], values, rtol=2e-5, atol=1e-6)
    with pytest.raises(ValueError, match="lane_groups=7"):
        sweep.run_batch(configs, small_split, lane_groups=7)


def test_compaction_drops_stopped_lanes_without_changing_the_runs(small_split, monkeypatch):
    """Models stopping at different epochs (divergence at once, completion, the epoch limit):
    compacting the batch onto its active lanes gives the same runs, stopping epochs and
    eigenpairs as keeping every lane (values equal up to a different batch size's rounding)."""
    base = RunConfig(n_train=128, n_eval=32, max_epochs=40, eig_every=10, eig_k=2,
                     schedule=schedules.constant(0.05), sharpness_at_end=True)
    # stops at epoch 1 (1e4), 10-12 (2.0) and 40 (0.02): at most 4 of 9 lanes left after the
    # first block, so the lanes of the 0.02 runs (3..5) go on as lanes 0..2 of a smaller program
    configs = sweep.lr_seed_grid(base, [1e4, 0.02, 2.0], [0, 1, 2])
    full = sweep.run_batch(configs, small_split, compact=False)
    lanes = []  # the model axis of every block the compacted sweep runs

    def counting(*args, **kwargs):
        lanes.append(args[6].epoch.shape[0])
        return run_epochs(*args, **kwargs)

    monkeypatch.setattr(sweep, "run_epochs", counting)
    compacted = sweep.run_batch(configs, small_split, compact=True)
    assert lanes[0] == 9 and lanes[-1] <= 4 and lanes == sorted(lanes, reverse=True)
    epochs = [r["final"]["epochs"] for r in full]
    assert epochs[:3] == [1] * 3 and epochs[3:6] == [40] * 3 and max(epochs[6:]) < 20
    for a, b in zip(full, compacted):
        assert a["diverged"] == b["diverged"] and a["final"]["epochs"] == b["final"]["epochs"]
        for name, values in a["history"].items():
            np.testing.assert_allclose(b["history"][name], values, rtol=2e-5, atol=1e-6)
        assert a["eigen"]["epoch"] == b["eigen"]["epoch"]
        np.testing.assert_allclose(b["eigen"]["values"], a["eigen"]["values"], rtol=1e-4)
        assert a["final"].keys() == b["final"].keys()
        if not a["diverged"]:
            assert b["final"]["sharpness"] == pytest.approx(a["final"]["sharpness"], rel=1e-4)


def test_batched_eigensolves_agree_with_one_lane_at_a_time(small_split):
    """The plan's ``batched_eigensolves`` (the GPU default): every lane's eigenpairs from one
    vmapped, per-lane certified solve give the same runs, certification, ρ and stopping epochs as
    solving the lanes one after another (the CPU default), eigenvalues to rounding. The batch has
    a lane that diverges at once (its NaN state must not hold the others back) and stops at
    different epochs (the vmapped solve keeps its lane count; stopped lanes solve a copy)."""
    base = RunConfig(n_train=128, n_eval=32, max_epochs=40, eig_every=10, eig_k=3, monitors=(Rotation(2),),
                     schedule=schedules.constant(0.05), sharpness_at_end=True)
    configs = sweep.lr_seed_grid(base, [1e4, 0.02, 2.0], [0, 1])
    one = sweep.run_batch(configs, small_split, batched_eigensolves=False)
    together = sweep.run_batch(configs, small_split, batched_eigensolves=True)
    for a, b in zip(one, together):
        assert a["diverged"] == b["diverged"] and a["final"]["epochs"] == b["final"]["epochs"]
        assert a["history"] == b["history"]  # the epochs do not read the eigenpairs
        assert a["eigen"]["epoch"] == b["eigen"]["epoch"] and a["eigen"]["certified"] == b["eigen"]["certified"]
        np.testing.assert_allclose(b["eigen"]["values"], a["eigen"]["values"], rtol=1e-5)
        for name in ("sharpness", "rho", "rho_eos"):
            np.testing.assert_allclose(b["final"].get(name, np.nan), a["final"].get(name, np.nan), rtol=1e-4)
    assert sum(len(r["eigen"].get("epoch", [])) for r in one) >= 10


def test_a_checkpointed_batch_killed_mid_way_resumes_where_it_stopped_bit_for_bit(small_split, tmp_path, monkeypatch):
    """``checkpoint_every_s``: a batch killed after its second block (one model already written,
    the lanes compacted later, eigen recorders and ρ anchors mid-way) resumes from its checkpoint
    at the epoch it reached, not from epoch 0, and writes records equal to an uninterrupted run's
    (all but wall time and provenance); the checkpoint is gone once every model is written."""
    base = RunConfig(n_train=128, n_eval=32, max_epochs=40, eig_every=10, eig_k=2, monitors=(Rotation(2),),
                     schedule=schedules.constant(0.05), sharpness_at_end=True)
    configs = sweep.lr_seed_grid(base, [1e4, 0.02, 2.0], [0, 1, 2])
    reference = sweep.run_batch(configs, small_split, block_epochs=10)
    store = ResultsStore(tmp_path)

    class Killed(Exception):
        pass

    saves, save = [], sweep._Checkpoint.maybe_save

    def save_then_die(self, run):
        save(self, run)
        saves.append(run.epoch)
        if len(saves) == 2:
            raise Killed
    monkeypatch.setattr(sweep._Checkpoint, "maybe_save", save_then_die)
    with pytest.raises(Killed):
        sweep.run_batch(configs, small_split, store, block_epochs=10, checkpoint_every_s=0)
    monkeypatch.undo()
    checkpoints = list((tmp_path / ".checkpoints").glob("*.pkl"))
    assert len(checkpoints) == 1 and 0 < len(store.keys()) < len(configs)

    starts = []

    def counting(*args, **kwargs):
        starts.append(args[7])
        return run_epochs(*args, **kwargs)
    monkeypatch.setattr(sweep, "run_epochs", counting)
    resumed = sweep.run_batch(configs, small_split, store, block_epochs=10, checkpoint_every_s=0)
    assert starts[0] == saves[-1] > 0
    assert not checkpoints[0].exists() and len(store.keys()) == len(configs)
    for a, b in zip(reference, resumed):
        assert _stable(json.loads(json.dumps(a, default=str))) == _stable(json.loads(json.dumps(b, default=str)))

"""Monitors (:mod:`eoslib.monitors`): the stop rules and recorders that plug into the trainer.
Their parameters keep every stored key, and a sweep checkpoint pickled before they were
objects resumes with the same decisions."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from eoslib import schedules
from eoslib.lanczos import Eigenpairs
from eoslib.monitors import KEY_DEFAULTS, Observation, Rotation, StopAbove, StopAfterPeak, from_key_fields
from eoslib.runs import RunConfig

STORE = Path(__file__).resolve().parents[1] / "store"


def test_every_stored_run_keeps_its_key_and_its_config():
    """Each run record of every committed store: the config rebuilt from it (monitors from the
    old field names) has the record's key and writes back the same stored config."""
    checked = 0
    for path in sorted(STORE.glob("*/*.json")):
        record = json.loads(path.read_text())
        if "schedule" not in record.get("config", {}):
            continue  # a computation, not a run
        config = RunConfig.from_dict(record["config"])
        assert config.key() == record["key"] and config.to_dict() == record["config"], path
        checked += 1
    assert checked > 1000


def test_monitor_parameters_are_the_old_key_fields():
    plain = RunConfig(eig_every=10, eig_k=3).to_dict()
    assert {k: plain[k] for k in KEY_DEFAULTS} == KEY_DEFAULTS and "rho_at_accuracy" not in plain
    config = RunConfig(eig_every=10, eig_k=3, monitors=(Rotation(3, at_accuracy=True), StopAbove(20.0),
                                                        StopAfterPeak(50)))
    d = config.to_dict()
    assert (d["rho_k"], d["rho_accuracy"], d["rho_at_accuracy"], d["stop_above"], d["stop_after_peak"]) == \
        (3, 0.9, True, 20.0, 50)
    assert RunConfig.from_dict(d) == config and set(from_key_fields(d)[0]) == set(config.monitors)
    # the order of the monitors is not part of the config
    assert RunConfig(eig_every=10, monitors=(StopAfterPeak(5), StopAbove(2.0))) == \
        RunConfig(eig_every=10, monitors=(StopAbove(2.0), StopAfterPeak(5)))
    with pytest.raises(ValueError, match="at most one"):
        RunConfig(eig_every=10, monitors=(StopAbove(1.0), StopAbove(2.0)))
    with pytest.raises(ValueError, match="window"):
        StopAfterPeak(0)
    assert config.with_monitors(StopAbove(5.0), drop=(Rotation,)).monitors == (StopAbove(5.0), StopAfterPeak(50))


def _obs(epoch, top, counted=True, accuracy=None, lr=0.5):
    vectors = np.eye(4, 2, dtype=np.float32)
    return Observation(epoch, np.array([top, top / 2]), vectors, lr, counted, accuracy)


def test_stop_rules_watch_the_counted_evaluations_only():
    peak, above = StopAfterPeak(20), StopAbove(8.0)
    sp, sa = peak.init(), above.init()
    stops = []
    for e, top, counted in [(0, 9.0, False), (10, 5.0, True), (20, 6.0, True), (30, 5.0, True), (40, 5.5, True)]:
        sp, p = peak.observe(sp, _obs(e, top, counted))
        sa, a = above.observe(sa, _obs(e, top, counted))
        stops.append((p, a))
    # 9.0 before the reduction counts for neither; the peak 6.0 at 20 has held 20 epochs at 40
    assert stops == [(False, False)] * 4 + [(True, False)]
    assert peak.final(sp, None) == {"peaked": True} and above.final(sa, None) == {"above": False}
    sa, a = above.observe(sa, _obs(50, 8.0))
    assert a and above.final(sa, None) == {"above": True}


def test_rotation_anchors_and_its_accuracy_trigger():
    rot = Rotation(2, accuracy=0.9, at_accuracy=True)
    s = rot.init()
    assert rot.pending(s) and not rot.wants_solve(s, 0.5) and rot.wants_solve(s, 0.9)
    s, stop = rot.observe(s, _obs(10, 3.0, accuracy=0.5))  # 3.0 >= 2/0.5 = 4? no
    assert not stop and s == {"rho": None, "rho_eos": None}
    s, _ = rot.observe(s, _obs(20, 4.0, accuracy=0.95))
    assert s["rho"][0] == 20 and s["rho_eos"][0] == 20 and not rot.pending(s)
    end = Eigenpairs(np.ones(2), np.eye(4, 2), np.zeros(2), 0, True, 0.0)
    out = rot.final(s, end)
    assert out == {"rho": pytest.approx(1.0), "rho_epoch": 20, "rho_eos": pytest.approx(1.0), "rho_eos_epoch": 20}
    turned = Eigenpairs(np.ones(2), np.eye(4, 2, k=-2), np.zeros(2), 0, True, 0.0)
    assert rot.final(s, turned)["rho"] == pytest.approx(0.0, abs=1e-7)
    assert rot.final(rot.init(), None) == {}
    assert not Rotation(2).pending(Rotation(2).init())  # without at_accuracy it waits for the schedule


def test_a_recorder_pickled_before_monitors_were_objects_resumes_with_the_same_decisions():
    """tests/data/recorders_before_monitors.pkl: three recorders pickled by the code before this
    change (9f86351) after four solves (ρ anchors at accuracy; peak and above rules across a
    reduction; none), two more solves, and what that code decided on them."""
    saved = pickle.loads((Path(__file__).parent / "data" / "recorders_before_monitors.pkl").read_bytes())
    for recorder, key, expected in zip(saved["recorders"], saved["keys"], saved["expected"]):
        assert recorder.config.key() == key and len(recorder.rows["epoch"]) == 4
        reduced = bool(np.isfinite(recorder.config.schedule.reduce_epoch))
        stops = [recorder.observe(p, 40 + 10 * i, reduced, 0.99) for i, p in enumerate(saved["future"])]
        final = {}
        for m, s in zip(recorder.config.monitors, recorder.states):
            final.update(m.final(s, None))
        assert stops == expected["stops"]
        assert (final.get("peaked", False), final.get("above", False)) == (expected["peaked"], expected["above"])
        rotation = recorder.config.monitor(Rotation)
        if rotation is not None:
            state = recorder.states[recorder.config.monitors.index(rotation)]
            assert {k: v[0] for k, v in state.items()} == expected["anchor_epochs"]


def test_configs_of_every_kind_round_trip():
    for monitors in [(), (Rotation(3),), (StopAfterPeak(30), StopAbove(10.0))]:
        config = RunConfig(eig_every=5, eig_k=3, schedule=schedules.reduce_at_epoch(0.5, 0.1, 20), monitors=monitors)
        assert RunConfig.from_dict(config.to_dict()) == config
        assert pickle.loads(pickle.dumps(config)) == config

"""``tools/migrate_trainer.py``: which records of trainer version 1 version 2 (the dead-network
stop) cannot have changed, and what a carried record states; every committed record is current."""

import json
import sys
from pathlib import Path

import pytest

from eoslib.results import STORE_ROOT
from eoslib.runs import TRAINER_VERSION, RunConfig

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import migrate_trainer  # noqa: E402


def _run(completed=False, diverged=False, sharpness=1.0):
    config = RunConfig(n_train=128, max_epochs=100, trainer_version=1).to_dict()
    return {"key": "old", "config": config, "diverged": diverged, "provenance": {},
            "final": {"completed": completed, "epochs": 100, "sharpness": sharpness}}


def test_only_runs_that_cannot_have_frozen_are_carried_over():
    assert migrate_trainer.unchanged(_run(completed=True, sharpness=0.0))  # a frozen run never completes
    assert migrate_trainer.unchanged(_run(diverged=True, sharpness=float("nan")))
    assert migrate_trainer.unchanged(_run(sharpness=0.5))  # capped, alive at its end
    assert not migrate_trainer.unchanged(_run(sharpness=1e-4))  # capped, (all but) dead: recomputed
    series = lambda last: {"sharpness": [3.0, 5.0, last, float("nan")]}  # noqa: E731
    assert migrate_trainer.unchanged({"kind": "rotations-seed", "value": series(4.0)})
    assert not migrate_trainer.unchanged({"kind": "drivers-study", "value": series(0.0)})
    assert migrate_trainer.unchanged({"kind": "initial-sharpness", "value": {}})
    assert not migrate_trainer.unchanged({"kind": "something-new", "value": series(4.0)})


def test_a_carried_record_states_the_new_version_and_its_key():
    old = _run(completed=True)
    new = migrate_trainer.carry(old)
    assert old["config"]["trainer_version"] == 1 and "frozen" not in old["final"]  # not edited in place
    config = RunConfig.from_dict(new["config"])
    assert config.trainer_version == TRAINER_VERSION and new["key"] == config.key()
    assert new["final"]["frozen"] is False and new["final"]["dead_layer"] is None
    assert new["provenance"]["carried_from_trainer_version"] == 1


@pytest.mark.skipif(not STORE_ROOT.is_dir(), reason="no committed stores")
def test_every_committed_record_is_of_todays_trainer():
    old = []
    for path in STORE_ROOT.glob("*/*.json"):
        record = json.loads(path.read_text())
        version = (record.get("config") or record.get("spec"))["trainer_version"]
        if version != TRAINER_VERSION or path.stem != record["key"]:
            old.append(path.name)
    assert not old, f"{len(old)} records of another trainer version or misnamed: {old[:3]}"

"""Carry the records of ``TRAINER_VERSION`` 1 that version 2 cannot have changed over to version 2;
remove the others, to be recomputed.

    python tools/migrate_trainer.py store/*                     # carry over, remove, report
    python tools/migrate_trainer.py --recompute store/fmnist-generalization   # ... then recompute
                                                                # the removed runs (vmapped sweeps)

Version 2 changes one thing (``eoslib.gd``): a run stops at an exactly zero gradient (frozen, a
fixed point of GD; a dead network) instead of standing still until ``max_epochs``. Stopping
there changes nothing before that epoch, so a run that never reached an exactly zero gradient is
the same under both versions, epoch for epoch and bit for bit. Which records show that:

* a run record that completed or diverged: a frozen run can do neither afterwards (its
  parameters, hence its loss and accuracy, no longer change), so it never froze before its end;
* a run record that stopped at ``max_epochs`` with top Hessian eigenvalue S ≥
  ``eoslib.grid.DEAD_SHARPNESS`` at its end: its last parameters are not those of a
  dead network (whose Hessian vanishes), and an exactly zero float32 gradient of the
  cross-entropy or squared loss elsewhere would need every example fitted exactly (completed);
* ``initial-sharpness`` and ``your-model-study`` computations: no run of ``eoslib.gd`` inside
  (S(θ_0); ``eoslib.diagnostics.train``);
* ``rotations-seed``, ``flattening-cycle`` and ``drivers-study`` computations whose main run ends
  with S ≥ ``DEAD_SHARPNESS`` (the runs they start from its snapshots are short and at the
  same or a smaller rate).

Each carried record gets ``trainer_version`` 2 in its config or spec (a new key: the file is
renamed), ``final["frozen"] = False`` and ``final["dead_layer"] = None`` (run records), and
``provenance["carried_from_trainer_version"] = 1``. Every other record of version 1 (the dead
networks of the old rule, :func:`eoslib.grid.dead`) is removed; ``--recompute``
trains the removed runs again with today's trainer. CI re-runs sampled records of every store,
carried ones included (``tests/test_store.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from eoslib import sweep
from eoslib.chapters.generalization import experiment as generalization
from eoslib.results import ResultsStore, spec_key
from eoslib.runs import TRAINER_VERSION, RunConfig

FROM = 1
NO_RUN = ("initial-sharpness", "your-model-study")
MAIN_RUN = ("rotations-seed", "flattening-cycle", "drivers-study")


def _final_sharpness(value: dict) -> float:
    """The last finite entry of a computation's ``sharpness`` series (its main run's S)."""
    series = value["sharpness"]
    data = series["data"] if isinstance(series, dict) else series
    finite = [float(x) for x in data if x is not None and math.isfinite(float(x))]
    return finite[-1] if finite else float("nan")


def unchanged(record: dict) -> bool:
    """True when version 2 of the trainer gives this version-1 record unchanged (module
    docstring)."""
    if "config" in record:
        return not generalization.dead(record)
    if record["kind"] in NO_RUN:
        return True
    if record["kind"] in MAIN_RUN:
        return _final_sharpness(record["value"]) >= generalization.DEAD_SHARPNESS
    return False


def carry(record: dict) -> dict:
    """The record as version 2 states it (module docstring); its key is recomputed."""
    out = json.loads(json.dumps(record))
    out.setdefault("provenance", {})["carried_from_trainer_version"] = FROM
    if "config" in out:
        out["config"]["trainer_version"] = TRAINER_VERSION
        out["final"].update(frozen=False, dead_layer=None)
        config = RunConfig.from_dict(out["config"])
        assert config.to_dict() == out["config"], "the config must round-trip"
        out["key"] = config.key()
    else:
        out["spec"]["trainer_version"] = TRAINER_VERSION
        out["key"] = spec_key({"kind": out["kind"], **out["spec"]})
    return out


def migrate(folder: Path) -> list[RunConfig]:
    """Carry over or remove every version-1 record of ``folder``; returns the removed run
    configs as version 2 states them (to recompute)."""
    removed, carried = [], 0
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        version = (record.get("config") or record.get("spec") or {}).get("trainer_version")
        if version != FROM:
            continue
        npz = path.with_suffix(".npz")
        if unchanged(record):
            new = carry(record)
            if npz.exists():
                npz.rename(folder / f"{new['key']}.npz")
                new["arrays_file"] = f"{new['key']}.npz"
            ResultsStore(folder, compact_points=None).put(new)  # as stored: already compact
            carried += 1
        elif "config" in record:
            config = dict(record["config"], trainer_version=TRAINER_VERSION)
            removed.append(RunConfig.from_dict(config))
            npz.unlink(missing_ok=True)
        else:
            print(f"{path}: a {record['kind']} record whose run may have frozen: left as it is (stale)")
            continue
        path.unlink()
    print(f"{folder}: {carried} carried over, {len(removed)} removed")
    return removed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stores", nargs="+", type=Path)
    parser.add_argument("--recompute", action="store_true", help="train the removed runs again")
    args = parser.parse_args()
    if TRAINER_VERSION != FROM + 1:
        raise SystemExit(f"this migrates version {FROM} to {FROM + 1}; the trainer is at {TRAINER_VERSION}")
    for folder in args.stores:
        removed = migrate(folder)
        if args.recompute and removed:
            sweep.sweep(removed, ResultsStore(folder, compact_points=200), progress=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Recompute every record of the committed stores from scratch, into a scratch folder, and report
whether each one reproduces (``make reproduce-stores``; not part of ``make test``).

    python tools/reproduce_stores.py                                  # every store, into results/reproduce/
    python tools/reproduce_stores.py --stores rotations,flattening --root /tmp/again

Run records (``fmnist-generalization``, ``cifar-generalization``, ``flattening-switch``): the
store's configs are swept again (:func:`eoslib.sweep.sweep`, vmapped as a fill does) into
``<root>/<store>/`` and each new record is compared with the committed one by
:func:`eoslib.verification.verify` (the rules of ``tests/test_store.py``, whole runs; peers: the
committed seeds of its learning rate). Computation records: each is recomputed from its spec by
its chapter's ``compute`` and compared with the stored value: reproduced when every field but
the timings (``*_seconds``) is identical, bit for bit (same machine and code), else the stored
record's ``reverify`` problems and the fields that differ.

Chapter 8's ``your-model`` records are recomputed whole and compared the same way.

Prints one line per record and a summary with the wall time of each store. Exit status 1 when a
record does not reproduce.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from eoslib import data, sweep, verification
from eoslib.chapters.drivers import experiment as drivers
from eoslib.chapters.flattening import experiment as flattening
from eoslib.chapters.initialization import experiment as init_study
from eoslib.chapters.rotations import experiment as rotations
from eoslib.chapters.your_model import experiment as your_model
from eoslib.results import STORE_ROOT, ResultsStore, open_store, pack
from eoslib.runs import RunConfig

COMPUTATIONS = {rotations.STORE: rotations, flattening.STORE: flattening, drivers.STORE: drivers}


def _peers(record: dict, everyone: list[dict]) -> list[dict]:
    c = record["config"]
    return [r for r in everyone if r["key"] != record["key"] and r["config"]["schedule"] == c["schedule"]
            and r["config"]["n_train"] == c["n_train"]]


def reproduce_runs(name: str, root: Path) -> list[tuple[str, list[str]]]:
    """Sweep the configs of run store ``name`` again into ``root/name``; problems per record."""
    committed = list(open_store(name).records())
    fresh = ResultsStore(root / name, compact_points=open_store(name).compact_points)
    configs = [RunConfig.from_dict(r["config"]) for r in committed]
    again = sweep.sweep(configs, fresh, progress=True)
    return [(r["key"], verification.verify(r, a, _peers(r, committed))) for r, a in zip(committed, again)]


def reproduce_computations(name: str, root: Path) -> list[tuple[str, list[str]]]:
    """Recompute every record of computation store ``name``; problems per record (none when the
    value is identical, else the stored record's ``reverify`` problems and the differing fields)."""
    module, out = COMPUTATIONS[name], []
    fresh = ResultsStore(root / name)
    for record in open_store(name).records():
        P = record["spec"]["parameters"]
        split = data.load("fmnist", P["n_train"], P["n_eval"])
        value = json.loads(json.dumps(module.compute(record["spec"], split)))
        fresh.put({**record, "value": value})
        differ = [k for k in value if not k.endswith("_seconds") and value[k] != record["value"].get(k)]
        problems = [] if not differ else module.reverify(record, split) + [f"fields differ: {differ}"]
        out.append((record["key"], problems))
    return out


def reproduce_initialization(name: str, root: Path) -> list[tuple[str, list[str]]]:
    """Recompute S(θ_0) of every record of the ``initialization`` store (``root`` unused: the
    values are compared in memory); problems per record (:func:`eoslib.chapters.initialization.experiment.reverify`)."""
    out = []
    for record in open_store(name).records():
        c = record["spec"]["config"]
        out.append((record["key"], init_study.reverify(record, data.load(c["dataset"], c["n_train"], c["n_eval"]))))
    return out


def reproduce_your_model(name: str, root: Path) -> list[tuple[str, list[str]]]:
    """Recompute every record of chapter 8's store (``root`` unused); problems per record: none
    when every series is identical (the timings ``gd_s``, ``adam_s`` aside), else
    :func:`eoslib.chapters.your_model.experiment.reverify`'s problems and the runs that differ."""
    out = []
    for record in open_store(name).records():
        value = json.loads(json.dumps(pack(your_model.run_study(record["spec"]["parameters"]))))
        differ = [k for k in value if not k.endswith("_s") and value[k] != record["value"].get(k)]
        out.append((record["key"], [] if not differ else your_model.reverify(record) + [f"fields differ: {differ}"]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    stores = sorted(p.name for p in STORE_ROOT.iterdir() if p.is_dir())
    parser.add_argument("--stores", default=",".join(stores), help=f"comma-separated, of {stores}")
    parser.add_argument("--root", type=Path, default=Path("results/reproduce"), help="scratch folder")
    args = parser.parse_args()
    failed, times = 0, {}
    for name in args.stores.split(","):
        start = time.perf_counter()
        reproduce = (reproduce_initialization if name == "initialization"
                     else reproduce_your_model if name == your_model.STORE
                     else reproduce_computations if name in COMPUTATIONS else reproduce_runs)
        results = reproduce(name, args.root)
        times[name] = time.perf_counter() - start
        for key, problems in results:
            print(f"{name} {key[:12]}: {'reproduced' if not problems else problems}", flush=True)
        failed += sum(bool(p) for _, p in results)
        print(f"{name}: {len(results)} records, {sum(not p for _, p in results)} reproduced, "
              f"in {times[name]:.0f} s", flush=True)
    print(f"total: {failed} records do not reproduce; wall time {sum(times.values()):.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Give every record of a store a new key field with the value its computation already had, and
re-key it.

    python tools/migrate_store.py eig_check=legacy store/fmnist-generalization store/rotations ...

When a field that decides results joins a key (``RunConfig.eig_check``, a chapter's
``eig_check`` parameter), every record made before it existed was made with one value of it
(here the fixed 8-step check, ``"legacy"``). This writes that value into each record's config
(run records) or into its spec's ``parameters`` / ``config`` (computation records), so that each
record states it, and renames the record (and its ``.npz``) to its new key. A record's old key
must be the key of its unchanged config or spec (else it is left alone and reported); a record
that already has the field is left as it is. Nothing is recomputed: the results are the same.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from eoslib.results import spec_key
from eoslib.runs import RunConfig


def _canonical_key(config: dict) -> str:
    """:meth:`RunConfig.key` of a stored config dict (the stored dict is ``to_dict()``)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _new_key(record: dict, field: str, value) -> tuple[str, str] | None:
    """``(old key recomputed, new key)`` after setting ``field`` in ``record`` (in place), or
    None when the record already has it."""
    if "config" in record:  # a run record, keyed by its config
        if field in record["config"]:
            return None
        before = _canonical_key(record["config"])
        record["config"][field] = value
        config = RunConfig.from_dict(record["config"])
        if config.to_dict() != record["config"]:
            raise ValueError(f"{record['key']}: its config does not round-trip through RunConfig")
        return before, config.key()
    spec, kind = record["spec"], record["kind"]
    target = spec["parameters"] if "parameters" in spec else spec["config"]
    if field in target:
        return None
    before = spec_key({"kind": kind, **spec})
    target[field] = value
    return before, spec_key({"kind": kind, **spec})


def migrate(folder: Path, field: str, value) -> tuple[int, int, list[str]]:
    """Migrate every record of ``folder``: ``(migrated, already, problems)``."""
    moved, already, problems = 0, 0, []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        keys = _new_key(record, field, value)
        if keys is None:
            already += 1
            continue
        before, after = keys
        if not before == record["key"] == path.stem:
            problems.append(f"{path}: its key is not its config's ({before}); left alone")
            continue
        record["key"] = after
        (folder / f"{after}.json").write_text(json.dumps(record, sort_keys=True, indent=1))  # as the store writes
        if (folder / f"{path.stem}.npz").exists():
            (folder / f"{path.stem}.npz").rename(folder / f"{after}.npz")
        if after != path.stem:
            path.unlink()
        moved += 1
    return moved, already, problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment", help="FIELD=VALUE (VALUE is JSON, or a plain string)")
    p.add_argument("folders", nargs="+", type=Path)
    a = p.parse_args()
    field, _, raw = a.assignment.partition("=")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    bad = 0
    for folder in a.folders:
        moved, already, problems = migrate(folder, field, value)
        print(f"{folder}: {moved} re-keyed, {already} already had {field}")
        for line in problems:
            print("  " + line)
        bad += len(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""A results store: one JSON record per finished run, keyed by the hash of its config.

Layout: ``<root>/<key>.json`` with ``key = RunConfig.key()`` (SHA-256 of the canonical JSON of
the config), plus ``<root>/<key>.npz`` for large arrays (Hessian eigenvectors, only when the
config asks to keep them). Files are written atomically (temporary file, then ``os.replace``;
the ``.npz`` before the ``.json``), so a run killed at any moment leaves either a complete
record or none. A record holds: ``schema`` (:data:`SCHEMA_VERSION`), ``key``, ``config``
(which includes the trainer version, so a record made by an older trainer has another key),
``history`` (per-epoch metrics, lists; a *compact* record, :func:`compact`, keeps at most
about 200 epochs, listed in ``history["epoch"]``, and says ``"compact": true``),
``eigen`` (recorded Hessian eigenvalues, residuals, HVP counts per recorded epoch), ``final``
(last metrics, epochs, completion, sharpness), ``diverged``, ``wall_time_s``, ``provenance``
(device, versions, git commit, execution plan) and free-form ``extra`` fields.

A *computation record* (:func:`make_computation`, :func:`computed`) stores the result of a
longer analysis that is not one run (a chapter's seed with its reruns and similarities, a
landscape study): ``kind``, ``spec`` (every input that decides it, with the code versions) and
``value``, under the key :func:`spec_key` of kind and spec; the same store, atomic writes and
provenance. ``store/README.md`` gives each kind's schema.

:func:`summary_table` and :func:`history_table` flatten records into tidy rows (one per run,
or one per run and epoch); :func:`columns` turns rows into numpy columns for plotting.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm  # text bar: tqdm.auto warns in notebooks without ipywidgets

from eoslib.provenance import provenance

__all__ = ["ResultsStore", "make_record", "default_root", "summary_table", "history_table",
           "columns", "SCHEMA_VERSION", "downsample_indices", "compact", "STORE_ROOT", "open_store",
           "spec_key", "make_computation", "computed", "pack", "unpack"]

SCHEMA_VERSION = 2  # of the record layout below; a record of another version is never read as current

_REPO = Path(__file__).resolve().parent.parent
STORE_ROOT = _REPO / "store"  # the committed stores, one folder per kind of record (store/README.md)


RESULTS_ENV = "EOSLIB_RESULTS_DIR"


def default_root() -> Path:
    """The scratch results folder: ``$EOSLIB_RESULTS_DIR`` if set (the smoke tests point it at a
    temporary folder, so that they compute what they exercise), else ``results/`` at the
    repository root (git-ignored), else in the working directory."""
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV])
    return (_REPO if (_REPO / ".git").exists() else Path.cwd()) / "results"


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


class ResultsStore:
    """A folder of records keyed by config hash (see the module docstring)."""

    def __init__(self, root: str | os.PathLike | None = None, *, compact_points: int | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.compact_points = compact_points  # records are put compact (:func:`compact`) if set

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def remove_partial_writes(self) -> int:
        """Delete temporary files left by a writer killed mid-write (never a finished record);
        call when (re)starting the only writer of the store. Returns how many were removed."""
        stale = list(self.root.glob(".*.tmp")) if self.root.is_dir() else []
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.json")) if self.root.is_dir() else []

    def get(self, key: str, *, arrays: bool = False) -> dict:
        """The record ``key``; with ``arrays`` also its ``.npz`` arrays under ``"arrays"``."""
        record = json.loads(self.path(key).read_text())
        if arrays and record.get("arrays_file"):
            with np.load(self.root / record["arrays_file"]) as npz:
                record["arrays"] = {name: npz[name] for name in npz.files}
        return record

    def records(self) -> Iterator[dict]:
        """All records, in key order (without their ``.npz`` arrays)."""
        return (self.get(key) for key in self.keys())

    def put(self, record: dict, arrays: dict[str, np.ndarray] | None = None) -> Path:
        """Write ``record`` (and ``arrays`` to ``<key>.npz``) atomically; returns the path."""
        key = record["key"]
        if self.compact_points and "history" in record:  # run records only
            record = compact(record, self.compact_points)
        if arrays:
            record = {**record, "arrays_file": f"{key}.npz"}
            _atomic_write(self.root / f"{key}.npz", lambda f: np.savez(f, **arrays))
        text = json.dumps(_jsonable(record), sort_keys=True, indent=1)
        _atomic_write(self.path(key), lambda f: f.write(text.encode()))
        return self.path(key)


def make_record(config, history: dict, eigen: dict, final: dict, diverged: bool,
                wall_time_s: float, *, execution: dict | None = None, **extra) -> dict:
    """A JSON-ready record of one finished run of ``config`` (a :class:`eoslib.runs.RunConfig`;
    eigenvectors excluded: see :func:`eoslib.runs.save_run`); ``execution``, the run's
    :class:`eoslib.execution.ExecutionPlan` as a dict, goes into its provenance."""
    return _jsonable({
        "schema": SCHEMA_VERSION,
        "key": config.key(),
        "config": config.to_dict(),
        "history": history,
        "eigen": {k: v for k, v in eigen.items() if k != "vectors"},
        "final": final,
        "diverged": bool(diverged),
        "wall_time_s": float(wall_time_s),
        "provenance": {**provenance(), "execution": execution},
        "extra": extra,
    })


def open_store(name: str, where: str | None = None, *, profile: str | None = None,
               compact_points: int | None = None) -> ResultsStore:
    """The store ``name`` for a chapter: ``where`` = ``"committed"`` (``store/<name>/``, the
    repository's, what the book shows), ``"local"`` (``results/<name>/``, git-ignored: a scratch
    store for runs with other parameters), or a folder path with a ``/`` (``<path>/<name>/``;
anything else raises at once, so a misspelt name never becomes a folder); None: local
    for the ``tiny`` profile (smoke tests never write to the repository), else committed."""
    if where is None:
        where = "local" if profile == "tiny" else "committed"
    if where == "committed":
        root = STORE_ROOT
    elif where == "local":
        root = default_root()
    elif isinstance(where, os.PathLike) or "/" in str(where):
        root = Path(where)
    else:
        raise ValueError(f"store must be 'committed', 'local' or a folder path (with a '/'), not {where!r}")
    return ResultsStore(root / name, compact_points=compact_points)


def spec_key(spec: dict) -> str:
    """SHA-256 of the canonical JSON of ``spec`` (keys sorted, no spaces): the key of a
    computation record, as :meth:`eoslib.runs.RunConfig.key` is a run record's."""
    text = json.dumps(_jsonable(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def make_computation(kind: str, spec: dict, value: dict, wall_time_s: float) -> dict:
    """A JSON-ready *computation record*: the ``value`` (JSON-ready, arrays as lists) of one
    computation of ``kind`` determined by ``spec`` (every input that decides it, including the
    code versions that made it), keyed by :func:`spec_key` of ``{"kind": kind, **spec}``."""
    return _jsonable({
        "schema": SCHEMA_VERSION,
        "key": spec_key({"kind": kind, **spec}),
        "kind": kind,
        "spec": spec,
        "value": value,
        "wall_time_s": float(wall_time_s),
        "provenance": provenance(),
    })


def computed(store: ResultsStore, kind: str, specs: Sequence[dict], compute: Callable[[dict], dict], *,
             progress: bool = False, unit: str = "record") -> list[dict]:
    """The computation records of ``kind`` for ``specs``, in order: read from ``store`` when
    there, else made by ``compute(spec)`` (which returns the record's ``value``) and written
    back at once, so that an interrupted fill resumes. A bar (stderr) counts the missing ones."""
    keys = [spec_key({"kind": kind, **spec}) for spec in specs]
    missing = [i for i, key in enumerate(keys) if key not in store]
    bar = tqdm(total=len(missing), disable=not (progress and missing), unit=unit)
    for i in missing:
        start = time.perf_counter()
        value = compute(specs[i])
        store.put(make_computation(kind, specs[i], value, time.perf_counter() - start))
        bar.update()
    bar.close()
    return [store.get(key) for key in keys]


def pack(obj):
    """``obj`` as JSON-ready values that :func:`unpack` restores exactly: arrays (numpy or JAX)
    keep dtype and shape (``{"__array__": dtype, "shape", "data"}``), NamedTuples their type
    name (``"__type__"``), dicts with non-string keys their items (``"__items__"``)."""
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return {"__type__": type(obj).__name__, **{f: pack(getattr(obj, f)) for f in obj._fields}}
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array__") and not isinstance(obj, np.generic):
        a = np.asarray(obj)
        return {"__array__": a.dtype.str, "shape": list(a.shape), "data": a.ravel().tolist()}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: pack(v) for k, v in obj.items()}
        return {"__items__": [[pack(k), pack(v)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [pack(v) for v in obj]
    return obj.item() if isinstance(obj, np.generic) else obj


def unpack(obj, types: Sequence[type] = ()):
    """The inverse of :func:`pack`; ``types``: the NamedTuple classes it may meet."""
    by_name = {t.__name__: t for t in types}

    def go(o):
        if isinstance(o, list):
            return [go(v) for v in o]
        if not isinstance(o, dict):
            return o
        if "__array__" in o:
            return np.asarray(o["data"], dtype=np.dtype(o["__array__"])).reshape(o["shape"])
        if "__items__" in o:
            return {go(k): go(v) for k, v in o["__items__"]}
        if "__type__" in o:
            return by_name[o["__type__"]](**{k: go(v) for k, v in o.items() if k != "__type__"})
        return {k: go(v) for k, v in o.items()}

    return go(obj)


def downsample_indices(length: int, max_points: int = 200) -> np.ndarray:
    """At most ``max_points`` sorted indices into a series of ``length``: half spaced
    geometrically (dense at the start, where runs differ least and a re-run is compared most
    closely), half evenly, always with the first and the last."""
    if length <= max_points:
        return np.arange(length)
    half = max_points // 2
    geo = np.geomspace(1, length - 1, half).round().astype(int)
    even = np.linspace(0, length - 1, max_points - half).round().astype(int)
    idx = np.unique(np.concatenate([[0, length - 1], geo, even]))
    while idx.size > max_points:  # rounding collisions are rare; drop from the even part
        idx = np.delete(idx, np.argmin(np.diff(idx)) + 1)
    return idx


def compact(record: dict, max_points: int = 200) -> dict:
    """``record`` with its per-epoch history downsampled (:func:`downsample_indices`) and the
    kept epochs under ``history["epoch"]``; eigen records are kept whole if at most
    ``max_points``, else downsampled the same way. Idempotent."""
    if record.get("compact"):
        return record
    history = record["history"]
    length = len(next(iter(history.values()))) if history else 0
    idx = downsample_indices(length, max_points)
    new_history = {"epoch": idx.tolist(), **{k: [v[i] for i in idx] for k, v in history.items()}}
    eigen = record["eigen"]
    rows = len(eigen.get("epoch", []))
    if rows > max_points:
        keep = downsample_indices(rows, max_points)
        eigen = {k: [v[i] for i in keep] for k, v in eigen.items()}
    return {**record, "history": new_history, "eigen": eigen, "compact": True}


def _flat(prefix: str, d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(f"{prefix}{k}_", v))
        else:
            out[f"{prefix}{k}"] = v
    return out


def summary_table(records: Iterable[dict]) -> list[dict]:
    """One row per run: ``key``, config fields (``schedule_lr``, ...), ``final_*`` metrics,
    ``diverged`` and ``wall_time_s``."""
    return [{"key": r["key"], **_flat("", r["config"]), **_flat("final_", r["final"]),
             "diverged": r["diverged"], "wall_time_s": r["wall_time_s"]} for r in records]


def history_table(records: Iterable[dict], config_fields=("model", "seed", "schedule_lr")) -> list[dict]:
    """One row per run and epoch: ``key``, the chosen config fields, ``epoch`` and metrics."""
    rows = []
    for r in records:
        cfg = _flat("", r["config"])
        head = {"key": r["key"], **{f: cfg[f] for f in config_fields}}
        names = [n for n in r["history"] if n != "epoch"]
        epochs = r["history"].get("epoch", range(len(r["history"][names[0]]) if names else 0))
        for epoch, values in zip(epochs, zip(*(r["history"][n] for n in names))):
            rows.append({**head, "epoch": int(epoch), **dict(zip(names, values))})
    return rows


def columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Tidy rows -> ``{column: array}`` (numpy infers each column's dtype)."""
    return {name: np.asarray([row.get(name) for row in rows]) for name in (rows[0] if rows else {})}

"""Re-verification of stored records: re-run a record's config here and compare (CI samples a
few records of every committed store, ``tests/test_store.py``).

What must agree (the tolerances and the measurements that calibrate them: ``store/README.md``,
"Re-verification: what must agree, and how closely"):

* the record is current: its schema is :data:`eoslib.results.SCHEMA_VERSION`, its config's
  ``trainer_version`` is :data:`eoslib.runs.TRAINER_VERSION`, and its config hashes to its key;
* a run matches the re-run at every stored epoch t to ``rtol · max(1, t/1000)`` (accuracies to
  ``examples`` examples, or that relative tolerance of them), up to ``margin`` epochs before
  its sharpness (or the re-run's) first reached ``near_fraction`` · 2/η, or 5 epochs before the
  re-run's loss first rises, whichever comes first (epoch 0 always; every epoch when neither
  happens): past that the run is chaotic, whether or not S was ever recorded above 2/η
  (:func:`deterministic_until`);
* the final metrics of a run at a *regular* rate (every stored seed and the re-run completed)
  fall within the spread of its rate's seeds, widened by ``widen`` times that spread;
* a prefix re-verification (``prefix=T``, convolutional runs) compares the first T epochs only,
  up to 5 epochs before the loss first rises and, given a *probe* (the same prefix with other
  rounding), up to the last epoch at which re-run and probe agree to a tenth of the tolerance
  (:func:`rounding_horizon`).

A hand-edited record fails: an edited number either breaks the deterministic part or lands
outside the seeds' spread, and an edited config has another key than its file name.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import numpy as np

from eoslib.results import SCHEMA_VERSION, make_record, spec_key
from eoslib.runs import TRAINER_VERSION, RunConfig, train
from eoslib.sweep import run_batch

__all__ = ["INIT_RTOL", "SHARPNESS_RTOL", "first_unstable_epoch", "deterministic_until", "history_gap_series", "history_gaps", "rounding_horizon", "compared_until", "prefix_window", "verify", "rerun", "sample_keys",
           "computation_is_current", "series_window", "compare_series", "compare_run_prefix"]

_HISTORY = ("train_loss", "train_acc", "eval_loss", "eval_acc", "param_norm")
INIT_RTOL = 1e-4
"""The relative tolerance at epoch 0 (the initialization and its first evaluation), whatever
``rtol``: no step has run, and re-runs on other CPUs differ there by at most ~2e-7."""


def first_unstable_epoch(record: dict, fraction: float = 1.0) -> int | None:
    """The first recorded epoch with S ≥ fraction · 2/η (η the learning rate then), None if
    never."""
    eigen = record["eigen"]
    if not eigen.get("epoch"):
        return None
    lrs = dict(zip(record["history"].get("epoch", range(len(record["history"]["lr"]))),
                   record["history"]["lr"]))
    lr0 = record["config"]["schedule"]["lr"]
    for epoch, values in zip(eigen["epoch"], eigen["values"]):
        if values[0] >= fraction * 2.0 / lrs.get(epoch, lr0):
            return int(epoch)
    return None


def rounding_horizon(a: dict, b: dict, rtol: float) -> int:
    """The last epoch up to which records ``a`` and ``b`` (two re-runs of one config with
    different rounding) agree at every common epoch: their losses and parameter norms to
    ``rtol`` (relative) and their accuracies exactly (rounding that flips one example's class
    is already visible); the last common epoch if they never part, -1 if they differ at
    epoch 0."""
    ha, hb = ({name: dict(zip(r["history"].get("epoch", range(len(r["history"][name]))), r["history"][name]))
               for name in _HISTORY if name in r["history"]} for r in (a, b))
    names = [n for n in _HISTORY if n in ha and n in hb]
    common = sorted(set.intersection(*(set(ha[n]) & set(hb[n]) for n in names))) if names else []
    for epoch in common:
        for name in names:
            x, y = ha[name][epoch], hb[name][epoch]
            if (x != y) if name.endswith("acc") else abs(x - y) > rtol * max(abs(x), abs(y)):
                return epoch - 1
    return common[-1] if common else -1


def compared_until(rerun: dict, prefix: int, probe: dict | None = None, rtol: float = 5e-3) -> int:
    """The last epoch a prefix re-verification compares (module docstring): at most ``prefix``,
    5 epochs before the re-run's loss first rises, and, with a ``probe``, its
    :func:`rounding_horizon` with the re-run at ``rtol / 10``; never before epoch 0."""
    loss = np.asarray(rerun["history"]["train_loss"])
    rises = np.nonzero(loss[1:] > loss[:-1])[0]
    last = min(prefix, int(rises[0]) - 5) if rises.size else prefix
    if probe is not None:
        last = min(last, rounding_horizon(rerun, probe, rtol / 10))
    return max(0, last)


def prefix_window(stored: dict, rerun: dict, prefix: int, probe: dict | None = None, *, rtol: float = 5e-3,
                  margin: int = 50, near_fraction: float = 0.8) -> int:
    """The last epoch a prefix re-verification of ``stored`` compares: :func:`compared_until`,
    and without a probe, ``margin`` epochs before the stored sharpness first reached
    ``near_fraction`` · 2/η (module docstring)."""
    last = compared_until(rerun, prefix, probe, rtol)
    near = first_unstable_epoch(stored, near_fraction)
    if probe is None and near is not None:
        last = max(0, min(last, near - margin))
    return last


def _history_at(record: dict) -> dict:
    h = record["history"]
    epochs = h.get("epoch", range(len(h["train_loss"])))
    return {name: dict(zip(epochs, h[name])) for name in _HISTORY}


def verify(stored: dict, rerun: dict, peers: Sequence[dict] = (), *, rtol: float = 5e-3,
           examples: int = 3, margin: int = 50, near_fraction: float = 0.8,
           widen: float = 3.0, prefix: int | None = None, probe: dict | None = None) -> list[str]:
    """Problems found comparing ``stored`` with ``rerun`` (a record of the same config made
    here, or of its first ``prefix`` epochs), given the stored ``peers`` (the other seeds of its
    learning rate) and, for a prefix, a ``probe`` (the prefix re-run with other rounding:
    :func:`compared_until`); empty when the record is verified (module docstring)."""
    problems = []
    if stored.get("schema") != SCHEMA_VERSION:
        problems.append(f"schema {stored.get('schema')} is not the current {SCHEMA_VERSION}")
    config = RunConfig.from_dict(stored["config"])
    if config.trainer_version != TRAINER_VERSION:
        problems.append(f"trainer version {config.trainer_version} is not the current {TRAINER_VERSION}")
    if config.key() != stored["key"]:
        problems.append("the config does not hash to the record's key (edited config)")
    if prefix is not None:
        last = prefix_window(stored, rerun, prefix, probe, rtol=rtol, margin=margin, near_fraction=near_fraction)
        return problems + _compare_history(stored, rerun, last, rtol, examples)
    chaotic = first_unstable_epoch(rerun) is not None or first_unstable_epoch(stored) is not None
    group = (stored, *peers)
    regular = all(r["final"]["completed"] for r in (*group, rerun))  # module docstring
    if stored["diverged"] != rerun["diverged"] and not (chaotic and not regular):
        problems.append(f"diverged: stored {stored['diverged']}, re-run {rerun['diverged']}")
    last = deterministic_until(stored, rerun, margin=margin, near_fraction=near_fraction)
    problems += _compare_history(stored, rerun, last, rtol, examples)
    n_eval = stored["config"]["n_eval"]
    if regular:
        for k in ("eval_acc", "sharpness", "epochs"):
            values = [r["final"][k] for r in group if r["final"].get(k) is not None]
            b = rerun["final"].get(k)
            if not values or b is None:
                continue
            lo, hi = min(values), max(values)
            floor = 1.0 / n_eval + 1e-6 if k == "eval_acc" else 0.02 * max(abs(lo), abs(hi))
            slack = max(widen * (hi - lo), floor)
            if not lo - slack <= b <= hi + slack:
                problems.append(f"final {k}: re-run {b:.6g} outside the spread of the rate's seeds "
                                f"[{lo:.6g}, {hi:.6g}] widened by {widen:g} x its width")
    return problems


def deterministic_until(stored: dict, rerun: dict, *, margin: int = 50, near_fraction: float = 0.8) -> int | None:
    """The last epoch up to which a whole re-run must follow ``stored`` up to rounding (module
    docstring): ``margin`` epochs before either run's sharpness first reached ``near_fraction`` ·
    2/η, or 5 epochs before the re-run's loss first rose, whichever comes first; None (every
    epoch) when neither happened. Both hold whether or not S ever reached 2/η: a run that hovers
    just below the limit (S sampled every ``eig_every`` epochs at 0.997 · 2/η) is as chaotic as
    one recorded above it."""
    near = [e for e in (first_unstable_epoch(r, near_fraction) for r in (stored, rerun)) if e is not None]
    loss = np.asarray(rerun["history"]["train_loss"])  # margin: S is evaluated every eig_every epochs
    rises = np.nonzero(loss[1:] > loss[:-1])[0]  # the first loss increase: an instability
    ends = [e - margin for e in near] + ([int(_epochs(rerun)[rises[0]]) - 5] if rises.size else [])
    return max(0, min(ends)) if ends else None


def _epochs(record: dict) -> list[int]:
    h = record["history"]
    return list(h.get("epoch", range(len(h["train_loss"]))))


def history_gap_series(stored: dict, rerun: dict, last: int | None = None) -> dict[str, list[tuple[int, float]]]:
    """Per history metric, (epoch, gap) at every epoch ``stored`` and ``rerun`` share up to
    ``last`` (all if None): accuracies in examples, other values relative to the stored one (the
    data of the tolerances' calibration, ``tools/calibrate_reverification.py``)."""
    mine, theirs = _history_at(stored), _history_at(rerun)
    sizes = {"eval": stored["config"]["n_eval"], "train": stored["config"]["n_train"]}
    out = {}
    for name in _HISTORY:
        size = sizes[name.split("_")[0]] if name.endswith("acc") else None
        out[name] = [(e, abs(v - theirs[name][e]) * size if size else abs(v - theirs[name][e]) / max(abs(v), 1e-6))
                     for e, v in mine[name].items() if e in theirs[name] and (last is None or e <= last)]
    return out


def history_gaps(stored: dict, rerun: dict, last: int | None = None) -> dict[str, tuple[int, float]]:
    """The largest gap of each metric of :func:`history_gap_series` as (epoch, gap), the
    relative ones divided by their drift factor ``max(1, t/1000)`` (what ``rtol`` bounds)."""
    gaps = {}
    for name, series in history_gap_series(stored, rerun, last).items():
        scaled = [(e, g if name.endswith("acc") else g / max(1.0, e / 1000)) for e, g in series]
        gaps[name] = max(scaled, key=lambda x: x[1], default=(0, 0.0))
    return gaps


def _compare_history(stored: dict, rerun: dict, last: int | None, rtol: float, examples: int) -> list[str]:
    """The first mismatch of each history metric at the stored epochs up to ``last`` (all if
    None): values to ``rtol · max(1, t/1000)`` (:data:`INIT_RTOL` at epoch 0), accuracies to
    ``examples`` examples or that relative tolerance of them, whichever is more."""
    problems = []
    mine, theirs = _history_at(stored), _history_at(rerun)
    n_eval, n_train = stored["config"]["n_eval"], stored["config"]["n_train"]
    for name in _HISTORY:
        size = n_eval if name.startswith("eval") else n_train
        for epoch, value in mine[name].items():
            if (last is not None and epoch > last) or epoch not in theirs[name]:
                continue
            other = theirs[name][epoch]
            drift = INIT_RTOL if epoch == 0 else rtol * max(1.0, epoch / 1000)  # rounding accumulates with the steps
            if name.endswith("acc"):  # examples, or as many as the values' relative tolerance
                bad = abs(value - other) > max(examples, drift * size) / size + 1e-6
            else:
                bad = not np.isclose(value, other, rtol=drift, atol=1e-6)
            if bad:
                problems.append(f"history {name} at epoch {epoch}: stored {value:.6g}, re-run {other:.6g}")
                break
    return problems


def rerun(record: dict, *, data_dir=None, prefix: int | None = None, lanes: int = 1) -> dict:
    """A fresh record of ``record``'s config, trained here by :func:`eoslib.runs.train`; with
    ``prefix``, its first ``prefix`` epochs only, without eigensolves. ``lanes`` > 1: trained as
    one lane of a vmapped batch of that many copies (:func:`eoslib.sweep.run_batch`: other
    rounding, for a probe)."""
    config = RunConfig.from_dict(record["config"])
    if prefix is not None:
        config = dataclasses.replace(config, max_epochs=prefix, eig_every=0, monitors=(), sharpness_at_end=False)
    if lanes > 1:
        return run_batch([config] * lanes, config.load_data(data_dir), None, compact=False)[0]
    result = train(config, data_dir=data_dir, progress=False)
    return make_record(result.config, result.history, result.eigen, result.final,
                       result.diverged, result.wall_time_s, execution=result.execution)


def sample_keys(keys: Sequence[str], count: int, seed: str) -> list[str]:
    """``count`` keys drawn without replacement with a seed string (CI: the git commit, so the
    sample changes with every commit and is reproducible for each)."""
    return random.Random(seed).sample(sorted(keys), min(count, len(keys)))


def computation_is_current(record: dict, analysis_version: int) -> list[str]:
    """Problems that make a computation record (:func:`eoslib.results.make_computation`) stale
    or forged: another schema, trainer version or analysis version than today's, or a spec
    that does not hash to its key (an edited spec)."""
    problems = []
    spec = record["spec"]
    if record.get("schema") != SCHEMA_VERSION:
        problems.append(f"schema {record.get('schema')} is not the current {SCHEMA_VERSION}")
    if spec.get("trainer_version") != TRAINER_VERSION:
        problems.append(f"trainer version {spec.get('trainer_version')} is not the current {TRAINER_VERSION}")
    if spec.get("analysis_version") != analysis_version:
        problems.append(f"analysis version {spec.get('analysis_version')} is not the current {analysis_version}")
    if spec_key({"kind": record["kind"], **spec}) != record["key"]:
        problems.append("the spec does not hash to the record's key (edited spec)")
    return problems


def series_window(loss: np.ndarray, sharpness: np.ndarray, eta: float, *, near_fraction: float = 0.8,
                  margin: int = 2) -> int:
    """The last epoch at which a re-run of a run at constant ``eta`` is still deterministic up
    to rounding (module docstring): ``margin`` epochs before its sharpness (E,) first reaches
    ``near_fraction`` · 2/η, and 5 epochs before its loss (E,) first rises; never before 0."""
    loss, sharpness = np.asarray(loss), np.asarray(sharpness)
    last = len(loss) - 1
    near = np.nonzero(sharpness >= near_fraction * 2.0 / eta)[0]
    if near.size:
        last = min(last, int(near[0]) - margin)
    rises = np.nonzero(loss[1:] > loss[:-1])[0]
    if rises.size:
        last = min(last, int(rises[0]) - 5)
    return max(0, last)


def compare_series(stored: dict, rerun: dict, last: int, *, rtol: float = 5e-3) -> list[str]:
    """The first mismatch of each named per-epoch series (index = epoch) of ``stored`` against
    ``rerun`` at epochs 0..``last``, to ``rtol`` relative (atol 1e-6)."""
    problems = []
    for name, values in stored.items():
        a, b = np.asarray(values)[:last + 1], np.asarray(rerun[name])[:last + 1]
        if a.shape != b.shape:
            problems.append(f"{name}: {a.shape[0]} stored epochs up to {last}, {b.shape[0]} re-run")
            continue
        bad = np.nonzero(~np.isclose(a, b, rtol=rtol, atol=1e-6))[0]
        if bad.size:
            e = int(bad[0])
            problems.append(f"{name} at epoch {e}: stored {a[e]:.6g}, re-run {b[e]:.6g}")
    return problems


SHARPNESS_RTOL = 2e-2
"""The relative tolerance of a re-run's sharpness series in :func:`compare_run_prefix` (at least
its ``rtol``). The top eigenvalue moves more with the state than the loss does before the edge
of stability: the store/rotations records (η = 0.1, 1,000 images; made on an AMD EPYC) re-run
on another AMD EPYC (family 25, model 1, no AVX-512; 2026-12-07) matched to about 1e-7 for 8
of their 10 seeds, while for seeds 2 and 3 the loss drifted by 6.7e-5 and 4.4e-4 within the
window, and S by 8.6e-4 and 7.8e-3 (epoch 5: 6.456 stored, 6.406 re-run, both certified to
residuals below 4e-6): 2.6 times that largest gap."""


def compare_run_prefix(config: RunConfig, split, loss: np.ndarray, sharpness: np.ndarray, *, prefix: int,
                       rtol: float = 5e-3) -> tuple[list[str], int]:
    """Re-train the constant-rate run ``config`` for its first ``prefix`` epochs here (its
    eigensolves, no eigenvectors kept) and compare the stored ``loss`` and ``sharpness`` (E,)
    with it over the deterministic window (:func:`series_window`): the loss to ``rtol``, the
    sharpness to ``max(rtol, SHARPNESS_RTOL)``; returns the problems and the window's last epoch."""
    config = dataclasses.replace(config, max_epochs=min(prefix, config.max_epochs), keep_eigenvectors=False)
    run = train(config, split, progress=False)
    again = {"loss": run.history["train_loss"], "sharpness": run.eigen["values"][:, 0]}
    last = series_window(again["loss"], again["sharpness"], config.schedule.lr)
    return (compare_series({"loss": loss}, again, last, rtol=rtol)
            + compare_series({"sharpness": sharpness}, again, last, rtol=max(rtol, SHARPNESS_RTOL))), last

"""What drives an instability (Appendix G of the paper; Figures 9 and 10).

Figure 9: phases of training are separated by the turning points of ``|θ − θ*|``, the distance of
the parameters to θ*, the mean of the last W iterates (``RunConfig.mean_window``; the history's
``dist_to_mean``), while the progressive-sharpening factor α = −∇L·∇S
(:func:`eoslib.sharpening.sharpening_factor`) is computed at every epoch (:func:`alpha_series`).

Turning-point rule (:func:`turning_points`). ``|θ − θ*|`` follows the period-2 oscillation of the
edge of stability, so the rule works on its 2-epoch moving average ``m_t`` (as
:func:`eoslib.instability.detect_instabilities` does for the loss): a *maximum* is a local
maximum of ``log m`` with topographic prominence at least ``log(min_change)``; the *minimum*
between two maxima is the lowest epoch between them, and before the first (after the last)
maximum the lowest epoch there if that maximum rises ``min_change`` above it: maxima and minima
alternate. A *phase* (:func:`phases`) runs from one turning point to
the next: *growing* oscillations (minimum to maximum) or *shrinking* ones (maximum to minimum).

Figure 10 compares the interventions of :mod:`eoslib.chapters.drivers.interventions` with a stable reference by
the distance between their sharpness trajectories in gradient-flow time ``τ = Σ η``
(:func:`trajectory_distance`).

Chapter 5's run, its α series and its intervention suites are a :class:`DriversStudy`
(:func:`run_study`), kept as one computation record of kind :data:`STUDY_KIND` in a results
store (:func:`study`; the committed one is ``store/drivers/``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy.signal import find_peaks

from eoslib import data as datasets
from eoslib import instability, models, schedules, verification
from eoslib.chapters.drivers.interventions import RULES, Trajectory, intervention_suite
from eoslib.instability import CHOICES, Instability, smoothed_loss
from eoslib.objective import Batch, Objective
from eoslib.results import ResultsStore, pack, unpack
from eoslib.runs import CHECKS, RunConfig, check_of, computation_spec, prepare, states_at, study_record, train
from eoslib.sharpening import sharpening_factor

__all__ = ["PRESETS", "VALIDATORS", "turning_points", "Phase", "phases", "nearest_offsets", "fraction_near", "alpha_series",
           "trajectory_distance", "DriversStudy", "STUDY_KIND", "STORE", "VERSION", "STUDY_KEYS", "run_config",
           "run_study", "compute", "study", "reverify"]


_CI: dict[str, Any] = dict(
    eta=0.1, epochs=300, num_eigs=8, eig_tol=1e-3, min_rise=1.1, after_epochs=12, num_instabilities=3,
    choose="first", lead=20, turn_change=1.2, steps=40, ref_fraction=0.1, stabilize_fraction=0.9, n_train=1000,
    n_eval=200, weight_init="flax", eig_check="adaptive", seed=0)
PRESETS: dict[str, dict[str, Any]] = {
    "ci": _CI,
    "paper": {**_CI, "epochs": 1000, "num_eigs": 10, "num_instabilities": 0},
    "tiny": {**_CI, "epochs": 150, "num_eigs": 4, "num_instabilities": 1, "steps": 6, "ref_fraction": 0.5,
             "n_train": 500, "n_eval": 100},
}
"""Chapter 5's profiles (its parameters cell documents each value). ``ci`` intervenes on the
first three instabilities, which are the same on every x86-64 CPU (the run is chaotic after
them); ``paper`` on every instability of a 1,000-epoch run."""

VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    "eta": lambda v: None if v > 0 else "must be positive",
    "weight_init": lambda v: None if v in models.INITS else f"must be one of {models.INITS}",
    "epochs": lambda v: None if v >= 40 else "must be >= 40 (the run must reach the edge of stability)",
    "num_eigs": lambda v: None if 2 <= v <= 50 else "must be in [2, 50]",
    "eig_tol": lambda v: None if 0 < v < 0.1 else "must be in (0, 0.1)",
    "eig_check": lambda v: None if v in CHECKS else f"must be one of {tuple(CHECKS)}",
    "min_rise": lambda v: None if v > 1 else "must be > 1",
    "after_epochs": lambda v: None if v >= 0 else "must be >= 0",
    "num_instabilities": lambda v: None if v >= 0 else "must be >= 0 (0: all)",
    "choose": lambda v: None if v in CHOICES else f"must be one of {CHOICES}",
    "lead": lambda v: None if v >= 0 else "must be >= 0",
    "turn_change": lambda v: None if v > 1 else "must be > 1",
    "steps": lambda v: None if v >= 2 else "must be >= 2",
    "ref_fraction": lambda v: None if 0 < v <= 0.5 and abs(round(1 / v) * v - 1) < 1e-9 else "must be 1/n, n >= 2",
    "stabilize_fraction": lambda v: None if 0 < v < 1 else "must be in (0, 1)",
    "n_train": lambda v: None if 100 <= v <= 60000 else "must be in [100, 60000]",
    "n_eval": lambda v: None if 10 <= v <= 10000 else "must be in [10, 10000]",
}


def turning_points(distance: np.ndarray, *, min_change: float = 1.1) -> tuple[np.ndarray, np.ndarray]:
    """Epochs ``(maxima, minima)`` of the turning points of ``distance`` (T,) by the rule of the
    module docstring (epochs index the 2-epoch average ``m_t = (d_t + d_{t+1}) / 2``, i.e. the
    earlier of its two epochs)."""
    log_m = np.log(np.maximum(smoothed_loss(distance), np.finfo(float).tiny))
    prominence = np.log(min_change)
    maxima, _ = find_peaks(log_m, prominence=prominence)
    bounds = [-1, *maxima.tolist(), log_m.size]
    minima = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi - lo < 2:
            continue
        low = lo + 1 + int(np.argmin(log_m[lo + 1:hi]))
        beside = [log_m[e] for e in (lo, hi) if 0 <= e < log_m.size]  # the maxima beside it
        if beside and (len(beside) == 2 or beside[0] - log_m[low] >= prominence):
            minima.append(low)
    return maxima.astype(int), np.asarray(minima, int)


class Phase(NamedTuple):
    """Epochs ``[start, end]`` between two consecutive turning points; ``growing``: from a
    minimum to a maximum of ``|θ − θ*|``."""

    start: int
    end: int
    growing: bool


def phases(distance: np.ndarray, *, min_change: float = 1.1) -> list[Phase]:
    """The phases between consecutive turning points of ``distance`` (:func:`turning_points`)."""
    maxima, minima = turning_points(distance, min_change=min_change)
    points = sorted([(int(e), True) for e in maxima] + [(int(e), False) for e in minima])
    return [Phase(a, b, is_max) for (a, _), (b, is_max) in zip(points[:-1], points[1:])]


def nearest_offsets(events: Sequence[int], targets: Sequence[int]) -> np.ndarray:
    """Signed offsets ``event − nearest target`` (epochs) of each of ``events``; (E,)."""
    events, targets = np.asarray(events, int), np.asarray(targets, int)
    if events.size == 0 or targets.size == 0:
        return np.full(events.size, np.nan)
    gaps = events[:, None] - targets[None, :]
    return gaps[np.arange(events.size), np.abs(gaps).argmin(axis=1)].astype(float)


def fraction_near(events: Sequence[int], targets: Sequence[int], tolerance: int = 2) -> float:
    """Fraction of ``events`` (epochs) within ``± tolerance`` epochs of one of ``targets``
    (nan without events)."""
    offsets = nearest_offsets(events, targets)
    if offsets.size == 0:
        return float("nan")
    return float(np.mean(np.abs(offsets) <= tolerance))  # nan offsets (no targets) count as far


def alpha_series(objective: Objective, batch: Batch, params: Sequence, stats: Sequence,
                 top_vectors: np.ndarray) -> np.ndarray:
    """α = −∇L·∇S (Damian et al. 2023; paper Appendix G) at each of T parameter pytrees
    ``params`` with batch statistics ``stats``, from the top unit eigenvectors ``top_vectors``
    (T, d) of the training Hessian there; (T,)."""

    @jax.jit
    def one(p, s, v):
        return sharpening_factor(objective.loss_fn(s, batch), p, v)

    out = []
    for p, s, v in zip(params, stats, top_vectors):
        flat = ravel_pytree(p)[0]
        out.append(float(one(p, s, np.asarray(v, flat.dtype))))
    return np.asarray(out)


def trajectory_distance(time: np.ndarray, values: np.ndarray, ref_time: np.ndarray,
                        ref_values: np.ndarray) -> float:
    """Mean ``|S(τ) − S_ref(τ)|`` over the times ``time`` (R,) inside the reference's range, the
    reference linearly interpolated in gradient-flow time ``τ``."""
    time, values = np.asarray(time, float), np.asarray(values, float)
    inside = (time >= ref_time[0]) & (time <= ref_time[-1])
    if not inside.any():
        return float("nan")
    ref = np.interp(time[inside], np.asarray(ref_time, float), np.asarray(ref_values, float))
    return float(np.mean(np.abs(values[inside] - ref)))


class DriversStudy(NamedTuple):
    """Chapter 5's run, its α series and its intervention suites (Figures 9 and 10), without
    eigenvectors. ``loss``, ``sharpness`` (top Hessian eigenvalue), ``distance`` (|θ − θ*|,
    the history's ``dist_to_mean``) and ``num_matvecs`` (HVPs of each epoch's eigensolve) (E,)
    per epoch of the run; ``reached`` the first epoch at which S reaches 2/η, ``spikes`` the
    instabilities after it (:func:`eoslib.instability.detect_instabilities`) and ``chosen``
    those intervened on; ``window`` (W,) the epochs of Figure 9 and ``alpha`` (W,) α there
    (:func:`alpha_series`); ``starts`` the chosen instabilities' starts and ``suites`` one
    :func:`eoslib.chapters.drivers.interventions.intervention_suite` from each (rule -> ``Trajectory``, its
    final ``params`` dropped: None); times in seconds (the α time includes retracing the
    states, the suites' time retracing the starts)."""

    loss: np.ndarray
    sharpness: np.ndarray
    distance: np.ndarray
    num_matvecs: np.ndarray
    reached: int
    spikes: list
    chosen: list
    window: np.ndarray
    alpha: np.ndarray
    starts: list
    suites: list
    run_seconds: float
    alpha_seconds: float
    suite_seconds: float


STUDY_KIND = "drivers-study"
STORE = "drivers"  # the committed store's folder, store/drivers/
VERSION = 1
"""Version of :func:`run_study` (instability choice, α series, intervention suites): bump it with
any change that changes its results (the trainer has its own version)."""

STUDY_KEYS = ("eta", "epochs", "num_eigs", "eig_tol", "min_rise", "after_epochs", "num_instabilities", "choose",
              "lead", "steps", "ref_fraction", "stabilize_fraction", "n_train", "n_eval", "weight_init", "eig_check", "seed")
"""The chapter parameters that decide a :class:`DriversStudy`: all but ``turn_change``, which
only analyses it (the turning points of |θ − θ*|)."""


def run_config(P: Mapping[str, Any]) -> RunConfig:
    """The chapter's run: the MLP at constant ``eta`` with the top ``num_eigs`` eigenpairs (and
    vectors) at every epoch."""
    return RunConfig(model="mlp", weight_init=P["weight_init"], dataset="fmnist", n_train=P["n_train"], n_eval=P["n_eval"],
                     schedule=schedules.constant(P["eta"]), seed=P["seed"], max_epochs=P["epochs"], eig_every=1,
                     eig_k=P["num_eigs"], eig_tol=P["eig_tol"], eig_check=P["eig_check"], keep_eigenvectors=True,
                     sharpness_at_end=False)


def _instabilities(loss: np.ndarray, sharpness: np.ndarray,
                   P: Mapping[str, Any]) -> tuple[int, list[Instability], list[Instability]]:
    """``(reached, spikes, chosen)`` of a run's loss and sharpness (E,) (:class:`DriversStudy`)."""
    threshold = 2.0 / P["eta"]
    assert np.any(sharpness >= threshold), "S never reached 2/eta: train longer or raise eta"
    reached = int(np.argmax(sharpness >= threshold))
    spikes = instability.detect_instabilities(loss, min_rise=P["min_rise"], first_epoch=reached)
    assert spikes, "no instability after the edge of stability was reached"
    usable = [s for s in spikes if s.end <= len(loss) - 1 - P["after_epochs"]]  # chapter 2's instabilities
    chosen = instability.choose(usable, P["num_instabilities"], P["choose"])
    assert chosen, "no instability ends after_epochs before the end of the run: train longer"
    return reached, spikes, chosen


def run_study(P: Mapping[str, Any], split: datasets.Split) -> DriversStudy:
    """Compute a :class:`DriversStudy` for the chapter's parameters ``P`` (:data:`STUDY_KEYS`)."""
    config = run_config(P)
    t0 = time.perf_counter()
    main = train(config, split, progress=False)
    run_seconds = time.perf_counter() - t0
    assert not main.diverged, "the run diverged: lower eta"
    loss, sharpness, vectors = main.history["train_loss"], main.eigen["values"][:, 0], main.eigen["vectors"]
    reached, spikes, chosen = _instabilities(loss, sharpness, P)
    t0 = time.perf_counter()
    window = np.arange(max(0, reached - P["lead"]), len(loss))
    states = states_at(config, window, split)
    prep = prepare([config], split, batched=False)
    alpha = alpha_series(prep.objective, prep.train_data, [states[e].params for e in window],
                         [states[e].batch_stats for e in window], vectors[window][:, :, 0])
    alpha_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    starts = [s.start for s in chosen]
    start_states = states_at(config, starts, split)
    suites = [intervention_suite(prep.objective, start_states[s].params, start_states[s].batch_stats,
                                 prep.train_data, P["eta"], P["steps"], k=P["num_eigs"], tol=P["eig_tol"],
                                 seed_vectors=vectors[s], ref_fraction=P["ref_fraction"],
                                 fraction=P["stabilize_fraction"], check=check_of(P["eig_check"]))
              for s in starts]
    suite_seconds = time.perf_counter() - t0
    suites = [{rule: tr._replace(params=None) for rule, tr in suite.items()} for suite in suites]
    return DriversStudy(loss, sharpness, main.history["dist_to_mean"], main.eigen["num_matvecs"], reached,
                        spikes, chosen, window, alpha, starts, suites, run_seconds, alpha_seconds, suite_seconds)


def compute(spec: Mapping[str, Any], split: datasets.Split) -> dict:
    """The value of the :data:`STUDY_KIND` record of ``spec``, computed."""
    return pack(run_study(spec["parameters"], split))


def study(P: Mapping[str, Any], split: datasets.Split, store: ResultsStore, *,
          progress: bool = True) -> DriversStudy:
    """:func:`run_study`, read from ``store`` when it holds the record of kind
    :data:`STUDY_KIND` for ``P`` (keyed by :data:`STUDY_KEYS`, the trainer's and this
    analysis' versions), else computed and stored."""
    spec = computation_spec(VERSION, parameters={k: P[k] for k in STUDY_KEYS})
    return _decode(study_record(store, STUDY_KIND, spec, lambda spec: compute(spec, split), progress=progress))


def _decode(record: dict) -> DriversStudy:
    study = unpack(record["value"], (DriversStudy, Instability, Trajectory))
    order = (*RULES, "reference", "reference_half")  # intervention_suite's (the store sorts keys)
    return study._replace(suites=[{name: suite[name] for name in order} for suite in study.suites])


def reverify(record: dict, split: datasets.Split, *, prefix: int = 60, rtol: float = 5e-3) -> list[str]:
    """Problems found re-verifying a :data:`STUDY_KIND` record here (empty: verified): it is
    current (:func:`eoslib.verification.computation_is_current`); its run, re-trained for its
    first ``prefix`` epochs with the same eigensolves, matches the stored loss and sharpness up
    to the edge of stability (:func:`eoslib.verification.series_window`; chaotic after); and
    the first epoch at 2/η, the spikes, the chosen instabilities, the window and the starts,
    found again on the stored series, are the stored ones. The α series and the suites need
    the eigenvectors, which are not stored: they are checked by re-computing the whole study."""
    problems = verification.computation_is_current(record, VERSION)
    P, stored = record["spec"]["parameters"], _decode(record)
    problems += verification.compare_run_prefix(run_config(P), split, stored.loss, stored.sharpness, prefix=prefix,
                                                rtol=rtol)[0]
    reached, spikes, chosen = _instabilities(stored.loss, stored.sharpness, P)
    window = np.arange(max(0, reached - P["lead"]), len(stored.loss))
    if (reached, spikes, chosen, [s.start for s in chosen]) != (stored.reached, stored.spikes, stored.chosen,
                                                                stored.starts) \
            or not np.array_equal(window, stored.window):
        problems.append("the stored series give other instabilities than the stored ones")
    return problems

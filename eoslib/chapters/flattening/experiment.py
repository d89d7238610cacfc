"""Resolution of instabilities and progressive flattening (Section 3.3, Appendix H): the
landscape along the gradient at every epoch of a cycle, and the eventual maximum sharpness
after a learning-rate reduction (Figure 4).

Along a cycle (:func:`cycle_geometry`), at each epoch e with parameters θ_e:

* ``d_e = ∇L(θ_e) / ‖∇L(θ_e)‖``, the paper's slice direction;
* ``prev_position`` = ``(θ_{e−1} − θ_e) · d_e``, where the previous parameters sit on the slice;
* ``loss_curvature`` = ``d_eᵀ ∇²L(θ_e) d_e``, the curvature of L(θ_e + t d_e) at t = 0;
* the top eigenpairs at θ_e (re-solved to ``tol``, warm from the run's tracked ones) and the
  derivatives λ', λ'' of S(θ_e + t d_e) at t = 0 (:func:`eoslib.chapters.flattening.landscape.sharpness_derivatives`;
  λ'' is "the curvature of S");
* and, by :func:`cycle_slices`, the slice itself (:func:`eoslib.chapters.flattening.landscape.line_slice`) at
  common points ``ts``.

Figure 4. A run with learning rate η0 switched to η_small at a switch epoch and trained on
until its sharpness peaked (:class:`eoslib.runs.EigenRecorder`'s rule) or completion has
``S_max`` = the largest recorded top eigenvalue from the switch on (:func:`max_after_switch`);
it is stable under η_small when ``S_max < 2/η_small``. A run whose sharpness reaches
2/η_small is stopped there (``StopAbove``): its progressive sharpening was cut short by the
edge of stability of η_small, so all we know is ``S_max ≥ 2/η_small`` (a censored value).
The switch epochs of each η0 are those of a common geometric grid from its first instability
on (:func:`switch_configs`), found by a run at constant η0 stopped when S first reaches 2/η0
(:func:`onset_configs`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, NamedTuple

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from eoslib import data as datasets
from eoslib import instability, models, schedules, sweep, verification
from eoslib.chapters.flattening import landscape
from eoslib.gd import TrainState
from eoslib.instability import Cycle
from eoslib.lanczos import DEFAULT_CHECK, Check
from eoslib.monitors import StopAbove, StopAfterPeak
from eoslib.results import ResultsStore, pack, unpack
from eoslib.runs import (
    CHECKS,
    Prepared,
    RunConfig,
    check_of,
    computation_spec,
    prepare,
    states_at,
    study_record,
    train,
)
from eoslib.tracking import top_eigenpairs

__all__ = ["PRESETS", "VALIDATORS", "Geometry", "cycle_states", "cycle_geometry", "cycle_slices", "max_after_switch", "first_reaching",
           "significant_round", "switch_rows", "stability_threshold", "steady_band",
           "cycle_phases", "is_mid_training", "choose_cycle", "onset_configs", "switch_configs", "sweep_by_switch", "Figure4Study", "figure4_study", "CycleStudy", "cycle_config",
           "run_cycle_study", "cycle_study", "STUDY_KIND", "VERSION", "STUDY_KEYS", "compute", "reverify"]

_CI = dict(eta=0.1, epochs=300, num_eigs=3, eig_tol=1e-3, min_lead=4, max_cycle=60, lead=12, tail=4, all_cycles=False, num_points=41,
           reach_factor=1.25, fit_fraction=0.5, slice_tol=1e-4, band_epochs=4, eta_ref=0.005, ref_max_epochs=12000,
           eta0_factors=[2.0, 3.0, 5.0, 8.0], switch_grid=[150, 300, 600, 1200, 2400], eta_small=0.01,
           seeds=[0, 1, 2], eig_every=50, peak_window=500, max_epochs=8000, n_train=1000, n_eval=200, weight_init="flax",
           eig_check="legacy", seed=0)
PRESETS: dict[str, dict[str, Any]] = {
    "ci": _CI,
    "paper": {**_CI, "all_cycles": True, "num_points": 81, "eta0_factors": [2.0, 3.0, 4.0, 5.0, 6.0, 8.0],
              "switch_grid": [75, 150, 300, 600, 1200, 2400, 4800], "seeds": [0, 1, 2, 3, 4], "eig_every": 25,
              "max_epochs": 12000},
    "tiny": {**_CI, "epochs": 130, "lead": 3, "tail": 1, "num_points": 9, "eta0_factors": [8.0],
             "switch_grid": [150, 300], "seeds": [0], "peak_window": 100, "eig_every": 50, "max_epochs": 1500,
             "n_train": 200, "n_eval": 50},
}
"""Chapter 3's profiles: ``ci`` (default; the committed stores), ``paper`` (every cycle, finer
slices, Figure 4's full grid) and ``tiny`` (smoke test)."""

VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    "eta": lambda v: None if v > 0 else "must be positive",
    "epochs": lambda v: None if v >= 40 else "must be >= 40 (the run must reach the edge of stability)",
    "num_eigs": lambda v: None if 2 <= v <= 20 else "must be in [2, 20] (lambda'' needs the second pair)",
    "eig_tol": lambda v: None if 0 < v < 0.1 else "must be in (0, 0.1)",
    "min_lead": lambda v: None if v >= 3 else "must be >= 3 (claim 1 ranks the stable epochs before the crossing)",
    "max_cycle": lambda v: None if v >= 1 else "must be >= 1",
    "lead": lambda v: None if v >= 1 else "must be >= 1",
    "tail": lambda v: None if v >= 0 else "must be >= 0",
    "num_points": lambda v: None if v >= 5 and v % 2 == 1 else "must be odd and >= 5 (t = 0 is a point)",
    "reach_factor": lambda v: None if v > 1 else "must be > 1 (the slice must contain the previous parameters)",
    "fit_fraction": lambda v: None if 0 < v <= 1 else "must be in (0, 1]",
    "slice_tol": lambda v: None if 0 < v < 0.01 else "must be in (0, 0.01)",
    "band_epochs": lambda v: None if v >= 2 else "must be >= 2",
    "eta_ref": lambda v: None if v > 0 else "must be positive",
    "ref_max_epochs": lambda v: None if v >= 100 else "must be >= 100",
    "eta0_factors": lambda v: None if v and all(f > 1 for f in v) else "must be factors > 1 (above the threshold)",
    "switch_grid": lambda v: None if v and all(e >= 1 for e in v) and list(v) == sorted(v) else "must be increasing epochs >= 1",
    "eta_small": lambda v: None if v > 0 else "must be positive",
    "seeds": lambda v: None if v and len(set(v)) == len(v) else "must be distinct seeds",
    "eig_every": lambda v: None if v >= 1 else "must be >= 1",
    "peak_window": lambda v: None if v >= 1 else "must be >= 1",
    "max_epochs": lambda v: None if v >= 100 else "must be >= 100",
    "n_train": lambda v: None if 100 <= v <= 60000 else "must be in [100, 60000]",
    "n_eval": lambda v: None if 10 <= v <= 10000 else "must be in [10, 10000]",
    "weight_init": lambda v: None if v in models.INITS else f"must be one of {models.INITS}",
    "eig_check": lambda v: None if v in CHECKS else f"must be one of {tuple(CHECKS)}",
}
"""Chapter 3's parameter checks (:func:`eoslib.params.resolve`)."""


class Geometry(NamedTuple):
    """Per-epoch arrays (E,) along a cycle (module docstring); ``eig_residual`` the relative
    residual of the re-solved top pair, ``vectors`` (E, d, k) the re-solved eigenvectors and
    ``directions`` (E, d) the flat unit gradients (:func:`cycle_slices` starts from them),
    ``boundary`` the distance along the gradient to the nearest activation boundary
    (:func:`eoslib.chapters.flattening.landscape.boundary_distance`; NaN for models other than the MLP)."""

    epochs: np.ndarray
    prev_position: np.ndarray
    grad_norm: np.ndarray
    loss_curvature: np.ndarray
    sharpness: np.ndarray
    first: np.ndarray
    second: np.ndarray
    fixed_vector: np.ndarray
    rotation: np.ndarray
    gap: np.ndarray
    cg_iterations: np.ndarray
    cg_residual: np.ndarray
    eig_residual: np.ndarray
    vectors: np.ndarray
    directions: np.ndarray
    boundary: np.ndarray


def cycle_states(config: RunConfig, split: datasets.Split,
                 epochs: Sequence[int]) -> tuple[Prepared, dict[int, TrainState]]:
    """The prepared run ``config`` and its states at each of ``epochs`` and the epoch before
    (retraced once by :func:`eoslib.runs.states_at`), for :func:`cycle_geometry` and
    :func:`cycle_slices`."""
    epochs = [int(e) for e in epochs]
    if min(epochs) < 1:
        raise ValueError("epochs must be >= 1 (each needs the previous parameters)")
    states = states_at(config, sorted(set(epochs) | {e - 1 for e in epochs}), split)
    return prepare([config], split, batched=False), states


@partial(jax.jit, static_argnums=0)
def _gradient(objective, params, stats, batch):
    """∇L(θ), compiled once per objective (called eagerly, its chunk loop compiles every call)."""
    return objective.loss_and_grad(params, stats, batch)[3]


def cycle_geometry(prep: Prepared, states: dict[int, TrainState], epochs: Sequence[int],
                   tracked_vectors: dict, *, k: int = 3, tol: float = 1e-4, cg_tol: float = 1e-4,
                   cg_max_iters: int = 500, check: Check = DEFAULT_CHECK) -> Geometry:
    """The landscape along the gradient at each of ``epochs`` of a run, from its prepared
    objective and its states at those epochs and the ones before (:func:`cycle_states`).

    ``tracked_vectors``: epoch -> (d, k') eigenvectors recorded by the run (seeds of the
    solves at θ_e); ``k``: eigenpairs re-solved at θ_e to ``tol`` (pairs 2..k enter λ''
    exactly)."""
    epochs = [int(e) for e in epochs]
    objective, batch = prep.objective, prep.train_data
    dim = ravel_pytree(states[epochs[0]].params)[0].size
    rows = []
    for e in epochs:
        state = states[e]
        loss_fn = objective.loss_fn(state.batch_stats, batch)
        grad = _gradient(objective, state.params, state.batch_stats, batch)
        grad_norm = float(np.linalg.norm(ravel_pytree(grad)[0]))
        d = landscape.unit_direction(grad)
        prev = landscape.projection(states[e - 1].params, state.params, d)
        pairs = top_eigenpairs(objective.hessian_matvec(state.params, state.batch_stats, batch),
                               dim, k, tol=tol, prev_vectors=tracked_vectors.get(e),
                               compiled=prep.plan.compiled_loops, check=check)
        der = landscape.sharpness_derivatives(loss_fn, state.params, d, pairs.values,
                                              pairs.vectors, cg_tol=cg_tol,
                                              cg_max_iters=cg_max_iters)
        boundary = (landscape.boundary_distance(
            lambda p: models.mlp_relu_inputs(objective.model, p, batch.x), state.params, d)
            if isinstance(objective.model, models.MLP) else float("nan"))
        rows.append((e, prev, grad_norm, landscape.loss_curvature(loss_fn, state.params, d),
                     der.value, der.first, der.second, der.fixed_vector, der.rotation, der.gap,
                     der.cg_iterations, der.cg_residual,
                     float(pairs.residuals[0]) / abs(float(pairs.values[0])),
                     np.asarray(pairs.vectors), np.asarray(ravel_pytree(d)[0]), boundary))
    return Geometry(*(np.asarray(c) for c in zip(*rows)))


def cycle_slices(prep: Prepared, states: dict[int, TrainState], geometry: Geometry,
                 ts: Sequence[float], *, k: int = 2, tol: float = 1e-4,
                 progress=None, check: Check = DEFAULT_CHECK) -> list[landscape.Slice]:
    """:func:`eoslib.chapters.flattening.landscape.line_slice` at every epoch of ``geometry`` along its gradient
    direction, at the points ``ts``, seeded with its re-solved eigenvectors (``prep`` and
    ``states`` as for :func:`cycle_geometry`)."""
    epochs = [int(e) for e in geometry.epochs]
    out = []
    for i in (progress(range(len(epochs))) if progress else range(len(epochs))):
        state = states[epochs[i]]
        _, unravel = ravel_pytree(state.params)
        out.append(landscape.line_slice(
            prep.objective.loss_fn(state.batch_stats, prep.train_data), state.params,
            unravel(geometry.directions[i]), ts, k=k, tol=tol,
            center_vectors=geometry.vectors[i][:, :k], compiled=prep.plan.compiled_loops,
            key=jax.random.PRNGKey(epochs[i]), check=check))
    return out


def max_after_switch(record: dict) -> tuple[float, int]:
    """``(S_max, epoch)``: the largest recorded top eigenvalue of a stored run from its switch
    epoch (``schedule.reduce_epoch``) on, and where it was reached; NaN, -1 without records
    there (e.g. the run completed before the switch)."""
    epochs = np.asarray(record["eigen"].get("epoch", []))
    top = np.asarray(record["eigen"].get("values", np.zeros((0, 1))))[:, 0] if epochs.size else epochs
    after = epochs >= record["config"]["schedule"]["reduce_epoch"]
    if not np.any(after):
        return float("nan"), -1
    i = int(np.argmax(np.where(after, top, -np.inf)))
    return float(top[i]), int(epochs[i])


def first_reaching(epochs: np.ndarray, values: np.ndarray, level: float) -> int | None:
    """The first of ``epochs`` at which ``values >= level`` (None if never)."""
    hit = np.nonzero(np.asarray(values) >= level)[0]
    return int(np.asarray(epochs)[hit[0]]) if hit.size else None


def significant_round(x: float, digits: int = 3) -> float:
    """``x`` rounded to ``digits`` significant digits (learning rates derived from a
    measurement, so that the configs, and their store keys, are stable across machines)."""
    return float(f"{x:.{digits - 1}e}")


def switch_rows(records: Sequence[dict], eta_small: float) -> list[dict]:
    """One row per Figure-4 run: ``eta0``, ``switch``, ``seed``, ``s_max`` and ``s_max_epoch``
    (:func:`max_after_switch`), ``stable`` (``s_max < 2/eta_small``), ``censored`` (``s_max``
    capped at 2/η_small, the value the rank statistics use), ``peaked`` (stopped by the peak
    rule), ``completed``, ``epochs``, ``diverged``, ``first_unstable`` (the first recorded
    epoch at which S reached 2/η0, None if never) and ``stop``, why the run ended:
    ``"peaked"``, ``"unstable"`` (S reached 2/η_small), ``"completed"``, ``"completed before
    the switch"``, ``"diverged"`` or ``"max_epochs"``."""
    rows = []
    for r in records:
        sched = r["config"]["schedule"]
        s_max, at = max_after_switch(r)
        epochs = np.asarray(r["eigen"].get("epoch", []))
        top = np.asarray(r["eigen"]["values"])[:, 0] if epochs.size else epochs
        before = epochs < sched["reduce_epoch"]
        final = r["final"]
        stop = ("diverged" if r["diverged"] else "peaked" if final.get("peaked") else
                "unstable" if final.get("above") else
                "completed before the switch" if final["completed"] and not np.isfinite(s_max) else
                "completed" if final["completed"] else "max_epochs")
        rows.append(dict(eta0=sched["lr"], switch=int(sched["reduce_epoch"]), seed=r["config"]["seed"],
                         s_max=s_max, s_max_epoch=at,
                         stable=bool(np.isfinite(s_max) and s_max < 2.0 / eta_small),
                         censored=min(s_max, 2.0 / eta_small),
                         peaked=bool(r["final"].get("peaked", False)),
                         completed=bool(r["final"]["completed"]), epochs=int(r["final"]["epochs"]),
                         diverged=bool(r["diverged"]),
                         first_unstable=first_reaching(epochs[before], top[before], 2.0 / sched["lr"]),
                         stop=stop))
    return rows


def stability_threshold(record: dict) -> float:
    """``2 / S_max`` of a run at a constant learning rate η that stayed stable
    (``S_max < 2/η``) and whose sharpness peaked: the largest constant learning rate for which
    that run's sharpness would have stayed below 2/η. Raises if the run is not such a run."""
    eta = record["config"]["schedule"]["lr"]
    s_max = float(np.max(np.asarray(record["eigen"]["values"])[:, 0]))
    if s_max >= 2.0 / eta:
        raise ValueError(f"the reference run at eta={eta:g} reached 2/eta (S_max={s_max:.1f}): "
                         "choose a smaller reference eta")
    if not (record["final"].get("peaked") or record["final"]["completed"]):
        raise ValueError("the reference run's sharpness had not peaked: raise its max_epochs")
    return 2.0 / s_max


def steady_band(values: np.ndarray) -> tuple[float, float]:
    """``[min − r, max + r]`` of ``values`` with ``r`` their range: the band a curvature is
    "steady" in, from its last values before the crossing; NaN (no band) from fewer than 2
    values."""
    if np.size(values) < 2:
        return float("nan"), float("nan")
    lo, hi = float(np.min(values)), float(np.max(values))
    return lo - (hi - lo), hi + (hi - lo)


def cycle_phases(epochs: np.ndarray, fit_sharp: np.ndarray, cycle: Cycle,
                 band_epochs: int = 4) -> dict:
    """The phases of a cycle from the curvature of its S-curves (``fit_sharp`` at ``epochs``):
    ``band`` (:func:`steady_band` of the last ``band_epochs`` epochs before the crossing),
    ``change`` (the first epoch from the crossing on whose curvature is outside the band,
    None if none before the return), ``steady`` (epochs from the crossing to the change), and
    ``snapshots``: epoch -> phase name for Figure 3 (progressive sharpening midway through the
    shown stable epochs, the crossing, the middle of the steady phase, the change, the loss
    peak and the return to stability). With fewer than 2 shown epochs before the crossing the
    band is NaN and every epoch from the crossing on lies outside it."""
    epochs = np.asarray(epochs)
    at = {int(e): i for i, e in enumerate(epochs)}
    pre = [at[e] for e in range(cycle.cross - band_epochs, cycle.cross) if e in at]
    band = steady_band(np.asarray(fit_sharp)[pre])
    outside = [e for e in range(cycle.cross, cycle.back)
               if e in at and not band[0] <= fit_sharp[at[e]] <= band[1]]
    change = outside[0] if outside else None
    end = change if change is not None else cycle.back
    snapshots = {int(epochs[0]) + (cycle.cross - int(epochs[0])) // 2: "progressive sharpening",
                 cycle.cross: "S crosses 2/η"}
    if end - cycle.cross >= 2:
        snapshots[cycle.cross + (end - cycle.cross) // 2] = "growth, steady S-curve"
    if change is not None:
        snapshots[change] = "S-curve changes"
    snapshots.setdefault(cycle.peak, "loss peak")
    snapshots.setdefault(cycle.back, "flatter curve, stability returns")
    return dict(band=band, change=change, steady=end - cycle.cross,
                snapshots=dict(sorted(snapshots.items())))


def onset_configs(base: RunConfig, etas: Sequence[float]) -> list[RunConfig]:
    """Runs at each constant η0 of ``etas`` that stop when the recorded sharpness first reaches
    2/η0 (the first instability), with ``base``'s other settings (``eig_every`` > 0)."""
    return [replace(base, schedule=schedules.constant(eta)).with_monitors(StopAbove(2.0 / eta), drop=(StopAfterPeak,))
            for eta in etas]


def switch_configs(base: RunConfig, onsets: dict, grid: Sequence[int], seeds: Sequence[int],
                   eta_small: float) -> list[RunConfig]:
    """Figure 4's runs: for each η0 (key of ``onsets``, whose value is the epoch of its first
    instability, or None if it had none), a switch to ``eta_small`` at each epoch of ``grid``
    from that epoch on, for every seed; stopped when S reaches 2/η_small (``StopAbove``).
    ``base`` gives the other settings (``eig_every``, ``StopAfterPeak``, ``max_epochs``)."""
    out = []
    for eta0, onset in onsets.items():
        for switch in (e for e in grid if onset is not None and e >= onset):
            for seed in seeds:
                sched = schedules.reduce_at_epoch(eta0, eta_small, int(switch))
                out.append(replace(base, schedule=sched, seed=int(seed)).with_monitors(StopAbove(2.0 / eta_small)))
    return out


def sweep_by_switch(configs: Sequence[RunConfig], store, split: datasets.Split, *,
                    progress: bool | None = None) -> list[dict]:
    """:func:`eoslib.sweep.sweep` of Figure 4's runs, one vmapped batch per switch epoch (runs
    with the same switch stop at similar epochs, so few lanes idle behind a long one); the
    records in the order of ``configs``."""
    by_switch: dict[float, list[RunConfig]] = {}
    for c in configs:
        by_switch.setdefault(c.schedule.reduce_epoch, []).append(c)
    out = {}
    for group in by_switch.values():
        out.update((c.key(), r) for c, r in zip(group, sweep.sweep(group, store, split=split,
                                                                    progress=progress)))
    return [out[c.key()] for c in configs]


class Figure4Study(NamedTuple):
    """Figure 4's runs and what they give (:func:`figure4_study`): the threshold η_c = 2/S_max
    of the reference run (``eta_c_measured``; ``eta_c`` to 2 significant digits), the rates
    ``eta0s`` (``too_small``: those left out, not above η_small), each one's first instability
    ``onsets`` (epoch, or None), the switched ``configs`` and their ``records``, ``missing`` (how
    many were computed now), the per-run ``rows`` (:func:`switch_rows`), the ``reference``
    record and the wall time ``seconds``."""

    eta_c_measured: float
    eta_c: float
    eta0s: list
    too_small: list
    onsets: dict
    configs: list
    records: list
    missing: int
    rows: list
    reference: dict
    seconds: float


def figure4_study(base: RunConfig, store, split: datasets.Split, *, eta_ref: float, ref_max_epochs: int,
                  eta0_factors: Sequence[float], switch_grid: Sequence[int], seeds: Sequence[int],
                  eta_small: float, progress: bool | None = None) -> Figure4Study:
    """Figure 4 (Section 3.3, progressive flattening) for the runs of ``base`` (its model, data,
    loss, eigensolves and ``stop_after_peak``): the reference run at ``eta_ref`` (at most
    ``ref_max_epochs``) gives η_c (:func:`stability_threshold`); each η0 = factor · η_c (3
    significant digits) above ``eta_small`` is run to its first instability
    (:func:`onset_configs`), then switched to ``eta_small`` at the epochs of ``switch_grid`` from
    there on for every seed (:func:`switch_configs`). Reads ``store``, computes what it lacks."""
    t0 = time.perf_counter()
    reference = sweep.sweep([replace(base, schedule=schedules.constant(eta_ref), max_epochs=ref_max_epochs)],
                            store, split=split)[0]
    eta_c_measured = stability_threshold(reference)
    eta_c = significant_round(eta_c_measured, 2)
    rates = [significant_round(f * eta_c) for f in eta0_factors]
    eta0s = [e for e in rates if e > eta_small]
    if not eta0s:
        raise ValueError("every eta0 is at or below eta_small: raise eta0_factors")
    onset_records = sweep.sweep(onset_configs(base, eta0s), store, split=split)
    onsets = {e: first_reaching(r["eigen"]["epoch"], np.asarray(r["eigen"]["values"])[:, 0], 2 / e)
              for e, r in zip(eta0s, onset_records)}
    configs = switch_configs(base, onsets, switch_grid, seeds, eta_small)
    missing = sum(c.key() not in store for c in configs)
    records = sweep_by_switch(configs, store, split, progress=progress if progress is not None else missing > 0)
    return Figure4Study(eta_c_measured, eta_c, eta0s, [e for e in rates if e <= eta_small], onsets, configs, records,
                        missing, switch_rows(records, eta_small), reference, time.perf_counter() - t0)


def is_mid_training(cycle: Cycle) -> bool:
    """Whether ``cycle`` follows an earlier instability: its stable phase before the crossing
    does not start at initialization (``stable_from > 0``; a maximal stable stretch that starts
    later starts right after an epoch with S ≥ 2/η). The cycle whose stable phase starts at
    epoch 0 is the first approach to the edge of stability from initialization."""
    return cycle.stable_from > 0


def choose_cycle(cycles: Sequence[Cycle], min_lead: int, max_length: int | None = None) -> Cycle:
    """The cycle chapter 3 analyses (Figures 3 and 11), chosen from the middle of training as the
    paper's is. Section 3.3 explores the landscapes "through a complete cycle of learning,
    defined as from stability to instability and back to stability, using epochs 119 to 158 in
    the same MLP trajectory as Section 3.2": "At epoch 119, when S(θ) < 2/η, we observe a steady
    increase in S(θ) while L(θ) decreases. This is progressive sharpening."; "After epoch 131,
    when S(θ) > 2/η, ..."; "a flatter curve is found by epoch 154", and training cools "before
    progressive sharpening eventually drives the model back toward instability to repeat the
    cycle". Figure 3 (and Figure 11, Appendix H) "show snapshots along the instability cycle
    taken along the direction of the gradient". So the paper's cycle is one of several, 119
    epochs into training, with progressive sharpening before its crossing.

    Rule, on the complete cycles of :func:`eoslib.instability.stability_cycles` in time order:

    1. the first *mid-training* cycle (:func:`is_mid_training`: it follows an earlier
       instability) with at least ``min_lead`` stable epochs before its crossing (``lead``: the
       progressive sharpening that claim 1 ranks and claim 2's band needs; the paper's cycle
       has 12, epochs 119-131);
    2. else the mid-training cycle with the longest lead (the earliest among ties);
    3. else, when no cycle follows an earlier instability (the run's only complete cycle is
       its first approach to the edge of stability from initialization), that cycle. Chapter
       3's claims 1 and 2 read UNRESOLVED on it (:mod:`eoslib.chapters.flattening.claims`): it is not
       the kind of cycle the paper measured.

    With ``max_length``, mid-training cycles whose unstable phase (crossing to return) lasts
    more than ``max_length`` epochs are passed over while a shorter one exists: the paper's is
    short (it crosses after epoch 131 and is flatter by 154), and the chapter computes a
    landscape slice at every shown epoch.

    Raises ValueError without any cycle."""
    if not cycles:
        raise ValueError("no complete instability cycle: train longer or change eta")
    mid = [c for c in cycles if is_mid_training(c)]
    if max_length is not None:
        mid = [c for c in mid if c.back - c.cross <= max_length] or mid
    if not mid:
        return cycles[0]
    return next((c for c in mid if c.lead >= min_lead), max(mid, key=lambda c: (c.lead, -c.cross)))


class CycleStudy(NamedTuple):
    """Chapter 3's run through its instability cycles and the landscape along it (Figures 11,
    3, 9 and the λ'' check), without eigenvectors. ``loss``, ``sharpness``, ``distance``
    (|θ − θ*|) (E,) per epoch of the run; ``certified`` the fraction of its epochs whose
    top-k set was certified; ``cycles`` (:func:`eoslib.instability.stability_cycles`),
    ``shown`` the analysed cycle (:func:`choose_cycle`) and ``window`` its shown epochs; ``geometry``
    (:class:`Geometry` at ``at_epochs``, its ``vectors`` and ``directions`` dropped), ``ts``
    (P,) the slice points (half-width ``reach``) and ``slices`` (one per row of ``geometry``);
    ``e0`` the shown epoch farthest from an activation boundary, ``h_in`` a third of that
    distance, ``exact`` (:class:`eoslib.chapters.flattening.landscape.SharpnessDerivatives` at ``e0`` in float64)
    and ``fd`` (4, 3) its central differences (:func:`eoslib.chapters.flattening.landscape.finite_differences`
    at h_in, 10 h_in, 100 h_in and the slice spacing); times in seconds."""

    loss: np.ndarray
    sharpness: np.ndarray
    distance: np.ndarray
    certified: float
    cycles: list
    shown: Cycle
    window: np.ndarray
    at_epochs: list
    geometry: Geometry
    reach: float
    ts: np.ndarray
    slices: list
    e0: int
    h_in: float
    exact: landscape.SharpnessDerivatives
    fd: np.ndarray
    run_seconds: float
    slice_seconds: float


STUDY_KIND = "flattening-cycle"
STORE = "flattening"  # the committed store's folder, store/flattening/
VERSION = 2
"""Version of :func:`run_cycle_study` (cycle rule, geometry, slices, finite differences): bump
it with any change that changes its results (the trainer has its own version). 2: the analysed
cycle is chosen by :func:`choose_cycle` (a mid-training cycle), no longer the one with the
longest lead."""

STUDY_KEYS = ("eta", "epochs", "num_eigs", "eig_tol", "min_lead", "max_cycle", "lead", "tail", "all_cycles", "num_points",
              "reach_factor", "slice_tol", "n_train", "n_eval", "weight_init", "eig_check", "seed")
"""The chapter parameters that decide a :class:`CycleStudy` (the others only analyse it)."""


def cycle_config(P: Mapping[str, Any]) -> RunConfig:
    """The run through the cycles: the MLP at constant ``eta`` with the top ``num_eigs``
    eigenpairs (and vectors) at every epoch."""
    return RunConfig(model="mlp", weight_init=P["weight_init"], dataset="fmnist", n_train=P["n_train"], n_eval=P["n_eval"],
                     schedule=schedules.constant(P["eta"]), seed=P["seed"], max_epochs=P["epochs"], eig_every=1,
                     eig_k=P["num_eigs"], eig_tol=P["eig_tol"], eig_check=P["eig_check"], keep_eigenvectors=True,
                     sharpness_at_end=False)


def _finite_difference_check(config: RunConfig, split: datasets.Split, e0: int, h_in: float, spacing: float,
                             k: int) -> tuple[landscape.SharpnessDerivatives, np.ndarray]:
    """λ', λ'' at epoch ``e0`` and their central differences, in float64."""
    state0 = states_at(config, [e0], split)[e0]
    prep0 = prepare([config], split, batched=False)
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda a: a.astype(np.float64), state0.params)
        loss64 = prep0.objective.loss_fn({}, prep0.train_data)
        d64 = landscape.unit_direction(_gradient(prep0.objective, params64, {}, prep0.train_data))
        return landscape.finite_differences(loss64, params64, d64, [h_in, 10 * h_in, 100 * h_in, spacing],
                                            k=k, tol=1e-10, check=check_of(config.eig_check))


def run_cycle_study(P: Mapping[str, Any], split: datasets.Split) -> CycleStudy:
    """Compute a :class:`CycleStudy` for the chapter's parameters ``P`` (:data:`STUDY_KEYS`)."""
    config = cycle_config(P)
    t0 = time.perf_counter()
    main = train(config, split, progress=False)
    run_seconds = time.perf_counter() - t0
    assert not main.diverged, "the run diverged: lower eta"
    loss, sharpness = main.history["train_loss"], main.eigen["values"][:, 0]
    tracked = dict(zip(main.eigen["epoch"].tolist(), main.eigen["vectors"]))
    cycles = instability.stability_cycles(loss, sharpness, P["eta"])
    shown = choose_cycle(cycles, P["min_lead"], P["max_cycle"])
    window = instability.cycle_window(shown, P["lead"], P["tail"])
    ends = {e for c in cycles for e in (c.cross - 1, c.back)}
    every = {e for c in cycles for e in range(c.cross - 1, c.back + 1)} if P["all_cycles"] else set()
    at_epochs = sorted(set(window.tolist()) | ends | every)
    prep, states = cycle_states(config, split, at_epochs)  # retraced once, for both calls
    check = check_of(P["eig_check"])
    geo = cycle_geometry(prep, states, at_epochs, tracked, k=P["num_eigs"], tol=P["slice_tol"], check=check)
    rows_w = [at_epochs.index(e) for e in window]
    reach = P["reach_factor"] * float(np.abs(geo.prev_position[rows_w]).max())
    ts = landscape.symmetric_range(reach, P["num_points"])
    t0 = time.perf_counter()
    slices = cycle_slices(prep, states, geo, ts, tol=P["slice_tol"], check=check)
    slice_seconds = time.perf_counter() - t0
    bounds = geo.boundary[rows_w]
    e0, h_in = int(window[int(np.argmax(bounds))]), float(bounds.max() / 3)
    exact, fd = _finite_difference_check(config, split, e0, h_in, float(ts[1] - ts[0]), P["num_eigs"])
    geo = geo._replace(vectors=np.zeros((len(at_epochs), 0)), directions=np.zeros((len(at_epochs), 0)))
    return CycleStudy(loss, sharpness, main.history["dist_to_mean"], float(main.eigen["certified"].mean()),
                      cycles, shown, window, at_epochs, geo, reach, np.asarray(ts), slices, e0, h_in,
                      landscape.SharpnessDerivatives(*(np.asarray(x).item() for x in exact)), np.asarray(fd),
                      run_seconds, slice_seconds)


def compute(spec: Mapping[str, Any], split: datasets.Split) -> dict:
    """The value of the :data:`STUDY_KIND` record of ``spec``, computed."""
    return pack(run_cycle_study(spec["parameters"], split))


def cycle_study(P: Mapping[str, Any], split: datasets.Split, store: ResultsStore, *,
                progress: bool = True) -> CycleStudy:
    """:func:`run_cycle_study`, read from ``store`` when it holds the record of kind
    :data:`STUDY_KIND` for ``P`` (keyed by :data:`STUDY_KEYS`, the trainer's and this
    analysis' versions), else computed and stored."""
    spec = computation_spec(VERSION, parameters={k: P[k] for k in STUDY_KEYS})
    return _decode(study_record(store, STUDY_KIND, spec, lambda spec: compute(spec, split), progress=progress))


def _decode(record: dict) -> CycleStudy:
    return unpack(record["value"], (CycleStudy, Cycle, Geometry, landscape.Slice, landscape.SharpnessDerivatives))


def reverify(record: dict, split: datasets.Split, *, prefix: int = 60, rtol: float = 5e-3) -> list[str]:
    """Problems found re-verifying a :data:`STUDY_KIND` record here (empty: verified): it is
    current (:func:`eoslib.verification.computation_is_current`); its run, re-trained for its
    first ``prefix`` epochs, matches the stored loss and sharpness up to the edge of stability
    (:func:`eoslib.verification.series_window`; chaotic after); the cycles, the shown cycle and
    its window, found again on the stored series, are the stored ones; and the geometry and
    slice at the first shown epoch, re-computed, match the stored ones to ``rtol`` when that
    epoch is inside the deterministic window (the slices of later epochs, past the edge of
    stability, are checked by re-computing the whole study: ``tools/fill_store.py --verify``)."""
    problems = verification.computation_is_current(record, VERSION)
    if problems:  # another version's record: today's rules do not apply to it
        return problems
    P, study = record["spec"]["parameters"], _decode(record)
    config = cycle_config(P)
    found, last = verification.compare_run_prefix(config, split, study.loss, study.sharpness, prefix=prefix, rtol=rtol)
    problems += found
    cycles = instability.stability_cycles(study.loss, study.sharpness, P["eta"])
    shown = choose_cycle(cycles, P["min_lead"], P["max_cycle"])
    if cycles != study.cycles or shown != study.shown or not np.array_equal(
            instability.cycle_window(shown, P["lead"], P["tail"]), study.window):
        problems.append("the stored series give other cycles than the stored ones")
    e = int(study.window[0])
    if e <= last:
        prep, states = cycle_states(config, split, [e])
        check = check_of(P["eig_check"])
        geo = cycle_geometry(prep, states, [e], {}, k=P["num_eigs"], tol=P["slice_tol"], check=check)
        sl, = cycle_slices(prep, states, geo, study.ts, tol=P["slice_tol"], check=check)
        i = study.at_epochs.index(e)
        stored = {"prev_position": study.geometry.prev_position[i:i + 1], "sharpness": study.geometry.sharpness[i:i + 1],
                  "slice loss": study.slices[i].loss, "slice sharpness": study.slices[i].sharpness}
        fresh = {"prev_position": geo.prev_position, "sharpness": geo.sharpness, "slice loss": sl.loss,
                 "slice sharpness": sl.sharpness}
        problems += [f"epoch {e}: {p}" for p in verification.compare_series(stored, fresh, len(sl.loss), rtol=rtol)]
    return problems

"""Training runs: :class:`RunConfig` (everything that determines a run, and its results-store
key), the setup and result collection shared by single runs and sweeps, :func:`train` (one run,
Hessian eigenpairs recorded along the way) and :func:`run_or_load` (through the results store).

Path of data: a chapter's parameters become a :class:`RunConfig`; :func:`prepare` builds the
objective (:mod:`eoslib.objective`), the execution plan (:mod:`eoslib.execution`), the data and
the initial state; the epoch loops of :mod:`eoslib.gd` train it; :func:`collect` turns their
metrics into a per-epoch history and final metrics; :func:`eoslib.results.make_record` makes a
JSON record with provenance (execution plan included), and the store keys it by
:meth:`RunConfig.key`.

Reproducibility: the same config on the same machine gives bitwise identical results.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from tqdm import tqdm  # text bar: tqdm.auto warns in notebooks without ipywidgets

from eoslib import data as datasets
from eoslib import execution, monitors
from eoslib.diagnostics import Problem
from eoslib.gd import Limits, TrainState, init_states, run_epochs
from eoslib.lanczos import DEFAULT_CHECK, LEGACY_CHECK, Check, Eigenpairs
from eoslib.models import INITS, MLP, MODELS, for_apply, mlp_relu_inputs
from eoslib.objective import HVP_MODES, Batch, Objective, default_chunk_size
from eoslib.results import ResultsStore, computed, make_record
from eoslib.schedules import Schedule, as_arrays
from eoslib.tracking import top_eigenpairs

__all__ = ["TRAINER_VERSION", "CHECKS", "check_of", "RunConfig", "RunResult", "Prepared", "METRICS", "prepare", "collect", "dead_layer",
           "state_eigenpairs", "batched_eigenpairs", "EigenRecorder", "last_accuracy", "drive", "train", "states_at", "save_run", "run_or_load", "computation_spec", "study_record",
           "progress_enabled"]

METRICS = ("train_loss", "train_acc", "eval_loss", "eval_acc", "param_norm", "dist_to_mean", "lr")


TRAINER_VERSION = 2
"""Version of what turns a config into results (the trainer, the eigensolver settings, the
records' metrics). It is a field of every :class:`RunConfig`, hence part of its store key: bump
it with any change that changes results, and no record made before can be read as current.

2: a run stops at an exactly zero gradient (``final["frozen"]``, a dead network:
``final["dead_layer"]``, :mod:`eoslib.gd`) instead of standing still until ``max_epochs``.
Records of version 1 that this cannot have changed were carried over (``tools/migrate_trainer.py``,
``store/README.md``)."""

CHECKS = {"adaptive": DEFAULT_CHECK, "legacy": LEGACY_CHECK}
"""The missed-eigenvalue checks a stored eigensolve can use (``RunConfig.eig_check`` and the
chapters' ``eig_check`` parameter), by name. ``"adaptive"``: :data:`eoslib.lanczos.DEFAULT_CHECK`,
whose ``certified`` states an error bound (issue 27). ``"legacy"``: the fixed 8-step check that
every record made before the name existed used; its ``certified`` states no bound (it certified
wrong top-20 sets along chapter 2's run). A store made with it stays current under that name
until it is refilled."""


def check_of(name: str) -> Check:
    """The :class:`~eoslib.lanczos.Check` called ``name`` in :data:`CHECKS` (ValueError if none)."""
    if name not in CHECKS:
        raise ValueError(f"eig_check={name!r}: must be one of {tuple(CHECKS)}")
    return CHECKS[name]


ADDED_FIELDS: dict = {"hvp": "direct"}
"""Fields of :class:`RunConfig` added after records were made, each with the value at which a
run is what it was before the field existed (left out of the record and the key; a monitor's
key fields do this themselves, :meth:`eoslib.monitors.Rotation.key_fields`)."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run (and its results-store key).

    ``model``: a name of :data:`eoslib.models.MODELS`; ``weight_init``: its initialization
    (:data:`eoslib.models.INITS`: ``"flax"``, the authors' code's, or ``"torch"``).
    ``dataset``: a name of :func:`eoslib.data.load`. ``chunk_size``: examples per chunk of the
    full-batch sums; default the whole set, or the ghost batch (1,024) for BatchNorm models.
    ``eig_every`` > 0 records the top ``eig_k`` Hessian eigenpairs every that many epochs from
    epoch ``eig_start`` on (``eig_start + j * eig_every``); ``sharpness_at_end`` records the
    top eigenvalue at the last parameters. ``monitors`` (needs ``eig_every`` > 0): objects of
    :mod:`eoslib.monitors` that read the recorded eigenpairs to stop the run
    (``StopAfterPeak``, ``StopAbove``) or to record something (``Rotation``: ρ), at most one of
    each type; their parameters are part of the key. ``eig_check``: the missed-eigenvalue check
    of every recorded eigensolve, a name of :data:`CHECKS`. ``hvp``: how the eigensolves form
    Hessian-vector products, one of :data:`eoslib.objective.HVP_MODES` (``"linearized"``: one
    :func:`jax.linearize` per solve, cheaper products that agree with ``"direct"`` to rounding,
    :meth:`eoslib.objective.Objective.linearized_matvec`); training never uses them.

    Fields added after records were made (:data:`ADDED_FIELDS`) stay out of :meth:`to_dict`,
    and so out of the key, at the value that reproduces the runs made before them, so that
    those records keep their keys.
    """

    model: str = "mlp"
    weight_init: str = "flax"
    dataset: str = "fmnist"
    n_train: int = 1000
    n_eval: int = 200
    loss: str = "xent"
    schedule: Schedule = Schedule(0.01)
    seed: int = 0
    max_epochs: int = 1000
    chunk_size: int | None = None
    completion_accuracy: float = 0.9999
    divergence_factor: float = 1000.0
    mean_window: int = 10
    eig_every: int = 0
    eig_start: int = 0
    eig_k: int = 1
    eig_tol: float = 1e-3
    keep_eigenvectors: bool = False
    sharpness_at_end: bool = True
    monitors: tuple = ()
    eig_check: str = "adaptive"
    hvp: str = "direct"
    trainer_version: int = TRAINER_VERSION

    def __post_init__(self):
        if self.weight_init not in INITS:
            raise ValueError(f"weight_init={self.weight_init!r}: must be one of {INITS}")
        if self.hvp not in HVP_MODES:
            raise ValueError(f"hvp={self.hvp!r}: must be one of {HVP_MODES}")
        check_of(self.eig_check)
        kinds = [type(m) for m in self.monitors]
        if any(kind not in monitors.MONITORS for kind in kinds) or len(set(kinds)) != len(kinds):
            raise ValueError(f"monitors={self.monitors!r}: at most one of each of "
                             f"{[m.__name__ for m in monitors.MONITORS]}")
        object.__setattr__(self, "monitors", tuple(sorted(self.monitors, key=lambda m: type(m).__name__)))
        if self.monitors and self.eig_every <= 0:
            raise ValueError("monitors need eig_every > 0 (they read the recorded eigenpairs)")
        if max((m.end_k for m in self.monitors), default=0) > self.eig_k:
            raise ValueError(f"Rotation k must not exceed eig_k={self.eig_k}")

    def monitor(self, kind: type):
        """The monitor of type ``kind`` (:mod:`eoslib.monitors`), None if the run has none."""
        return next((m for m in self.monitors if isinstance(m, kind)), None)

    def with_monitors(self, *added, drop: tuple[type, ...] = ()) -> RunConfig:
        """This config with ``added`` monitors (each replacing one of its type) and without
        those of the types in ``drop``."""
        gone = (*drop, *(type(m) for m in added))
        kept = tuple(m for m in self.monitors if not isinstance(m, gone))
        return dataclasses.replace(self, monitors=kept + added)

    def to_dict(self) -> dict:
        """The stored config: every field but ``monitors``, whose parameters appear under the
        names stored keys have always used (:data:`eoslib.monitors.KEY_DEFAULTS`), so that a
        config has the key it had when its monitors were fields."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "monitors"}
        for name, before in ADDED_FIELDS.items():
            if d[name] == before:
                del d[name]
        d.update(monitors.KEY_DEFAULTS)
        for m in self.monitors:
            d.update(m.key_fields())
        d["schedule"] = {k: float(v) for k, v in self.schedule._asdict().items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """The config of a stored record; one without a trainer version is version 0 (older
        than any current trainer), never the current one; one without ``weight_init`` was
        made with PyTorch's initialization, one without ``eig_check`` with the ``"legacy"`` check
        (the only ones before the fields existed). Its monitors come from their key fields."""
        found, rest = monitors.from_key_fields(d)
        return cls(**{"trainer_version": 0, "weight_init": "torch", "eig_check": "legacy", **rest,
                      "schedule": Schedule(**d["schedule"]), "monitors": found})

    def __setstate__(self, state: dict) -> None:
        """Unpickle a config pickled before monitors were objects, or before a field of
        :data:`ADDED_FIELDS` existed (a sweep checkpoint: it gets the field's earlier value)."""
        if "monitors" not in state:
            found, state = monitors.from_key_fields(state)
            state = {**state, "monitors": found}
        object.__setattr__(self, "__dict__", {**ADDED_FIELDS, **state})

    def key(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict` (the results-store key)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def load_data(self, data_dir=None) -> datasets.Split:
        """The data set of this config (:func:`eoslib.data.load`)."""
        return datasets.load(self.dataset, self.n_train, self.n_eval, data_dir)


class Prepared(NamedTuple):
    """What the epoch loops need, for one run or (``batched``) a leading model axis (M,)."""

    objective: Objective
    plan: execution.ExecutionPlan
    train_data: Batch
    eval_data: Batch
    limits: Limits
    schedule: Schedule
    state: TrainState
    batched: bool


def prepare(configs: Sequence[RunConfig], split: datasets.Split, *, batched: bool,
            devices=None, lane_groups: int | None = None,
            batched_eigensolves: bool | None = None) -> Prepared:
    """Objective, execution plan, data, limits, schedules and initial states of ``configs``
    (one config unless ``batched``; a batch shares all but schedule and seed). The data are
    device arrays for one run, host arrays for a batch (:mod:`eoslib.sweep` shards them)."""
    first = configs[0]
    if not batched and len(configs) != 1:
        raise ValueError("an unbatched run takes exactly one config")
    model = MODELS[first.model](weight_init=first.weight_init)
    plan = execution.plan(model, num_models=len(configs) if batched else 1, devices=devices,
                          lane_groups=lane_groups, batched_eigensolves=batched_eigensolves)
    objective = Objective(for_apply(model), first.loss,
                          default_chunk_size(model, len(split.y_train), first.chunk_size),
                          plan.compiled_loops, plan.stored_transpose, first.hvp)
    if batched:
        schedule = Schedule(*(np.asarray([c.schedule[i] for c in configs], np.float32)
                              for i in range(len(Schedule._fields))))
        limits = Limits(np.full(len(configs), first.max_epochs, np.int32),
                        np.full(len(configs), first.completion_accuracy, np.float32),
                        np.full(len(configs), first.divergence_factor, np.float32))
        keys = jax.vmap(jax.random.key)(jnp.asarray([c.seed for c in configs]))
    else:
        schedule = as_arrays(first.schedule)
        limits = Limits(jnp.int32(first.max_epochs), jnp.float32(first.completion_accuracy),
                        jnp.float32(first.divergence_factor))
        keys = jax.random.key(first.seed)
    state = init_states(model, keys, tuple(split.x_train.shape[1:]), first.mean_window)
    put = np.asarray if batched else jnp.asarray  # a sweep places host arrays on its mesh
    return Prepared(objective, plan, Batch(put(split.x_train), put(split.y_train)),
                    Batch(put(split.x_eval), put(split.y_eval)), limits, schedule, state, batched)


def problem(config: RunConfig, split: datasets.Split | None = None, *, data_dir=None) -> tuple[Problem, dict]:
    """The run ``config`` as a client of the public engine: ``(problem, params)``, an
    :class:`eoslib.diagnostics.Problem` whose loss is exactly the full-batch training loss that
    :func:`train` descends (the config's model, initialization, loss and chunked sums; BatchNorm
    in train mode over its ghost batches, every example), and the initial parameters of the
    config's seed. :func:`eoslib.diagnostics.train` then runs the paper's models with any optax
    optimizer, threshold-driven tracking or the effective sharpness; with ``optax.sgd(η)`` it is
    the constant-rate run of :func:`train` (``tests/test_diagnostics.py`` checks both series)."""
    split = config.load_data(data_dir) if split is None else split
    prepared = prepare([config], split, batched=False)
    stats = prepared.state.batch_stats  # read only in eval mode: the training loss uses batch statistics

    def loss(params, batch: Batch):
        return prepared.objective.loss_fn(stats, batch)(params)

    return Problem(loss, prepared.train_data), prepared.state.params


def collect(chunks: Sequence[dict], epochs: int, completed: bool, frozen: bool = False,
            dead_layer: int | None = None) -> tuple[dict, dict]:
    """History (arrays (T+1,) of :data:`METRICS` for θ_0..θ_T) and final metrics of one model
    from the metrics blocks of :func:`eoslib.gd.run_epochs` (its row of a batched block), with
    the stop flags ``frozen`` (an exactly zero gradient) and ``dead_layer`` (:func:`dead_layer`)."""
    active = np.concatenate([m["active"] for m in chunks])
    history = {name: np.concatenate([m[name] for m in chunks])[active] for name in METRICS}
    final = {"epochs": int(epochs), "completed": bool(completed), "frozen": bool(frozen), "dead_layer": dead_layer,
             **{name: float(values[-1]) for name, values in history.items()}}
    return history, final


def dead_layer(prepared: Prepared, state: TrainState) -> int | None:
    """The first hidden layer of an MLP whose ReLUs are all off (input ≤ 0) on every training
    image at ``state`` (one model), None if none is or the model is not an MLP: a dead network,
    whose loss, gradient and Hessian no longer depend on the layers up to it."""
    model = prepared.objective.model
    if not isinstance(model, MLP):
        return None
    inputs = np.asarray(mlp_relu_inputs(model, state.params, prepared.train_data.x))
    bounds = np.cumsum((0, *model.hidden))
    dead = [i for i in range(len(model.hidden)) if np.all(inputs[:, bounds[i]:bounds[i + 1]] <= 0)]
    return dead[0] if dead else None


def state_eigenpairs(prepared: Prepared, state: TrainState, k: int, tol: float,
                     prev_vectors=None, *, check: Check = DEFAULT_CHECK) -> Eigenpairs:
    """Top-k Hessian eigenpairs of the training loss at one model's ``state``, tracked from
    ``prev_vectors`` (d, k) when given, with the execution plan's driver and ``check``."""
    matvec = prepared.objective.hessian_matvec(state.params, state.batch_stats,
                                               prepared.train_data)
    dim = ravel_pytree(state.params)[0].size
    return top_eigenpairs(matvec, dim, k, tol=tol, prev_vectors=prev_vectors,
                          compiled=prepared.plan.compiled_loops, check=check)


def batched_eigenpairs(prepared: Prepared, states: TrainState, k: int, tol: float,
                       prev_vectors=None, *, check: Check = DEFAULT_CHECK) -> Eigenpairs:
    """:func:`state_eigenpairs` of every lane of a batch of ``states`` (leading axis M) in one
    program: the compiled solver ``vmap``ped over the lanes (each certified on its own, each
    lane's HVPs counted), tracked from ``prev_vectors`` (M, d, k) when given. Fields carry the
    lane axis: ``values`` (M, k), ``vectors`` (M, d, k), ... Used where
    :func:`eoslib.execution.plan` says ``batched_eigensolves``."""
    objective, data = prepared.objective, prepared.train_data
    dim = ravel_pytree(jax.tree.map(lambda a: a[0], states.params))[0].size
    return _batched_solve(objective, dim, k, check, states.params, states.batch_stats, data,
                          jnp.asarray(tol, jnp.float32), prev_vectors)


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _batched_solve(objective, dim, k, check, params, stats, data, tol, prev):
    def one(p, s, pv):
        return top_eigenpairs(objective.hessian_matvec(p, s, data), dim, k, tol=tol, prev_vectors=pv,
                              check=check)
    return jax.vmap(one)(params, stats, prev)


@dataclass
class RunResult:
    """A finished run: per-epoch ``history`` (arrays (T+1,) for θ_0..θ_T), ``eigen`` records
    (``epoch`` (R,), ``values``/``residuals`` (R, k), ``num_matvecs`` (R,), ``certified`` (R,),
    optionally ``vectors`` (R, d, k)), final metrics, flags, execution plan and final state."""

    config: RunConfig
    history: dict
    eigen: dict
    final: dict
    diverged: bool
    wall_time_s: float
    execution: dict
    state: TrainState = field(repr=False)


def progress_enabled(progress: bool | None) -> bool:
    """``None``: show progress bars only on an interactive terminal (silent under pytest/nbval)."""
    return sys.stderr.isatty() if progress is None else progress


_EIGEN_FIELDS = ("epoch", "values", "residuals", "num_matvecs", "certified", "vectors")


class EigenRecorder:
    """The eigen records of one run (single or a sweep's lane) at its block boundaries, each
    solve warm-started from the previous one, and the run's monitors (:mod:`eoslib.monitors`),
    which see every solve and may stop the run.

    Schedule: a solve at ``eig_start + j * eig_every``, and at any epoch at which a monitor
    wants one (:meth:`due`); while a monitor is pending the driver steps epoch by epoch
    (:meth:`steps`). A monitor's stop lowers the run's ``max_epochs`` to the epoch of the solve,
    so the history ends with the metrics at θ_e as at any stop. ``final["peaked"]`` and
    ``final["above"]`` are in every record (False without the monitor that sets them).
    """

    def __init__(self, config: RunConfig):
        self.config = config
        self.rows = {name: [] for name in _EIGEN_FIELDS}
        self.vectors = None
        self.states = [m.init() for m in config.monitors]

    def __setstate__(self, state: dict) -> None:
        """Unpickle a recorder pickled before monitors were objects (a sweep checkpoint): its
        stop flags and ρ anchors become the monitors' states."""
        if "states" not in state:
            counted, anchors = state.pop("after_reduction"), state.pop("anchors")
            peaked = state.pop("peaked")
            above = state.pop("above")
            old = {monitors.StopAfterPeak: (tuple(counted[0]), tuple(counted[1]), peaked),
                   monitors.StopAbove: above, monitors.Rotation: anchors}
            state["states"] = [old[type(m)] for m in state["config"].monitors]
        self.__dict__.update(state)

    def pending(self) -> bool:
        """True while a monitor wants the driver to look at every epoch (the ρ anchor solved at
        the epoch the training accuracy reaches its level, :class:`eoslib.monitors.Rotation`)."""
        return any(m.pending(s) for m, s in zip(self.config.monitors, self.states))

    def due(self, epoch: int, accuracy: float | None) -> bool:
        """Whether the eigenpairs are recorded at ``epoch``: a scheduled evaluation
        (``eig_start + j * eig_every``), or a monitor wants a solve given the last training
        accuracy ``accuracy``."""
        cfg = self.config
        if cfg.eig_every <= 0:
            return False
        scheduled = epoch >= cfg.eig_start and (epoch - cfg.eig_start) % cfg.eig_every == 0
        return scheduled or any(m.wants_solve(s, accuracy) for m, s in zip(cfg.monitors, self.states))

    def steps(self, epoch: int, block_epochs: int) -> int:
        """Epochs to run from ``epoch`` before the driver looks again: to the next scheduled
        evaluation, one while a monitor is pending, ``block_epochs`` without eigenpairs."""
        cfg = self.config
        if cfg.eig_every <= 0:
            return block_epochs
        if epoch < cfg.eig_start:
            ahead = cfg.eig_start - epoch
        else:
            ahead = cfg.eig_every - (epoch - cfg.eig_start) % cfg.eig_every
        return 1 if self.pending() and epoch >= cfg.eig_start else ahead

    def record(self, prepared: Prepared, state: TrainState, accuracy: float | None = None) -> bool:
        """Eigenpairs at ``state`` (one model) appended; True when a monitor stops the run.
        ``accuracy``: the last training accuracy measured."""
        cfg = self.config
        pairs = state_eigenpairs(prepared, state, cfg.eig_k, cfg.eig_tol, self.vectors,
                                 check=check_of(cfg.eig_check))
        return self.observe(pairs, int(state.epoch), bool(state.reduced), accuracy)

    def observe(self, pairs: Eigenpairs, epoch: int, reduced: bool, accuracy: float | None = None) -> bool:
        """:meth:`record` with the eigenpairs already solved (a sweep solves its lanes together,
        :func:`batched_eigenpairs`): ``pairs`` at ``epoch``, after the reduction or not."""
        cfg = self.config
        self.vectors = pairs.vectors
        row = dict(epoch=epoch, values=pairs.values, residuals=pairs.residuals,
                   num_matvecs=pairs.num_matvecs, certified=pairs.certified)
        if cfg.keep_eigenvectors:
            row["vectors"] = pairs.vectors
        for name, value in row.items():
            self.rows[name].append(np.asarray(value))
        reduces = np.isfinite(cfg.schedule.reduce_epoch) or np.isfinite(cfg.schedule.reduce_accuracy)
        obs = monitors.Observation(epoch, np.asarray(pairs.values), pairs.vectors,
                                   cfg.schedule.lr_small if reduced else cfg.schedule.lr,
                                   reduced or not reduces, accuracy)
        stop = False
        for i, m in enumerate(cfg.monitors):
            self.states[i], stops = m.observe(self.states[i], obs)
            stop = stop or stops
        return stop

    def arrays(self) -> dict:
        """``epoch`` (R,), ``values``/``residuals`` (R, k), ... as in :class:`RunResult`."""
        return {name: np.asarray(values) for name, values in self.rows.items() if values}

    def finish(self, prepared: Prepared, state: TrainState, diverged: bool) -> dict:
        """Final metrics: ``peaked``, ``above``, the monitors' and, unless the run diverged,
        ``sharpness`` (``sharpness_at_end``) from one cold solve at the last parameters (of as
        many pairs as the monitors need, at least one)."""
        cfg = self.config
        out = {"peaked": False, "above": False}
        for m, s in zip(cfg.monitors, self.states):
            out.update(m.final(s, None))
        end_k = max((m.end_k for m in cfg.monitors), default=0)
        if diverged or not (cfg.sharpness_at_end or end_k):
            return out
        pairs = state_eigenpairs(prepared, state, max(1, end_k), cfg.eig_tol, check=check_of(cfg.eig_check))
        if cfg.sharpness_at_end:
            out["sharpness"] = float(pairs.values[0])
        for m, s in zip(cfg.monitors, self.states):
            out.update(m.final(s, pairs))
        return out


def last_accuracy(metrics: dict, lane: int | None = None) -> float | None:
    """The training accuracy of the last active epoch of a metrics block (of one ``lane`` of
    a batched block), None if the block has none."""
    acc, active = metrics["train_acc"], metrics["active"]
    if lane is not None:
        acc, active = acc[lane], active[lane]
    acc = np.asarray(acc)[np.asarray(active, bool)]
    return float(acc[-1]) if acc.size else None


def drive(run, after_block=None) -> None:
    """The block loop of both drivers, :func:`train` (one run, :class:`_SingleRun`) and
    :func:`eoslib.sweep.run_batch` (a vmapped batch): until every model is finished, record the
    eigenpairs that are due (a monitor's stop lowers that model's epoch limit to the current
    epoch), run every active model to the next point at which one of them looks again
    (:meth:`EigenRecorder.steps`; one block of :func:`eoslib.gd.run_epochs`), and finish the
    models that stopped (history, final metrics, record); then ``after_block()`` (a sweep's
    compaction and checkpoint). ``run`` has ``done``, ``record_eigen``, ``steps``, ``advance``
    and ``finish_stopped``."""
    while not run.done():
        run.record_eigen()
        run.advance(run.steps())
        run.finish_stopped()
        if after_block is not None:
            after_block()


class _SingleRun:
    """One model while :func:`train` runs it (the :func:`drive` protocol): its unbatched program
    and state on the default device, metrics blocks, eigen recorder and, once it stopped,
    its :class:`RunResult` (``result``)."""

    def __init__(self, config: RunConfig, split: datasets.Split, block_epochs: int, progress: bool | None,
                 start: float):
        self.start, self.config = start, config
        self.prep = prepare([config], split, batched=False)
        self.state, self.chunks, self.recorder = self.prep.state, [], EigenRecorder(config)
        self.block = min(block_epochs, config.max_epochs + 1)
        self.bar = tqdm(total=config.max_epochs + 1, disable=not progress_enabled(progress), unit="epoch")
        self.result: RunResult | None = None

    def done(self) -> bool:
        return self.result is not None

    def record_eigen(self) -> None:
        accuracy = last_accuracy(self.chunks[-1]) if self.chunks else None
        if self.recorder.due(int(self.state.epoch), accuracy) and self.recorder.record(self.prep, self.state, accuracy):
            # the next epoch records the metrics at θ_e and stops there
            self.prep = self.prep._replace(limits=self.prep.limits._replace(max_epochs=self.state.epoch))

    def steps(self) -> int:
        return self.recorder.steps(int(self.state.epoch), self.block)

    def advance(self, num: int) -> None:
        prep = self.prep
        self.state, metrics = run_epochs(prep.objective, num, prep.train_data, prep.eval_data, prep.limits,
                                         prep.schedule, self.state, int(self.state.epoch))
        self.chunks.append(jax.device_get(metrics))
        self.bar.update(int(np.sum(self.chunks[-1]["active"])))

    def finish_stopped(self) -> None:
        state, prep = self.state, self.prep
        if not bool(state.stopped):
            return
        self.bar.close()
        frozen, diverged = bool(state.frozen), bool(state.diverged)
        history, final = collect(self.chunks, int(state.epoch), bool(state.completed), frozen,
                                 dead_layer(prep, state) if frozen else None)
        final.update(self.recorder.finish(prep, state, diverged))
        self.result = RunResult(self.config, history, self.recorder.arrays(), final, diverged,
                                time.perf_counter() - self.start, prep.plan.as_dict(), state)


def train(config: RunConfig, split: datasets.Split | None = None, *, data_dir=None,
          progress: bool | None = None, block_epochs: int = 100) -> RunResult:
    """Train one model by full-batch GD as ``config`` says; never raises on divergence.

    ``split`` overrides the data set named in ``config`` (then ``n_train``/``n_eval`` are
    ignored). Epochs run in jitted blocks of ``block_epochs`` (or to the next eigensolve), by
    the loop that sweeps share (:func:`drive`).
    """
    start = time.perf_counter()
    split = config.load_data(data_dir) if split is None else split
    run = _SingleRun(config, split, block_epochs, progress, start)
    drive(run)
    return run.result


def states_at(config: RunConfig, epochs, split: datasets.Split | None = None, *,
              data_dir=None) -> dict[int, TrainState]:
    """The training states at ``epochs`` (θ_e after e GD steps) of the run ``config`` describes,
    retraced from its initialization (no eigen records, no stopping rule but the config's
    limits). Raises if the run stops before one of them."""
    split = config.load_data(data_dir) if split is None else split
    prep = prepare([config], split, batched=False)
    state, out = prep.state, {}
    for epoch in sorted(set(int(e) for e in epochs)):
        if epoch > int(state.epoch) and not bool(state.stopped):
            state, _ = run_epochs(prep.objective, epoch - int(state.epoch), prep.train_data,
                                  prep.eval_data, prep.limits, prep.schedule, state,
                                  int(state.epoch))
        if int(state.epoch) != epoch:
            raise ValueError(f"the run stops at epoch {int(state.epoch)}, before epoch {epoch}")
        out[epoch] = state
    return out


def save_run(store: ResultsStore, result: RunResult, **extra) -> dict:
    """Write a :class:`RunResult` to ``store`` (eigenvectors, if kept, to .npz); returns the
    record as stored."""
    record = make_record(result.config, result.history, result.eigen, result.final,
                         result.diverged, result.wall_time_s, execution=result.execution,
                         **extra)
    vectors = result.eigen.get("vectors")
    store.put(record, {"eigen_vectors": vectors} if vectors is not None else None)
    return store.get(record["key"])


def computation_spec(analysis_version: int, **inputs) -> dict:
    """The spec of a chapter's computation record (:func:`eoslib.results.computed`): every input
    that decides it (``inputs``, e.g. ``parameters=``, ``seed=``), with the versions of the
    trainer (:data:`TRAINER_VERSION`) and of the chapter's analysis, so that a record made by
    other code never reads as current."""
    return {**inputs, "trainer_version": TRAINER_VERSION, "analysis_version": int(analysis_version)}


def study_record(store: ResultsStore, kind: str, spec: dict, compute, *, progress: bool = True) -> dict:
    """The one computation record of ``kind`` for ``spec``: read from ``store``, else
    ``compute(spec)`` (its JSON-ready value) computed and stored."""
    record, = computed(store, kind, [spec], compute, progress=progress, unit="study")
    return record


def run_or_load(config: RunConfig, store: ResultsStore | None = None, **train_kwargs) -> dict:
    """The stored record of ``config``, training (and storing) it first if absent."""
    store = ResultsStore() if store is None else store
    if config.key() in store:
        return store.get(config.key())
    return save_run(store, train(config, **train_kwargs))

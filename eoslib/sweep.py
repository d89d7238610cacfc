"""Sweeps over learning rates × seeds (× reduction times) as one compiled, vmapped program.

Runs that differ only in ``schedule`` and ``seed`` form a group; a group is cut, in the given
order, into batches of ``batch_size`` models. A batch is one compiled program, a loop over a
``vmap``ped epoch (:func:`eoslib.gd.run_epochs` with ``batched=True``; on CPU, models with
convolutions loop over epochs in Python): each model has its own parameters, schedule
and stopping state, and a model that completed, diverged or reached ``max_epochs`` is frozen by
its mask while the others go on; once at most half of the lanes are active, the batch is
compacted onto them (a frozen lane costs as much compute as an active one). The model axis is sharded over all visible devices with
``jax.sharding`` (a 1-D mesh named ``"models"``; the data are replicated), so the same code runs
on a laptop, on several GPUs, or across hosts after ``jax.distributed.initialize()`` (arrays
are assembled with ``jax.make_array_from_callback`` and gathered with
``multihost_utils.process_allgather``; only process 0 writes records). The batch is padded
to a multiple of the device count by repeating its last model (padding is discarded). On a
multi-core CPU the model axis is run in parallel in one of two ways. On one device, the vmapped
epoch is split into lane groups, one per core (:func:`eoslib.execution.plan`), independent
computations in one program that XLA:CPU's executor runs side by side: the per-model GEMMs of a
small MLP are too small to use two cores by themselves. Or the cores are exposed as JAX devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=N`` set before jax is imported) and the sweep
shards over them. The speed-ups against the same runs one after another are measured in
``benchmarks/results/trainer.json`` (bounded on CPU: batching does not make the 32 x 32
layers' GEMMs any faster per model).

Eigensolves (``eig_every`` > 0): between blocks, the active lanes' top eigenpairs, each tracked
from its previous solve; one lane after another on CPU, one vmapped program over the lanes
elsewhere (``ExecutionPlan.batched_eigensolves``; :func:`eoslib.runs.batched_eigenpairs`).

Resumability. Each model's record is written to the :class:`~eoslib.results.ResultsStore` as
soon as it stops. A batch whose records are all stored is skipped. A batch with some records
missing (a sweep killed mid-way) is run again *whole*, with the same composition and padding, so
every model is computed by the same programs on the same inputs (compaction depends only on
when models stop): the new records are bitwise identical to those an uninterrupted sweep
writes, and stored records are not rewritten.

Checkpoints (``checkpoint_every_s``): a model that runs for hours (CIFAR-10 on a CPU) would be
lost whole when its process is killed. With ``checkpoint_every_s`` set, the batch's whole
running state (parameters, optimizer and stopping state, metrics rows, eigen recorders, lane
layout) is pickled to ``<store>/.checkpoints/<batch>.pkl`` between blocks, at most that often;
a later :func:`run_batch` of the same batch (same configs, so the same keys and trainer version,
and the same device layout) resumes from it and deletes it when every model is written. The
resumed run executes the same programs on the same inputs from the saved state, so its records
equal an uninterrupted run's bit for bit (``tests/test_sweep.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm import tqdm  # text bar: tqdm.auto warns in notebooks without ipywidgets

from eoslib import data as datasets
from eoslib.gd import run_epochs
from eoslib.objective import Batch
from eoslib.results import ResultsStore, make_record
from eoslib.runs import (
    EigenRecorder,
    RunConfig,
    batched_eigenpairs,
    check_of,
    collect,
    dead_layer,
    drive,
    last_accuracy,
    prepare,
    progress_enabled,
)

__all__ = ["sweep", "run_batch", "plan_batches", "group_key", "model_mesh", "lr_seed_grid"]


def group_key(config: RunConfig) -> str:
    """What must be shared by the models of one vmapped program (all but schedule and seed)."""
    d = config.to_dict()
    del d["schedule"], d["seed"]
    return repr(sorted(d.items()))


def plan_batches(configs: Sequence[RunConfig],
                 batch_size: int | None = None) -> list[list[RunConfig]]:
    """Groups in first-appearance order, each cut into consecutive batches of ``batch_size``
    (default: the whole group). Depends only on ``configs``, never on what is stored."""
    groups: dict[str, list[RunConfig]] = {}
    for c in configs:
        groups.setdefault(group_key(c), []).append(c)
    batches = []
    for members in groups.values():
        size = batch_size or len(members)
        batches += [members[i:i + size] for i in range(0, len(members), size)]
    return batches


def model_mesh(devices=None) -> Mesh:
    """A 1-D mesh ``("models",)`` over ``devices`` (default: all devices of all processes)."""
    return Mesh(np.asarray(jax.devices() if devices is None else devices), ("models",))


def _put(tree, sharding: NamedSharding):
    """Place host arrays (identical on every process) as global arrays with ``sharding``."""
    def one(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])
    return jax.tree.map(one, tree)


def _get(tree):
    """Global arrays -> host numpy on every process."""
    if jax.process_count() > 1:
        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


def _lane(tree, i: int):
    return jax.tree.map(lambda a: jnp.asarray(a[i]), tree)


class _BatchRun:
    """One vmapped, sharded batch of :func:`run_batch` while it runs: its program (``prep``), the
    model each lane runs (``owner``), the models' metrics rows, eigen recorders and records, and
    where the time goes (``spent``). Its methods are the steps of :func:`eoslib.runs.drive`, the
    loop that :func:`eoslib.runs.train` runs over one model."""

    def __init__(self, batch: Sequence[RunConfig], split: datasets.Split, store: ResultsStore | None,
                 mesh: Mesh, lane_groups: int | None, block_epochs: int, progress: bool | None,
                 batched_eigensolves: bool | None = None):
        self.start, self.batch, self.store, first = time.perf_counter(), list(batch), store, batch[0]
        self.num_devices = mesh.devices.size
        padded = self.batch + [batch[-1]] * (-len(batch) % self.num_devices)
        prep = prepare(padded, split, batched=True, devices=list(mesh.devices.flat), lane_groups=lane_groups,
                       batched_eigensolves=batched_eigensolves)
        self.per_model, replicated = NamedSharding(mesh, P("models")), NamedSharding(mesh, P())
        self.prep = prep._replace(train_data=_put(prep.train_data, replicated),
                                  eval_data=_put(prep.eval_data, replicated),
                                  state=_put(jax.device_get(prep.state), self.per_model),
                                  schedule=_put(prep.schedule, self.per_model),
                                  limits=_put(prep.limits, self.per_model))
        self.single = self.prep._replace(train_data=Batch(*map(jnp.asarray, (split.x_train, split.y_train))))
        self.recorders = [EigenRecorder(c) for c in batch]
        self.block = min(block_epochs, first.max_epochs + 1)
        # owner[lane]: the model (index into batch) a lane of the program runs, -1 for padding
        self.owner = list(range(len(batch))) + [-1] * (len(padded) - len(batch))
        self.groups = self.prep.plan.lane_groups
        self.state, self.epoch, self.written = self.prep.state, 0, set()
        self.chunks: list[list[dict]] = [[] for _ in batch]  # each model's rows of the metrics blocks
        self.records: list[dict | None] = [None] * len(batch)
        self.bar = tqdm(total=len(batch), disable=not progress_enabled(progress), unit="model")
        self.spent = dict(epochs=0.0, eigen=0.0, lane_epochs=0, solves=0)

    def advance(self, num: int) -> None:
        """``num`` epochs of every lane; the metrics rows of the models not yet written kept."""
        tic, prep = time.perf_counter(), self.prep
        self.state, metrics = run_epochs(prep.objective, num, prep.train_data, prep.eval_data, prep.limits,
                                         prep.schedule, self.state, self.epoch, batched=prep.batched,
                                         lane_groups=self.groups)
        metrics = _get(metrics)
        self.spent["epochs"] += time.perf_counter() - tic
        self.spent["lane_epochs"] += len(self.owner) * metrics["active"].shape[-1]
        for lane, i in enumerate(self.owner):
            if i >= 0 and i not in self.written:
                self.chunks[i].append(jax.tree.map(lambda a, lane=lane: a[lane], metrics))
        self.epoch = int(np.max(_get(self.state.epoch)))  # the epoch of the models still active

    def active(self) -> list[tuple[int, int]]:
        """(lane, model) of the lanes still running."""
        stopped = _get(self.state.stopped)
        return [(lane, i) for lane, i in enumerate(self.owner) if i >= 0 and not stopped[lane]]

    def steps(self) -> int:
        """Epochs to the next point at which an active model records eigenpairs
        (:meth:`eoslib.runs.EigenRecorder.steps`; the active lanes share their epoch)."""
        return min((self.recorders[i].steps(self.epoch, self.block) for _, i in self.active()),
                   default=self.block)

    def record_eigen(self) -> None:
        """Eigen records of the active models that are due (one solve each, as train() does); a
        model whose sharpness has peaked gets its current epoch as its epoch limit."""
        tic = time.perf_counter()
        active = self.active()
        accuracy = {i: last_accuracy(self.chunks[i][-1]) if self.chunks[i] else None for _, i in active}
        lanes = [(lane, i) for lane, i in active if self.recorders[i].due(self.epoch, accuracy[i])]
        if not lanes:
            return
        host = _get(self.state)
        limit = np.array(_get(self.prep.limits.max_epochs))
        solved = self.solve_lanes(host, lanes) if self.prep.plan.batched_eigensolves else None
        for lane, i in lanes:
            if solved is None:
                stop = self.recorders[i].record(self.single, _lane(host, lane), accuracy[i])
            else:
                pairs = jax.tree.map(lambda a, lane=lane: np.asarray(a[lane]), solved)
                stop = self.recorders[i].observe(pairs, int(host.epoch[lane]), bool(host.reduced[lane]), accuracy[i])
            if stop:
                limit[lane] = host.epoch[lane]
            self.spent["solves"] += 1
        self.spent["eigen"] += time.perf_counter() - tic
        self.prep = self.prep._replace(limits=self.prep.limits._replace(max_epochs=_put(limit, self.per_model)))

    def solve_lanes(self, host, lanes: list[tuple[int, int]]):
        """The eigenpairs of every lane of the program in one vmapped solve
        (:func:`eoslib.runs.batched_eigenpairs`); a stopped or padding lane solves a copy of the
        first active one (a diverged lane's NaNs would hold every lane to the solver's limits)."""
        active = dict(lanes)  # lane of the program -> model
        source = [lane if lane in active else lanes[0][0] for lane in range(len(self.owner))]
        states = jax.tree.map(lambda a: jnp.asarray(np.asarray(a)[source]), host)
        cfg, prev = self.batch[0], None
        if self.recorders[lanes[0][1]].vectors is not None:  # tracked from each lane's last solve
            prev = jnp.stack([jnp.asarray(self.recorders[active[lane]].vectors) for lane in source])
        return _get(batched_eigenpairs(self.single, states, cfg.eig_k, cfg.eig_tol, prev,
                                       check=check_of(cfg.eig_check)))

    def done(self) -> bool:
        return len(self.written) >= len(self.batch)

    def finish_stopped(self) -> None:
        """The record of every model that stopped in the last block, written to the store."""
        flags = _get((self.state.stopped, self.state.completed, self.state.diverged, self.state.epoch,
                      self.state.frozen))
        host = None  # the state on the host, fetched once per block when a model stopped
        for lane, i in enumerate(self.owner):
            if i < 0 or i in self.written or not flags[0][lane]:
                continue
            host = _get(self.state) if host is None else host
            state = _lane(host, lane)
            frozen = bool(flags[4][lane])
            history, final = collect(self.chunks[i], flags[3][lane], flags[1][lane], frozen,
                                     dead_layer(self.single, state) if frozen else None)
            final.update(self.recorders[i].finish(self.single, state, bool(flags[2][lane])))
            self.records[i] = make_record(self.batch[i], history, self.recorders[i].arrays(), final,
                                          bool(flags[2][lane]), time.perf_counter() - self.start,
                                          execution=self.prep.plan.as_dict(), batch_size=len(self.batch))
            if self.store is not None and self.batch[i].key() not in self.store and jax.process_index() == 0:
                self.store.put(self.records[i])
            self.written.add(i)
            self.chunks[i] = []
            self.bar.update(1)

    def compact(self) -> None:
        """Once at most half of the lanes still run, the program rebuilt on those alone."""
        alive = [lane for lane, i in enumerate(self.owner) if i >= 0 and i not in self.written]
        if not alive or len(alive) > len(self.owner) // 2:
            return
        keep = alive + [alive[-1]] * (-len(alive) % self.num_devices)
        self.owner = [self.owner[lane] for lane in alive] + [-1] * (len(keep) - len(alive))
        self.state, schedule, limits = (
            _put(jax.tree.map(lambda a: np.asarray(a)[keep], _get(tree)), self.per_model)
            for tree in (self.state, self.prep.schedule, self.prep.limits))
        self.prep = self.prep._replace(schedule=schedule, limits=limits)
        self.groups = min(self.groups, len(keep))

    def close(self, progress: bool | None) -> None:
        self.bar.close()
        if progress_enabled(progress):
            s = self.spent
            tqdm.write(f"batch of {len(self.batch)}: {time.perf_counter() - self.start:.0f} s, of which epochs "
                       f"{s['epochs']:.0f} s ({s['lane_epochs']} lane-epochs), eigensolves "
                       f"{s['eigen']:.0f} s ({s['solves']} solves)")


def run_batch(batch: Sequence[RunConfig], split: datasets.Split, store: ResultsStore | None = None,
              *, mesh: Mesh | None = None, block_epochs: int = 100,
              lane_groups: int | None = None, compact: bool = True,
              progress: bool | None = None, batched_eigensolves: bool | None = None,
              checkpoint_every_s: float | None = None) -> list[dict]:
    """Train ``batch`` (configs of one group) as one vmapped, sharded program; returns their
    records in order and writes those not yet in ``store`` as each model stops. ``lane_groups``
    and ``batched_eigensolves`` override the execution plan's (:func:`eoslib.execution.plan`). With
    ``eig_every`` > 0 every active model's top eigenpairs are recorded between blocks of
    ``eig_every`` epochs, each model tracked from its previous solve as in
    :func:`eoslib.runs.train` (and the configs' monitors applied), by the loop :func:`eoslib.runs.drive`
    that ``train`` runs too. ``compact``: once at most half
    of the lanes still run, the program is rebuilt on those lanes alone (padded to the device
    count), so that stopped models stop costing compute: a frozen lane of a vmapped epoch costs
    as much as an active one, and the last models of a sweep can run 10 x longer than the
    median (a rate at the edge of divergence). ``checkpoint_every_s``: save the running batch
    at most that often and resume a saved one (the module docstring; needs ``store``)."""
    first = batch[0]
    if first.keep_eigenvectors:
        raise ValueError("sweeps do not keep eigenvectors; use train() for keep_eigenvectors")
    run = _BatchRun(batch, split, store, model_mesh() if mesh is None else mesh, lane_groups, block_epochs, progress,
                    batched_eigensolves)
    saver = _Checkpoint(store, batch, run, checkpoint_every_s) if checkpoint_every_s is not None else None
    if saver is not None:
        saver.resume(run)

    def after_block():
        if compact:
            run.compact()
        if saver is not None:
            saver.maybe_save(run)

    drive(run, after_block)
    if saver is not None:
        saver.path.unlink(missing_ok=True)
    run.close(progress)
    return run.records


def sweep(configs: Sequence[RunConfig], store: ResultsStore | None = None, *,
          split: datasets.Split | None = None, data_dir=None, batch_size: int | None = None,
          mesh: Mesh | None = None, block_epochs: int = 100, lane_groups: int | None = None,
          compact: bool = True, progress: bool | None = None,
          batched_eigensolves: bool | None = None, checkpoint_every_s: float | None = None) -> list[dict]:
    """Run every config not yet stored, batch by batch (see the module docstring); return all
    records in the order of ``configs``. ``split`` overrides the data set of the configs;
    ``lane_groups``, ``batched_eigensolves`` and ``checkpoint_every_s`` as in :func:`run_batch`."""
    store = ResultsStore() if store is None else store
    if jax.process_index() == 0:  # the only writer: a killed predecessor may have left a partial file
        store.remove_partial_writes()
    out: dict[str, dict] = {}
    for batch in plan_batches(configs, batch_size):
        if all(c.key() in store for c in batch):
            out.update((c.key(), store.get(c.key())) for c in batch)
            continue
        data = batch[0].load_data(data_dir) if split is None else split
        records = run_batch(batch, data, store, mesh=mesh, block_epochs=block_epochs,
                            lane_groups=lane_groups, compact=compact, progress=progress,
                            batched_eigensolves=batched_eigensolves, checkpoint_every_s=checkpoint_every_s)
        for c, rec in zip(batch, records):
            out[c.key()] = store.get(c.key()) if c.key() in store else rec
    return [out[c.key()] for c in configs]


class _Checkpoint:
    """The pickled state of a running :class:`_BatchRun` (module docstring, "Checkpoints")."""

    FIELDS = ("epoch", "owner", "groups", "written", "chunks", "records", "recorders", "spent")

    def __init__(self, store: ResultsStore | None, batch: Sequence[RunConfig], run: _BatchRun, every_s: float):
        if store is None:
            raise ValueError("checkpoint_every_s needs a store (the checkpoint lives beside its records)")
        ident = "|".join([c.key() for c in batch] + [str(run.num_devices), str(run.groups)])
        self.path = store.root / ".checkpoints" / f"{hashlib.sha256(ident.encode()).hexdigest()[:20]}.pkl"
        self.every_s, self.last = every_s, time.perf_counter()

    def maybe_save(self, run: _BatchRun) -> None:
        """Save ``run`` if ``every_s`` passed since the last save (never one with every model written)."""
        due = time.perf_counter() - self.last >= self.every_s and len(run.written) < len(run.batch)
        if jax.process_count() > 1:  # one decision for every process (each clock differs): _get is collective
            due = bool(multihost_utils.broadcast_one_to_all(np.asarray(due)))
        if not due:
            return
        saved = {name: getattr(run, name) for name in self.FIELDS}  # _get gathers: every process takes part
        saved.update(elapsed=time.perf_counter() - run.start,
                     **{name: _get(tree) for name, tree in (("state", run.state), ("schedule", run.prep.schedule),
                                                            ("limits", run.prep.limits))})
        if jax.process_index() == 0:  # the only writer, as for records
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_bytes(pickle.dumps(saved))
            os.replace(tmp, self.path)
        self.last = time.perf_counter()

    def resume(self, run: _BatchRun) -> bool:
        """Load the saved state into ``run`` (which was just built for the same batch); False if none."""
        if not self.path.is_file():
            return False
        saved = pickle.loads(self.path.read_bytes())
        for name in self.FIELDS:
            setattr(run, name, saved[name])
        run.start = time.perf_counter() - saved["elapsed"]
        run.state, schedule, limits = (_put(saved[name], run.per_model) for name in ("state", "schedule", "limits"))
        run.prep = run.prep._replace(schedule=schedule, limits=limits)
        run.bar.update(len(run.written))
        return True


def lr_seed_grid(base: RunConfig, lrs: Sequence[float], seeds: Sequence[int],
                 reduce_epochs: Sequence[float] | None = None) -> list[RunConfig]:
    """Configs for learning rates × seeds (× reduction epochs), from ``base``'s schedule."""
    out = []
    for lr in lrs:
        for r in (reduce_epochs if reduce_epochs is not None else [base.schedule.reduce_epoch]):
            for s in seeds:
                sched = base.schedule._replace(lr=float(lr), reduce_epoch=float(r))
                out.append(dataclasses.replace(base, schedule=sched, seed=int(s)))
    return out

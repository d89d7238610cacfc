"""Sweeps over learning rates × seeds (× reduction times) as one compiled, vmapped program.

Runs that differ only in ``schedule`` and ``seed`` form a group; a group is cut, in the given
order, into batches of ``batch_size`` models. A batch is one compiled program, a loop over a
``vmap``ped epoch (:func:`eoslib.train.run_epochs` with ``batched=True``; on CPU, models with
convolutions loop over epochs in Python): each model has its own parameters, schedule
and stopping state, and a model that completed, diverged or reached ``max_epochs`` is frozen by
its mask while the others go on. The model axis is sharded over all visible devices with
``jax.sharding`` (a 1-D mesh named ``"models"``; the data are replicated), so the same code runs
on a laptop, on several GPUs, or across hosts after ``jax.distributed.initialize()`` (arrays
are assembled with ``jax.make_array_from_callback`` and gathered with
``multihost_utils.process_allgather``; only process 0 writes records). The batch is padded
to a multiple of the device count by repeating its last model (padding is discarded). On a
multi-core CPU the model axis is run in parallel in one of two ways. On one device, the vmapped
epoch is split into lane groups, one per core (:func:`default_lane_groups`), independent
computations in one program that XLA:CPU's executor runs side by side: the per-model GEMMs of a
small MLP are too small to use two cores by themselves. Or the cores are exposed as JAX devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=N`` set before jax is imported) and the sweep
shards over them. For 24 fMNIST MLPs on a 2-core VM the vmapped sweep is 1.3-1.4x faster than
the 24 runs one after another with lane groups on one device, and 1.4-1.7x with
2 devices (``benchmarks/results/trainer.json``; the ratio is bounded on CPU because batching
does not make the 32 x 32 layers' GEMMs any faster per model).

Resumability. Each model's record is written to the :class:`~eoslib.results.ResultsStore` as
soon as it stops. A batch whose records are all stored is skipped. A batch with some records
missing (a sweep killed mid-way) is run again *whole*, with the same composition and padding, so
every model is computed by the same program on the same inputs: the new records are bitwise
identical to those an uninterrupted sweep writes, and stored records are not rewritten.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from tqdm import tqdm  # text bar: tqdm.auto warns in notebooks without ipywidgets

from eoslib import data as datasets
from eoslib.results import ResultsStore, make_record
from eoslib.schedules import Schedule
from eoslib.train import (METRICS, Batch, Limits, RunConfig, TrainState, init_state, load_split,
                          make_objective, progress_enabled, run_epochs, top_eigenpairs)


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


@partial(jax.jit, static_argnums=(0, 2, 3))
def _init_states(model, keys, input_shape, mean_window):
    return jax.vmap(lambda k: init_state(model, k, input_shape, mean_window))(keys)


def _lane(tree, i: int):
    return jax.tree.map(lambda a: jnp.asarray(a[i]), tree)


def default_lane_groups(mesh: Mesh, num_models: int) -> int:
    """Lane groups for :func:`eoslib.train.run_block`: on a single CPU device, one per core (at
    most one per model), so the cores run models side by side; 1 otherwise (a GPU, or a CPU
    whose cores are exposed as devices, already runs the model axis in parallel)."""
    device = mesh.devices.flat[0]
    if mesh.devices.size > 1 or device.platform != "cpu":
        return 1
    return max(1, min(os.cpu_count() or 1, num_models))


def run_batch(batch: Sequence[RunConfig], split: datasets.Split, store: ResultsStore | None = None,
              *, mesh: Mesh | None = None, block_epochs: int = 100,
              lane_groups: int | None = None, progress: bool | None = None) -> list[dict]:
    """Train ``batch`` (configs of one group) as one vmapped, sharded program; returns their
    records in order and writes those not yet in ``store`` as each model stops. ``lane_groups``:
    lane groups of the vmapped epoch (default :func:`default_lane_groups`; only on one device)."""
    start = time.perf_counter()
    first = batch[0]
    if first.eig_every > 0:
        raise ValueError("sweeps record only the final sharpness; use train() for eig_every > 0")
    mesh = model_mesh() if mesh is None else mesh
    num_devices = mesh.devices.size
    padded = list(batch) + [batch[-1]] * (-len(batch) % num_devices)
    groups = default_lane_groups(mesh, len(padded)) if lane_groups is None else lane_groups
    if groups > 1 and num_devices > 1:
        raise ValueError(f"lane_groups={groups} needs a single-device mesh (this one has "
                         f"{num_devices}): the devices already run the model axis in parallel")
    lanes, replicated = NamedSharding(mesh, P("models")), NamedSharding(mesh, P())

    objective = make_objective(first, len(split.y_train), split.x_train.shape[1:])
    train_data = _put(Batch(split.x_train, split.y_train), replicated)
    eval_data = _put(Batch(split.x_eval, split.y_eval), replicated)
    schedule = Schedule(*(np.asarray([c.schedule[i] for c in padded], np.float32)
                          for i in range(len(Schedule._fields))))
    limits = Limits(np.full(len(padded), first.max_epochs, np.int32),
                    np.full(len(padded), first.completion_accuracy, np.float32),
                    np.full(len(padded), first.divergence_factor, np.float32))
    keys = jax.vmap(jax.random.key)(jnp.asarray([c.seed for c in padded]))
    state = _init_states(objective.model, keys, tuple(split.x_train.shape[1:]), first.mean_window)
    state = _put(jax.device_get(state), lanes)
    schedule, limits = _put(schedule, lanes), _put(limits, lanes)
    block = min(block_epochs, first.max_epochs + 1)

    chunks, records, written, epoch = [], [None] * len(batch), set(), 0
    bar = tqdm(total=len(batch), disable=not progress_enabled(progress), unit="model")
    while len(written) < len(batch):
        state, metrics = run_epochs(objective, block, train_data, eval_data, limits, schedule,
                                    state, epoch, batched=True, lane_groups=groups)
        chunks.append(_get(metrics))
        flags = _get((state.stopped, state.completed, state.diverged, state.epoch))
        epoch = int(np.max(flags[3]))  # the epoch of the models still active
        for i, config in enumerate(batch):
            if i in written or not flags[0][i]:
                continue
            active = np.concatenate([m["active"][i] for m in chunks])
            history = {n: np.concatenate([m[n][i] for m in chunks])[active] for n in METRICS}
            final = {"epochs": int(flags[3][i]), "completed": bool(flags[1][i]),
                     **{n: float(v[-1]) for n, v in history.items()}}
            if config.sharpness_at_end and not flags[2][i]:
                lane = TrainState(*(_lane(_get(field), i) for field in state))
                pairs = top_eigenpairs(objective, lane, Batch(jnp.asarray(split.x_train),
                                                              jnp.asarray(split.y_train)),
                                       1, config.eig_tol, None)
                final["sharpness"] = float(pairs.values[0])
            records[i] = make_record(config, history, {}, final, bool(flags[2][i]),
                                     time.perf_counter() - start, batch_size=len(batch))
            if store is not None and config.key() not in store and jax.process_index() == 0:
                store.put(records[i])
            written.add(i)
            bar.update(1)
    bar.close()
    return records


def sweep(configs: Sequence[RunConfig], store: ResultsStore | None = None, *,
          split: datasets.Split | None = None, data_dir=None, batch_size: int | None = None,
          mesh: Mesh | None = None, block_epochs: int = 100,
          lane_groups: int | None = None, progress: bool | None = None) -> list[dict]:
    """Run every config not yet stored, batch by batch (see the module docstring); return all
    records in the order of ``configs``. ``split`` overrides the data set of the configs."""
    store = ResultsStore() if store is None else store
    if jax.process_index() == 0:  # the only writer: a killed predecessor may have left a partial file
        store.remove_partial_writes()
    out: dict[str, dict] = {}
    for batch in plan_batches(configs, batch_size):
        if all(c.key() in store for c in batch):
            out.update((c.key(), store.get(c.key())) for c in batch)
            continue
        data = load_split(batch[0], data_dir) if split is None else split
        records = run_batch(batch, data, store, mesh=mesh, block_epochs=block_epochs,
                            lane_groups=lane_groups, progress=progress)
        for c, rec in zip(batch, records):
            out[c.key()] = store.get(c.key()) if c.key() in store else rec
    return [out[c.key()] for c in configs]


def lr_seed_grid(base: RunConfig, lrs: Sequence[float], seeds: Sequence[int],
                 reduce_epochs: Sequence[float] | None = None) -> list[RunConfig]:
    """Configs for learning rates × seeds (× reduction epochs), from ``base``'s schedule."""
    out = []
    for lr in lrs:
        for r in (reduce_epochs if reduce_epochs is not None else [base.schedule.reduce_epoch]):
            for s in seeds:
                sched = base.schedule._replace(lr=float(lr), reduce_epoch=float(r))
                out.append(RunConfig(**{**base.__dict__, "schedule": sched, "seed": int(s)}))
    return out

"""The learning-rate grid swept until divergence, shared by the chapters that train it
(chapters 4, 6, 7 and 9): the rates, the sweep, a run's fate, the per-model summary and the
stability threshold, and Figure 5a's run (the paper's Fashion-MNIST MLP) under either loss.

Grid (Section 4.1): ``η_j = start · factor^j`` (fMNIST: 0.01 · 1.1^j), rounded to 4 significant
digits so that the configs, and their store keys, do not depend on floating-point powers;
"sampling continues until models diverge": :func:`sweep_until_divergence` goes through the
rates in order and stops at the first rate at which every seed failed (:func:`failed`: it
diverged, or its network died, which GD never leaves and which therefore never diverges);
missing runs are trained in vmapped batches of ``rates_per_batch`` rates x all seeds (so up to
``rates_per_batch − 1`` rates above that one may be trained and stored, never returned).
:func:`stored_grid` reads as much of it as a store holds, and lists what is missing.

Threshold (the dotted line of Figure 5): :func:`threshold_rate`, the smallest rate at which S
reached 2/η0 in most seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from eoslib import data as datasets
from eoslib import sweep
from eoslib.models import INITS
from eoslib.monitors import Rotation
from eoslib.results import STORE_ROOT, ResultsStore
from eoslib.runs import RunConfig

__all__ = ["StoredGrid", "stored_grid", "GRID_VALIDATORS", "FMNIST_GRID_VALIDATORS", "STORE_ROOT", "DEAD_SHARPNESS", "dead", "failed",
           "committed_store", "STORE_CHECK", "fmnist_base", "MSE_STORE", "fmnist_mse_base", "rate_grid",
           "sweep_until_divergence", "summary_rows", "rate_table", "threshold_rate"]

GRID_VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    "seeds": lambda v: None if 1 <= v <= 50 else "must be in [1, 50]",
    "seed": lambda v: None if v >= 0 else "must be >= 0",
    "start": lambda v: None if v > 0 else "must be positive",
    "factor": lambda v: None if v > 1 else "must be > 1",
    "max_rates": lambda v: None if v >= 1 else "must be >= 1",
    "rates_per_batch": lambda v: None if v >= 1 else "must be >= 1",
    "max_epochs": lambda v: None if v >= 10 else "must be >= 10",
    "store": lambda v: None if v in ("committed", "local") else "must be 'committed' or 'local'",
}
"""The checks every learning-rate grid shares (chapters 4, 6, 7 and 9)."""

FMNIST_GRID_VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    **GRID_VALIDATORS,
    "below": lambda v: None if v >= 0 else "must be >= 0",
    "n_train": lambda v: None if 100 <= v <= 60000 else "must be in [100, 60000]",
    "n_eval": lambda v: None if 10 <= v <= 10000 else "must be in [10, 10000]",
    "weight_init": lambda v: None if v in INITS else f"must be one of {INITS}",
}
"""The checks of Figure 5a's Fashion-MNIST grid (chapters 4, 7 and 9)."""


DEAD_SHARPNESS = 1e-2


def dead(record: dict) -> bool:
    """A dead network: the trainer stopped it frozen with a ReLU layer all off
    (``final["dead_layer"]``, ``TRAINER_VERSION`` ≥ 2: every unit of that layer inactive on every
    image, so the gradient and the Hessian vanish and the loss stays at ln 10, chance), or the
    run neither completed nor diverged and the top Hessian eigenvalue at its end is below
    :data:`DEAD_SHARPNESS` (a network all but dead, with a few units alive on a few images,
    which GD no longer moves measurably; trained models here end with S > 0.5)."""
    f = record["final"]
    return f.get("dead_layer") is not None or (
        not record["diverged"] and not f["completed"] and f.get("sharpness", float("inf")) < DEAD_SHARPNESS)


def failed(record: dict) -> bool:
    """Diverged, or a dead network (:func:`dead`): training broke down."""
    return bool(record["diverged"] or dead(record))


def committed_store(name: str) -> ResultsStore:
    """The committed results store ``store/<name>/`` of the repository (compact records, at
    most 200 epochs each: ``store/README.md`` documents the format)."""
    return ResultsStore(STORE_ROOT / name, compact_points=200)



STORE_CHECK = "adaptive"
"""The missed-eigenvalue check (:data:`eoslib.runs.CHECKS`) of the committed Fashion-MNIST grids:
every eigensolve certified with a stated error bound. Their first fill used ``"legacy"``, the
fixed 8-step check whose ``certified`` states no error bound (along chapter 2's run it certified
sets outside the tolerance, more often the larger k: ``benchmarks/results/certificate.json``);
those records stay in the stores (``store/README.md``) but no chapter reads them. The CIFAR-10
scales name their own check (:data:`CIFAR_SCALES`)."""


def fmnist_base(**overrides) -> RunConfig:
    """Figure 5a's run (Section 4.1, Appendix F): the MLP on the first 1,000 / 200 Fashion-MNIST
    images, full-batch GD at a constant rate to completion (training accuracy > 99.99 %, at
    most ``max_epochs``), the top-3 Hessian eigenpairs every 50 epochs (whether S reached 2/η,
    ρ) and the sharpness at completion; ``overrides`` replace fields."""
    base = dict(model="mlp", weight_init="flax", dataset="fmnist", n_train=1000, n_eval=200, max_epochs=15000,
                eig_every=50, eig_k=3, eig_tol=1e-3, monitors=(Rotation(3),), sharpness_at_end=True,
                eig_check=STORE_CHECK)
    return RunConfig(**{**base, **overrides})



MSE_STORE = "fmnist-mse"
"""The committed store of Figure 5a's grid under the squared loss (the book's chapter "Beyond
the paper: the squared loss")."""


def fmnist_mse_base(**overrides) -> RunConfig:
    """:func:`fmnist_base` under the squared loss on one-hot targets (``loss="mse"``:
    ½‖f(x) − e_y‖² per example, averaged over the examples, as Cohen et al. 2021 scale it),
    every eigensolve certified with the stated error bound (``eig_check="adaptive"``: a new
    store, so not the legacy check of the cross-entropy grids); ``overrides`` replace fields."""
    return fmnist_base(**{"loss": "mse", "eig_check": "adaptive", **overrides})



def rate_grid(start: float, factor: float, count: int, below: int = 0) -> list[float]:
    """``[start · factor^j for -below <= j < count]`` rounded to 4 significant digits
    (``below`` extends the grid under ``start``)."""
    return [float(f"{start * factor ** j:.3e}") for j in range(-below, count)]



def sweep_until_divergence(base: RunConfig, seeds: Sequence[int], store, *,
                           split: datasets.Split | None = None, start: float = 0.01,
                           factor: float = 1.1, max_rates: int = 80, rates_per_batch: int = 8,
                           below: int = 0, skip: int = 0, batch_size: int | None = None,
                           progress: bool | None = None, compute: bool = True,
                           checkpoint_every_s: float | None = None) -> list[dict] | None:
    """Records of the grid (module docstring; ``below`` rates under ``start`` first), rate by
    rate up to and including the first rate at which all ``seeds`` failed (or ``max_rates``
    rates from ``start``), rate-major. Stored runs are read; from the first rate with a
    missing run, ``rates_per_batch`` rates are trained as one vmapped sweep and written
    (resumable), so the records returned do not depend on the batch size. ``skip``: the first
    ``skip`` rates of the grid from ``start`` are left out (a grid that starts higher up but
    keeps the grid's values). ``batch_size``: models per vmapped program (default: all of the
    ``rates_per_batch`` rates; 1 on a CPU for models that take an hour, so that a killed fill
    loses one model at most). ``compute=False`` only reads: None when a run of the grid is
    not stored (never a partial grid). ``checkpoint_every_s``: :func:`eoslib.sweep.run_batch`'s
    (models that run for hours resume mid-way after a kill)."""
    if not compute:
        stored = stored_grid(base, seeds, store, start=start, factor=factor, max_rates=max_rates, below=below, skip=skip)
        return stored.records if stored.complete else None
    grid = rate_grid(start, factor, max_rates + skip, below)
    rates = grid[:below] + grid[below + skip:]
    records: list[dict] = []
    i = 0
    while i < len(rates):
        configs = sweep.lr_seed_grid(base, [rates[i]], seeds)
        if not all(c.key() in store for c in configs):
            sweep.sweep(sweep.lr_seed_grid(base, rates[i:i + rates_per_batch], seeds), store, split=split,
                        batch_size=batch_size, progress=progress, checkpoint_every_s=checkpoint_every_s)
        got = [store.get(c.key()) for c in configs]
        records += got
        if all(failed(r) for r in got):
            break
        i += 1
    return records


class StoredGrid(NamedTuple):
    """What a store holds of a grid (:func:`stored_grid`): the stored ``records`` (rate-major, up
    to and including the first rate at which every seed is stored and failed), the ``missing``
    configs of those rates, and whether the grid is ``complete`` (nothing missing: it is the grid
    :func:`sweep_until_divergence` returns)."""

    records: list[dict]
    missing: list[RunConfig]
    complete: bool


def stored_grid(base: RunConfig, seeds: Sequence[int], store, *, start: float = 0.01, factor: float = 1.1,
                max_rates: int = 80, below: int = 0, skip: int = 0) -> StoredGrid:
    """The grid of :func:`sweep_until_divergence` as far as ``store`` holds it, computing
    nothing: a chapter read from a store that is still being filled shows the runs made and
    counts the ones not made (its claims say so) instead of training them. Walks the rates in
    order; a rate with a missing run cannot end the grid, so the walk goes on to the first rate
    at which every seed is stored and failed, or to ``max_rates``."""
    grid = rate_grid(start, factor, max_rates + skip, below)
    records, missing = [], []
    for rate in grid[:below] + grid[below + skip:]:
        configs = sweep.lr_seed_grid(base, [rate], seeds)
        got = [store.get(c.key()) for c in configs if c.key() in store]
        records += got
        missing += [c for c in configs if c.key() not in store]
        if len(got) == len(configs) and all(failed(r) for r in got):
            break
    return StoredGrid(records, missing, not missing)


def summary_rows(records: Sequence[dict]) -> list[dict]:
    """One row per model: ``eta0``, ``reduce_epoch`` (inf without a reduction), ``seed``,
    ``val_acc`` and ``train_acc`` (at the last epoch), ``sharpness``,
    ``rho``, ``rho_eos``, ``epochs``, ``completed``, ``diverged``, ``dead``, ``failed``
    (:func:`failed`) and ``reached`` (S ≥ 2/η0 at a recorded epoch)."""
    rows = []
    for r in records:
        eta = r["config"]["schedule"]["lr"]
        values = r["eigen"].get("values", [])
        f = r["final"]
        rows.append(dict(eta0=eta, reduce_epoch=float(r["config"]["schedule"]["reduce_epoch"]),
                         seed=r["config"]["seed"], val_acc=f.get("eval_acc"), train_acc=f.get("train_acc"),
                         sharpness=f.get("sharpness", float("nan")), rho=f.get("rho", float("nan")),
                         rho_eos=f.get("rho_eos", float("nan")), epochs=f["epochs"],
                         completed=f["completed"], diverged=r["diverged"], dead=dead(r),
                         failed=failed(r),
                         reached=bool(any(v[0] >= 2.0 / eta for v in values))))
    return rows


def rate_table(rows: Sequence[dict], by: str = "eta0") -> str:
    """A text table with one line per value of ``by`` (``eta0``, or ``reduce_epoch`` for
    Figure 6's runs): the seeds, how many completed / diverged / died / reached 2/η0, and the
    means over the seeds that did not fail of validation accuracy, S, ρ and epochs."""
    lines = [f"{by:>12} seeds completed diverged dead reached 2/eta  mean val acc  mean S  mean rho  mean epochs"]
    for value in sorted({r[by] for r in rows}):
        m = [r for r in rows if r[by] == value]
        live = [r for r in m if not r["failed"]]

        def mean(k, live=live):
            return np.mean([r[k] for r in live]) if live else np.nan
        lines.append(f"{value:12.4g} {len(m):5d} {sum(r['completed'] for r in m):9d} {sum(r['diverged'] for r in m):8d} "
                     f"{sum(r['dead'] for r in m):4d} {sum(r['reached'] for r in live):13d}   {100 * mean('val_acc'):11.2f} "
                     f"{mean('sharpness'):7.1f} {mean('rho'):9.3f} {mean('epochs'):12.0f}")
    return "\n".join(lines)



def threshold_rate(rows: Sequence[dict]) -> float | None:
    """The smallest η0 at which S reached 2/η0 in more than half of its seeds that did not fail."""
    for eta in sorted({r["eta0"] for r in rows}):
        mine = [r for r in rows if r["eta0"] == eta and not r["failed"]]
        if mine and sum(r["reached"] for r in mine) > len(mine) / 2:
            return eta
    return None



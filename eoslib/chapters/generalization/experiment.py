"""Generalization past the stability limit (Section 4.1, Figure 5a; Appendix I, Figure 12a):
sweeps over the paper's learning-rate grid until every seed diverges.

The grid, the sweep until divergence, a run's fate and the threshold are the engine's
(:mod:`eoslib.grid`, shared with chapters 7 and 9; re-exported here); this module adds the
chapter's presets, the CIFAR-10 scales and Figures 6 and 13's runs.

Statistics: Spearman correlations with percentile-bootstrap
intervals over models (:func:`spearman_ci`), differences of means with bootstrap intervals
(:func:`mean_difference_ci`) and a permutation test of a monotone trend
(:func:`permutation_trend`), all seeded.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy.stats import rankdata, spearmanr

from eoslib import schedules, sweep
from eoslib.grid import (
    DEAD_SHARPNESS,
    FMNIST_GRID_VALIDATORS,
    GRID_VALIDATORS,
    MSE_STORE,
    STORE_CHECK,
    STORE_ROOT,
    committed_store,
    dead,
    failed,
    fmnist_base,
    fmnist_mse_base,
    rate_grid,
    rate_table,
    stored_grid,
    summary_rows,
    sweep_until_divergence,
    threshold_rate,
)
from eoslib.monitors import Rotation
from eoslib.results import ResultsStore
from eoslib.runs import RunConfig

__all__ = ["CifarRuns", "NEVER_SWITCHED", "cifar_runs", "describe_cifar_runs", "FMNIST_PRESETS", "FMNIST_VALIDATORS", "rate_grid", "MSE_STORE", "fmnist_mse_base", "reduction_configs", "accuracy_reduction_configs", "sweep_until_divergence", "DEAD_SHARPNESS",
           "dead", "failed", "fmnist_base", "CIFAR_SCALES", "cifar_scale", "cifar_base", "CIFAR_PRESETS", "cifar_presets", "CIFAR_VALIDATORS", "group_configs", "committed_store",
           "STORE_ROOT", "summary_rows", "rate_table", "store_summary", "paper_scale_records", "threshold_rate", "bootstrap_ci", "spearman_ci",
           "mean_difference_ci", "permutation_trend", "spearman_rows"]

_FMNIST = dict(seeds=5, seed=0, start=0.01, factor=1.1, below=8, max_rates=80, rates_per_batch=2, max_epochs=15000,
              store="committed", n_train=1000, n_eval=200, weight_init="flax",
              reduce_rates=[0.2111, 0.2323, 0.2555, 0.281, 0.3091, 0.34], reduce_small=0.01)
FMNIST_PRESETS: dict[str, dict[str, Any]] = {
    "ci": _FMNIST,  # the same grid: every run is in the committed store, so ci only reads it
    "paper": _FMNIST,
    "tiny": {**_FMNIST, "seeds": 2, "start": 0.05, "factor": 40.0, "below": 0, "max_rates": 2, "rates_per_batch": 2,
             "max_epochs": 300, "store": "local", "reduce_rates": [0.05]},
}
"""Chapter 4's profiles: ``ci`` and ``paper`` (the same grid, read from the committed store) and
``tiny`` (smoke test)."""

FMNIST_VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    **FMNIST_GRID_VALIDATORS,
    "reduce_rates": lambda v: None if all(x > 0 for x in v) else "must be positive rates (or [] for none)",
    "reduce_small": lambda v: None if v > 0 else "must be positive",
}
"""Chapter 4's parameter checks (:func:`eoslib.params.resolve`)."""


CIFAR_SCALES = {
    "paper": dict(n_train=5000, n_eval=1000, seeds=5, start=0.0005, factor=1.6, skip=0, max_rates=24,
                  max_epochs=10000, eig_every=50, eig_start=50, reduce_rates=(0.08796, 0.1407, 0.2252, 0.3603),
                  reduce_epochs=(150, 200, 300, 500, 1000), reduce_seeds=1, eta_small=0.021,
                  group_rates=(0.08796, 0.2252, 0.5765), group_size=9, group_eig_start=50, group_eig_every=50,
                  weight_init="flax", warmup=100, eig_check="adaptive", rho_at_accuracy=True),
    "cpu-1k": dict(n_train=1000, n_eval=1000, seeds=3, start=0.0008, factor=1.6 ** 2, skip=1, max_rates=9,
                   max_epochs=2000, eig_every=100, eig_start=20, reduce_rates=(0.08796,),
                   reduce_epochs=(40, 60, 80, 100), reduce_seeds=1, eta_small=0.021, group_rates=(0.08796,),
                   group_size=9, group_eig_start=20, group_eig_every=100, weight_init="flax", warmup=20,
                   eig_check="adaptive", rho_at_accuracy=True),
}
"""The CIFAR-10 runs (Section 4.1-4.2; Appendix F) at two scales; each names its
``weight_init`` (:data:`eoslib.models.INITS`), its linear ``warmup`` (epochs), its
``eig_check`` (:data:`eoslib.runs.CHECKS`) and whether Figure 13's ρ anchor is solved at the
epoch the training accuracy reaches 90 % (``rho_at_accuracy``).

``paper``: Figure 5b's VGG10 on CIFAR-10-5k / 1k, η0 = 0.0005 · 1.6^k until every seed
diverged, 5 seeds, to completion (at most ``max_epochs``), the paper's 100-epoch warm-up;
Figure 6's runs from η0 ≥ 0.086 switched to η_small = 0.021 at ``reduce_epochs``; Figure 13's
groups of 9 seeds at three rates of the paper's grid (the paper does not name its groups'
rates). The authors' initialization (Flax's lecun_normal), certified eigenpairs.

``cpu-1k`` (issue 30: the paper's experiment at a size two CPU cores fill in sessions): 1,000 /
1,000 images, the grid's odd points η0 = 0.0005 · 1.6^(2j+1) from 0.002048 to 3.778 (the
paper's named rates 0.08796, 0.2252 and 0.5765 among them), 3 seeds. 0.005243 was meant to be
the stable side (S at initialization ≈ 127, 2/η0 = 381), but its first run (seed 0) sharpened
to S = 452 by epoch 120 and completed at epoch 952: the threshold at 1k images lies below it.
The next rate down, 0.002048, is stable (its seed 0 never reached 2/η0 = 977 in 2,000 epochs),
so the grid starts there; its runs end at the 2,000-epoch cap short of completion (99.9 %
training accuracy), about 3 h a model on one core, resumed across sessions from checkpoints
(``store/README.md``). A 20-epoch warm-up,
because at 1k images the runs from 0.0215 up complete in 132-234 epochs (the probe,
``benchmarks/results/cifar_scale_probe.json``: the warm-up is 9-15 % of them), where the
paper's 100 epochs would be most of the run. Eigenpairs every 100 epochs from epoch 20 (the end
of the warm-up): a VGG10 Hessian-vector product over 1k images costs ~5 s on one core here,
about two epochs, so a top-3 solve (30-55 products) costs as much as 50-100 epochs. Figure
6: 0.08796 switched to 0.021 at epochs 40, 60, 80 and 100, spread over its constant-η phase
(after the warm-up, before completion), one seed. Figure 13: one group of 9 seeds at 0.08796,
Figure 5b's runs (seeds 0-2 are the sweep's own), each with its ρ anchor solved at the epoch it
reaches 90 % training accuracy. The authors' initialization, certified eigenpairs."""


def cifar_scale(scale: str | Mapping) -> dict:
    """The settings of one of :data:`CIFAR_SCALES` (a clear error for an unknown name), or a copy
    of ``scale`` if it is a mapping of the same settings (a scale of one's own)."""
    if isinstance(scale, Mapping):
        return dict(scale)
    if scale not in CIFAR_SCALES:
        raise ValueError(f"scale {scale!r}: choose one of {sorted(CIFAR_SCALES)}")
    return dict(CIFAR_SCALES[scale])


def cifar_base(scale: str | Mapping = "cpu-1k", **overrides) -> RunConfig:
    """Figure 5b's run (Section 4.1, Appendix F): VGG10 (GhostBatchNorm over 1,024) on the first
    ``n_train`` / ``n_eval`` CIFAR-10 images of the scale, full-batch GD with the scale's linear
    warm-up (100 epochs unless it names its ``warmup``), to completion (training accuracy > 99.99 %, at most ``max_epochs``); the
    top-3 Hessian eigenpairs every ``eig_every`` epochs from ``eig_start`` on (whether
    S reached 2/η, ρ) and the sharpness at completion. The grid's rates replace the schedule's
    ``lr``; ``overrides`` replace fields. A scale of one's own (a mapping) may name another
    ``model`` (the device tool's plumbing test runs the MLP)."""
    s = cifar_scale(scale)
    base = dict(model=s.get("model", "vgg10"), weight_init=s["weight_init"], dataset="cifar10", n_train=s["n_train"], n_eval=s["n_eval"],
                schedule=schedules.warmup(s["start"], s.get("warmup", 100)), max_epochs=s["max_epochs"],
                eig_every=s["eig_every"], eig_start=s["eig_start"], eig_k=3, eig_tol=1e-3,
                monitors=(Rotation(3, at_accuracy=s.get("rho_at_accuracy", False)),),
                sharpness_at_end=True, eig_check=s.get("eig_check", STORE_CHECK))
    return RunConfig(**{**base, **overrides})


def _cifar_preset(scale_name: str, **changes) -> dict[str, Any]:
    """Chapter 6's parameters at a scale of :data:`CIFAR_SCALES` (its settings, the first seed 0,
    one rate per vmapped batch, the committed store), with ``changes``."""
    s = cifar_scale(scale_name)
    return {**s, "scale": scale_name, "seed": 0, "rates_per_batch": 1, "group_batch": s["group_size"],
            "store": "committed", "compute": True,
            **{k: list(s[k]) for k in ("reduce_rates", "reduce_epochs", "group_rates")}, **changes}


CIFAR_PRESETS: dict[str, dict[str, Any]] = {
    "ci": _cifar_preset("cpu-1k", compute=False),
    "paper": _cifar_preset("paper"),
    "tiny": _cifar_preset("cpu-1k", n_train=20, n_eval=20, seeds=1, skip=4, max_rates=1, max_epochs=10, eig_every=10,
                          eig_start=10, warmup=2, reduce_epochs=[5], reduce_seeds=1, group_size=3, group_eig_start=10,
                          group_eig_every=10, group_batch=1, store="local"),
}
"""Chapter 6's profiles: ``ci`` reads the ``cpu-1k`` scale from the committed store and computes
nothing (``compute``: a run the store lacks is counted as missing, and the claims that need it
say so), ``paper`` asks for the paper's scale (a GPU: ``tools/device_cifar.py``), ``tiny`` is a
live smoke test (its group of 3 one model at a time, ``group_batch``, so that it reuses the
programs of Figure 5b's one-model runs instead of compiling them again for three lanes)."""

def cifar_presets(scale: str | None = None) -> dict[str, dict[str, Any]]:
    """:data:`CIFAR_PRESETS`, or (a ``scale`` named) ``ci`` and ``paper`` started from that
    scale's settings, so that ``-p scale cpu-1k`` moves every setting of the scale, not the
    name alone (``tiny`` stays the smoke test)."""
    if scale is None:
        return CIFAR_PRESETS
    return {**CIFAR_PRESETS, "ci": _cifar_preset(scale, compute=False), "paper": _cifar_preset(scale)}


CIFAR_VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    **GRID_VALIDATORS,
    "scale": lambda v: None if v in CIFAR_SCALES else f"must be one of {sorted(CIFAR_SCALES)}",
    "skip": lambda v: None if v >= 0 else "must be >= 0",
    "eig_every": lambda v: None if v >= 1 else "must be >= 1",
    "eig_start": lambda v: None if v >= 0 else "must be >= 0",
    "n_train": lambda v: None if 10 <= v <= 50000 else "must be in [10, 50000]",
    "n_eval": lambda v: None if 10 <= v <= 10000 else "must be in [10, 10000]",
    "reduce_rates": lambda v: None if all(x > 0 for x in v) else "must be positive rates",
    "reduce_epochs": lambda v: None if all(x >= 1 for x in v) else "must be epochs >= 1",
    "reduce_seeds": lambda v: None if v >= 1 else "must be >= 1",
    "eta_small": lambda v: None if v > 0 else "must be positive",
    "group_rates": lambda v: None if all(x > 0 for x in v) else "must be positive rates (or [] for none)",
    "group_size": lambda v: None if v >= 3 else "must be >= 3 (a rank correlation)",
    "group_eig_start": lambda v: None if v >= 1 else "must be >= 1",
    "group_eig_every": lambda v: None if v >= 1 else "must be >= 1",
    "group_batch": lambda v: None if v >= 1 else "must be >= 1",
}
"""Chapter 6's parameter checks (:func:`eoslib.params.resolve`)."""


def reduction_configs(base: RunConfig, rates: Sequence[float], reduce_epochs: Sequence[int],
                      eta_small: float, seeds: Sequence[int]) -> list[RunConfig]:
    """Figure 6's runs: ``base`` at η0 for every rate, switched to ``eta_small`` at each of
    ``reduce_epochs`` (:func:`eoslib.schedules.reduce_at_epoch`, the warm-up kept), for every
    seed; rate-major, then epoch."""
    return [dataclasses.replace(base, seed=int(s), schedule=schedules.reduce_at_epoch(
                float(eta), float(eta_small), int(e), int(base.schedule.warmup_epochs)))
            for eta in rates for e in reduce_epochs for s in seeds]


def accuracy_reduction_configs(base: RunConfig, rates: Sequence[float], eta_small: float, seeds: Sequence[int],
                               accuracy: float = 0.9) -> list[RunConfig]:
    """Section 4.2's "switching to a lower η for the final 20 % of training (from ~90 %
    accuracy)": ``base`` at η0 for every rate until the training accuracy first reaches
    ``accuracy``, then ``eta_small`` (:func:`eoslib.schedules.reduce_at_accuracy`), for every
    seed; rate-major. Each is paired with the constant-η0 run of the same seed."""
    return [dataclasses.replace(base, seed=int(s), schedule=schedules.reduce_at_accuracy(
                float(eta), float(eta_small), float(accuracy), int(base.schedule.warmup_epochs)))
            for eta in rates for s in seeds]


def group_configs(base: RunConfig, scale: dict, seed: int = 0) -> list[RunConfig]:
    """Figure 13's runs (Appendix I): ``scale["group_size"]`` seeds from ``seed`` at each of
    ``scale["group_rates"]``, ``base`` with its eigenpairs every ``group_eig_every`` epochs from
    ``group_eig_start`` (so that each model has its ρ anchor); rate-major."""
    base = dataclasses.replace(base, eig_start=int(scale["group_eig_start"]), eig_every=int(scale["group_eig_every"]))
    return sweep.lr_seed_grid(base, scale["group_rates"], range(seed, seed + int(scale["group_size"])))


NEVER_SWITCHED = "6, never switched"
"""The key of :attr:`CifarRuns.missing` that counts Figure 6's never-switched runs (Figure 5b's
runs at Figure 6's rates and seeds: the stars of Figure 6, which claim 3 reads)."""


class CifarRuns(NamedTuple):
    """Chapter 6's records (:func:`cifar_runs`) and their :func:`summary_rows`."""

    records: list[dict]
    """Figure 5b: the grid until every seed failed."""
    reduced: list[dict]
    """Figure 6: the runs switched to η_small."""
    grouped: list[dict]
    """Figure 13: the groups of seeds that share η0 (the profile's ``group_rates``)."""
    rows: list[dict]
    rows6: list[dict]
    rows13: list[dict]
    threshold: float | None
    """:func:`threshold_rate` of Figure 5b's rows."""
    scale_group: list[RunConfig]
    """The scale's own Figure 13 group (whatever the profile's ``group_rates``)."""
    scale_group_stored: int
    """How many of ``scale_group`` the store holds."""
    computed: int
    """Records computed now (not read from the store)."""
    seconds: float
    missing: dict = {}
    """Per figure (``"5b"``, ``"6"``, ``"13"``, and :data:`NEVER_SWITCHED`: the Figure 5b runs at
    Figure 6's rates and seeds), the planned runs the store does not hold (only when the chapter
    reads without computing, ``P["compute"]`` false: a fill in progress)."""


def cifar_runs(P: Mapping[str, Any], store: ResultsStore) -> CifarRuns:
    """Figures 5b, 6 and 13's runs at chapter 6's resolved parameters ``P`` (its scale, grid,
    reductions and groups): read from ``store``, computed where missing (Figure 5b's sweep
    ``rates_per_batch`` rates at a time, Figure 6's a rate's ``reduce_seeds`` at a time, Figure
    13's ``group_batch`` models at a time). With ``P["compute"]`` false nothing is computed: the runs the store
    holds are returned and the others counted (``missing``; :func:`eoslib.grid.stored_grid`)."""
    base = cifar_base(P["scale"], n_train=P["n_train"], n_eval=P["n_eval"], max_epochs=P["max_epochs"],
                      eig_every=P["eig_every"], eig_start=P["eig_start"])
    before, start = len(store.keys()), time.perf_counter()
    seeds = range(P["seed"], P["seed"] + P["seeds"])
    reductions = reduction_configs(base, P["reduce_rates"], P["reduce_epochs"], P["eta_small"],
                                   range(P["seed"], P["seed"] + P["reduce_seeds"]))
    groups = group_configs(base, P, seed=P["seed"])
    if P.get("compute", True):
        records = sweep_until_divergence(base, seeds, store, start=P["start"], factor=P["factor"], skip=P["skip"],
                                         max_rates=P["max_rates"], rates_per_batch=P["rates_per_batch"], progress=None)
        reduced = sweep.sweep(reductions, store, batch_size=P["reduce_seeds"], progress=None)
        grouped = sweep.sweep(groups, store, batch_size=P.get("group_batch") or P["group_size"], progress=None)
        missing = {}
    else:
        grid = stored_grid(base, seeds, store, start=P["start"], factor=P["factor"], skip=P["skip"],
                           max_rates=P["max_rates"])
        records, reduced, grouped = grid.records, *([store.get(c.key()) for c in cs if c.key() in store]
                                                    for cs in (reductions, groups))
        stored = {(r["eta0"], r["seed"]) for r in summary_rows(records)}
        stars = {(c.schedule.lr, c.seed) for c in reductions}  # Figure 6's never-switched runs (Figure 5b's)
        missing = {"5b": len(grid.missing), "6": len(reductions) - len(reduced), "13": len(groups) - len(grouped),
                   NEVER_SWITCHED: len(stars - stored)}
    scale_group = group_configs(base, cifar_scale(P["scale"]), seed=P["seed"])
    seconds = time.perf_counter() - start
    rows = summary_rows(records)
    return CifarRuns(records, reduced, grouped, rows, summary_rows(reduced), summary_rows(grouped),
                     threshold_rate(rows), scale_group, sum(c.key() in store for c in scale_group),
                     len(store.keys()) - before, seconds, {k: v for k, v in missing.items() if v})


def describe_cifar_runs(runs: CifarRuns, P: Mapping[str, Any], scale: str) -> str:
    """One line per figure: its models, rates and what became of them (``scale``: the label)."""
    rates = sorted({r["eta0"] for r in runs.rows})
    all_failed = [e for e in rates if all(r["failed"] for r in runs.rows if r["eta0"] == e)]
    return "\n".join([
        f"Figure 5b ({scale} scale): {len(runs.records)} models, {len(rates)} rates from {rates[0]:g} to "
        f"{rates[-1]:g}; every seed diverged or died at {all_failed[0] if all_failed else 'no rate'}; stability "
        f"threshold (smallest rate at which S reached 2/eta in most seeds): {runs.threshold}",
        f"Figure 6 ({scale} scale): {len(runs.reduced)} models, eta0 in {P['reduce_rates']} switched to "
        f"{P['eta_small']} at epochs {P['reduce_epochs']}, {P['reduce_seeds']} seed(s); "
        f"{sum(r['completed'] for r in runs.rows6)} completed",
        f"Figure 13 ({scale} scale): {len(runs.grouped)} models, {P['group_size']} seeds at each of "
        f"{P['group_rates']}, eigenpairs every {P['group_eig_every']} epochs from epoch {P['group_eig_start']}; "
        f"{sum(r['completed'] for r in runs.rows13)} completed, {sum(np.isfinite(r['rho']) for r in runs.rows13)} "
        f"with a rho; the {P['scale']} scale's group: {runs.scale_group_stored} of {len(runs.scale_group)} runs "
        f"stored"] + (["Not in the store yet (read without computing; their claims are not decided): "
                      + ", ".join(f"Figure {f}: {n} planned run(s)" for f, n in runs.missing.items())]
                     if runs.missing else []))


def store_summary(records: Sequence[dict], computed: int, seconds: float) -> str:
    """How many records were computed now and read from the store, on which devices and commits."""
    made = sorted({r["provenance"]["device"] for r in records})
    commits = sorted({r["provenance"]["git_commit"][:10] for r in records})
    return (f"{computed} computed now, {len(records) - computed} read from the store in {seconds:.0f} s; "
            f"made on {made} at commits {commits}")


def paper_scale_records(store: ResultsStore, n_train: int) -> int:
    """How many records of ``store`` were trained on ``n_train`` images (the paper's scale)."""
    return sum(r["config"]["n_train"] == n_train for r in store.records())


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's ρ of each row of ``y`` (D, n) on the same row of ``x`` (D, n) (average ranks
    for ties; NaN for a row with one distinct value), as scipy's ``spearmanr`` on each row, in
    one vectorized pass (the bootstrap and permutation nulls below draw thousands of rows)."""
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / den, np.nan)


def _resamples(n: int, draws: int, seed: int) -> np.ndarray:
    """(draws, n) resampled indices of ``range(n)``, drawn one resample at a time (the stream of
    every interval here, so a vectorized statistic sees the same resamples as a looped one)."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, n, n) for _ in range(draws)])


def _percentile_interval(stats: np.ndarray, level: float) -> tuple[float, float]:
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def bootstrap_ci(statistic: Callable[[np.ndarray], float], n: int, *, draws: int = 2000,
                 level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of ``statistic(indices)`` over ``draws`` resamples (with
    replacement) of ``range(n)``."""
    return _percentile_interval(np.array([statistic(i) for i in _resamples(n, draws, seed)]), level)


def spearman_ci(x: Sequence[float], y: Sequence[float], *, draws: int = 2000, level: float = 0.95,
                seed: int = 0) -> tuple[float, tuple[float, float]]:
    """Spearman's ρ of ``y`` on ``x`` (finite pairs) and its bootstrap interval (the resamples of
    :func:`bootstrap_ci`, their correlations by :func:`spearman_rows`); NaN for both (undefined)
    with fewer than 3 pairs or a constant series (every resample is constant too), without the
    warning SciPy gives for the latter."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:  # too few pairs, or a constant series: undefined
        return float("nan"), (float("nan"), float("nan"))
    rho = float(spearmanr(x, y).statistic)
    idx = _resamples(x.size, draws, seed)
    return rho, _percentile_interval(spearman_rows(x[idx], y[idx]), level)


def mean_difference_ci(a: Sequence[float], b: Sequence[float], *, draws: int = 2000,
                       level: float = 0.95, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """``mean(a) − mean(b)`` and its bootstrap interval (each group resampled separately)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    diffs = np.array([rng.choice(a, a.size).mean() - rng.choice(b, b.size).mean() for _ in range(draws)])
    alpha = (1 - level) / 2
    return float(a.mean() - b.mean()), (float(np.quantile(diffs, alpha)), float(np.quantile(diffs, 1 - alpha)))


def permutation_trend(x: Sequence[float], y: Sequence[float], *, draws: int = 5000,
                      seed: int = 0) -> tuple[float, float]:
    """Spearman's ρ of ``y`` on ``x`` and its two-sided permutation p-value (``y`` shuffled;
    a permuted |ρ| counts as at least as extreme within 1e-12, so that rounding cannot split
    ties of the rank statistic)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rho = float(spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    shuffled = np.stack([rng.permutation(y) for _ in range(draws)])
    null = spearman_rows(np.broadcast_to(x, shuffled.shape), shuffled)
    return rho, float((np.sum(np.abs(null) >= abs(rho) - 1e-12) + 1) / (draws + 1))

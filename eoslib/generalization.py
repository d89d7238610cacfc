"""Generalization past the stability limit (Section 4.1, Figure 5a; Appendix I, Figure 12a):
sweeps over the paper's learning-rate grid until every seed diverges.

Grid (Section 4.1): ``η_j = start · factor^j`` (fMNIST: 0.01 · 1.1^j), rounded to 4 significant
digits so that the configs, and their store keys, do not depend on floating-point powers;
"sampling continues until models diverge": :func:`sweep_until_divergence` runs the rates in
order, in vmapped batches of ``rates_per_batch`` rates x all seeds, and stops after the first
batch that contains a rate at which every seed diverged (rates above it are not run).
"""

from __future__ import annotations

from collections.abc import Sequence

from eoslib import data as datasets
from eoslib import schedules, sweep
from eoslib.runs import RunConfig

__all__ = ["rate_grid", "grid_configs", "sweep_until_divergence"]


def rate_grid(start: float, factor: float, count: int) -> list[float]:
    """``[start · factor^j for j < count]`` rounded to 4 significant digits."""
    return [float(f"{start * factor ** j:.3e}") for j in range(count)]


def grid_configs(base: RunConfig, rates: Sequence[float], seeds: Sequence[int]) -> list[RunConfig]:
    """``base`` at constant learning rate ``η`` for every rate and seed, rate-major."""
    return [RunConfig(**{**base.__dict__, "schedule": schedules.constant(eta), "seed": int(s)})
            for eta in rates for s in seeds]


def sweep_until_divergence(base: RunConfig, seeds: Sequence[int], store, *,
                           split: datasets.Split | None = None, start: float = 0.01,
                           factor: float = 1.1, max_rates: int = 80, rates_per_batch: int = 8,
                           progress: bool | None = None) -> list[dict]:
    """Records of the grid (module docstring) up to and including the first batch with a rate
    at which all ``seeds`` diverged (or ``max_rates`` rates), rate-major; stored runs are read,
    missing ones trained and written (resumable)."""
    rates = rate_grid(start, factor, max_rates)
    records: list[dict] = []
    for i in range(0, len(rates), rates_per_batch):
        batch = grid_configs(base, rates[i:i + rates_per_batch], seeds)
        got = sweep.sweep(batch, store, split=split, progress=progress)
        records += got
        per_rate = [got[j:j + len(seeds)] for j in range(0, len(got), len(seeds))]
        if any(all(r["diverged"] for r in rate) for rate in per_rate):
            break
    return records

"""The learning-rate grid of Section 4.1 and the sweep that stops once every seed diverges."""

import numpy as np

from eoslib import generalization
from eoslib.results import ResultsStore
from eoslib.runs import RunConfig


def test_rate_grid_is_rounded_and_geometric():
    grid = generalization.rate_grid(0.01, 1.1, 47)
    assert grid[:3] == [0.01, 0.011, 0.0121] and grid[10] == 0.02594 and len(grid) == 47
    np.testing.assert_allclose(grid, 0.01 * 1.1 ** np.arange(47), rtol=5e-4)  # 4 significant digits


def test_sweep_stops_after_the_first_batch_with_an_all_diverged_rate(small_split, tmp_path):
    base = RunConfig(n_train=128, n_eval=32, max_epochs=20, eig_every=5, eig_k=2, rho_k=2)
    store = ResultsStore(tmp_path, compact_points=8)
    records = generalization.sweep_until_divergence(base, [0, 1], store, split=small_split, start=0.05,
                                                    factor=1e3, max_rates=6, rates_per_batch=2)
    rates = [r["config"]["schedule"]["lr"] for r in records]
    assert rates == [0.05, 0.05, 50.0, 50.0]  # the batch with 50 (all diverged) is the last
    assert [r["diverged"] for r in records] == [False, False, True, True]
    stored = store.get(records[0]["key"])
    assert stored["compact"] and len(stored["history"]["epoch"]) <= 8 and stored["history"]["epoch"][0] == 0
    assert stored["history"]["epoch"][-1] == 20 and stored["schema"] == 2
    assert {"rho", "rho_eos", "sharpness"} <= set(stored["final"])

"""Subprocess helper for tests/test_sweep.py: run a small fMNIST MLP sweep into a store.

Usage: python tests/sweep_worker.py STORE_DIR DEVICES [OUT_JSON]
(DEVICES = number of devices of the mesh; set XLA_FLAGS before starting for forced host
devices). Writes the records in config order to OUT_JSON if given.
"""

import json
import sys

import jax

from eoslib import data, schedules, sweep
from eoslib.results import ResultsStore
from eoslib.runs import RunConfig


def configs(max_epochs: int = 60) -> list[RunConfig]:
    base = RunConfig(n_train=128, n_eval=32, max_epochs=max_epochs, mean_window=4,
                     schedule=schedules.constant(0.05), sharpness_at_end=False)
    # 4 lrs x 2 seeds. lr 1e4 diverges at once while the others stop at completion or
    # max_epochs: with batches of 3 the first batch writes its records at different times, so
    # a kill can leave it partly stored (the case a restart must rerun whole).
    return sweep.lr_seed_grid(base, [1e4, 0.05, 0.1, 0.3], [0, 1])


def main(store_dir: str, devices: int, out: str | None, batch_size: int = 3) -> None:
    split = data.fashion_mnist(128, 32)
    mesh = sweep.model_mesh(jax.devices()[:devices])
    records = sweep.sweep(configs(), ResultsStore(store_dir), split=split, mesh=mesh,
                          batch_size=batch_size, block_epochs=10)
    if out:
        with open(out, "w") as f:
            json.dump({"num_devices": len(jax.devices()), "records": records}, f)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)

"""Measure before filling the squared-loss grid (issue 32): chapter 4's MLP on the first 1,000
Fashion-MNIST images under MSE on one-hot targets (``eoslib.losses.mse``: ½‖f(x) − e_y‖² per
example, averaged over the examples, as Cohen et al. 2021 scale it), full-batch GD at a constant
rate to completion (training accuracy > 99.99 %, at most ``max_epochs``), the top Hessian
eigenvalue every ``eig_every`` epochs: whether S reached 2/η0 (the threshold), the MSE loss at
completion, and the cost per run.

    python tools/probe_mse.py --rates 0.01,0.03,0.1,0.3 --seeds 0
    python tools/probe_mse.py --table --json benchmarks/results/mse_probe.json

Records go to a scratch store (``results/mse-probe``, git-ignored; resumable), keyed by their
configs (the chapter's grid can reuse them). The table gives per run: its end (completed /
diverged / cap) and epochs, the first recorded epoch with S ≥ 2/η0, the largest recorded S
and 2/S_max, the final training loss (MSE) and validation accuracy, and the wall time."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eoslib import provenance, schedules, sweep  # noqa: E402
from eoslib.chapters.generalization import experiment as generalization  # noqa: E402
from eoslib.results import ResultsStore  # noqa: E402


def configs(rates, seeds, max_epochs: int, eig_every: int):
    return [generalization.fmnist_base(loss="mse", schedule=schedules.constant(float(eta)), seed=int(s),
                                       max_epochs=max_epochs, eig_every=eig_every, monitors=(), eig_k=1,
                                       eig_check="adaptive")
            for eta in rates for s in seeds]


def row(record: dict) -> dict:
    eta = record["config"]["schedule"]["lr"]
    epochs = np.asarray(record["eigen"]["epoch"])
    values = np.asarray(record["eigen"]["values"], float)[:, 0] if len(epochs) else np.zeros(0)
    above = epochs[values >= 2 / eta]
    s_max = float(values.max()) if values.size else float("nan")
    end = "diverged" if record["diverged"] else "completed" if record["final"]["completed"] else "cap"
    return dict(eta0=eta, seed=record["config"]["seed"], end=end, epochs=record["final"]["epochs"],
                first_above=int(above[0]) if above.size else None, s_max=s_max,
                two_over_s_max=2 / s_max if s_max > 0 else float("nan"),
                train_loss=record["final"]["train_loss"], val_acc=record["final"]["eval_acc"],
                wall_s=record["wall_time_s"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rates", default="0.01,0.03,0.1,0.3")
    p.add_argument("--seeds", default="0")
    p.add_argument("--max-epochs", type=int, default=15000)
    p.add_argument("--eig-every", type=int, default=50)
    p.add_argument("--store", type=Path, default=ROOT / "results" / "mse-probe")
    p.add_argument("--table", action="store_true", help="only print what is stored")
    p.add_argument("--json", type=Path, help="write the table (with provenance) to this file")
    a = p.parse_args()
    store = ResultsStore(a.store)
    wanted = configs([float(r) for r in a.rates.split(",")], [int(s) for s in a.seeds.split(",")],
                     a.max_epochs, a.eig_every)
    if a.table:
        records = [store.get(c.key()) for c in wanted if c.key() in store]
    else:
        records = [sweep.sweep([c], store)[0] for c in wanted]  # one at a time: resumable per run
    rows = [row(r) for r in records]
    for r in rows:
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    if a.json:
        a.json.write_text(json.dumps({"made_by": "tools/probe_mse.py", "command": " ".join(sys.argv[1:]),
                                      "provenance": provenance.provenance(), "runs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

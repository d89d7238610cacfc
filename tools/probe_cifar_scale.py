"""Measure before choosing chapter 6's CPU scale (issue 30): VGG10 (the authors' initialization)
on the first ``n_train`` CIFAR-10 images, one seed per rate, full-batch GD with a ``warmup``-epoch
linear warm-up to completion (training accuracy > 99.99 %, at most ``max_epochs``), the top
Hessian eigenvalue every ``eig_every`` epochs (whether S reached 2/η0: the threshold).

    python tools/probe_cifar_scale.py --n-train 1000 --warmup 20 --rates 0.055,0.1407,0.36
    python tools/probe_cifar_scale.py --n-train 1000 --warmup 20 --table   # what is stored so far

Records go to a scratch store (``results/cifar-probe``, git-ignored; resumable: kill and rerun),
keyed by their configs, so a scale chosen from them can reuse them. The table gives per run:
epochs to its end (completed / diverged / cap), the warm-up's share of them, the first epoch at
which S ≥ 2/η0, S at the end, the final validation accuracy and the wall time per epoch (the
eigensolves included; on a shared machine an upper bound). ``--json`` writes the same per run,
with the commit and device that made it, merged with the runs of other settings already in the
file (``benchmarks/results/cifar_scale_probe.json``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eoslib import schedules, sweep  # noqa: E402
from eoslib.chapters.generalization import experiment as generalization  # noqa: E402
from eoslib.results import ResultsStore  # noqa: E402


def configs(n_train: int, n_eval: int, warmup: int, rates, seed: int, max_epochs: int, eig_every: int):
    base = generalization.cifar_base("paper", n_train=n_train, n_eval=n_eval, max_epochs=max_epochs,
                                     eig_every=eig_every, eig_start=eig_every, eig_k=1, monitors=(),
                                     eig_check="legacy")  # the check it measured with
    return [dataclasses.replace(base, schedule=schedules.warmup(float(eta), warmup), seed=seed)
            for eta in rates]


def summary(record: dict) -> dict:
    """One run's measurements (the table's columns)."""
    c, f = record["config"], record["final"]
    eta, warm, epochs = c["schedule"]["lr"], int(c["schedule"]["warmup_epochs"]), f["epochs"]
    eig_e = np.asarray(record["eigen"].get("epoch", []))
    top = np.asarray(record["eigen"].get("values", np.zeros((0, 1))))
    hit = [int(e) for e, v in zip(eig_e, top[:, 0] if top.size else []) if v >= 2 / eta]
    return dict(eta0=eta, n_train=c["n_train"], warmup=warm, seed=c["seed"], epochs=epochs,
                end="diverged" if record["diverged"] else ("completed" if f["completed"] else "cap"),
                warmup_share=warm / max(epochs, 1), first_s_at_2_over_eta=hit[0] if hit else None,
                s_end=f.get("sharpness", float("nan")), two_over_eta=2 / eta, val_acc=f.get("eval_acc", float("nan")),
                wall_s=record.get("wall_time_s", float("nan")), eig_solves=int(eig_e.size),
                commit=record["provenance"].get("git_commit"), device=record["provenance"].get("device"))


def row(s: dict) -> str:
    hit = s["first_s_at_2_over_eta"]
    return (f"{s['eta0']:8.4g} {s['epochs']:6d} {s['end']:9s} {s['warmup_share']:6.1%} {str(hit) if hit else '-':>8s} "
            f"{s['s_end']:9.3g} {s['two_over_eta']:8.3g} {s['val_acc']:7.3f} {s['wall_s'] / max(s['epochs'], 1):7.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n-train", type=int, default=1000)
    p.add_argument("--n-eval", type=int, default=500)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--rates", default="0.0215,0.055,0.1407,0.36,0.922")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-epochs", type=int, default=1500)
    p.add_argument("--eig-every", type=int, default=25)
    p.add_argument("--batch", type=int, default=1, help="rates per vmapped program")
    p.add_argument("--root", type=Path, default=ROOT / "results" / "cifar-probe")
    p.add_argument("--table", action="store_true", help="print what is stored for these settings; run nothing")
    p.add_argument("--json", type=Path, help="also write the stored runs' measurements here")
    a = p.parse_args()
    store = ResultsStore(a.root, compact_points=200)
    cs = configs(a.n_train, a.n_eval, a.warmup, [float(r) for r in a.rates.split(",")], a.seed, a.max_epochs,
                 a.eig_every)
    if not a.table:
        sweep.sweep(cs, store, batch_size=a.batch, progress=True)
    print(f"n_train {a.n_train}, warm-up {a.warmup}, seed {a.seed}, cap {a.max_epochs}")
    print("     eta epochs end        warm%  S>=2/eta  S_end     2/eta   val_acc  s/epoch")
    rows = [summary(store.get(c.key())) for c in cs if c.key() in store]
    for s in rows:
        print(row(s))
    if a.json:  # merged with the runs of other settings already there (same run: replaced)
        ident = lambda r: (r["eta0"], r["n_train"], r["warmup"], r.get("seed", 0))  # noqa: E731
        old = json.loads(a.json.read_text())["runs"] if a.json.exists() else []
        mine = {ident(r) for r in rows}
        merged = sorted([r for r in old if ident(r) not in mine] + rows, key=lambda r: (r["n_train"], r["eta0"]))
        a.json.write_text(json.dumps({"made_by": "tools/probe_cifar_scale.py", "max_epochs": a.max_epochs,
                                      "eig_every": a.eig_every, "runs": merged}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

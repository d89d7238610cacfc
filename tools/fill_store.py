"""Compute what a committed results store lacks (resumable: kill and rerun at will).

    python tools/fill_store.py fmnist-generalization      # Figure 5a: 0.01 x 1.1^k, k >= -8, until every seed diverges
    python tools/fill_store.py fmnist-generalization --root /tmp/fresh   # the whole sweep from nothing (timing)
    python tools/fill_store.py fmnist-mse                 # chapter 9: the grid under the squared loss (from 0.01), then Figure 4's runs
    python tools/fill_store.py cifar-generalization --scale cpu-1k --batch-size 1 --figures 5b   # one model at a time
    python tools/fill_store.py cifar-generalization --figures 5b --skip 2 --batch-size 1    # from the grid's 2nd rate
    python tools/fill_store.py cifar-generalization --figures stable   # the grid's first rate, 0.002048 (~3 h a seed)
    python tools/fill_store.py cifar-generalization --runs 3.778:2,3.778:1   # these runs, in this order (a second core)
    python tools/fill_store.py cifar-generalization --scale paper        # ... at the paper's scale (a GPU: tools/device_cifar.py)
    python tools/fill_store.py cifar-generalization --figures 5b --background   # behind every other program (yield_cpu)

Prints the wall time of the whole sweep, and per vmapped batch where it goes (training epochs
against eigensolves). The chapters ask the same store for the same configs
and compute only what is missing; this tool is for filling it ahead (on a CPU or a GPU).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from eoslib import sweep
from eoslib.chapters.flattening import experiment as flattening
from eoslib.chapters.generalization import experiment as generalization
from eoslib.results import ResultsStore


def named_runs(text: str, scale: str) -> list:
    """The Figure 5b configs of ``scale`` named by ``text``, ``RATE:SEED`` comma-separated (e.g.
    ``"3.778:2,3.778:1"``), in that order; a rate not on the scale's grid or a seed outside its
    seeds fails at once (a typo would otherwise train a run no figure reads)."""
    s = generalization.cifar_scale(scale)
    grid = generalization.rate_grid(s["start"], s["factor"], s["max_rates"] + s["skip"])[s["skip"]:]
    configs = []
    for item in text.split(","):
        rate, _, seed = item.strip().partition(":")
        try:
            rate, seed = float(rate), int(seed)
        except ValueError:
            raise ValueError(f"--runs {item!r}: write RATE:SEED, e.g. 3.778:2") from None
        if rate not in grid or not 0 <= seed < s["seeds"]:
            raise ValueError(f"--runs {item!r}: not a Figure 5b run of {scale} (rates {grid}, seeds 0-{s['seeds'] - 1})")
        configs += sweep.lr_seed_grid(generalization.cifar_base(scale), [rate], [seed])
    return configs


def fill_cifar(store, scale: str, rates_per_batch: int, figures: str, split=None,
               batch_size: int | None = None, checkpoint_every_s: float | None = None, skip: int | None = None,
               named: str | None = None) -> int:
    """The runs of ``figures`` (comma-separated, in that order; any of 5b, 6, 13, stable): Figure
    5b's sweep until every seed diverged, Figure 6's reductions, Figure 13's groups of seeds, and
    ``stable``: the seeds of the grid's first rate (at ``cpu-1k`` 0.002048, the stable side: the
    slowest runs, about 3 h each on one core), so that one process fills them while another
    runs Figure 5b from the next rate up (``skip``); the record count. ``skip``: Figure 5b's
    rates left out at the grid's start (default: the scale's; the same configs either way).
    ``split``: the data (default: the configs' own, from ``eoslib.data``). ``batch_size``: models per vmapped program
    (default: a rate's seeds, 2 reductions, a group; 1 runs one model at a time, so that a killed
    fill loses one model at most). ``checkpoint_every_s``: save a running batch that often
    (:func:`eoslib.sweep.run_batch`), so that a killed fill resumes mid-model. ``named``: only
    these Figure 5b runs (:func:`named_runs`), one at a time, whatever ``figures``: two fills on
    two cores then take disjoint runs (two fills of the same grid would both start its first
    missing run, from the same checkpoint)."""
    s = generalization.cifar_scale(scale)
    base = generalization.cifar_base(scale)
    every = checkpoint_every_s

    first = s["skip"] if skip is None else skip  # the grid's top stays the scale's

    def fig5b():
        return generalization.sweep_until_divergence(
            base, range(s["seeds"]), store, start=s["start"], factor=s["factor"], skip=first,
            max_rates=s["max_rates"] + s["skip"] - first, rates_per_batch=rates_per_batch, split=split,
            batch_size=batch_size, progress=True, checkpoint_every_s=every)

    def fig6():
        configs = generalization.reduction_configs(base, s["reduce_rates"], s["reduce_epochs"],
                                                   s["eta_small"], range(s["reduce_seeds"]))
        return sweep.sweep(configs, store, split=split,
                           batch_size=batch_size or max(2, rates_per_batch * s["reduce_seeds"]), progress=True,
                           checkpoint_every_s=every)

    def fig13():
        configs = generalization.group_configs(base, s)
        return sweep.sweep(configs, store, split=split, batch_size=batch_size or s["group_size"], progress=True,
                           checkpoint_every_s=every)

    def stable():
        rate = generalization.rate_grid(s["start"], s["factor"], s["skip"] + 1)[-1]
        return sweep.sweep(sweep.lr_seed_grid(base, [rate], range(s["seeds"])), store, split=split, batch_size=1,
                           progress=True, checkpoint_every_s=every)

    if named:
        configs = named_runs(named, scale)
        return len(sweep.sweep(configs, store, split=split, batch_size=1, progress=True, checkpoint_every_s=every))
    runs = {"5b": fig5b, "6": fig6, "13": fig13, "stable": stable}
    order = figures.split(",")
    if unknown := set(order) - set(runs):
        raise ValueError(f"figures {sorted(unknown)}: choose among {sorted(runs)}")
    return sum(len(runs[f]()) for f in order)


def fill_mse(store, seeds: int, below: int, rates_per_batch: int) -> int:
    """Chapter 9's runs at its ``ci`` profile (:mod:`eoslib.chapters.squared_loss.experiment`): the grid under the
    squared loss, then Figure 4's reference, onset and switched runs; the record count."""
    from eoslib import data
    from eoslib.chapters.squared_loss import experiment as squared_loss

    P = {**squared_loss.PRESETS["ci"], "seeds": seeds, "below": below, "rates_per_batch": rates_per_batch}
    records = squared_loss.grid(P, "mse", store, progress=True).records
    study = flattening.figure4_study(squared_loss.switch_base(P, "mse"), store,
                                     data.load("fmnist", P["n_train"], P["n_eval"]), **squared_loss.figure4_settings(P, "mse"))
    return len(records) + len(study.records)


def yield_cpu() -> str:
    """Run this process at the lowest CPU priority, behind the programs of other sessions too,
    and say what was set. ``nice`` alone does not do that on Linux with autogroups
    (``/proc/sys/kernel/sched_autogroup_enabled``): each session's processes share one CPU
    weight, and nice values compete only within a session. A Jupyter kernel (papermill, nbval)
    starts a session of its own, so a niced fill started from the same shell as the tests took
    half of a core from every kernel (a chapter's tiny run: 92 s beside two niced fills, 52 s
    once their session's group was niced; 2026-12-06). So: nice 19, a session of its own
    (``setsid``), and that session's group niced to 19."""
    done = [f"nice {os.nice(19 - os.nice(0))}"]
    try:
        os.setsid()
        done.append("own session")
    except OSError:  # already a session or process-group leader: keep the group it has
        pass
    group = Path("/proc/self/autogroup")
    try:
        group.write_text("19")
        if group.read_text().split()[-1:] == ["19"]:  # some sandboxes take the write and show nothing
            done.append("autogroup nice 19")
    except OSError:  # no autogroups (another OS, or the kernel's setting): nice is what there is
        pass
    return ", ".join(done)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", choices=["fmnist-generalization", generalization.MSE_STORE, "cifar-generalization"])
    parser.add_argument("--seeds", type=int, default=5, help="fmnist: seeds per rate")
    parser.add_argument("--below", type=int, default=None,
                        help="fmnist: rates of the grid under 0.01 (stable ones; default 8, and 0 for fmnist-mse)")
    parser.add_argument("--scale", choices=sorted(generalization.CIFAR_SCALES), default="cpu-1k",
                        help="cifar: the scale (eoslib.chapters.generalization.experiment.CIFAR_SCALES)")
    parser.add_argument("--figures", default="5b,6,13",
                        help="cifar: which figures' runs, in this order (any of 5b, 6, 13, stable)")
    parser.add_argument("--skip", type=int, default=None,
                        help="cifar: Figure 5b's rates left out at the grid's start (default: the scale's)")
    parser.add_argument("--runs", default=None,
                        help="cifar: only these Figure 5b runs, RATE:SEED comma-separated (e.g. 3.778:2,3.778:1), "
                             "one at a time, so that two fills take disjoint runs")
    parser.add_argument("--rates-per-batch", type=int, default=None,
                        help="rates per vmapped sweep (default: 8 for fmnist, 1 for cifar)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="cifar: models per vmapped program (1: one at a time, a killed fill loses one model at most)")
    parser.add_argument("--checkpoint-every-s", type=float, default=600.0,
                        help="cifar: save a running model this often, so that a killed fill resumes mid-model")
    parser.add_argument("--root", type=Path, help="a store folder other than the committed one")
    parser.add_argument("--background", action="store_true",
                        help="lowest CPU priority, behind other sessions' programs (notebook kernels) too: yield_cpu")
    args = parser.parse_args()
    if args.background:
        print(f"background: {yield_cpu()}", flush=True)
    store = (generalization.committed_store(args.store) if args.root is None
             else ResultsStore(args.root, compact_points=200))
    before = len(store.keys())
    start = time.perf_counter()
    if args.store == "cifar-generalization":
        count = fill_cifar(store, args.scale, args.rates_per_batch or 1, args.figures, batch_size=args.batch_size,
                           checkpoint_every_s=args.checkpoint_every_s, skip=args.skip, named=args.runs)
    elif args.store == generalization.MSE_STORE:
        count = fill_mse(store, args.seeds, args.below or 0, args.rates_per_batch or 8)
    else:
        count = len(generalization.sweep_until_divergence(
            generalization.fmnist_base(), range(args.seeds), store, below=8 if args.below is None else args.below,
            rates_per_batch=args.rates_per_batch or 8, progress=True))
    seconds = time.perf_counter() - start
    print(f"{count} records ({len(store.keys()) - before} computed) in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

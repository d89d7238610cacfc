"""The learning-rate grid of Section 4.1 and the sweep that stops once every seed diverges."""

import dataclasses

import numpy as np
import pytest

from eoslib import sweep
from eoslib.chapters.generalization import experiment as generalization
from eoslib.monitors import Rotation
from eoslib.results import ResultsStore
from eoslib.runs import RunConfig


def test_rate_grid_is_rounded_and_geometric():
    grid = generalization.rate_grid(0.01, 1.1, 47)
    assert grid[:3] == [0.01, 0.011, 0.0121] and grid[10] == 0.02594 and len(grid) == 47
    np.testing.assert_allclose(grid, 0.01 * 1.1 ** np.arange(47), rtol=5e-4)  # 4 significant digits
    extended = generalization.rate_grid(0.01, 1.1, 3, below=2)
    assert extended == [0.008264, 0.009091, 0.01, 0.011, 0.0121]


def test_sweep_stops_after_the_first_batch_with_an_all_diverged_rate(small_split, tmp_path):
    base = RunConfig(n_train=128, n_eval=32, max_epochs=20, eig_every=5, eig_k=2, monitors=(Rotation(2),))
    store = ResultsStore(tmp_path, compact_points=8)
    records = generalization.sweep_until_divergence(base, [0, 1], store, split=small_split, start=0.05,
                                                    factor=1e3, max_rates=6, rates_per_batch=2)
    rates = [r["config"]["schedule"]["lr"] for r in records]
    assert rates == [0.05, 0.05, 50.0, 50.0]  # up to the first rate at which every seed diverged
    assert [r["diverged"] for r in records] == [False, False, True, True]
    stored = store.get(records[0]["key"])
    assert stored["compact"] and len(stored["history"]["epoch"]) <= 8 and stored["history"]["epoch"][0] == 0
    assert stored["history"]["epoch"][-1] == 20 and stored["schema"] == 2
    assert {"rho", "rho_eos", "sharpness"} <= set(stored["final"])


def _rows(reach_from=0.03):
    rows = []
    for eta in [0.01, 0.02, 0.03, 0.04]:
        for seed in range(3):
            reached = eta >= reach_from and not (eta == reach_from and seed == 0)
            rows.append(dict(eta0=eta, seed=seed, diverged=False, failed=False, reached=reached))
    return rows


def test_threshold_is_the_smallest_rate_reached_by_most_seeds():
    assert generalization.threshold_rate(_rows(0.03)) == 0.03  # 2 of 3 seeds at 0.03
    assert generalization.threshold_rate(_rows(0.05)) is None


def test_bootstrap_statistics_recover_known_answers():
    rng = np.random.default_rng(0)
    x = np.arange(200.0)
    y = x + rng.normal(0, 20, 200)
    rho, (lo, hi) = generalization.spearman_ci(x, y, draws=400)
    assert 0.9 < rho < 1 and lo < rho < hi and lo > 0.85
    diff, (lo, hi) = generalization.mean_difference_ci(rng.normal(1, 1, 300), rng.normal(0, 1, 300), draws=400)
    assert lo < 1 < hi and lo > 0.6 and abs(diff - 1) < 0.25
    null_p = [generalization.permutation_trend(x[:40], rng.normal(size=40), draws=200, seed=s)[1] for s in range(40)]
    assert 0 <= np.mean(np.asarray(null_p) < 0.05) <= 0.2  # calibrated: about 5 % under no trend
    rho, p = generalization.permutation_trend(x, y, draws=500)
    assert p < 0.01


def _synthetic(rise=0.02, fall=True):
    """Rates 0.01..0.08: flat accuracy (0.80 + noise) below 0.03, +rise above, lower at 0.08,
    all seeds diverged at 0.1; S rises with the error, ρ falls with it."""
    rng = np.random.default_rng(1)
    rows = []
    for eta in [0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.08, 0.1]:
        for seed in range(5):
            acc = 0.80 + rng.normal(0, 0.002) + (rise if eta >= 0.03 else 0) - (0.03 if fall and eta == 0.08 else 0)
            rows.append(dict(eta0=eta, seed=seed, diverged=eta == 0.1, failed=eta == 0.1, val_acc=acc,
                             sharpness=100 * (1 - acc) + rng.normal(0, 0.05), rho=acc + rng.normal(0, 0.001)))
    return rows


def test_generalization_claims_on_synthetic_data():
    from eoslib.chapters.generalization import claims as gc
    rows = _synthetic()
    table = gc.claims_table(rows, 0.03)
    assert [c.passed for c in table.claims] == [True, True, True, True, False, False], table  # ρ: the wrong sign
    # §4.3: the best rate (0.03-0.06) is within a decade of divergence (0.1) but not 100x the threshold (0.03)
    assert table.claims[5].verdict == "FAIL" and "η_div = 0.1" in table.claims[5].measured
    flat = gc.claims_table(_synthetic(rise=0.0, fall=False), 0.03)
    assert not flat.claims[1].passed and not flat.claims[2].passed
    means = gc.rate_means(rows)
    assert 0.1 not in means and max(means, key=means.get) in (0.03, 0.04, 0.06)


def _rise_rows(shape="step", n_below=4, n_window=8, seeds=5, collapse=True):
    """Rates 0.01 · 1.25^k: ``n_below`` stable rates, then from the threshold (returned) a window
    of ``n_window`` rates whose accuracy (0.80 + noise below) takes ``shape``: ``"step"`` (+2 points
    at the threshold, then a plateau), ``"climb"`` (+0.4 points per rate from the threshold, no
    step) or ``"flat"``; with ``collapse``, then two rates whose seeds hover at 50 % without
    completing (the Goldilocks collapse) and one at which every seed diverged."""
    rng = np.random.default_rng(2)
    rates = [0.01 * 1.25 ** k for k in range(n_below + n_window + (3 if collapse else 0))]
    rows = []
    for k, eta in enumerate(rates):
        j = k - n_below  # rates past the threshold
        gain = {"step": 0.02 * (j >= 0), "climb": 0.004 * max(j + 1, 0), "flat": 0.0}[shape]
        hover, failed = j >= n_window and k < len(rates) - 1, collapse and k == len(rates) - 1
        for seed in range(seeds):
            acc = None if failed else 0.50 if hover else 0.80 + gain + rng.normal(0, 0.003)
            rows.append(dict(eta0=eta, seed=seed, val_acc=acc, completed=not (hover or failed), failed=failed,
                             diverged=failed, reached=j >= 0))
    return rows, rates[n_below]


def test_rise_claim_passes_on_a_step_at_the_threshold_whatever_the_collapse():
    from eoslib.chapters.generalization import claims as gc
    rows, threshold = _rise_rows("step")
    c = gc.claim_rise_above(rows, threshold)
    assert c.verdict == "PASS" and "a step at the threshold" in c.measured, c
    s = gc.rise_statistics(rows, threshold)
    assert (s["n_rates_below"], s["n_rates_window"], s["n_window"]) == (4, 8, 40)
    assert s["end"] == sorted({r["eta0"] for r in rows})[-3]  # the first rate whose seeds did not complete
    assert s["rise_all"][1][1] < 0  # over every rate above, the collapse would turn the rise into a fall
    no_collapse = gc.rise_statistics(_rise_rows("step", collapse=False)[0], threshold)
    assert no_collapse["rise"][0] == s["rise"][0] and no_collapse["shape"][0] == s["shape"][0]


def test_rise_claim_fails_on_a_slow_climb_and_on_no_rise():
    from eoslib.chapters.generalization import claims as gc
    rows, threshold = _rise_rows("climb")
    s = gc.rise_statistics(rows, threshold)
    assert s["rise"][1][0] > 0 and s["r2_ramp"] > s["r2_step"]  # it rises, but the ramp fits better
    c = gc.claim_rise_above(rows, threshold)
    assert c.verdict == "FAIL" and "a slow climb, not a step" in c.measured, c
    c = gc.claim_rise_above(*_rise_rows("flat"))
    assert c.verdict == "FAIL" and "no rise" in c.measured, c


def test_rise_claim_is_unresolved_with_too_few_rates_or_no_threshold():
    from eoslib.chapters.generalization import claims as gc
    for rows, threshold in (_rise_rows("step", n_below=2), _rise_rows("step", n_window=2),
                            _rise_rows("flat", n_below=1, n_window=2)):
        c = gc.claim_rise_above(rows, threshold)
        assert c.verdict == "UNRESOLVED" and "too few rates" in c.measured, c
    rows, _ = _rise_rows("step")
    assert gc.claim_rise_above(rows, None).verdict == "UNRESOLVED"
    assert gc.claim_rise_above(rows, 1.0).verdict == "UNRESOLVED"  # nothing in the window
    same = [dict(r, val_acc=0.8) if r["val_acc"] is not None else r for r in rows]
    assert np.isnan(gc.rise_statistics(same, 0.02)["r2_step"])  # no variance to explain: undefined


def test_a_dead_network_fails_like_a_diverged_one():
    def record(diverged=False, completed=False, sharpness=0.0):
        return {"diverged": diverged, "final": {"completed": completed, "sharpness": sharpness}}
    assert generalization.dead(record()) and generalization.failed(record())
    assert generalization.failed(record(diverged=True)) and not generalization.dead(record(diverged=True))
    assert not generalization.failed(record(sharpness=2.5))  # stuck at the epoch cap, but alive
    assert not generalization.failed(record(completed=True, sharpness=0.001))


def test_grid_configs_keep_the_schedule_and_reductions_switch_at_their_epoch():
    base = generalization.cifar_base("paper")
    assert base.model == "vgg10" and base.schedule.warmup_epochs == 100 and base.eig_start == 50
    configs = sweep.lr_seed_grid(base, [0.1, 0.2], [0, 1])
    assert [(c.schedule.lr, c.seed) for c in configs] == [(0.1, 0), (0.1, 1), (0.2, 0), (0.2, 1)]
    assert all(c.schedule.warmup_epochs == 100 and np.isinf(c.schedule.reduce_epoch) for c in configs)
    fm = sweep.lr_seed_grid(generalization.fmnist_base(), [0.01], [0])[0]
    assert fm.schedule == generalization.schedules.constant(0.01)  # the committed fMNIST keys do not move
    reduced = generalization.reduction_configs(base, [0.14], [60, 80], 0.021, [0, 1])
    assert [(c.schedule.reduce_epoch, c.seed) for c in reduced] == [(60, 0), (60, 1), (80, 0), (80, 1)]
    assert all(c.schedule.lr_small == 0.021 and c.schedule.warmup_epochs == 100 for c in reduced)
    rows = generalization.summary_rows([_record(c) for c in reduced])
    assert [r["reduce_epoch"] for r in rows] == [60, 60, 80, 80] and rows[0]["eta0"] == 0.14


def test_group_configs_are_the_sweeps_runs_with_their_own_eigenpair_grid():
    base = generalization.cifar_base("paper")
    scale = {**generalization.cifar_scale("paper"), "group_rates": (0.1407,), "group_eig_start": 90, "group_eig_every": 4}
    groups = generalization.group_configs(base, scale)
    assert len(groups) == scale["group_size"] * len(scale["group_rates"]) == 9
    assert [c.seed for c in groups] == list(range(9)) and {c.schedule.lr for c in groups} == {0.1407}
    assert all((c.eig_start, c.eig_every) == (90, 4) for c in groups)
    same = sweep.lr_seed_grid(base, [0.1407], range(9))  # the training is Figure 5b's
    assert all(dataclasses.replace(g, eig_start=s.eig_start, eig_every=s.eig_every) == s for g, s in zip(groups, same))
    assert [c.seed for c in generalization.group_configs(base, scale, seed=5)] == list(range(5, 14))


def test_the_cpu_1k_scale_keeps_the_papers_experiment():
    """Issue 30's requirements, as far as they are settings: the paper's grid values, 3+ seeds,
    the warm-up short, Figure 6's switches after it and spread over the constant-η phase, and
    Figure 13's group of 9 made of Figure 5b's own runs, each with its ρ anchor solved at 90 %."""
    paper, s = generalization.cifar_scale("paper"), generalization.cifar_scale("cpu-1k")
    full = generalization.rate_grid(paper["start"], paper["factor"], paper["max_rates"])
    grid = generalization.rate_grid(s["start"], s["factor"], s["max_rates"] + s["skip"])[s["skip"]:]
    assert grid[0] == 0.002048 and grid[-1] == 3.778 and set(grid) <= set(full) and {0.08796, 0.2252, 0.5765} <= set(grid)
    assert s["seeds"] >= 3 and s["group_size"] == 9 and set(s["group_rates"]) <= set(grid)
    assert set(s["reduce_rates"]) <= set(grid) and min(s["reduce_rates"]) >= 0.086
    assert min(s["reduce_epochs"]) > s["warmup"] and len(s["reduce_epochs"]) >= 3
    base = generalization.cifar_base("cpu-1k")
    assert (base.n_train, base.weight_init, base.eig_check, base.schedule.warmup_epochs) == (1000, "flax", "adaptive", 20)
    assert base.monitors == (Rotation(3, at_accuracy=True),)
    groups = generalization.group_configs(base, s)
    assert groups[:3] == sweep.lr_seed_grid(base, [0.08796], range(3))  # Figure 5b's runs at that rate
    assert [c.seed for c in groups] == list(range(9))


def _record(config):
    return {"config": config.to_dict(), "eigen": {}, "diverged": False,
            "final": {"epochs": 100, "completed": True, "eval_acc": 0.5, "sharpness": 3.0}}


def test_cifar_scales_keep_the_papers_grid_values():
    paper, cpu = generalization.cifar_scale("paper"), generalization.cifar_scale("cpu-1k")
    full = generalization.rate_grid(paper["start"], paper["factor"], paper["max_rates"])
    coarse = generalization.rate_grid(cpu["start"], cpu["factor"], cpu["max_rates"] + cpu["skip"])[cpu["skip"]:]
    assert coarse[0] == 0.002048 and set(coarse) <= set(full)  # every other rate of the paper's grid
    assert set(paper["reduce_rates"]) <= set(full) and set(cpu["reduce_rates"]) <= set(full)
    assert min(paper["reduce_rates"]) >= 0.086  # Figure 6: eta0 >= 0.086
    assert set(paper["group_rates"]) <= set(full) and set(cpu["group_rates"]) <= set(full)  # Figure 13
    try:
        generalization.cifar_scale("huge")
    except ValueError as e:
        assert "cpu-1k" in str(e)
    else:
        raise AssertionError("an unknown scale must fail")


def test_sweep_skip_leaves_out_the_first_rates(small_split, tmp_path):
    base = RunConfig(n_train=128, n_eval=32, max_epochs=5)
    store = ResultsStore(tmp_path, compact_points=8)
    records = generalization.sweep_until_divergence(base, [0], store, split=small_split, start=0.01,
                                                    factor=10.0, skip=1, max_rates=1, rates_per_batch=1)
    assert [r["config"]["schedule"]["lr"] for r in records] == [0.1]
    table = generalization.rate_table(generalization.summary_rows(records))
    assert len(table.splitlines()) == 2 and "0.1" in table.splitlines()[1]


def test_prose_values_quote_the_rows_they_are_given():
    """generalization_claims.prose_values (the numbers chapter 4's text glues) on a small
    constructed grid: 2 stable rates, the threshold where 2 of 3 seeds reach 2/η, a hovering seed,
    and a last rate where every seed failed (2 diverged, 1 dead)."""
    from eoslib.chapters.generalization import claims as gc

    def row(eta, seed, acc, reached, *, sharpness=10.0, rho=0.5, completed=True, diverged=False, dead=False,
            train_acc=1.0):
        return dict(eta0=eta, seed=seed, val_acc=acc, train_acc=train_acc, sharpness=sharpness, rho=rho,
                    completed=completed, diverged=diverged, dead=dead, failed=diverged or dead, reached=reached,
                    epochs=100, reduce_epoch=float("inf"))

    rows = [row(eta, s, 0.70 + 0.01 * s, False, sharpness=200.0, rho=0.8) for eta in (0.01, 0.02) for s in range(3)]
    rows += [row(0.04, s, 0.75, s < 2, sharpness=40.0) for s in range(3)]
    rows += [row(0.08, s, 0.80, True, sharpness=20.0, rho=0.2) for s in range(3)]
    rows += [row(0.16, 0, 0.60, True, completed=False, train_acc=0.5, sharpness=2.0, rho=0.1),
             row(0.16, 1, 0.50, True, completed=False, train_acc=0.996, sharpness=4.0, rho=0.1),
             row(0.16, 2, 0.70, True, sharpness=6.0, rho=0.1)]
    rows += [row(0.32, 0, None, False, completed=False, diverged=True), row(0.32, 1, None, False, completed=False,
                                                                              diverged=True),
             row(0.32, 2, None, False, completed=False, dead=True)]
    extra = [row(0.64, s, None, False, completed=False, diverged=True) for s in range(3)]
    v = gc.prose_values(rows, 0.04, start=0.04, factor=2.0, bands=(0.1, 0.2), extra_rows=extra,
                        store_records=21, store_bytes=2_345_678, reference=0.05, draws=200,
                        corr={"eta0": (-0.5, (-0.71, -0.2)), "sharpness": (0.4, (0.1, 0.6)), "rho": (0.1, (-0.05, 0.3))})
    assert (v["n_models"], v["n_rates"], v["first_rate"], v["last_rate"]) == ("18", "6", "0.01", "0.32")
    assert (v["n_below_start"], v["n_from_start"]) == ("2", "4")
    assert (v["end_rate"], v["end_diverged"], v["end_dead"], v["n_dead"], v["dead_min"]) == ("0.32", "2", "1", "1",
                                                                                             "0.32")
    assert v["end_how"] == "2 by divergence and 1 by a dead network"
    assert v["dead_phrase"] == "1 of the 18 models died, all at η0 ≥ 0.32"
    assert v["extra_runs"] == "the 3 runs of the 1 rates after 0.32 (0.64, every seed failed: 3 by divergence)"
    alive = [r for r in rows if not r["dead"]]
    assert gc.prose_values(alive, 0.04, start=0.04, factor=2.0, draws=20)["dead_phrase"] == "none of the 17 models died"
    assert v["threshold"] == "0.04" and v["reach"] == "2 of 3 seeds reach it; and from 0.08 on, every seed that did not fail"
    assert v["vs_reference"] == "within one grid step of" and v["start_side"].startswith("every rate")
    assert (v["n_below"], v["n_rates_below"], v["acc_below"]) == ("6", "2", "71.0 %")
    assert v["flat_verdict"] == "no significant trend" and v["flat_rho"] == "+0.00"
    assert v["cut"] == "0.16" and v["acc_past"] == "60 %" and (v["n_window"], v["n_rates_window"]) == ("6", "2")
    assert v["rise"] == "+6.5 [+4.3, +8.5]"  # the window: 0.04 and 0.08, before the hovering seeds at 0.16
    assert v["rise_all"].startswith("+0.7 [\u2212")  # every rate above: the collapse pulls the interval below 0
    assert v["jump"] == v["rise"] and v["rise_rates"] == "3"  # 2 rates a side: the jump is the whole rise
    assert v["rise_verdict"] == "cannot be decided" and v["rise_reading"] == "too few rates to decide"
    assert v["acc_bands"] == "77.5 % (0.04\u20130.1) and 60.0 % (0.1\u20130.2)"
    assert (v["best_acc"], v["best_rate"], v["last_acc"], v["last_live_rate"]) == ("80.0 %", "0.08", "60 %", "0.16")
    assert (v["n_hover"], v["hover_high"], v["hover_low"], v["hover_chance"]) == ("2", "1", "1", "0")
    # claim 3 over the completed models alone: 0.16 keeps its one completed seed (70 %), the best stays 0.08
    assert (v["gold_completed_best"], v["gold_completed_best_rate"]) == ("80.0 %", "0.08")
    assert (v["gold_completed_acc"], v["gold_completed_rate"]) == ("70.0 %", "0.16")
    chance = [{**r, "train_acc": 0.105} if not r["completed"] and not r["failed"] else r for r in rows]
    assert gc.prose_values(chance, 0.04, start=0.04, factor=2.0, draws=20)["hover_chance"] == "2"
    # at chance only after the authors' 100-epoch window: a short run still learning is not counted
    short = [{**r, "epochs": gc.AUTHORS_LOW_EPOCHS - 1} for r in chance]
    assert gc.prose_values(short, 0.04, start=0.04, factor=2.0, draws=20)["hover_chance"] == "0"
    assert (v["hover_high_acc"], v["hover_low_acc"]) == ("99.6 %", "50.0 %")
    # claims 4 and 5 average and rank the models that completed: the two hovering seeds at 0.16 are left out
    assert (v["s_below"], v["s_bands"], v["s_past"]) == ("200", "30 (0.04\u20130.1) and 6 (0.1\u20130.2)", "6")
    assert (v["n_completed"], v["n_not_completed"]) == ("13", "2")
    assert v["s_verdict_all"] in ("PASS", "FAIL", "UNRESOLVED") and v["corr_s_all"] != v["corr_s"]
    assert v["rho_below"] == "0.8" and v["rho_past"] == "0.1"
    assert (v["store_records"], v["store_mb"]) == ("21", "2.3")
    assert (v["corr_eta"], v["corr_s"], v["corr_rho"]) == ("\u22120.50 [\u22120.71, \u22120.20]", "+0.40 [+0.10, +0.60]",
                                                         "+0.10 [\u22120.05, +0.30]")
    assert v["s_verdict"] == "lower $S$ goes with lower error" and v["rho_verdict"].startswith("the interval reaches 0")
    assert all("-" not in x for x in v.values())  # minus signs are typeset


def test_claims_4_and_5_rank_the_models_that_completed_only():
    """Section 4 trains its models "to completion, defined as achieving > 99.99% accuracy on the
    training set" and Figure 12 ranks S and the accuracy *at completion*: seeds that ran to the
    epoch cap are left out of claims 4 and 5, which say how many and what they read with them."""
    from eoslib.chapters.generalization import claims as gc
    rows = _synthetic()
    # hovering seeds at the largest live rate: the worst accuracy at the lowest S and the lowest ρ,
    # enough of them to reverse both rankings if they were counted
    hover = [dict(eta0=0.08, seed=10 + i, diverged=False, failed=False, completed=False, val_acc=0.5,
                  sharpness=0.01 * (i + 1), rho=0.9 + 0.001 * i) for i in range(60)]
    done = gc.claims_table(rows, 0.03).claims
    both = gc.claims_table(rows + hover, 0.03).claims
    assert gc.completed_models(rows + hover) == [r for r in rows if not r["failed"]]
    assert (both[3].verdict, both[4].verdict) == (done[3].verdict, done[4].verdict) == ("PASS", "FAIL")
    assert both[3].measured.startswith(done[3].measured.split(" over ")[0])
    assert "over 35 completed models; 60 that ran to the epoch cap without completing left out (with them: " in \
        both[3].measured
    assert "left out" not in done[3].measured
    with_them = gc.correlations(rows + hover)
    assert with_them["sharpness"][1][1] < 0 and with_them["rho"][1][0] > 0  # counted, both would flip
    # a wrong sign among the completed models is a FAIL whatever the hovering seeds read
    flipped = [{**r, "sharpness": -r["sharpness"]} for r in rows]
    assert gc.claims_table(flipped + hover, 0.03).claims[3].verdict == "FAIL"


def test_orders_of_magnitude_claim_passes_far_from_the_limit_and_is_unresolved_without_a_boundary():
    from eoslib.chapters.generalization import claims as gc
    rows = _synthetic()
    assert gc.divergence_rate(rows) == 0.1
    assert gc.claim_orders(rows, 0.0003).verdict == "PASS"  # best >= 0.03 = 100 x 0.0003, 0.1 / best <= 10
    assert gc.claim_orders(rows, 0.03).verdict == "FAIL"
    alive = [r for r in rows if r["eta0"] < 0.1]
    assert gc.divergence_rate(alive) is None
    assert gc.claim_orders(alive, 0.0003).verdict == "UNRESOLVED"
    assert gc.claim_orders(rows, None).verdict == "UNRESOLVED"
    assert gc.claims_table(rows, None).claims[0].verdict == "UNRESOLVED"


def test_correlation_claims_are_unresolved_on_undefined_correlations():
    from eoslib.chapters.generalization import claims as gc

    nan = {k: (float("nan"), (float("nan"), float("nan"))) for k in ("eta0", "sharpness", "rho")}
    assert gc.claim_sharpness(nan).verdict == "UNRESOLVED" and gc.claim_rho(nan).verdict == "UNRESOLVED"
    assert gc.claim_sharpness({"sharpness": (0.5, (0.2, 0.7))}).verdict == "PASS"
    assert gc.claim_rho({"rho": (-0.1, (-0.3, 0.1))}).verdict == "UNRESOLVED"  # the interval contains 0
    assert gc.claim_rho({"rho": (-0.4, (-0.6, -0.2))}).verdict == "FAIL"


def test_accuracy_reduction_claim_on_synthetic_pairs():
    from eoslib.chapters.generalization import claims as gc

    def row(acc, *, completed=True, failed=False, switched=True):
        return dict(val_acc=acc, completed=completed, failed=failed, switched=switched)
    better = [(row(0.80), row(0.82 + 0.001 * i)) for i in range(8)] + [(row(0.3, completed=False), row(0.8))]
    c = gc.claim_accuracy_reduction(better)
    assert c.verdict == "PASS" and "1 run(s) that hovered" in c.measured and "9 switched pairs" in c.measured
    assert "over the 8 pairs in which both completed: +2.35" in c.measured
    mixed = [(row(0.80), row(0.80 + (0.01 if i % 2 else -0.01))) for i in range(8)]
    assert gc.claim_accuracy_reduction(mixed).verdict == "UNRESOLVED"  # the interval contains 0
    worse = [(row(0.80), row(0.78 - 0.001 * i)) for i in range(8)]
    assert gc.claim_accuracy_reduction(worse).verdict == "FAIL"
    few = [(row(0.8), row(0.9)), (row(0.8), row(0.9, switched=False))]
    assert gc.claim_accuracy_reduction(few).verdict == "UNRESOLVED"
    assert gc.switched({"history": {"train_acc": [0.1, 0.95]}}) and not gc.switched({"history": {"train_acc": [0.5]}})


def test_the_window_can_end_at_the_first_failed_seed_when_stable_runs_stop_short():
    """Under the squared loss some stable runs stop at the epoch cap short of completion: chapter
    4's window ("incomplete") is then empty, the "failed" window keeps the rates up to the first
    failed seed and decides the claim (chapter 9)."""
    import pytest

    from eoslib.chapters.generalization import claims as gc

    def cap_seed_0(rows):
        return [dict(r, completed=False) if r["seed"] == 0 and not r["failed"] else r for r in rows]

    rows, threshold = _rise_rows("step")
    capped = cap_seed_0(rows)
    assert gc.rise_end(capped) == min(r["eta0"] for r in rows)
    assert gc.rise_end(capped, threshold=threshold) == threshold  # a stable run at the cap does not end the window
    assert gc.claim_rise_above(capped, threshold).verdict == "UNRESOLVED"  # an empty window
    assert gc.rise_end(capped, "failed") == max(r["eta0"] for r in rows)  # the rate where every seed diverged
    no_collapse = cap_seed_0(_rise_rows("step", collapse=False)[0])
    assert gc.rise_end(no_collapse, "failed") == float("inf")
    c = gc.claim_rise_above(no_collapse, threshold, window_end="failed")
    assert c.verdict == "PASS" and "a seed that failed" in c.measured, c
    flat = cap_seed_0(_rise_rows("flat", collapse=False)[0])
    assert gc.claim_rise_above(flat, threshold, window_end="failed").verdict == "FAIL"
    with pytest.raises(ValueError, match="window_end"):
        gc.rise_end(rows, "never")


def test_reduction_pairs_match_seed_and_rate_and_a_read_only_grid_never_trains(tmp_path):
    from eoslib.chapters.generalization import claims as gc
    from eoslib.results import ResultsStore

    rows = [dict(eta0=0.2, seed=s, val_acc=0.8) for s in (0, 1)]
    base = generalization.fmnist_base()
    reds = [_record(c) for c in generalization.accuracy_reduction_configs(base, [0.2, 0.3], 0.01, [1])]
    for r in reds:
        r["history"] = {"train_acc": [0.5, 0.95]}
    pairs = gc.reduction_pairs(rows, reds)  # 0.3 has no constant-rate row: left out
    assert len(pairs) == 1 and pairs[0][0] is rows[1] and pairs[0][1]["switched"] and pairs[0][1]["eta0"] == 0.2
    empty = ResultsStore(tmp_path / "store")
    assert generalization.sweep_until_divergence(base, [0], empty, max_rates=2, compute=False) is None
    assert empty.keys() == [] or len(empty.keys()) == 0


def test_fill_differences_counts_models_that_moved_between_two_fills():
    from eoslib.chapters.generalization import claims as gc

    def row(eta, seed, acc, completed=True, failed=False):
        return dict(eta0=eta, seed=seed, val_acc=acc, completed=completed, failed=failed)

    a = [row(0.1, 0, 0.80), row(0.1, 1, 0.70), row(0.2, 0, None, completed=False, failed=True), row(0.3, 0, 0.5)]
    b = [row(0.1, 0, 0.80), row(0.1, 1, 0.74), row(0.2, 0, 0.6)]
    text = gc.fill_differences(a, b)
    assert text.startswith("of the 3 models both fills ran, 1 end with another validation accuracy "
                           "(median difference 4.0 points) and 1 with another fate")


def test_a_prefix_rerun_of_a_cpu_1k_record_drops_its_eigen_recording(tmp_path):
    """verification.rerun(prefix=...) on a config with the ρ anchor at 90 % accuracy (cpu-1k):
    the prefix run records no eigenpairs, so it must drop the anchor too (a config error else)."""
    from eoslib import verification

    config = dataclasses.replace(generalization.cifar_base("cpu-1k"), model="mlp", dataset="fmnist",
                                 n_train=64, n_eval=16, chunk_size=None)
    record = {"config": config.to_dict()}
    try:
        again = verification.rerun(record, prefix=2)
    except FileNotFoundError:
        pytest.skip("no Fashion-MNIST here")
    assert again["final"]["epochs"] == 2 and not again["config"].get("rho_at_accuracy", False)


def test_a_scale_override_moves_every_setting_of_the_scale():
    from eoslib.params import resolve

    ci = resolve(generalization.cifar_presets(None), "ci", generalization.CIFAR_VALIDATORS)
    assert ci["scale"] == "cpu-1k" and ci["n_train"] == 1000 and ci["group_rates"] == [0.08796] and not ci["compute"]
    moved = resolve(generalization.cifar_presets("paper"), "ci", generalization.CIFAR_VALIDATORS, scale="paper")
    assert (moved["n_train"], moved["warmup"], moved["compute"]) == (5000, 100, False)
    moved = resolve(generalization.cifar_presets("cpu-1k"), "ci", generalization.CIFAR_VALIDATORS, scale="cpu-1k")
    assert (moved["n_train"], moved["eig_start"], moved["warmup"], moved["group_rates"]) == (1000, 20, 20, [0.08796])
    assert resolve(generalization.cifar_presets("cpu-1k"), "tiny")["n_train"] == 20
    # Figure 13's group: vmapped whole at the scales, one model at a time in the smoke run
    assert ci["group_batch"] == ci["group_size"] == 9 and moved["group_batch"] == 9
    assert resolve(generalization.cifar_presets(None), "tiny", generalization.CIFAR_VALIDATORS)["group_batch"] == 1
    with pytest.raises(Exception, match="group_batch"):
        resolve(generalization.cifar_presets(None), "tiny", generalization.CIFAR_VALIDATORS, group_batch=0)


class _DictStore:
    """The part of a results store that reading a grid uses (``in``, ``get``, ``keys``)."""

    def __init__(self, records=()):
        self.records = {r["key"]: r for r in records}

    def __contains__(self, key):
        return key in self.records

    def get(self, key):
        return self.records[key]

    def keys(self):
        return list(self.records)


def _stored(config, *, diverged=False, completed=True):
    record = _record(config)
    record.update(key=config.key(), diverged=diverged)
    record["final"].update(completed=completed, train_acc=1.0, eval_acc=0.5)
    return record


def test_stored_grid_reads_what_is_stored_and_counts_the_rest():
    """A grid read while its store is filled: the stored runs up to the first rate at which every
    seed is stored and failed, the planned runs it lacks, and complete only when none is lacking,
    where it is the grid that sweep_until_divergence(compute=False) returns."""
    from eoslib import grid

    base = generalization.fmnist_base()
    rates = generalization.rate_grid(0.01, 2.0, 4)
    cfg = {(i, s): c for i, rate in enumerate(rates) for s, c in zip((0, 1), sweep.lr_seed_grid(base, [rate], [0, 1]))}
    held = [_stored(cfg[0, 0]), _stored(cfg[0, 1]), _stored(cfg[1, 0]),
            _stored(cfg[2, 0], diverged=True), _stored(cfg[2, 1], diverged=True), _stored(cfg[3, 0])]
    got = grid.stored_grid(base, [0, 1], _DictStore(held), start=0.01, factor=2.0, max_rates=4)
    assert [r["key"] for r in got.records] == [r["key"] for r in held[:5]]  # rate 3: past the all-failed rate 2
    assert got.missing == [cfg[1, 1]] and not got.complete
    store = _DictStore(held + [_stored(cfg[1, 1])])
    full = grid.stored_grid(base, [0, 1], store, start=0.01, factor=2.0, max_rates=4)
    assert full.complete and not full.missing and len(full.records) == 6
    assert [r["key"] for r in full.records] == [r["key"] for r in grid.sweep_until_divergence(
        base, [0, 1], store, start=0.01, factor=2.0, max_rates=4, compute=False)]
    nothing = grid.stored_grid(base, [0, 1], _DictStore(), start=0.01, factor=2.0, max_rates=4)
    assert nothing.records == [] and len(nothing.missing) == 8 and not nothing.complete


def test_a_claim_on_part_of_its_runs_is_not_decided():
    from eoslib.chapters.generalization import cifar_claims
    from eoslib.report import Claim

    passed, failed = Claim("c", "m", "b", True), Claim("c", "m", "b", False)
    for claim in (passed, failed):
        pending = cifar_claims.pending_runs(claim, ("6", "5b"), {"5b": 3})
        assert pending.verdict == "UNRESOLVED" and not pending.passed
        assert f"would read {claim.verdict}" in pending.measured and "Figure 5b: 3 planned run(s)" in pending.measured
        assert cifar_claims.pending_runs(claim, ("6",), {"5b": 3}) == claim  # another figure's runs
        assert cifar_claims.pending_runs(claim, ("5b",), {}) == claim
    not_run = Claim.unmeasured("c", "why", "b")
    waiting = cifar_claims.pending_runs(not_run, ("5b",), {"5b": 3})  # keeps its verdict, says what it waits for
    assert waiting.verdict == "NOT RUN" and waiting.measured == "why [Figure 5b: 3 planned run(s) not in the store yet (fill in progress)]"
    assert cifar_claims.pending_runs(not_run, ("5b",), {}) == not_run


def test_chapter_6_reads_a_store_being_filled_without_computing():
    """ci's profile computes nothing: the runs a store lacks are counted per figure, and every
    claim whose figure lacks runs is at most UNRESOLVED."""
    from eoslib import resolve
    from eoslib.chapters.generalization import cifar_claims
    from eoslib.report import Claim

    P = resolve(generalization.cifar_presets("cpu-1k"), "ci", generalization.CIFAR_VALIDATORS)
    assert P["compute"] is False and resolve(generalization.CIFAR_PRESETS, "tiny")["compute"] is True
    base = generalization.cifar_base("cpu-1k", n_train=P["n_train"], n_eval=P["n_eval"], max_epochs=P["max_epochs"],
                                     eig_every=P["eig_every"], eig_start=P["eig_start"])
    group = generalization.group_configs(base, P, seed=0)
    store = _DictStore([_stored(c) for c in group[:4]])
    runs = generalization.cifar_runs(P, store)  # no data loaded, nothing trained
    assert runs.computed == 0 and len(runs.grouped) == 4 and runs.scale_group_stored == 4
    assert runs.missing["13"] == len(group) - 4 and runs.missing["6"] == len(P["reduce_epochs"])
    assert runs.missing["5b"] > 0 and len(runs.records) == 3  # the group's first 3 seeds are Figure 5b's at its rate
    # Figure 6's never-switched run (its rate, seed 0) is among them: claim 3 waits only for Figure 6's runs
    assert generalization.NEVER_SWITCHED not in runs.missing
    claim3 = cifar_claims.CLAIM_FIGURES[2]
    decided = Claim("c", "m", "b", True)
    assert cifar_claims.pending_runs(decided, claim3, {"5b": 5, "13": 2}) == decided
    assert cifar_claims.pending_runs(decided, claim3, {generalization.NEVER_SWITCHED: 1}).verdict == "UNRESOLVED"
    without_star = generalization.cifar_runs(P, _DictStore([_stored(c) for c in group[1:4]]))
    assert without_star.missing[generalization.NEVER_SWITCHED] == 1
    text = generalization.describe_cifar_runs(runs, P, P["scale"])
    assert "Not in the store yet" in text and f"Figure 13: {len(group) - 4} planned run(s)" in text
    table = cifar_claims.claims_table(runs.rows, runs.rows6, runs.threshold, P["scale"], group_size=P["group_size"],
                                      group_rows=runs.rows13, missing=runs.missing)
    assert all(c.verdict in ("UNRESOLVED", "NOT RUN") for c in table.claims)


def test_flat_below_is_undecided_without_a_trend_to_test():
    """Claim 1's flat half: UNRESOLVED (not FAIL) with fewer than 4 models or a single rate below
    the threshold (a CPU scale's one stable rate); decided by the permutation test otherwise."""
    from eoslib.chapters.generalization import claims as gc

    def row(eta, acc):
        return dict(eta0=eta, val_acc=acc, failed=False)

    one_rate = [row(0.002, a) for a in (0.29, 0.30, 0.31, 0.28)]
    for rows in (one_rate[:3], one_rate):
        c = gc.claim_flat_below(rows, 0.005)
        assert c.verdict == "UNRESOLVED" and "rate(s) below" in c.measured, c
    rng = np.random.default_rng(0)
    flat = [row(eta, 0.8 + rng.normal(0, 0.01)) for eta in (0.001, 0.002, 0.003, 0.004) for _ in range(5)]
    trend = [row(eta, 0.5 + 50 * eta + rng.normal(0, 0.001)) for eta in (0.001, 0.002, 0.003, 0.004) for _ in range(5)]
    assert gc.claim_flat_below(flat, 0.005).verdict == "PASS"
    assert gc.claim_flat_below(trend, 0.005).verdict == "FAIL"

"""The CIFAR-10 chapter's claims on synthetic rows whose verdicts are known, both ways; claims
without their runs are NOT RUN, never PASS."""

import numpy as np

from eoslib.chapters.generalization import cifar_claims as cc
from eoslib.chapters.generalization import experiment as generalization


def _row(eta, seed, acc, sharpness, rho, reduce_epoch=float("inf"), completed=True, failed=False):
    return dict(eta0=eta, seed=seed, val_acc=acc, sharpness=sharpness, rho=rho, reduce_epoch=reduce_epoch,
                completed=completed, failed=failed, diverged=failed, dead=False, reached=eta >= 0.03, epochs=100)


def _sweep(seeds=3, rise=0.05):
    rng = np.random.default_rng(0)
    rows = []
    for eta in (0.01, 0.015, 0.02, 0.03, 0.05, 0.08, 0.13):
        for s in range(seeds):
            acc = 0.4 + rng.normal(0, 0.003) + (rise if eta >= 0.03 else 0) - (0.04 if eta == 0.13 else 0)
            rows.append(_row(eta, s, acc, 50 * (1 - acc) + rng.normal(0, 0.1), acc + rng.normal(0, 0.01),
                             completed=eta < 0.13))
    return rows


def _reductions(flatter_later=True):
    rows = []
    for s in range(2):
        for i, e in enumerate((60, 80, 100)):
            k = i if flatter_later else -i
            rows.append(_row(0.14, s, 0.40 + 0.01 * k, 20.0 - 2 * k + s, 0.5 - 0.05 * k, reduce_epoch=e))
    return rows


def test_claims_pass_and_fail_as_constructed():
    table = cc.claims_table(_sweep(), _reductions(), 0.03, "cpu", group_size=3)
    verdicts = [c.verdict for c in table.claims]
    assert verdicts[:3] == ["PASS", "PASS", "PASS"], table
    assert verdicts[3] == "NOT RUN"  # Figure 7 never ran
    assert verdicts[4] != "NOT RUN"  # groups of 3 exist
    flat = cc.claims_table(_sweep(rise=0.0), _reductions(flatter_later=False), 0.03, "cpu", group_size=3)
    assert [c.verdict for c in flat.claims[:3]] == ["FAIL", "FAIL", "FAIL"], flat
    assert all("cpu scale" in c.claim for c in table.claims if c.claim.startswith(("Mean", "Golden", "A longer")))


def test_claims_without_their_runs_are_not_run_and_never_pass():
    rows = [r for r in _sweep(seeds=2) if r["eta0"] >= 0.03]  # no rate below the threshold
    table = cc.claims_table(rows, _reductions(), 0.03, "cpu", group_size=9)
    first, fig7, fig13 = table.claims[0], table.claims[3], table.claims[4]
    assert first.verdict == "NOT RUN" and "no rate of its grid is below" in first.measured
    assert fig7.not_run and not fig7.passed and fig13.not_run and "-0.40" in fig13.measured
    assert table.num_passed <= len(table.claims) - 3


def test_within_rate_correlations_split_seeds_into_groups_and_phases():
    rows = _sweep(seeds=6)
    groups = cc.within_rate_correlations(rows, group_size=3)
    assert len(groups) == 2 * 7  # 6 seeds -> 2 groups of 3 per rate
    assert {g["phase"] for g in groups if g["eta0"] == 0.13} == {"extreme"}  # a seed did not complete there
    assert {g["phase"] for g in groups if g["eta0"] < 0.13} == {"eos"}
    assert cc.within_rate_correlations(rows, group_size=9) == []
    capped = [dict(r, completed=False) if r["eta0"] == 0.01 and r["seed"] == 0 else r for r in rows]  # stable, at the cap
    assert cc.extreme_rate(capped) == cc.extreme_rate(rows) == 0.13  # a stable run at the epoch cap is not "extreme"


def test_flattening_by_reduction_counts_later_switches():
    s = cc.flattening_by_reduction(_reductions())
    assert s["models"] == 6 and s["later"] == 4 and s["later_better"] == 4 and s["rho"][0] < 0
    never = _row(0.14, 0, 0.45, 10.0, 0.3)  # never switched: the longest large-eta phase, inf
    s = cc.flattening_by_reduction([*_reductions(), never])
    assert s["models"] == 7 and s["later"] == 5 and s["later_better"] == 5 and s["rho"][0] < 0


def test_figure7_table_sets_ours_beside_the_papers():
    table = cc.figure7_table(None)
    assert "67.09" in table and table.count("not run") == 6 * 5
    ours = cc.figure7_table({"VGG19 on CIFAR10-50k": [60.0, 61.0, None, None, None, None]})
    assert "| | eoslib | 60.00 | 61.00 | – |" in ours
    assert cc.claim_figure7({"VGG19 on CIFAR10-50k": [60.0, 61.0, 62.0, 63.0, 64.0, 65.0]}).passed


def _group(eta, slope, noise, seed=0, size=9):
    """``size`` seeds at ``eta`` whose accuracy falls with ρ by ``slope`` (plus noise); S random."""
    rng = np.random.default_rng(seed)
    rho = rng.uniform(0.2, 0.9, size)
    acc = 0.4 - slope * rho + rng.normal(0, noise, size)
    return [_row(eta, s, a, rng.uniform(5, 20), r) for s, (a, r) in enumerate(zip(acc, rho))]


def test_figure13_claim_is_decided_on_the_interval_of_the_mean_correlation():
    sweep = _sweep()  # extreme phase from 0.13 on
    for slope, verdict in ((0.1, "PASS"), (-0.1, "FAIL"), (0.0, "UNRESOLVED")):
        rows = _group(0.05, slope, 0.001 if slope else 0.05) + _group(0.08, slope, 0.001 if slope else 0.05, seed=1)
        table = cc.claims_table(sweep, _reductions(), 0.03, "cpu", group_size=9, group_rows=rows)
        fig13 = table.claims[4]
        assert fig13.verdict == verdict, fig13
        assert "eos (2 group(s) of 9)" in fig13.measured and "paper" in fig13.measured


def test_mean_group_correlation_resamples_within_groups():
    groups = cc.within_rate_correlations(_group(0.05, 0.1, 0.0) + _group(0.08, -0.1, 0.0, seed=1), 9, extreme=1.0)
    assert [g["phase"] for g in groups] == ["eos", "eos"] and len(groups[0]["models"]) == 9
    assert groups[0]["rho"] == -1.0 and groups[1]["rho"] == 1.0
    mean, (lo, hi) = cc.mean_group_correlation(groups, "rho")
    assert np.isclose(mean, 0.0) and lo <= 0 <= hi  # each group stays perfect: the mean stays 0
    one, (lo1, hi1) = cc.mean_group_correlation(groups[:1], "rho")
    assert np.isclose(one, -1.0) and np.isclose(lo1, -1.0) and np.isclose(hi1, -1.0)  # a perfect ranking stays perfect under resampling
    assert np.isnan(cc.mean_group_correlation([], "rho")[0])


def test_row_spearman_is_scipys():
    from scipy.stats import spearmanr
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 4, (50, 9)).astype(float), rng.normal(size=(50, 9))  # ties in x
    got = generalization.spearman_rows(x, y)
    want = np.array([spearmanr(a, b).statistic for a, b in zip(x, y)])
    assert np.allclose(got, want, equal_nan=True)
    assert np.isnan(generalization.spearman_rows(np.ones((1, 9)), y[:1])[0])


def test_spearman_of_a_constant_series_is_undefined_without_a_warning():
    """A constant series (Figure 6's switched models all share eta0) has no rank correlation:
    NaN, interval NaN, and no SciPy warning (a notebook's stderr would carry the install path)."""
    import warnings

    x, y = np.full(4, 0.08796), np.array([0.66, 0.63, 0.61, 0.62])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for a, b in ((x, y), (y, x), (y[:2], y[:2])):
            rho, (lo, hi) = generalization.spearman_ci(a, b)
            assert np.isnan(rho) and np.isnan(lo) and np.isnan(hi)
    rho, (lo, hi) = generalization.spearman_ci(y, -y)
    assert rho == -1.0 and lo == hi == -1.0


def test_prose_values_quote_the_rows_and_records_they_are_given():
    """cifar_claims.prose_values (the numbers the chapter's text glues) on a constructed scale
    being filled: a stable rate (one seed at the epoch cap), the threshold rate, a rate past it
    and one whose seeds hover to the cap; one Figure 6 rate and seed switched twice; 2 of 3
    group runs stored; runs missing from Figures 5b and 13."""
    from eoslib.chapters.generalization.claims import correlations
    from eoslib.report import Claim, ClaimsTable

    def record(eta, seed, peak, wall=0.0, rho=0.5, epochs=100):
        return {"config": {"schedule": {"lr": eta}, "seed": seed}, "eigen": {"values": [[peak / 2, 1.0], [peak, 1.0]]},
                "final": {"epochs": epochs, "completed": True, "rho": rho}, "wall_time_s": wall}

    rows = [_row(0.001, 0, 0.29, 500.0, 0.9, completed=False), _row(0.001, 1, 0.27, 600.0, 0.8),
            _row(0.01, 0, 0.30, 300.0, 0.3), _row(0.01, 1, 0.28, 280.0, float("nan")),
            _row(0.1, 0, 0.36, 10.0, float("nan")), _row(0.1, 1, 0.34, 12.0, float("nan")),
            _row(1.0, 0, 0.08, 0.1, float("nan"), completed=False), _row(1.0, 1, 0.08, 0.1, float("nan"),
                                                                         completed=False)]
    for r in rows:
        r["train_acc"], r["reached"] = (0.999 if not r["completed"] else 1.0), r["eta0"] >= 0.01
    rows[0]["epochs"] = 2000
    rows[4]["epochs"] = 105  # the never-switched run: its large-η phase is its whole run
    rows6 = [_row(0.1, 0, 0.37, 90.0, float("nan"), reduce_epoch=50.0),
             _row(0.1, 0, 0.38, 14.0, float("nan"), reduce_epoch=100.0)]
    records = [record(0.001, 0, 700.0), record(0.001, 1, 900.0), record(0.01, 0, 480.0), record(0.01, 1, 260.0),
               record(0.1, 0, 80.0), record(0.1, 1, 78.0), record(1.0, 0, 3.0), record(1.0, 1, 2.0)]
    group = [record(0.1, 3, 80.0, wall=8996.0, rho=0.1, epochs=110),
             record(0.1, 4, 80.0, wall=8126.2, rho=0.1, epochs=107)]
    claims = ClaimsTable([Claim.unmeasured("1", "", ""), Claim("2", "", "", True), *[Claim(str(i), "", "", False)
                                                                                      for i in (3,)],
                          Claim.unmeasured("4", "", ""), Claim.unmeasured("5", "", ""),
                          Claim("6", "", "", False), *[Claim(str(i), "", "", False, unresolved=True)
                                                       for i in range(7, 11)]])
    params = {"n_train": 500, "n_eval": 500, "seeds": 2, "start": 0.001, "factor": 10.0, "skip": 0, "max_rates": 5,
              "max_epochs": 2000, "warmup": 20, "reduce_rates": [0.1], "reduce_epochs": [50, 100], "reduce_seeds": 1,
              "eta_small": 0.02}
    nan = (float("nan"), (float("nan"), float("nan")))
    corr5 = {"eta0": nan, "sharpness": (0.13, (-0.51, 0.85)), "rho": (-1.0, (-1.0, -1.0))}
    v = cc.prose_values(rows, rows6, 0.01, claims, params=params, scale="cpu-1k", records=records, group_records=group,
                        group_params={"group_rates": (0.1,), "group_size": 3}, corr5=corr5, corr6=correlations(rows6),
                        missing={"5b": 2, "6": 0, "13": 1}, group_means={"rho": (0.48, (-0.32, 0.95)),
                                                                        "sharpness": (-0.69, (-0.98, 0.0))})
    assert [v[f"c{i}"] for i in (1, 2, 3, 4)] == ["**NOT RUN**", "**PASS**", "**FAIL**", "**NOT RUN**"]
    assert v["verdict_counts"] == ("claim 2 passes; claims 3 and 6 fail; claims 7, 8, 9 and 10 are unresolved; "
                                   "claims 1, 4 and 5 were not run")
    assert v["scale"] == "cpu-1k" and v["scale_text"].startswith(
        "500 / 500 images, a 20-epoch warm-up, 2 seeds, a factor 10 between rates from 0.001, at most 2,000 epochs")
    assert v["fill_state"].startswith("The store holds part of the runs the parameters name (Figure 5b: 8 of 10; "
                                      "Figure 6: 2 of 2; Figure 13: 2 of 3)")
    assert v["claims_state"].startswith("its store is still being filled")
    whole = cc.prose_values(rows, rows6, 0.01, claims, params=params, scale="x", records=records, group_records=group,
                            group_params={"group_rates": (0.1,), "group_size": 3}, missing={"5b": 0, "6": 0})
    assert whole["fill_state"].startswith("Every run") and whole["claims_state"].startswith("every run its parameters")
    assert v["stable_heading"] == "1 of the 4 stored rates is below the stability limit."
    assert v["stable_text"] == (
        "At $\\eta_0$ = 0.001 ($2/\\eta_0$ = 2000) the sharpness peaks at 700\u2013900 over 2 seeds, below $2/\\eta_0$; "
        "1 completed at epoch 100 and 1 ended at the 2,000-epoch cap without completing (training accuracy 99.9 %), "
        "at 27.0 %\u201329.0 % validation accuracy. The threshold is 0.01 ($2/\\eta_0$ = 200): $S$ reaches $2/\\eta_0$ in "
        "2 of 2 seeds (peak 260\u2013480); 2 completed at epochs 100.")
    assert v["acc_by_rate"] == "28.0 % (0.001), 29.0 % (0.01), 35.0 % (0.1) and 8.0 % (1)" and v["best_rate"] == "0.1"
    assert (v["example"], v["seed_gap"]) == ("0.2", "2.0")
    assert v["top_text"].startswith("At 1 none of the 2 seeds completes or diverges: they hover to the 2,000-epoch cap")
    assert v["f6_heading"] == "later switches end flatter"
    assert v["f6_text"] == ("From $\\eta_0$ = 0.1 (seed 0), switched to $\\eta_{small}$ = 0.02 ($2/\\eta_{small}$ = 100) "
                            "after the 20-epoch warm-up, the switch at epoch 50 ends at $S$ = 90 (37.0 %) and the switch "
                            "at epoch 100 ends at $S$ = 14 (38.0 %); the never-switched run ends at $S$ = 10 (36.0 %, "
                            "completed at epoch 105). Spearman's ρ of the switch epoch with the final $S$ is \u22121.00 "
                            "over 3 models, and 1 of 2 later switches beat the earliest in accuracy: claim 3 is **FAIL**.")
    none6 = cc.prose_values(rows, [], 0.01, claims, params=params, scale="x", records=records, group_records=[],
                            group_params={"group_rates": (0.1,), "group_size": 3})
    assert none6["f6_heading"] == "not in the store yet" and "are not stored yet; claim 3 is **FAIL**" in none6["f6_text"]
    assert (v["n5"], v["corr_s5"], v["n_rho5"], v["n6"]) == ("5", "+0.13 [\u22120.51, +0.85]", "2", "2")
    assert v["corr6_text"] == "too few to rank"
    assert v["f12_heading"] == "1 of the four correlations is resolved"  # claim 6 decided (FAIL), 7-9 UNRESOLVED
    assert v["f12_fails"] == "claim 6 fails; claims 7, 8 and 9 are unresolved"
    # while the fill runs a claim that would pass on the stored runs is not decided, and the heading says so
    passing = Claim("c", "ρ = +0.7 [+0.2, +0.9]", "interval above 0", True)
    waiting = [cc.pending_runs(passing, ["5b"], {"5b": 9})] * 2 + [Claim("c", "m", "b", False, unresolved=True)] * 2
    assert waiting[0].verdict == "UNRESOLVED" and "would read PASS on the runs stored" in waiting[0].measured
    pending = ClaimsTable(claims.claims[:5] + waiting + claims.claims[9:])
    assert cc._figure12_values(rows, rows6, pending, corr5, None)["f12_heading"] == (
        "none decided while the fill runs; 2 of the four would read PASS on the runs stored")
    assert v["rho_heading"] == ("3 constant-rate models that ran to the epoch cap without completing are left out "
                                "(the paper ranks models at completion); ρ is missing for 3 of the 5 that completed.")
    assert v["group_rates"] == "0.1, in the edge-of-stability phase"
    assert (v["group_stored"], v["group_epochs"]) == ("2 of its 3 runs", "107\u2013110")
    assert v["group_anchor"] == "each with its anchor" and v["group_wall"] == "8,126\u20138,996 s"
    assert v["f13_corr"].startswith("Within it, ρ correlates +0.48 [\u22120.32, +0.95] with the validation accuracy, "
                                    "and $S$ at completion \u22120.69 [\u22120.98, +0.00]")
    assert none6["f13_corr"] == "No group of the scale is complete yet"
    assert (v["vgg10_ours"], v["n_readings"], v["vgg10_match"], v["vgg19_min"]) == ("35,634", "8,448", "none gives",
                                                                                    "878,640")
    assert v["vgg10_nearest"].startswith("47,896 (")


def test_rho_in_reduction_claim():
    import numpy as np

    from eoslib.chapters.generalization import cifar_claims

    rng = np.random.default_rng(0)

    def rows(rho_noise, s_noise, n=20):
        err = np.linspace(0.1, 0.3, n)
        return [dict(eta0=0.1, seed=i, failed=False, val_acc=1 - e, rho=e + rng.normal(0, rho_noise),
                     sharpness=e + rng.normal(0, s_noise)) for i, e in enumerate(err)]
    assert cifar_claims.claim_rho_in_reduction(rows(0.001, 0.1), "cpu").verdict == "PASS"  # eta0 constant: left out
    assert cifar_claims.claim_rho_in_reduction(rows(0.1, 0.001), "cpu").verdict == "FAIL"
    assert cifar_claims.claim_rho_in_reduction(rows(0.001, 0.1, n=5), "cpu").verdict == "UNRESOLVED"


def test_verdict_counts_group_claims_by_verdict():
    from eoslib.chapters.generalization.cifar_claims import _verdict_counts
    from eoslib.report import Claim

    def c(v):
        return Claim("x", "m", "b", v == "PASS", not_run=v == "NOT RUN", unresolved=v == "UNRESOLVED")
    assert _verdict_counts([c("FAIL"), c("FAIL"), c("UNRESOLVED"), c("UNRESOLVED")], 6) == \
        "claims 6 and 7 fail; claims 8 and 9 are unresolved"
    assert _verdict_counts([c("FAIL"), c("PASS"), c("FAIL"), c("FAIL")], 6) == "claim 7 passes; claims 6, 8 and 9 fail"
    assert _verdict_counts([], 6) == "no claim"


def _correlated(n, slope, key="sharpness", seed=0):
    """``n`` models at one rate whose validation error rises with ``key`` by ``slope`` (per unit
    of standardized ``key``) plus noise of 0.01; the other statistic random."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(5, 20, n)
    err = 0.5 + slope * (x - x.mean()) / x.std() + rng.normal(0, 0.01, n)
    other = rng.uniform(5, 20, n)
    s, r = (x, other) if key == "sharpness" else (other, x)
    return [_row(0.05, i, 1 - e, si, ri) for i, (e, si, ri) in enumerate(zip(err, s, r))]


def test_correlation_claims_pass_fail_and_stay_unresolved_on_undecidable_intervals():
    """Claims 6-9 (Figure 12b-c): PASS / FAIL only on an interval clear of 0 over 10+ models;
    a NaN statistic, fewer than 10 models or an interval containing 0 is UNRESOLVED, never FAIL;
    no run at all is NOT RUN."""
    for key in ("sharpness", "rho"):
        def verdict(rows):
            return cc.claim_correlation(rows, key, "Figure 12b, constant η", "cpu").verdict
        assert verdict(_correlated(20, 0.05, key)) == "PASS"
        assert verdict(_correlated(20, -0.05, key)) == "FAIL"
        assert verdict(_correlated(20, 0.0, key)) == "UNRESOLVED"  # no relation: the interval contains 0
        perfect = _correlated(6, 0.05, key)  # 6 models ranked perfectly: an interval of [+1, +1], too few
        assert cc.fmnist.correlations(perfect)[key][1][0] > 0 and verdict(perfect) == "UNRESOLVED"
        assert verdict(_correlated(6, -0.05, key)) == "UNRESOLVED"  # a clear sign on 6 models is no FAIL
        assert verdict(_correlated(2, 0.05, key)) == "UNRESOLVED"  # NaN statistic
        flat = [{**r, key: 7.0} for r in _correlated(20, 0.05, key)]  # constant values: undefined
        assert verdict(flat) == "UNRESOLVED"
        assert verdict([{**r, key: float("nan")} for r in _correlated(20, 0.05, key)]) == "UNRESOLVED"
        failed = [{**r, "failed": True} for r in _correlated(20, 0.05, key)]  # runs made, none to rank
        assert verdict(failed) == "UNRESOLVED"
        assert verdict([]) == "NOT RUN"
    claim = cc.claim_correlation(_correlated(6, 0.05), "sharpness", "Figure 12c, η reduction", "cpu")
    assert "over 6 completed model(s): too few models" in claim.measured and "Figure 12c, η reduction; cpu scale" in claim.claim
    one = cc.claim_correlation(_correlated(1, 0.05), "rho", "Figure 12c, η reduction", "cpu")  # a NaN statistic
    assert one.measured == "Spearman ρ(ρ, validation error) undefined over 1 completed model(s): too few models", one
    assert "undefined" in cc.claim_rho_in_reduction(_correlated(1, 0.05), "cpu").measured


def test_claims_table_figure12_rows_follow_the_rule():
    """Claims 6-9 in the table: decided over 20 constant-rate models, UNRESOLVED over Figure 6's
    6 switched models, NOT RUN (with claim 10) without any Figure 6 run."""
    rows5b = _correlated(20, 0.05, seed=1)  # its random ρ: interval [-0.35, +0.50]
    table = cc.claims_table(rows5b, _reductions(), 0.03, "cpu", group_size=9)
    assert [c.verdict for c in table.claims[5:9]] == ["PASS", "UNRESOLVED", "UNRESOLVED", "UNRESOLVED"], table
    none = cc.claims_table(rows5b, [], 0.03, "cpu", group_size=9)
    assert [c.verdict for c in none.claims[7:10]] == ["NOT RUN", "NOT RUN", "NOT RUN"], none
    assert cc.claim_rho_in_reduction([], "cpu").verdict == "NOT RUN"


def test_correlation_claims_rank_the_models_that_completed_only():
    """Figure 12 ranks S and the validation accuracy *at completion* (the paper: "trained to
    completion, defined as achieving > 99.99% accuracy on the training set"): models that ran to
    the epoch cap without completing are left out, and the text says how many and what the
    statistic reads with them."""
    rows = _correlated(20, 0.05, seed=1)
    # collapsed runs: chance accuracy (the largest error) at the lowest sharpness, never completed
    collapsed = [_row(0.05, 100 + i, 0.09, 0.1 + 0.01 * i, float("nan"), completed=False) for i in range(8)]
    claim = cc.claim_correlation(rows + collapsed, "sharpness", "Figure 12b, constant η", "cpu")
    assert claim.verdict == "PASS", claim
    assert "over 20 completed model(s); 8 that ran to the epoch cap without completing left out (with them:" in \
        claim.measured
    with_them = cc.fmnist.correlations(rows + collapsed)["sharpness"]
    assert with_them[1][0] <= 0  # counted as they are, the interval would contain 0: no PASS
    assert cc.completed_models(rows + collapsed) == rows
    hovering = [{**r, "completed": False} for r in rows]  # runs made, none completed: no FAIL, no NOT RUN
    assert cc.claim_correlation(hovering, "sharpness", "Figure 12b, constant η", "cpu").verdict == "UNRESOLVED"
    assert cc.claim_rho_in_reduction(hovering, "cpu").verdict == "UNRESOLVED"


def test_collapsed_runs_are_set_beside_the_authors_early_stop():
    """A run at a near-constant prediction at the cap (neither completed nor failed) is named with
    its accuracies and set beside the authors' stop below 0.11 training accuracy, which a
    collapse onto a class holding 11.2 % of 1,000 images would not trigger."""
    params = {"n_train": 1000, "max_epochs": 2000}

    def row(seed, train, completed=False, failed=False):
        return dict(eta0=1.476, seed=seed, train_acc=train, val_acc=0.089, completed=completed, failed=failed,
                    epochs=2000)

    done = [row(0, 1.0, completed=True), row(2, 0.12, failed=True)]  # neither counts: completed, or diverged
    assert cc._collapse_text(done, params) == "No stored run collapsed to a constant prediction."
    one = cc._collapse_text(done + [row(1, 0.112)], params)
    assert one.startswith("1 run collapsed to a near-constant prediction (1.476 seed 1): at the 2,000-epoch cap, "
                          "11.2 % training and 8.9 % validation accuracy")
    assert "would not have stopped it: it sits at or above its bound" in one and "ours runs it to the cap" in one
    two = cc._collapse_text([row(1, 0.112), row(3, 0.104)], params)
    assert "would have stopped 1 of them: 1 sit at or above its bound" in two and "they end without completing" in two
    assert "so their rule would have stopped them;" in cc._collapse_text([row(1, 0.10), row(3, 0.104)], params)
    short = {**row(1, 0.112), "epochs": 10}  # a short run (the tiny profile's cap) still learning: not a collapse
    assert cc._collapse_text([short], params) == "No stored run collapsed to a constant prediction."


def test_a_rate_whose_seeds_all_collapsed_is_named_a_breakdown_not_a_hover():
    """``_top_text`` at the top of the grid: seeds that all collapsed to a near-constant prediction
    are a breakdown short of divergence (not hovering at the edge of stability), with the stored
    seeds counted while the fill runs; seeds that still learn hover, and a mix says how many
    collapsed."""
    params = {"n_train": 1000, "max_epochs": 2000, "seeds": 3, "start": 0.002048, "factor": 2.56, "skip": 0,
              "max_rates": 9}

    def row(eta, seed, train, val=0.089, sharpness=0.11):
        return dict(eta0=eta, seed=seed, train_acc=train, val_acc=val, sharpness=sharpness, completed=False,
                    failed=False, epochs=2000)

    top = cc.gen.rate_grid(0.002048, 2.56, 9)[-1]
    rows = [row(top, s, 0.112) for s in range(3)]
    text = cc._top_text(rows, [top], params)
    assert text.startswith(f"At {top:g} all 3 seeds collapse to a near-constant prediction, at 8.9 % validation "
                           "accuracy and $S$ = 0.11 at the 2,000-epoch cap: none completes and none diverges")
    assert "above 1,000 times its start" in text and text.endswith("not a divergence; the grid ends there.")
    assert "all 2 stored seeds (of 3)" in cc._top_text(rows[:2], [top], params)
    assert f"At {top:g} the one stored seed (of 3) collapses to a near-constant" in cc._top_text(rows[:1], [top], params)
    mixed = cc._top_text(rows[:2] + [row(top, 2, 0.9, val=0.3, sharpness=40.0)], [top], params)
    assert mixed.startswith(f"At {top:g} none of the 3 seeds completes or diverges (2 of them collapsed to a "
                            "near-constant prediction): they run to the 2,000-epoch cap")
    hover = cc._top_text([row(top, s, 0.9, val=0.3, sharpness=40.0) for s in range(3)], [top], params)
    assert "they hover to the 2,000-epoch cap" in hover and "collapse" not in hover

"""The CIFAR-10 chapter's claims on synthetic rows whose verdicts are known, both ways; claims
without their runs are NOT RUN, never PASS."""

import numpy as np

from eoslib import cifar_claims as cc


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
    got = cc._spearman_rows(x, y)
    want = np.array([spearmanr(a, b).statistic for a, b in zip(x, y)])
    assert np.allclose(got, want, equal_nan=True)
    assert np.isnan(cc._spearman_rows(np.ones((1, 9)), y[:1])[0])

"""Chapter 3's analysis on synthetic data whose answer is known: cycles, phases, Figure 4's
rows and statistics, and the claims built from them."""

import re

import numpy as np
import pytest

from eoslib import instability, schedules
from eoslib.chapters.flattening import claims as flattening_claims
from eoslib.chapters.flattening import experiment as flattening
from eoslib.monitors import StopAbove, StopAfterPeak
from eoslib.runs import RunConfig


def _series():
    """A loss with one spike at epochs 20-30 and a sharpness above 2/η = 10 on 18-27."""
    epochs = np.arange(60)
    loss = 2.0 - 0.02 * epochs + np.where((epochs >= 20) & (epochs <= 30), 0.8 * np.sin(np.pi * (epochs - 20) / 10), 0)
    sharp = np.full(60, 8.0)
    sharp[18:28] = 12.0
    sharp[45:] = 11.0  # an unstable stretch at the end: never complete
    return loss, sharp


def test_stability_cycles_find_the_complete_cycle_only():
    loss, sharp = _series()
    cycles = instability.stability_cycles(loss, sharp, eta=0.2)
    assert len(cycles) == 1
    c = cycles[0]
    assert (c.stable_from, c.cross, c.back, c.stable_to) == (0, 18, 28, 44)
    assert 18 <= c.peak <= 28 and c.rise > 1.1 and c.lead == 18
    assert instability.longest_lead(cycles) == c
    assert instability.cycle_window(c, 5, 3).tolist() == list(range(13, 32))
    with pytest.raises(ValueError, match="no complete"):
        instability.longest_lead([])


def test_cycle_phases_follow_the_band_rule():
    cycle = instability.Cycle(0, 10, 15, 17, 20, 1.5)
    epochs = np.arange(5, 19)
    curv = np.array([5, 4.5, 4, 3.5, 3, 2.8, 3.2, 2.9, 30, 50, -10, 40, 20, 10.0])  # 5..18
    ph = flattening.cycle_phases(epochs, curv, cycle, band_epochs=4)
    # band from epochs 6-9 (4.5, 4, 3.5, 3): [1.5, 6.0]; 10, 11, 12 inside, 13 outside
    assert ph["band"] == (1.5, 6.0) and ph["change"] == 13 and ph["steady"] == 3
    assert ph["snapshots"] == {7: "progressive sharpening", 10: "S crosses 2/η", 11: "growth, steady S-curve",
                               13: "S-curve changes", 15: "loss peak", 17: "flatter curve, stability returns"}


def _record(lr, switch, seed, epochs, values, peaked=True, completed=False):
    return {"config": {"schedule": {"lr": lr, "reduce_epoch": float(switch)}, "seed": seed},
            "eigen": {"epoch": list(epochs), "values": [[v] for v in values]},
            "final": {"peaked": peaked, "completed": completed, "epochs": int(epochs[-1])}, "diverged": False}


def test_switch_rows_take_the_maximum_from_the_switch_on_and_censor():
    rec = _record(0.1, 100, 0, [0, 50, 100, 150, 200], [30.0, 25.0, 40.0, 90.0, 80.0])
    row, = flattening.switch_rows([rec], eta_small=0.01)
    assert (row["s_max"], row["s_max_epoch"], row["stable"], row["censored"]) == (90.0, 150, True, 90.0)
    assert row["first_unstable"] == 0 and row["stop"] == "peaked"  # 30 >= 2/0.1 at epoch 0
    unstable = _record(0.1, 0, 0, [0, 50], [150.0, 250.0], peaked=False)
    unstable["final"]["above"] = True
    high, = flattening.switch_rows([unstable], eta_small=0.01)
    assert not high["stable"] and high["censored"] == 200.0 and high["stop"] == "unstable"
    none, = flattening.switch_rows([_record(0.1, 500, 0, [0, 50], [5.0, 6.0], peaked=False, completed=True)],
                                   eta_small=0.01)
    assert np.isnan(none["s_max"]) and none["first_unstable"] is None and not none["stable"]
    assert none["stop"] == "completed before the switch"


def test_stability_threshold_needs_a_stable_peaked_reference():
    rec = _record(0.005, float("inf"), 0, [0, 50, 100], [10.0, 300.0, 250.0])
    rec["config"]["schedule"]["lr"] = 0.005
    assert flattening.stability_threshold(rec) == pytest.approx(2 / 300)
    rec["eigen"]["values"][1] = [450.0]
    with pytest.raises(ValueError, match="reached 2/eta"):
        flattening.stability_threshold(rec)
    rec["eigen"]["values"][1] = [300.0]
    rec["final"]["peaked"] = False
    with pytest.raises(ValueError, match="had not peaked"):
        flattening.stability_threshold(rec)


def _rows(s_max):
    """Rows of a grid: s_max(eta0, switch, seed) for eta0 in (1, 2, 4), switch in (100, 200, 400)."""
    return [dict(eta0=e, switch=w, seed=s, s_max=s_max(e, w, s), censored=min(s_max(e, w, s), 200.0),
                 stable=s_max(e, w, s) < 200)
            for e in (1.0, 2.0, 4.0) for w in (100, 200, 400) for s in (0, 1, 2)]


def test_trend_statistics_and_claims_on_a_known_decrease():
    rows = _rows(lambda e, w, s: 300.0 / e - 0.1 * w + s)  # decreasing in both
    st = flattening_claims.trend_statistics(rows, "switch", "eta0")
    # eta0 = 1 is censored at 200 at every switch: its series are constant, hence left out
    assert st["num_series"] == 6 and st["fraction_negative"] == 1.0 and st["agreeing_seeds"] == [0, 1, 2]
    assert np.isnan(st["mean_rho"][1.0]) and st["mean_rho"][2.0] == st["mean_rho"][4.0] == pytest.approx(-1.0)
    assert flattening_claims.claim_later_switch(rows).passed
    assert flattening_claims.claim_larger_eta0(rows).passed
    st4 = flattening_claims.trend_statistics(rows, "eta0", "switch")
    assert st4["num_series"] == 9


def test_trend_claims_fail_on_an_increase_and_the_premise_counts_unstable_runs():
    rows = _rows(lambda e, w, s: 10.0 * e + 0.1 * w + s)
    assert not flattening_claims.claim_later_switch(rows).passed
    assert not flattening_claims.claim_larger_eta0(rows).passed
    assert flattening_claims.claim_eta_small_stable(rows, 0.01).passed
    rows[0]["stable"] = False
    claim = flattening_claims.claim_eta_small_stable(rows, 0.01)
    assert not claim.passed and claim.measured.startswith("26/27")


def test_rank_correlation_needs_three_points():
    assert np.isnan(flattening_claims.rank_correlation([1, 2], [2, 1]))
    assert np.isnan(flattening_claims.rank_correlation([1, 2, 3], [1, 1, 1]))
    assert flattening_claims.rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)


def test_cycle_claims_on_synthetic_curvatures():
    cycle = instability.Cycle(2, 10, 15, 17, 20, 1.5)  # mid-training: epoch 1 was unstable
    epochs = np.arange(5, 19)
    fit_l = np.linspace(0, 1, 14)
    curv = np.array([5, 5.5, 6, 6.5, 7, 7.2, 7.1, 7.3, 30, 50, -10, 40, 4.0, 1.0])
    dist = np.linspace(0.1, 0.5, 14)
    assert flattening_claims.claim_progressive_sharpening(epochs, fit_l, curv, cycle).verdict == "PASS"
    c2 = flattening_claims.claim_growth_then_change(epochs, curv, dist, cycle)
    assert c2.verdict == "PASS", c2.measured  # steady 10-12, changes at 13, 4.0 at the return < 5 at epoch 5
    assert flattening_claims.claim_progressive_sharpening(epochs, fit_l, -curv, cycle).verdict == "FAIL"
    assert flattening_claims.claim_growth_then_change(epochs, -curv, dist, cycle).verdict == "FAIL"
    cycles = [instability.Cycle(0, 10, 12, 14, 15, 1.2), instability.Cycle(15, 20, 22, 25, 30, 1.2)]
    assert flattening_claims.claim_every_cycle(cycles, {9: 5.0, 14: 3.0, 19: 4.0, 25: 6.0}).measured.startswith("1/2")
    assert not flattening_claims.claim_every_cycle(cycles, {9: 5.0, 14: 3.0, 19: 4.0, 25: 6.0}).passed


def test_cycle_claims_are_unresolved_on_the_first_approach_or_without_epochs_before_the_crossing():
    """Claims 1 and 2 on the approach from initialization (the rule's fallback) and on a cycle
    shown with one epoch before its crossing (no ρ, no band): UNRESOLVED, never FAIL or PASS."""
    epochs = np.arange(5, 19)
    fit_l = np.linspace(0, 1, 14)
    curv = np.array([5, 5.5, 6, 6.5, 7, 7.2, 7.1, 7.3, 30, 50, -10, 40, 4.0, 1.0])
    dist = np.linspace(0.1, 0.5, 14)
    first = instability.Cycle(0, 10, 15, 17, 20, 1.5)
    for c in (flattening_claims.claim_progressive_sharpening(epochs, fit_l, curv, first),
              flattening_claims.claim_growth_then_change(epochs, curv, dist, first)):
        assert c.verdict == "UNRESOLVED" and not c.passed and "first approach" in c.measured
    short = instability.Cycle(9, 10, 15, 17, 20, 1.5)  # mid-training, one stable epoch before the crossing
    window = np.arange(9, 19)
    c1 = flattening_claims.claim_progressive_sharpening(window, fit_l[4:], curv[4:], short)
    c2 = flattening_claims.claim_growth_then_change(window, curv[4:], dist[4:], short)
    assert c1.verdict == c2.verdict == "UNRESOLVED" and not (c1.passed or c2.passed)
    assert "undefined" in c1.measured and "no steady band" in c2.measured
    assert flattening_claims.claim_progressive_sharpening(epochs, np.full(14, 0.3), curv, instability.Cycle(
        2, 10, 15, 17, 20, 1.5)).verdict == "UNRESOLVED"  # a constant curvature of L: ρ undefined


def _cycles(*spans):
    """Cycles from ``(stable_from, cross)`` pairs, each returning 3 epochs after its crossing
    and stable until the next one."""
    out = []
    for i, (start, cross) in enumerate(spans):
        end = spans[i + 1][0] - 1 if i + 1 < len(spans) else cross + 10
        out.append(instability.Cycle(start, cross, cross + 1, cross + 3, end, 1.5))
    return out


def test_choose_cycle_picks_a_mid_training_cycle():
    """The rule of flattening.choose_cycle: the first cycle after the first instability with
    min_lead stable epochs before its crossing; else the mid-training cycle with the longest
    lead (earliest on ties); else (only the approach from initialization) that cycle."""
    cycles = _cycles((0, 40), (44, 47), (51, 60), (64, 80))  # leads 40, 3, 9, 16
    assert flattening.choose_cycle(cycles, 6) == cycles[2]  # not the first approach (lead 40), not lead 3
    assert flattening.choose_cycle(cycles, 3) == cycles[1]
    assert flattening.choose_cycle(cycles, 12) == cycles[3]
    assert flattening.choose_cycle(cycles, 30) == cycles[3]  # none has 30: the longest mid-training lead
    lengthy = [cycles[0], cycles[1], cycles[2]._replace(back=cycles[2].cross + 100), cycles[3]]
    assert flattening.choose_cycle(lengthy, 6) == lengthy[2]
    assert flattening.choose_cycle(lengthy, 6, 60) == lengthy[3]  # a 100-epoch unstable phase is passed over
    only_long = [lengthy[0], lengthy[2]]
    assert flattening.choose_cycle(only_long, 6, 60) == lengthy[2]  # ... unless no shorter one exists
    assert not flattening.is_mid_training(cycles[0]) and all(map(flattening.is_mid_training, cycles[1:]))
    ties = _cycles((0, 40), (44, 49), (53, 58))  # leads 40, 5, 5
    assert flattening.choose_cycle(ties, 8) == ties[1]  # the earlier of two equal leads
    only = _cycles((0, 40))  # one cycle, the approach from initialization: the fallback
    assert flattening.choose_cycle(only, 6) == only[0] and not flattening.is_mid_training(only[0])
    single_mid = _cycles((5, 30))  # one cycle that follows an instability at epochs 0-4
    assert flattening.choose_cycle(single_mid, 50) == single_mid[0]
    with pytest.raises(ValueError, match="no complete"):
        flattening.choose_cycle([], 6)


def test_choose_cycle_on_a_run_with_two_cycles():
    """stability_cycles then choose_cycle on a synthetic run: a first approach with a long lead
    and a later cycle; the later one is analysed."""
    epochs = np.arange(100)
    loss = 2.0 - 0.01 * epochs
    for a in (30, 70):
        loss = loss + np.where((epochs >= a) & (epochs <= a + 8), 0.5 * np.sin(np.pi * (epochs - a) / 8), 0)
    sharp = np.full(100, 8.0)
    sharp[28:36] = sharp[62:75] = 12.0  # unstable 28-35 and 62-74, around the two spikes
    cycles = instability.stability_cycles(loss, sharp, eta=0.2)
    assert [(c.stable_from, c.cross, c.back) for c in cycles] == [(0, 28, 36), (36, 62, 75)]
    assert instability.longest_lead(cycles) == cycles[0]  # the old rule: the approach from initialization
    assert flattening.choose_cycle(cycles, 6) == cycles[1]


def test_onset_and_switch_configs():
    base = RunConfig(max_epochs=100, eig_every=10, monitors=(StopAfterPeak(50),))
    onset = flattening.onset_configs(base, [0.05, 0.1])
    assert [c.monitors for c in onset] == [(StopAbove(40.0),), (StopAbove(20.0),)]
    configs = flattening.switch_configs(base, {0.05: 150, 0.1: 75, 0.02: None}, [75, 150, 300], [0, 1], 0.01)
    got = sorted({(c.schedule.lr, c.schedule.reduce_epoch) for c in configs})
    assert got == [(0.05, 150), (0.05, 300), (0.1, 75), (0.1, 150), (0.1, 300)]
    assert len(configs) == 10 and all(c.monitors == (StopAbove(200.0), StopAfterPeak(50)) and c.schedule.lr_small == 0.01 for c in configs)
    assert configs[0].schedule == schedules.reduce_at_epoch(0.05, 0.01, 150)


def test_significant_round():
    assert flattening.significant_round(0.0126043) == 0.0126
    assert flattening.significant_round(123456.0, 2) == 120000.0


def test_prose_values_quote_the_cycle_and_figure4_of_synthetic_runs():
    """flattening_claims.prose_values (the numbers chapter 3's text glues) on a synthetic cycle
    (the phases of test_cycle_phases_follow_the_band_rule, mid-training: S ≥ 2/η at epoch 1) and
    Figure-4 grid; then the same cycle as the approach from initialization."""
    from types import SimpleNamespace as NS

    cycle = instability.Cycle(2, 10, 15, 17, 20, 1.5)
    window = np.arange(5, 19)  # the rows of the geometry, one per shown epoch
    fit_s = np.array([5, 4.5, 4, 3.5, 3, 2.8, 3.2, 2.9, 30, 50, -10, 40, 20, 10.0])
    fit_l = np.linspace(0, 1, 14)
    sharp = np.concatenate([np.linspace(1, 19, 10), np.full(7, 22.0), [14.9, 20.5, 21.0, 19.0]])
    sharp[1], sharp[5], sharp[9] = 20.5, 5.0, 18.6
    distance = np.linspace(0.1, 0.5, 21)
    distance[12] = 0.25
    second = np.array([40, 30, 20, 10, 0, 5, -1234, 7, 8, 987, 9, 10, 11, 12.0])
    curvature = np.full(14, 1.0)
    curvature[[4, 12]] = 0.2, 9.4
    geo = NS(epochs=window, first=np.array([-10, -9, -8, -7, -6.0, 1, 2, 3, 4, 5, 50, 6, 7, 8]), second=second,
             loss_curvature=curvature, sharpness=sharp[window], boundary=np.full(14, 2e-5),
             prev_position=np.array([0.1] * 9 + [-0.2, -0.4, -0.3, -0.1, -0.05]))
    profile = {13: [60, 40, 10, 50, 117], 14: [55, 30, 20, 40, 80], 17: [23, 20, 14.9, 25, 35]}
    slices = [NS(sharpness=np.array(profile.get(int(e), [3, 2, 1, 0.5, 0.2]), float), residual=np.full(5, 1e-7),
                 certified=np.ones(5, bool), num_matvecs=np.full(5, 22)) for e in window]
    slices[0].residual[2] = 5e-5
    study = NS(sharpness=sharp, distance=distance, cycles=[cycle], shown=cycle, window=window, geometry=geo,
               ts=np.linspace(-1, 1, 5), reach=1.0, slices=slices, e0=12, exact=NS(second=-2.5),
               fd=np.array([[1e-5, 0, -2.51], [1e-4, 0, 563.6], [1e-3, 0, 30.0], [0.5, 0, 1.0]]))
    rows = _rows(lambda e, w, s: 300.0 / e - 0.1 * w + s)
    rows += [dict(eta0=4.0, switch=800, seed=s, s_max=float("nan"), censored=float("nan"), stable=False)
             for s in (0, 1, 2)]
    reference = _record(0.005, float("inf"), 0, [0, 50, 100], [10.0, 300.0, 250.0])
    claims = flattening_claims.claims_table(window, fit_l, fit_s, distance[window], cycle, [cycle],
                                            {9: 3.0, 17: 20.0}, rows, 0.01)
    v = flattening_claims.prose_values(study, fit_s, fit_l, rows, reference, {1.0: 50, 2.0: 50, 4.0: 50}, claims,
                                       eta=0.1, eta_small=0.01, min_lead=4)
    assert {k: v[k] for k in ("n_cycles", "shown_which", "first_cross", "epochs", "cross", "lead", "peak", "back",
                              "rise", "s_back", "other_leads", "window")} == {
        "n_cycles": "1", "shown_which": "the first", "first_cross": "1", "epochs": "20", "cross": "10", "lead": "8",
        "peak": "15", "back": "17", "rise": "1.50", "s_back": "14.9", "other_leads": "none", "window": "5\u201318"}
    assert v["shown_rule"] == ("the first complete cycle after the run's first instability with at least 4 stable "
                               "epochs before its crossing")
    assert (v["steady_n"], v["steady_epochs"], v["change"], v["trough"], v["walls"]) == ("3", "10\u201312", "13",
                                                                                        "13\u201314", "55\u2013117")
    assert (v["s_before"], v["slope_verb"], v["first_before"], v["back_ends"]) == (
        "5 to 19", "decreases", "\u221210.0 to \u22126.0", "23 and 35")
    assert (v["prev_min"], v["prev_min_epoch"], v["flip"], v["first_peak"]) == ("\u22120.40", "15", "14", "50")
    assert (v["l_trend"], v["l_from"], v["l_to"], v["s_trend"], v["s_from"], v["s_to"]) == (
        "rises", "0.00", "0.31", "*falls*", "5", "3")
    assert (v["lam_trend"], v["lam_from"], v["lam_to"], v["lam_min"], v["lam_max"]) == (
        "*falls*", "40.0", "0.0", "\u22121,230", "+990")
    assert (v["c1"], v["c2"], v["c5"], v["c5_higher"]) == ("fails on the S-curve", "fails on its last part (c)",
                                                           "fails", "every time")
    assert (v["s_top"], v["s_top_epoch"], v["s_back_curv"], v["s_start"], v["back_vs_start"]) == (
        "50", "14", "20", "5", "well above")
    assert (v["d_cross"], v["d_peak"], v["dist_cmp"], v["d_min"], v["d_min_epoch"]) == (
        "0.300", "0.400", "larger", "0.250", "12")
    assert (v["dhd_first"], v["s_first"], v["dhd_returns"], v["dhd_later"]) == ("0.2", "19", "9", "none")
    assert (v["boundary"], v["spacing"], v["spacing_ratio"], v["half"]) == (
        "2 \u00d7 10\u207b\u2075", "0.5", "25,000", "0.50")
    assert (v["fd_verdict"], v["lam_exact"], v["lam_fd"], v["lam_fd10"]) == ("confirm", "\u22122.5", "\u22122.51",
                                                                           "564")
    assert (v["ref_smax"], v["ref_epoch"], v["eta_c_frac"], v["small_ratio"], v["small_side"]) == (
        "300", "50", "2/300 = 0.0067", "1.5", "above")
    # eta0 = 1 is above 2/eta_small = 200 at every switch: 9 unstable runs, 3 of them at the first switch
    assert (v["n_unstable"], v["n_switched"], v["unstable_first"], v["n_first"], v["n_runs"]) == (
        "9", "27", "3", "9", "30")
    assert v["unstable_later"] == ("all 3 switched at epoch 200 for \u03b7\u2080 = 1 (150 epochs after it), "
                                   "all 3 switched at epoch 400 for \u03b7\u2080 = 1 (350 epochs after it)")
    assert (v["f4_eta0"], v["f4_by_switch"], v["f4_switches"]) == ("4", "falls from 66 to 56 to 36",
                                                                   "from epoch 100 to 200 to 400")
    assert (v["f4_at"], v["f4_by_eta0"]) == ("100", "falls from 141 (\u03b7\u2080 = 2) to 66 (4)")
    assert (v["c3"], v["c4"], v["c6"], v["f4_verdict"]) == ("holds", "holds", "fails", "holds")
    assert (v["c3_means"], v["c3_rhos"], v["c4_means"], v["series_neg"]) == ("both", "\u22121.00, \u22121.00",
                                                                              "all 3", "all 15")
    assert (v["n_completed"], v["completed_list"]) == ("3", "\u03b7\u2080 = 4 switched at epoch 800: all 3 seeds")
    assert (v["n_slices"], v["n_points"], v["hvps"], v["slice_certified"], v["max_residual"]) == (
        "14", "5", "22", "100 %", "5 \u00d7 10\u207b\u2075")
    assert all(v.values()) and not any(re.search(r"-\d", x) for x in v.values())  # minus signs are typeset
    v = flattening_claims.prose_values(study, fit_s, fit_l, rows, reference, {1.0: 50, 2.0: 50, 4.0: 50}, claims,
                                       eta=0.1, eta_small=0.01, min_lead=9)
    assert v["shown_rule"].startswith("the complete cycle after the run's first instability with the longest")
    first = cycle._replace(stable_from=0)  # the approach from initialization: claims 1 and 2 unresolved
    study.cycles, study.shown = [first], first
    claims = flattening_claims.claims_table(window, fit_l, fit_s, distance[window], first, [first],
                                            {9: 3.0, 17: 20.0}, rows, 0.01)
    assert [c.verdict for c in claims.claims[:2]] == ["UNRESOLVED", "UNRESOLVED"]
    v = flattening_claims.prose_values(study, fit_s, fit_l, rows, reference, {1.0: 50, 2.0: 50, 4.0: 50}, claims,
                                       eta=0.1, eta_small=0.01, min_lead=4)
    assert v["shown_rule"].startswith("the run's first approach to $2/\\eta$ from initialization")
    assert v["c1"] == v["c2"] == "is unresolved: the analysed cycle is the approach from initialization"

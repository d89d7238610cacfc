"""Chapter 3's analysis on synthetic data whose answer is known: cycles, phases, Figure 4's
rows and statistics, and the claims built from them."""

import numpy as np
import pytest

from eoslib import flattening, flattening_claims, instability, schedules
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
    cycle = instability.Cycle(0, 10, 15, 17, 20, 1.5)
    epochs = np.arange(5, 19)
    fit_l = np.linspace(0, 1, 14)
    curv = np.array([5, 5.5, 6, 6.5, 7, 7.2, 7.1, 7.3, 30, 50, -10, 40, 4.0, 1.0])
    dist = np.linspace(0.1, 0.5, 14)
    assert flattening_claims.claim_progressive_sharpening(epochs, fit_l, curv, cycle).passed
    c2 = flattening_claims.claim_growth_then_change(epochs, curv, dist, cycle)
    assert c2.passed, c2.measured  # steady 10-12, changes at 13, 4.0 at the return < 5 at epoch 5
    assert not flattening_claims.claim_progressive_sharpening(epochs, fit_l, -curv, cycle).passed
    cycles = [instability.Cycle(0, 10, 12, 14, 15, 1.2), instability.Cycle(15, 20, 22, 25, 30, 1.2)]
    assert flattening_claims.claim_every_cycle(cycles, {9: 5.0, 14: 3.0, 19: 4.0, 25: 6.0}).measured.startswith("1/2")
    assert not flattening_claims.claim_every_cycle(cycles, {9: 5.0, 14: 3.0, 19: 4.0, 25: 6.0}).passed


def test_onset_and_switch_configs():
    base = RunConfig(max_epochs=100, eig_every=10, stop_after_peak=50)
    onset = flattening.onset_configs(base, [0.05, 0.1])
    assert [c.stop_above for c in onset] == [40.0, 20.0] and all(c.stop_after_peak == 0 for c in onset)
    configs = flattening.switch_configs(base, {0.05: 150, 0.1: 75, 0.02: None}, [75, 150, 300], [0, 1], 0.01)
    got = sorted({(c.schedule.lr, c.schedule.reduce_epoch) for c in configs})
    assert got == [(0.05, 150), (0.05, 300), (0.1, 75), (0.1, 150), (0.1, 300)]
    assert len(configs) == 10 and all(c.stop_above == 200.0 and c.schedule.lr_small == 0.01 for c in configs)
    assert configs[0].schedule == schedules.reduce_at_epoch(0.05, 0.01, 150)


def test_significant_round():
    assert flattening.significant_round(0.0126043) == 0.0126
    assert flattening.significant_round(123456.0, 2) == 120000.0

"""Chapter 5's claims on synthetic inputs whose verdicts are known."""

import numpy as np
import pytest

from eoslib.chapters.drivers import claims as drivers_claims
from eoslib.chapters.drivers.experiment import Phase
from eoslib.chapters.drivers.interventions import Trajectory


def _trajectory(sharpness, loss=None, eta=0.1, second=None):
    """A recorded trajectory with top-2 eigenvalues ``sharpness`` and ``second`` (default 1: stable)
    and ``unstable`` counted from them at ``eta``, as :func:`eoslib.chapters.drivers.interventions.intervene` does."""
    s = np.asarray(sharpness, float)
    n = s.size
    values = np.column_stack([s, np.ones(n) if second is None else np.asarray(second, float)])
    loss = np.ones(n) if loss is None else np.asarray(loss, float)
    return Trajectory(np.arange(n), eta * np.arange(n), loss, values, np.zeros(n), np.ones(n, bool),
                      np.sum(eta * values > 2, axis=1), None)


def _suite(flow, gd, suppress, stabilize, restrict_loss, suppress_loss):
    return {"reference": _trajectory(flow), "reference_half": _trajectory(np.asarray(flow) * 1.001),
            "none": _trajectory(gd), "suppress": _trajectory(suppress, suppress_loss),
            "stabilize": _trajectory(stabilize), "restrict": _trajectory(gd, restrict_loss)}


T = np.arange(20)
FLOW, GD = 20.0 + T, 20 + 3 * np.sin(T)  # GD: S > 2/eta = 20 at steps 1-3
SPIKE = 1 + 0.3 * np.exp(-0.5 * (T - 3.0) ** 2)  # the loss rises to 1.3 x its start at step 3
GOOD = _suite(FLOW, GD, FLOW + 0.5, FLOW + 0.8, SPIKE, np.ones(20))
BAD = _suite(FLOW, GD, GD, FLOW - 10, np.ones(20), np.ones(20))


def test_interventions_claims_pass_when_the_trajectories_behave_as_the_paper_says():
    maxima = np.arange(10, 250, 20)  # 12 instabilities: enough peaks to resolve 75 %
    table = drivers_claims.claims_table(
        loss_peaks=maxima, sharpness_peaks=maxima + 1, distance_maxima=maxima + np.array([0] * 11 + [2]),
        epochs=np.arange(60), alpha=-np.ones(60), phases=[Phase(0, 10, True), Phase(10, 30, False)],
        starts=[1, 2, 3], suites=[GOOD, GOOD, BAD])
    assert [c.verdict for c in table.claims] == ["PASS"] * 6
    assert "2/3 below" in table.claims[2].measured and "12/12 S peaks" in table.claims[0].measured
    few = drivers_claims.claim_peaks_coincide([10, 50], [11, 51], [10, 52])  # 2/2 peaks cannot tell
    assert few.verdict == "UNRESOLVED" and not few.passed
    table = drivers_claims.claims_table(
        loss_peaks=[10, 50], sharpness_peaks=[11, 51], distance_maxima=[30], epochs=np.arange(60),
        alpha=np.ones(60), phases=[], starts=[1, 2, 3], suites=[BAD, BAD, GOOD])
    assert [c.passed for c in table.claims] == [False] * 5 + [True]
    assert [c.verdict for c in table.claims][2:5] == ["FAIL"] * 3


def _saturating(stabilize, at):
    """GOOD with (b)'s S replaced by ``stabilize`` and both tracked directions unstable from record ``at``."""
    second = np.where(T >= at, 25.0, 1.0)
    return {**GOOD, "stabilize": _trajectory(stabilize, second=second)}


def test_claim4_compares_b_with_the_reference_until_its_stability_threshold():
    """(b) on the flow until all tracked directions are unstable (record 6), far from it after:
    only the window before the threshold counts."""
    off = np.where(T <= 6, FLOW + 0.5, FLOW + 50)
    suite = _saturating(off, 6)
    assert drivers_claims.threshold_index(suite["stabilize"]) == 6
    ratio, n = drivers_claims.stable_window_ratio(suite)
    assert n == 6 and ratio < drivers_claims.RATIO
    claim = drivers_claims.claim_stabilize_like_flow([5, 6, 7], [suite, suite, BAD])
    assert claim.verdict == "PASS" and "5: " in claim.measured and "(6 steps)" in claim.measured
    assert "2/3 below" in claim.measured
    late = _saturating(np.where(T <= 6, FLOW + 50, FLOW + 0.5), 6)  # off the flow before the threshold
    assert drivers_claims.claim_stabilize_like_flow([5, 6, 7], [late, late, GOOD]).verdict == "FAIL"


def test_claim4_fails_when_b_is_not_like_the_reference():
    claim = drivers_claims.claim_stabilize_like_flow([1, 2, 3], [BAD, BAD, GOOD])
    assert claim.verdict == "FAIL" and "1/3 below" in claim.measured
    at_start = _saturating(FLOW + 0.5, 0)  # undefined: saturated from the start
    assert drivers_claims.claim_stabilize_like_flow([1, 2, 3], [BAD, BAD, at_start]).verdict == "FAIL"


@pytest.mark.parametrize("case", ["no instability", "saturated early", "missing", "nan"])
def test_claim4_is_unresolved_when_its_ratio_is_undefined(case):
    broken = {"saturated early": _saturating(FLOW + 0.5, 2),  # 2 steps < MIN_STEPS
              "missing": {k: v for k, v in GOOD.items() if k != "stabilize"},
              "nan": {**GOOD, "stabilize": _trajectory(np.where(T == 4, np.nan, FLOW + 0.5))}}
    suites = [] if case == "no instability" else [broken[case], broken[case], GOOD]
    claim = drivers_claims.claim_stabilize_like_flow(list(range(len(suites))), suites)
    assert claim.verdict == "UNRESOLVED" and not claim.passed
    if suites:
        assert "undefined" in claim.measured


def test_claim5_passes_when_c_rises_above_the_threshold_within_a_few_steps():
    claim = drivers_claims.claim_restrict_unstable([1, 2, 3], [GOOD, GOOD, BAD])
    assert claim.verdict == "PASS" and "2/3 with S > 2/η" in claim.measured
    assert "1: L up to ×1.30 (×1.05 at step 2)" in claim.measured
    assert "(a): 0/3" in claim.measured  # the same test on (a), whose loss does not rise
    outcome = drivers_claims.restrict_outcome(GOOD["restrict"])
    assert outcome == (True, True, 2, pytest.approx(1.3, rel=0.01))


def test_claim5_fails_without_a_quick_rise_or_above_the_threshold():
    late = 1 + 0.3 * np.exp(-0.5 * (T - 9.0) ** 2)  # rises, but after FEW = 5 steps
    below = {**GOOD, "restrict": _trajectory(FLOW * 0 + 15, SPIKE)}  # rises with S < 2/eta
    for other in ({**GOOD, "restrict": _trajectory(GD, late)}, below, BAD):
        claim = drivers_claims.claim_restrict_unstable([1, 2, 3], [other, other, GOOD])
        assert claim.verdict == "FAIL", claim.measured
    assert "S ≤ 2/η" in drivers_claims.claim_restrict_unstable([1], [below]).measured


@pytest.mark.parametrize("case", ["no instability", "too short", "missing", "nan"])
def test_claim5_is_unresolved_when_its_test_is_undefined(case):
    broken = {"too short": {**GOOD, "restrict": _trajectory(GD[:4], SPIKE[:4])},  # ends before step FEW
              "missing": {k: v for k, v in GOOD.items() if k != "restrict"},
              "nan": {**GOOD, "restrict": _trajectory(GD, np.where(T == 2, np.nan, SPIKE))}}
    suites = [] if case == "no instability" else [broken[case], broken[case], GOOD]
    claim = drivers_claims.claim_restrict_unstable(list(range(len(suites))), suites)
    assert claim.verdict == "UNRESOLVED" and not claim.passed


def test_reference_not_converged_fails():
    t = np.arange(10)
    suite = _suite(20 + t, 20 + t, 20 + t, 20 + t, np.ones(10), np.ones(10))
    suite["reference_half"] = _trajectory((20 + t) * 1.05)
    assert not drivers_claims.claim_reference_converged([suite]).passed


def test_prose_values_quote_the_counts_and_suites_of_a_synthetic_run():
    """drivers_claims.prose_values (the numbers chapter 5's text glues) on a synthetic run:
    four peaks in Figure 9's window (one before it, left out) and two intervention suites."""
    from types import SimpleNamespace as NS

    t = np.arange(20)
    zig = (-1.0) ** t

    def traj(s, loss, matvecs=20, unstable=None, second=None):
        values = np.column_stack([s, np.ones(20) if second is None else second]).astype(float)
        unstable = np.sum(0.1 * values > 2, axis=1) if unstable is None else np.asarray(unstable) * np.ones(20)
        return Trajectory(t, 0.1 * t, np.asarray(loss, float), values, np.full(20, matvecs), np.ones(20, bool),
                          unstable, None)

    def suite(suppress_gap, restrict_loss, restrict_s, unstable, b_saturates=None):
        flow = 20.0 + t
        stabilize = flow + 0.8
        stabilize[10] = stabilize[9] - 1  # one step down
        second = None if b_saturates is None else np.where(t >= b_saturates, 25.0, 1.0)
        return {"reference": traj(flow, np.ones(20)), "reference_half": traj(flow * 1.001, np.ones(20)),
                "none": traj(20 + 3 * np.sin(t), 1 + 0.4 * zig),
                "suppress": traj(flow + suppress_gap, 1 + 0.01 * zig, 17, unstable),
                "stabilize": traj(stabilize, 1 + 0.01 * zig, second=second),
                "restrict": traj(restrict_s, restrict_loss)}

    below = np.array([25, 23, 21] + [19.0] * 17)
    rising = np.r_[1.0, 1.02, 1.08, 1.2, 1.1, 1.0, np.full(14, 0.95)]  # x1.05 at step 2, x1.2 at step 3
    suites = [suite(0.5, rising, below, np.arange(20) % 2 * 8, b_saturates=15),
              suite(3.0, 1 + 0.015 * zig, np.full(20, 21.0), 0)]
    window = np.arange(10, 70)
    alpha = -np.ones(60)
    alpha[[0, 1, 2, 3, 4, 10, 12, 14, 40, 42]] = [1, 2, 3, 4, 5, 1, 1, 1, 1, 1]
    sharpness = np.full(71, 25.0)
    sharpness[10], sharpness[14] = 1.3, 17.4
    spike = NS(start=40, peak=42, end=45, rise=1.3)
    study = NS(sharpness=sharpness, num_matvecs=np.full(71, 29.2), reached=12, spikes=[spike, spike, spike],
               chosen=[NS(rise=1.5), NS(rise=1.2)], window=window, alpha=alpha, starts=[58, 72], suites=suites,
               run_seconds=71.0, alpha_seconds=13.0, suite_seconds=111.0)
    maxima, phases = [20, 30, 40, 50], [Phase(10, 40, True), Phase(40, 70, False)]
    loss_peaks, sharp_peaks = [5, 19, 30, 41, 55], [5, 18, 29, 37, 49]
    claims = drivers_claims.claims_table(loss_peaks=loss_peaks[1:], sharpness_peaks=sharp_peaks[1:],
                                         distance_maxima=maxima, epochs=window, alpha=alpha, phases=phases,
                                         starts=study.starts, suites=suites)
    v = drivers_claims.prose_values(study, maxima, phases, loss_peaks, sharp_peaks, claims, eta=0.1, min_rise=1.1,
                                    num_eigs=8)
    assert (v["n_peaks"], v["loss_near"], v["sharp_near"], v["loss_pct"], v["sharp_pct"], v["min_rise"]) == (
        "4", "3", "3", "75 %", "75 %", "10 %")
    assert (v["sharp_far"], v["sharp_before"], v["sharp_after"], v["sharp_median"]) == ("\u22123", "4", "0",
                                                                                        "\u22122")
    assert (v["above"], v["loss_ci"], v["all_n"], v["c1"]) == (
        "both above", "30\u201395 %", "even 4 of 4 would leave it so, 51\u2013100 %", "UNRESOLVED")
    assert (v["alpha_pos_epochs"], v["alpha_pos_median"], v["s_pos"]) == ("10\u201314", "+3", "1.3 to 17")
    assert (v["alpha_neg"], v["n_window"], v["alpha_neg_after"], v["alpha_grow"], v["alpha_shrink"]) == (
        "83 %", "60", "91 %", "73 %", "93 %")
    assert (v["n_spikes"], v["third_spike"], v["reached"]) == ("3", "40\u201345", "12")
    assert (v["n_suites"], v["starts"], v["steps"]) == ("2", "58 and 72", "19")
    for key, claim in (("c3_ratios", 2), ("c4_ratios", 3)):  # the ratios the claims table lists
        assert all(f": {r}" in claims.claims[claim].measured for r in v[key].split(" and "))
    assert (v["worst_which"], v["worst_rise"], v["worst_smallest"], v["worst_a_end"], v["worst_ref_end"]) == (
        "the second", "1.20", ", the smallest of the 2", "42", "39")
    assert (v["rise_frac"], v["end_ab"], v["sat_which"], v["sat_frac"]) == ("95 %", "40\u201342", "the first", "50 %")
    assert (v["c4_cut"], v["c4_count"], v["c4"]) == ("at step 15 at epoch 58, never at the other", "all 2", "PASS")
    assert "58: " in claims.claims[3].measured and "(15 steps)" in claims.claims[3].measured
    assert (v["c5_where"], v["c5_rise"], v["c5_step"], v["c5_count"], v["c5"]) == (
        "the instability at epoch 58", "1.20", "2", "1 of 2", "FAIL")
    assert v["c5_other"] == "At epoch 72 the loss reaches at most \u00d71.00 of its start."
    assert (v["c5_a"], v["c5_gd"], v["c5_few"], v["c5_rise_pct"]) == ("0 of 2", "0 of 2", "5", "5 %")
    assert (v["restrict_below"], v["restrict_stays"], v["ref_change"], v["c6"]) == (
        "3 and never", "does not always stay there", "0.1 %", "PASS")
    assert (v["hvps_steps"], v["hvps_run"], v["run_s"], v["alpha_s"], v["suite_s"], v["total_min"]) == (
        "17\u201320", "29", "71", "13", "111", "3")

"""Chapter 5's claims on synthetic inputs whose verdicts are known."""

import numpy as np

from eoslib import drivers_claims
from eoslib.drivers import Phase
from eoslib.interventions import Trajectory


def _trajectory(sharpness, loss=None, eta=0.1):
    s = np.asarray(sharpness, float)
    loss = np.ones_like(s) if loss is None else np.asarray(loss, float)
    n = s.size
    return Trajectory(np.arange(n), eta * np.arange(n), loss, s[:, None], np.zeros(n), np.ones(n, bool),
                      np.zeros(n), None)


def _suite(flow, gd, suppress, stabilize, restrict_loss, suppress_loss):
    return {"reference": _trajectory(flow), "reference_half": _trajectory(np.asarray(flow) * 1.001),
            "none": _trajectory(gd), "suppress": _trajectory(suppress, suppress_loss),
            "stabilize": _trajectory(stabilize), "restrict": _trajectory(gd, restrict_loss)}


def test_interventions_claims_pass_when_the_trajectories_behave_as_the_paper_says():
    t = np.arange(20)
    flow = 20 + t
    zigzag = 1 + 0.2 * (-1.0) ** t
    good = _suite(flow, 20 + 3 * np.sin(t), flow + 0.5, flow + 0.8, zigzag, np.ones(20))
    bad = _suite(flow, 20 + 3 * np.sin(t), 20 + 3 * np.sin(t), flow - 10, np.ones(20), np.ones(20))
    maxima = np.arange(10, 250, 20)  # 12 instabilities: enough peaks to resolve 75 %
    table = drivers_claims.claims_table(
        loss_peaks=maxima, sharpness_peaks=maxima + 1, distance_maxima=maxima + np.array([0] * 11 + [2]),
        epochs=np.arange(60), alpha=-np.ones(60), phases=[Phase(0, 10, True), Phase(10, 30, False)],
        starts=[1, 2, 3], suites=[good, good, bad])
    assert [c.verdict for c in table.claims] == ["PASS"] * 6
    assert "2/3 below" in table.claims[2].measured and "12/12 S peaks" in table.claims[0].measured
    few = drivers_claims.claim_peaks_coincide([10, 50], [11, 51], [10, 52])  # 2/2 peaks cannot tell
    assert few.verdict == "UNRESOLVED" and not few.passed
    table = drivers_claims.claims_table(
        loss_peaks=[10, 50], sharpness_peaks=[11, 51], distance_maxima=[30], epochs=np.arange(60),
        alpha=np.ones(60), phases=[], starts=[1, 2, 3], suites=[bad, bad, good])
    assert [c.passed for c in table.claims] == [False] * 5 + [True]


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

    def traj(s, loss, matvecs=20, unstable=0):
        s = np.asarray(s, float)
        return Trajectory(t, 0.1 * t, np.asarray(loss, float), s[:, None], np.full(20, matvecs), np.ones(20, bool),
                          np.asarray(unstable) * np.ones(20), None)

    def suite(suppress_gap, restrict_amp, restrict_s, unstable):
        flow = 20.0 + t
        stabilize = flow + 0.8
        stabilize[10] = stabilize[9] - 1  # one step down
        return {"reference": traj(flow, np.ones(20)), "reference_half": traj(flow * 1.001, np.ones(20)),
                "none": traj(20 + 3 * np.sin(t), 1 + 0.4 * zig),
                "suppress": traj(flow + suppress_gap, 1 + 0.01 * zig, 17, unstable),
                "stabilize": traj(stabilize, 1 + 0.01 * zig), "restrict": traj(restrict_s, 1 + restrict_amp * zig)}

    below = np.array([25, 23, 21] + [19.0] * 17)
    suites = [suite(0.5, 0.1, below, np.arange(20) % 2 * 8), suite(3.0, 0.015, np.full(20, 21.0), 0)]
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
    assert (v["c5_where"], v["c5_ratios"], v["gd_over_c"], v["c5_count"], v["c5"]) == (
        "the instability at epoch 58", "10", "4", "1 of 2", "FAIL")
    assert v["c5_other"] == "At epoch 72, (c) oscillates only 1.5 times as much as (a)."
    assert (v["restrict_below"], v["restrict_stays"], v["ref_change"], v["c6"]) == (
        "3 and never", "does not always stay there", "0.1 %", "PASS")
    assert (v["hvps_steps"], v["hvps_run"], v["run_s"], v["alpha_s"], v["suite_s"], v["total_min"]) == (
        "17\u201320", "29", "71", "13", "111", "3")

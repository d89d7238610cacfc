"""Chapter 2's claims as statistics (eoslib.rotation_claims), on constructed series with known answers."""

import math

import numpy as np
import pytest

from eoslib import rotation_claims as rc
from eoslib.instability import Instability, SimilarityToBaseline

SNAP = Instability(start=10, peak=16, end=20, rise=2.0)


def sim(epochs, subspace, cosines=None):
    """A SimilarityToBaseline from a subspace series (J,) and cosines (J, k) (default: the subspace, k = 1)."""
    epochs, subspace = np.asarray(epochs), np.asarray(subspace, dtype=float)
    cosines = subspace[:, None] if cosines is None else np.asarray(cosines, dtype=float)
    return SimilarityToBaseline(epochs, cosines, cosines, subspace)


# --- (1) edge of stability ---------------------------------------------------------------------


def sharpness_trace(eta=0.1, ramp=40, epochs=200, level=1.2):
    """Linear progressive sharpening from 1 to 2/eta over `ramp` epochs, then `level` (2/eta) +- 1%."""
    edge = 2.0 / eta
    s = np.empty(epochs + 1)
    s[:ramp + 1] = np.linspace(1.0, edge, ramp + 1)
    s[ramp + 1:] = level * edge * (1 + 0.01 * (-1.0) ** np.arange(epochs - ramp))
    return s


def test_edge_of_stability_of_a_synthetic_sharpness_trace():
    eos = rc.edge_of_stability(sharpness_trace(), 0.1)
    assert eos.reached == 40 and eos.num_epochs == 200
    assert eos.fraction_at_edge == 1.0
    assert eos.median_ratio == pytest.approx(1.2 * 0.99, rel=1e-12)  # 80 values at 1.212, 80 at 1.188, one at 1
    assert eos.passed


def test_edge_of_stability_fails_late_low_or_never():
    assert not rc.edge_of_stability(sharpness_trace(ramp=120), 0.1).passed  # crossing in the second half
    assert rc.edge_of_stability(sharpness_trace(ramp=120), 0.1).reached == 120
    low = rc.edge_of_stability(sharpness_trace(level=0.85), 0.1)  # falls back below 0.9 (2/eta)
    assert low.reached == 40 and low.fraction_at_edge == pytest.approx(1 / 161) and not low.passed
    assert not rc.edge_of_stability(sharpness_trace(level=1.8), 0.1).passed  # median above 1.6
    assert rc.edge_of_stability(sharpness_trace(level=1.8), 0.1, median_range=(1.0, 2.0)).passed
    never = rc.edge_of_stability(np.linspace(1.0, 15.0, 100), 0.1)
    assert never.reached is None and math.isnan(never.fraction_at_edge) and not never.passed


# --- (2) monotone fall over the rise -------------------------------------------------------------


def test_monotone_fall_over_the_rise_gives_spearman_minus_one():
    epochs = np.arange(10, 33, 2)  # rise: 10, 12, 14, 16
    sub = np.r_[1.0, 0.8, 0.5, 0.3, np.linspace(0.5, 0.9, 8)]  # falls to the peak, recovers after it
    cos = np.stack([sub, sub ** 2, np.sqrt(sub)], axis=1)
    res = rc.rise_monotonicity([sim(epochs, sub, cos)], [SNAP])
    assert res.rho_subspace == (pytest.approx(-1.0),) and res.rho_mean == (pytest.approx(-1.0),)
    assert res.points == (4,) and res.passed


def test_rise_monotonicity_fails_on_a_rise_short_or_non_monotone():
    epochs = np.arange(10, 33, 2)
    rising = np.r_[0.3, 0.5, 0.8, 1.0, np.ones(8)]
    res = rc.rise_monotonicity([sim(epochs, rising)], [SNAP])
    assert res.rho_subspace == (pytest.approx(1.0),) and not res.passed
    short = rc.rise_monotonicity([sim([10, 16, 22], [1.0, 0.5, 0.9])], [SNAP])  # 2 points up to the peak
    assert short.points == (2,) and math.isnan(short.rho_subspace[0]) and not short.passed
    assert not rc.rise_monotonicity([], []).passed
    # one of two instabilities not monotone: the check is over every instability
    good = sim(epochs, np.r_[1.0, 0.8, 0.5, 0.3, np.ones(8)])
    bad = sim(epochs, np.r_[1.0, 0.5, 0.8, 0.3, np.ones(8)])
    both = rc.rise_monotonicity([good, bad], [SNAP, SNAP])
    assert both.rho_subspace == (pytest.approx(-1.0), pytest.approx(-0.8))
    assert rc.rise_monotonicity([good, bad], [SNAP, SNAP], max_rho=-0.75).passed
    assert not rc.rise_monotonicity([good, bad], [SNAP, SNAP], max_rho=-0.85).passed


# --- (3) all top-k rotate ------------------------------------------------------------------------


def test_fraction_of_top_k_losing_similarity_until_resolution():
    epochs = np.arange(10, 25, 2)  # up to the end (20): 10 .. 20; after it: 22, 24
    cos = np.ones((epochs.size, 4))
    cos[2, 0], cos[3, 1], cos[5, 2] = 0.5, 0.89, 0.2  # three of four drop below 0.9 by the end
    cos[6, 3] = 0.1  # the fourth only after the resolution: not counted
    res = rc.widespread_rotation([sim(epochs, cos.min(axis=1), cos)], [SNAP])
    assert res.lost_fraction == (0.75,) and res.passed
    cos[5, 2] = 0.9  # not below 0.9
    res = rc.widespread_rotation([sim(epochs, cos.min(axis=1), cos)], [SNAP])
    assert res.lost_fraction == (0.5,) and not res.passed
    assert rc.widespread_rotation([sim(epochs, cos.min(axis=1), cos)], [SNAP], min_fraction=0.5).passed


# --- (4) subspace vs individual after resolution -------------------------------------------------


def test_subspace_gap_sign_after_resolution():
    epochs = np.arange(10, 29, 2)  # after the end (20): 20, 22, 24, 26, 28
    cos = np.full((epochs.size, 4), 0.1)
    cos[:, :3] = 0.6  # the top-3 individual cosines; column 4 is outside the subspace and ignored
    sub = np.full(epochs.size, 0.2)  # low during the instability: not counted
    sub[epochs >= 20] = [0.7, 0.8, 0.9, 1.0, 0.95]  # median 0.9
    res = rc.subspace_gap_after_resolution([sim(epochs, sub, cos)], [SNAP], subspace_k=3)
    assert res.gap == (pytest.approx(0.3),) and res.passed
    below = rc.subspace_gap_after_resolution([sim(epochs, sub - 0.5, cos)], [SNAP], subspace_k=3)
    assert below.gap == (pytest.approx(-0.2),) and not below.passed
    mixed = rc.subspace_gap_after_resolution([sim(epochs, sub, cos), sim(epochs, sub - 0.5, cos)], [SNAP, SNAP], 3)
    assert not mixed.passed
    assert not rc.subspace_gap_after_resolution([sim(epochs, sub, cos)], [SNAP], 3, min_gap=0.35).passed


# --- (5) reversal after the learning-rate reduction ----------------------------------------------


def reruns(first_changes):
    """One instability; a reduced rerun at epoch 12 + i per first-period change (then +0.1 to the end)."""
    reds = {-1: sim([10, 12, 14], [1.0, 0.0, 0.0])}  # the constant-eta run: skipped
    for i, c in enumerate(first_changes):
        reds[12 + i] = sim([12 + i, 14 + i, 16 + i], [0.4, 0.4 + c, 0.5 + c])
    return [reds]


def test_reversal_fraction_of_constructed_reduced_reruns():
    res = rc.reversal_after_reduction(reruns([0.3, 0.1, 0.05, 0.021, -0.2]))
    assert res.immediate == pytest.approx((0.3, 0.1, 0.05, 0.021, -0.2))
    assert res.overall == pytest.approx((0.4, 0.2, 0.15, 0.121, -0.1))
    assert res.passed  # 4 of 5 = 80% rise by more than 0.02
    assert not rc.reversal_after_reduction(reruns([0.3, 0.1, 0.05, 0.01, -0.2])).passed  # 3 of 5
    assert not rc.reversal_after_reduction(reruns([0.3, 0.1, 0.05, 0.021, -0.2]), min_fraction=0.9).passed
    assert rc.reversal_after_reduction(reruns([0.3, 0.1, 0.05, 0.021, -0.2]), rise=0.0).passed
    empty = rc.reversal_after_reduction(reruns([]))
    assert empty.immediate == () and not empty.passed
    two = rc.reversal_after_reduction(reruns([0.1]) + reruns([0.2]))  # snapshots in order
    assert two.immediate == pytest.approx((0.1, 0.2))


# --- (6) even vs odd comparison periods ----------------------------------------------------------


def period_series(zigzag_t1=0.3):
    """Subspace similarity at T = 1, 2, 3 for SNAP: a smooth fall and rise, T = 1 with period-2 dips."""
    epochs = np.arange(10, 33)
    smooth = np.interp(epochs, [10, 16, 32], [1.0, 0.3, 0.9])
    dip = zigzag_t1 * ((epochs - 10) % 2) * (epochs <= 20)  # odd offsets dip while the instability lasts
    t1 = sim(epochs, smooth - dip)
    t2 = sim(epochs[::2], smooth[::2])  # down, then up: one direction change
    t3_epochs = epochs[::3]
    t3 = sim(t3_epochs, 0.5 + 0.2 * (-1.0) ** np.arange(t3_epochs.size))  # zigzag
    return {1: t1, 2: t2, 3: t3}


def test_parity_dips_and_roughness_of_a_constructed_period_two_series():
    res = rc.period_smoothness([period_series()], [SNAP])
    assert list(res.roughness) == [1, 2, 3]
    assert res.roughness[2] == pytest.approx(1 / 10) and res.roughness[3] == 1.0  # one change in 10; zigzag
    assert res.roughness[2] < res.roughness[1] < res.roughness[3]  # T = 1 zigzags only during the instability
    np.testing.assert_allclose(res.dips, 0.3, atol=1e-12)  # odd offsets 1, 3, 5, 7, 9 up to the end
    assert res.dips.shape == (5,) and res.mean_dip == pytest.approx(0.3) and res.dip_fraction == 1.0
    assert res.passed


def test_period_smoothness_fails_without_dips_or_odd_periods():
    flat = rc.period_smoothness([period_series(zigzag_t1=0.0)], [SNAP])
    assert flat.mean_dip == pytest.approx(0.0) and not flat.passed
    assert not rc.period_smoothness([period_series(zigzag_t1=0.04)], [SNAP]).passed  # mean dip 0.04 <= 0.05
    no_t1 = rc.period_smoothness([{T: s for T, s in period_series().items() if T != 1}], [SNAP])
    assert no_t1.dips.size == 0 and math.isnan(no_t1.mean_dip) and not no_t1.passed
    only_even = rc.period_smoothness([{2: period_series()[2]}], [SNAP])
    assert only_even.roughness == {2: pytest.approx(0.1)} and not only_even.passed
    rough_t2 = period_series()
    rough_t2[2] = rough_t2[3]  # T = 2 as rough as T = 3
    assert not rc.period_smoothness([rough_t2], [SNAP]).passed


# --- the table -----------------------------------------------------------------------------------


def chapter_like_inputs():
    """One instability whose measurements pass all six claims, k = 4 eigenvectors, subspace_k = 3."""
    epochs = np.arange(10, 33, 2)
    sub = np.r_[1.0, 0.8, 0.5, 0.3, 0.5, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98]
    cos = np.stack([sub, sub - 0.2, sub - 0.3, sub ** 2], axis=1)
    top = [sim(epochs, sub, cos)]
    bottom = [{-1: top[0], 13: sim([13, 15, 17], [0.6, 0.8, 0.9]), 15: sim([15, 17, 19], [0.4, 0.6, 0.95])}]
    return sharpness_trace(), [SNAP], top, bottom, [period_series()]


def passing_checks(seed=0):
    sharpness, snaps, top, bottom, by_period = chapter_like_inputs()
    return rc.seed_checks(seed, sharpness, 0.1, snaps, top, bottom, by_period, subspace_k=3)


def failing_checks(seed):
    """A seed whose run never reached the edge and found no instability: every check fails."""
    return rc.seed_checks(seed, np.ones(201), 0.1, [], [], [], [], subspace_k=3)


def table(checks):
    return rc.claims_table(checks, num_eigs=4, subspace_k=3, period=2, reduction_factor=0.2)


def test_claims_table_passes_all_six_on_consistent_inputs():
    assert all(r.passed for r in passing_checks().results)
    t = table([passing_checks(s) for s in range(3)])
    assert [c.claim[:3] for c in t.claims] == [f"({i})" for i in range(1, 7)]
    assert t.num_passed == 6, repr(t)
    assert t.summary().startswith("6/6 claims PASS")
    measured = [c.measured for c in t.claims]
    assert measured[0].startswith("3/3 seeds pass (seeds 0, 1, 2); fraction of epochs at >= 0.9 (2/eta) after the "
                                  "crossing per seed: median 100%, range [100%, 100%]. Seed 0 (the figures):")
    assert "at epoch 40 of 200" in measured[0] and "100.0% of epochs" in measured[0]
    assert "largest Spearman over instabilities and both series per seed: median -1.00" in measured[1]
    assert "mean of the top-4 -1.00 (4 points)" in measured[1]
    assert t.claims[2].claim.startswith("(3) All top-4 eigenvectors")
    assert "(subspace - mean of the top-3 individual): +0.17" in measured[3]
    assert "2 reduced reruns" in measured[4] and "+0.20, +0.20; to the end of the window +0.30, +0.55" in measured[4]
    assert "fraction of reduced reruns rising per seed: median 100%" in measured[4]
    assert t.claims[4].claim.startswith("(5) After reducing eta to 0.2 eta")
    assert "T=1: " in measured[5] and "by 0.30 on average (100% of them dip)" in measured[5]


def test_a_claim_passes_only_with_a_strict_majority_of_seeds():
    two_of_three = table([passing_checks(0), failing_checks(1), passing_checks(2)])
    assert two_of_three.num_passed == 6
    assert two_of_three.claims[0].measured.startswith("2/3 seeds pass (seeds 0, 2)")
    one_of_three = table([passing_checks(0), failing_checks(1), failing_checks(2)])
    assert one_of_three.num_passed == 0
    assert "(2 seeds without a figure)" in one_of_three.claims[1].measured  # no instability: no Spearman
    half = table([passing_checks(0), failing_checks(1)])
    assert half.num_passed == 0  # 1 of 2 is not a majority


def test_claims_table_bounds_are_the_chapter_bounds():
    """The bound texts are built from the checks' defaults; pin them to the chapter's wording."""
    t = table([passing_checks(s) for s in range(5)])
    majority = "; PASS when at least 3 of 5 seeds pass (a strict majority)"
    assert [c.bound for c in t.claims] == [f"per seed: {b}{majority}" for b in [
        "reached in the first half; >= 90% of epochs at >= 0.9 (2/eta); median in [1, 1.6]",
        "every Spearman <= -0.8 (>= 3 points)",
        ">= 75% in every instability",
        "> 0 in every instability",
        ">= 80% of reruns rise by more than 0.02 over the first period",
        "T=2 changes direction less often than every odd T; mean dip > 0.05 with >= 75% of odd offsets dipping "
        "(T=4 is shown, not bounded: it has few points per window)",
    ]]
    assert "afterwards S >= 0.9 (2/eta) in" in t.claims[0].measured
    assert "drops below 0.9 during the instability: 100%" in t.claims[2].measured


def test_rule_grid_flags_the_claims_whose_verdict_changes():
    same = [passing_checks(s) for s in range(3)]
    worse = [passing_checks(0), failing_checks(1), failing_checks(2)]
    grid = rc.rule_grid({"chapter": same, "variant": worse, "again": same}, num_eigs=4, reduction_factor=0.2)
    assert grid.claims == [f"({i})" for i in range(1, 7)] and grid.flips == [True] * 6
    assert "(1): PASS (3/3 seeds); FAIL (1/3 seeds); PASS (3/3 seeds) <- flips" in grid.summary()
    assert not any(rc.rule_grid({"a": same, "b": same}, num_eigs=4, reduction_factor=0.2).flips)
    assert "<table class='eoslib-verdicts'>" in grid._repr_html_()

"""Chapter 2's claims as statistics (eoslib.chapters.rotations.claims), on constructed series with known answers."""

import math

import numpy as np
import pytest

from eoslib.chapters.rotations import claims as rc
from eoslib.instability import Instability, SimilarityToBaseline

SNAP = Instability(start=10, peak=16, end=20, rise=2.0)


def sim(epochs, subspace, cosines=None, matched=None):
    """A SimilarityToBaseline from a subspace series (J,), index-wise cosines (J, k) (default: the
    subspace, k = 1) and matched cosines (J, k) (default: the index-wise ones)."""
    epochs, subspace = np.asarray(epochs), np.asarray(subspace, dtype=float)
    cosines = subspace[:, None] if cosines is None else np.asarray(cosines, dtype=float)
    matched = cosines if matched is None else np.asarray(matched, dtype=float)
    return SimilarityToBaseline(epochs, cosines, matched, subspace)


def verdict(result):
    """PASS, FAIL or UNRESOLVED of one seed's check."""
    assert not (result.passed and result.unresolved)
    return "UNRESOLVED" if result.unresolved else "PASS" if result.passed else "FAIL"


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
    assert verdict(eos) == "PASS"


def test_edge_of_stability_fails_late_low_or_never():
    assert not rc.edge_of_stability(sharpness_trace(ramp=120), 0.1).passed  # crossing in the second half
    assert rc.edge_of_stability(sharpness_trace(ramp=120), 0.1).reached == 120
    low = rc.edge_of_stability(sharpness_trace(level=0.85), 0.1)  # falls back below 0.9 (2/eta)
    assert low.reached == 40 and low.fraction_at_edge == pytest.approx(1 / 161) and not low.passed
    assert not rc.edge_of_stability(sharpness_trace(level=1.8), 0.1).passed  # median above 1.6
    assert rc.edge_of_stability(sharpness_trace(level=1.8), 0.1, median_range=(1.0, 2.0)).passed
    never = rc.edge_of_stability(np.linspace(1.0, 15.0, 100), 0.1)
    assert never.reached is None and math.isnan(never.fraction_at_edge) and verdict(never) == "FAIL"  # measured


def test_edge_of_stability_is_unresolved_without_a_finite_sharpness():
    diverged = rc.edge_of_stability(np.full(100, np.nan), 0.1)  # a diverged run: nothing measured
    assert diverged.reached is None and verdict(diverged) == "UNRESOLVED"


# --- (2) monotone fall over the rise -------------------------------------------------------------


def test_monotone_fall_over_the_rise_gives_spearman_minus_one():
    epochs = np.arange(10, 33, 2)  # rise: 10, 12, 14, 16
    sub = np.r_[1.0, 0.8, 0.5, 0.3, np.linspace(0.5, 0.9, 8)]  # falls to the peak, recovers after it
    cos = np.stack([sub, sub ** 2, np.sqrt(sub)], axis=1)
    res = rc.rise_monotonicity([sim(epochs, sub, cos)], [SNAP])
    assert res.rho_subspace == (pytest.approx(-1.0),) and res.rho_mean == (pytest.approx(-1.0),)
    assert res.points == (4,) and verdict(res) == "PASS"


def test_rise_monotonicity_fails_on_a_rise_short_or_non_monotone():
    epochs = np.arange(10, 33, 2)
    rising = np.r_[0.3, 0.5, 0.8, 1.0, np.ones(8)]
    res = rc.rise_monotonicity([sim(epochs, rising)], [SNAP])
    assert res.rho_subspace == (pytest.approx(1.0),) and verdict(res) == "FAIL"
    # one of two instabilities not monotone: the check is over every instability
    good = sim(epochs, np.r_[1.0, 0.8, 0.5, 0.3, np.ones(8)])
    bad = sim(epochs, np.r_[1.0, 0.5, 0.8, 0.3, np.ones(8)])
    both = rc.rise_monotonicity([good, bad], [SNAP, SNAP])
    assert both.rho_subspace == (pytest.approx(-1.0), pytest.approx(-0.8))
    assert rc.rise_monotonicity([good, bad], [SNAP, SNAP], max_rho=-0.75).passed
    assert verdict(rc.rise_monotonicity([good, bad], [SNAP, SNAP], max_rho=-0.85)) == "FAIL"


def test_rise_monotonicity_is_unresolved_on_a_rise_too_short_to_rank():
    short = rc.rise_monotonicity([sim([10, 16, 22], [1.0, 0.5, 0.9])], [SNAP])  # 2 points up to the peak
    assert short.points == (2,) and math.isnan(short.rho_subspace[0]) and verdict(short) == "UNRESOLVED"
    assert verdict(rc.rise_monotonicity([], [])) == "UNRESOLVED"  # no instability
    epochs = np.arange(10, 33, 2)
    good = sim(epochs, np.r_[1.0, 0.8, 0.5, 0.3, np.ones(8)])
    bad = sim(epochs, np.r_[1.0, 0.5, 0.8, 0.3, np.ones(8)])
    short = sim([10, 16, 22], [1.0, 0.5, 0.9])
    assert verdict(rc.rise_monotonicity([good, short], [SNAP, SNAP])) == "UNRESOLVED"  # the short one could fail
    assert verdict(rc.rise_monotonicity([bad, short], [SNAP, SNAP], max_rho=-0.85)) == "FAIL"  # decided anyway


# --- (3) all top-k rotate ------------------------------------------------------------------------


def test_fraction_of_top_k_losing_similarity_until_resolution():
    epochs = np.arange(10, 25, 2)  # up to the end (20): 10 .. 20; after it: 22, 24
    cos = np.ones((epochs.size, 4))
    cos[2, 0], cos[3, 1], cos[5, 2] = 0.5, 0.89, 0.2  # three of four drop below 0.9 by the end
    cos[6, 3] = 0.1  # the fourth only after the resolution: not counted
    res = rc.widespread_rotation([sim(epochs, cos.min(axis=1), cos)], [SNAP])
    assert res.lost_fraction == (0.75,) and verdict(res) == "PASS"
    cos[5, 2] = 0.9  # not below 0.9
    res = rc.widespread_rotation([sim(epochs, cos.min(axis=1), cos)], [SNAP])
    assert res.lost_fraction == (0.5,) and verdict(res) == "FAIL"
    assert rc.widespread_rotation([sim(epochs, cos.min(axis=1), cos)], [SNAP], min_fraction=0.5).passed
    assert verdict(rc.widespread_rotation([], [])) == "UNRESOLVED"  # no instability


def test_a_reordering_of_eigenvalues_is_not_a_rotation():
    """Two pairs of eigenvalues swap order during the instability: the k-th eigenvector at an epoch
    is the baseline's (k+1)-th, so the index-wise cosines of all four drop to 0 while each
    eigenvector, matched to its counterpart, keeps a cosine of 1. The verdict is the matched one."""
    epochs = np.arange(10, 25, 2)
    matched = np.ones((epochs.size, 4))
    indexwise = np.ones((epochs.size, 4))
    indexwise[2:5] = 0.0  # epochs 14-18: order (2, 1, 4, 3) against the baseline's (1, 2, 3, 4)
    swapped = rc.widespread_rotation([sim(epochs, np.ones(epochs.size), indexwise, matched)], [SNAP])
    assert swapped.lost_fraction == (0.0,) and swapped.lost_fraction_indexwise == (1.0,)
    assert verdict(swapped) == "FAIL" and swapped.indexwise_passed  # index-wise would have passed
    rotated = matched.copy()
    rotated[3] = [0.6, 0.7, 0.8, 0.85]  # all four turn away at epoch 16, whatever the order
    both = rc.widespread_rotation([sim(epochs, rotated.min(axis=1), np.minimum(indexwise, rotated), rotated)], [SNAP])
    assert both.lost_fraction == both.lost_fraction_indexwise == (1.0,)
    assert verdict(both) == "PASS" and both.indexwise_passed
    one = matched.copy()
    one[3, 0] = 0.1  # a sudden change of a single eigenvector
    single = rc.widespread_rotation([sim(epochs, one.min(axis=1), one, one)], [SNAP])
    assert single.lost_fraction == (0.25,) and verdict(single) == "FAIL" and not single.indexwise_passed


# --- (4) subspace vs individual after resolution -------------------------------------------------


def test_subspace_gap_sign_after_resolution():
    epochs = np.arange(10, 29, 2)  # after the end (20): 20, 22, 24, 26, 28
    cos = np.full((epochs.size, 4), 0.1)
    cos[:, :3] = 0.6  # the top-3 individual cosines; column 4 is outside the subspace and ignored
    sub = np.full(epochs.size, 0.2)  # low during the instability: not counted
    sub[epochs >= 20] = [0.7, 0.8, 0.9, 1.0, 0.95]  # median 0.9
    res = rc.subspace_gap_after_resolution([sim(epochs, sub, cos)], [SNAP], subspace_k=3)
    assert res.gap == (pytest.approx(0.3),) and verdict(res) == "PASS"
    below = rc.subspace_gap_after_resolution([sim(epochs, sub - 0.5, cos)], [SNAP], subspace_k=3)
    assert below.gap == (pytest.approx(-0.2),) and verdict(below) == "FAIL"
    mixed = rc.subspace_gap_after_resolution([sim(epochs, sub, cos), sim(epochs, sub - 0.5, cos)], [SNAP, SNAP], 3)
    assert verdict(mixed) == "FAIL"
    assert verdict(rc.subspace_gap_after_resolution([sim(epochs, sub, cos)], [SNAP], 3, min_gap=0.35)) == "FAIL"
    # unresolved: no instability, or none of the comparison epochs after the resolution
    assert verdict(rc.subspace_gap_after_resolution([], [], 3)) == "UNRESOLVED"
    early = sim(epochs[:4], sub[:4], cos[:4])  # epochs 10-16, the resolution is at 20
    cut = rc.subspace_gap_after_resolution([sim(epochs, sub, cos), early], [SNAP, SNAP], 3)
    assert math.isnan(cut.gap[1]) and verdict(cut) == "UNRESOLVED"
    assert verdict(rc.subspace_gap_after_resolution([sim(epochs, sub - 0.5, cos), early], [SNAP, SNAP], 3)) == "FAIL"


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
    assert verdict(res) == "PASS"  # 4 of 5 = 80% rise by more than 0.02
    assert verdict(rc.reversal_after_reduction(reruns([0.3, 0.1, 0.05, 0.01, -0.2]))) == "FAIL"  # 3 of 5
    assert not rc.reversal_after_reduction(reruns([0.3, 0.1, 0.05, 0.021, -0.2]), min_fraction=0.9).passed
    assert rc.reversal_after_reduction(reruns([0.3, 0.1, 0.05, 0.021, -0.2]), rise=0.0).passed
    empty = rc.reversal_after_reduction(reruns([]))
    assert empty.immediate == () and verdict(empty) == "UNRESOLVED"
    assert verdict(rc.reversal_after_reduction(reruns([0.3, -0.2]))) == "UNRESOLVED"  # 2 reruns < min_reruns = 3
    assert verdict(rc.reversal_after_reduction(reruns([0.3, -0.2]), min_reruns=2)) == "FAIL"
    assert verdict(rc.reversal_after_reduction(reruns([0.3, 0.2, 0.1]))) == "PASS"
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
    assert verdict(res) == "PASS"


def test_period_smoothness_fails_without_dips_or_with_a_rough_even_period():
    flat = rc.period_smoothness([period_series(zigzag_t1=0.0)], [SNAP])
    assert flat.mean_dip == pytest.approx(0.0) and verdict(flat) == "FAIL"
    assert verdict(rc.period_smoothness([period_series(zigzag_t1=0.04)], [SNAP])) == "FAIL"  # mean dip 0.04 <= 0.05
    rough_t2 = period_series()
    rough_t2[2] = rough_t2[3]  # T = 2 as rough as T = 3
    assert verdict(rc.period_smoothness([rough_t2], [SNAP])) == "FAIL"
    no_t1_rough = {T: s for T, s in rough_t2.items() if T != 1}
    assert verdict(rc.period_smoothness([no_t1_rough], [SNAP])) == "FAIL"  # decided without the dips


def test_period_smoothness_is_unresolved_when_a_part_cannot_be_measured():
    no_t1 = rc.period_smoothness([{T: s for T, s in period_series().items() if T != 1}], [SNAP])
    assert no_t1.dips.size == 0 and math.isnan(no_t1.mean_dip) and verdict(no_t1) == "UNRESOLVED"
    only_even = rc.period_smoothness([{2: period_series()[2]}], [SNAP])
    assert only_even.roughness == {2: pytest.approx(0.1)} and verdict(only_even) == "UNRESOLVED"
    assert verdict(rc.period_smoothness([], [])) == "UNRESOLVED"  # no instability
    few = period_series()
    few[3] = sim(few[3].epochs[:3], few[3].subspace[:3])  # 3 points at T = 3: no roughness
    res = rc.period_smoothness([few], [SNAP])
    assert math.isnan(res.roughness[3]) and verdict(res) == "UNRESOLVED"
    short = Instability(start=10, peak=12, end=14, rise=1.5)  # dips at offsets 1 and 3 only: 2 < min_dips
    res = rc.period_smoothness([period_series()], [short])
    assert res.dips.size == 2 and verdict(res) == "UNRESOLVED"
    assert verdict(rc.period_smoothness([period_series()], [short], min_dips=2)) == "PASS"


# --- the table -----------------------------------------------------------------------------------


def chapter_like_inputs():
    """One instability whose measurements pass all six claims, k = 4 eigenvectors, subspace_k = 3."""
    epochs = np.arange(10, 33, 2)
    sub = np.r_[1.0, 0.8, 0.5, 0.3, 0.5, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98]
    cos = np.stack([sub, sub - 0.2, sub - 0.3, sub ** 2], axis=1)
    top = [sim(epochs, sub, cos)]
    bottom = [{-1: top[0], 13: sim([13, 15, 17], [0.6, 0.8, 0.9]), 15: sim([15, 17, 19], [0.4, 0.6, 0.95]),
               17: sim([17, 19, 21], [0.5, 0.7, 0.9])}]
    return sharpness_trace(), [SNAP], top, bottom, [period_series()]


def passing_checks(seed=0):
    sharpness, snaps, top, bottom, by_period = chapter_like_inputs()
    return rc.seed_checks(seed, sharpness, 0.1, snaps, top, bottom, by_period, subspace_k=3)


def empty_checks(seed):
    """A seed whose run never reached the edge and found no instability: claim (1) fails, the
    others have nothing to measure (unresolved)."""
    return rc.seed_checks(seed, np.ones(201), 0.1, [], [], [], [], subspace_k=3)


def failing_checks(seed):
    """A seed whose measurements fail all six claims."""
    sharpness, snaps, top, bottom, by_period = chapter_like_inputs()
    epochs, sub = top[0].epochs, top[0].subspace[::-1]  # rises over the rise, low after the resolution
    flat = np.ones((epochs.size, 4))
    flat[3, 0] = 0.1  # one eigenvector alone
    top = [sim(epochs, sub, flat)]
    down = {-1: top[0], **{r: sim([r, r + 2, r + 4], [0.6, 0.5, 0.4]) for r in (12, 13, 14)}}
    smooth = period_series(zigzag_t1=0.0)
    smooth[2] = smooth[3]
    return rc.seed_checks(seed, sharpness_trace(level=0.85), 0.1, snaps, top, [down], [smooth], subspace_k=3)


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
    assert "smallest fraction (matched eigenvectors) over instabilities per seed: median 100%" in measured[2]
    assert "(subspace - mean of the top-3 individual): +0.17" in measured[3]
    assert "3 reduced reruns" in measured[4] and "+0.20, +0.20, +0.20; to the end of the window +0.30, +0.55, +0.40" \
        in measured[4]
    assert "fraction of reduced reruns rising per seed: median 100%" in measured[4]
    assert t.claims[4].claim.startswith("(5) After reducing eta to 0.2 eta")
    assert "T=1: " in measured[5] and "by 0.30 on average (100% of 5 dip)" in measured[5]


def test_failing_measurements_fail_every_claim():
    checks = failing_checks(0)
    assert [verdict(r) for r in checks.results] == ["FAIL"] * 6
    t = table([failing_checks(s) for s in range(3)])
    assert [c.verdict for c in t.claims] == ["FAIL"] * 6


def test_a_claim_passes_only_with_a_strict_majority_of_seeds():
    two_of_three = table([passing_checks(0), failing_checks(1), passing_checks(2)])
    assert two_of_three.num_passed == 6
    assert two_of_three.claims[0].measured.startswith("2/3 seeds pass (seeds 0, 2)")
    one_of_three = table([passing_checks(0), failing_checks(1), failing_checks(2)])
    assert one_of_three.num_passed == 0 and [c.verdict for c in one_of_three.claims] == ["FAIL"] * 6
    half = table([passing_checks(0), failing_checks(1)])
    assert half.num_passed == 0  # 1 of 2 is not a majority


def test_seeds_without_instabilities_leave_the_claims_unresolved_not_failed():
    assert [verdict(r) for r in empty_checks(0).results] == ["FAIL"] + ["UNRESOLVED"] * 5
    t = table([passing_checks(0), empty_checks(1), empty_checks(2)])  # 1 pass, 2 could still pass
    assert [c.verdict for c in t.claims] == ["FAIL"] + ["UNRESOLVED"] * 5 and t.num_passed == 0
    assert "(2 seeds without a figure); unresolved: seeds 1, 2" in t.claims[1].measured
    t = table([failing_checks(0), failing_checks(1), empty_checks(2)])  # 0 pass + 1 open < 2: decided
    assert [c.verdict for c in t.claims] == ["FAIL"] * 6
    t = table([passing_checks(0), passing_checks(1), empty_checks(2)])
    assert [c.verdict for c in t.claims] == ["PASS"] * 6


def test_claims_table_bounds_are_the_chapter_bounds():
    """The bound texts are built from the checks' defaults; pin them to the chapter's wording."""
    t = table([passing_checks(s) for s in range(5)])
    majority = ("; PASS when at least 3 of 5 seeds pass (a strict majority), UNRESOLVED when the unresolved seeds "
                "could still make one")
    assert [c.bound for c in t.claims] == [f"per seed: {b}{majority}" for b in [
        "reached in the first half; >= 90% of epochs at >= 0.9 (2/eta); median in [1, 1.6] (unresolved: no finite S)",
        "every Spearman <= -0.8 (unresolved: a rise of < 3 points, or no instability)",
        ">= 75% in every instability, eigenvectors matched (unresolved: no instability)",
        "> 0 in every instability (unresolved: no instability)",
        ">= 80% of reruns rise by more than 0.02 over the first period (unresolved: < 3 reruns)",
        "T=2 changes direction less often than every odd T; mean dip > 0.05 with >= 75% of odd offsets dipping "
        "(unresolved: series of < 4 points or < 4 dips; T=4 is shown, not bounded: it has few points per window)",
    ]]
    assert "afterwards S >= 0.9 (2/eta) in" in t.claims[0].measured
    assert "drops below 0.9 during the instability: 100%; index-wise (k-th with k-th): 100% (the same verdict)" \
        in t.claims[2].measured


def test_rule_grid_flags_the_claims_whose_verdict_changes():
    same = [passing_checks(s) for s in range(3)]
    worse = [passing_checks(0), failing_checks(1), failing_checks(2)]
    grid = rc.rule_grid({"chapter": same, "variant": worse, "again": same}, num_eigs=4, reduction_factor=0.2)
    assert grid.claims == [f"({i})" for i in range(1, 7)] and grid.flips == [True] * 6
    assert "(1): PASS (3/3 seeds); FAIL (1/3 seeds); PASS (3/3 seeds) <- flips" in grid.summary()
    open_ = [passing_checks(0), empty_checks(1), empty_checks(2)]
    grid = rc.rule_grid({"chapter": worse, "variant": open_}, num_eigs=4, reduction_factor=0.2)
    assert grid.flips == [False] + [True] * 5  # FAIL against UNRESOLVED is a flip
    assert "(2): FAIL (1/3 seeds); UNRESOLVED (1/3 seeds, 2 unresolved) <- flips" in grid.summary()
    assert not any(rc.rule_grid({"a": same, "b": same}, num_eigs=4, reduction_factor=0.2).flips)
    assert "<table class='eoslib-verdicts'>" in grid._repr_html_()


def test_prose_values_of_synthetic_seeds():
    """The glued prose values (rotation_claims.prose_values) on constructed seeds: one with an
    instability, one without (its claims unresolved), the window's end in words."""
    from eoslib.chapters.rotations import experiment as rotations

    sharpness, snaps, top, bottom, by_period = chapter_like_inputs()
    rule = rotations.Rule("chapter", 1.1)
    full = rotations.Analysis(rule, 40, 150, snaps, snaps, top, bottom, by_period)
    empty = rotations.Analysis(rule, None, None, [], [], [], [], [])
    series = np.ones(201)
    results = [rotations.SeedResult(s, False, series, sharpness, series, 1.0, 1.0, series, 1.0, 0.0, [], 0.0, 0.0, [a])
               for s, a in enumerate([full, empty, full])]
    checks = {"chapter": [passing_checks(0), empty_checks(1), passing_checks(2)]}
    values = rc.prose_values(results, checks)
    assert values["s0_fitted"] == "epoch 150" and values["all_snapshots"] == "0\u20131"
    assert values["all_fitted"] == "2 of the 3 seeds reach it within the run, at epochs 150"
    assert values["c1"] == "2/3" and values["c2"] == "2/3, 1 unresolved"
    assert values["c3_indexwise"] == "2/3, 1 unresolved" and values["c3_same"] == "the verdict does not depend on the choice"
    assert values["all_unranked"] == "no seed" and values["all_lost_min"] == "100 %"  # seed 1 has no instability
    assert values["grid_flips"] == "no verdict flips" and values["grid_c5_0"] == "2/3, 1 unresolved"
    alone = rc.prose_values(results[1:2], {"chapter": [empty_checks(1)]})
    assert alone["s0_fitted"] == "the end of the run" and alone["all_lost_min"] == "none"
    assert alone["all_fitted"] == "none of the 1 seeds reaches it within the run" and alone["s0_gaps"] == "none"
    assert all(v and "-" not in v for v in values.values())

"""Claims of the your-own-model chapter on synthetic series: each must PASS, FAIL and be
UNRESOLVED where it should (``eoslib.chapters.your_model.claims``)."""

import numpy as np

from eoslib.chapters.your_model import claims as dc

LIMIT = 40.0
STEPS = np.arange(0, 420, 20)  # 21 eigen-steps
RISE = np.concatenate([np.linspace(16, 39, 6), 40 * (1.1 + 0.05 * np.sin(np.arange(15)))])  # reaches at step 120
ALL = np.ones(STEPS.size, bool)


def test_reach_finds_the_first_certified_measurement_at_the_limit():
    r = dc.reach(STEPS, RISE, ALL, LIMIT)
    assert r["first"] == 100 and r["before"] == 5 and r["after"] == 16  # 39 >= 0.9 * 40 at step 100
    assert 1.0 < r["median_after"] < 1.2 and r["peak"] > 1.1
    uncertified = ALL.copy()
    uncertified[5] = False  # an uncertified value does not count
    assert dc.reach(STEPS, RISE, uncertified, LIMIT)["first"] == 120
    assert dc.reach(STEPS, np.full(STEPS.size, np.nan), ALL, LIMIT)["measured"] == 0


def test_progressive_sharpening():
    assert dc.claim_progressive_sharpening("c", STEPS, RISE, ALL, LIMIT).verdict == "PASS"
    falling_then_jump = np.concatenate([np.linspace(30, 20, 6), RISE[6:]])
    assert dc.claim_progressive_sharpening("c", STEPS, falling_then_jump, ALL, LIMIT).verdict == "FAIL"
    at_the_limit_from_the_start = 40 * np.ones(STEPS.size)
    assert dc.claim_progressive_sharpening("c", STEPS, at_the_limit_from_the_start, ALL, LIMIT).verdict == "UNRESOLVED"
    three_changes = np.concatenate([[16, 30, 25, 33], RISE[4:]])  # 4 measurements before the reach
    three_changes[4] = 40
    assert dc.claim_progressive_sharpening("c", STEPS, three_changes, ALL, LIMIT).verdict == "UNRESOLVED"


def test_edge_of_stability_sits_at_or_just_above_the_limit():
    assert dc.claim_edge_of_stability("c", STEPS, RISE, ALL, LIMIT).verdict == "PASS"
    far_above = np.concatenate([RISE[:6], 40 * 1.6 * np.ones(15)])
    assert dc.claim_edge_of_stability("c", STEPS, far_above, ALL, LIMIT).verdict == "FAIL"
    never = np.linspace(10, 30, STEPS.size)
    assert dc.claim_edge_of_stability("c", STEPS, never, ALL, LIMIT).verdict == "FAIL"
    late = np.concatenate([np.linspace(10, 30, 19), [41, 42]])  # two measurements at the edge
    assert dc.claim_edge_of_stability("c", STEPS, late, ALL, LIMIT).verdict == "UNRESOLVED"
    assert dc.claim_edge_of_stability("c", STEPS, RISE, ~ALL, LIMIT).verdict == "UNRESOLVED"


def test_reaches_limit():
    assert dc.claim_reaches_limit("c", STEPS, RISE, ALL, LIMIT).verdict == "PASS"
    assert dc.claim_reaches_limit("c", STEPS, 0.7 * RISE, ALL, LIMIT).verdict == "FAIL"
    assert dc.claim_reaches_limit("c", STEPS, RISE, ~ALL, LIMIT).verdict == "UNRESOLVED"


def test_loss_decreases_non_monotonically_at_the_edge():
    t = np.arange(401)
    loss = np.exp(-t / 200) * (1 + 0.1 * (t >= 100) * np.sin(t))  # oscillates from step 100, decreasing
    assert dc.claim_loss_decreases("c", loss, STEPS, RISE, ALL, LIMIT).verdict == "PASS"
    assert dc.claim_loss_decreases("c", np.exp(-t / 200), STEPS, RISE, ALL, LIMIT).verdict == "FAIL"  # monotone
    assert dc.claim_loss_decreases("c", loss[::-1], STEPS, RISE, ALL, LIMIT).verdict == "FAIL"  # rises
    never = np.linspace(10, 30, STEPS.size)
    assert dc.claim_loss_decreases("c", loss, STEPS, never, ALL, LIMIT).verdict == "UNRESOLVED"
    at_the_end = np.concatenate([np.linspace(10, 30, 19), [41, 42]])
    assert dc.claim_loss_decreases("c", loss, STEPS, at_the_end, ALL, LIMIT).verdict == "UNRESOLVED"


def test_always_certified():
    assert dc.claim_always_certified("c", ALL).verdict == "PASS"
    assert dc.claim_always_certified("c", np.r_[ALL[:-1], False]).verdict == "FAIL"
    assert dc.claim_always_certified("c", []).verdict == "UNRESOLVED"


def test_verdicts_are_plain_bools():
    """A claim's ``passed`` goes into the notebook's JSON metadata: a numpy bool would not."""
    made = [dc.claim_progressive_sharpening("c", STEPS, RISE, ALL, LIMIT),
            dc.claim_edge_of_stability("c", STEPS, RISE, ALL, LIMIT),
            dc.claim_reaches_limit("c", STEPS, RISE, ALL, LIMIT),
            dc.claim_loss_decreases("c", np.linspace(2, 1, 401) + 0.01 * np.sin(np.arange(401)), STEPS, RISE, ALL, LIMIT),
            dc.claim_always_certified("c", ALL)]
    assert all(type(c.passed) is bool for c in made)

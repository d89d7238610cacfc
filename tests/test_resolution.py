"""§3.2's smooth-versus-sharp resolution (eoslib.chapters.rotations.resolution): the fall is measured from the last
local maximum of S to the first stable step, on the DLN and on cycles alike, and each claim
decides PASS, FAIL and UNRESOLVED on synthetic falls."""

import numpy as np
import pytest

from eoslib import dln
from eoslib.chapters.rotations import resolution as R

ETA = 0.1  # limit 2 / eta = 20


def test_the_fall_starts_at_the_last_local_maximum_before_the_return():
    s = np.array([18.0, 21, 25, 23, 27, 24, 19, 18])  # unstable from 1, back at 6; last local max 27 at 4
    r = R.resolution(s, ETA, 1, 6)
    assert (r.peak, r.back, r.steps) == (4, 6, 2) and r.excess == pytest.approx(ETA * 27 / 2)
    smooth = np.array([30.0, 29, 27, 25, 23, 21, 19])  # falling from the first step: the peak is the stretch's first
    assert R.resolution(smooth, ETA, 0, 6).steps == 6


def test_the_dln_resolves_smoothly_just_past_the_limit_and_sharply_further_past_it():
    z, theta0 = dln.monomial(2), [-0.1, 10.0]  # S(theta_0) = 200.08: limit rate 0.009996
    assert R.dln_resolution(theta0, 0.0095, z) is None  # stable from the start
    near, far = R.dln_resolution(theta0, 0.0105, z), R.dln_resolution(theta0, 0.015, z)
    assert near.steps > 10 and near.excess == pytest.approx(0.0105 * 200.08 / 2, rel=1e-3)
    assert far.steps <= R.SHARP_STEPS and far.excess > 1.5
    assert R.dln_resolution(theta0, 0.03, z) is None  # diverges: no resolution


def _res(steps: int, excess: float) -> R.Resolution:
    return R.Resolution(10, 10 + steps, steps, excess)


def test_the_prediction_claim_passes_when_every_fall_is_slow_and_fails_on_a_sharp_one():
    assert R.claim_predicted_smooth([(0.011, _res(15, 1.1)), (0.012, _res(9, 1.2))]).verdict == "PASS"
    assert R.claim_predicted_smooth([(0.011, _res(15, 1.1)), (0.015, _res(2, 1.6))]).verdict == "FAIL"
    assert R.claim_predicted_smooth([(0.009, None)]).verdict == "UNRESOLVED"


def test_the_observation_claim_reads_the_median_fall_and_needs_enough_cycles():
    assert R.claim_empirical_sharp([_res(s, 1.5) for s in (1, 2, 2, 3, 5)]).verdict == "PASS"
    assert R.claim_empirical_sharp([_res(s, 1.5) for s in (4, 6, 2, 8, 5)]).verdict == "FAIL"
    assert R.claim_empirical_sharp([_res(1, 1.5)] * 4).verdict == "UNRESOLVED"


def test_the_limitation_claim_compares_at_the_mlps_median_excess():
    cycles = [_res(2, e) for e in (1.4, 1.5, 1.6, 1.5, 1.5)]
    sharp_dln = [(0.011, _res(15, 1.1)), (0.015, _res(2, 1.5))]
    smooth_dln = [(0.011, _res(15, 1.1)), (0.015, _res(9, 1.5))]
    assert R.claim_dln_limitation(cycles, sharp_dln).verdict == "FAIL"  # the DLN is sharp there too
    assert R.claim_dln_limitation(cycles, smooth_dln).verdict == "PASS"
    assert R.claim_dln_limitation(cycles, [(0.011, _res(15, 1.1))]).verdict == "UNRESOLVED"  # 1.5 not scanned
    assert R.claim_dln_limitation(cycles[:3], sharp_dln).verdict == "UNRESOLVED"


def test_a_run_with_two_cycles_gives_two_resolutions():
    eta = ETA
    s = np.array([10, 15, 19, 22, 30, 25, 18, 17, 19, 21, 26, 24, 28, 12, 11, 12], dtype=float)
    loss = np.array([2.0, 1.9, 1.8, 1.7, 2.4, 2.2, 1.5, 1.4, 1.3, 1.2, 1.8, 1.9, 2.1, 1.0, 0.9, 0.8])
    got = R.cycle_resolutions(loss, s, eta)
    assert [(r.peak, r.back) for r in got] == [(4, 6), (12, 13)]

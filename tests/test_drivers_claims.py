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

"""Chapter 9 (eoslib.squared_loss): its configs differ from chapters 3 and 4's in the loss (and
the eigensolver check of a new store) only, and its claims decide PASS, FAIL and UNRESOLVED."""

import dataclasses

from eoslib import generalization
from eoslib import squared_loss as sq
from eoslib.report import Claim, ClaimsTable

P = sq.PRESETS["ci"]


def test_the_configs_are_chapter_3_and_4s_with_the_squared_loss():
    mse, xent = sq.grid_base(P, "mse"), sq.grid_base(P, "xent")
    assert (mse.loss, xent.loss) == ("mse", "xent") and xent == generalization.fmnist_base()
    assert dataclasses.replace(mse, loss="xent", eig_check=xent.eig_check) == xent
    assert mse.eig_check == "adaptive"
    s_mse, s_xent = sq.switch_base(P, "mse"), sq.switch_base(P, "xent")
    assert dataclasses.replace(s_mse, loss="xent", eig_check=s_xent.eig_check) == s_xent
    assert s_mse.stop_after_peak == P["peak_window"] and s_mse.eig_k == 1


def _record(completed: bool, mse: float, acc: float = 1.0, diverged: bool = False) -> dict:
    return {"final": {"completed": completed, "train_loss": mse, "train_acc": acc, "sharpness": 50.0},
            "diverged": diverged}


def test_the_fitted_premise_passes_fails_and_is_unresolved_when_every_run_failed():
    done = [_record(True, 0.01), _record(True, 0.03), _record(False, 9.0, 0.1, diverged=True)]
    assert sq.claim_fitted(done, 0.05).verdict == "PASS"
    assert sq.claim_fitted([_record(True, 0.01), _record(True, 0.08)], 0.05).verdict == "FAIL"  # loss too high
    capped = sq.claim_fitted([_record(True, 0.01), _record(False, 0.01, 0.996)], 0.05)
    assert capped.verdict == "FAIL" and "1/2 completed" in capped.measured and "99.6–99.6 %" in capped.measured
    assert sq.claim_fitted([_record(False, 9.0, 0.1, diverged=True)], 0.05).verdict == "UNRESOLVED"


def test_side_by_side_sets_each_claims_verdicts_in_one_row():
    mse = ClaimsTable([Claim("squared loss: Flat", "m1", "b", True), Claim("squared loss: Rise", "m2", "b", False)])
    xent = ClaimsTable([Claim("cross-entropy: Flat", "x1", "b", False, unresolved=True),
                        Claim("cross-entropy: Rise", "x2", "b", True)])
    lines = sq.side_by_side(mse, xent).splitlines()
    assert lines[2] == "| 1 | Flat | UNRESOLVED: x1 | PASS: m1 |"
    assert lines[3] == "| 2 | Rise | PASS: x2 | FAIL: m2 |"
    assert "not compared" in sq.side_by_side(mse, None).splitlines()[2]

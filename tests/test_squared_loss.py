"""Chapter 9 (eoslib.chapters.squared_loss.experiment): its configs differ from chapters 3 and 4's in the loss (and
the eigensolver check of a new store) only, and its claims decide PASS, FAIL and UNRESOLVED."""

import dataclasses

import pytest

from eoslib.chapters.flattening import experiment as flattening
from eoslib.chapters.generalization import experiment as generalization
from eoslib.chapters.squared_loss import experiment as sq
from eoslib.monitors import StopAfterPeak
from eoslib.report import Claim, ClaimsTable

P = sq.PRESETS["ci"]


def test_the_configs_are_chapter_3_and_4s_with_the_squared_loss():
    mse, xent = sq.grid_base(P, "mse"), sq.grid_base(P, "xent")
    assert (mse.loss, xent.loss) == ("mse", "xent") and xent == generalization.fmnist_base()
    assert dataclasses.replace(mse, loss="xent", eig_check=xent.eig_check) == xent
    assert mse.eig_check == "adaptive"
    s_mse, s_xent = sq.switch_base(P, "mse"), sq.switch_base(P, "xent")
    assert dataclasses.replace(s_mse, loss="xent", eig_check=s_xent.eig_check) == s_xent
    assert s_mse.monitors == (StopAfterPeak(P["peak_window"]),) and s_mse.eig_k == 1
    assert s_xent.eig_check == sq.XENT_SWITCH_CHECK == flattening.PRESETS["ci"]["eig_check"]  # chapter 3's runs
    assert sq.figure4_settings(P, "xent")["eta_ref"] == P["xent_eta_ref"] != sq.figure4_settings(P, "mse")["eta_ref"]


def _record(completed: bool, mse: float, acc: float = 1.0, diverged: bool = False, epochs: int = 900,
            cap: int = 1000, eval_acc: float = 0.8, key: str = "k") -> dict:
    return {"key": key, "config": {"max_epochs": cap, "n_train": 1000},
            "final": {"completed": completed, "train_loss": mse, "train_acc": acc, "sharpness": 50.0,
                      "epochs": epochs, "eval_acc": eval_acc}, "diverged": diverged}


def test_the_fitted_premise_passes_fails_and_is_unresolved_when_every_run_failed():
    done = [_record(True, 0.01), _record(True, 0.03), _record(False, 9.0, 0.1, diverged=True)]
    assert sq.claim_fitted(done, 0.05, 1000).verdict == "PASS"
    assert sq.claim_fitted([_record(True, 0.01), _record(True, 0.08)], 0.05, 1000).verdict == "FAIL"  # loss too high
    capped = sq.claim_fitted([_record(True, 0.01), _record(False, 0.01, 0.996, epochs=1000)], 0.05, 1000)
    assert capped.verdict == "FAIL" and "1/2 completed" in capped.measured and "99.6–99.6 %" in capped.measured
    late = sq.claim_fitted([_record(True, 0.01), _record(True, 0.02, epochs=3500, cap=4000)], 0.05, 1000)
    assert late.verdict == "PASS" and "1 of them after the 1,000-epoch cap" in late.measured and "3,500–3,500" in late.measured
    assert sq.claim_fitted([_record(False, 9.0, 0.1, diverged=True)], 0.05, 1000).verdict == "UNRESOLVED"


def test_only_runs_stopped_by_the_cap_are_continued_each_as_the_same_run_with_a_larger_cap():
    records = []
    for seed, (completed, diverged, epochs) in enumerate([(True, False, 400), (False, True, 30), (False, False, 500)]):
        config = dataclasses.replace(sq.grid_base({**P, "max_epochs": 500}), seed=seed)
        records.append({**_record(completed, 0.01, 1.0 if completed else 0.99, diverged, epochs, 500),
                        "key": config.key(), "config": config.to_dict()})
    assert sq.capped(records) == [records[2]]
    again = sq.continued_config(records[2], 2000)
    assert again.max_epochs == 2000 and dataclasses.replace(again, max_epochs=500).key() == records[2]["key"]
    with pytest.raises(ValueError, match="must exceed"):
        sq.continued_config(records[2], 500)
    assert sq.continue_capped(records, 0, store=None) == (records, [])  # 0: nothing continued, nothing run


def test_continued_values_give_the_errors_at_the_cap_and_the_accuracy_change():
    pairs = [(_record(False, 0.01, 0.997, eval_acc=0.80), _record(True, 0.005, eval_acc=0.81)),
             (_record(False, 0.01, 0.999, eval_acc=0.80), _record(False, 0.004, 0.9995, eval_acc=0.79))]
    v = sq.continued_values(pairs)
    assert (v["n_capped"], v["n_finished"], v["capped_errors"]) == ("2", "1", "1–3")
    assert v["acc_change"] == "+0.00 points on average (from -1.0 to +1.0)"
    assert sq.continued_values([])["acc_change"] == "none"


def test_side_by_side_sets_each_claims_verdicts_in_one_row():
    mse = ClaimsTable([Claim("squared loss: Flat", "m1", "b", True), Claim("squared loss: Rise", "m2", "b", False)])
    xent = ClaimsTable([Claim("cross-entropy: Flat", "x1", "b", False, unresolved=True),
                        Claim("cross-entropy: Rise", "x2", "b", True)])
    lines = sq.side_by_side(mse, xent).splitlines()
    assert lines[2] == "| 1 | Flat | UNRESOLVED: x1 | PASS: m1 |"
    assert lines[3] == "| 2 | Rise | PASS: x2 | FAIL: m2 |"
    assert "not compared" in sq.side_by_side(mse, None).splitlines()[2]

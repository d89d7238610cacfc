"""The re-verification window and gaps of ``eoslib.verification`` on synthetic records (the
tolerances themselves are calibrated on real re-runs: ``tools/calibrate_reverification.py``,
``store/README.md``)."""

import numpy as np

from eoslib import verification


def _record(sharpness, loss, lr=0.01, acc=None):
    """A record with S recorded every 50 epochs (``sharpness``) and a per-epoch ``loss``."""
    epochs = list(range(len(loss)))
    acc = list(np.linspace(0.1, 0.9, len(loss))) if acc is None else acc
    return {"config": {"schedule": {"lr": lr}, "n_train": 1000, "n_eval": 200},
            "history": {"epoch": epochs, "lr": [lr] * len(loss), "train_loss": list(loss), "eval_loss": list(loss),
                        "train_acc": acc, "eval_acc": acc, "param_norm": [1.0] * len(loss)},
            "eigen": {"epoch": [50 * i for i in range(len(sharpness))], "values": [[s] for s in sharpness]}}


def test_the_window_ends_near_the_limit_whether_or_not_s_ever_passed_it():
    loss = np.linspace(1.0, 0.1, 400)
    far = _record([10, 50, 100, 150], loss)  # 2/eta = 200: never near
    assert verification.deterministic_until(far, far) is None
    hovering = _record([10, 100, 150, 170, 199], loss)  # 0.8 * 200 = 160 first at epoch 150; never 200
    assert verification.first_unstable_epoch(hovering) is None
    assert verification.deterministic_until(hovering, far) == 150 - 50
    assert verification.deterministic_until(far, hovering, margin=10) == 140  # either run's approach counts
    risen = loss.copy()
    risen[120] = risen[119] * 1.01  # the re-run's loss first rises at epoch 120
    assert verification.deterministic_until(far, _record([10], risen)) == 119 - 5
    at_init = _record([190], loss)  # near the limit from epoch 0: only the initialization is compared
    assert verification.deterministic_until(at_init, at_init) == 0


def test_history_gaps_are_examples_for_accuracies_and_relative_per_1000_epochs_otherwise():
    loss = np.linspace(1.0, 0.1, 3001)
    a = _record([10], loss)
    moved = loss.copy()
    moved[2000] *= 1.01  # 1 % at epoch 2000: 0.5 % per 1,000 epochs
    acc = list(a["history"]["train_acc"])
    acc[700] += 6 / 1000  # 6 training examples (1.2 validation examples of 200: eval_acc shares the list)
    b = _record([10], moved, acc=acc)
    gaps = verification.history_gaps(a, b)
    assert gaps["train_loss"][0] == 2000 and np.isclose(gaps["train_loss"][1], 0.005, rtol=1e-3)
    assert gaps["train_acc"][0] == 700 and np.isclose(gaps["train_acc"][1], 6.0)
    assert np.isclose(gaps["eval_acc"][1], 1.2) and gaps["param_norm"][1] == 0.0
    assert verification.history_gaps(a, b, last=1000)["train_loss"][1] == 0.0  # up to the window's end only

"""Chapter 2's experiment (eoslib.chapters.rotations.experiment): presets, rules, snapshot selection and reduction epochs.

The end-to-end path (train, reruns, similarities, per seed and rule) runs in the chapter's
papermill smoke test (tests/test_book.py, tiny profile, 2 seeds)."""

import numpy as np
import pytest
from test_instability import synthetic_loss

from eoslib.chapters.rotations import experiment as rotations
from eoslib.instability import Instability
from eoslib.params import ParameterError, resolve


def params(**overrides):
    return resolve(rotations.PRESETS, "ci", rotations.VALIDATORS, **overrides)


def test_profiles_differ_in_run_length_eigenpairs_and_seeds():
    ci, paper = rotations.PRESETS["ci"], rotations.PRESETS["paper"]
    assert {k for k in ci if ci[k] != paper[k]} == {"epochs", "num_eigs", "eig_tol", "num_seeds"}
    assert (ci["num_seeds"], paper["num_seeds"]) == (5, 10)
    assert rotations.seeds(params(seed=3, num_seeds=4)) == [3, 4, 5, 6]
    with pytest.raises(ParameterError, match="num_seeds"):
        params(num_seeds=0)


def test_every_profile_has_the_spike_window_parameter():
    assert all(p["fit_accuracy"] == rotations.FIT_ACCURACY for p in rotations.PRESETS.values())
    assert all("weight_init" in p for p in rotations.PRESETS.values())
    assert params(fit_accuracy=1.0)["fit_accuracy"] == 1.0
    for bad in (0.0, 1.5):
        with pytest.raises(ParameterError, match="fit_accuracy"):
            params(fit_accuracy=bad)


def test_rules_are_the_chapter_rule_then_its_variants():
    rules = rotations.rules(params(min_rise=1.15, variant_min_rise=1.4))
    assert [(r.min_rise, r.end) for r in rules] == [(1.15, "start"), (1.4, "start"), (1.15, "half"),
                                                    (1.15, "valley")]
    assert len({r.name for r in rules}) == 4


UNFITTED = np.full(200, 0.8)  # training accuracy never reaches fit_accuracy


def test_snapshots_start_after_the_edge_and_resolve_before_the_tail():
    loss = synthetic_loss()  # spikes peaking near epochs 60 (x2) and 140 (x1.3)
    sharpness = np.where(np.arange(loss.size) >= 30, 25.0, 5.0)  # S >= 2/eta = 20 from epoch 30
    P = params(num_snapshots=1, after_epochs=12)
    chapter, strict = rotations.rules(P)[:2]
    reached, fitted, spikes, snaps = rotations.find_snapshots(loss, sharpness, UNFITTED, P, chapter)
    assert reached == 30 and fitted is None
    assert len(spikes) == 2 and [s.peak for s in snaps] == [spikes[0].peak]  # the larger one
    assert rotations.find_snapshots(loss, sharpness, UNFITTED, P, strict)[2] == spikes[:1]  # the smaller is not x1.25
    late = np.where(np.arange(loss.size) >= 100, 25.0, 5.0)
    assert [s.peak for s in rotations.find_snapshots(loss, late, UNFITTED, P, chapter)[2]] == [spikes[1].peak]
    assert rotations.find_snapshots(loss, np.full(loss.size, 5.0), UNFITTED, P, chapter) == (None, None, [], [])
    short = params(after_epochs=loss.size - spikes[0].end)
    assert rotations.find_snapshots(loss, sharpness, UNFITTED, short, chapter)[2] == []  # after_epochs must be left


def test_spikes_after_the_data_are_fitted_are_not_analysed():
    """The edge-of-stability phase ends when the training accuracy first reaches fit_accuracy:
    a larger spike that starts later (a catapult after fitting) is not chosen."""
    t = np.arange(200)  # as synthetic_loss, but the x1.3 spike near epoch 60 and the x2 one near epoch 140
    loss = (np.exp(-t / 150.0) * (1 + 0.3 * np.exp(-0.5 * ((t - 60) / 3.0) ** 2) + np.exp(-0.5 * ((t - 140) / 3.0) ** 2))
            * (1 + 0.01 * (-1.0) ** t))
    sharpness = np.where(np.arange(loss.size) >= 30, 25.0, 5.0)
    accuracy = np.where(np.arange(loss.size) >= 100, 1.0, 0.8)  # fitted at epoch 100
    P = params(num_snapshots=1, after_epochs=12)
    chapter = rotations.rules(P)[0]
    everything = rotations.find_snapshots(loss, sharpness, UNFITTED, P, chapter)
    assert len(everything[2]) == 2 and everything[3][0].rise > 1.7  # without the window: the later, larger spike
    reached, fitted, spikes, snaps = rotations.find_snapshots(loss, sharpness, accuracy, P, chapter)
    assert (reached, fitted) == (30, 100) and spikes == everything[2][:1] and snaps == spikes
    assert rotations.eos_phase(sharpness, accuracy, params(fit_accuracy=0.7)) == (30, 0)  # fitted first: empty phase
    assert rotations.find_snapshots(loss, sharpness, accuracy, params(fit_accuracy=0.7), chapter)[2] == []


def test_reduction_epochs_are_inside_the_instability_and_distinct():
    snap = Instability(start=10, peak=14, end=16, rise=1.5)
    assert rotations.reduction_epochs(snap, [0.25, 0.5, 0.75]) == [12, 13, 14]
    assert rotations.reduction_epochs(Instability(10, 11, 12, 1.2), [0.1, 0.2, 0.5]) == [11]


def test_a_seed_result_survives_its_store_record_exactly(tmp_path):
    """encode/decode (the value of a rotations-seed record) restore every field and dtype."""
    import json

    from eoslib.instability import Instability, SimilarityToBaseline
    from eoslib.results import pack

    stb = SimilarityToBaseline(np.arange(3), np.ones((3, 2), np.float32), np.full((3, 2), np.nan),
                               np.array([1.0, 0.5, 0.2]))
    spike = Instability(1, 2, 3, 1.5)
    analysis = rotations.Analysis(rotations.Rule("r", 1.1), 5, None, [spike], [spike], [stb], [{-1: stb, 4: stb}],
                                  [{1: stb}])
    result = rotations.SeedResult(0, False, np.array([1.0, 2.0], np.float32), np.array([3.0, 4.0], np.float32),
                                  np.array([0.25, 0.5], np.float32), 0.5, 0.4, np.array([3, 4]), 1.0, 1e-3, [2.0],
                                  1.0, 2.0, [analysis])
    back = rotations.decode(json.loads(json.dumps(rotations.encode(result))))
    assert json.dumps(pack(back), sort_keys=True) == json.dumps(pack(result), sort_keys=True)
    assert back.loss.dtype == np.float32 and list(back.analyses[0].bottom[0]) == [-1, 4]
    assert isinstance(back.analyses[0].spikes[0], Instability) and back.analyses[0].rule == analysis.rule
    assert back.analyses[0].fitted is None and back.accuracy.dtype == np.float32
    P = rotations.PRESETS["ci"]
    assert rotations.seed_spec(P, 3) == rotations.seed_spec({**P, "seed": 7, "num_seeds": 2}, 3)
    assert rotations.seed_spec(P, 3) != rotations.seed_spec({**P, "eta": 0.2}, 3) != rotations.seed_spec(P, 4)


def test_prose_values_quote_the_stored_ci_seeds_and_their_claims():
    """rotation_claims.prose_values (the numbers chapter 2's text glues) agree with the claims
    computed from the committed ci seeds (read from store/rotations/, no training)."""
    from eoslib.chapters.rotations import claims as rotation_claims
    from eoslib.results import open_store, spec_key

    P = params()
    store = open_store(rotations.STORE)
    keys = [spec_key({"kind": rotations.SEED_KIND, **rotations.seed_spec(P, s)}) for s in rotations.seeds(P)]
    if not all(k in store for k in keys):
        pytest.skip("the ci seeds are not in the committed store")
    results = [rotations.decode(store.get(k)["value"]) for k in keys]
    checks = {rule.name: [rotation_claims.seed_checks(r.seed, r.sharpness, P["eta"], a.snapshots, a.top, a.bottom,
                                                      a.by_period, subspace_k=P["subspace_k"])
                          for r in results for a in r.analyses if a.rule == rule] for rule in rotations.rules(P)}
    values = rotation_claims.prose_values(results, checks)
    first = checks[rotations.rules(P)[0].name]
    votes = rotation_claims.seed_votes(first)
    assert values["s0_reached"] == str(first[0].eos.reached) == str(results[0].analyses[0].reached)
    assert [values[f"c{i}"] for i in range(1, 7)] == [v.count().replace(" seeds", "") for v in votes]
    assert values["s0_fitted"] == ("the end of the run" if results[0].analyses[0].fitted is None
                                   else f"epoch {results[0].analyses[0].fitted}")
    assert values["grid_flips"] == ("no verdict flips" if not any(
        rotation_claims.rule_grid(checks, num_eigs=P["num_eigs"], reduction_factor=P["reduction_factor"]).flips)
        else values["grid_flips"])
    lo, hi = (min(c.eos.reached for c in first), max(c.eos.reached for c in first))
    assert values["all_reached"] == (f"{lo}\u2013{hi}" if lo != hi else str(lo))
    assert all(v and "-" not in v for v in values.values())  # minus signs are typeset

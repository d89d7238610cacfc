"""Chapter parameters (eoslib.params) and claims/run records (eoslib.report)."""

import json

import pytest

from eoslib.params import ParameterError, from_cell, resolve
from eoslib.report import Claim, ClaimsTable, record_run

PRESETS = {"ci": {"eta": 0.1, "seeds": [0], "name": "a", "flag": False},
           "paper": {"eta": 0.2, "seeds": [0, 1, 2], "name": "a", "flag": False}}


def test_profile_values_and_overrides():
    assert resolve(PRESETS, "paper") == PRESETS["paper"]
    out = resolve(PRESETS, "ci", eta=3, seeds=(4, 5), name=None)
    assert out == {"eta": 3, "seeds": [4, 5], "name": "a", "flag": False}
    assert PRESETS["ci"]["eta"] == 0.1  # presets are not mutated


@pytest.mark.parametrize("kwargs, match", [
    ({"profile": "gpu"}, "unknown profile 'gpu'"),
    ({"lr": 0.1}, "unknown parameter 'lr'"),
    ({"eta": "big"}, "parameter 'eta' must be like"),
    ({"seeds": 3}, "parameter 'seeds' must be like"),
    ({"flag": 1}, "parameter 'flag' must be like"),
])
def test_invalid_parameters_fail_with_the_name(kwargs, match):
    profile = kwargs.pop("profile", "ci")
    with pytest.raises(ParameterError, match=match):
        resolve(PRESETS, profile, **kwargs)


def test_validators_run_on_final_values():
    with pytest.raises(ParameterError, match="'eta' = -1: must be positive"):
        resolve(PRESETS, "ci", {"eta": lambda v: None if v > 0 else "must be positive"}, eta=-1)


def test_from_cell_reads_the_parameters_cell_from_the_namespace():
    cell = {"profile": "paper", "eta": None, "seeds": [7], "name": None, "flag": True, "store": "local"}
    assert from_cell(PRESETS, None, cell) == {"eta": 0.2, "seeds": [7], "name": "a", "flag": True}
    with pytest.raises(ParameterError, match="'eta' = -1: must be positive"):
        from_cell(PRESETS, {"eta": lambda v: None if v > 0 else "must be positive"}, {**cell, "eta": -1})
    hidden = {k: v for k, v in cell.items() if k != "flag"}  # not exposed by the cell: the profile's
    assert from_cell(PRESETS, None, hidden)["flag"] is False
    with pytest.raises(ParameterError, match="unknown profile 'gpu'"):
        from_cell(PRESETS, None, {**cell, "profile": "gpu"})
    with pytest.raises(ParameterError, match="defines no 'profile'"):
        from_cell(PRESETS, None, {"eta": 1.0})


def test_claims_table_and_run_record(tmp_path, monkeypatch):
    table = ClaimsTable([Claim("x grows", "1.5", "> 1", True), Claim("y <falls>", "2", "< 1", False)])
    assert table.verdict_values() == {"verdict_1": "**PASS**", "verdict_2": "**FAIL**"}
    assert table.num_passed == 1
    assert table.summary() == "1/2 claims PASS\n  (1) PASS\n  (2) FAIL"
    assert "&lt;falls&gt;" in table._repr_html_() and "[FAIL] y <falls>" in repr(table)
    record_run("ch", "ci", {"eta": 0.1}, table)  # no record requested: nothing written, no error
    path = tmp_path / "run.json"
    monkeypatch.setenv("EOSLIB_RUN_RECORD", str(path))
    record_run("ch", "ci", {"eta": 0.1}, table)
    rec = json.loads(path.read_text())
    assert rec["claims_passed"] == 1 and rec["claims_total"] == 2 and rec["parameters"] == {"eta": 0.1}
    assert {"device", "eoslib_version", "git_commit"} <= set(rec["provenance"])


def test_wilson_interval_matches_scipy_and_is_never_degenerate():
    from scipy.stats import binomtest

    from eoslib.report import wilson_interval

    for k, n in [(0, 5), (3, 3), (7, 11), (11, 12), (27, 35), (230, 269)]:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-3)
        lo, hi = wilson_interval(k, n)
        assert 0 <= lo < k / n + 1e-12 and k / n - 1e-12 < hi <= 1 and hi - lo > 0.01
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(4, 3)


def test_proportion_claims_pass_fail_or_stay_unresolved():
    from eoslib.report import proportion_claim

    def verdict(*counts):
        return proportion_claim("c", "m", counts, 0.75, ">= 75%").verdict

    assert verdict((12, 12)) == "PASS"  # interval [76%, 100%]
    assert verdict((11, 11)) == verdict((11, 12)) == verdict((7, 11)) == "UNRESOLVED"  # 11 events cannot tell
    assert verdict((5, 11)) == "FAIL"  # interval [21%, 72%]
    assert verdict((33, 35), (5, 11)) == "FAIL" and verdict((33, 35), (27, 35)) == "UNRESOLVED"
    claim = proportion_claim("c", "m", [(12, 12)], 0.75, ">= 75%")
    assert claim.passed and "95 % intervals [76%, 100%]" in claim.measured
    unresolved = proportion_claim("c", "m", [(7, 11)], 0.75, ">= 75%")
    assert not unresolved.passed and unresolved.unresolved
    table = ClaimsTable([claim, unresolved, Claim.unmeasured("d", "not run", "b")])
    assert table.summary() == "1/3 claims PASS\n  (1) PASS\n  (2) UNRESOLVED\n  (3) NOT RUN"
    assert "UNRESOLVED</td>" in table._repr_html_()


def test_seed_vote_counts_a_strict_majority_and_summarizes_the_figures():
    from eoslib.report import majority, seed_vote

    assert [majority(n) for n in (1, 2, 3, 4, 5, 10)] == [1, 2, 2, 3, 3, 6]
    vote = seed_vote([0, 1, 2, 3, 4], [0.5, float("nan"), 0.9, 0.1, 0.7], [True, False, True, False, True])
    assert vote.passed and vote.num_passed == 3 and vote.required == 3 and vote.count() == "3/5 seeds"
    assert vote.describe("gap", ".1f") == ("3/5 seeds pass (seeds 0, 2, 4); gap per seed: median 0.6, "
                                           "range [0.1, 0.9] (1 seed without a figure)")
    assert not seed_vote([0, 1], [1.0, 2.0], [True, False]).passed
    with pytest.raises(ValueError):
        seed_vote([0, 1], [1.0], [True, True])


def test_seed_vote_is_unresolved_only_when_the_unresolved_seeds_could_decide():
    from eoslib.report import VerdictGrid, seed_vote

    nan = float("nan")
    figs = [1.0, nan, 2.0, nan, 3.0]
    passes = [True, False, True, False, False]
    undecided = seed_vote(range(5), figs, passes, [False, True, False, False, False])  # 2 pass + 1 open >= 3
    assert not undecided.passed and undecided.verdict == "UNRESOLVED" and undecided.count() == "2/5 seeds, 1 unresolved"
    assert undecided.describe("x", ".0f").endswith("(2 seeds without a figure); unresolved: seed 1")
    assert seed_vote(range(5), figs, passes).verdict == "FAIL"  # nobody unresolved: 2 of 5
    lost = seed_vote(range(5), figs, [True, False, False, False, False], [False, True, False, False, False])
    assert lost.verdict == "FAIL"  # 1 pass + 1 open < 3: decided
    won = seed_vote(range(5), figs, [True, False, True, False, True], [False, True, False, True, False])
    assert won.verdict == "PASS" and won.passed
    assert seed_vote([0], [nan], [False], [True]).verdict == "UNRESOLVED"
    with pytest.raises(ValueError, match="both pass"):
        seed_vote([0], [1.0], [True], [True])
    grid = VerdictGrid(["(1)"], {"a": [undecided], "b": [seed_vote(range(5), figs, passes)]})
    assert grid.flips == [True] and grid.summary() == "  (1): UNRESOLVED (2/5 seeds, 1 unresolved); FAIL (2/5 seeds) <- flips"


def test_record_page_values_quote_a_pages_verdicts(tmp_path):
    import json

    from eoslib.report import record_page_values

    assert record_page_values(tmp_path / "missing.ipynb") == {}
    claims = [Claim("a", "1", "b", True)._asdict(), Claim("c", "2", "d", False, unresolved=True)._asdict()]
    meta = {"claims": claims, "claims_passed": 1, "claims_total": 2, "provenance": {"git_commit": "0123456789abcdef"}}
    page = tmp_path / "page.ipynb"
    page.write_text(json.dumps({"metadata": {"eoslib": meta}}))
    got = record_page_values(page)
    assert got["paper_passed"] == "1/2" and got["paper_commit"] == "`0123456789`"
    assert got["paper_verdict_2"] == "**UNRESOLVED**" and got["paper_verdicts"] == "(1) **PASS**; (2) **UNRESOLVED**"


def test_certificate_values_quote_the_committed_check(tmp_path):
    import json

    from eoslib.report import certificate_values

    assert certificate_values(tmp_path / "missing.json") == {}
    row = {"beyond_tol_certified": 15, "wrong": 15, "hvps_per_epoch": 57.7}
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps({"epochs": 300, "checks": {"legacy": {"20": row},
                                                           "default": {"20": {**row, "wrong": 0}}}}))
    got = certificate_values(path)
    assert got["cert_epochs"] == "301" and got["cert_legacy_20_beyond"] == "15"
    assert got["cert_default_20_wrong"] == "0" and got["cert_legacy_20_hvps"] == "58"


def test_compare_tables_lines_up_the_verdicts_of_two_fills_and_flags_what_moved():
    from eoslib.report import compare_tables

    a = ClaimsTable([Claim("flat", "m", "b", True), Claim("rise", "m", "b", False, unresolved=True),
                     Claim("seven", "m", "b", False, not_run=True)])
    b = ClaimsTable([Claim("flat", "m", "b", True), Claim("rise", "m", "b", False),
                     Claim("seven", "m", "b", False, not_run=True)])
    table = compare_tables({"refill": a, "first fill": b})
    lines = table.splitlines()
    assert lines[0] == "| # | claim | refill | first fill | |" and len(lines) == 5
    assert lines[2] == "| 1 | flat | PASS | PASS | same |"
    assert lines[3] == "| 2 | rise | UNRESOLVED | FAIL | **moved** |"
    assert lines[4] == "| 3 | seven | NOT RUN | NOT RUN | same |"
    with pytest.raises(ValueError, match="like with like"):
        compare_tables({"a": a, "short": ClaimsTable(b.claims[:2])})
    from eoslib.report import moved_verdicts
    assert moved_verdicts(a, b) == "claim 2 (FAIL → UNRESOLVED)" and moved_verdicts(a, a) == "no claim"
    c = ClaimsTable([Claim("flat", "m", "b", False), *b.claims[1:]])
    assert moved_verdicts(a, c) == "claim 1 (FAIL → PASS) and claim 2 (FAIL → UNRESOLVED)"

"""How the models' initialization moves the edge of stability (the book's Appendix F).

The paper does not state its initialization; the authors' code uses Flax's defaults
(``lecun_normal`` weights, variance 1/fan_in, zero biases), and PyTorch's default draws weights
from U(±1/√fan_in), variance 1/(3 fan_in) (:data:`eoslib.models.INITS`). Two measurements:

* :func:`grid_facts`: from Figure 5a's grid of runs (Section 4.1, :mod:`eoslib.chapters.generalization.experiment`)
  with one initialization, the stability threshold three ways (the smallest rate at which S
  reached 2/η0 in most seeds, :func:`eoslib.grid.threshold_rate`; 2/S_max of the
  stable runs, S_max the largest recorded top eigenvalue of a run that never reached 2/η0), the
  largest rate at which every seed completed, and the first rate at which every seed failed.
* :func:`initial_sharpness`: S(θ_0), the top Hessian eigenvalue of the training loss at
  initialization, per model, initialization and seed (a computation record of kind
  :data:`KIND`): where each initialization starts. It is not a proxy for the threshold: the
  threshold is set by the sharpness a run reaches (progressive sharpening), and the book's
  Appendix F compares the two orderings on the MLP, where both are measured.

The paper's facts they are checked against (Section 4.1): its grid "starts at η0 = 0.01 (leading
to stable trajectories)", and sampling continues "until models diverge" (its Figure 5a ends
at η0 = 0.01 · 1.1^46 ≈ 0.80: its 235 models are 47 rates x 5 seeds): :func:`claim_start_stable`
and :func:`claim_grid_end`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from eoslib import data as datasets
from eoslib.grid import FMNIST_GRID_VALIDATORS, failed, threshold_rate
from eoslib.models import MODELS
from eoslib.report import Claim
from eoslib.results import ResultsStore, computed
from eoslib.runs import RunConfig, check_of, computation_spec, prepare, state_eigenpairs
from eoslib.verification import computation_is_current

__all__ = ["PRESETS", "VALIDATORS", "GridFacts", "max_sharpness", "grid_facts", "facts_table", "sharpness_table", "KIND", "VERSION", "initial_sharpness",
           "claim_start_stable", "claim_grid_end", "prose_values", "reverify", "PAPER_START", "PAPER_LAST"]

_PAPER = dict(seeds=5, seed=0, start=0.01, factor=1.1, below=8, max_rates=80, rates_per_batch=2, max_epochs=15000,
              n_train=1000, n_eval=200, probe_models=["mlp", "vgg10", "resnet20"], probe_seeds=5, probe_n_train=256,
              store="committed")
PRESETS: dict[str, dict[str, Any]] = {
    "ci": {**_PAPER, "probe_models": ["mlp", "vgg10"]},  # every run is in the committed stores: ci reads them
    "paper": _PAPER,
    "tiny": {**_PAPER, "seeds": 2, "start": 0.05, "factor": 40.0, "below": 0, "max_rates": 2, "max_epochs": 300, "n_train": 256, "n_eval": 64,
             "probe_models": ["mlp"], "probe_seeds": 2, "probe_n_train": 64, "store": "local"},
}
"""Appendix F's profiles: ``ci`` (the committed stores; MLP and VGG10 probes), ``paper`` (with
ResNet20) and ``tiny`` (smoke test)."""

VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    **{k: FMNIST_GRID_VALIDATORS[k] for k in (  # chapter 4's grid: its checks
        "seeds", "seed", "start", "factor", "below", "max_rates", "rates_per_batch", "max_epochs", "n_train", "n_eval",
        "store")},
    "probe_models": lambda v: None if v and set(v) <= set(MODELS) else f"must be names of {sorted(MODELS)}",
    "probe_seeds": lambda v: None if 1 <= v <= 50 else "must be in [1, 50]",
    "probe_n_train": lambda v: None if 16 <= v <= 5000 else "must be in [16, 5000]",
}
"""Appendix F's parameter checks (:func:`eoslib.params.resolve`)."""


KIND = "initial-sharpness"
VERSION = 1
"""Version of :func:`initial_sharpness`'s computation (bump with any change of its results)."""

PAPER_START = 0.01
"""Section 4.1: the fMNIST grid starts at η0 = 0.01, "leading to stable trajectories"."""
PAPER_LAST = 0.01 * 1.1 ** 46
"""The last η0 of the paper's fMNIST grid: Section 4.1's 235 models are 47 rates x 5 seeds."""


class GridFacts(NamedTuple):
    """What one initialization's grid says about the edge of stability (rates are η0)."""

    weight_init: str
    models: int
    rates: int
    threshold: float       # smallest rate at which S reached 2/η0 in most seeds (nan: none)
    stable_median: float   # median over stable runs of 2/S_max (nan: no stable run)
    stable_min: float
    stable_max: float
    stable_runs: int
    stable_at_start: str   # "k/n": seeds at PAPER_START that never reached 2/η0 and did not fail
    largest_completed: float  # largest rate at which every seed completed (nan: none)
    first_all_failed: float   # first rate at which every seed failed (nan: none)


def max_sharpness(record: Mapping) -> float:
    """The largest top Hessian eigenvalue recorded in a run (its eigensolves and the end)."""
    values = [v[0] for v in record["eigen"].get("values", [])]
    values.append(record["final"].get("sharpness", float("nan")))
    values = [v for v in values if np.isfinite(v)]
    return max(values) if values else float("nan")


def _reached(record: Mapping) -> bool:
    eta = record["config"]["schedule"]["lr"]
    return any(v[0] >= 2.0 / eta for v in record["eigen"].get("values", []))


def grid_facts(records: Sequence[Mapping], weight_init: str) -> GridFacts:
    """:class:`GridFacts` of the grid ``records`` (one initialization; module docstring)."""
    by_rate: dict[float, list] = {}
    for r in records:
        by_rate.setdefault(r["config"]["schedule"]["lr"], []).append(r)
    rows = [dict(eta0=eta, failed=failed(r), reached=_reached(r)) for eta, rs in by_rate.items() for r in rs]
    stable = [2.0 / max_sharpness(r) for rs in by_rate.values() for r in rs
              if not failed(r) and not _reached(r) and max_sharpness(r) > 0]
    at_start = by_rate.get(PAPER_START, [])
    complete = [eta for eta, rs in by_rate.items() if all(r["final"]["completed"] for r in rs)]
    all_failed = sorted(eta for eta, rs in by_rate.items() if all(failed(r) for r in rs))
    threshold = threshold_rate(rows)
    return GridFacts(
        weight_init, len(records), len(by_rate), float("nan") if threshold is None else threshold,
        float(np.median(stable)) if stable else float("nan"), min(stable, default=float("nan")),
        max(stable, default=float("nan")), len(stable),
        f"{sum(not failed(r) and not _reached(r) for r in at_start)}/{len(at_start)}",
        max(complete, default=float("nan")), all_failed[0] if all_failed else float("nan"))


def _initial_sharpness(spec: Mapping[str, Any], split: datasets.Split) -> dict:
    config = RunConfig.from_dict(spec["config"])
    prep = prepare([config], split, batched=False)
    pairs = state_eigenpairs(prep, prep.state, 1, config.eig_tol, check=check_of(config.eig_check))
    return {"sharpness": float(pairs.values[0]), "certified": bool(pairs.certified)}


def initial_sharpness(model: str, weight_init: str, seeds: Sequence[int], split: datasets.Split,
                      store: ResultsStore, *, dataset: str, eig_tol: float = 1e-3,
                      eig_check: str = "adaptive", progress: bool = False) -> list[dict]:
    """S(θ_0) of ``model`` initialized by ``weight_init`` for each seed on ``split``'s training
    images (its ``dataset`` named for the key): a list of ``{"seed", "sharpness",
    "certified"}``, read from ``store`` or computed (one top-1 Lanczos solve each, with the
    missed-eigenvalue check ``eig_check`` of :data:`eoslib.runs.CHECKS`)."""
    n_train, n_eval = len(split.y_train), len(split.y_eval)
    specs = [computation_spec(VERSION, config=RunConfig(model=model, weight_init=weight_init, dataset=dataset,
                                                        n_train=n_train, n_eval=n_eval, seed=int(s), eig_tol=eig_tol,
                                                        eig_check=eig_check).to_dict()) for s in seeds]
    records = computed(store, KIND, specs, lambda spec: _initial_sharpness(spec, split), progress=progress)
    return [{"seed": int(s), **r["value"]} for s, r in zip(seeds, records)]


def claim_start_stable(facts: GridFacts) -> Claim:
    """Section 4.1: the fMNIST grid starts "with η = 0.01 (leading to stable trajectories)".
    PASS when most seeds at η0 = 0.01 never reached 2/η0 and did not fail; NOT RUN when the
    grid has no run at 0.01."""
    claim = f'{facts.weight_init} init. Sec. 4.1: the grid starts at 0.01 "(leading to stable trajectories)"'
    bound = "most seeds at 0.01 never reach 2/η0"
    k, n = (int(x) for x in facts.stable_at_start.split("/"))
    if n == 0:
        return Claim.unmeasured(claim, "the grid has no run at 0.01", bound)
    return Claim(claim, f"{k}/{n} seeds stable at 0.01 (2/S_max of the stable runs: median {facts.stable_median:.3g})",
                 bound, 2 * k > n)


def claim_grid_end(facts: GridFacts, *, tolerance: float = 2.0) -> Claim:
    """Section 4.1: "Sampling continues until models diverge", with 235 models = 47 rates x 5
    seeds, so the paper's grid ends at 0.01 · 1.1^46 ≈ 0.80 (:data:`PAPER_LAST`). PASS when the
    first rate at which every seed failed is within a factor ``tolerance`` of it; UNRESOLVED
    when no rate of the grid has every seed failed."""
    claim = f"{facts.weight_init} init. Sec. 4.1: sampling continues until models diverge (235 models: up to ≈ 0.80)"
    bound = f"first all-failed rate in [{PAPER_LAST / tolerance:.2f}, {PAPER_LAST * tolerance:.2f}]"
    if not np.isfinite(facts.first_all_failed):
        return Claim(claim, "no rate at which every seed failed", bound, False, unresolved=True)
    ok = PAPER_LAST / tolerance <= facts.first_all_failed <= PAPER_LAST * tolerance
    return Claim(claim, f"every seed failed from {facts.first_all_failed:.3g} (largest rate with every seed "
                        f"completed: {facts.largest_completed:.3g})", bound, ok)


def facts_table(facts: Sequence[GridFacts]) -> str:
    """A Markdown table of :class:`GridFacts`, one row per initialization."""
    def g(x: float) -> str:
        return "–" if not np.isfinite(x) else f"{x:.3g}"
    lines = ["| init | models | rates | threshold (S ≥ 2/η0 in most seeds) | 2/S_max of stable runs: median [range] (runs) "
             "| stable at η0 = 0.01 | largest η0 with every seed completed | first η0 with every seed failed |",
             "|---|---|---|---|---|---|---|---|"]
    for f in facts:
        lines.append(f"| {f.weight_init} | {f.models} | {f.rates} | {g(f.threshold)} | {g(f.stable_median)} "
                     f"[{g(f.stable_min)}, {g(f.stable_max)}] ({f.stable_runs}) | {f.stable_at_start} | "
                     f"{g(f.largest_completed)} | {g(f.first_all_failed)} |")
    return "\n".join(lines)


def sharpness_table(probe: Mapping[tuple[str, str], Sequence[Mapping]]) -> str:
    """A Markdown table of S(θ_0) by model (rows) and initialization: the median over seeds,
    its range, 2/median, and the ratio of the medians (PyTorch over Flax)."""
    lines = ["| model | init | S(θ_0) median [range] (seeds) | certified | 2 / median | torch / flax |",
             "|---|---|---|---|---|---|"]
    for model in dict.fromkeys(m for m, _ in probe):
        medians = {w: float(np.median([r["sharpness"] for r in probe[m, w]])) for m, w in probe if m == model}
        for w, rows in ((w, probe[model, w]) for m, w in probe if m == model):
            s = [r["sharpness"] for r in rows]
            ratio = medians.get("torch", np.nan) / medians.get("flax", np.nan)
            lines.append(f"| {model} | {w} | {medians[w]:.3g} [{min(s):.3g}, {max(s):.3g}] ({len(s)}) | "
                         f"{sum(r['certified'] for r in rows)}/{len(rows)} | "
                         f"{2 / medians[w]:.3g} | {ratio:.2f} |")
    return "\n".join(lines)


def _closer(by: Mapping[str, GridFacts]) -> str:
    """Which initialization is nearer the paper on each fact (log distance), as a sentence."""
    if not {"flax", "torch"} <= set(by):
        return "one initialization only was measured"
    facts = {"where the stable side ends (2/S_max against 0.01)": ("stable_median", PAPER_START),
             "where every seed fails (against 0.80)": ("first_all_failed", PAPER_LAST)}
    parts = []
    for what, (field, target) in facts.items():
        d = {w: abs(np.log(getattr(by[w], field) / target)) for w in ("flax", "torch")}
        if not all(np.isfinite(v) for v in d.values()):
            parts.append(f"{what}: not measured for both")
            continue
        near = min(d, key=d.get)
        parts.append(f"{what}, {'the authors' if near == 'flax' else 'PyTorch'}'{'' if near == 'flax' else 's'} is "
                     f"nearer (the authors' {getattr(by['flax'], field):.3g}, PyTorch's {getattr(by['torch'], field):.3g})")
    return "; ".join(parts)


def _s0_guide(by: Mapping[str, GridFacts], probe: Mapping[tuple[str, str], Sequence[Mapping]]) -> str:
    """Whether the MLP's S(θ_0) orders the initializations as their stable runs' S_max does."""
    if not all(("mlp", w) in probe and w in by for w in ("flax", "torch")):
        return "the MLP's S(θ_0) was not measured with both initializations"
    s0 = {w: float(np.median([r["sharpness"] for r in probe["mlp", w]])) for w in ("flax", "torch")}
    smax = {w: 2.0 / by[w].stable_median for w in ("flax", "torch")}
    same = (s0["flax"] > s0["torch"]) == (smax["flax"] > smax["torch"])
    return (f"the MLP starts at S(θ_0) = {s0['flax']:.3g} with the authors' initialization and {s0['torch']:.3g} "
            f"with PyTorch's, and its stable runs sharpen to S_max = {smax['flax']:.3g} and {smax['torch']:.3g} "
            f"(medians): the initial sharpness {'orders them as' if same else 'orders them opposite to'} "
            f"the level that sets 2/S")


def prose_values(facts: Sequence[GridFacts], probe: Mapping[tuple[str, str], Sequence[Mapping]],
                 claims) -> dict[str, str]:
    """The measured values Appendix F's discussion quotes, by glue name."""
    by = {f.weight_init: f for f in facts}

    def g(x: float) -> str:
        return "no rate" if not np.isfinite(x) else f"{x:.3g}"
    out = {}
    for w, f in by.items():
        out |= {f"threshold_{w}": g(f.threshold), f"stable_{w}": f"{g(f.stable_median)} (median of {f.stable_runs} runs)",
                f"start_{w}": f.stable_at_start, f"failed_{w}": g(f.first_all_failed)}
    ratio = by["flax"].stable_median / by["torch"].stable_median if {"flax", "torch"} <= set(by) else float("nan")
    out["stable_ratio"] = f"{ratio:.2f}" if np.isfinite(ratio) else "that cannot be computed"
    out["verdicts"] = "; ".join(f"{c.claim.split(' Sec.')[0]} {'start' if 'starts' in c.claim else 'end'}: "
                                f"**{c.verdict}**" for c in claims.claims)
    out["closer"] = _closer(by)
    out["s0_guide"] = _s0_guide(by, probe)
    ratios = []
    for model in dict.fromkeys(m for m, _ in probe):
        if (model, "torch") in probe and (model, "flax") in probe:
            med = {w: float(np.median([r["sharpness"] for r in probe[model, w]])) for w in ("torch", "flax")}
            ratios.append(f"{med['torch'] / med['flax']:.2f} for {model}")
    out["probe_ratios"] = ", ".join(ratios) or "not measured"
    return out


def reverify(record: Mapping, split: datasets.Split, *, rtol: float = 1e-3, fresh: Mapping | None = None) -> list[str]:
    """Problems found re-verifying a :data:`KIND` record on ``split`` (its data; empty list:
    verified): it is current (:func:`eoslib.verification.computation_is_current`) and S(θ_0),
    computed again (or ``fresh``, a computation of the same spec already made here), matches
    the stored value to ``rtol`` with the same certification."""
    problems = computation_is_current(dict(record), VERSION)
    fresh = _initial_sharpness(record["spec"], split) if fresh is None else fresh
    stored = record["value"]["sharpness"]
    if not np.isclose(fresh["sharpness"], stored, rtol=rtol, atol=0.0):
        problems.append(f"S(θ_0) {fresh['sharpness']:.6g} here, {stored:.6g} stored")
    if fresh["certified"] != record["value"]["certified"]:
        problems.append(f"certified {fresh['certified']} here, {record['value']['certified']} stored")
    return problems

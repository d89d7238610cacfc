"""The statistics behind the CIFAR-10 chapter's claims (Sections 4.1-4.3; Appendix I), one
function per claim, each stating the scale it ran at.

Rows are :func:`eoslib.grid.summary_rows` of the records (models that failed, i.e.
diverged or died, are left out of every statistic). A claim that needs runs the store does not
hold (the paper's scale, Figure 7's full-data models, Figure 13's groups of 9 seeds) is a
:meth:`eoslib.report.Claim.unmeasured` row: ``NOT RUN``, never a PASS.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import spearmanr

from eoslib.chapters.generalization import claims as fmnist
from eoslib.chapters.generalization import experiment as gen
from eoslib.report import Claim, ClaimsTable
from eoslib.runs import RunConfig

__all__ = ["PAPER_FIGURE7", "PAPER_FIGURE13", "figure7_table", "extreme_rate", "claim_flat_then_rise", "claim_goldilocks",
           "flattening_by_reduction", "claim_reduction", "claim_figure7", "within_rate_correlations",
           "mean_group_correlation", "claim_figure13", "MIN_MODELS", "completed_models", "claim_correlation",
           "claim_rho_in_reduction",
           "CLAIM_FIGURES", "pending_runs", "claims_table", "prose_values"]

PAPER_FIGURE7 = {
    "eta": (0.1, 0.2, 0.4, 0.8, 1.6, 3.2),
    "rows": {
        "VGG19 on CIFAR10-50k": (67.09, 68.36, 70.53, 73.41, 72.70, 73.56),
        "VGG19 on CIFAR10-500k": (78.12, 80.63, 81.73, 82.88, 84.01, 84.07),
        "ResNet20 on CIFAR10-500k": (83.66, 85.62, 86.06, 86.53, 86.95, 87.32),
        "ResNet20 on CIFAR10-500k; η_small at 90 % acc.": (None, None, 83.01, 83.52, 84.56, 84.98),
        "ResNet20 on CIFAR10-500k; η_small at 98 % acc.": (None, None, 85.57, 85.90, 86.66, 86.92),
    },
}
"""The paper's Figure 7 table: validation accuracy (%) at each η (None: "n.a.")."""

PAPER_FIGURE13 = {"eos": {"rho": -0.40, "sharpness": 0.56}, "extreme": {"rho": -0.03, "sharpness": -0.27}}
"""The paper's Figure 13b: mean rank correlation with generalization over groups of 9 seeds
sharing η, in the edge-of-stability phase and at extremely large η."""


def figure7_table(measured: Mapping[str, Sequence[float | None]] | None = None) -> str:
    """Figure 7 as a Markdown table: each row of the paper's, and below it ours (``measured``,
    same names; "not run" without)."""
    etas = PAPER_FIGURE7["eta"]
    lines = ["| model, data | | " + " | ".join(f"η = {e:g}" for e in etas) + " |",
             "| --- | --- | " + " | ".join("---" for _ in etas) + " |"]
    for name, values in PAPER_FIGURE7["rows"].items():
        lines.append(f"| {name} | paper | " + " | ".join("n.a." if v is None else f"{v:.2f}" for v in values) + " |")
        ours = (measured or {}).get(name)
        cells = ["not run"] * len(etas) if ours is None else ["–" if v is None else f"{v:.2f}" for v in ours]
        lines.append("| | eoslib | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    """``"1 seed"``, ``"3 seeds"``: a count with its noun in the number it takes (prose only)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _live(rows):
    return [r for r in rows if not r["failed"] and r["val_acc"] is not None]


def extreme_rate(rows: Sequence[Mapping]) -> float:
    """The first rate past the stability threshold (:func:`eoslib.grid.threshold_rate`) at which
    some seed did not complete (failed, or hovered to the epoch cap): where the *extremely large*
    phase begins (inf when every seed of every such rate completed). A stable run that ends at
    the epoch cap, still converging, does not start it."""
    threshold = gen.threshold_rate(rows)
    if threshold is None:
        return float("inf")
    return min((r["eta0"] for r in rows if not r["completed"] and r["eta0"] >= threshold), default=float("inf"))


def claim_flat_then_rise(rows, threshold: float | None, scale: str) -> Claim:
    """Claim 1 (Figure 5b): flat below the threshold (permutation test) and higher above it
    (:func:`eoslib.chapters.generalization.claims.claim_rise_above`): both must hold; UNRESOLVED when
    neither fails and either cannot be decided. NOT RUN when no
    rate of the grid is below the threshold (a grid with no stable side cannot test it)."""
    name = f"Mean accuracy is flat below the threshold and rises past it (Figure 5b; {scale} scale)"
    if threshold is None:
        return Claim(name, "no rate reached 2/η in most seeds (no threshold)", "a threshold", False, unresolved=True)
    below = [r for r in _live(rows) if r["eta0"] < threshold]
    if not below:
        return Claim.unmeasured(name, f"not run at this scale ({scale}): no rate of its grid is below the threshold "
                                f"{threshold:g} (every rate reached 2/η), so there is no stable side to compare",
                                "4+ models below the threshold, flat; rise above")
    flat, rise = fmnist.claim_flat_below(rows, threshold), fmnist.claim_rise_above(rows, threshold)
    failed = (not flat.passed and not flat.unresolved) or (not rise.passed and not rise.unresolved)
    return Claim(name, f"flat: {flat.measured}; rise: {rise.measured}", f"{flat.bound}; {rise.bound}",
                 flat.passed and rise.passed, unresolved=not failed and (flat.unresolved or rise.unresolved))


def claim_goldilocks(rows, threshold: float | None, scale: str) -> Claim:
    """Claim 2: the Goldilocks fall near divergence (:func:`eoslib.chapters.generalization.claims.claim_goldilocks`)."""
    name = f"Goldilocks: accuracy falls again near divergence (Figure 5b; {scale} scale)"
    if threshold is None:
        return Claim(name, "no threshold", "a threshold", False, unresolved=True)
    c = fmnist.claim_goldilocks(rows, threshold)
    return c._replace(claim=name)


def flattening_by_reduction(rows: Sequence[Mapping]) -> dict:
    """Figure 6's statistics over the models that completed, switched (``reduce_epoch``) or never
    switched (``reduce_epoch`` inf: its large-η phase is its whole run, ``epochs``): Spearman's ρ
    of the sharpness at completion with the length of the large-η phase (with its interval), and, per (η0, seed), whether each later
    switch ended with a higher validation accuracy than the earliest one (``later_better`` out
    of ``later``)."""
    done = [r for r in _live(rows) if r["completed"]]
    phase = [r["reduce_epoch"] if np.isfinite(r["reduce_epoch"]) else r["epochs"] for r in done]  # never: all of it
    rho = gen.spearman_ci(phase, [r["sharpness"] for r in done])
    better = total = 0
    for key in {(r["eta0"], r["seed"]) for r in done}:
        mine = sorted((r for r in done if (r["eta0"], r["seed"]) == key), key=lambda r: r["reduce_epoch"])
        better += sum(r["val_acc"] > mine[0]["val_acc"] for r in mine[1:])
        total += len(mine) - 1
    return {"models": len(done), "rho": rho, "later_better": better, "later": total}


def claim_reduction(rows, scale: str) -> Claim:
    """Claim 3 (Figure 6): a longer large-η phase gives a lower S at completion (ρ(epoch, S) with
    its interval below 0) and, for most models, a higher accuracy (more than half of the later
    reductions beat the earliest one of their η0 and seed)."""
    name = (f"A longer large-η phase gives lower final S and, for most models, higher accuracy "
            f"(Figure 6; {scale} scale)")
    s = flattening_by_reduction(rows)
    if s["models"] < 3 or s["later"] == 0:
        return Claim(name, f"{s['models']} models completed: too few to rank", "3+ models", False, unresolved=True)
    rho, (lo, hi) = s["rho"]
    return Claim(name, f"{s['models']} models (switched, and never switched): Spearman ρ(switch epoch, S at "
                 f"completion) = {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]; {s['later_better']}/{s['later']} later switches "
                 "more accurate than the earliest of their η0 and seed",
                 "interval below 0, and more than half more accurate", bool(hi < 0 and 2 * s["later_better"] > s["later"]))


def claim_figure7(measured: Mapping[str, Sequence[float | None]] | None = None) -> Claim:
    """Claim 4 (Figure 7): larger η gives higher accuracy on the full data. ``measured``: our rows
    of the table (same names and η as :data:`PAPER_FIGURE7`); without them, NOT RUN."""
    name = "Figure 7: on the full CIFAR-10 (50k, 10x augmented 500k), larger η generalizes better"
    if not measured:
        return Claim.unmeasured(name, "not run at paper scale (VGG19 / ResNet20 on 50k and 500k images: "
                                "a GPU's work, see the GPU-hour estimate)", "accuracy rises with η in every row")
    rises = {k: spearmanr(PAPER_FIGURE7["eta"][:len(v)], v).statistic
             for k, v in measured.items() if sum(x is not None for x in v) >= 3}
    return Claim(name, "; ".join(f"{k}: ρ(η, acc) = {v:+.2f}" for k, v in rises.items()),
                 "ρ(η, accuracy) > 0 in every row", bool(rises) and all(v > 0 for v in rises.values()))


def within_rate_correlations(rows: Sequence[Mapping], group_size: int = 9,
                             extreme: float | None = None) -> list[dict]:
    """Figure 13a: for each rate with at least ``group_size`` models that did not fail, its models
    cut (by seed) into groups of ``group_size``; per group, Spearman's ρ of validation accuracy
    with ρ and with S at completion (``rho``, ``sharpness``), the phase (``eos`` below
    ``extreme``, ``extreme`` from it on; default :func:`extreme_rate` of ``rows``; pass Figure
    5b's when the groups are runs of their own) and the group's rows (``models``)."""
    live = _live(rows)
    cut = extreme_rate(rows) if extreme is None else extreme
    out = []
    for eta in sorted({r["eta0"] for r in live}):
        mine = sorted((r for r in live if r["eta0"] == eta), key=lambda r: r["seed"])
        for i in range(0, len(mine) - group_size + 1, group_size):
            group = mine[i:i + group_size]
            acc = [r["val_acc"] for r in group]
            out.append({"eta0": eta, "phase": "eos" if eta < cut else "extreme", "models": group,
                        **{k: float(spearmanr([r[k] for r in group], acc).statistic) for k in ("rho", "sharpness")}})
    return out


def mean_group_correlation(groups: Sequence[Mapping], key: str, *, draws: int = 2000, level: float = 0.95,
                           seed: int = 0) -> tuple[float, tuple[float, float]]:
    """The mean over ``groups`` (:func:`within_rate_correlations`) of Spearman's ρ of validation
    accuracy with ``key`` (``"rho"`` or ``"sharpness"``), and its percentile bootstrap interval:
    each draw resamples the models of every group (with replacement, within the group, so η
    stays controlled) and averages the groups' correlations (NaN ones, e.g. a resample with
    one distinct value, left out). NaN and a NaN interval without groups."""
    if not groups:
        return float("nan"), (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    estimates, resampled = [], []
    for g in groups:
        x = np.array([m[key] for m in g["models"]], float)
        y = np.array([m["val_acc"] for m in g["models"]], float)
        estimates.append(gen.spearman_rows(x[None], y[None])[0])
        pick = rng.integers(0, x.size, (draws, x.size))
        resampled.append(gen.spearman_rows(x[pick], y[pick]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # every group NaN: the mean is NaN
        estimate = float(np.nanmean(estimates))
        stats = np.nanmean(np.stack(resampled), axis=0)
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return estimate, (float("nan"), float("nan"))
    alpha = (1 - level) / 2
    return estimate, (float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha)))


def claim_figure13(groups: Sequence[Mapping], group_size: int, scale: str) -> Claim:
    """Claim 5 (Figure 13b): controlling for η, more rotation goes with higher accuracy in the
    edge-of-stability phase: the mean within-group correlation of ρ with accuracy is negative
    (the paper: −0.40; its S correlates +0.56, the opposite of "flatter is better", which is
    why the paper reads ρ as the better predictor). Decided on the bootstrap interval of the
    mean (:func:`mean_group_correlation`): PASS when it lies below 0, FAIL when above,
    UNRESOLVED when it contains 0 (the paper itself calls its 9-model groups "not conclusive").
    NOT RUN without a group."""
    name = "Figure 13: controlling for η, ρ is the better predictor of accuracy (mean correlation per phase)"
    paper = "; ".join(f"{ph}: ρ {v['rho']:+.2f}, S {v['sharpness']:+.2f}" for ph, v in PAPER_FIGURE13.items())
    bound = "95 % interval of the mean ρ correlation below 0 in the EoS phase"
    eos = [g for g in groups if g["phase"] == "eos"]
    if not eos:
        return Claim.unmeasured(name, f"not run at this scale ({scale}): no rate has {group_size} seeds "
                                f"(the paper's groups of 9); paper: {paper}", bound)
    parts = []
    for ph in ("eos", "extreme"):
        mine = [g for g in groups if g["phase"] == ph]
        if mine:
            cells = []
            for key, label in (("rho", "ρ"), ("sharpness", "S")):
                m, (lo, hi) = mean_group_correlation(mine, key)
                cells.append(f"{label} {m:+.2f} [{lo:+.2f}, {hi:+.2f}]")
            parts.append(f"{ph} ({len(mine)} group(s) of {group_size}): " + ", ".join(cells))
    _, (lo, hi) = mean_group_correlation(eos, "rho")
    resolved = np.isfinite(hi) and (hi < 0 or lo > 0)
    return Claim(name, "; ".join(parts) + f" (paper: {paper}; {scale} scale)", bound, bool(np.isfinite(hi) and hi < 0),
                 unresolved=not resolved)


MIN_MODELS = 10
"""Models below which a correlation claim (claims 6-10) is UNRESOLVED: the percentile bootstrap
interval of Spearman's ρ over a handful of models is built from a few distinct rankings (a
perfect ranking resamples to ρ = ±1 at every draw, so its interval is a point whatever the
number of models) and cannot tell a correlation from chance."""


completed_models = fmnist.completed_models
"""The models that completed (:func:`eoslib.chapters.generalization.claims.completed_models`):
Figure 12b-c and claims 6-10 rank these only."""


def claim_correlation(rows, key: str, figure: str, scale: str, *, min_models: int = MIN_MODELS) -> Claim:
    """Claims 6-9 (Figure 12b-c): Spearman's ρ of the validation error with ``key``
    (``"sharpness"``: S at completion, claims 6 and 8; ``"rho"``: claims 7 and 9) over the
    :func:`completed_models` of ``rows`` with a finite ``key``, decided on its bootstrap interval
    (:func:`eoslib.chapters.generalization.claims.correlations`): PASS when the interval lies above 0 (the
    paper's sign: flatter, or more rotation, goes with lower error), FAIL when it lies below 0;
    UNRESOLVED when it contains 0, is undefined (NaN: fewer than 3 models, or constant values) or
    rests on fewer than ``min_models`` models; NOT RUN when ``rows`` holds no run at all. The
    measured text gives the statistic with the models that did not complete too."""
    done = completed_models(rows)
    corr = fmnist.correlations(done)
    base = (fmnist.claim_sharpness if key == "sharpness" else fmnist.claim_rho)(corr)
    name = f"{base.claim} ({figure}; {scale} scale)"
    bound = f"interval above 0 over {min_models}+ completed models (below 0: FAIL; containing 0: UNRESOLVED)"
    if not rows:
        return Claim.unmeasured(name, f"not run at this scale ({scale}): no model of {figure}", bound)
    n = sum(bool(np.isfinite(r[key])) for r in done)
    rho, (lo, hi) = corr[key]
    statistic = base.measured if np.isfinite(rho) else base.measured.split(" = ")[0] + " undefined"
    measured = f"{statistic} over {n} completed model(s){fmnist.left_out_text(rows, key)}"
    why = ("too few models" if n < min_models else "undefined" if not (np.isfinite(lo) and np.isfinite(hi))
           else "the interval contains 0" if lo <= 0 <= hi else None)
    if why:
        return Claim(name, f"{measured}: {why}", bound, False, unresolved=True)
    return Claim(name, measured, bound, bool(lo > 0))


def claim_rho_in_reduction(rows6, scale: str, *, min_models: int = MIN_MODELS) -> Claim:
    """App. I: "ρ slightly outperforms alternatives in the η reduction regime": over Figure 6's
    models, |Spearman ρ(ρ, error)| exceeds that of S at completion and of η0 (an alternative whose
    correlation is undefined, e.g. η0 when every model shares it, is left out). UNRESOLVED with
    fewer than ``min_models`` :func:`completed_models` or without a finite ρ correlation; NOT RUN
    without any Figure 6 run."""
    name = f"App. I: in the η-reduction regime ρ predicts the validation error better than S and η0 ({scale} scale)"
    bound = f"|corr(ρ)| > |corr(alternative)| for every defined alternative, {min_models}+ models"
    if not rows6:
        return Claim.unmeasured(name, f"not run at this scale ({scale}): no model of Figure 6", bound)
    done = completed_models(rows6)
    n = len(done)
    corr = fmnist.correlations(done)
    r = {k: corr[k][0] for k in ("rho", "sharpness", "eta0")}
    text = ", ".join(f"{k}: {v:+.2f}" if np.isfinite(v) else f"{k}: undefined" for k, v in r.items())
    others = {k: v for k, v in r.items() if k != "rho" and np.isfinite(v)}
    if n < min_models or not np.isfinite(r["rho"]) or not others:
        return Claim(name, f"{n} models (Spearman with the error: {text}): too few or undefined", bound, False,
                     unresolved=True)
    return Claim(name, f"{n} models, Spearman with the validation error: {text}", bound,
                 bool(all(abs(r["rho"]) > abs(v) for v in others.values())))


CLAIM_FIGURES = (("5b",), ("5b",), ("6", gen.NEVER_SWITCHED), (), ("13",), ("5b",), ("5b",), ("6",), ("6",), ("6",))
"""The figures whose runs each claim of :func:`claims_table` reads, in the table's order. Claim 3
reads Figure 6's runs and, of Figure 5b's, only the never-switched runs at their rates and seeds
(:data:`~eoslib.chapters.generalization.experiment.NEVER_SWITCHED`), so Figure 5b's other rates
do not keep it undecided."""


def pending_runs(claim: Claim, figures: Sequence[str], missing: Mapping[str, int]) -> Claim:
    """``claim`` as it stands while its figures' runs are still being filled: a PASS or FAIL
    computed on part of the planned runs (``missing[figure]`` of them not in the store) is
    UNRESOLVED, and says how many runs it lacks; NOT RUN and UNRESOLVED keep their verdict and
    say the same; a claim with every run stored is unchanged."""
    lacking = {f: missing[f] for f in figures if missing.get(f)}
    if not lacking:
        return claim
    said = "; ".join(f"Figure {f}: {n} planned run(s) not in the store yet" for f, n in lacking.items())
    if claim.not_run or claim.unresolved:
        return claim._replace(measured=f"{claim.measured} [{said} (fill in progress)]")
    return claim._replace(measured=f"{claim.measured} [{_WOULD_READ.format(claim.verdict)}; {said} "
                          "(fill in progress): not decided]", passed=False, unresolved=True)


_WOULD_READ = "would read {} on the runs stored"
"""What a claim lacking planned runs says it would read (:func:`pending_runs`)."""


def claims_table(rows5b, rows6, threshold: float | None, scale: str, *, figure7=None,
                 group_size: int = 9, group_rows=None, missing: Mapping[str, int] | None = None) -> ClaimsTable:
    """Claims 1-5 of the issue and Figure 12b-c's correlations (claims 6-7: S and ρ against the
    validation error over Figure 5b's models; 8-9: over Figure 6's switched models). Claim 3
    also counts the never-switched runs of Figure 6's rates and seeds (from ``rows5b``).
    ``group_rows``: Figure 13's runs when they are runs of their own (default ``rows5b``).
    ``missing``: per figure, planned runs the store does not hold yet (:func:`pending_runs`)."""
    groups = within_rate_correlations(rows5b if group_rows is None else group_rows, group_size,
                                      extreme=extreme_rate(rows5b))
    switched = {(r["eta0"], r["seed"]) for r in rows6}
    never = [r for r in rows5b if (r["eta0"], r["seed"]) in switched]  # Figure 6's stars
    rows = [claim_flat_then_rise(rows5b, threshold, scale), claim_goldilocks(rows5b, threshold, scale),
            claim_reduction([*rows6, *never], scale), claim_figure7(figure7), claim_figure13(groups, group_size, scale)]
    for label, subset in (("Figure 12b, constant η", rows5b), ("Figure 12c, η reduction", rows6)):
        rows += [claim_correlation(subset, key, label, scale) for key in ("sharpness", "rho")]
    rows.append(claim_rho_in_reduction(rows6, scale))
    return ClaimsTable([pending_runs(c, f, missing or {}) for c, f in zip(rows, CLAIM_FIGURES, strict=True)])


def _first_at(record: Mapping, level: float = 0.9) -> float:
    """The first recorded epoch at which the training accuracy reached ``level`` (NaN if never)."""
    h = record["history"]
    return next((float(e) for e, a in zip(h["epoch"], h["train_acc"]) if a >= level), float("nan"))


def _verdict_counts(claims: Sequence[Claim], first: int) -> str:
    """"Claims 6 and 7 fail; claims 8 and 9 are unresolved": the verdicts of consecutive claims
    numbered from ``first``, grouped."""
    words = {"PASS": ("passes", "pass"), "FAIL": ("fails", "fail"), "UNRESOLVED": ("is unresolved", "are unresolved"),
             "NOT RUN": ("was not run", "were not run")}
    parts = []
    for verdict, (one, many) in words.items():
        numbers = [str(first + i) for i, c in enumerate(claims) if c.verdict == verdict]
        if numbers:
            parts.append(f"claim {numbers[0]} {one}" if len(numbers) == 1 else
                         f"claims {', '.join(numbers[:-1])} and {numbers[-1]} {many}")
    return "; ".join(parts) or "no claim"


def prose_values(rows: Sequence[Mapping], rows6: Sequence[Mapping], threshold: float | None, claims: ClaimsTable, *,
                 params: Mapping, scale: str, records: Sequence[Mapping], group_records: Sequence[Mapping],
                 group_params: Mapping, paper_factor: float = 1.6, corr5: Mapping | None = None,
                 corr6: Mapping | None = None, missing: Mapping[str, int] | None = None,
                 group_means: Mapping | None = None) -> dict[str, str]:
    """The measured values the CIFAR-10 chapter's discussion quotes, as text to glue into it
    (``{glue:md}``), written so that they read true on a store still being filled. ``rows`` /
    ``rows6``: Figure 5b's and Figure 6's summary rows, ``records`` Figure 5b's records (with their
    histories and eigenvalues); ``claims``: :func:`claims_table`; ``params``: the chapter's
    parameters; ``scale``: its name; ``group_params`` / ``group_records``: the scale's Figure 13
    group (:func:`eoslib.chapters.generalization.experiment.cifar_scale`) and its records in the
    store; ``corr5`` / ``corr6``: Figure 12b's and 12c's correlations when already computed;
    ``missing``: per figure, the planned runs the store lacks; ``group_means``: Figure 13's mean
    within-group correlations (``"rho"`` / ``"sharpness"`` -> (mean, (low, high))). Keys:

    - ``scale``, ``scale_text``: the scale and its data, seeds and grid; ``fill_state``: what the
      store holds of the planned runs (a sentence); ``claims_state``: the same for the claims
      (a clause: the fill in progress, or every run stored); ``c1`` to ``c10``: the claims' verdicts;
      ``verdict_counts``: the verdicts grouped (``"claims 1 and 4 were not run; ..."``);
    - ``stable_heading`` (a sentence), ``stable_text``: the rates below the threshold, their peak S
      against 2/η0, how they ended, and the first rate past the threshold;
    - ``acc_by_rate``: the mean accuracy per rate; ``best_rate``; ``example``: one validation image
      in points; ``seed_gap``: the largest difference between two seeds of a rate (points);
      ``top_text``: what happened at the grid's largest stored rates (a sentence); ``collapse_text``:
      the runs that collapsed to a near-constant prediction, beside the authors' early stop;
    - ``f6_heading`` (a phrase), ``f6_text``: Figure 6's first (η0, seed), its switches and the
      never-switched run, Spearman's ρ(phase, S) and the later switches more accurate than the
      earliest; or that its runs are not stored yet;
    - ``n5``, ``corr_s5``, ``n_rho5``, ``corr_rho5``, ``n6``, ``corr6_text``, ``f12_heading``,
      ``f12_fails``: Figure 12b-c's models and correlations and how claims 6-9 read;
    - ``rho_heading``: the constant-rate models without a ρ;
    - ``f13_heading``, ``group_rates``, ``group_stored``, ``group_epochs``, ``group_anchor``,
      ``group_wall``, ``f13_corr`` (a sentence): the Figure 13 group and its correlations;
    - ``vgg10_ours``, ``n_readings``, ``vgg10_match``, ``vgg10_nearest``, ``vgg19_min``: the
      parameter counts (:mod:`eoslib.chapters.generalization.param_counts`).
    """
    verdicts = [c.verdict for c in claims.claims]
    out = {f"c{i}": f"**{v}**" for i, v in enumerate(verdicts, start=1)}
    out["verdict_counts"] = _verdict_counts(claims.claims, first=1)
    out.update(_figure5b_values(rows, threshold, params, scale, records, paper_factor))
    out["fill_state"] = _fill_state(missing or {}, {"5b": len(rows), "6": len(rows6), "13": len(group_records)})
    out["claims_state"] = ("its store is still being filled, so the verdicts below are those of the runs stored so far"
                           if any((missing or {}).values()) else
                           "every run its parameters name is in the store, so the verdicts below are those of the whole scale")
    out.update(_figure6_values(rows, rows6, params, verdicts))
    out.update(_figure12_values(rows, rows6, claims, corr5, corr6))
    out.update(_figure13_values(group_records, group_params, rows, verdicts, out["scale"], group_means))
    out.update(_count_values())
    return out


def _fill_state(missing: Mapping[str, int], stored: Mapping[str, int]) -> str:
    """:func:`prose_values`' ``fill_state``: the planned runs the store holds, per figure."""
    if not any(missing.values()):
        return "Every run the parameters name is in the store."
    parts = [f"Figure {f}: {stored.get(f, 0)} of {stored.get(f, 0) + n}" for f, n in missing.items()]
    return (f"The store holds part of the runs the parameters name ({'; '.join(parts)}): the fill is in progress "
            "(`store/README.md`), and a claim that needs a missing run says so in the table and reads UNRESOLVED, or "
            "NOT RUN when it has no run at all.")


def _rate_ending(group: Sequence[Mapping], max_epochs: int) -> str:
    """How the runs of one rate ended: ``"completed at epochs 116–150"``, ``"ended at the 2000-epoch
    cap (training accuracy 99.9 %)"``, or both."""
    done = [r for r in group if r["completed"]]
    capped = [r for r in group if not r["completed"] and not r["failed"]]
    parts = []
    if done:
        parts.append(f"{len(done)} completed at epoch{'' if len(done) == 1 else 's'} "
                     f"{fmnist._span([r['epochs'] for r in done], lambda x: f'{x:,.0f}')}")
    if capped:
        parts.append(f"{len(capped)} ended at the {max_epochs:,}-epoch cap without completing (training accuracy "
                     f"{fmnist._span([r['train_acc'] for r in capped], fmnist._pct)})")
    failed = [r for r in group if r["failed"]]
    if failed:
        parts.append(f"{len(failed)} diverged or died")
    return fmnist._and(parts)


def _figure5b_values(rows, threshold, params, scale: str, records, paper_factor: float) -> dict[str, str]:
    """:func:`prose_values`' keys on the scale and Figure 5b (its docstring)."""
    live = _live(rows)
    rates = sorted({r["eta0"] for r in rows})
    steps = np.log(params["factor"]) / np.log(paper_factor)
    grid = ("every other rate of the paper's grid" if abs(steps - 2) < 1e-6 else
            "the paper's grid" if abs(steps - 1) < 1e-6 else f"a factor {params['factor']:.3g} between rates")
    out = {"scale": scale}
    first = gen.rate_grid(params["start"], params["factor"], params["skip"] + 1)[-1]
    out["scale_text"] = (f"{params['n_train']:,} / {params['n_eval']:,} images, a {params['warmup']}-epoch warm-up, "
                         f"{params['seeds']} seeds, {grid} from {first:g}, at most {params['max_epochs']:,} "
                         f"epochs; Figure 6: {_count(len(params['reduce_rates']), 'rate')}, {_count(params['reduce_seeds'], 'seed')}")
    below = [e for e in rates if threshold is not None and e < threshold]
    out["stable_heading"] = ("No rate of the stored grid is below the stability limit." if not below else
                             f"{len(below)} of the {len(rates)} stored rates {'is' if len(below) == 1 else 'are'} "
                             "below the stability limit.")
    peaks = {}
    for r in records:
        values = [v[0] for v in r["eigen"].get("values", [])]
        peaks.setdefault(r["config"]["schedule"]["lr"], []).append(max(values) if values else float("nan"))
    sentences = []
    for e in below:
        mine = [r for r in rows if r["eta0"] == e]
        sentences.append(f"At $\\eta_0$ = {e:g} ($2/\\eta_0$ = {2 / e:.0f}) the sharpness peaks at "
                         f"{fmnist._span(peaks.get(e, []), lambda x: f'{x:.0f}')} over {_count(len(mine), 'seed')}, below "
                         f"$2/\\eta_0$; {_rate_ending(mine, params['max_epochs'])}, at "
                         f"{fmnist._span([r['val_acc'] for r in mine], fmnist._pct)} validation accuracy.")
    if threshold is not None:
        mine = [r for r in rows if r["eta0"] == threshold]
        sentences.append(f"The threshold is {threshold:g} ($2/\\eta_0$ = {2 / threshold:.0f}): $S$ reaches "
                         f"$2/\\eta_0$ in {sum(r['reached'] for r in mine)} of {_count(len(mine), 'seed')} (peak "
                         f"{fmnist._span(peaks.get(threshold, []), lambda x: f'{x:.0f}')}); "
                         f"{_rate_ending(mine, params['max_epochs'])}.")
    out["stable_text"] = " ".join(sentences) or "No run is stored yet."
    means = fmnist.rate_means(rows)
    out["acc_by_rate"] = fmnist._and([f"{fmnist._pct(m)} ({e:g})" for e, m in means.items()])
    out["best_rate"] = f"{max(means, key=means.get):g}" if means else "none"
    out["example"] = f"{100 / params['n_eval']:.1f}"
    gaps = [np.ptp([r["val_acc"] for r in live if r["eta0"] == e]) for e in means]
    out["seed_gap"] = f"{100 * max(gaps):.1f}" if gaps else "none"
    out["top_text"] = _top_text(rows, [e for e in rates if threshold is not None and e >= threshold], params)
    out["collapse_text"] = _collapse_text(rows, params)
    return out


COLLAPSED_ACCURACY = 0.2
"""Training accuracy at the epoch cap below which a run that neither completed nor failed counts
as collapsed (a near-constant prediction; 10 classes) in the chapter's text."""


def _collapsed(row: Mapping) -> bool:
    """A run that neither completed nor failed and ended below :data:`COLLAPSED_ACCURACY` training
    accuracy after at least the authors' window of 100 epochs (so that a short run still learning
    is not counted)."""
    return (not row["completed"] and not row["failed"] and row["epochs"] >= fmnist.AUTHORS_LOW_EPOCHS
            and (row.get("train_acc") or 0) < COLLAPSED_ACCURACY)


def _collapse_text(rows, params) -> str:
    """:func:`prose_values`' ``collapse_text``: the runs that collapsed (neither completed nor
    failed, training accuracy at the cap below :data:`COLLAPSED_ACCURACY` after at least the
    authors' window of 100 epochs, so that a short run still learning is not counted), set beside
    the authors' early stop at chance (:data:`eoslib.chapters.generalization.claims.AUTHORS_LOW_ACCURACY`)."""
    down = sorted((r for r in rows if _collapsed(r)), key=lambda r: (r["eta0"], r["seed"]))
    if not down:
        return "No stored run collapsed to a constant prediction."
    low = fmnist.AUTHORS_LOW_ACCURACY
    which = fmnist._and([f"{r['eta0']:g} seed {r['seed']}" for r in down])
    train = fmnist._span([r["train_acc"] for r in down], lambda a: f"{100 * a:.1f}") + " %"
    val = fmnist._span([r["val_acc"] for r in down], lambda a: f"{100 * a:.1f}") + " %"
    stopped = sum(r["train_acc"] < low for r in down)
    it = "it" if len(down) == 1 else "them"
    if stopped == len(down):
        rule = f"so their rule would have stopped {it}"
    else:
        rule = (f"so their rule, read literally, would have stopped {stopped or 'none'} of {it}"
                if len(down) > 1 else "so their rule, read literally, would not have stopped it")
        rule += (f": {'it sits' if len(down) == 1 else f'{len(down) - stopped} sit'} at or above its bound (with "
                 f"{params['n_train']:,} images one class can hold more than 11 % of them)")
    return (f"{_count(len(down), 'run')} collapsed to a near-constant prediction ({which}): at the "
            f"{params['max_epochs']:,}-epoch cap, {train} training and {val} validation accuracy (chance is about "
            f"10 %). The authors' code stops a run whose training accuracy has averaged below {low:g} over "
            f"{fmnist.AUTHORS_LOW_EPOCHS} epochs, {rule}; ours runs {it} to the cap, where {'it ends' if len(down) == 1 else 'they end'} "
            f"without completing, and Figure 5b's means count {it} with the seeds that hover.")


def _top_text(rows, rates, params) -> str:
    """:func:`prose_values`' ``top_text``: where the stored grid past the threshold (``rates``)
    ends: every seed failed; or no seed completed or failed, because every seed collapsed to a
    near-constant prediction (:func:`_collapsed`: a breakdown short of divergence, which the authors'
    early stop at chance ends after 100 epochs on their 5k images), some did, or every seed hovers to
    the cap; or the grid's top is not stored yet."""
    all_failed = [e for e in rates if all(r["failed"] for r in rows if r["eta0"] == e)]
    hovered = [e for e in rates if not any(r["completed"] or r["failed"] for r in rows if r["eta0"] == e)]
    top = gen.rate_grid(params["start"], params["factor"], params["skip"] + params["max_rates"])[-1]
    if all_failed:
        return f"At {all_failed[0]:g} every seed diverged or died: the grid ends there."
    if hovered:
        b = [r for r in rows if r["eta0"] == hovered[0]]
        down = [r for r in b if _collapsed(r)]
        cap = f"{params['max_epochs']:,}-epoch cap"
        if len(down) == len(b):
            end = "the grid ends there" if hovered[0] == top else f"the grid goes on to {top:g}"
            n = params.get("seeds", len(b))
            seeds = (f"all {len(b)} seeds collapse" if len(b) >= n else
                     f"the one stored seed (of {n}) collapses" if len(b) == 1 else
                     f"all {len(b)} stored seeds (of {n}) collapse")
            return (f"At {hovered[0]:g} {seeds} to a near-constant prediction, at "
                    f"{fmnist._pct(fmnist._mean([r['val_acc'] for r in b]))} validation accuracy and $S$ = "
                    f"{fmnist._num(fmnist._mean([r['sharpness'] for r in b]))} at the {cap}: none completes and none "
                    f"diverges (a non-finite loss, or one above {RunConfig.divergence_factor:,.0f} times its start). This is where the "
                    f"models break down, not a divergence; {end}.")
        some = (f" ({len(down)} of them collapsed to a near-constant prediction)" if down else "")
        return (f"At {hovered[0]:g} none of the {len(b)} seeds completes or diverges{some}: they {'run' if down else 'hover'} to the "
                f"{cap} at $S$ = {fmnist._num(fmnist._mean([r['sharpness'] for r in b]))} "
                f"and {fmnist._pct(fmnist._mean([r['val_acc'] for r in b]))} validation accuracy.")
    return (f"No stored rate has every seed failing yet: the largest rates of the grid (up to {top:g}), where the "
            "paper's models break down and diverge, are among the runs the store lacks.")


def _figure6_values(rows, rows6, params, verdicts) -> dict[str, str]:
    """:func:`prose_values`' Figure 6 keys: the first (η0, seed) of the switched runs, with its
    never-switched run (its docstring)."""
    keys = sorted({(r["eta0"], r["seed"]) for r in rows6})
    c3 = f"**{verdicts[2]}**" if len(verdicts) > 2 else "none"
    if not keys:
        return {"f6_heading": "not in the store yet",
                "f6_text": (f"Figure 6's runs ($\\eta_0$ in {list(params['reduce_rates'])} switched to $\\eta_{{small}}$ = "
                            f"{params['eta_small']:g} at epochs {list(params['reduce_epochs'])}) are not stored yet; "
                            f"claim 3 is {c3}.")}
    key = keys[0]
    switched = sorted((r for r in rows6 if (r["eta0"], r["seed"]) == key), key=lambda r: r["reduce_epoch"])
    never = [r for r in rows if (r["eta0"], r["seed"]) == key]
    stats = flattening_by_reduction([*switched, *never])
    rho6 = stats["rho"][0]
    ends = fmnist._and([f"the switch at epoch {r['reduce_epoch']:.0f} ends at $S$ = {fmnist._num(r['sharpness'])} "
                        f"({fmnist._pct(r['val_acc'])})" for r in switched])
    never_text = (f"$S$ = {fmnist._num(never[0]['sharpness'])} ({fmnist._pct(never[0]['val_acc'])}, completed at "
                  f"epoch {never[0]['epochs']:.0f})" if never else "not stored yet")
    text = (f"From $\\eta_0$ = {key[0]:g} (seed {key[1]}), switched to $\\eta_{{small}}$ = {params['eta_small']:g} "
            f"($2/\\eta_{{small}}$ = {2 / params['eta_small']:.0f}) after the {params['warmup']}-epoch warm-up, {ends}; "
            f"the never-switched run ends at {never_text}.")
    if stats["models"] >= 3 and stats["later"]:
        text += (f" Spearman's ρ of the switch epoch with the final $S$ is {fmnist._minus(f'{rho6:+.2f}')} over "
                 f"{stats['models']} models, and {stats['later_better']} of {stats['later']} later switches beat the "
                 f"earliest in accuracy: claim 3 is {c3}.")
    else:
        text += f" Too few of them completed to rank: claim 3 is {c3}."
    heading = ("later switches end flatter" if rho6 < 0 else "later switches do not end flatter") if np.isfinite(rho6) \
        else "too few runs to rank"
    return {"f6_heading": heading, "f6_text": text}


def _figure12_values(rows, rows6, claims: ClaimsTable, corr5, corr6) -> dict[str, str]:
    """:func:`prose_values`' keys on Figure 12b-c and ρ (its docstring)."""
    live, live6 = completed_models(rows), completed_models(rows6)
    corr5 = fmnist.correlations(live) if corr5 is None else corr5
    corr6 = fmnist.correlations(live6) if corr6 is None else corr6
    rho_models = [r for r in live if np.isfinite(r["rho"])]
    hovered = len(_live(rows)) - len(live)
    out = dict(n5=str(len(live)), corr_s5=fmnist._interval(corr5["sharpness"][0], *corr5["sharpness"][1]),
               n_rho5=str(len(rho_models)), corr_rho5=fmnist._interval(corr5["rho"][0], *corr5["rho"][1]),
               n6=str(len(live6)))
    out["corr6_text"] = ("ρ(S, error) = " + fmnist._interval(corr6["sharpness"][0], *corr6["sharpness"][1])
                         + " and ρ(ρ, error) = " + fmnist._interval(corr6["rho"][0], *corr6["rho"][1])
                         if len(live6) >= 3 else "too few to rank")
    fig12 = claims.claims[5:9]
    resolved = sum(c.verdict in ("PASS", "FAIL") for c in fig12)  # claim_correlation's rule
    pending = sum(_WOULD_READ.format("PASS") in c.measured for c in fig12)
    out["f12_heading"] = (f"{resolved} of the four correlations {'is' if resolved == 1 else 'are'} resolved" if resolved
                          else f"none decided while the fill runs; {pending} of the four would read PASS on the runs "
                               "stored" if pending else "no correlation is resolved at this scale")
    out["f12_fails"] = _verdict_counts(fig12, first=6)
    out["rho_heading"] = ((f"{_count(hovered, 'constant-rate model')} that ran to the epoch cap without completing are left "
                           "out (the paper ranks models at completion); " if hovered else "")
                          + f"ρ is missing for {len(live) - len(rho_models)} of the {len(live)} that completed.")
    return out


def _figure13_values(group_records, group_params, rows, verdicts, scale: str, means=None) -> dict[str, str]:
    """:func:`prose_values`' keys on Figure 13's group (its docstring)."""
    out = {"f13_heading": f"Figure 13 ({verdicts[4] if len(verdicts) > 4 else 'none'}) and Figure 7 "
                          f"({verdicts[3] if len(verdicts) > 3 else 'none'}) at the {scale} scale."}
    g_rates = list(group_params["group_rates"])
    extreme = extreme_rate(rows)
    out["group_rates"] = fmnist._and([f"{e:g}" + (", in the edge-of-stability phase" if e < extreme
                                                   else ", in the extremely large phase") for e in g_rates])
    total = group_params["group_size"] * len(g_rates)
    out.update(group_stored=f"{len(group_records)} of its {total} runs",
               group_epochs=fmnist._span([r["final"]["epochs"] for r in group_records], lambda x: f"{x:.0f}"),
               group_anchor=("each with its anchor" if group_records and all(
                   np.isfinite(r["final"].get("rho", float("nan"))) for r in group_records) else "not all with an anchor"),
               group_wall=fmnist._span([r["wall_time_s"] for r in group_records], lambda x: f"{x:,.0f}") + " s")
    rho, sharp = (means or {}).get("rho"), (means or {}).get("sharpness")
    out["f13_corr"] = (f"Within it, ρ correlates {fmnist._interval(rho[0], *rho[1])} with the validation accuracy, "
                       f"and $S$ at completion {fmnist._interval(sharp[0], *sharp[1])} (mean over the group, 95 % "
                       "bootstrap interval over its models)" if rho and sharp and np.isfinite(rho[0])
                       else "No group of the scale is complete yet")
    return out


def _count_values() -> dict[str, str]:
    """:func:`prose_values`' keys on the parameter counts (its docstring)."""
    from eoslib.chapters.generalization import param_counts as pc

    widths, target = pc.PAPER_COUNTS["vgg10"]
    counts = {pc.vgg_count(widths, r) for r in pc.readings(len(widths))}
    nearest = [(n, r) for n, r in pc.closest(widths, target, count=2) if n != target]
    n, r = nearest[0]
    return dict(vgg10_ours=f"{pc.vgg_count(widths):,}", n_readings=f"{sum(1 for _ in pc.readings(len(widths))):,}",
                vgg10_match="none gives" if target not in counts else "one gives",
                vgg10_nearest=f"{n:,} (BatchNorm: {r.batchnorm}; hidden classifier layers: "
                              f"{', '.join(map(str, r.head_hidden)) or 'none'})",
                vgg19_min=f"{pc.lower_bound(pc.PAPER_COUNTS['vgg19'][0]):,}")

"""The statistics behind chapter 4's claims (Section 4.1; Appendix I), one function per claim.

Models: those that did not fail (diverge or die, :func:`eoslib.grid.failed`); the validation error is ``1 − val_acc``. Intervals are
95 % percentile-bootstrap intervals over models (:mod:`eoslib.chapters.generalization.experiment`), seeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from eoslib.chapters.generalization import experiment as gen
from eoslib.report import Claim, ClaimsTable

__all__ = ["fill_differences", "reduction_pairs", "grid_claims", "rate_means", "claim_flat_below", "RISE_RATES", "rise_end", "rise_statistics", "rise_verdict",
           "claim_rise_above", "claim_goldilocks",
           "claim_sharpness", "claim_rho", "AUTHORS_LOW_ACCURACY", "AUTHORS_LOW_EPOCHS", "completed_models", "left_out_text", "correlations", "claims_table", "divergence_rate", "claim_orders", "switched", "claim_accuracy_reduction",
           "prose_values"]


def _live(rows):
    return [r for r in rows if not r["failed"] and r["val_acc"] is not None]


def completed_models(rows: Sequence[Mapping]) -> list[Mapping]:
    """The models of ``rows`` that completed (did not fail, and reached 99.99 % training accuracy
    before the epoch cap): the paper's Section 4 trains its models "to completion, defined as
    achieving > 99.99% accuracy on the training set", and Figure 12 ranks the sharpness and the
    validation accuracy *at completion*. A run that ran to the epoch cap (a stable one still
    training, or one hovering at the extremely large rates) has neither; rows without a
    ``completed`` entry count as completed."""
    return [r for r in _live(rows) if r.get("completed", True)]


def left_out_text(rows: Sequence[Mapping], key: str) -> str:
    """What a correlation over :func:`completed_models` leaves out, for a claim's measured text:
    ``"; 3 that ran to the epoch cap without completing left out (with them: +0.52 [+0.1, +0.8])"``,
    or ``""`` when every model that did not fail completed."""
    hovered = len(_live(rows)) - len(completed_models(rows))
    if not hovered:
        return ""
    rho, (lo, hi) = correlations(rows)[key]
    with_them = f"{rho:+.2f} [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(rho) else "undefined"
    return f"; {hovered} that ran to the epoch cap without completing left out (with them: {with_them})"


AUTHORS_LOW_ACCURACY, AUTHORS_LOW_EPOCHS = 0.11, 100
"""The authors' code stops a run whose training accuracy has averaged below 0.11 (chance, 10
classes) over 100 epochs (``earlyStopCB(low_thresh=0.11, low_eps=100)`` in
``lawrencewang94/jax_eigs``, ``callbacks.py``); eoslib's trainer runs it to the epoch cap, where it
ends without completing. The chapters count such seeds (training accuracy below this at the cap)."""


def _g(x: float | None) -> str:
    """A rate in a claim's measured text (``"none"`` for None)."""
    return "none" if x is None else f"{x:g}"


def rate_means(rows: Sequence[Mapping]) -> dict[float, float]:
    """Mean validation accuracy of the seeds of each rate that did not fail."""
    live = _live(rows)
    return {eta: float(np.mean([r["val_acc"] for r in live if r["eta0"] == eta]))
            for eta in sorted({r["eta0"] for r in live})}


def claim_flat_below(rows, threshold: float) -> Claim:
    """Claim 1: no monotone trend of validation accuracy with log η0 below the threshold
    (permutation test of Spearman's ρ, two-sided, 5 % level); UNRESOLVED with fewer than 4
    models or 2 rates below it (no trend can be tested)."""
    below = [r for r in _live(rows) if r["eta0"] < threshold]
    rates = len({r["eta0"] for r in below})
    if len(below) < 4 or rates < 2:  # no trend to test: undecided, not a failure
        return Claim("Below the threshold, validation accuracy does not depend on η0",
                     f"{len(below)} models at {rates} rate(s) below", "permutation p >= 0.05 (needs 4+ models, 2+ rates)",
                     False, unresolved=True)
    rho, p = gen.permutation_trend(np.log([r["eta0"] for r in below]), [r["val_acc"] for r in below])
    return Claim("Below the threshold, validation accuracy does not depend on η0 (flat)",
                 f"{len(below)} models: Spearman ρ(log η0, accuracy) = {rho:+.2f}, permutation p = {p:.3f}",
                 "no significant trend: p >= 0.05", bool(p >= 0.05))


RISE_RATES = 3
"""Claim 2's least number of rates below the threshold and in its window (:func:`claim_rise_above`),
and the rates on each side of the threshold that its jump compares."""


WINDOW_ENDS = ("incomplete", "failed")
"""Where claim 2's window ends (:func:`rise_end`): chapter 4's rule, and the one for grids whose
stable runs also stop short of completion (chapter 9's squared loss)."""


def rise_end(rows, window_end: str = "incomplete", threshold: float | None = None) -> float:
    """The end of claim 2's window, where the Goldilocks collapse of claim 3 begins; inf when no
    seed of any rate qualifies. ``"incomplete"`` (chapter 4's): the first rate at which some seed
    failed or did not complete (it hovered to the epoch cap, the edge of divergence, and is kept
    in the means); ending at the first failed seed alone would keep hovering seeds, part of the
    collapse, in the window. ``"failed"``: the first rate at which some seed failed (diverged or
    died), for a grid where runs also stop short of completion at the stable rates (the squared
    loss's slow last images), so that "did not complete" does not mark the collapse there. Given
    the ``threshold``, a stable run (below it) that ended at the epoch cap still converging does
    not end the window either (CIFAR-10's stable side)."""
    if window_end not in WINDOW_ENDS:
        raise ValueError(f"window_end {window_end!r}: choose one of {WINDOW_ENDS}")
    past = -np.inf if threshold is None else threshold
    stops = (lambda r: r["failed"]) if window_end == "failed" else (
        lambda r: r["failed"] or (not r.get("completed", True) and r["eta0"] >= past))
    return min((r["eta0"] for r in rows if stops(r)), default=float("inf"))


def _shape_r2(acc: np.ndarray, x: np.ndarray, above: np.ndarray) -> tuple[float, float]:
    """R² of the two shapes of claim 2 fitted to accuracies ``acc`` by least squares: a step
    (one level below the threshold, one above) and a ramp (one level below, then linear in
    ``x``, the log-distance from the last rate below). NaN without a model on each side, or
    when every accuracy is the same (no variance to explain)."""
    if not above.any() or above.all() or np.ptp(acc) == 0:
        return float("nan"), float("nan")
    total = float(((acc - acc.mean()) ** 2).sum())
    step = sum(float(((acc[m] - acc[m].mean()) ** 2).sum()) for m in (above, ~above))
    design = np.column_stack([np.ones_like(x), np.where(above, x, 0.0)])
    coef = np.linalg.lstsq(design, acc, rcond=None)[0]
    ramp = float(((acc - design @ coef) ** 2).sum())
    return 1 - step / total, 1 - ramp / total


def rise_statistics(rows, threshold: float | None, *, rates: int = RISE_RATES,
                    window_end: str = "incomplete") -> dict:
    """Claim 2's statistics over the models that did not fail. ``below``: the rates under the
    threshold; ``window``: the rates from the threshold up to, not including, :func:`rise_end`
    (by ``window_end``).
    Keys: ``end``, ``n_below`` / ``n_window`` (models), ``n_rates_below`` / ``n_rates_window``;
    ``rise``: mean accuracy in the window minus below, ``jump``: the same over the ``rates``
    rates just above and just below the threshold, ``rise_all``: over every rate above the
    threshold (the collapse included), each with its bootstrap interval
    (:func:`eoslib.chapters.generalization.experiment.mean_difference_ci`); ``r2_step`` / ``r2_ramp`` and
    ``shape``: the step's R² minus the ramp's (:func:`_shape_r2`, fitted to the models below
    and in the window) with its bootstrap interval over models
    (:func:`eoslib.chapters.generalization.experiment.bootstrap_ci`). Undefined values are NaN."""
    nan = (float("nan"), (float("nan"), float("nan")))
    live, end = _live(rows), rise_end(rows, window_end, threshold)
    thr = float("inf") if threshold is None else threshold
    below = [r for r in live if r["eta0"] < thr]
    window = [r for r in live if thr <= r["eta0"] < end]
    b_rates, w_rates = sorted({r["eta0"] for r in below}), sorted({r["eta0"] for r in window})
    out = dict(end=end, n_below=len(below), n_window=len(window), n_rates_below=len(b_rates),
               n_rates_window=len(w_rates), rise=nan, jump=nan, rise_all=nan, r2_step=float("nan"),
               r2_ramp=float("nan"), shape=nan)
    if not below or not window:
        return out
    acc = lambda group: [r["val_acc"] for r in group]  # noqa: E731
    out["rise"] = gen.mean_difference_ci(acc(window), acc(below))
    out["rise_all"] = gen.mean_difference_ci(acc([r for r in live if r["eta0"] >= thr]), acc(below))
    out["jump"] = gen.mean_difference_ci(acc([r for r in window if r["eta0"] in w_rates[:rates]]),
                                         acc([r for r in below if r["eta0"] in b_rates[-rates:]]))
    models = below + window
    y = np.array(acc(models), float)
    eta = np.array([r["eta0"] for r in models], float)
    above, x = eta >= thr, np.log(eta / b_rates[-1])
    out["r2_step"], out["r2_ramp"] = _shape_r2(y, x, above)

    def diff(i):
        step, ramp = _shape_r2(y[i], x[i], above[i])
        return step - ramp
    out["shape"] = (out["r2_step"] - out["r2_ramp"], gen.bootstrap_ci(diff, y.size))
    return out


def rise_verdict(s: Mapping, rates: int = RISE_RATES) -> tuple[str, str]:
    """Claim 2's verdict on :func:`rise_statistics` ``s`` and its reading: UNRESOLVED with fewer
    than ``rates`` rates below or in the window, or an undefined (NaN) statistic; FAIL when the
    rise's interval reaches 0 (no rise); otherwise PASS when the shape's interval is above 0 (a
    step), FAIL when it is below 0 (a slow climb), UNRESOLVED when it contains 0."""
    if s["n_rates_below"] < rates or s["n_rates_window"] < rates:
        return "UNRESOLVED", "too few rates to decide"
    (_, (lo, _)), (_, (slo, shi)) = s["rise"], s["shape"]
    if not np.isfinite(lo):
        return "UNRESOLVED", "the rise is undefined"
    if lo <= 0:
        return "FAIL", "no rise: its interval reaches 0"
    if slo > 0:
        return "PASS", "a step at the threshold"
    if shi < 0:
        return "FAIL", "a slow climb, not a step"
    return "UNRESOLVED", "the shape is undefined" if not np.isfinite(slo) else "step and ramp not told apart"


def claim_rise_above(rows, threshold: float | None, *, rates: int = RISE_RATES,
                     window_end: str = "incomplete") -> Claim:
    """Claim 2, Section 4.1 (second paragraph, on Figure 5): "the mean accuracy remains
    relatively flat until η goes past the stability threshold, where it sharply improves".
    "Performance eventually falls" is claim 3 (:func:`claim_goldilocks`), so the rates compared
    above the threshold are its window, from the threshold up to the first rate at which some
    seed did not complete (:func:`rise_end`), against every rate below it
    (:func:`rise_statistics`). Two parts, both needed: (a) it improves: the mean accuracy in the
    window minus the mean below, with its bootstrap interval above 0; (b) sharply: a step at
    the threshold (flat below, flat at a higher level above) fits the models' accuracies
    better than a ramp with as many parameters (flat below, then a straight line in log η0
    from the last rate below), read as the step's R² minus the ramp's with its bootstrap
    interval above 0 (below 0: a slow climb). The measured text adds the jump across the
    threshold (the ``rates`` rates on each side). Verdict: :func:`rise_verdict`. ``window_end``:
    :func:`rise_end`'s rule."""
    name = "Validation accuracy sharply improves past the stability threshold (before the Goldilocks collapse)"
    bound = (f"rise: interval above 0; sharply: R²(step) − R²(ramp), interval above 0; {rates}+ rates below "
             "and in the window")
    s = rise_statistics(rows, threshold, rates=rates, window_end=window_end)
    verdict, reading = rise_verdict(s, rates)
    (d, (lo, hi)), (j, (jlo, jhi)), (sd, (slo, shi)) = s["rise"], s["jump"], s["shape"]
    what = "failed" if window_end == "failed" else "did not complete"
    measured = (f"window {_g(threshold)} <= η0 < {s['end']:g} (to the first rate with "
                f"a seed that {what}): {s['n_rates_window']} rates, {s['n_window']} models, against "
                f"{s['n_rates_below']} rates, {s['n_below']} models below; mean in the window − below = "
                f"{100 * d:+.2f} points [{100 * lo:+.2f}, {100 * hi:+.2f}]; jump across the threshold ({rates} rates "
                f"each side) {100 * j:+.2f} [{100 * jlo:+.2f}, {100 * jhi:+.2f}]; R² step {s['r2_step']:.3f}, ramp "
                f"{s['r2_ramp']:.3f}, step − ramp {sd:+.3f} [{slo:+.3f}, {shi:+.3f}]: {reading}")
    return Claim(name, measured, bound, verdict == "PASS", unresolved=verdict == "UNRESOLVED")


def claim_goldilocks(rows, threshold: float) -> Claim:
    """Claim 3: the rate with the best mean accuracy is interior: above the threshold's rate
    and below the largest rate with a seed that did not fail, and the mean falls after it."""
    means = rate_means(rows)
    rates = list(means)
    best = max(rates, key=means.get)
    last = rates[-1]
    interior = threshold <= best < last and means[last] < means[best]
    return Claim("Goldilocks: accuracy falls again toward divergence (the best rate is interior)",
                 f"best mean {100 * means[best]:.1f} % at η0 = {best:g}; {100 * means[last]:.1f} % at the largest "
                 f"rate with a surviving seed ({last:g}); threshold {threshold:g}",
                 "threshold <= best < largest surviving rate, and lower there", bool(interior))


def divergence_rate(rows) -> float | None:
    """The smallest rate at which every seed failed (diverged or died): the divergence boundary
    of the grid (None when no rate of the grid is past it)."""
    rates = sorted({r["eta0"] for r in rows})
    return next((e for e in rates if all(r["failed"] for r in rows if r["eta0"] == e)), None)


def claim_orders(rows, threshold: float | None, *, near: float = 10.0, far: float = 100.0) -> Claim:
    """Claim 6 (§4.3): the Goldilocks rate (the best mean accuracy) lies "within one order of
    magnitude" of the divergence boundary (``η_div / η* <= near``) and "several orders of
    magnitude" from the stability limit (``η* / η_s >= far``, two decades read as the least
    "several" can mean). UNRESOLVED when the grid has no threshold or no divergence boundary.
    The measured text also gives the zone of rates whose mean is not significantly below the
    best (bootstrap interval of the difference containing 0)."""
    name = ("§4.3: the Goldilocks η lies within one order of magnitude of divergence and several orders of "
            "magnitude above the stability limit")
    bound = f"η_div / η* <= {near:g} and η* / η_s >= {far:g}"
    div = divergence_rate(rows)
    means = rate_means(rows)
    if threshold is None or div is None or not means:
        why = "no threshold" if threshold is None else "no rate at which every seed failed" if div is None else "no models"
        return Claim(name, f"undefined on this grid: {why}", bound, False, unresolved=True)
    best = max(means, key=means.get)
    live = _live(rows)
    accs = {e: [r["val_acc"] for r in live if r["eta0"] == e] for e in means}
    zone = [e for e in means if e == best or (len(accs[e]) > 1 and len(accs[best]) > 1
                                             and gen.mean_difference_ci(accs[best], accs[e])[1][0] <= 0)]
    return Claim(name, f"η* = {best:g} (mean {100 * means[best]:.1f} %), η_div = {div:g} ({div / best:.3g}x η*), "
                       f"η_s = {threshold:g} (η*/η_s = {best / threshold:.3g}); rates not significantly below the best: "
                       f"{min(zone):g}–{max(zone):g}", bound,
                 bool(div / best <= near and best / threshold >= far))


def switched(record: Mapping, accuracy: float = 0.9) -> bool:
    """Whether a run with an accuracy-triggered reduction reached ``accuracy`` (so it switched)."""
    return bool(max(record["history"]["train_acc"], default=0.0) >= accuracy)


def claim_accuracy_reduction(pairs: Sequence[tuple[Mapping, Mapping]], *, min_pairs: int = 5) -> Claim:
    """Claim 7 (§4.2): "with extremely large learning rates, switching to a lower η for the final
    20 % of training (from ~90 % accuracy) may improve generalization". ``pairs``: (constant-η0
    row, reduced row) of :func:`eoslib.grid.summary_rows` for the same η0 and seed,
    each reduced row with ``switched`` (it reached 90 % and switched). Read as "improves on
    average": the mean paired difference of validation accuracy (reduced − constant) over the
    switched pairs in which neither run failed, with a bootstrap interval above 0 (below 0: FAIL;
    containing 0: UNRESOLVED). The measured text adds the runs the switch let complete.
    UNRESOLVED with fewer than ``min_pairs`` pairs."""
    name = ("§4.2: with extremely large η, switching to a lower η for the final ~20 % of training (from ~90 % "
            "accuracy) improves validation accuracy")
    bound = (f"mean paired difference > 0 (95 % interval above 0; below 0: FAIL; containing 0: UNRESOLVED), "
             f"{min_pairs}+ switched pairs")
    used = [(c, r) for c, r in pairs if r["switched"] and not c["failed"] and not r["failed"]]
    rescued = sum(r["completed"] and not c["completed"] for c, r in pairs if r["switched"])
    if len(used) < min_pairs:
        return Claim(name, f"{len(used)} switched pairs of {len(pairs)}: too few", bound, False, unresolved=True)
    d = np.array([r["val_acc"] - c["val_acc"] for c, r in used])
    lo, hi = gen.bootstrap_ci(lambda i: d[i].mean(), d.size)
    both = np.array([r["val_acc"] - c["val_acc"] for c, r in used if c["completed"] and r["completed"]])
    context = "no pair in which both completed"
    if both.size:
        blo, bhi = gen.bootstrap_ci(lambda i: both[i].mean(), both.size)
        context = (f"over the {both.size} pairs in which both completed: {100 * both.mean():+.2f} "
                   f"[{100 * blo:+.2f}, {100 * bhi:+.2f}]")
    return Claim(name, f"{len(used)} switched pairs (of {len(pairs)}; same η0 and seed; a failed run leaves its pair out): "
                       f"reduced − constant = {100 * d.mean():+.2f} points [{100 * lo:+.2f}, {100 * hi:+.2f}], better in "
                       f"{int((d > 0).sum())}, worse in {int((d < 0).sum())}; {context}; {rescued} run(s) that hovered or "
                       f"failed at constant η completed after the switch", bound, bool(lo > 0),
                 unresolved=not hi < 0 and not lo > 0)


def correlations(rows) -> dict[str, tuple[float, tuple[float, float]]]:
    """Spearman's ρ of validation error with η0, S at completion and ρ, with intervals (NaN
    with fewer than 3 models)."""
    live = _live(rows)
    err = [1 - r["val_acc"] for r in live]
    nan = (float("nan"), (float("nan"), float("nan")))
    return {k: gen.spearman_ci([r[k] for r in live], err) if len(live) >= 3 else nan
            for k in ("eta0", "sharpness", "rho")}


def _sign_claim(claim: str, measured: str, lo: float, hi: float) -> Claim:
    """A claim of a positive effect decided on its interval: PASS above 0, FAIL below 0,
    UNRESOLVED when it contains 0 or is undefined (NaN: too few models, or constant values)."""
    return Claim(claim, measured, "interval above 0 (below 0: FAIL; containing 0: UNRESOLVED)", bool(lo > 0),
                 unresolved=not (lo > 0 or hi < 0))


def claim_sharpness(corr: Mapping) -> Claim:
    """Claim 4: lower S at completion goes with higher accuracy (ρ(S, error) > 0)."""
    rho, (lo, hi) = corr["sharpness"]
    return _sign_claim("Lower sharpness at completion goes with higher accuracy",
                       f"Spearman ρ(S, validation error) = {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]", lo, hi)


def claim_rho(corr: Mapping) -> Claim:
    """Claim 5: ρ has the paper's sign: more rotation (lower ρ) with lower error, ρ(ρ, error) > 0."""
    rho, (lo, hi) = corr["rho"]
    return _sign_claim("ρ (eigenvector similarity) correlates with validation error with the paper's sign "
                       "(more rotation, better generalization)",
                       f"Spearman ρ(ρ, validation error) = {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]", lo, hi)


def _over_completed(claim: Claim, rows, key: str) -> Claim:
    """``claim`` (4 or 5, computed over :func:`completed_models`) with its measured text saying so."""
    n = sum(bool(np.isfinite(r[key])) for r in completed_models(rows))
    return claim._replace(measured=f"{claim.measured} over {n} completed models{left_out_text(rows, key)}")


def claims_table(rows, threshold: float | None, *, window_end: str = "incomplete") -> ClaimsTable:
    """Claims 1-6 (claims 1-3 and 6 are UNRESOLVED when no rate reached 2/η in most seeds: no
    threshold); ``window_end``: claim 2's window (:func:`rise_end`). Claims 4 and 5 (Figure 12a)
    rank the :func:`completed_models` only: S and the validation accuracy *at completion*."""
    corr = correlations(completed_models(rows))
    if threshold is None:
        none = [Claim(name, "no rate reached 2/η in most seeds (no threshold)", "a threshold", False,
                      unresolved=True)
                for name in ("Flat below the threshold", "Rise past the threshold", "Goldilocks")]
    else:
        none = [claim_flat_below(rows, threshold), claim_rise_above(rows, threshold, window_end=window_end),
                claim_goldilocks(rows, threshold)]
    return ClaimsTable([*none, _over_completed(claim_sharpness(corr), rows, "sharpness"),
                        _over_completed(claim_rho(corr), rows, "rho"), claim_orders(rows, threshold)])


def reduction_pairs(rows: Sequence[Mapping], red_records: Sequence[Mapping]) -> list[tuple[dict, dict]]:
    """Section 4.2's pairs: each switched run (a row of ``red_records``, with ``switched``: the
    epoch of its switch or None) with the constant-rate row of the same η0 and seed in ``rows``;
    a switched run without one is left out."""
    constant = {(r["eta0"], r["seed"]): r for r in rows}
    return [(constant[key], {**row, "switched": switched(rec)})
            for rec, row in zip(red_records, gen.summary_rows(red_records))
            if (key := (row["eta0"], row["seed"])) in constant]


def grid_claims(rows: Sequence[Mapping], threshold: float | None, red_records: Sequence[Mapping]) -> ClaimsTable:
    """Claims 1-7 of a grid (:func:`claims_table`) and its Section 4.2 runs
    (:func:`claim_accuracy_reduction` over :func:`reduction_pairs`)."""
    table = claims_table(rows, threshold)
    return ClaimsTable([*table.claims, claim_accuracy_reduction(reduction_pairs(rows, red_records))])


def fill_differences(rows: Sequence[Mapping], other: Sequence[Mapping]) -> str:
    """How two fills of one grid differ model by model (same η0 and seed), as prose: how many
    end with another validation accuracy, by how much (median over those), and how many
    changed fate (completed / failed / hovered)."""
    fate = lambda r: "failed" if r["failed"] else "completed" if r["completed"] else "hovered"  # noqa: E731
    by = {(r["eta0"], r["seed"]): r for r in other}
    both = [(r, by[k]) for r in rows if (k := (r["eta0"], r["seed"])) in by]
    acc = [abs(a["val_acc"] - b["val_acc"]) for a, b in both
           if a["val_acc"] is not None and b["val_acc"] is not None and a["val_acc"] != b["val_acc"]]
    fates = sum(fate(a) != fate(b) for a, b in both)
    median = f" (median difference {100 * float(np.median(acc)):.1f} points)" if acc else ""
    return (f"of the {len(both)} models both fills ran, {len(acc)} end with another validation accuracy{median} "
            f"and {fates} with another fate (completed, failed or hovered)")


def _minus(text: str) -> str:
    """``text`` with its minus signs typeset (U+2212)."""
    return text.replace("-", "\u2212")


def _rate(eta: float) -> str:
    """A learning rate as the text quotes it (3 significant digits)."""
    return f"{eta:.3g}"


def _span(values: Sequence[float], fmt, sep: str = "\u2013") -> str:
    """``"lo–hi"`` of the finite ``values`` through ``fmt`` (one value when both read alike,
    ``"none"`` without any)."""
    finite = [v for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return "none"
    lo, hi = fmt(min(finite)), fmt(max(finite))
    return lo if lo == hi else f"{lo}{sep}{hi}"


def _pct(acc: float, spec: str = ".1f") -> str:
    """An accuracy (fraction) in percent, ``"78.3 %"`` (``"none"`` when NaN)."""
    return f"{100 * acc:{spec}} %" if acc is not None and np.isfinite(acc) else "none"


def _num(x: float) -> str:
    """A sharpness or similar figure: 3 significant digits, no exponent (``"196"``, ``"7.93"``)."""
    if x is None or not np.isfinite(x):
        return "none"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _interval(value: float, lo: float, hi: float, spec: str = "+.2f", scale: float = 1.0) -> str:
    """``"+0.43 [+0.31, +0.54]"`` with typeset minus signs."""
    return _minus(f"{scale * value:{spec}} [{scale * lo:{spec}}, {scale * hi:{spec}}]")


def _and(items: Sequence[str]) -> str:
    """``"a, b and c"`` (``"none"`` without items)."""
    items = list(items)
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _reach_text(rows: Sequence[Mapping], threshold: float | None) -> str:
    """How many seeds (that did not fail) reach 2/η0 at the threshold and the rates after it, up
    to the rate from which every seed that did not fail reaches it."""
    if threshold is None:
        return "no rate has most of its seeds reach it"
    rates = sorted({r["eta0"] for r in rows if r["eta0"] >= threshold})
    counts = []
    for eta in rates:
        mine = [r for r in rows if r["eta0"] == eta and not r["failed"]]
        counts.append((sum(r["reached"] for r in mine), len(mine)))
    full = [k == n for k, n in counts]
    first_all = next((i for i in range(len(rates)) if all(full[i:])), len(rates))
    parts = []
    i = 0
    while i < first_all:
        j = i
        while j + 1 < first_all and counts[j + 1] == counts[i]:
            j += 1
        k, n = counts[i]
        parts.append(f"{k} of {n} seeds reach it" if i == 0 else
                     f"at {_and([_rate(e) for e in rates[i:j + 1]])}, {k} of {n}")
        i = j + 1
    if first_all < len(rates):
        parts.append("every seed reaches it" + (", and at every larger rate every seed that did not fail"
                                                if first_all + 1 < len(rates) else "") if first_all == 0 else
                     f"from {_rate(rates[first_all])} on, every seed that did not fail")
    return "; ".join(parts[:-1]) + ("; and " if len(parts) > 1 else "") + parts[-1] if parts else "none"


def _bands(live: Sequence[Mapping], key: str, edges: Sequence[float], fmt) -> str:
    """The mean of ``key`` over the models of each band ``[edges[i], edges[i+1])`` of η0 that
    has models: ``"78.5 % (0.00621–0.01), 79.9 % (0.01–0.05) and ..."``."""
    parts = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        values = [r[key] for r in live if lo <= r["eta0"] < hi and np.isfinite(r[key])]
        if values:
            parts.append(f"{fmt(float(np.mean(values)))} ({_rate(lo)}\u2013{_rate(hi)})")
    return _and(parts)


def _mean(values) -> float:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _rise_prose(rows: Sequence[Mapping], threshold: float | None, window_end: str = "incomplete") -> dict[str, str]:
    """Claim 2's values for :func:`prose_values` (:func:`rise_statistics`, :func:`rise_verdict`)."""
    s = rise_statistics(rows, threshold, window_end=window_end)
    verdict, reading = rise_verdict(s)
    out = {}
    for key, spec, scale in (("rise", "+.1f", 100), ("rise_all", "+.1f", 100), ("jump", "+.1f", 100),
                             ("shape", "+.2f", 1)):
        v, (lo, hi) = s[key]
        out[key] = _interval(v, lo, hi, spec, scale) if np.isfinite([v, lo, hi]).all() else "none"
    for key in ("r2_step", "r2_ramp"):
        out[key] = _minus(f"{s[key]:.2f}") if np.isfinite(s[key]) else "none"
    out.update(n_window=str(s["n_window"]), n_rates_window=str(s["n_rates_window"]), rise_rates=str(RISE_RATES),
               rise_verdict={"PASS": "holds", "FAIL": "fails", "UNRESOLVED": "cannot be decided"}[verdict],
               rise_reading=reading)
    return out


def prose_values(rows: Sequence[Mapping], threshold: float | None, *, start: float, factor: float,
                 bands: Sequence[float] = (0.01, 0.05, 0.1, 0.2), extra_rows: Sequence[Mapping] = (),
                 store_records: int = 0, store_bytes: int = 0, reference: float | None = None,
                 corr: Mapping | None = None, draws: int = 5000, window_end: str = "incomplete") -> dict[str, str]:
    """The measured values chapter 4's discussion quotes, as text to glue into it (``{glue:md}``).

    ``rows``: :func:`eoslib.grid.summary_rows` of the grid's models; ``threshold`` its
    :func:`eoslib.grid.threshold_rate`; ``start`` and ``factor`` the paper's first rate
    and the grid's ratio; ``bands``: the upper edges of the bands of η0 the text averages over
    (the first band starts at the threshold); ``extra_rows``: the rows of the store's records
    outside the grid; ``store_records`` / ``store_bytes``: the store's size; ``reference``:
    chapter 3's threshold; ``corr``: :func:`correlations` of ``rows`` when already computed;
    ``draws``: the permutations of claim 1's test (as :func:`claim_flat_below`); ``window_end``:
    claim 2's window (:func:`rise_end`). Keys:

    - ``n_models``, ``n_rates``, ``first_rate``, ``last_rate``: the grid; ``n_below_start`` /
      ``n_from_start``: its rates below and from ``start``;
    - ``end_rate``, ``end_diverged``, ``end_dead``, ``end_how``: the first rate at which every
      seed failed (``"none"``) and how its seeds failed (counts, and as a phrase); ``n_dead``,
      ``dead_min``, ``dead_phrase``: the dead networks, the smallest rate with one, and both as a
      phrase; ``extra_runs``: the store's runs outside the grid, as a phrase;
    - ``threshold``, ``reach``: the threshold and the seeds reaching 2/η0 there and after it
      (a phrase); ``vs_reference``: ``"within one grid step of"`` chapter 3's threshold or not;
      ``start_side``: where ``start`` lies relative to the threshold (a phrase);
    - ``n_below``, ``n_rates_below``, ``acc_below``, ``flat_rho``, ``flat_p``, ``flat_verdict``:
      claim 1 (the models below the threshold, their mean accuracy, Spearman's ρ with log η0, its
      permutation p, ``"no significant trend"`` or ``"a significant trend"``);
    - ``cut``: :func:`rise_end` (the first rate with a seed that did not complete); ``acc_past``:
      the mean accuracy of the models that did not fail from ``cut`` on; claim 2
      (:func:`rise_statistics`): ``rise`` (the window's mean minus the mean below, points, with
      its interval), ``rise_all`` (the same over every rate above the threshold), ``jump`` (the
      ``rise_rates`` rates on each side of the threshold), ``n_window`` / ``n_rates_window`` (the
      window's models and rates), ``r2_step`` / ``r2_ramp`` and ``shape`` (the step's R² minus
      the ramp's, with its interval), ``rise_verdict`` (``"holds"`` / ``"fails"`` /
      ``"cannot be decided"``) and ``rise_reading`` (:func:`rise_verdict`'s reading);
      ``acc_bands``: the mean accuracy per band; ``spread``: the median over the rates from the
      threshold to ``cut`` of the seeds' standard deviation of accuracy (points); ``corr_eta``:
      Spearman's ρ of the validation error with η0 and its interval (over :func:`completed_models`);
    - ``best_acc``, ``best_rate``, ``last_acc``, ``last_live_rate``: claim 3; ``n_hover``: the
      models that neither completed nor failed; ``hover_high`` / ``hover_high_acc``: those of
      them past 90 % training accuracy and their span, ``hover_low`` / ``hover_low_acc``: the others;
      ``hover_chance``: those at chance (training accuracy below :data:`AUTHORS_LOW_ACCURACY` after
      at least :data:`AUTHORS_LOW_EPOCHS` epochs, the authors' window);
      ``gold_completed_best`` / ``gold_completed_best_rate`` and ``gold_completed_acc`` /
      ``gold_completed_rate``: claim 3's best mean and its mean at the largest rate, over the
      :func:`completed_models` alone;
    - ``s_below``, ``s_bands``, ``s_past``, ``corr_s``, ``s_verdict``: the mean sharpness at
      completion below the threshold, per band and from ``cut`` on, claim 4's correlation and
      its reading; ``rho_below``, ``rho_bands``, ``rho_past``, ``corr_rho``, ``rho_verdict``:
      the same for ρ (claim 5); all over the ``n_completed`` :func:`completed_models`;
      ``n_not_completed``: the models that did not fail but ran to the epoch cap;
      ``corr_s_all`` / ``corr_rho_all`` and ``s_verdict_all`` / ``rho_verdict_all``: claims 4
      and 5's correlations and verdicts with those models too;
    - ``store_records``, ``store_mb``: the store's records and megabytes.
    """
    thr = threshold if threshold is not None else float("inf")
    edges = [thr, *[b for b in bands if b > thr]]
    corr = correlations(completed_models(rows)) if corr is None else corr
    cut = rise_end(rows, window_end, threshold)
    out = _grid_values(rows, start, extra_rows, store_records, store_bytes)
    out.update(_threshold_values(rows, threshold, start, factor, reference, draws))
    out.update(_rise_values(rows, threshold, cut, edges, corr, window_end))
    out.update(_goldilocks_values(rows))
    out.update(_correlation_values(rows, thr, cut, edges, corr))
    return out


def _grid_values(rows, start: float, extra_rows, store_records: int, store_bytes: int) -> dict[str, str]:
    """:func:`prose_values`' keys on the grid, its end and the store (its docstring)."""
    rates = sorted({r["eta0"] for r in rows})
    dead_rows = [r for r in rows if r.get("dead")]
    all_failed = [e for e in rates if all(r["failed"] for r in rows if r["eta0"] == e)]
    end = [r for r in rows if all_failed and r["eta0"] == all_failed[0]]
    out = {
        "n_models": str(len(rows)), "n_rates": str(len(rates)),
        "first_rate": _rate(rates[0]) if rates else "none", "last_rate": _rate(rates[-1]) if rates else "none",
        "n_below_start": str(sum(e < start for e in rates)), "n_from_start": str(sum(e >= start for e in rates)),
        "end_rate": _rate(all_failed[0]) if all_failed else "none",
        "end_diverged": str(sum(r["diverged"] for r in end)), "end_dead": str(sum(bool(r.get("dead")) for r in end)),
        "n_dead": str(len(dead_rows)), "dead_min": _rate(min(r["eta0"] for r in dead_rows)) if dead_rows else "none",
        "store_records": str(store_records), "store_mb": f"{store_bytes / 1e6:.1f}",
    }
    out["end_how"] = _failures(end) if end else "none"
    out["dead_phrase"] = (f"{len(dead_rows)} of the {len(rows)} models died, all at η0 ≥ {out['dead_min']}" if dead_rows
                          else f"none of the {len(rows)} models died")
    extra_rates = sorted({r["eta0"] for r in extra_rows})
    out["extra_runs"] = (
        f"the {len(extra_rows)} runs of the {len(extra_rates)} rates after {out['last_rate']} "
        f"({_span(extra_rates, _rate)}, " + ("every seed failed" if all(r["failed"] for r in extra_rows) else
                                              f"{sum(r['failed'] for r in extra_rows)} failed")
        + (f": {_failures(extra_rows)}" if any(r["failed"] for r in extra_rows) else "") + ")"
        if extra_rows else "no other runs")
    return out


def _failures(rows) -> str:
    """How ``rows`` failed, as a phrase: ``"3 by divergence and 2 by a dead network"``."""
    diverged, dead = sum(bool(r["diverged"]) for r in rows), sum(bool(r.get("dead")) for r in rows)
    parts = [f"{diverged} by divergence"] * bool(diverged) + [f"{dead} by a dead network"] * bool(dead)
    return " and ".join(parts) or "none"


def _threshold_values(rows, threshold: float | None, start: float, factor: float, reference: float | None,
                      draws: int) -> dict[str, str]:
    """:func:`prose_values`' keys on the threshold and claim 1 (its docstring)."""
    out = {"threshold": _rate(threshold) if threshold is not None else "none", "reach": _reach_text(rows, threshold)}
    out["vs_reference"] = ("within one grid step of" if threshold is not None and reference is not None
                           and reference / factor <= threshold <= reference * factor else "more than a grid step from")
    out["start_side"] = ("every rate from the paper's first one up is past the threshold" if threshold is not None
                         and threshold <= start else "the threshold lies above the paper's first rate")
    thr = threshold if threshold is not None else float("inf")
    below = [r for r in _live(rows) if r["eta0"] < thr]
    out.update(n_below=str(len(below)), n_rates_below=str(len({r["eta0"] for r in below})),
               acc_below=_pct(_mean([r["val_acc"] for r in below])))
    if threshold is not None and len(below) >= 4:
        rho, p = gen.permutation_trend(np.log([r["eta0"] for r in below]), [r["val_acc"] for r in below],
                                       draws=draws)
        out.update(flat_rho=_minus(f"{rho:+.2f}"), flat_p=f"{p:.2f}",
                   flat_verdict="no significant trend" if p >= 0.05 else "a significant trend")
    else:
        out.update(flat_rho="none", flat_p="none", flat_verdict="too few models to test")
    return out


def _rise_values(rows, threshold: float | None, cut: float, edges: Sequence[float], corr: Mapping,
                 window_end: str) -> dict[str, str]:
    """:func:`prose_values`' keys on claim 2, the bands and the spread (its docstring)."""
    live, thr = _live(rows), edges[0]
    out = {"cut": _rate(cut) if np.isfinite(cut) else "none",
           "acc_past": _pct(_mean([r["val_acc"] for r in live if r["eta0"] >= cut]), ".0f")}
    out.update(_rise_prose(rows, threshold, window_end))
    out["acc_bands"] = _bands(live, "val_acc", edges, _pct)
    stds = [float(np.std([r["val_acc"] for r in live if r["eta0"] == e], ddof=1)) for e in sorted({r["eta0"] for r in rows})
            if thr <= e < cut and sum(r["eta0"] == e for r in live) > 1]
    out["spread"] = f"{100 * np.median(stds):.1f}" if stds else "none"
    rho, (lo, hi) = corr["eta0"]
    out["corr_eta"] = _interval(rho, lo, hi)
    return out


def _goldilocks_values(rows) -> dict[str, str]:
    """:func:`prose_values`' keys on claim 3 and the hovering seeds (its docstring)."""
    means = rate_means(rows)
    if means:
        best, last = max(means, key=means.get), max(means)
        out = dict(best_acc=_pct(means[best]), best_rate=_rate(best), last_acc=_pct(means[last], ".0f"),
                   last_live_rate=_rate(last))
    else:
        out = dict(best_acc="none", best_rate="none", last_acc="none", last_live_rate="none")
    hover = [r for r in rows if not r["completed"] and not r["failed"]]
    out["hover_chance"] = str(sum((r.get("train_acc") or 0) < AUTHORS_LOW_ACCURACY and r["epochs"] >= AUTHORS_LOW_EPOCHS
                                  for r in hover))
    done = rate_means(completed_models(rows))
    if done:
        best, last = max(done, key=done.get), max(done)
        out.update(gold_completed_acc=_pct(done[last]), gold_completed_rate=_rate(last),
                   gold_completed_best=_pct(done[best]), gold_completed_best_rate=_rate(best))
    else:
        out.update(gold_completed_acc="none", gold_completed_rate="none", gold_completed_best="none",
                   gold_completed_best_rate="none")
    high = [r for r in hover if (r.get("train_acc") or 0) >= 0.9]
    low = [r for r in hover if r not in high]
    out.update(n_hover=str(len(hover)), hover_high=str(len(high)), hover_low=str(len(low)),
               hover_high_acc=_span([r.get("train_acc") for r in high], lambda a: f"{100 * a:.1f}") + " %",
               hover_low_acc=_span([r.get("train_acc") for r in low], lambda a: f"{100 * a:.1f}") + " %")
    return out


def _correlation_values(rows, thr: float, cut: float, edges: Sequence[float], corr: Mapping) -> dict[str, str]:
    """:func:`prose_values`' keys on claims 4 and 5 (its docstring): over :func:`completed_models`."""
    live = completed_models(rows)
    below = [r for r in live if r["eta0"] < thr]
    out = {}
    for key, short, claim_sign in (("sharpness", "s", "lower $S$ goes with lower error"),
                                   ("rho", "rho", "it has the paper's sign")):
        out[f"{short}_below"] = _num(_mean([r[key] for r in below]))
        out[f"{short}_bands"] = _bands(live, key, edges, _num)
        out[f"{short}_past"] = _num(_mean([r[key] for r in live if r["eta0"] >= cut]))
        rho, (lo, hi) = corr[key]
        out[f"corr_{short}"] = _interval(rho, lo, hi)
        out[f"{short}_verdict"] = (claim_sign + (", but weakly" if abs(rho) < 0.3 else "") if lo > 0 else
                                   "the interval reaches 0: no sign is resolved" if hi > 0 else
                                   "the sign is the opposite of the paper's")
    every = correlations(rows) if len(live) < len(_live(rows)) else corr
    for key, short in (("sharpness", "s"), ("rho", "rho")):
        rho, (lo, hi) = every[key]
        out[f"corr_{short}_all"] = _interval(rho, lo, hi)
        out[f"{short}_verdict_all"] = _sign_claim("", "", lo, hi).verdict
    out.update(n_completed=str(len(live)), n_not_completed=str(len(_live(rows)) - len(live)))
    return out

"""Chapter 9 ("Beyond the paper: the squared loss"): chapter 4's learning-rate grid (Figure 5a,
Section 4.1) and chapter 3's Figure 4 (Section 3.3, progressive flattening) with the loss
replaced by the squared loss on one-hot targets, everything else kept (the MLP, the first
1,000 Fashion-MNIST images, the authors' initialization, full-batch GD to completion).

The loss is ``eoslib.losses.mse``: ½‖f(x) − e_y‖² per example, averaged over the examples, the
scaling of Cohen et al. 2021 (their code's ``SquaredLoss`` sums ``0.5 * (out - target) ** 2`` over
a batch's outputs and examples, and the full-batch loss divides that sum by the data set's size).
The claims are computed by the same functions as those of chapters 3 and 4
(:mod:`eoslib.chapters.generalization.claims`, :mod:`eoslib.chapters.flattening.claims`), on the squared-loss
records and, beside them, on the cross-entropy records of the committed grid, so that the two
verdicts of a claim are one statistic on two data sets. This module imports neither chapter:
the notebook calls their functions with this module's configs (:func:`grid_base`,
:func:`switch_base`, :func:`figure4_settings`) and hands their results to :func:`prefixed` and
:func:`prose_values`. The runs live in the committed store :data:`STORE`: the grid's run records
(:func:`grid_base`) and Figure 4's (:func:`switch_base`), each keyed by its whole config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from eoslib import grid as lr_grid
from eoslib import sweep
from eoslib.monitors import StopAfterPeak
from eoslib.report import Claim, ClaimsTable
from eoslib.results import ResultsStore, open_store
from eoslib.runs import RunConfig

__all__ = ["STORE", "LOSSES", "WINDOW_END", "PRESETS", "VALIDATORS", "Grid", "losses", "stores", "grid_base", "switch_base", "grid", "figure4_settings",
           "XENT_SWITCH_CHECK", "capped", "continued_config", "continue_capped", "prefixed", "figure4_passed", "claim_fitted", "continued_values", "side_by_side", "prose_values"]

STORE = lr_grid.MSE_STORE
"""The committed store of the chapter's runs, ``store/fmnist-mse/``."""
LOSSES = {"cross-entropy": "xent", "squared loss": "mse"}
"""The two losses, by the name the chapter gives them."""
WINDOW_END = "failed"
"""Claim 2's window in this chapter, for both losses (:func:`eoslib.chapters.generalization.claims.rise_end`):
up to the first rate with a failed seed. Chapter 4 ends it at the first rate with a seed that did
not complete; under the squared loss stable runs already stop at the epoch cap a few images short
of completion, which would leave that window empty."""
XENT_STORES = {"grid": "fmnist-generalization", "figure4": "flattening-switch"}
"""Where chapters 4 and 3 keep the cross-entropy runs the chapter sets beside its own."""

_CI: dict[str, Any] = dict(
    seeds=5, seed=0, start=0.01, factor=1.1, below=0, max_rates=80, rates_per_batch=8, max_epochs=15000,
    compare=True, xent_below=8, n_train=1000, n_eval=200, weight_init="flax", fitted_mse=0.05,
    eta_ref=0.01, xent_eta_ref=0.005, ref_max_epochs=12000, eta0_factors=[2.0, 3.0, 5.0, 8.0], switch_grid=[150, 300, 600, 1200, 2400],
    eta_small=0.01, switch_seeds=[0, 1, 2], eig_every=50, peak_window=500, switch_max_epochs=8000,
    extend_epochs=60000)
PRESETS: dict[str, dict[str, Any]] = {
    "ci": _CI,  # every run is in the committed store: ci only reads it
    "paper": _CI,
    "tiny": {**_CI, "compare": False, "seeds": 2, "start": 0.05, "factor": 6.0, "xent_below": 0, "max_rates": 2, "rates_per_batch": 2, "max_epochs": 300,
             "n_train": 200, "n_eval": 50, "eta_ref": 0.005, "xent_eta_ref": 0.005, "ref_max_epochs": 600, "eta0_factors": [8.0],
             "switch_grid": [100], "switch_seeds": [0], "peak_window": 100, "switch_max_epochs": 600,
             "extend_epochs": 600},
}
"""Chapter 9's profiles (its parameters cell documents each value)."""

VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    **{k: lr_grid.FMNIST_GRID_VALIDATORS[k] for k in (  # the grid's: chapter 4's checks
        "seeds", "seed", "start", "factor", "below", "max_rates", "rates_per_batch", "max_epochs", "n_train", "n_eval",
        "weight_init")},
    "compare": lambda v: None if isinstance(v, bool) else "must be True or False",
    "xent_below": lambda v: None if v >= 0 else "must be >= 0",
    "fitted_mse": lambda v: None if v > 0 else "must be positive",
    "eta_ref": lambda v: None if v > 0 else "must be positive",
    "xent_eta_ref": lambda v: None if v > 0 else "must be positive",
    "ref_max_epochs": lambda v: None if v >= 100 else "must be >= 100",
    "eta0_factors": lambda v: None if v and all(f > 1 for f in v) else "must be factors > 1",
    "switch_grid": lambda v: None if v and all(e >= 1 for e in v) and list(v) == sorted(v) else "must be increasing epochs >= 1",
    "eta_small": lambda v: None if v > 0 else "must be positive",
    "switch_seeds": lambda v: None if v and all(s >= 0 for s in v) else "must be seeds >= 0",
    "eig_every": lambda v: None if v >= 1 else "must be >= 1",
    "peak_window": lambda v: None if v >= 1 else "must be >= 1",
    "switch_max_epochs": lambda v: None if v >= 10 else "must be >= 10",
    "extend_epochs": lambda v: None if v == 0 or v >= 10 else "must be 0 (none) or >= 10",
}


def losses(P: Mapping[str, Any]) -> dict[str, str]:
    """The losses the chapter runs: the squared loss, and cross-entropy beside it when
    ``P["compare"]`` (read from chapters 3 and 4's stores at their parameters)."""
    return {name: loss for name, loss in LOSSES.items() if P["compare"] or loss == "mse"}


def stores(where: str | None, profile: str) -> dict[str, ResultsStore]:
    """The chapter's stores (``where``, ``profile``: :func:`eoslib.results.open_store`): its own
    (``"mse"``) and those of chapters 4 and 3 for the cross-entropy runs (``"xent grid"``,
    ``"xent figure4"``)."""
    return {"mse": open_store(STORE, where, profile=profile, compact_points=200),
            "xent grid": open_store(XENT_STORES["grid"], where, profile=profile, compact_points=200),
            "xent figure4": open_store(XENT_STORES["figure4"], where, profile=profile, compact_points=500)}


def grid_base(P: Mapping[str, Any], loss: str = "mse") -> RunConfig:
    """Figure 5a's run under ``loss`` (``"mse"``: :func:`eoslib.grid.fmnist_mse_base`;
    ``"xent"``: chapter 4's, :func:`eoslib.grid.fmnist_base`)."""
    make = lr_grid.fmnist_mse_base if loss == "mse" else lr_grid.fmnist_base
    return make(n_train=P["n_train"], n_eval=P["n_eval"], max_epochs=P["max_epochs"], weight_init=P["weight_init"])


XENT_SWITCH_CHECK = "legacy"
"""The missed-eigenvalue check of chapter 3's stored Figure 4 runs (its ``ci`` preset's
``eig_check``; ``tests/test_squared_loss.py`` checks that they agree)."""


def switch_base(P: Mapping[str, Any], loss: str = "mse") -> RunConfig:
    """Figure 4's run under ``loss``: chapter 3's settings (top eigenvalue every ``eig_every``
    epochs, stopped ``peak_window`` epochs after S last rose); the adaptive check under MSE
    (a new store), chapter 3's check for cross-entropy (its stored runs, :data:`XENT_SWITCH_CHECK`)."""
    check = "adaptive" if loss == "mse" else XENT_SWITCH_CHECK
    return RunConfig(model="mlp", weight_init=P["weight_init"], dataset="fmnist", loss=loss, n_train=P["n_train"],
                     n_eval=P["n_eval"], max_epochs=P["switch_max_epochs"], eig_every=P["eig_every"], eig_k=1,
                     eig_tol=1e-3, eig_check=check, monitors=(StopAfterPeak(P["peak_window"]),),
                     sharpness_at_end=False)


class Grid(NamedTuple):
    """A learning-rate grid of one loss (:func:`grid`)."""

    records: list[Mapping]
    """Every run of the grid, each capped run replaced by its continuation (``continued``)."""
    rows: list[dict]
    """:func:`eoslib.grid.summary_rows` of ``records``."""
    threshold: float | None
    """:func:`eoslib.grid.threshold_rate` of ``rows``."""
    continued: list[tuple[Mapping, Mapping]]
    """``(capped, continued)`` record pairs (:func:`continue_capped`); empty for cross-entropy."""


def grid(P: Mapping[str, Any], loss: str, store: ResultsStore, *, progress: bool | None = None) -> Grid:
    """The grid under ``loss``: η0 = ``start`` · ``factor``^k from k = −``below`` (``xent_below``
    for cross-entropy) until every seed failed (:func:`eoslib.grid.sweep_until_divergence`,
    at most ``max_epochs`` epochs per run); under the squared loss the runs that stopped at that
    cap short of completion are continued to ``extend_epochs`` (:func:`continue_capped`), while
    chapter 4's cross-entropy runs are its own. Reads ``store``, computes what it lacks."""
    below = P["below"] if loss == "mse" else P["xent_below"]
    records = lr_grid.sweep_until_divergence(
        grid_base(P, loss), range(P["seed"], P["seed"] + P["seeds"]), store, start=P["start"], factor=P["factor"],
        below=below, max_rates=P["max_rates"], rates_per_batch=P["rates_per_batch"], progress=progress)
    pairs: list = []
    if loss == "mse":
        records, pairs = continue_capped(records, P["extend_epochs"], store, progress=progress)
    rows = lr_grid.summary_rows(records)
    return Grid(records, rows, lr_grid.threshold_rate(rows), pairs)


def capped(records: Sequence[Mapping]) -> list[Mapping]:
    """The records of runs that neither failed (:func:`eoslib.grid.failed`) nor
    completed: they stopped at their config's ``max_epochs``."""
    return [r for r in records if not lr_grid.failed(r) and not r["final"]["completed"]]


def continued_config(record: Mapping, max_epochs: int) -> RunConfig:
    """A run's config with its epoch cap raised to ``max_epochs``: the same run given more
    epochs (the cap decides only when it stops). Re-run in another vmapped batch, its
    trajectory is the capped one's up to rounding, and at the edge of stability rounding
    differences grow: such a re-run can complete before the old cap."""
    if max_epochs <= record["config"]["max_epochs"]:
        raise ValueError(f"extend_epochs={max_epochs} must exceed the run's cap {record['config']['max_epochs']}")
    return dataclasses.replace(RunConfig.from_dict(record["config"]), max_epochs=max_epochs)


def continue_capped(records: Sequence[Mapping], max_epochs: int, store: ResultsStore, *,
                    progress: bool | None = None) -> tuple[list[Mapping], list[tuple[Mapping, Mapping]]]:
    """``(records, pairs)``: ``records`` with each :func:`capped` run replaced by its
    :func:`continued_config` run (cap ``max_epochs``; one vmapped batch of those ``store``
    lacks, :func:`eoslib.sweep.sweep`), and the ``(capped, continued)`` record pairs.
    ``max_epochs`` 0: nothing is continued."""
    stopped = capped(records) if max_epochs else []
    configs = [continued_config(r, max_epochs) for r in stopped]
    longer = sweep.sweep(configs, store, batch_size=max(1, len(configs)), progress=progress) if configs else []
    swap = {r["key"]: rec for r, rec in zip(stopped, longer)}
    return [swap.get(r["key"], r) for r in records], list(zip(stopped, longer))


def figure4_settings(P: Mapping[str, Any], loss: str) -> dict[str, Any]:
    """The keywords of chapter 3's :func:`eoslib.chapters.flattening.experiment.figure4_study`
    that make its Figure 4 this chapter's under ``loss`` (with :func:`switch_base`'s config): the
    reference run at ``eta_ref`` (``xent_eta_ref`` for cross-entropy) and the chapter's grid of
    switches."""
    return dict(eta_ref=P["eta_ref"] if loss == "mse" else P["xent_eta_ref"], ref_max_epochs=P["ref_max_epochs"],
                eta0_factors=P["eta0_factors"], switch_grid=P["switch_grid"], seeds=P["switch_seeds"],
                eta_small=P["eta_small"])


def prefixed(table: ClaimsTable, loss: str) -> ClaimsTable:
    """``table`` (chapter 4's claims 1-6 on a grid's rows, claim 2's window ending at
    :data:`WINDOW_END`) with each claim's text prefixed with the loss."""
    return ClaimsTable([c._replace(claim=f"{loss}: {c.claim}") for c in table.claims])


def figure4_passed(table: ClaimsTable) -> list[bool]:
    """The verdicts that chapter 3's :func:`eoslib.chapters.flattening.claims.figure4_values`
    reads (its claims [2] and [3], Figure 4's two trends), from a side-by-side ``table``
    (chapter 4's six claims, then Figure 4's three); the others it does not read."""
    return [True, True, *(c.passed for c in table.claims[6:8]), True, True]


def claim_fitted(records: Sequence[Mapping], level: float, cap: int) -> Claim:
    """The chapter's premise (the reviewers asked for runs trained with the squared loss "to
    near-zero loss"): every run that did not fail (:func:`eoslib.grid.failed`) was
    trained to completion (training accuracy > 99.99 %: all the images) and ends with its
    training MSE below ``level``. ``records``: the grid's, capped runs continued past the grid's
    epoch cap ``cap`` (:func:`continue_capped`). The measured text gives how many completed,
    how many of them only after ``cap``, the training accuracy at which any others stopped and
    the final MSE of all of them. UNRESOLVED when every run failed."""
    claim = "Premise: every squared-loss run that did not fail is trained to completion, at a small loss"
    bound = f"every such run completes (100 % training accuracy) with training MSE < {level:g}"
    live = [r for r in records if not lr_grid.failed(r)]
    if not live:
        return Claim(claim, "every run failed", bound, False, unresolved=True)
    done = [r for r in live if r["final"]["completed"]]
    late = [r["final"]["epochs"] for r in done if r["final"]["epochs"] > cap]
    rest = [r["final"]["train_acc"] for r in live if not r["final"]["completed"]]
    mse = [r["final"]["train_loss"] for r in live]
    measured = (f"{len(done)}/{len(live)} completed"
                + (f", {len(late)} of them after the {cap:,}-epoch cap (continued; at epochs "
                   f"{min(late):,}–{max(late):,})" if late else "")
                + (f"; the other {len(rest)} stopped at their epoch cap at {100 * min(rest):.1f}–{100 * max(rest):.1f} % "
                   "training accuracy" if rest else "")
                + f"; final MSE median {np.median(mse):.3g}, largest {max(mse):.3g}")
    return Claim(claim, measured, bound, len(done) == len(live) and max(mse) < level)


def continued_values(pairs: Sequence[tuple[Mapping, Mapping]]) -> dict[str, str]:
    """What continuing the capped runs changed (``pairs``: :attr:`Grid.continued`): ``n_capped``
    (runs that stopped at the grid's cap), ``n_finished`` (of those, completed when continued),
    ``capped_errors`` (training images they still misclassified at the cap: range) and
    ``acc_change`` (validation accuracy at completion minus at the cap, in points: mean and
    range). ``"none"`` where no run was continued."""
    if not pairs:
        return {"n_capped": "0", "n_finished": "0", "capped_errors": "none", "acc_change": "none"}
    n = pairs[0][0]["config"]["n_train"]
    errors = [round((1 - a["final"]["train_acc"]) * n) for a, _ in pairs]
    change = [100 * (b["final"]["eval_acc"] - a["final"]["eval_acc"]) for a, b in pairs]
    return {"n_capped": str(len(pairs)), "n_finished": str(sum(b["final"]["completed"] for _, b in pairs)),
            "capped_errors": f"{min(errors)}–{max(errors)}",
            "acc_change": f"{np.mean(change):+.2f} points on average (from {min(change):+.1f} to {max(change):+.1f})"}


def side_by_side(mse: ClaimsTable, xent: ClaimsTable | None) -> str:
    """A Markdown table of the same claims' verdicts under each loss (claims in ``mse``'s
    order, matched by position: both tables are built alike); ``xent`` None: not compared."""
    lines = ["| # | claim (chapters 3 and 4) | cross-entropy | squared loss |", "|---|---|---|---|"]
    others = xent.claims if xent is not None else [None] * len(mse.claims)
    for i, (a, b) in enumerate(zip(others, mse.claims), 1):
        text = b.claim.split(": ", 1)[1]
        left = "not compared (`compare` is False)" if a is None else f"{a.verdict}: {a.measured}"
        lines.append(f"| {i} | {text} | {left} | {b.verdict}: {b.measured} |")
    return "\n".join(lines)


def _sharpness_values(records: Sequence[Mapping], rows: Sequence[Mapping]) -> dict[str, str]:
    """S(θ_0) (median over the runs), 2/S_max of the runs that never reached 2/η0 (median and
    range), S_max the largest recorded top eigenvalue of a run, and the most epochs a diverged
    run lasted."""
    s0 = [r["eigen"]["values"][0][0] for r in records if r["eigen"].get("values")]
    stable = [2 / max(v[0] for v in rec["eigen"]["values"]) for rec, row in zip(records, rows)
              if not row["reached"] and not row["failed"] and rec["eigen"].get("values")]
    diverged = [r["final"]["epochs"] for r in records if r["diverged"]]
    return {"s0": f"{np.median(s0):.1f}" if s0 else "none", "n_stable": str(len(stable)),
            "div_epochs": str(max(diverged)) if diverged else "none",
            "stable_threshold": (f"{np.median(stable):.4f} [{min(stable):.4f}, {max(stable):.4f}]"
                                 if stable else "none")}


def _comparison_values(tables: Mapping[str, ClaimsTable]) -> dict[str, str]:
    """Which claims (numbered as in the side-by-side table) have the same verdict under both
    losses, and which differ (``"none"``; ``"not compared"`` without cross-entropy)."""
    if "cross-entropy" not in tables:
        return {"same": "not compared", "differ": "not compared", "n_same": "not compared"}
    pairs = list(zip(tables["cross-entropy"].claims, tables["squared loss"].claims))
    same = [str(i) for i, (a, b) in enumerate(pairs, 1) if a.verdict == b.verdict]
    differ = [f"{i} ({a.verdict} under cross-entropy, {b.verdict} under the squared loss)"
              for i, (a, b) in enumerate(pairs, 1) if a.verdict != b.verdict]
    return {"same": ", ".join(same) or "none", "differ": "; ".join(differ) or "none",
            "n_same": f"{len(same)} of {len(pairs)}"}


def prose_values(grids: Mapping[str, Grid], claims: ClaimsTable, tables: Mapping[str, ClaimsTable],
                 chapter_values: Mapping[str, Mapping[str, str]], P: Mapping[str, Any]) -> dict[str, str]:
    """The measured values chapter 9's discussion quotes, as text to glue (``{glue:md}``).

    ``grids``: loss name -> :func:`grid`; ``claims``: the chapter's table (the premise first);
    ``tables``: loss name -> the side-by-side claims (chapter 4's six, then Figure 4's three);
    ``chapter_values``: loss name -> the values of chapters 3 and 4 on that loss's runs, which the
    notebook computes with their functions: chapter 4's
    :func:`eoslib.chapters.generalization.claims.prose_values` (``threshold``, ``acc_below``,
    ``rise``, ``best_acc``, ``end_rate``, ...) with claim 2's window at :data:`WINDOW_END`,
    ``rise_ch4`` (claim 2's verdict with chapter 4's window) and Figure 4's
    :func:`eoslib.chapters.flattening.claims.figure4_values` (``f4_verdict``, ``eta_c_frac``,
    ``f4_by_switch``, ...; given :func:`figure4_passed`). Keys, each prefixed ``mse_`` or
    ``xent_`` by loss: those values, and

    - ``s0``, ``n_stable``, ``stable_threshold`` and ``div_epochs`` (:func:`_sharpness_values`);
    - ``v1`` ... (the verdicts of the side-by-side claims).

    Unprefixed: ``premise`` (the fitted-loss claim's measurement), ``same`` / ``differ`` /
    ``n_same`` (:func:`_comparison_values`), the squared loss's :func:`continued_values`
    (``n_capped``, ``n_finished``, ``capped_errors``, ``acc_change``), the caps ``cap`` and
    ``extend_cap`` (parameters) and ``s0_ratio`` (the squared loss's S(θ_0) over
    cross-entropy's). Cross-entropy's keys are ``"not compared"`` when it was not run."""
    out = {"premise": claims.claims[0].measured, **_comparison_values(tables),
           **continued_values(grids["squared loss"].continued),
           "cap": f"{P['max_epochs']:,}", "extend_cap": f"{P['extend_epochs']:,}"}
    keys = set()
    for name, (records, rows, _, _) in grids.items():
        tag = LOSSES[name]
        values = {**chapter_values[name], **_sharpness_values(records, rows),
                  **{f"v{i}": c.verdict for i, c in enumerate(tables[name].claims, 1)}}
        out.update({f"{tag}_{k}": v for k, v in values.items()})
        keys |= set(values)
    for k in keys:
        out.setdefault(f"xent_{k}", "not compared")
    ratio = [float(out[f"{t}_s0"]) for t in ("mse", "xent") if out[f"{t}_s0"] not in ("none", "not compared")]
    out["s0_ratio"] = f"{ratio[0] / ratio[1]:.1f} times" if len(ratio) == 2 else "not compared"
    return out

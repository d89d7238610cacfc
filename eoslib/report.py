"""Claims tables and run records: how every chapter reports what it measured.

A chapter ends with a table of :class:`Claim` rows (the paper's claim, our
measured figure, the bound it is checked against, the verdict) and calls
:func:`record_run`, which hands the resolved parameters, the claims and the
machine's provenance to the book's execution tool (``tools/execute.py``) through
the file named by the ``EOSLIB_RUN_RECORD`` environment variable. The tool stores
them in the notebook's metadata, from which the "Reproducibility status" page is
generated.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = ["compare_tables", "moved_verdicts", "record_page_values", "certificate_values", "RUN_RECORD_ENV", "Claim", "wilson_interval", "proportion_claim", "ClaimsTable", "majority", "SeedVote", "seed_vote", "VerdictGrid",
           "record_run"]

RUN_RECORD_ENV = "EOSLIB_RUN_RECORD"


class Claim(NamedTuple):
    """One row of a chapter's claims table. ``not_run``: the claim needs runs that were not
    made (e.g. at the paper's scale); its verdict is ``NOT RUN``, never a PASS.
    ``unresolved``: what was measured cannot decide the claim (e.g. too few events for the
    bound, :func:`proportion_claim`); its verdict is ``UNRESOLVED``, never a PASS."""

    claim: str
    measured: str
    bound: str
    passed: bool
    not_run: bool = False
    unresolved: bool = False

    @property
    def verdict(self) -> str:
        if self.not_run:
            return "NOT RUN"
        if self.unresolved:
            return "UNRESOLVED"
        return "PASS" if self.passed else "FAIL"

    @classmethod
    def unmeasured(cls, claim: str, why: str, bound: str) -> Claim:
        """A claim whose runs were not made: ``why`` says which and at what scale."""
        return cls(claim, why, bound, False, True)


VERDICT_COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "NOT RUN": "#8c959f", "UNRESOLVED": "#9a6700"}


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion ``k/n`` (95 % for ``z = 1.96``;
    Wilson 1927), which stays inside [0, 1] and is not degenerate at ``k = 0`` or ``k = n``.
    ``(0, 1)`` when ``n = 0``."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def proportion_claim(claim: str, measured: str, counts: Sequence[tuple[int, int]], at_least: float,
                     bound: str) -> Claim:
    """A claim that each proportion ``k/n`` of ``counts`` is at least ``at_least``, decided on
    their Wilson 95 % intervals (:func:`wilson_interval`): PASS when every interval lies at or
    above the bound, FAIL when one lies below it, otherwise UNRESOLVED (the counts cannot tell
    the proportion from the bound). Deciding on the interval rather than on ``k/n`` keeps the
    verdict of a chaotic run, whose counts differ by an event or two between CPUs, the same on
    every machine unless the counts move by several events. ``measured`` gets the intervals."""
    intervals = [wilson_interval(k, n) for k, n in counts]
    passed = all(lo >= at_least for lo, _ in intervals)
    failed = any(hi < at_least for _, hi in intervals)
    measured += "; 95 % intervals " + ", ".join(f"[{lo:.0%}, {hi:.0%}]" for lo, hi in intervals)
    return Claim(claim, measured, bound, passed, unresolved=not (passed or failed))


class ClaimsTable:
    """A claims table that renders as HTML in the book and as text in a console."""

    def __init__(self, claims: Sequence[Claim]):
        self.claims = list(claims)

    @property
    def num_passed(self) -> int:
        return sum(c.passed for c in self.claims)

    def summary(self) -> str:
        """``"k/n claims PASS"`` followed by one verdict line per claim number."""
        lines = [f"{self.num_passed}/{len(self.claims)} claims PASS"]
        lines += [f"  ({i}) {c.verdict}" for i, c in enumerate(self.claims, start=1)]
        return "\n".join(lines)

    def verdict_values(self) -> dict[str, str]:
        """``{"verdict_<i>": "**<VERDICT>**"}`` for claim i (from 1): the glue names by which a
        chapter's prose quotes its own verdicts."""
        return {f"verdict_{i}": f"**{c.verdict}**" for i, c in enumerate(self.claims, start=1)}

    def __repr__(self) -> str:
        rows = [f"({i}) [{c.verdict}] {c.claim}\n    measured: {c.measured}\n    bound: {c.bound}"
                for i, c in enumerate(self.claims, start=1)]
        return "\n".join(rows)

    def _repr_html_(self) -> str:
        head = "<tr><th>#</th><th>Claim (paper)</th><th>Measured</th><th>Bound</th><th>Verdict</th></tr>"
        body = "".join(
            f"<tr><td>{i}</td><td>{html.escape(c.claim)}</td><td>{html.escape(c.measured)}</td>"
            f"<td>{html.escape(c.bound)}</td>"
            f"<td style='font-weight:bold;color:{VERDICT_COLOURS[c.verdict]}'>{c.verdict}</td></tr>"
            for i, c in enumerate(self.claims, start=1)
        )
        return f"<table class='eoslib-claims'>{head}{body}</table>"


def compare_tables(tables: Mapping[str, ClaimsTable]) -> str:
    """The verdicts of the same claims measured on several sets of runs (e.g. a store's fill and
    its refill), as a Markdown table: one row per claim (the first table's names; every table
    must have as many claims), one column per table, and a last column saying whether they
    agree. ``{name: table}`` in column order."""
    names, columns = list(tables), [tables[n].claims for n in tables]
    if len({len(c) for c in columns}) != 1:
        raise ValueError(f"the tables have {[len(c) for c in columns]} claims: compare like with like")
    lines = ["| # | claim | " + " | ".join(names) + " | |", "| --- | --- | " + " | ".join("---" for _ in names) + " | --- |"]
    for i, row in enumerate(zip(*columns), start=1):
        verdicts = [c.verdict for c in row]
        same = "same" if len(set(verdicts)) == 1 else "**moved**"
        lines.append(f"| {i} | {row[0].claim} | " + " | ".join(verdicts) + f" | {same} |")
    return "\n".join(lines)


def moved_verdicts(now: ClaimsTable, before: ClaimsTable) -> str:
    """The claims whose verdict differs between two tables of the same claims, as prose
    (``"claim 2 (FAIL → UNRESOLVED) and claim 4 (PASS → UNRESOLVED)"``; ``"no claim"``)."""
    moved = [f"claim {i} ({b.verdict} → {a.verdict})"
             for i, (a, b) in enumerate(zip(now.claims, before.claims), start=1) if a.verdict != b.verdict]
    if not moved:
        return "no claim"
    return moved[0] if len(moved) == 1 else ", ".join(moved[:-1]) + " and " + moved[-1]


def majority(num_seeds: int) -> int:
    """Seeds that must pass for a claim to PASS across ``num_seeds`` seeds: a strict majority."""
    return num_seeds // 2 + 1


class SeedVote(NamedTuple):
    """A claim checked on each of several seeds. ``seeds`` (N,), ``figures`` (N,) (the per-seed
    measured figure; NaN where a seed has none), ``passes`` (N,) and ``unresolved`` (N,) (the
    seed's statistic is undefined or underpowered: it neither passes nor fails; empty: none);
    ``required``: seeds that must pass (:func:`majority`).

    :attr:`verdict`: ``PASS`` when at least ``required`` seeds pass; ``FAIL`` when fewer would
    pass even if every unresolved seed passed; otherwise ``UNRESOLVED`` (the unresolved seeds
    decide)."""

    seeds: tuple[int, ...]
    figures: tuple[float, ...]
    passes: tuple[bool, ...]
    required: int
    unresolved: tuple[bool, ...] = ()

    @property
    def num_passed(self) -> int:
        return sum(self.passes)

    @property
    def num_unresolved(self) -> int:
        return sum(self.unresolved)

    @property
    def passed(self) -> bool:
        return self.num_passed >= self.required

    @property
    def verdict(self) -> str:
        if self.passed:
            return "PASS"
        return "FAIL" if self.num_passed + self.num_unresolved < self.required else "UNRESOLVED"

    def count(self) -> str:
        """``"k/N seeds"`` (``"k/N seeds, u unresolved"`` when some are)."""
        text = f"{self.num_passed}/{len(self.seeds)} seeds"
        return text + (f", {self.num_unresolved} unresolved" if self.num_unresolved else "")

    def describe(self, figure: str, spec: str) -> str:
        """``"k/N seeds pass (seeds ...); <figure> per seed: median m, range [lo, hi]"``, the
        statistics over the seeds with a finite figure (``spec``: their format; a seed without
        one, e.g. with no instability to measure, is counted apart), and the unresolved seeds."""
        passing = ", ".join(str(s) for s, p in zip(self.seeds, self.passes) if p) or "none"
        finite = np.array([f for f in self.figures if np.isfinite(f)])
        spread = (f"median {np.median(finite):{spec}}, range [{finite.min():{spec}}, {finite.max():{spec}}]"
                  if finite.size else "none measured")
        missing = len(self.figures) - finite.size
        spread += f" ({missing} seed{'s' * (missing > 1)} without a figure)" if missing else ""
        undecided = ", ".join(str(s) for s, u in zip(self.seeds, self.unresolved) if u)
        spread += f"; unresolved: seed{'s' * (self.num_unresolved > 1)} {undecided}" if undecided else ""
        return f"{self.num_passed}/{len(self.seeds)} seeds pass (seeds {passing}); {figure} per seed: {spread}"


def seed_vote(seeds: Sequence[int], figures: Sequence[float], passes: Sequence[bool],
              unresolved: Sequence[bool] | None = None) -> SeedVote:
    """A :class:`SeedVote` that passes when a strict majority of the seeds pass; ``unresolved``
    (default: none) marks the seeds whose check could not decide (never also passing)."""
    unresolved = [False] * len(seeds) if unresolved is None else list(unresolved)
    if not len(seeds) == len(figures) == len(passes) == len(unresolved) > 0:
        raise ValueError("seeds, figures, passes and unresolved must be non-empty and of one length")
    if any(p and u for p, u in zip(passes, unresolved)):
        raise ValueError("a seed cannot both pass and be unresolved")
    return SeedVote(tuple(int(s) for s in seeds), tuple(float(f) for f in figures),
                    tuple(bool(p) for p in passes), majority(len(seeds)), tuple(bool(u) for u in unresolved))


class VerdictGrid:
    """Verdicts of the same claims under several variants (columns), e.g. detection rules: each
    cell a :class:`SeedVote`; ``flips[i]``: whether claim ``i``'s verdict (PASS, FAIL or
    UNRESOLVED) differs between columns."""

    def __init__(self, claims: Sequence[str], columns: Mapping[str, Sequence[SeedVote]]):
        self.claims, self.columns = list(claims), {name: list(votes) for name, votes in columns.items()}
        if any(len(votes) != len(self.claims) for votes in self.columns.values()):
            raise ValueError("every column needs one vote per claim")
        self.flips = [len({votes[i].verdict for votes in self.columns.values()}) > 1 for i in range(len(self.claims))]

    @staticmethod
    def _cell(vote: SeedVote) -> str:
        return f"{vote.verdict} ({vote.count()})"

    def summary(self) -> str:
        """One line per claim: its verdict in each column and whether it flips."""
        return "\n".join(f"  {claim}: " + "; ".join(self._cell(v[i]) for v in self.columns.values())
                         + (" <- flips" if flip else "") for i, (claim, flip) in enumerate(zip(self.claims, self.flips)))

    def __repr__(self) -> str:
        return "\n".join(f"[{name}]" for name in self.columns) + "\n" + self.summary()

    def _repr_html_(self) -> str:
        head = "<tr><th>Claim</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in self.columns) + "<th>Flips</th></tr>"
        body = "".join(
            f"<tr><td>{html.escape(claim)}</td>"
            + "".join(f"<td>{self._cell(v[i])}</td>" for v in self.columns.values())
            + f"<td>{'yes' if flip else 'no'}</td></tr>" for i, (claim, flip) in enumerate(zip(self.claims, self.flips)))
        return f"<table class='eoslib-verdicts'>{head}{body}</table>"


def record_run(chapter: str, profile: str, params: Mapping[str, Any], table: ClaimsTable) -> None:
    """Write the run record for the execution tool, if it asked for one (else do nothing)."""
    path = os.environ.get(RUN_RECORD_ENV)
    if not path:
        return
    from eoslib.provenance import provenance

    record = {
        "chapter": chapter,
        "profile": profile,
        "parameters": dict(params),
        "claims": [c._asdict() for c in table.claims],
        "claims_passed": table.num_passed,
        "claims_total": len(table.claims),
        "provenance": provenance(),
    }
    with open(path, "w") as f:
        json.dump(record, f, indent=1, default=str)


def record_page_values(path, prefix: str = "paper") -> dict[str, str]:
    """Glue values of a committed record page (``book/paper/*.ipynb``, see ``tools/execute.py``)
    for the chapter that quotes it: ``<prefix>_passed`` ("k/n"), ``<prefix>_commit`` (10 hex
    digits), ``<prefix>_verdicts`` (one phrase per claim) and ``<prefix>_verdict_<i>``; empty
    when the page does not exist."""
    path = Path(path)
    if not path.exists():
        return {}
    meta = json.loads(path.read_text())["metadata"]["eoslib"]
    claims = [Claim(**c) for c in meta["claims"]]
    out = {f"{prefix}_passed": f"{meta['claims_passed']}/{meta['claims_total']}",
           f"{prefix}_commit": f"`{meta['provenance']['git_commit'][:10]}`",
           f"{prefix}_verdicts": "; ".join(f"({i}) **{c.verdict}**" for i, c in enumerate(claims, 1))}
    out.update({f"{prefix}_verdict_{i}": f"**{c.verdict}**" for i, c in enumerate(claims, 1)})
    return out


def certificate_values(path, prefix: str = "cert") -> dict[str, str]:
    """Glue values of the committed eigensolver certificate check
    (``benchmarks/results/certificate.json``, ``tools/certificate_check.py``: tracked top-k sets
    along chapter 2's ``ci`` run against ARPACK) for the chapter that quotes it: ``<prefix>_epochs``
    and, per check (``legacy``: the stores' fixed 8-step check; ``default``: the library's) and
    ``k``, ``<prefix>_<check>_<k>_beyond`` (certified sets beyond the solver's tolerance, "n"),
    ``<prefix>_<check>_<k>_wrong`` (certified sets beyond the stated error) and
    ``<prefix>_<check>_<k>_hvps`` (HVPs per epoch); empty when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return {}
    result = json.loads(path.read_text())
    out = {f"{prefix}_epochs": str(result["epochs"] + 1)}
    for check, by_k in result["checks"].items():
        for k, r in by_k.items():
            out[f"{prefix}_{check}_{k}_beyond"] = str(r["beyond_tol_certified"])
            out[f"{prefix}_{check}_{k}_wrong"] = str(r["wrong"])
            out[f"{prefix}_{check}_{k}_hvps"] = f"{r['hvps_per_epoch']:.0f}"
    return out

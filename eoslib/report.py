"""Claims tables and run records: how every chapter reports what it measured.

A chapter ends with a table of :class:`Claim` rows (the paper's claim, our
measured figure, the bound it is checked against, PASS/FAIL) and calls
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
from typing import Any, NamedTuple

__all__ = ["RUN_RECORD_ENV", "Claim", "ClaimsTable", "record_run"]

RUN_RECORD_ENV = "EOSLIB_RUN_RECORD"


class Claim(NamedTuple):
    """One row of a chapter's claims table."""

    claim: str
    measured: str
    bound: str
    passed: bool

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"


class ClaimsTable:
    """A claims table that renders as HTML in the book and as text in a console."""

    def __init__(self, claims: Sequence[Claim]):
        self.claims = list(claims)

    @property
    def num_passed(self) -> int:
        return sum(c.passed for c in self.claims)

    def summary(self) -> str:
        """``"k/n claims PASS"`` followed by one ``PASS``/``FAIL`` line per claim number."""
        lines = [f"{self.num_passed}/{len(self.claims)} claims PASS"]
        lines += [f"  ({i}) {c.verdict}" for i, c in enumerate(self.claims, start=1)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        rows = [f"({i}) [{c.verdict}] {c.claim}\n    measured: {c.measured}\n    bound: {c.bound}"
                for i, c in enumerate(self.claims, start=1)]
        return "\n".join(rows)

    def _repr_html_(self) -> str:
        head = "<tr><th>#</th><th>Claim (paper)</th><th>Measured</th><th>Bound</th><th>Verdict</th></tr>"
        body = "".join(
            f"<tr><td>{i}</td><td>{html.escape(c.claim)}</td><td>{html.escape(c.measured)}</td>"
            f"<td>{html.escape(c.bound)}</td>"
            f"<td style='font-weight:bold;color:{'#1a7f37' if c.passed else '#cf222e'}'>{c.verdict}</td></tr>"
            for i, c in enumerate(self.claims, start=1)
        )
        return f"<table class='eoslib-claims'>{head}{body}</table>"


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

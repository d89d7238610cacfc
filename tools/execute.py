"""Execute a chapter with papermill and write its notebook with run metadata.

    python tools/execute.py book/01_dln.md                      # golden: book/01_dln.ipynb, ci profile
    python tools/execute.py book/01_dln.md --profile paper -o /tmp/paper.ipynb
    python tools/execute.py book/01_dln.md --profile tiny -p etas "[0.002, 0.012]" -o /tmp/x.ipynb
    python tools/execute.py book/02_rotations.md --profile paper --page "Chapter 2 at the paper's settings" \
        -o book/paper/02_rotations.ipynb         # a committed record page (not re-executed by nbval)

The chapter's MyST text file is the source: it is converted with jupytext, executed by
papermill with ``profile`` and the ``-p NAME VALUE`` overrides (VALUE is YAML: numbers,
lists, strings), and written with its outputs. Volatile metadata (timestamps, papermill's
per-cell records) is stripped, and ``metadata.eoslib`` records the profile, the resolved
parameters, the claims, the device, the eoslib version, a digest of the code cells that ran
(``code_sha256``), the git commit at the start of the execution (and whether ``eoslib/``,
``book/`` or ``tools/`` had uncommitted changes) and the run time;
the "Reproducibility status" page is generated from it (``tools/status_page.py``).

The golden notebook (the ``.ipynb`` paired with the text file, which nbval re-executes) is
always made with the default profile and no overrides, so that re-execution reproduces it.

``--page TITLE`` makes a *record page* (``book/paper/``): the chapter at another profile,
retitled, with a note giving its provenance and run time. The book renders it; nbval does not
re-execute it (it takes far longer than CI allows); ``tests/test_book.py`` checks that its
parameters are the chapter's ``paper`` preset and that its commit is an ancestor of HEAD.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml

from eoslib.report import RUN_RECORD_ENV

VOLATILE_CELL_KEYS = ("papermill", "execution", "ExecuteTime")


def strip_volatile(nb: nbformat.NotebookNode) -> None:
    """Remove papermill's injected cell and timestamps, and number the cells' ids (jupytext
    draws them at random), so that re-execution is byte-stable."""
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
    nb.metadata.pop("papermill", None)


def parameter_names(source: Path) -> list[str]:
    """The names the chapter's ``parameters`` cell assigns (what ``-p`` may override)."""
    cell = next(c for c in jupytext.read(source).cells if "parameters" in c.metadata.get("tags", []))
    return [line.split("=")[0].strip() for line in cell.source.splitlines()
            if "=" in line.split("#")[0] and not line.startswith((" ", "#"))]


def code_digest(nb: nbformat.NotebookNode) -> str:
    """SHA-256 of the notebook's code cells (sources and tags, in order): recorded at execution
    as ``metadata.eoslib.code_sha256``, so that a test can tell outputs made by other code."""
    cells = [[c.source, c.metadata.get("tags", [])] for c in nb.cells if c.cell_type == "code"
             and "injected-parameters" not in c.metadata.get("tags", [])]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                          text=True, check=True).stdout.strip()


def execute(source: Path, output: Path, profile: str | None, overrides: dict) -> dict:
    """Run ``source`` (a jupytext text notebook) into ``output``; returns ``metadata.eoslib``."""
    nb = jupytext.read(source)
    parameters = dict(overrides)
    if profile is not None:
        parameters["profile"] = profile
    with tempfile.TemporaryDirectory() as tmp:
        record_path = Path(tmp) / "run.json"
        executed_path = Path(tmp) / "executed.ipynb"
        nbformat.write(nb, Path(tmp) / "input.ipynb")
        previous = os.environ.get(RUN_RECORD_ENV)
        os.environ[RUN_RECORD_ENV] = str(record_path)  # inherited by the kernel only for this run
        commit, dirty = _git("rev-parse", "HEAD"), bool(_git("status", "--porcelain", "--", "eoslib", "book", "tools"))
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(Path(tmp) / "input.ipynb"), str(executed_path), parameters=parameters,
                kernel_name="python3", cwd=str(source.parent), progress_bar=False, log_output=False,
            )
        finally:
            if previous is None:
                os.environ.pop(RUN_RECORD_ENV)
            else:
                os.environ[RUN_RECORD_ENV] = previous
        duration = time.perf_counter() - start
        if not record_path.exists():
            raise RuntimeError(f"{source} did not call eoslib.report.record_run: no run record")
        record = json.loads(record_path.read_text())
        executed = nbformat.read(executed_path, as_version=4)
    strip_volatile(executed)
    record["overrides"] = overrides
    record["duration_s"] = round(duration, 1)
    record["code_sha256"] = code_digest(executed)
    # the code that ran: HEAD when the execution began (commits made while it ran do not count)
    record["provenance"]["git_commit"] = commit
    record["provenance"]["uncommitted_changes"] = dirty
    executed.metadata["eoslib"] = record
    nbformat.write(executed, output)
    return record


def as_record_page(nb: nbformat.NotebookNode, title: str, source: Path) -> None:
    """Retitle an executed chapter ``nb`` (with ``metadata.eoslib``) as the record page ``title``:
    its first heading becomes ``title``, followed by a note on what was run, where and when."""
    meta = nb.metadata["eoslib"]
    prov = meta["provenance"]
    cell = next(c for c in nb.cells if c.cell_type == "markdown")
    first, _, rest = cell.source.partition("\n")
    if not first.startswith("# "):
        raise ValueError(f"{source}: the first markdown cell must start with the chapter's '# ' title")
    minutes = meta["duration_s"] / 60
    root = Path(__file__).resolve().parent.parent
    source = source.resolve().relative_to(root)
    cell.source = (
        f"# {title}\n\n"
        f"*A record: the chapter \"{first[2:].strip()}\" (`{source.as_posix()}`) executed with the "
        f"`{meta['profile']}` profile"
        + (f" and overrides {meta['overrides']}" if meta["overrides"] else "")
        + f", on {prov['device']}, in {meta['duration_s']:.0f} s ({minutes:.0f} min), at commit "
        f"`{prov['git_commit'][:10]}` (eoslib {prov['eoslib_version']}, jax {prov['jax_version']}): "
        f"{meta['claims_passed']}/{meta['claims_total']} claims PASS. nbval does not re-execute this page; the "
        "chapter itself shows the default profile, re-executed on every CI run. To reproduce it: "
        f"`python tools/execute.py {source.as_posix()} --profile {meta['profile']} -o out.ipynb`.*\n"
        + rest)
    meta["page_title"] = title


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", type=Path, help="the chapter's text file, e.g. book/01_dln.md")
    parser.add_argument("--profile", default=None, help="preset: ci (default), paper, tiny")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override one parameter (VALUE parsed as YAML)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="output notebook (default: the paired .ipynb, golden: default profile only)")
    parser.add_argument("--page", default=None, metavar="TITLE",
                        help="write a record page with this title (needs -o, e.g. book/paper/NN.ipynb)")
    args = parser.parse_args(argv)
    overrides = {name: yaml.safe_load(value) for name, value in args.p}
    golden = args.chapter.with_suffix(".ipynb")
    output = args.output or golden
    if output.resolve() == golden.resolve() and (overrides or args.profile not in (None, "ci")):
        parser.error("the golden notebook is executed with the default profile only; use -o for other runs")
    if args.page and output.resolve() == golden.resolve():
        parser.error("--page writes a record page: give it its own -o path")
    if unknown := sorted(set(overrides) - set(parameter_names(args.chapter))):
        parser.error(f"{args.chapter} has no parameter {unknown}; its parameters cell defines "
                     f"{parameter_names(args.chapter)}")
    record = execute(args.chapter, output, args.profile, overrides)
    if args.page:
        nb = nbformat.read(output, as_version=4)
        as_record_page(nb, args.page, args.chapter)
        nbformat.write(nb, output)
    print(f"{output}: profile {record['profile']}, {record['claims_passed']}/{record['claims_total']} claims PASS, "
          f"{record['duration_s']} s on {record['provenance']['device']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

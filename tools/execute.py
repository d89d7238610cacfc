"""Execute a chapter with papermill and write its notebook with run metadata.

    python tools/execute.py book/01_dln.md                      # golden: book/01_dln.ipynb, ci profile
    python tools/execute.py book/01_dln.md --profile paper -o /tmp/paper.ipynb
    python tools/execute.py book/01_dln.md --profile tiny -p etas "[0.002, 0.012]" -o /tmp/x.ipynb

The chapter's MyST text file is the source: it is converted with jupytext, executed by
papermill with ``profile`` and the ``-p NAME VALUE`` overrides (VALUE is YAML: numbers,
lists, strings), and written with its outputs. Volatile metadata (timestamps, papermill's
per-cell records) is stripped, and ``metadata.eoslib`` records the profile, the resolved
parameters, the claims, the device, the eoslib version and git commit and the run time;
the "Reproducibility status" page is generated from it (``tools/status_page.py``).

The golden notebook (the ``.ipynb`` paired with the text file, which nbval re-executes) is
always made with the default profile and no overrides, so that re-execution reproduces it.
"""

from __future__ import annotations

import argparse
import json
import os
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
    """Remove papermill's injected cell and timestamps so that re-execution is byte-stable."""
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    for cell in nb.cells:
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
    nb.metadata.pop("papermill", None)


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
    executed.metadata["eoslib"] = record
    nbformat.write(executed, output)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", type=Path, help="the chapter's text file, e.g. book/01_dln.md")
    parser.add_argument("--profile", default=None, help="preset: ci (default), paper, tiny")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override one parameter (VALUE parsed as YAML)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="output notebook (default: the paired .ipynb, golden: default profile only)")
    args = parser.parse_args(argv)
    overrides = {name: yaml.safe_load(value) for name, value in args.p}
    golden = args.chapter.with_suffix(".ipynb")
    output = args.output or golden
    if output.resolve() == golden.resolve() and (overrides or args.profile not in (None, "ci")):
        parser.error("the golden notebook is executed with the default profile only; use -o for other runs")
    record = execute(args.chapter, output, args.profile, overrides)
    print(f"{output}: profile {record['profile']}, {record['claims_passed']}/{record['claims_total']} claims PASS, "
          f"{record['duration_s']} s on {record['provenance']['device']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The book: paired notebooks in sync, every chapter runs with overrides, the book builds and renders.

nbval itself (re-execution of the committed notebooks against their outputs) runs in the same
pytest call: see the README's test command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import execute  # noqa: E402
import prose  # noqa: E402
import status_page  # noqa: E402

CHAPTERS = sorted((ROOT / "book").glob("[0-9]*.md"))
RECORD_PAGES = status_page.record_pages(ROOT)  # {chapter stem: book/paper/<stem>.ipynb}
PAGES = [md.stem for md in CHAPTERS] + [f"paper/{stem}" for stem in RECORD_PAGES]  # rendered, under book/
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--virtual-time-budget=20000"]


def test_every_chapter_is_paired_and_in_the_toc():
    assert CHAPTERS, "no chapters found"
    notebooks = [p.resolve() for p in status_page.chapter_notebooks(ROOT)]
    for md in CHAPTERS:
        assert md.with_suffix(".ipynb").exists(), f"{md.name} has no executed .ipynb"
        assert md.with_suffix(".ipynb").resolve() in notebooks, f"{md.name} is not in _toc.yml"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_text_and_notebook_have_identical_inputs(md):
    text, ipynb = jupytext.read(md), nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    assert len(text.cells) == len(ipynb.cells), f"{md.name}: cell count differs; run tools/execute.py {md}"
    for i, (a, b) in enumerate(zip(text.cells, ipynb.cells)):
        assert (a.cell_type, a.source) == (b.cell_type, b.source), f"{md.name} cell {i} drifted from its .ipynb"
        if a.cell_type == "code":
            assert a.metadata.get("tags", []) == b.metadata.get("tags", []), f"{md.name} cell {i}: tags differ"
            assert b.execution_count is not None, f"{md.name} cell {i} was never executed"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_golden_notebook_has_run_metadata_and_no_volatile_fields(md):
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    meta = nb.metadata["eoslib"]
    assert meta["profile"] == "ci" and meta["overrides"] == {}
    assert meta["claims_total"] == len(meta["claims"]) > 0
    assert meta["claims_passed"] == sum(c["passed"] for c in meta["claims"])
    assert meta["code_sha256"] == execute.code_digest(nb), (
        f"{md.name}: its outputs were made by other code cells; run tools/execute.py {md}")
    assert "papermill" not in nb.metadata
    for cell in nb.cells:
        assert not {"papermill", "execution"} & set(cell.metadata)


PROSE_ALLOWED = {  # literals a chapter's measured parts may hold: fixed bounds and parameters quoted in words
    "02_rotations": {"0.9", "80 %", "1.25"},  # claim 3's similarity level, claim 5's bound, variant_min_rise
    "04_generalization": {"95 %", "90 %", "4.3", "4.2", "11 %", "0.11"},  # the bootstrap intervals' level, the ρ
    # anchor's training accuracy, the paper's sections, the authors' early stop at chance (claims.AUTHORS_LOW_ACCURACY)
    "05_drivers": {"75 %", "95 %"},  # claim 1's bound (drivers_claims.COINCIDE), the level of its intervals
    "06_cifar": {"90 %", "4.3"},  # the ρ anchor's training accuracy, the paper's Section 4.3
    "07_initialization": {"0.01"},  # the paper's first rate (Section 4.1)
    "09_squared_loss": {"4.3"},  # the paper's Section 4.3
}


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_measured_numbers_in_the_text_are_glued(md):
    """In the parts of a chapter marked as reporting its run (tools/prose.py), every measured
    number is glued from the executed notebook, so the text cannot drift from the run."""
    text = md.read_text()
    if not prose.regions(text):
        pytest.skip(f"{md.stem} marks no measured parts yet: its numbers are not glued (issue 29)")
    assert not prose.literals(text, PROSE_ALLOWED.get(md.stem, set())), \
        f"{md.name}: measured numbers outside glue roles (glue them from the notebook, or allow a fixed bound)"


def test_the_prose_check_catches_numbers_written_by_hand():
    text = (ROOT / "book" / "02_rotations.md").read_text()
    assert "{glue:md}`c1`" in text and "{glue:md}`s0_gaps`" in text
    edited = text.replace("{glue:md}`c1`", "5/5", 1).replace("{glue:md}`s0_gaps`", "+0.24, -0.12", 1)
    assert prose.literals(edited, PROSE_ALLOWED["02_rotations"]) == ["0.24", "0.12", "5/5"]
    sample = "\n".join([prose.BEGIN, "at 67 % and epoch 142, 52–80 seeds, 3-6 epochs, 0.5, $2/\\eta = 20.5$, "
                         "`eta = 0.1`, {glue:md}`x` and {glue:text}`y:.2f`, top-8, claim 4", prose.END, "0.7 %"])
    assert prose.literals(sample) == ["67 %", "epoch 142", "52–80", "3-6", "0.5"]
    with pytest.raises(ValueError, match="without"):
        prose.regions(prose.BEGIN + "\n0.5")


SMOKE_OVERRIDES = {  # more overrides for a chapter's smoke run, checked to reach its claims table
    "01_dln": {"theta0": [0.2, -5.0], "etas": [0.01, 0.05]},  # a new initialization and eta list
}


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_papermill_smoke_run_with_tiny_profile(md, tmp_path, monkeypatch):
    """Every chapter runs end to end with the tiny profile and overrides (its stores computed
    anew in a temporary folder), and the overrides reach its claims table."""
    monkeypatch.setenv("EOSLIB_RESULTS_DIR", str(tmp_path / "results"))  # the tiny runs' local stores: computed anew
    record = execute.execute(md, tmp_path / "out.ipynb", "tiny", {"seed": 1, **SMOKE_OVERRIDES.get(md.stem, {})})
    assert record["profile"] == "tiny" and record["parameters"]["seed"] == 1
    assert record["claims_total"] > 0
    if md.stem == "01_dln":
        assert record["parameters"]["theta0"] == [0.2, -5.0]
        assert "eta=0.05" in record["claims"][1]["measured"] and "eta=0.01" in record["claims"][0]["measured"]


def test_invalid_parameter_fails_at_once(tmp_path):
    with pytest.raises(Exception, match="theta_1 must be the sharper parameter"):
        execute.execute(ROOT / "book" / "01_dln.md", tmp_path / "out.ipynb", "tiny", {"theta0": [10.0, 0.1]})


def _paper_presets() -> dict:
    """The ``paper`` preset of each chapter that has a record page, as the chapter resolves it."""
    from eoslib import resolve
    from eoslib.chapters.drivers import experiment as drivers
    from eoslib.chapters.rotations import experiment as rotations

    return {"02_rotations": resolve(rotations.PRESETS, "paper", rotations.VALIDATORS),
            "05_drivers": resolve(drivers.PRESETS, "paper", drivers.VALIDATORS)}


def test_record_pages_are_the_paper_preset_at_an_ancestor_commit():
    """A record page (book/paper/, not re-executed by nbval) is its chapter run with today's
    `paper` preset, no overrides, from a commit that main still contains."""
    presets = _paper_presets()
    assert set(RECORD_PAGES) == set(presets), "every chapter with a record page needs its paper preset here"
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True,
                             text=True).stdout.strip() == "true"
    toc = [p.resolve() for p in status_page.chapter_notebooks(ROOT)]
    for stem, page in RECORD_PAGES.items():
        nb = nbformat.read(page, as_version=4)
        meta = nb.metadata["eoslib"]
        assert page.resolve() in toc, f"{page.name} is not in _toc.yml"
        assert meta["chapter"] == stem and meta["profile"] == "paper" and meta["overrides"] == {}
        assert meta["parameters"] == json.loads(json.dumps(presets[stem])), \
            f"{page} was made with other parameters than today's paper preset: re-execute it (tools/execute.py --page)"
        assert nb.cells[0].source.startswith(f"# {meta['page_title']}\n\n*A record:")
        assert meta["claims_total"] == len(meta["claims"]) > 0 and "papermill" not in nb.metadata
        commit = meta["provenance"]["git_commit"]
        assert meta["provenance"]["uncommitted_changes"] is False, f"{page} ran on uncommitted code"
        if shallow:
            pytest.skip("a shallow clone cannot tell whether the record's commit is an ancestor of HEAD")
        ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=ROOT)
        assert ancestor.returncode == 0, f"{page}: commit {commit} is not an ancestor of HEAD"


def test_status_page_sets_the_profiles_claims_side_by_side():
    page = status_page.render(ROOT)
    section = page.split("## Claims at each profile")[1].split("\n## ")[0]
    for stem in RECORD_PAGES:
        claims = nbformat.read(ROOT / "book" / f"{stem}.ipynb", as_version=4).metadata["eoslib"]["claims"]
        assert f"([record page](paper/{stem}))" in section
        assert sum(line.startswith("| (") for line in section.splitlines()) >= len(claims)
    assert "| `paper` |" in page.split("## Claims at each profile")[0]  # the record page's row


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    status = ROOT / "book" / "status.md"
    status.write_text(status_page.render(ROOT))
    jb = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "--keep-going"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out / "_build" / "html"


def test_status_page_lists_every_chapter(built_book):
    page = (built_book / "book" / "status.html").read_text()
    for name in PAGES:
        assert name in page
    assert "claims" in page.lower() and "PASS" in page


def test_status_page_shows_benchmark_targets(tmp_path):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (tmp_path / "_toc.yml").write_text("root: book/intro\nchapters: []\n")
    (results / "demo.json").write_text(json.dumps({
        "targets": [{"what": "top-8 vs eigsh", "target": ">= 3x", "measured": 2.04, "met": False},
                    {"what": "HVP / grad", "target": "<= 2", "measured": 1.4, "met": True}],
        "solvers": [{"k": 8, "ours": {"time_s": 0.05}}]}))
    page = status_page.render(tmp_path)
    assert "| top-8 vs eigsh | >= 3x | 2.04 | **no** |" in page
    assert "| HVP / grad | <= 2 | 1.4 | yes |" in page
    assert "solvers[8].ours.time_s" not in page and "[the raw JSON](../benchmarks/results/demo.json)" in page


class _OutputText(HTMLParser):
    """Text inside the rendered cell outputs (``div.cell_output``) of a page."""

    def __init__(self):
        super().__init__()
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += tag == "div"
        elif tag == "div" and "cell_output" in (dict(attrs).get("class") or ""):
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth and tag == "div":
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def _output_text(dom: str) -> str:
    parser = _OutputText()
    parser.feed(dom)
    return " ".join(parser.parts)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


PAINTED = ("04_generalization", "08_your_model")  # pages whose screenshot is checked for painted figures


@pytest.mark.parametrize("name", PAGES)
def test_chapter_renders_in_a_real_browser(built_book, name, tmp_path):
    """Every page in headless Chromium: MathJax typeset, no error text, the claims table, the
    figures' files present; for the pages of ``PAINTED`` (a sample, each screenshot costs a second
    browser run), a screenshot that shows coloured figure content."""
    from PIL import Image

    page = built_book / "book" / f"{name}.html"
    browser = _chromium()
    common = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<mjx-container") > 5, "MathJax did not typeset the equations"
    assert "<mjx-merror" not in dom and "Traceback" not in dom, "math or code error text on the page"
    assert "eoslib-claims" in dom, "the claims table is missing"
    outputs = _output_text(dom)
    assert "Figure" in outputs and "$" not in outputs, "untypeset $math$ in the cell outputs (captions)"
    images = [line for line in dom.split("<img")[1:] if "_images/" in line]
    assert len(images) >= 1, "no rendered figures"
    for img in images:
        src = img.split('src="')[1].split('"')[0]
        assert (page.parent / src).resolve().exists(), f"figure file {src} missing"
    if name not in PAINTED:
        return
    shot = tmp_path / "shot.png"
    subprocess.run([*common, f"--screenshot={shot}", "--window-size=1280,12000", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    colored_rows = (saturation > 80).sum(axis=1) > 50  # rows crossing coloured plot lines/markers
    assert colored_rows.sum() > 100, "the screenshot shows no coloured figure content"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(md):
    """papermill infers the parameters (for `papermill --help-notebook`) without parse errors."""
    import papermill

    names = list(papermill.inspect_notebook(str(md.with_suffix(".ipynb"))))
    nb = jupytext.read(md)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assigned = [line.split("=")[0].strip() for line in cell.source.splitlines() if "=" in line.split("#")[0]]
    assert names == assigned and "profile" in names

"""Generate book/status.md, the "Reproducibility status" page, from committed metadata.

For every chapter notebook listed in ``_toc.yml`` it reads ``metadata.eoslib`` (written by
``tools/execute.py``): profile, parameters, device, run time, eoslib version, git commit and
claims. It appends the library benchmarks stored in ``benchmarks/results/*.json``.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import nbformat
import yaml

from eoslib.report import Claim

ROOT = Path(__file__).resolve().parent.parent


def _toc_files(entries) -> list[str]:
    """The ``file`` of every toc entry and of its ``sections``, depth first."""
    return [f for entry in entries for f in [entry["file"], *_toc_files(entry.get("sections", []))]]


def chapter_notebooks(root: Path = ROOT) -> list[Path]:
    """The ``.ipynb`` of every page in the table of contents, in order: the chapters and, under
    them, their record pages (``book/paper/``)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    return [root / f"{f}.ipynb" for f in _toc_files(toc.get("chapters", [])) if (root / f"{f}.ipynb").exists()]


def record_pages(root: Path = ROOT) -> dict[str, Path]:
    """``{chapter stem: record page}`` for the chapters executed at the paper profile as a
    record page of their own (``book/paper/<stem>.ipynb``)."""
    return {p.stem: p for p in sorted((root / "book" / "paper").glob("*.ipynb"))}


def _chapter_rows(root: Path) -> list[str]:
    rows = ["| Chapter | Profile | Claims | Device | Run time | eoslib | Commit |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    details = []
    for path in chapter_notebooks(root):
        nb = nbformat.read(path, as_version=4)
        meta = nb.metadata.get("eoslib")
        title = _title(nb, path)
        if meta is None:
            rows.append(f"| {title} | not executed by tools/execute.py | | | | | |")
            continue
        prov = meta["provenance"]
        def numbers(verdict):
            return " ".join(f"({i})" for i, c in enumerate(meta["claims"], start=1) if _verdict(c) == verdict)
        claims = f"{meta['claims_passed']}/{meta['claims_total']} PASS" + "".join(
            f", {v}: {numbers(v)}" for v in ("FAIL", "UNRESOLVED", "NOT RUN") if numbers(v))
        link = path.relative_to(root / "book").with_suffix("").as_posix()
        rows.append(f"| [{title}]({link}) | `{meta['profile']}` | {claims} | {prov['device']} | "
                    f"{meta['duration_s']:.0f} s | {prov['eoslib_version']} (jax {prov['jax_version']}) | "
                    f"`{prov['git_commit'][:10]}` |")
        params = ", ".join(f"`{k}={v}`" for k, v in meta["parameters"].items())
        overrides = ", ".join(f"`{k}={v}`" for k, v in meta.get("overrides", {}).items()) or "none"
        details.append(f"- **{title}**: parameters {params}; overrides: {overrides}.")
    return rows + ["", "Parameters of each run:", "", *details]


def _title(nb: nbformat.NotebookNode, path: Path) -> str:
    return next((c.source.splitlines()[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown"), path.stem)


def _profile_comparison(root: Path) -> list[str]:
    """For each chapter with a record page: its claims at the default profile and at the record
    page's profile, side by side (verdict and the first clause of the measured figure)."""
    out = []
    for stem, page in record_pages(root).items():
        chapter = root / "book" / f"{stem}.ipynb"
        if not chapter.exists():
            continue
        nbs = [nbformat.read(p, as_version=4) for p in (chapter, page)]
        metas = [nb.metadata["eoslib"] for nb in nbs]
        out += [f"### {_title(nbs[0], chapter)}", "",
                f"| Claim | `{metas[0]['profile']}` ([chapter]({stem})) | `{metas[1]['profile']}` "
                f"([record page](paper/{stem})) |", "| --- | --- | --- |"]
        for a, b in itertools.zip_longest(*(m["claims"] for m in metas)):
            cells = [f"**{_verdict(c)}**: {c['measured'].split(';')[0]}" if c else
                     "not on this page (executed before the claim existed)" for c in (a, b)]
            out.append(f"| {(a or b)['claim'].replace('|', '/')} | {cells[0]} | {cells[1]} |")
        out.append("")
    return out or ["No chapter has a record page at another profile yet."]


def _verdict(claim: dict) -> str:
    """The verdict (:attr:`eoslib.report.Claim.verdict`) of a recorded claim."""
    return Claim(**claim).verdict


def _flatten(value, prefix: str = ""):
    """``(dotted.key, scalar)`` pairs of a JSON value; lists of numbers are summarized."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        if all(isinstance(v, (int, float)) for v in value):
            if len(value) <= 4:
                yield prefix, ", ".join(_fmt(v) for v in value)
        else:
            label = lambda i, item: item.get("k", item.get("epoch", i)) if isinstance(item, dict) else i  # noqa: E731
            for i, item in enumerate(value):
                yield from _flatten(item, f"{prefix}[{label(i, item)}]")
    else:
        yield prefix, _fmt(value)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _benchmark_sections(root: Path) -> list[str]:
    out = []
    for path in sorted((root / "benchmarks" / "results").glob("*.json")):
        data = json.loads(path.read_text())
        made_by = data.pop("made_by", f"benchmarks/bench_{path.stem}.py")
        out += [f"### `{path.relative_to(root)}`", "", f"Made by `{made_by}`.", ""]
        targets = data.pop("targets", [])
        if targets:
            out += ["| target | required | measured | met |", "| --- | --- | --- | --- |"]
            out += [f"| {t['what']} | {t['target']} | {_fmt(t['measured'])} | "
                    f"{'yes' if t['met'] else '**no**'} |" for t in targets]
        prov = data.get("provenance", {})
        out += ["", f"Measured on {prov.get('device', 'an unrecorded device')} at commit "
                f"`{str(prov.get('git_commit', 'unknown'))[:10]}`; every number: "
                f"[the raw JSON](../{path.relative_to(root).as_posix()}) "
                f"({len(list(_flatten(data)))} values).", ""]
    return out or ["No benchmark results are stored yet."]


def _store_sections(root: Path) -> list[str]:
    """Per committed store: records, size, devices and commits that made them, and the records
    CI re-runs at this commit (``tests/test_store.py``)."""
    from collections import Counter

    from eoslib.provenance import git_commit
    from eoslib.verification import sample_keys

    out = []
    for folder in sorted(p for p in (root / "store").glob("*") if p.is_dir()):
        files = sorted(folder.glob("*.json"))
        if not files:
            continue
        records = [json.loads(f.read_text()) for f in files]
        size = sum(f.stat().st_size for f in files) / 1e6
        devices = Counter(r["provenance"]["device"] for r in records)
        commits = Counter(r["provenance"]["git_commit"][:10] for r in records)
        sample = sample_keys([r["key"] for r in records], 3, git_commit())
        by_key = {r["key"]: r for r in records}
        out += [f"### `store/{folder.name}/`", "",
                f"{len(records)} records, {size:.1f} MB (format: `store/README.md`).", "",
                "| made on | records |", "| --- | --- |",
                *[f"| {d} | {n} |" for d, n in devices.most_common()], "",
                "Commits: " + ", ".join(f"`{c}` ({n})" for c, n in commits.most_common()) + ".", "",
                "Drawn with this commit as the seed (`tests/test_store.py` re-runs its own count of each "
                "store's records, drawn the same way): " + ", ".join(_label(by_key[k]) for k in sample) + ".", ""]
    return out or ["No committed results store yet."]


def _label(record: dict) -> str:
    """A run record by learning rate and seed; a computation record by kind and seed."""
    if "config" in record:
        return f"lr {record['config']['schedule']['lr']:g} seed {record['config']['seed']}"
    spec = record["spec"]
    if "parameters" not in spec:  # e.g. S(θ_0) of one model: keyed by a run config
        c = spec["config"]
        return f"{record['kind']} ({c['model']}, {c['weight_init']}, seed {c['seed']})"
    P = spec["parameters"]
    seed = spec.get("seed", P.get("seed"))
    rate = f"eta {P['eta']:g}" if "eta" in P else f"GD eta {P['gd_lr']:g}, Adam eta {P['adam_lr']:g}"
    return f"{record['kind']} ({rate}, seed {seed})"


def render(root: Path = ROOT) -> str:
    lines = [
        "# Reproducibility status",
        "",
        "Generated by `tools/status_page.py` from the metadata of the committed, executed chapter notebooks",
        "(written by `tools/execute.py` at execution time) and from the stored benchmark results. The commit is",
        "the repository's HEAD when the chapter was executed.",
        "",
        "## Chapters",
        "",
        *_chapter_rows(root),
        "",
        "## Claims at each profile",
        "",
        "Chapters whose `paper` profile differs from the default in more than sample counts are also executed at",
        "the `paper` profile once, as a record page under the chapter (not re-executed by nbval).",
        "",
        *_profile_comparison(root),
        "",
        "## Committed results stores",
        "",
        *_store_sections(root),
        "",
        "## Benchmarks",
        "",
        *_benchmark_sections(root),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    target = ROOT / "book" / "status.md"
    target.write_text(render())
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

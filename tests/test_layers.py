"""The two layers: ``import eoslib`` loads the engine only; no engine module imports a chapter
(:mod:`eoslib.chapters`); a chapter imports the engine and its own package, never another
chapter (a notebook may compose several: chapter 9 calls chapters 3 and 4); no import loop."""

import ast
import subprocess
import sys
from pathlib import Path

import eoslib

ROOT = Path(eoslib.__file__).parent
CHAPTERS = sorted(p.name for p in (ROOT / "chapters").iterdir() if (p / "__init__.py").is_file())


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The eoslib modules ``path`` imports (``from eoslib import x`` names module ``eoslib.x``
    when it is one, else the package)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("eoslib"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("eoslib")}
    return out


def _chapter(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "chapters" else None


def test_import_eoslib_loads_no_chapter_module():
    code = "import eoslib, sys; print(' '.join(m for m in sys.modules if m.startswith('eoslib')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "eoslib.lanczos" in loaded and not [m for m in loaded if m.startswith("eoslib.chapters")]


def test_every_chapter_is_a_package_and_nothing_of_the_paper_is_left_in_the_engine():
    assert CHAPTERS == ["dln", "drivers", "flattening", "generalization", "initialization", "rotations",
                        "squared_loss", "your_model"]
    for name in CHAPTERS:  # each with its experiment (runs, presets, checks) and its figures
        assert {"experiment.py", "figures.py"} <= {p.name for p in (ROOT / "chapters" / name).iterdir()}, name
    assert not (ROOT / "figures").exists()


def test_the_engine_imports_no_chapter_and_no_chapter_imports_another():
    upward, cross = [], set()
    for name, path in MODULES.items():
        here = _chapter(name)
        for target in _imports(path):
            there = _chapter(target)
            if here is None and (there is not None or target == "eoslib.chapters"):
                upward.append(f"{name} imports {target}")
            elif here is not None and there is not None and there != here:
                cross.add((here, there))
    assert not upward, upward
    assert not cross, f"imports between chapters (importer, imported): {sorted(cross)}"


def test_no_import_loop():
    graph = {name: _imports(path, top_level_only=True) & MODULES.keys() for name, path in MODULES.items()}
    done, on_path = set(), []

    def visit(node):
        if node in on_path:
            raise AssertionError("import loop: " + " -> ".join(on_path[on_path.index(node):] + [node]))
        if node in done:
            return
        on_path.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        on_path.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)

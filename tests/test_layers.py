"""The two layers: ``import eoslib`` loads the engine only, and no engine module imports one of
the paper's per-chapter modules (``eoslib.PAPER_MODULES``)."""

import ast
import subprocess
import sys
from pathlib import Path

import eoslib

ROOT = Path(eoslib.__file__).parent
PAPER = {f"eoslib.{m}" for m in eoslib.PAPER_MODULES}


def _is_paper(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PAPER)


def test_import_eoslib_loads_no_chapter_module():
    code = "import eoslib, sys; print(' '.join(m for m in sys.modules if m.startswith('eoslib')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "eoslib.lanczos" in loaded and not [m for m in loaded if _is_paper(m)]


def test_every_module_is_in_one_layer_and_the_engine_imports_no_chapter_module():
    modules = {f"eoslib.{p.stem}" for p in ROOT.glob("*.py") if p.stem != "__init__"} | {"eoslib.figures"}
    assert PAPER <= modules, f"PAPER_MODULES names missing modules: {PAPER - modules}"
    upward = []
    for path in ROOT.glob("*.py"):
        name = f"eoslib.{path.stem}"
        if _is_paper(name) or path.stem == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("eoslib"):
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            upward += [f"{name} imports {t}" for t in targets if _is_paper(t)]
    assert not upward, upward

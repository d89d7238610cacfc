"""Shared by the benchmarks that compare two commits (``bench_sweep.py``, ``bench_compile.py``):
each arm runs from a ``git worktree`` of its commit, so that edits made meanwhile cannot reach it."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def arm_trees(new: str, baseline: str, scratch: Path) -> tuple[dict, dict]:
    """``({"new": sha, "baseline": sha}, {"new": tree, "baseline": tree})``: the commits the refs
    name and a detached worktree of each under ``scratch`` (made once, reused after)."""
    commits = {name: subprocess.run(["git", "rev-parse", ref], cwd=ROOT, capture_output=True, text=True,
                                    check=True).stdout.strip() for name, ref in (("new", new), ("baseline", baseline))}
    trees = {name: scratch / f"tree-{sha[:10]}" for name, sha in commits.items()}
    for name, tree in trees.items():
        if not tree.exists():
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), commits[name]], cwd=ROOT, check=True)
    return commits, trees

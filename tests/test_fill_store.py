"""tools/fill_store.py's ``--background`` (a fill yields the CPU to every other program, notebook
kernels in sessions of their own included) and ``--runs`` (named Figure 5b runs)."""

import subprocess
import sys
from pathlib import Path

import pytest

from eoslib import sweep
from eoslib.chapters.generalization import experiment as generalization

TOOLS = Path(__file__).resolve().parent.parent / "tools"
AUTOGROUPS = Path("/proc/sys/kernel/sched_autogroup_enabled")


def test_a_background_fill_is_niced_in_a_session_and_autogroup_of_its_own():
    code = ("import os, sys; sys.path.insert(0, sys.argv[1]); import fill_store; "
            "said = fill_store.yield_cpu(); "
            "group = open('/proc/self/autogroup').read().strip() if os.path.exists('/proc/self/autogroup') else ''; "
            "print(os.nice(0), os.getsid(0) == os.getpid(), group, said, sep='|')")
    out = subprocess.run([sys.executable, "-c", code, str(TOOLS)], capture_output=True, text=True, check=True,
                         start_new_session=False).stdout.strip()
    nice, leader, group, said = out.split("|")
    assert nice == "19" and "nice 19" in said
    assert leader == "True" and "own session" in said  # started from this session: it leaves it
    mine = _autogroup()
    if AUTOGROUPS.exists() and AUTOGROUPS.read_text().strip() == "1" and mine:
        assert group.endswith("nice 19") and group.split()[0] != mine and "autogroup nice 19" in said
    elif not group.endswith("nice 19"):  # no working autogroups (CI's sandbox reads ""): none is claimed
        assert "autogroup" not in said


def _autogroup() -> str:
    """This process's autogroup ("/autogroup-N"), or "" where /proc shows none."""
    try:
        fields = Path("/proc/self/autogroup").read_text().split()
    except OSError:
        return ""
    return fields[0] if fields and fields[0].startswith("/autogroup-") else ""


def test_named_runs_are_figure_5b_configs_of_the_scale_and_typos_fail():
    sys.path.insert(0, str(TOOLS))
    import fill_store

    configs = fill_store.named_runs("3.778:2, 0.01342:0", "cpu-1k")
    base = generalization.cifar_base("cpu-1k")
    assert [c.key() for c in configs] == [c.key() for c in sweep.lr_seed_grid(base, [3.778], [2])
                                          + sweep.lr_seed_grid(base, [0.01342], [0])]
    for bad in ("3.77:2", "3.778:3", "3.778", "x:1", "0.0008:0"):  # 0.0008: left out of the scale's grid (skip)
        with pytest.raises(ValueError, match="--runs"):
            fill_store.named_runs(bad, "cpu-1k")

"""Where and with what a result was computed: device, library versions, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import jax

from eoslib._version import __version__

__all__ = ["cpu_model", "device_description", "git_commit", "provenance"]

_REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what :mod:`platform` knows): timings and
    float rounding both depend on it (``benchmarks/results/tests.json``, ``store/README.md``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_description() -> str:
    """``"<count> x <name>"`` of the default JAX backend, e.g. ``"1 x NVIDIA H100 80GB HBM3"``
    or, on CPU, the CPU model from ``/proc/cpuinfo`` with the visible JAX device count."""
    devices = jax.devices()
    if devices[0].platform == "cpu":
        return f"{len(devices)} x CPU device ({cpu_model()})"
    return f"{len(devices)} x {devices[0].device_kind}"


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the repository eoslib is imported from (``$EOSLIB_GIT_COMMIT`` where the
    tree travelled without its ``.git``, as to a lent GPU), or ``"unknown"``: read once, when
    this module is imported, so that a process that runs for hours (a store fill) names the
    commit of the code it loaded, not the HEAD of the day it writes a record."""
    if os.environ.get("EOSLIB_GIT_COMMIT"):
        return os.environ["EOSLIB_GIT_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance() -> dict:
    """Device, versions and git commit, as a JSON-ready dict of strings."""
    return {
        "device": device_description(),
        "backend": jax.default_backend(),
        "eoslib_version": __version__,
        "jax_version": jax.__version__,
        "python_version": platform.python_version(),
        "git_commit": git_commit(),
    }


git_commit()  # at import: the commit of the code this process runs (its docstring)

"""Shared fixtures: data sets that skip a test cleanly where they are not installed.

JAX's persistent compilation cache is on in the tests (:func:`_persistent_cache`): every
process of a run (the xdist workers, the notebooks' kernels, the subprocesses they start) reads
and writes one folder, so a program compiled once is loaded, not compiled again, by a later
module or kernel. The cache hands back the executable XLA compiled, so no result changes.

What it saves, from the cache of a clean-clone CI run (a7ab999, an AMD EPYC, 2026-12-07; each
entry stores its compile time, in whole seconds, so the sums are lower bounds): 350 programs
that took at least 0.5 s to compile, 1,275 s of compilation out of 2,997 s of summed test time.
Only 40 of them (144 s of compilation) were loaded again within the run: most compiled programs
belong to one test alone (their shapes and static settings differ), so a clean run saves a few
per cent, and a second ``make test`` on the same checkout up to the whole 1,275 s. (A cached run
earlier that day summed 2,452 s against 2,999 s without; it was not reproduced: three clean-
clone runs on this machine summed 2,909-2,999 s, with and without the cache, so that difference
was mostly the machine's load.) Lanczos solves dominate the compilation: ``_certified_solve`` is
81 of the programs and 667 s, 8 s each on average (its four loops, solve and check in two basis
stages, each a copy of the Lanczos step).

It was off from 2026-12-04 (547bed7): a clean-clone run segfaulted writing a compiled eigensolver
to the cache, an hour before the tests cleared their executables after each module (below), when
an xdist worker mapped up to 40,000 memory regions and a process past the limit segfaulted while
compiling: a failed allocation while an executable was serialized is the likeliest cause. The
run above peaked at 29,315 mappings in one process and passed. ``$JAX_COMPILATION_CACHE_DIR`` set
by hand wins; ``EOSLIB_TEST_CACHE=0`` turns the cache off.

Each test module ends by dropping JAX's in-memory caches of compiled executables
(:func:`release_compiled_code`). XLA:CPU maps about six memory regions per executable, and an
xdist worker that kept every module's executables reached 40,000 mappings two thirds into a run,
near Linux's default limit of 65,530 (``vm.max_map_count``): a clean-clone CI run failed at its
end with "LLVM compilation error: Cannot allocate memory" (2026-12-04). Keeping the executables
across modules until the process maps more than 20,000 or 30,000 regions (cleared after the
module or the test that passes it) was measured on the engine's seven heaviest modules in one
process (2026-12-06): 712 and 756 s against 751 s clearing after every module, within the
machine's noise, and with no limit the process segfaulted while compiling in ``test_lanczos``
(which alone maps about 39,000 regions)."""

import gc
import hashlib
import os
import platform
from pathlib import Path

import pytest


def _pin_xdist_worker() -> None:
    """With as many xdist workers as CPUs, worker ``gwN`` runs on the N-th CPU alone (and so do
    the notebook kernels and subprocesses it starts, which inherit its affinity). Unpinned, each
    worker's XLA thread pool spans both CPUs of a 2-core machine and the two pools oversubscribe
    them: one test module run twice side by side took 63 s a copy unpinned against 57 s pinned
    (``tests/test_track_above.py``, 2 cores, 2026-12-06). Done before JAX creates its CPU client
    (at the first computation, after this import)."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if worker.startswith("gw") and count.isdigit() and int(count) == len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[int(worker[2:]) % len(cpus)]})


def _persistent_cache() -> None:
    """JAX's persistent compilation cache for the run, set before JAX is imported so that the
    kernels and subprocesses inherit it: ``.jax_cache/<cpu>/`` at the repository root (git-ignored),
    one folder per CPU model and instruction set, because XLA:CPU compiles for the host's
    instruction set and a checkout moved to another machine must not load another CPU's code."""
    if os.environ.get("EOSLIB_TEST_CACHE", "1") == "0" or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    try:
        info = Path("/proc/cpuinfo").read_text()
        cpu = next((ln for ln in info.splitlines() if ln.startswith("model name")), "") + \
            next((ln for ln in info.splitlines() if ln.startswith("flags")), "")
    except OSError:
        cpu = platform.processor() + platform.machine()
    folder = Path(__file__).resolve().parent.parent / ".jax_cache" / hashlib.sha256(cpu.encode()).hexdigest()[:12]
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    # A size limit makes JAX read and write each entry under a file lock (the filelock package):
    # without one, two processes that compile the same program write one file at once, and a
    # third may read it half-written. A whole run writes ~46 MB (2026-12-07), far below the limit.
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(2 << 30))


_pin_xdist_worker()
_persistent_cache()

from eoslib import data  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def release_compiled_code():
    """After each test module: JAX's caches cleared, so that its compiled executables (and
    their memory mappings) are freed; the next module compiles what it needs."""
    yield
    import jax

    jax.clear_caches()
    gc.collect()


@pytest.fixture(scope="session")
def load_or_skip():
    """``load_or_skip(what, loader, *args)``: ``loader(*args)``, or skip the test when the data
    set `what` is not found (see ``data.ENV_VAR``)."""

    def load(what, loader, *args):
        try:
            return loader(*args)
        except data.DataNotFoundError as e:
            pytest.skip(f"{what} not available (set {data.ENV_VAR}): {e}")

    return load


@pytest.fixture(scope="module")
def small_split(load_or_skip):
    """The first 128 training and 32 evaluation Fashion-MNIST examples, standardized (a module
    may override it with another size)."""
    return load_or_skip("Fashion-MNIST", data.fashion_mnist, 128, 32)


@pytest.fixture
def x64():
    """Float64 for this test only (``jax.enable_x64`` as a context, never switched on globally)."""
    import jax

    with jax.enable_x64(True):
        yield


"""Shared fixtures: data sets that skip a test cleanly where they are not installed.

JAX's persistent compilation cache is off in the tests: with it on, a clean-clone CI run
segfaulted once while writing a compiled eigensolver to the cache (``compilation_cache.
put_executable_and_time``, two xdist workers on two cores, 2026-12-04), after two runs of the
same tree had passed. Set ``$JAX_COMPILATION_CACHE_DIR`` yourself to use it locally. Measured
again on 2026-12-07 (an AMD EPYC, 2 cores, two niced fills beside): ``make test`` with the cache
on (``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0.5``, empty at the start) summed 2,452 s of
test time and did not crash; a clean-clone run without it summed 2,999 s (test_sweep 150 against
271 s, test_store 199 against 270 s, test_diagnostics 110 against 178 s). Turning it back on
needs several clean-clone runs without a crash first.

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
import os

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


_pin_xdist_worker()

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


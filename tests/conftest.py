"""Shared fixtures: data sets that skip a test cleanly where they are not installed.

Compiled programs are cached on disk for the whole run (``$JAX_COMPILATION_CACHE_DIR``, default
``.jax_cache/``, git-ignored), set here before JAX is imported so that the notebooks' kernels
(nbval, the smoke runs) inherit it: many tests and chapters compile the same programs (VGG10's
initialization alone takes ~9 s to compile on two cores), and the cache hands back the same
executable, so no result changes."""

import os
from pathlib import Path

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

import pytest  # noqa: E402

from eoslib import data  # noqa: E402


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


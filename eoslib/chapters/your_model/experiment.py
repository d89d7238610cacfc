"""Chapter 8 ("Edge-of-stability diagnostics for your own model"): the chapter's example of a
researcher's own model and data, and its two runs as a stored computation.

Neither is anything the rest of eoslib knows. The data are arrays (:func:`pointer_data`):
sequences of :data:`LENGTH` tokens from a vocabulary of :data:`VOCAB`, labelled by a pointer
(the first token names a position; the label is the token found there, modulo :data:`CLASSES`),
so that solving it needs attention. The model is one pre-norm transformer block
(:class:`Block`). :func:`problem` turns them into the only thing the engine needs, a
:class:`eoslib.diagnostics.Problem` (the exact full-batch loss of ``(params, batch)``), and
:func:`run_study` trains it twice from the same initialization through the public engine,
:func:`eoslib.diagnostics.train`: gradient descent with threshold-driven tracking
(every eigenvalue above ``threshold_factor`` · 2/η) and Adam with the effective sharpness
λ_max(P⁻¹H).

The study takes about two minutes on a CPU, so it is a computation record of kind :data:`KIND`
in the committed store :data:`STORE` (:func:`study`: keyed by :data:`STUDY_KEYS`, the trainer's
and this module's versions), and CI re-verifies a sampled record (:func:`reverify`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from eoslib import verification
from eoslib.diagnostics import Problem, train
from eoslib.preconditioned import stability_limit
from eoslib.results import ResultsStore, pack, unpack
from eoslib.runs import computation_spec, study_record

__all__ = ["PRESETS", "VALIDATORS", "VOCAB", "LENGTH", "CLASSES", "KIND", "STORE", "VERSION", "STUDY_KEYS",
           "pointer_data", "Block", "problem", "run_study", "study", "reverify"]

_CI = dict(n_train=512, width=16, heads=2, gd_lr=0.05, gd_steps=400, adam_lr=0.003, adam_steps=250, eig_every=10,
           threshold_factor=0.5, k_max=12, eig_tol=1e-3, seed=0)
PRESETS: dict[str, dict[str, Any]] = {
    "ci": _CI,
    "paper": {**_CI, "n_train": 2048, "gd_steps": 1000, "adam_steps": 600, "eig_every": 5, "k_max": 20},
    "tiny": {**_CI, "n_train": 128, "gd_steps": 40, "adam_steps": 20, "eig_every": 20, "k_max": 4},
}
"""Chapter 8's profiles (:func:`eoslib.params.resolve`)."""


def _check_width(v) -> str | None:
    return None if v >= 2 and v % 2 == 0 else "must be even and >= 2"


VALIDATORS = {
    "n_train": lambda v: None if 16 <= v <= 100_000 else "must be in [16, 100000]",
    "width": _check_width,
    "heads": lambda v: None if v >= 1 else "must be >= 1",
    "gd_lr": lambda v: None if v > 0 else "must be positive",
    "gd_steps": lambda v: None if v >= 1 else "must be >= 1",
    "adam_lr": lambda v: None if v > 0 else "must be positive",
    "adam_steps": lambda v: None if v >= 1 else "must be >= 1",
    "eig_every": lambda v: None if v >= 1 else "must be >= 1",
    "threshold_factor": lambda v: None if 0 < v <= 1 else "must be in (0, 1]",
    "k_max": lambda v: None if 2 <= v <= 50 else "must be in [2, 50]",
    "eig_tol": lambda v: None if 0 < v < 0.1 else "must be in (0, 0.1)",
    "seed": lambda v: None if v >= 0 else "must be >= 0",
}
"""Chapter 8's parameter checks; :func:`check` adds the one between two parameters."""


def check(P: Mapping[str, Any]) -> Mapping[str, Any]:
    """``P`` once the parameters that depend on each other agree (``width`` a multiple of ``heads``)."""
    if P["width"] % P["heads"]:
        raise ValueError(f"width={P['width']} must be a multiple of heads={P['heads']}")
    return P

VOCAB, LENGTH, CLASSES = 8, 8, 4
KIND = "your-model-study"
STORE = "your-model"  # the committed store's folder, store/your-model/
VERSION = 1
"""Version of :func:`run_study` (data, model, runs): bump it with any change of its results."""

STUDY_KEYS = ("n_train", "width", "heads", "gd_lr", "gd_steps", "adam_lr", "adam_steps", "eig_every",
              "threshold_factor", "k_max", "eig_tol", "seed")
"""The chapter parameters that decide a study (all of them but the store's location)."""


def pointer_data(n: int, seed: int) -> tuple[jax.Array, jax.Array]:
    """``n`` sequences, tokens (n, LENGTH) in [0, VOCAB), and their labels (n,) in [0, CLASSES):
    the token at the position named by the first token, modulo CLASSES."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, VOCAB, size=(n, LENGTH))
    labels = tokens[np.arange(n), tokens[:, 0] % LENGTH] % CLASSES
    return jnp.asarray(tokens), jnp.asarray(labels)


class Block(nn.Module):
    """One pre-norm transformer block (self-attention and an MLP, each with a residual
    connection), mean-pooled into a linear head: tokens (n, LENGTH) -> logits (n, CLASSES)."""

    width: int
    heads: int

    @nn.compact
    def __call__(self, tokens):
        h = nn.Embed(VOCAB, self.width)(tokens) + self.param("position", nn.initializers.normal(0.02),
                                                             (LENGTH, self.width))
        h = h + nn.MultiHeadDotProductAttention(num_heads=self.heads)(nn.LayerNorm()(h))
        h = h + nn.Dense(self.width)(nn.gelu(nn.Dense(2 * self.width)(nn.LayerNorm()(h))))
        return nn.Dense(CLASSES)(nn.LayerNorm()(h).mean(axis=1))


def problem(P: Mapping[str, Any]) -> tuple[Problem, Any]:
    """The engine's view of the task: the mean cross-entropy of :class:`Block` on the whole
    batch of ``P["n_train"]`` sequences, and the initial parameters (seed ``P["seed"]``)."""
    batch = pointer_data(P["n_train"], P["seed"])
    model = Block(P["width"], P["heads"])
    params = model.init(jax.random.key(P["seed"]), batch[0][:2])["params"]

    def loss(params, batch):
        logits = model.apply({"params": params}, batch[0])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch[1]).mean()

    return Problem(loss, batch), params


def run_study(P: Mapping[str, Any]) -> dict:
    """Gradient descent at ``gd_lr`` tracking every eigenvalue above ``threshold_factor`` · 2/η
    (at most ``k_max``), and Adam at ``adam_lr`` with its plain and effective sharpness, both
    from the same initialization, eigensolves every ``eig_every`` steps to relative residual
    ``eig_tol``. Returns ``{"gd": …, "adam": …}`` (:func:`eoslib.diagnostics.train`'s series,
    without the last parameters) and each run's wall time in seconds (``gd_s``, ``adam_s``)."""
    prob, params = problem(P)
    t0 = time.perf_counter()
    gd = train(prob, params, optax.sgd(P["gd_lr"]), P["gd_steps"], eig_every=P["eig_every"], k=1,
               threshold=P["threshold_factor"] * 2 / P["gd_lr"], k_max=P["k_max"], tol=P["eig_tol"],
               compiled=False)  # host driver: few compiles when the tracked set's size varies
    t1 = time.perf_counter()
    adam = train(prob, params, optax.adam(P["adam_lr"]), P["adam_steps"], eig_every=P["eig_every"], k=1,
                 preconditioner="adam", tol=P["eig_tol"], compiled=False)
    t2 = time.perf_counter()
    drop = lambda run: {name: v for name, v in run.items() if name != "params"}  # noqa: E731
    return {"gd": drop(gd), "adam": drop(adam), "gd_s": t1 - t0, "adam_s": t2 - t1,
            "gd_limit": 2 / P["gd_lr"], "adam_limit": stability_limit("adam", P["adam_lr"])}


def _spec(P: Mapping[str, Any]) -> dict:
    return computation_spec(VERSION, parameters={k: P[k] for k in STUDY_KEYS})


def study(P: Mapping[str, Any], store: ResultsStore, *, progress: bool = True) -> dict:
    """:func:`run_study` for the chapter's parameters ``P``, read from ``store`` when it holds
    the :data:`KIND` record of ``P`` (:data:`STUDY_KEYS`), else computed and stored."""
    record = study_record(store, KIND, _spec(P), lambda spec: pack(run_study(spec["parameters"])), progress=progress)
    return unpack(record["value"])


def reverify(record: dict, *, prefix: int = 10, rtol: float = 5e-3, again: dict | None = None) -> list[str]:
    """Problems found re-verifying a :data:`KIND` record here (empty: verified): it is current
    (:func:`eoslib.verification.computation_is_current`), and both runs, re-trained for their
    first ``prefix`` steps with the same eigensolves (or ``again``, such a re-run already made),
    match the stored loss and top eigenvalue (Adam: the effective one too) up to the edge of
    stability of the run's own limit (:func:`eoslib.verification.series_window`, on the
    eigen-steps; chaotic after)."""
    problems = verification.computation_is_current(record, VERSION)
    P, stored = record["spec"]["parameters"], unpack(record["value"])
    if again is None:
        again = run_study({**P, "gd_steps": min(prefix, P["gd_steps"]), "adam_steps": min(prefix, P["adam_steps"])})
    for run, series in (("gd", ["sharpness"]), ("adam", ["sharpness", "effective"])):
        a, b = stored[run], again[run]
        n = len(b["eig_step"])
        limit = stored[f"{run}_limit"]
        last = verification.series_window(a["loss"][a["eig_step"][:n]], np.nan_to_num(a[series[-1]][:n]), 2 / limit)
        problems += [f"{run} {p}" for p in verification.compare_series(
            {s: np.nan_to_num(a[s][:n]) for s in series}, {s: np.nan_to_num(b[s]) for s in series}, last, rtol=rtol)]
        problems += [f"{run} {p}" for p in verification.compare_series(
            {"loss": a["loss"]}, {"loss": b["loss"]}, int(a["eig_step"][last]), rtol=rtol)]
    return problems

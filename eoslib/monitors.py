"""Monitors: small objects that plug into the trainer's eigen recorder
(:class:`eoslib.runs.EigenRecorder`) to stop a run or to record something from its eigenpairs. A run's monitors are
part of its :class:`~eoslib.runs.RunConfig` (``monitors=(StopAfterPeak(50),)``), hence of its
results-store key.

Each monitor is a frozen dataclass (its parameters) with pure functions over a small state:

- ``init()`` → state;
- ``pending(state)``: True while the monitor wants the trainer to look at every epoch (an
  eigensolve triggered by the training accuracy rather than by the schedule);
- ``wants_solve(state, accuracy)``: an eigensolve is needed now, off the schedule;
- ``observe(state, obs)`` → ``(state, stop)``, after each recorded eigensolve (:class:`Observation`);
- ``end_k``: eigenvectors it needs at the last parameters (0: none), and
  ``final(state, end)`` → its final metrics, ``end`` the :class:`~eoslib.lanczos.Eigenpairs` at the
  last parameters (None when the run diverged or no end solve was made);
- ``key_fields()``: its parameters under the names the stored keys have always used (before
  monitors were objects they were fields of the config), so that no key moved.

The paper's chapters use three: :class:`StopAfterPeak` (Section 3.2's cycles, chapter 3),
:class:`StopAbove` (Figure 4's η_small runs, which become unstable) and :class:`Rotation`
(Appendix I's ρ, chapters 4 and 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from eoslib.similarity import cosine_grassmann_similarity

__all__ = ["Observation", "StopAfterPeak", "StopAbove", "Rotation", "MONITORS", "KEY_DEFAULTS",
           "has_peaked", "from_key_fields"]


class Observation(NamedTuple):
    """One recorded eigensolve as the monitors see it: ``values`` (k,) and ``vectors`` (d, k) at
    ``epoch``; ``lr`` the learning rate then (η, or η_small after the reduction); ``counted``:
    whether the run has reached the phase its stop rules watch (after the learning-rate
    reduction, or always for a schedule without one); ``accuracy``: the last training accuracy
    measured (None before the first epoch)."""

    epoch: int
    values: np.ndarray
    vectors: np.ndarray
    lr: float
    counted: bool
    accuracy: float | None


def has_peaked(epochs, values, window: int) -> bool:
    """True when the largest of ``values`` (recorded at increasing ``epochs``) was reached
    at least ``window`` epochs before the last record (the first maximum, if tied)."""
    if len(epochs) == 0:
        return False
    return int(epochs[-1]) - int(epochs[int(np.argmax(values))]) >= window


class _Monitor:
    """Defaults of the monitor protocol (module docstring)."""

    end_k = 0

    def init(self):
        return None

    def pending(self, state) -> bool:
        return False

    def wants_solve(self, state, accuracy: float | None) -> bool:
        return False

    def final(self, state, end) -> dict:
        return {}


@dataclass(frozen=True)
class StopAfterPeak(_Monitor):
    """Stop once the sharpness has peaked (chapter 3's cycles). Among the counted evaluations
    (:class:`Observation`), let S_peak be the largest top eigenvalue and e_peak its epoch; the
    run stops at the first evaluation epoch e with e − e_peak ≥ ``window``, i.e. when S has not
    exceeded its maximum for ``window`` epochs. ``final["peaked"]`` says whether it did."""

    window: int

    def __post_init__(self):
        if self.window <= 0:
            raise ValueError(f"StopAfterPeak(window={self.window}): the window must be > 0 epochs")

    def key_fields(self) -> dict:
        return {"stop_after_peak": int(self.window)}

    def init(self):
        return ((), (), False)  # counted epochs, their top eigenvalues, peaked

    def observe(self, state, obs: Observation):
        epochs, values, peaked = state
        if obs.counted:
            epochs, values = (*epochs, obs.epoch), (*values, float(obs.values[0]))
            peaked = has_peaked(epochs, values, self.window)
        return (epochs, values, peaked), peaked

    def final(self, state, end) -> dict:
        return {"peaked": state[2]}


@dataclass(frozen=True)
class StopAbove(_Monitor):
    """Stop at the first counted evaluation whose top eigenvalue is at least ``value`` (e.g.
    2/η_small: the run became unstable after the reduction). ``final["above"]`` says so."""

    value: float

    def key_fields(self) -> dict:
        return {"stop_above": float(self.value)}

    def init(self):
        return False

    def observe(self, state, obs: Observation):
        above = float(obs.values[0]) >= self.value if obs.counted else state
        return above, above

    def final(self, state, end) -> dict:
        return {"above": state}


@dataclass(frozen=True)
class Rotation(_Monitor):
    """ρ, the rotation of the top ``k`` Hessian eigenvectors (Appendix I: "similarity of
    eigenvectors"). The top-k eigenvectors are kept at two anchors: ``"rho"``, the first
    evaluation at which the training accuracy (of the epoch before it) is at least ``accuracy``
    (at the edge of stability the accuracy can cross it between evaluations and fall back
    before one, so the anchor is where an evaluation sees it); with ``at_accuracy`` the trainer
    looks at every epoch until then and solves at the first epoch that reaches it; and
    ``"rho_eos"``, the first evaluation at which S reached 2/η (never, for a stable run). At
    the end, ``final["rho"]`` and ``final["rho_eos"]`` are the cosine-Grassmannian similarities
    (:func:`eoslib.similarity.cosine_grassmann_similarity`) of the top-k subspace at the last
    parameters to the one at each anchor (NaN without the anchor), with the anchors' epochs:
    1 when the sharpest directions did not turn since, smaller the more they rotated."""

    k: int
    accuracy: float = 0.9
    at_accuracy: bool = False

    def __post_init__(self):
        if self.k <= 0:
            raise ValueError(f"Rotation(k={self.k}): k must be > 0")

    @property
    def end_k(self) -> int:
        return self.k

    def key_fields(self) -> dict:
        out = {"rho_k": int(self.k), "rho_accuracy": float(self.accuracy)}
        return {**out, "rho_at_accuracy": True} if self.at_accuracy else out

    def init(self):
        return {"rho": None, "rho_eos": None}  # name -> (epoch, (d, k) vectors)

    def pending(self, state) -> bool:
        return self.at_accuracy and state["rho"] is None

    def wants_solve(self, state, accuracy: float | None) -> bool:
        return self.pending(state) and accuracy is not None and accuracy >= self.accuracy

    def observe(self, state, obs: Observation):
        reached = {"rho": obs.accuracy is not None and obs.accuracy >= self.accuracy,
                   "rho_eos": float(obs.values[0]) >= 2.0 / obs.lr}
        new = {name: (obs.epoch, np.asarray(obs.vectors[:, :self.k])) if hit and state[name] is None
               else state[name] for name, hit in reached.items()}
        return new, False

    def final(self, state, end) -> dict:
        if end is None:
            return {}
        out = {}
        for name, anchor in state.items():
            out[name] = float("nan") if anchor is None else float(
                cosine_grassmann_similarity(anchor[1], np.asarray(end.vectors)[:, :self.k]))
            out[f"{name}_epoch"] = None if anchor is None else anchor[0]
        return out


MONITORS = (StopAfterPeak, StopAbove, Rotation)
"""The monitor types a stored config can name (:func:`from_key_fields`)."""

KEY_DEFAULTS = {"stop_after_peak": 0, "stop_above": float("inf"), "rho_k": 0, "rho_accuracy": 0.9}
"""The key fields of a config without monitors: every stored key has them (``rho_at_accuracy``
only when true), the values the config fields had before monitors were objects."""


def from_key_fields(d: dict) -> tuple[tuple, dict]:
    """``(monitors, rest)``: the monitors that the key fields of a stored config ``d`` name
    (:meth:`key_fields`, :data:`KEY_DEFAULTS`), and ``d`` without those fields."""
    rest = {name: v for name, v in d.items() if name not in (*KEY_DEFAULTS, "rho_at_accuracy")}
    out = []
    if d.get("stop_after_peak", 0) > 0:
        out.append(StopAfterPeak(int(d["stop_after_peak"])))
    if np.isfinite(d.get("stop_above", float("inf"))):
        out.append(StopAbove(float(d["stop_above"])))
    if d.get("rho_k", 0) > 0:
        out.append(Rotation(int(d["rho_k"]), float(d.get("rho_accuracy", 0.9)), bool(d.get("rho_at_accuracy", False))))
    return tuple(out), rest

"""eoslib: gradient descent at the edge of stability.

A small functional JAX library behind the book reproducing Wang & Roberts, *Can Stability Be
Detrimental? Better Generalization through Gradient Descent Instabilities*. The names chapters
use are re-exported here (``from eoslib import RunConfig, train, ...``); each module has one job.

Map of the engine's modules (the paper's chapters are in :mod:`eoslib.chapters`, one package each):

- :mod:`eoslib.objective`: the chunked full-batch loss, its gradient and its HVPs (one of each).
- :mod:`eoslib.lanczos`: the Lanczos iteration (init/step/extract), its compiled and host
  drivers, guard pairs and the missed-eigenvalue check (certified top-k eigenpairs: a stated
  error bound that holds with probability ≥ 1 − p, ``Check``; the stores' ``LEGACY_CHECK``).
- :mod:`eoslib.tracking`: warm-started tracking of the top eigenpairs along training, and of
  every eigenpair above a threshold (``track_above``: the set grows and shrinks as they cross it).
- :mod:`eoslib.diagnostics`: the same diagnostics on a model of one's own: any
  ``loss(params, batch)``, any optax optimizer, certified (effective) sharpness along training.
- :mod:`eoslib.preconditioned`: effective sharpness λ_max(P⁻¹H) of Adam and RMSProp from optax's
  states, and the stability limits of GD, momentum, RMSProp and Adam.
- :mod:`eoslib.similarity`: eigenvector and subspace similarity (Ye & Lim).
- :mod:`eoslib.sharpening`: progressive-sharpening factor α = −∇L·∇S (Appendix G).
- :mod:`eoslib.instability`: loss spikes and rotations through them (Section 3.2, App. D).
- :mod:`eoslib.dln`: diagonal linear networks, closed-form theory (Sections 3.1-3.2, App. B-C;
  chapters 1 and 2 use it).
- :mod:`eoslib.execution`: every CPU/GPU decision (compiled loops, lane groups, stored
  transposes), from the device and what the model declares.
- :mod:`eoslib.data`: Fashion-MNIST and CIFAR-10, verified, fetched, subset, standardized.
- :mod:`eoslib.models`: the paper's networks (Appendix F) and the model table.
- :mod:`eoslib.losses`: per-example losses; :mod:`eoslib.schedules`: learning-rate schedules.
- :mod:`eoslib.gd`: GD state, the epoch step and its loops (single and vmapped).
- :mod:`eoslib.runs`: ``RunConfig``, setup and collection shared with sweeps, the eigen
  recorder, the loop both drivers share (``drive``), ``train`` (the single-run driver),
  ``run_or_load``; :mod:`eoslib.monitors`: stop rules and recorders that plug into it
  (``StopAfterPeak``, ``StopAbove``, ``Rotation``).
- :mod:`eoslib.grid`: the learning-rate grid swept until divergence, a run's fate (completed,
  diverged, dead) and the stability threshold; Figure 5a's run (chapters 4, 6, 7 and 9 use it).
- :mod:`eoslib.sweep`: vmapped, sharded, resumable (checkpointed) sweeps; :mod:`eoslib.results`:
  the store; :mod:`eoslib.verification`: re-running stored records (whole, or a prefix).
- :mod:`eoslib.provenance`: device, versions, commit.
- :mod:`eoslib.params`: chapter presets (``from_cell``: a notebook's parameters cell resolved in
  one call); :mod:`eoslib.report`: claims tables.

Path of data from a chapter to a stored record: the chapter's ``parameters`` cell →
:func:`eoslib.params.resolve` (preset + validated overrides) → a :class:`RunConfig` →
:func:`train` (or :func:`eoslib.sweep.sweep`): :func:`eoslib.runs.prepare` builds the :class:`Objective` and
the :class:`ExecutionPlan`, :mod:`eoslib.data` loads the split, :func:`eoslib.gd.run_epochs`
trains, :func:`eoslib.tracking.top_eigenpairs` records certified eigenpairs,
:func:`eoslib.runs.collect` makes the history → :func:`eoslib.results.make_record` (config,
history, eigen, final metrics, provenance with the execution plan) → :class:`ResultsStore`
under :meth:`RunConfig.key`; the chapter's claims go to :func:`eoslib.report.record_run`, which
``tools/execute.py`` stores in the notebook's metadata.

Two layers. ``import eoslib`` loads the engine only (and re-exports its names below); the paper's
chapters, :mod:`eoslib.chapters`, are imported by name (``from eoslib.chapters.rotations import
claims``). No engine module imports a chapter (``tests/test_layers.py``).
"""

from eoslib import (
    data,
    diagnostics,
    instability,
    preconditioned,
    runs,
    schedules,
    similarity,
    sweep,
)
from eoslib._version import __version__
from eoslib.execution import ExecutionPlan, plan
from eoslib.lanczos import Check, Eigenpairs, lanczos_eigh
from eoslib.monitors import Rotation, StopAbove, StopAfterPeak
from eoslib.objective import Batch, Objective, flat_hvp, hvp, linearized_flat_hvp
from eoslib.params import ParameterError, from_cell, resolve
from eoslib.report import Claim, ClaimsTable, record_run
from eoslib.results import ResultsStore
from eoslib.runs import RunConfig, RunResult, run_or_load, train
from eoslib.schedules import Schedule
from eoslib.tracking import AbovePairs, top_eigenpairs, track_above, track_eigh

__all__ = [
    "__version__", "data", "diagnostics", "instability", "preconditioned", "runs", "schedules",
    "similarity", "sweep",
    "ExecutionPlan", "plan", "Check", "Eigenpairs", "lanczos_eigh", "Batch", "Objective", "flat_hvp",
    "hvp", "linearized_flat_hvp", "ParameterError", "resolve", "from_cell", "Claim", "ClaimsTable", "record_run", "ResultsStore",
    "RunConfig", "RunResult", "run_or_load", "train", "Schedule", "StopAfterPeak", "StopAbove", "Rotation",
    "top_eigenpairs", "track_eigh", "track_above", "AbovePairs",
]

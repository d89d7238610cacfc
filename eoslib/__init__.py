"""eoslib: gradient descent at the edge of stability.

A small functional JAX library behind the book reproducing Wang & Roberts, *Can Stability Be
Detrimental? Better Generalization through Gradient Descent Instabilities*. The names chapters
use are re-exported here (``from eoslib import RunConfig, train, ...``); each module has one job.

Map of modules:

- :mod:`eoslib.dln`: diagonal linear networks, closed-form theory (Sections 3.1-3.2, App. B-C);
  :mod:`eoslib.dln_claims`: chapter 1's claims.
- :mod:`eoslib.dln_sums`: sums of DLNs, the two-term block Hessian and its rotation ratios (App. E).
- :mod:`eoslib.period2`: App. D's period-2 process: the equilibrium rate, ReLU-mask flips and linearization.
- :mod:`eoslib.som`: a single-output MLP as a sum over paths of products of its parameters (App. A.1 eq. 3, App. D).
- :mod:`eoslib.objective`: the chunked full-batch loss, its gradient and its HVPs (one of each).
- :mod:`eoslib.lanczos`: the Lanczos iteration (init/step/extract), its compiled and host
  drivers, guard pairs and the missed-eigenvalue check (certified top-k eigenpairs: a stated
  error bound that holds with probability ≥ 1 − p, ``Check``; the stores' ``LEGACY_CHECK``).
- :mod:`eoslib.tracking`: warm-started tracking of the top eigenpairs along training, and of
  every eigenpair above a threshold (``track_above``: the set grows and shrinks as they cross it).
- :mod:`eoslib.diagnostics`: the same diagnostics on a model of one's own: any
  ``loss(params, batch)``, any optax optimizer, certified (effective) sharpness along training;
  :mod:`eoslib.diagnostics_claims`: the claims of the your-own-model chapter (the paper's
  Section 2 and Cohen et al.'s Adam limit, on any recorded run).
- :mod:`eoslib.preconditioned`: effective sharpness λ_max(P⁻¹H) of Adam and RMSProp from optax's
  states, and the stability limits of GD, momentum, RMSProp and Adam.
- :mod:`eoslib.similarity`: eigenvector and subspace similarity (Ye & Lim).
- :mod:`eoslib.sharpening`: progressive-sharpening factor α = −∇L·∇S (Appendix G).
- :mod:`eoslib.execution`: every CPU/GPU decision (compiled loops, lane groups, stored
  transposes), from the device and what the model declares.
- :mod:`eoslib.data`: Fashion-MNIST and CIFAR-10, verified, fetched, subset, standardized.
- :mod:`eoslib.models`: the paper's networks (Appendix F) and the model table;
  :mod:`eoslib.param_counts`: which reading of Appendix F gives the paper's VGG counts.
- :mod:`eoslib.losses`: per-example losses; :mod:`eoslib.schedules`: learning-rate schedules.
- :mod:`eoslib.gd`: GD state, the epoch step and its loops (single and vmapped).
- :mod:`eoslib.runs`: ``RunConfig``, setup and collection shared with sweeps, ``train``,
  ``run_or_load``.
- :mod:`eoslib.sweep`: vmapped, sharded, resumable sweeps; :mod:`eoslib.results`: the store.
- :mod:`eoslib.provenance`: device, versions, commit.
- :mod:`eoslib.instability`: loss spikes and rotations through them (Section 3.2, App. D);
  :mod:`eoslib.rotations`: chapter 2's experiment per seed and detection rule (runs, reruns,
  similarities); :mod:`eoslib.rotation_claims`: the statistics behind chapter 2's claims;
  :mod:`eoslib.resolution`: Section 3.2's smooth (DLN) versus sharp (MLP) resolution of an
  instability, measured alike on both and compared at the same excess past 2/η.
- :mod:`eoslib.landscape`: slices of L and S along a line, the curvature of S (λ'' by nested
  JVPs and CG, and at a slice's scale); :mod:`eoslib.flattening`: the landscape through an
  instability cycle and Figure 4's runs (Section 3.3, App. H); :mod:`eoslib.flattening_claims`:
  chapter 3's claims.
- :mod:`eoslib.generalization`: the learning-rate grid swept until divergence, thresholds and
  bootstrap statistics (Section 4.1, App. I); :mod:`eoslib.generalization_claims`: chapter 4's
  claims; :mod:`eoslib.verification`: re-running stored records (whole, or a prefix);
  :mod:`eoslib.cifar_claims`: the CIFAR-10 chapter's claims (each with its scale; NOT RUN
  without its runs); :mod:`eoslib.cost`: FLOPs and device-hours of the paper-scale runs.
- :mod:`eoslib.init_study`: how the models' initialization (:data:`eoslib.models.INITS`) moves
  the edge of stability (the book's Appendix F).
- :mod:`eoslib.interventions`: GD with a learning rate per tracked eigendirection (Figure 10);
  :mod:`eoslib.drivers`: phases of |θ − θ*|, α along a run, trajectory distances (App. G);
  :mod:`eoslib.drivers_claims`: chapter 5's claims.
- :mod:`eoslib.params`: chapter presets; :mod:`eoslib.report`: claims tables;
  :mod:`eoslib.figures`: the paper's figures.

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
per-chapter modules, :data:`PAPER_MODULES`, are imported by name (``from eoslib import
rotations``). No engine module imports one of them (``tests/test_layers.py``).
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
from eoslib.objective import Batch, Objective, flat_hvp, hvp
from eoslib.params import ParameterError, resolve
from eoslib.report import Claim, ClaimsTable, record_run
from eoslib.results import ResultsStore
from eoslib.runs import RunConfig, RunResult, run_or_load, train
from eoslib.schedules import Schedule
from eoslib.tracking import AbovePairs, top_eigenpairs, track_above, track_eigh

PAPER_MODULES = (
    "dln", "dln_claims", "dln_sums", "period2", "som",  # chapter 1 (Sections 3.1-3.2, App. A-C, E)
    "rotations", "rotation_claims", "resolution",  # chapter 2
    "landscape", "flattening", "flattening_claims",  # chapter 3
    "generalization", "generalization_claims", "cifar_claims", "cost", "param_counts",  # chapters 4 and 6
    "interventions", "drivers", "drivers_claims",  # chapter 5
    "init_study",  # Appendix F
    "diagnostics_claims", "your_model",  # chapter 8
    "squared_loss",  # chapter 9 (beyond the paper: the squared loss)
    "figures",  # every chapter's figures
)
"""The modules of the paper's analyses, by chapter: the layer above the engine."""

__all__ = [
    "__version__", "PAPER_MODULES", "data", "diagnostics", "instability", "preconditioned", "runs", "schedules",
    "similarity", "sweep",
    "ExecutionPlan", "plan", "Check", "Eigenpairs", "lanczos_eigh", "Batch", "Objective", "flat_hvp",
    "hvp", "ParameterError", "resolve", "Claim", "ClaimsTable", "record_run", "ResultsStore",
    "RunConfig", "RunResult", "run_or_load", "train", "Schedule",
    "top_eigenpairs", "track_eigh", "track_above", "AbovePairs",
]

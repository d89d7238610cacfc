"""Chapter 2's experiment (Section 3.2, Appendix D): eigenvector rotations through the
instabilities of one seed's run, repeated over seeds and over detection rules.

One seed (:func:`run_seed`):

1. :func:`train_seed`: full-batch GD on the paper's MLP (Appendix F) at constant ``eta``, with
   the top ``num_eigs`` certified Hessian eigenpairs at every epoch (``eoslib.tracking``).
2. For each :class:`Rule` (:func:`rules`: the chapter's, one with another ``min_rise`` and two
   with another end criterion), :func:`find_snapshots`: the loss spikes of
   :func:`eoslib.instability.detect_instabilities` that start in the edge-of-stability phase
   (:func:`eos_phase`: from the first epoch with ``S >= 2/eta`` to the first epoch at which the
   training accuracy reaches ``fit_accuracy``, the data fitted) and resolve at least
   ``after_epochs`` before the run ends; the ``num_snapshots`` largest. The paper's
   instabilities are those of the edge of stability, where ``S`` crosses ``2/eta`` and comes
   back (Section 3.3 follows one "from stability to instability and back to stability, using
   epochs 119 to 158 in the same MLP trajectory as Section 3.2"). Once the training set is
   fitted the loss is small, so the relative rise of a late catapult is large, and choosing by
   rise would prefer those catapults over the edge-of-stability spikes.
3. :func:`analyse`: for each snapshot the similarity to its start at period ``T = period``
   (Figure 2, top), at every period of ``periods`` (Figure 8), and in the reruns whose learning
   rate is reduced to ``reduction_factor * eta`` at ``start + f (end - start)`` for each ``f`` of
   ``reduction_fractions`` (Figure 2, bottom). A rerun is the same trajectory up to the
   reduction (checked), so :class:`Reruns` computes each (epoch, length) once for all rules.

The eigenvectors ((E, d, k): 0.27 GB per seed at the ``ci`` profile, 1.1 GB at ``paper``) are
dropped once a seed is analysed; a :class:`SeedResult` keeps the loss, the eigenvalues and the
similarity series. ``P`` is always the chapter's resolved parameters (:data:`PRESETS`).

Eigenpairs are recorded at every epoch and cost most of a run, one model at a time (the
eigensolver is not vmapped), so seeds run one after another rather than as lanes of a sweep.

Each seed's :class:`SeedResult` is a computation record of kind :data:`SEED_KIND` in a results
store (:func:`seed_results`: the committed ``store/rotations/`` by default), keyed by the
parameters that decide it (:func:`seed_spec`), the seed, :data:`eoslib.runs.TRAINER_VERSION`
and :data:`VERSION`; a chapter computes only the seeds its store lacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from eoslib import instability, models, schedules, verification
from eoslib.data import Split
from eoslib.instability import Instability, SimilarityToBaseline
from eoslib.results import ResultsStore, computed, pack, unpack
from eoslib.runs import CHECKS, RunConfig, RunResult, computation_spec, train

__all__ = ["PRESETS", "VALIDATORS", "FIT_ACCURACY", "Rule", "rules", "run_config", "train_seed", "eos_phase",
           "find_snapshots",
           "Reruns", "Analysis", "reduction_epochs", "analyse", "SeedResult", "run_seed", "seeds", "SEED_KIND",
           "VERSION", "STORE", "seed_spec", "encode", "decode", "seed_results", "compute", "reverify"]

FIT_ACCURACY = 0.99
"""Default ``fit_accuracy``: training accuracy at which the data count as fitted, ending the
edge-of-stability phase whose spikes are analysed (:func:`eos_phase`)."""

_CI = dict(eta=0.1, epochs=300, num_eigs=8, subspace_k=3, num_snapshots=3, min_rise=1.1, variant_min_rise=1.25,
           period=2, periods=[1, 2, 3, 4], after_epochs=12, reduction_factor=0.2,
           reduction_fractions=[0.25, 0.5, 0.75], fit_accuracy=FIT_ACCURACY, eig_tol=1e-3, n_train=1000, n_eval=200,
           weight_init="flax", eig_check="adaptive", seed=0, num_seeds=5,
           dln_theta0=[-0.1, 10.0], dln_etas=[0.011, 0.013], sharp_steps=3)
PRESETS: dict[str, dict[str, Any]] = {
    "ci": _CI,
    "paper": {**_CI, "epochs": 1000, "num_eigs": 10, "eig_tol": 3e-4, "num_seeds": 10},
    "tiny": {**_CI, "epochs": 150, "num_eigs": 4, "num_snapshots": 1, "after_epochs": 4, "periods": [1, 2],
             "reduction_fractions": [0.5], "n_train": 500, "n_eval": 100, "num_seeds": 1},
}
"""The chapter's profiles: ``ci`` (default; 5 seeds on a CPU in minutes), ``paper`` (1,000 epochs,
top-10 eigenpairs to 3e-4, 10 seeds) and ``tiny`` (smoke test)."""

VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    "eta": lambda v: None if v > 0 else "must be positive",
    "weight_init": lambda v: None if v in models.INITS else f"must be one of {models.INITS}",
    "epochs": lambda v: None if v >= 40 else "must be >= 40 (the run must reach the edge of stability)",
    "dln_theta0": lambda v: None if len(v) == 2 and abs(v[1]) > abs(v[0]) else "must be [theta_1, theta_2] with |theta_2| > |theta_1|",
    "dln_etas": lambda v: None if len(v) and all(e > 0 for e in v) else "must be a non-empty list of positive rates",
    "sharp_steps": lambda v: None if v >= 1 else "must be >= 1",
    "num_eigs": lambda v: None if 3 <= v <= 50 else "must be in [3, 50]",
    "subspace_k": lambda v: None if 1 <= v else "must be >= 1",
    "num_snapshots": lambda v: None if v >= 1 else "must be >= 1",
    "min_rise": lambda v: None if v > 1 else "must be > 1",
    "variant_min_rise": lambda v: None if v > 1 else "must be > 1",
    "period": lambda v: None if v >= 1 else "must be >= 1",
    "periods": lambda v: None if v and all(p >= 1 for p in v) else "must be a list of periods >= 1",
    "after_epochs": lambda v: None if v >= 2 else "must be >= 2",
    "reduction_factor": lambda v: None if 0 < v < 1 else "must be in (0, 1)",
    "reduction_fractions": lambda v: None if v and all(0 < f < 1 for f in v) else "must be fractions in (0, 1)",
    "fit_accuracy": lambda v: None if 0 < v <= 1 else "must be in (0, 1]",
    "eig_tol": lambda v: None if 0 < v < 0.1 else "must be in (0, 0.1)",
    "eig_check": lambda v: None if v in CHECKS else f"must be one of {tuple(CHECKS)}",
    "n_train": lambda v: None if 100 <= v <= 60000 else "must be in [100, 60000]",
    "n_eval": lambda v: None if 10 <= v <= 10000 else "must be in [10, 10000]",
    "seed": lambda v: None if v >= 0 else "must be >= 0",
    "num_seeds": lambda v: None if 1 <= v <= 100 else "must be in [1, 100]",
}


class Rule(NamedTuple):
    """A spike-detection rule: :func:`eoslib.instability.detect_instabilities`'s ``min_rise``
    and ``end`` criterion, with a name for tables."""

    name: str
    min_rise: float
    end: str = "start"


def rules(P: Mapping[str, Any]) -> list[Rule]:
    """The chapter's rule first, then its variants: ``variant_min_rise`` instead of ``min_rise``,
    and the resolution at half the rise (``end="half"``, earlier) or at the bottom of the fall
    (``end="valley"``) instead of back at the start level."""
    return [Rule(f"chapter: rise x{P['min_rise']:g}, end at start level", P["min_rise"]),
            Rule(f"rise x{P['variant_min_rise']:g}", P["variant_min_rise"]),
            Rule("end at half the rise", P["min_rise"], "half"),
            Rule("end at the valley", P["min_rise"], "valley")]


def seeds(P: Mapping[str, Any]) -> list[int]:
    """``seed, seed + 1, ..., seed + num_seeds - 1``; the first is the one shown in the figures."""
    return list(range(P["seed"], P["seed"] + P["num_seeds"]))


def run_config(P: Mapping[str, Any], seed: int, schedule: schedules.Schedule, max_epochs: int,
               eig_start: int = 0) -> RunConfig:
    """The chapter's run: the MLP on ``n_train`` Fashion-MNIST images, top-``num_eigs`` eigenpairs
    (with their vectors) at every epoch from ``eig_start`` on."""
    return RunConfig(model="mlp", weight_init=P["weight_init"], dataset="fmnist", n_train=P["n_train"], n_eval=P["n_eval"], schedule=schedule,
                     seed=seed, max_epochs=max_epochs, eig_every=1, eig_start=eig_start, eig_k=P["num_eigs"],
                     eig_tol=P["eig_tol"], eig_check=P["eig_check"], keep_eigenvectors=True,
                     sharpness_at_end=False)


def train_seed(P: Mapping[str, Any], split: Split, seed: int) -> RunResult:
    """The run at constant ``eta`` for ``epochs`` epochs; ``eigen["vectors"]`` (E, d, k) by epoch."""
    run = train(run_config(P, seed, schedules.constant(P["eta"]), P["epochs"]), split, progress=False)
    assert run.diverged or np.array_equal(run.eigen["epoch"], np.arange(len(run.history["train_loss"])))
    return run


def eos_phase(sharpness: np.ndarray, accuracy: np.ndarray, P: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``(reached, fitted)``: the first epoch with ``S >= 2/eta`` and the first epoch at which the
    training accuracy is ``>= fit_accuracy`` (None: never). The edge-of-stability phase is
    ``reached <= t < fitted`` (to the end of the run when ``fitted`` is None; empty when the
    data are fitted first). ``sharpness``, ``accuracy``: (E,)."""
    above = np.asarray(sharpness) >= 2.0 / P["eta"]
    fit = np.asarray(accuracy) >= P["fit_accuracy"]
    return (int(np.argmax(above)) if np.any(above) else None), (int(np.argmax(fit)) if np.any(fit) else None)


def find_snapshots(loss: np.ndarray, sharpness: np.ndarray, accuracy: np.ndarray, P: Mapping[str, Any],
                   rule: Rule) -> tuple[int | None, int | None, list[Instability], list[Instability]]:
    """``(reached, fitted, spikes, snapshots)``: the edge-of-stability phase (:func:`eos_phase`),
    the spikes of ``rule`` that peak at or after ``reached``, start before ``fitted`` and end at
    least ``after_epochs`` before the last epoch, and the ``num_snapshots`` largest of them
    (time order). ``loss``, ``sharpness``, ``accuracy`` (training): (E,)."""
    reached, fitted = eos_phase(sharpness, accuracy, P)
    if reached is None:
        return None, fitted, [], []
    last_usable = len(loss) - 1 - P["after_epochs"]
    before_fit = len(loss) if fitted is None else fitted
    spikes = [s for s in instability.detect_instabilities(loss, min_rise=rule.min_rise, first_epoch=reached,
                                                           end=rule.end) if s.end <= last_usable and s.start < before_fit]
    return reached, fitted, spikes, instability.largest(spikes, P["num_snapshots"])


class Reruns:
    """The reduced-learning-rate reruns of one seed's run, each computed once.

    ``rerun(r, stop)``: eigenvectors ``{epoch: (d, k)}`` for epochs ``r .. stop`` of the run whose
    learning rate drops from ``eta`` to ``reduction_factor * eta`` at epoch ``r``; its loss up to
    ``r`` must equal the run's (``loss`` (E,)). ``matvecs`` collects the mean Hessian-vector
    products per epoch of every rerun made.
    """

    def __init__(self, P: Mapping[str, Any], split: Split, seed: int, loss: np.ndarray):
        self.P, self.split, self.seed, self.loss = P, split, seed, loss
        self.cache: dict[tuple[int, int], dict[int, np.ndarray]] = {}
        self.matvecs: list[float] = []

    def __call__(self, r: int, stop: int) -> dict[int, np.ndarray]:
        if (r, stop) not in self.cache:
            P = self.P
            schedule = schedules.reduce_at_epoch(P["eta"], P["reduction_factor"] * P["eta"], r)
            rerun = train(run_config(P, self.seed, schedule, stop, eig_start=r), self.split, progress=False)
            assert np.array_equal(rerun.history["train_loss"][:r + 1], self.loss[:r + 1]), \
                "a rerun must retrace the run up to its reduction"
            self.cache[(r, stop)] = dict(zip(rerun.eigen["epoch"].tolist(), rerun.eigen["vectors"]))
            self.matvecs.append(float(rerun.eigen["num_matvecs"].mean()))
        return self.cache[(r, stop)]


class Analysis(NamedTuple):
    """One rule's view of one run. ``reached``, ``fitted``, ``spikes``, ``snapshots``: :func:`find_snapshots`;
    per snapshot, ``top`` (similarity at period ``T``), ``bottom`` (``{r: similarity}`` of the
    reruns reduced at ``r``, plus key ``-1``: the run at constant ``eta``) and ``by_period``
    (``{T: similarity}``), as :mod:`eoslib.chapters.rotations.claims` takes them."""

    rule: Rule
    reached: int | None
    fitted: int | None
    spikes: list[Instability]
    snapshots: list[Instability]
    top: list[SimilarityToBaseline]
    bottom: list[dict[int, SimilarityToBaseline]]
    by_period: list[dict[int, SimilarityToBaseline]]


def reduction_epochs(snap: Instability, fractions: Sequence[float]) -> list[int]:
    """``start + max(1, round(f (end - start)))`` for each fraction, sorted and distinct."""
    return sorted({snap.start + max(1, round(f * (snap.end - snap.start))) for f in fractions})


def analyse(P: Mapping[str, Any], loss: np.ndarray, sharpness: np.ndarray, accuracy: np.ndarray,
            vectors: np.ndarray, rule: Rule, reruns: Reruns) -> Analysis:
    """The similarities of steps 2-3 of the module docstring under ``rule``. ``loss``,
    ``sharpness``, ``accuracy`` (training): (E,); ``vectors``: (E, d, k) eigenvectors by epoch."""
    reached, fitted, spikes, snapshots = find_snapshots(loss, sharpness, accuracy, P, rule)
    top, bottom, by_period = [], [], []
    k = P["subspace_k"]
    for s in snapshots:
        stop = s.end + P["after_epochs"]
        top.append(instability.similarity_to_baseline(
            vectors, instability.comparison_epochs(s.start, stop, P["period"]), subspace_k=k))
        reductions = {-1: top[-1]}
        for r in reduction_epochs(s, P["reduction_fractions"]):
            reductions[r] = instability.similarity_to_baseline(
                reruns(r, stop), instability.comparison_epochs(r, stop, P["period"]), baseline=vectors[s.start],
                subspace_k=k)
        bottom.append(reductions)
        by_period.append({T: instability.similarity_to_baseline(
            vectors, instability.comparison_epochs(s.start, stop, T), subspace_k=k) for T in P["periods"]})
    return Analysis(rule, reached, fitted, spikes, snapshots, top, bottom, by_period)


class SeedResult(NamedTuple):
    """One seed's run without its eigenvectors, and its :class:`Analysis` under each rule (in
    :func:`rules`' order). ``loss``, ``sharpness``, ``accuracy`` (training accuracy): (E,);
    ``train_acc``, ``eval_acc``: final;
    ``matvecs`` (E,): Hessian-vector products per epoch; ``certified``: fraction of epochs whose
    top-k set was certified; ``max_residual``: largest residual relative to ``S``;
    ``rerun_matvecs``: mean HVPs per epoch of each rerun; times in seconds."""

    seed: int
    diverged: bool
    loss: np.ndarray
    sharpness: np.ndarray
    accuracy: np.ndarray
    train_acc: float
    eval_acc: float
    matvecs: np.ndarray
    certified: float
    max_residual: float
    rerun_matvecs: list[float]
    run_seconds: float
    rerun_seconds: float
    analyses: list[Analysis]


def run_seed(P: Mapping[str, Any], split: Split, seed: int) -> SeedResult:
    """Train ``seed`` (:func:`train_seed`) and analyse it under every rule of :func:`rules`. A run
    that diverged is analysed with no snapshots (every claim about instabilities then fails)."""
    t0 = time.perf_counter()
    run = train_seed(P, split, seed)
    run_seconds = time.perf_counter() - t0
    loss, accuracy, values = run.history["train_loss"], run.history["train_acc"], run.eigen["values"]
    sharpness = values[:, 0] if not run.diverged else np.full(len(loss), np.nan)
    reruns = Reruns(P, split, seed, loss)
    analyses = [analyse(P, loss, sharpness, accuracy, run.eigen["vectors"], rule, reruns) if not run.diverged
                else Analysis(rule, None, None, [], [], [], [], []) for rule in rules(P)]
    return SeedResult(seed, bool(run.diverged), loss, sharpness, accuracy, float(accuracy[-1]),
                      float(run.history["eval_acc"][-1]), run.eigen["num_matvecs"],
                      float(np.mean(run.eigen["certified"])),
                      float(np.max(run.eigen["residuals"] / np.abs(values[:, :1]))), reruns.matvecs, run_seconds,
                      time.perf_counter() - t0 - run_seconds, analyses)


SEED_KIND = "rotations-seed"
STORE = "rotations"  # the committed store's folder, store/rotations/
VERSION = 2
"""Version of the per-seed analysis (spike detection, reruns, similarities): bump it with any
change to :func:`run_seed` or what it calls that changes results (the trainer has its own).
2: spikes only from the edge-of-stability phase (``fit_accuracy``, :func:`eos_phase`); the
per-epoch training accuracy and each analysis' ``fitted`` epoch are stored."""

# which seeds are shown, and §3.2's DLN comparison (eoslib.chapters.rotations.resolution): not inputs of any one seed's result
_UNKEYED = ("seed", "num_seeds", "dln_theta0", "dln_etas", "sharp_steps")


def seed_spec(P: Mapping[str, Any], seed: int) -> dict:
    """Everything that decides :func:`run_seed` ``(P, split, seed)``: the parameters (but the
    choice of seeds), the seed, and the versions of the trainer and of this analysis."""
    return computation_spec(VERSION, parameters={k: v for k, v in P.items() if k not in _UNKEYED}, seed=int(seed))


def encode(result: SeedResult) -> dict:
    """A :class:`SeedResult` as the JSON-ready value of a :data:`SEED_KIND` record."""
    return pack(result)


def decode(value: Mapping[str, Any]) -> SeedResult:
    """The :class:`SeedResult` of a :data:`SEED_KIND` record's ``value`` (:func:`encode`)."""
    return unpack(value, (SeedResult, Analysis, Rule, Instability, SimilarityToBaseline))


def compute(spec: Mapping[str, Any], split: Split) -> dict:
    """The value of the :data:`SEED_KIND` record of ``spec`` (:func:`seed_spec`), computed."""
    return encode(run_seed({**spec["parameters"], "seed": spec["seed"], "num_seeds": 1}, split, spec["seed"]))


def seed_results(P: Mapping[str, Any], split: Split, store: ResultsStore, *,
                 progress: bool = True) -> list[SeedResult]:
    """:func:`run_seed` for every seed of :func:`seeds`, read from ``store`` where it holds the
    seed's record (:func:`seed_spec`) and computed (and stored) where not."""
    records = computed(store, SEED_KIND, [seed_spec(P, s) for s in seeds(P)], lambda spec: compute(spec, split),
                       progress=progress, unit="seed")
    return [decode(r["value"]) for r in records]


def reverify(record: dict, split: Split, *, prefix: int = 60) -> list[str]:
    """Problems found re-verifying a :data:`SEED_KIND` record here (empty: verified): it is
    current (:func:`eoslib.verification.computation_is_current`); its run, re-trained for its
    first ``prefix`` epochs with the same eigensolves, matches its stored loss and sharpness up
    to the edge of stability (:func:`eoslib.verification.series_window`: the run is chaotic
    after); and the spikes and snapshots of every rule, detected again on the stored series,
    (and the epoch the data are fitted) are the stored ones. The similarity series need the eigenvectors, which are not stored:
    they are checked by re-computing the whole seed (``tools/fill_store.py --verify``)."""
    problems = verification.computation_is_current(record, VERSION)
    spec = record["spec"]
    P = {**spec["parameters"], "seed": spec["seed"], "num_seeds": 1}
    stored = decode(record["value"])
    config = run_config(P, spec["seed"], schedules.constant(P["eta"]), P["epochs"])
    problems += verification.compare_run_prefix(config, split, stored.loss, stored.sharpness, prefix=prefix)[0]
    for a in stored.analyses:
        found = find_snapshots(stored.loss, stored.sharpness, stored.accuracy, P, a.rule)
        if not stored.diverged and found[1:] != (a.fitted, a.spikes, a.snapshots):
            problems.append(f"rule '{a.rule.name}': the stored series give other spikes than the stored ones")
    return problems

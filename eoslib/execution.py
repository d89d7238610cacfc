"""Execution choices, made in one place: compiled or Python loops, lane groups, stored transposes.

Every CPU-versus-GPU decision of eoslib is taken by :func:`plan`, from the JAX backend, the
devices and what the model declares (its ``has_convolutions`` class attribute; nothing inspects
a jaxpr). The resulting :class:`ExecutionPlan` is passed explicitly to the objective, the
eigensolver and the epoch loops, and recorded in every result's provenance.

The rules, with the measurements behind them (``benchmarks/results/``):

* ``compiled_loops``: loops over chunks and epochs (and the Lanczos iteration) run as
  ``lax.scan`` / ``lax.while_loop``, except for models with convolutions on XLA:CPU, whose
  backward pass is much slower inside a compiled loop than outside one on XLA:CPU (jax 0.10.2):
  those loop in Python over jitted steps.
* ``lane_groups``: a vmapped sweep on a single CPU device splits its model axis into one lane
  group per core (at most one per model), independent computations that XLA:CPU's executor runs
  side by side; 1 on GPUs and when several devices already share the model axis.
* ``batched_eigensolves``: a sweep's eigensolves run as one program ``vmap``ped over its lanes
  (:func:`eoslib.runs.batched_eigenpairs`) off the CPU; on XLA:CPU one lane after another, as
  the vmapped solve was about 2x slower per solve there (its while loops select the whole Krylov
  basis of every lane at every step: ``benchmarks/results/sweep_eigen.json``).
* ``stored_transpose``: on CPU, GD's gradient computes the MLP input layer's weight gradient
  from a stored ``x.T`` (:func:`eoslib.models.matmul_stored_transpose`; faster on CPU in an
  A/B measurement). Not measured on GPUs, so off there.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import flax.linen as nn
import jax

__all__ = ["ExecutionPlan", "plan"]


class ExecutionPlan(NamedTuple):
    """How a run executes (static: part of what ``jit`` compiles)."""

    compiled_loops: bool
    lane_groups: int
    stored_transpose: bool
    batched_eigensolves: bool = False

    def as_dict(self) -> dict:
        return self._asdict()


def plan(model: nn.Module, *, num_models: int = 1, devices=None,
         lane_groups: int | None = None, batched_eigensolves: bool | None = None) -> ExecutionPlan:
    """The execution plan for ``model`` on ``devices`` (default: all JAX devices) for a batch of
    ``num_models`` vmapped models (1: a single run). ``lane_groups`` overrides the rule; a value
    that cannot work fails at once; so does ``batched_eigensolves`` (the rule needs compiled
    loops: the vmapped solve is one compiled program)."""
    devices = jax.devices() if devices is None else list(devices)
    on_cpu = devices[0].platform == "cpu"
    has_conv = bool(getattr(model, "has_convolutions", False))
    if lane_groups is None:
        lane_groups = max(1, min(os.cpu_count() or 1, num_models)) if (
            on_cpu and len(devices) == 1) else 1
    elif not 1 <= lane_groups <= num_models:
        raise ValueError(f"lane_groups={lane_groups}: need 1 <= lane_groups <= {num_models} "
                         "(the number of models)")
    elif lane_groups > 1 and len(devices) > 1:
        raise ValueError(f"lane_groups={lane_groups} needs a single device (this mesh has "
                         f"{len(devices)}): the devices already run the model axis in parallel")
    compiled = not (on_cpu and has_conv)
    if batched_eigensolves and not compiled:
        raise ValueError("batched_eigensolves=True needs compiled loops (one vmapped program); this "
                         "model loops in Python on this backend")
    batched_eigensolves = (not on_cpu and compiled) if batched_eigensolves is None else batched_eigensolves
    return ExecutionPlan(compiled_loops=compiled, lane_groups=lane_groups, stored_transpose=on_cpu,
                         batched_eigensolves=batched_eigensolves)



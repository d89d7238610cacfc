"""Execution plans: every CPU/GPU decision in one place, from the device and the model."""

import jax
import pytest

from eoslib import models
from eoslib.execution import plan


class _Device:
    def __init__(self, platform):
        self.platform = platform


def test_models_declare_convolutions_and_the_plan_follows():
    cpu, gpu = [_Device("cpu")], [_Device("gpu")]
    assert not models.MLP.has_convolutions and models.VGG10().has_convolutions
    assert models.ResNet20.has_convolutions
    assert plan(models.MLP(), devices=cpu).compiled_loops
    assert not plan(models.VGG10(), devices=cpu).compiled_loops  # conv backprop in compiled loops
    assert plan(models.VGG10(), devices=gpu).compiled_loops
    assert plan(models.MLP(), devices=cpu).stored_transpose
    assert not plan(models.MLP(), devices=gpu).stored_transpose


def test_lane_groups_one_per_core_on_a_single_cpu_device(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert plan(models.MLP(), num_models=24, devices=[_Device("cpu")]).lane_groups == 2
    assert plan(models.MLP(), num_models=1, devices=[_Device("cpu")]).lane_groups == 1
    assert plan(models.MLP(), num_models=24, devices=[_Device("cpu")] * 2).lane_groups == 1
    assert plan(models.MLP(), num_models=24, devices=[_Device("gpu")]).lane_groups == 1
    assert plan(models.MLP(), num_models=5, devices=[_Device("cpu")], lane_groups=3).lane_groups == 3
    with pytest.raises(ValueError, match="lane_groups=7"):
        plan(models.MLP(), num_models=6, devices=[_Device("cpu")], lane_groups=7)
    with pytest.raises(ValueError, match="single device"):
        plan(models.MLP(), num_models=6, devices=[_Device("cpu")] * 2, lane_groups=2)


def test_the_default_plan_uses_the_visible_devices():
    p = plan(models.MLP())
    assert p.compiled_loops and p.stored_transpose == (jax.devices()[0].platform == "cpu")
    assert p.as_dict() == p._asdict()


def test_eigensolves_batched_only_off_the_cpu_and_with_compiled_loops():
    """A sweep's eigensolves are vmapped over its lanes off the CPU (one program), lane by lane on
    CPU (there the vmapped solve was slower: benchmarks/results/sweep_eigen.json); forcing them
    on works for a compiled model and fails at once for one that loops in Python."""
    cpu, gpu = [_Device("cpu")], [_Device("gpu")]
    assert plan(models.MLP(), num_models=4, devices=gpu).batched_eigensolves
    assert plan(models.VGG10(), num_models=4, devices=gpu).batched_eigensolves
    assert not plan(models.MLP(), num_models=4, devices=cpu).batched_eigensolves
    assert plan(models.MLP(), num_models=4, devices=cpu, batched_eigensolves=True).batched_eigensolves
    with pytest.raises(ValueError, match="batched_eigensolves"):
        plan(models.VGG10(), num_models=4, devices=cpu, batched_eigensolves=True)

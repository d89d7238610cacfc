"""The paper-scale cost estimate: FLOPs per model and device-hours add up as written."""

import pytest

from eoslib.chapters.generalization import cost


def test_model_flops_and_device_hours_add_up():
    g = {"vgg10": 1e6, "vgg19": 1e8}
    w = cost.Workload("5b", "vgg10", 1000, 300, 2, 100, eig_every=50)
    train = 100 * (1e6 * 1000 + 1e6 / 3 * 300)
    eigen = 2 * 25 * 2.0 * 1e6 * 1000  # 2 solves x 25 products x 2 gradients each
    assert cost.model_flops(w, g, matvecs=25, hvp_gradients=2.0) == pytest.approx(train + eigen)
    no_eig = cost.Workload("7", "vgg19", 1000, 0, 3, 10)
    hours = cost.device_hours([w, no_eig], g, 1e12, matvecs=25, hvp_gradients=2.0)
    assert hours["5b"] == pytest.approx(2 * (train + eigen) / 1e12 / 3600)
    assert hours["7"] == pytest.approx(3 * 10 * 1e8 * 1000 / 1e12 / 3600)


def test_paper_workloads_count_the_papers_models():
    ws = cost.paper_workloads(epochs=500)
    assert sum(w.models for w in ws if w.figure == "5b") == 120
    assert sum(w.models for w in ws if w.figure == "7") == 6 + 6 + 14
    assert all(w.eig_every == 0 for w in ws if w.figure == "7")

"""Spike detection and similarity-to-baseline series (eoslib.instability)."""

import numpy as np
import pytest

from eoslib import instability


def synthetic_loss():
    """A decaying loss with period-2 oscillation and two spikes (rises x2.0 and x1.3)."""
    t = np.arange(200)
    base = np.exp(-t / 150.0)
    spikes = 1.0 + 1.0 * np.exp(-0.5 * ((t - 60) / 3.0) ** 2) + 0.3 * np.exp(-0.5 * ((t - 140) / 3.0) ** 2)
    return base * spikes * (1 + 0.01 * (-1.0) ** t)


def test_detects_the_spikes_with_start_peak_end():
    found = instability.detect_instabilities(synthetic_loss(), min_rise=1.1)
    assert [s.peak for s in found] == [59, 139] or [s.peak for s in found] == [60, 140]
    first = found[0]
    assert first.start < first.peak < first.end
    m = instability.smoothed_loss(synthetic_loss())
    assert np.all(np.diff(m[first.start:first.peak + 1]) > 0)  # the rise is monotone from the start
    assert m[first.end] <= m[first.start] < m[first.end - 1]  # resolution: first epoch back below
    assert 1.7 < first.rise < 2.1 and 1.1 < found[1].rise < 1.4


def test_end_criteria_half_and_valley():
    loss = synthetic_loss()
    m = instability.smoothed_loss(loss)
    start, half, valley = (instability.detect_instabilities(loss, end=e)[0] for e in ("start", "half", "valley"))
    assert start.start == half.start == valley.start and start.peak == half.peak == valley.peak
    assert m[half.end] <= np.sqrt(m[half.start] * m[half.peak]) < m[half.end - 1]  # half the log-rise undone
    assert half.end < start.end
    for spike in instability.detect_instabilities(loss):  # every spike, not only the first, ends at the start level
        assert m[spike.end] <= m[spike.start] < m[spike.end - 1]
    for spike in instability.detect_instabilities(loss, end="valley"):
        assert m[spike.end] < m[spike.end - 1] and (spike.end == m.size - 1 or m[spike.end + 1] >= m[spike.end])
    assert np.all(np.diff(m[valley.peak:valley.end + 1]) < 0) and m[valley.end + 1] >= m[valley.end]  # the bottom
    with pytest.raises(ValueError, match="choose one of"):
        instability.detect_instabilities(loss, end="never")


def test_small_bumps_and_oscillations_are_not_instabilities():
    loss = synthetic_loss()
    assert len(instability.detect_instabilities(loss, min_rise=1.5)) == 1
    assert instability.detect_instabilities(loss, min_rise=1.1, first_epoch=100)[0].peak >= 100
    flat = np.exp(-np.arange(100) / 50.0) * (1 + 0.05 * (-1.0) ** np.arange(100))
    assert instability.detect_instabilities(flat) == []


def test_largest_keeps_time_order():
    spikes = [instability.Instability(0, 5, 9, 1.2), instability.Instability(10, 15, 19, 2.0),
              instability.Instability(20, 25, 29, 1.5)]
    assert [s.start for s in instability.largest(spikes, 2)] == [10, 20]


def test_choose_first_largest_or_all():
    spikes = [instability.Instability(0, 5, 9, 1.2), instability.Instability(10, 15, 19, 2.0),
              instability.Instability(20, 25, 29, 1.5)]
    assert [s.start for s in instability.choose(spikes, 2, "first")] == [0, 10]
    assert [s.start for s in instability.choose(spikes, 2, "largest")] == [10, 20]
    assert instability.choose(spikes, 0, "first") == instability.choose(spikes, 0, "largest") == spikes
    with pytest.raises(ValueError, match="rule"):
        instability.choose(spikes, 1, "last")


def test_similarity_to_baseline_of_a_rotating_frame():
    """Rotate the first eigenvector towards the 4th coordinate by angle phi_e: cos = cos(phi_e)."""
    d, k, epochs = 6, 3, 5
    angles = np.linspace(0, np.pi / 3, epochs)
    vectors = np.zeros((epochs, d, k))
    for e, phi in enumerate(angles):
        vectors[e, :, :] = np.eye(d)[:, :k]
        vectors[e, 0, 0], vectors[e, 3, 0] = np.cos(phi), np.sin(phi)
    sim = instability.similarity_to_baseline(vectors, [0, 2, 4], subspace_k=3)
    np.testing.assert_allclose(sim.cosines[:, 0], np.cos(angles[[0, 2, 4]]), atol=1e-6)
    np.testing.assert_allclose(sim.cosines[:, 1:], 1.0, atol=1e-6)
    np.testing.assert_allclose(sim.subspace, np.cos(angles[[0, 2, 4]]), atol=1e-6)
    swapped = vectors[:, :, ::-1]  # eigenvalue crossing: indices permuted, same vectors
    sim2 = instability.similarity_to_baseline(swapped, [0, 4], baseline=vectors[0])
    np.testing.assert_allclose(sim2.matched[0], 1.0, atol=1e-6)
    assert sim2.cosines[0, 0] < 1e-6


def test_comparison_epochs_and_sign_changes():
    np.testing.assert_array_equal(instability.comparison_epochs(10, 17, 3), [10, 13, 16])
    assert instability.sign_change_fraction([1, 0.9, 0.7, 0.4]) == 0.0
    assert instability.sign_change_fraction([1, 0.2, 0.9, 0.1, 0.8]) == 1.0


def test_parity_dips_measure_period_two_zigzag():
    smooth = np.linspace(1.0, 0.2, 9)
    np.testing.assert_allclose(instability.parity_dips(smooth), 0.0, atol=1e-12)
    zigzag = smooth - 0.3 * (np.arange(9) % 2)
    np.testing.assert_allclose(instability.parity_dips(zigzag), 0.3, atol=1e-12)
    assert instability.parity_dips(zigzag).shape == (4,)

"""Turning points and phases of |θ − θ*|, event coincidence, α along a trajectory and distances
between sharpness trajectories, on synthetic series whose answers are known."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eoslib.chapters.drivers import experiment as drivers
from eoslib.objective import Batch


def _bumps(peaks, length=200, width=6.0, base=0.1, height=1.0):
    t = np.arange(length, dtype=float)
    smooth = base + sum(height * np.exp(-0.5 * ((t - p) / width) ** 2) for p in peaks)
    return smooth * (1 + 0.05 * (-1) ** np.arange(length))  # period-2 wobble, removed by the rule


def test_turning_points_find_every_bump_and_the_valleys_between():
    distance = _bumps([40, 100, 160])
    maxima, minima = drivers.turning_points(distance, min_change=1.5)
    assert np.all(np.abs(maxima - [40, 100, 160]) <= 1)
    assert minima.size == 4 and minima[0] < 40 < minima[1] < 100 < minima[2] < 160 < minima[3]
    assert abs(minima[1] - 70) <= 2 and abs(minima[2] - 130) <= 2


def test_small_wiggles_are_not_turning_points():
    distance = _bumps([40, 100]) * (1 + 0.02 * np.sin(np.arange(200) / 3.0))
    maxima, _ = drivers.turning_points(distance, min_change=1.5)
    assert maxima.size == 2


def test_phases_alternate_between_growing_and_shrinking():
    found = drivers.phases(_bumps([40, 100, 160]), min_change=1.5)
    assert [p.growing for p in found] == [True, False] * 3
    assert all(a.end == b.start for a, b in zip(found[:-1], found[1:]))
    assert found[0].end == pytest.approx(40, abs=1)


def test_fraction_near():
    assert drivers.fraction_near([10, 50, 90], [11, 52, 70], tolerance=2) == pytest.approx(2 / 3)
    assert drivers.fraction_near([10], [], tolerance=2) == 0.0
    assert np.isnan(drivers.fraction_near([], [1]))


def test_trajectory_distance_interpolates_the_reference_in_time():
    ref_time = np.linspace(0, 1, 11)
    ref = 10 + 5 * ref_time
    time = np.linspace(0, 1.5, 31)  # beyond the reference: left out
    assert drivers.trajectory_distance(time, 10 + 5 * time + 2.0, ref_time, ref) == pytest.approx(2.0)
    assert drivers.trajectory_distance(time, 10 + 5 * time, ref_time, ref) == pytest.approx(0.0, abs=1e-12)


class _Quartic:
    """L(θ) = ¼ Σ c_i θ_i⁴ (mean over a batch of one): H = diag(3 c θ²), ∇S = 6 c_1 θ_1 e_1 for
    the top direction e_1, so α = −∇L·∇S = −(c_1 θ_1³)(6 c_1 θ_1)."""

    c = jnp.array([2.0, 1.0, 0.5])

    def loss_fn(self, stats, batch):
        return lambda p: 0.25 * jnp.sum(self.c * p["w"] ** 4)


def test_alpha_series_matches_the_closed_form(x64):
    theta = [jnp.array([1.0, 0.5, 0.2]), jnp.array([-0.8, 0.3, 0.1])]
    params = [{"w": t} for t in theta]
    top = np.array([[1.0, 0.0, 0.0]] * 2)
    batch = Batch(jnp.zeros((1, 1)), jnp.zeros((1,), int))
    got = drivers.alpha_series(_Quartic(), batch, params, [{}] * 2, top)
    c1 = 2.0
    want = [-(c1 * t[0] ** 3) * (6 * c1 * t[0]) for t in map(np.asarray, theta)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert jax.config.jax_enable_x64


def test_nearest_offsets_are_signed():
    np.testing.assert_array_equal(drivers.nearest_offsets([10, 48, 90], [12, 50, 70]), [-2, -2, 20])
    assert np.isnan(drivers.nearest_offsets([1], [])).all()

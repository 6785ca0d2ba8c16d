"""The toy metrics (gan_mixup.modalities.toy.metrics) on known inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_mixup.metrics import mode_metrics, sample_metrics, sliced_wasserstein
from toy_data import get_dataset

RING = get_dataset("ring8")


def ring_samples(n: int, seed: int = 0) -> np.ndarray:
    return RING.sample(n, torch.Generator().manual_seed(seed)).numpy()


def test_real_samples_cover_every_mode_at_high_quality():
    out = mode_metrics(ring_samples(2000), RING.modes.numpy(), RING.std)
    assert out["modes_covered"] == 8
    assert out["high_quality"] > 0.98  # 3σ holds 98.9% of a 2-D Gaussian's mass
    assert out["kl_modes"] < 0.01


def test_samples_of_one_mode_cover_one():
    one = RING.modes.numpy()[3] + RING.std * np.random.default_rng(0).normal(size=(1000, 2))
    out = mode_metrics(one, RING.modes.numpy(), RING.std)
    assert out["modes_covered"] == 1
    assert out["kl_modes"] == pytest.approx(np.log(8), rel=1e-6)


def test_modes_near_counts_samples_that_reached_a_mode_but_miss_it_by_more_than_3_sigma():
    modes = RING.modes.numpy()
    off = modes + 6 * RING.std * np.array([1.0, 0.0])  # every mode, 6σ off: reached, never hit
    out = mode_metrics(np.repeat(off, 50, axis=0), modes, RING.std)
    assert out["modes_covered"] == 0 and out["modes_near"] == 8


def test_uniform_noise_scores_low_quality():
    noise = np.random.default_rng(0).uniform(-1.5, 1.5, size=(2000, 2))
    assert mode_metrics(noise, RING.modes.numpy(), RING.std)["high_quality"] < 0.02


def test_sliced_wasserstein_is_near_zero_between_real_batches_and_grows_with_a_shift():
    a, b = ring_samples(2000, 0), ring_samples(2000, 1)
    same = sliced_wasserstein(a, b)
    shifts = [sliced_wasserstein(a, b + [d, 0.0]) for d in (0.1, 0.3, 1.0)]
    assert same < 0.02
    assert same < shifts[0] < shifts[1] < shifts[2]


def test_outside_frame_counts_far_and_non_finite_samples():
    fake = np.array([[0.0, 0.0], [5.0, 0.0], [np.nan, 0.0], [1.0, -1.0]])
    out = sample_metrics(fake, ring_samples(100), RING.modes.numpy(), RING.std, extent=1.5)
    assert out["outside_frame"] == pytest.approx(0.5)

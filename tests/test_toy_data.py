"""toy_data: the authors' ring8 / grid25 defaults, the scale options, and the sampler contract."""
from __future__ import annotations

import math

import pytest
import torch

import toy_data
from toy_data import DATASETS, get_dataset


def _seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _per_mode_stats(samples: torch.Tensor, modes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Assign each sample to its nearest mode; return per-mode means, counts and the pooled
    per-coordinate std of the offsets from the assigned mode."""
    nearest = torch.cdist(samples, modes).argmin(dim=1)
    counts = torch.bincount(nearest, minlength=len(modes))
    means = torch.stack([samples[nearest == k].mean(dim=0) for k in range(len(modes))])
    offsets = samples - modes[nearest]
    return means, counts, offsets.std()


# ----- the authors' defaults --------------------------------------------------------------------

def test_ring8_defaults_are_unit_circle_at_multiples_of_45_degrees():
    ds = toy_data.ring8()
    k = torch.arange(8, dtype=torch.float64)
    expected = torch.stack([torch.cos(2 * math.pi * k / 8), torch.sin(2 * math.pi * k / 8)], dim=1).float()
    torch.testing.assert_close(ds.modes, expected, rtol=0, atol=1e-6)  # float32 cos/sin
    assert ds.modes.dtype == torch.float32
    assert ds.std == 0.01
    # Spot values: mode 0 at (1, 0), mode 2 at (0, 1), mode 4 at (-1, 0).
    torch.testing.assert_close(ds.modes[[0, 2, 4]], torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]), rtol=0, atol=1e-7)


def test_grid25_defaults_are_five_by_five_in_unit_square():
    ds = toy_data.grid25()
    axis = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
    expected = torch.tensor([[a, b] for a in axis.tolist() for b in axis.tolist()])
    assert ds.modes.shape == (25, 2)
    torch.testing.assert_close(ds.modes, expected, rtol=0, atol=0)
    assert ds.std == 0.01


@pytest.mark.parametrize(
    "name, options, expected_std",
    [
        ("ring8", {}, 0.01),
        ("grid25", {}, 0.01),
        ("ring8", {"radius": 2.0, "std": 0.02}, 0.02),
        ("grid25", {"spacing": 2.0, "std": 0.05}, 0.05),
    ],
)
def test_gaussian_mixture_samples_sit_on_their_modes_with_the_stated_std(name, options, expected_std):
    ds = get_dataset(name, **options)
    samples = ds.sample(20000, _seeded(1))
    means, counts, std = _per_mode_stats(samples, ds.modes)
    # Equal weights: every mode gets about n / K samples (binomial sd ~ sqrt(n/K)).
    expected_count = 20000 / len(ds.modes)
    assert counts.min() > 0.8 * expected_count and counts.max() < 1.2 * expected_count
    # The mean of ~800..2500 samples with sd `std` is within a few std/sqrt(n) of the mode.
    torch.testing.assert_close(means, ds.modes, rtol=0, atol=6 * expected_std / math.sqrt(counts.min().item()))
    torch.testing.assert_close(std.item(), expected_std, rtol=0.03, atol=0)


def test_scale_options_move_the_modes():
    ring = get_dataset("ring8", radius=2.0, std=0.02)
    torch.testing.assert_close(ring.modes, 2.0 * toy_data.ring8().modes, rtol=0, atol=1e-6)
    torch.testing.assert_close(ring.modes.norm(dim=1), torch.full((8,), 2.0), rtol=0, atol=1e-6)
    grid = get_dataset("grid25", spacing=2.0, std=0.05)
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    torch.testing.assert_close(grid.modes, torch.cartesian_prod(axis, axis), rtol=0, atol=0)
    assert grid.std == 0.05 and ring.std == 0.02
    # The plot extent grows with the scale, so frames still hold all the mass.
    assert ring.extent > 2.0 and grid.extent > 4.0


# ----- the sampler contract, for every dataset ---------------------------------------------------

@pytest.mark.parametrize("name", sorted(DATASETS))
def test_samples_are_n_by_2_finite_float32(name):
    x = get_dataset(name).sample(257, _seeded(0))
    assert x.shape == (257, 2)
    assert x.dtype == torch.float32
    assert torch.isfinite(x).all()
    # Within the advertised plot extent (almost all the mass).
    assert (x.abs() <= get_dataset(name).extent).float().mean() > 0.99


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_same_seed_same_samples_different_seed_different_samples(name):
    ds = get_dataset(name)
    a = ds.sample(64, _seeded(7))
    b = ds.sample(64, _seeded(7))
    c = ds.sample(64, _seeded(8))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_sampling_leaves_the_global_rng_alone(name):
    before = torch.get_rng_state()
    get_dataset(name).sample(100, _seeded(3))
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_a_generator_stream_advances(name):
    # Two draws from one generator differ: the sampler consumes the stream rather than reseeding it.
    g = _seeded(5)
    ds = get_dataset(name)
    assert not torch.allclose(ds.sample(32, g), ds.sample(32, g))


# ----- errors ------------------------------------------------------------------------------------

def test_unknown_dataset_names_the_choices():
    with pytest.raises(ValueError) as err:
        get_dataset("ring9")
    message = str(err.value)
    assert "ring9" in message
    for name in DATASETS:
        assert name in message


def test_unknown_option_names_the_option_and_the_accepted_ones():
    with pytest.raises(ValueError) as err:
        get_dataset("ring8", spacing=2.0)
    message = str(err.value)
    assert "spacing" in message
    assert "radius" in message and "std" in message


@pytest.mark.parametrize(
    "name, options, field",
    [
        ("ring8", {"radius": -1.0}, "radius"),
        ("ring8", {"radius": 0.0}, "radius"),
        ("ring8", {"std": float("nan")}, "std"),
        ("ring8", {"std": float("inf")}, "std"),
        ("grid25", {"spacing": 0.0}, "spacing"),
        ("grid25", {"side": 0}, "side"),
    ],
)
def test_bad_option_values_raise_value_error_naming_the_option(name, options, field):
    with pytest.raises(ValueError, match=field):
        get_dataset(name, **options)


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_bad_sample_count_raises(name, n):
    with pytest.raises(ValueError, match="positive integer"):
        get_dataset(name).sample(n, _seeded(0))


def test_a_new_toy_dataset_is_one_registry_entry(monkeypatch, tmp_path):
    # What adding a toy dataset takes: a sampler and its line in toy_data.DATASETS; the modality,
    # the config, the trainer and the metrics find it there.
    import torch

    from gan_mixup.modalities import modality_of
    from gan_mixup.training import train
    from conftest import make_tiny_config
    from toy_data import DATASETS, GaussianMixture

    def triangle(std: float = 0.02) -> GaussianMixture:
        corners = torch.tensor([[0.0, 1.0], [-0.87, -0.5], [0.87, -0.5]])
        return GaussianMixture("triangle", corners, std, extent=1.5)

    monkeypatch.setitem(DATASETS, "triangle", triangle)
    assert modality_of("triangle").name == "toy"
    result = train(make_tiny_config(dataset="triangle", dataset_options={"std": 0.05}), tmp_path / "run")
    assert result.iteration == 12 and result.last["kind"] == "train"

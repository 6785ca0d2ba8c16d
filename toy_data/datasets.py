"""Toy 2-D distributions. Every sampler takes ``n`` and a ``torch.Generator``; none touches global RNG."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol

import torch


class ToyDataset(Protocol):
    """What the trainer and the metrics need from a toy distribution."""

    name: str
    modes: torch.Tensor | None  # (K, 2) mode centres, or None for continuous shapes
    std: float | None  # per-mode std when ``modes`` is set
    extent: float  # half-width of a square that holds (almost) all the mass

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor: ...


@dataclass(frozen=True)
class GaussianMixture:
    """Equal-weight isotropic Gaussians at ``modes`` with a common ``std``."""

    name: str
    modes: torch.Tensor  # (K, 2)
    std: float
    extent: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_n(n)
        device = _device_of(generator)
        idx = torch.randint(len(self.modes), (n,), generator=generator, device=device)
        noise = torch.randn(n, 2, generator=generator, device=device)
        return self.modes.to(device)[idx] + self.std * noise


def ring8(radius: float = 1.0, std: float = 0.01, n_modes: int = 8) -> GaussianMixture:
    """``n_modes`` Gaussians at angles 2πk/n on a circle (authors' code: radius 1, std 0.01)."""
    _check_positive(radius=radius, std=std)
    n_modes = _check_count("n_modes", n_modes, MAX_MODES)
    angles = 2 * math.pi * torch.arange(n_modes, dtype=torch.float32) / n_modes
    modes = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return GaussianMixture("ring8", modes, std, extent=1.5 * radius)


def grid25(spacing: float = 0.5, std: float = 0.01, side: int = 5) -> GaussianMixture:
    """A ``side``×``side`` grid centred on 0 (authors' code: {-1, -0.5, 0, 0.5, 1}², std 0.01)."""
    _check_positive(spacing=spacing, std=std)
    side = _check_count("side", side, MAX_GRID_SIDE)
    axis = spacing * (torch.arange(side, dtype=torch.float32) - (side - 1) / 2)
    modes = torch.cartesian_prod(axis, axis)
    return GaussianMixture("grid25", modes, std, extent=float(axis.max()) + spacing)


@dataclass(frozen=True)
class Spiral:
    """A noisy Archimedean spiral with ``turns`` turns, scaled to radius ``scale``."""

    name: str = "spiral"
    scale: float = 1.0
    turns: float = 2.0
    std: float | None = None
    noise: float = 0.02
    modes: None = None
    extent: float = 1.5

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_n(n)
        device = _device_of(generator)
        t = torch.sqrt(torch.rand(n, generator=generator, device=device))  # uniform in arc length, roughly
        angle = 2 * math.pi * self.turns * t
        xy = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], dim=1)
        return self.scale * (xy + self.noise * torch.randn(n, 2, generator=generator, device=device))


@dataclass(frozen=True)
class SwissRoll:
    """The 2-D swiss roll of ``sklearn.datasets.make_swiss_roll`` (x, z), scaled into [-1, 1]."""

    name: str = "swissroll"
    noise: float = 0.02
    std: float | None = None
    modes: None = None
    extent: float = 1.5

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_n(n)
        device = _device_of(generator)
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator, device=device))
        xy = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / 15.0
        return xy + self.noise * torch.randn(n, 2, generator=generator, device=device)


@dataclass(frozen=True)
class Moons:
    """Two interleaving half circles (as ``sklearn.datasets.make_moons``), centred on 0."""

    name: str = "moons"
    noise: float = 0.05
    std: float | None = None
    modes: None = None
    extent: float = 1.75

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        _check_n(n)
        device = _device_of(generator)
        upper = torch.rand(n, generator=generator, device=device) < 0.5
        angle = math.pi * torch.rand(n, generator=generator, device=device)
        x = torch.where(upper, torch.cos(angle), 1 - torch.cos(angle))
        y = torch.where(upper, torch.sin(angle), 0.5 - torch.sin(angle))
        xy = torch.stack([x - 0.5, y - 0.25], dim=1)
        return xy + self.noise * torch.randn(n, 2, generator=generator, device=device)


DATASETS: dict[str, Callable[..., ToyDataset]] = {
    "ring8": ring8,
    "grid25": grid25,
    "spiral": Spiral,
    "swissroll": SwissRoll,
    "moons": Moons,
}


def get_dataset(name: str, **options: float) -> ToyDataset:
    """Build a toy dataset by name; ``options`` are its keyword parameters (radius, spacing, std, ...).

    Raises ``ValueError`` naming the choices for an unknown dataset or option.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    accepted = dataset_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"dataset {name!r} has no option {', '.join(unknown)}; its options are: {', '.join(accepted)}")
    for key, value in options.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"dataset option {key} must be a number, got {value!r}")
    return DATASETS[name](**options)


def dataset_options(name: str) -> list[str]:
    """The keyword options toy dataset ``name`` takes, e.g. ``['radius', 'std', 'n_modes']``."""
    import inspect

    # A continuous shape's class has a ``std`` field meaning "no per-mode std" for the metrics, not a
    # knob; a mixture's factory (ring8, grid25, or a new one) takes its std as a parameter.
    factory = DATASETS[name]
    return [p for p in inspect.signature(factory).parameters
            if p not in ("name", "modes") and not (p == "std" and isinstance(factory, type))]


MAX_MODES = 10_000  # ring modes: beyond this a snapshot's mode metrics cost more than the training
MAX_GRID_SIDE = 100  # grid25's side: 10,000 modes


def _device_of(generator: torch.Generator | None) -> torch.device:
    # Draw on the generator's device: a CUDA generator cannot drive a CPU sampler.
    return generator.device if generator is not None else torch.device("cpu")


def _check_count(key: str, value: float, limit: int) -> int:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value != int(value) or not 1 <= value <= limit):
        raise ValueError(f"{key} must be a whole number from 1 to {limit}, got {value!r}")
    return int(value)


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"number of samples must be a positive integer, got {n!r}")


def _check_positive(**values: float) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0) or math.isinf(value):
            raise ValueError(f"{key} must be a positive finite number, got {value!r}")

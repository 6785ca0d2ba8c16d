"""What the trainer asks of the toy modality: its data, its models, what a snapshot records and the
reference it is drawn against.

A snapshot holds G(fixed noise), sigmoid(D) on a grid over the data's extent, and D's input
gradients at the fakes; its record holds the toy metrics (modes covered, high-quality rate, sliced
Wasserstein, ...) against the reference's real samples, the gradient-norm summary at real,
fake and mixed points, and the calibration probe (``gan_mixup.probes``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gan_mixup.modalities.toy.metrics import sample_metrics
from gan_mixup.modalities.toy.models import toy_discriminator, toy_generator
from gan_mixup.probes import (
    calibration_probe,
    gradient_summary,
    input_gradient_norms,
    logit_gradients,
    mixed_points,
)
from gan_mixup.rundir import Reference, Snapshot, write_snapshot
from toy_data import get_dataset


def build_data(config: Any) -> Any:
    """The run's toy dataset, with its options."""
    return get_dataset(config.dataset, **config.dataset_options)


def build_models(config: Any, data: Any) -> tuple[nn.Module, nn.Module]:
    """The paper's MLPs: G from ``latent_dim`` to 2-D points, D from points to one logit."""
    return (toy_generator(config.latent_dim, config.hidden, config.layers),
            toy_discriminator(config.hidden, config.layers, config.spectral_norm))


def metric_iterations(config: Any) -> None:
    """Every snapshot records the toy metrics: they cost little beside a training step."""
    return None


def grid_axis(data: Any, grid_size: int) -> np.ndarray:
    """The D grid's coordinates along x and along y: ``grid_size`` points over ``[-extent, extent]``."""
    extent = data.extent
    return np.linspace(-extent, extent, grid_size, dtype=np.float32)


def make_reference(config: Any, data: Any, generator: torch.Generator) -> Reference:
    """``config.fixed_samples`` real points from ``generator``, the data's modes, extent and std."""
    real = data.sample(config.fixed_samples, generator).numpy()
    modes = data.modes.numpy() if data.modes is not None else np.zeros((0, 2), np.float32)
    return Reference(real, modes, float(data.extent), grid_axis(data, config.grid_size), data.std, "toy")


def take_snapshot(state: Any, run_dir: Path, G: nn.Module, D: nn.Module, with_metrics: bool = True) -> dict[str, Any]:
    """Write the snapshot of ``state.iteration`` (G and D as given, in eval mode); return its record.

    Points are cheap to measure: the record has its metrics whatever ``with_metrics`` says.
    """
    device = state.fixed_noise.device
    fake_tensor = G(state.fixed_noise).float()
    axis = grid_axis(state.dataset, state.config.grid_size)
    xs = torch.as_tensor(axis, device=device, dtype=torch.float32)
    grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), dim=-1).reshape(-1, 2)  # (G*G, 2), x fastest
    d_grid = torch.sigmoid(D(grid)).reshape(len(axis), len(axis)).float().cpu().numpy()
    reference = state.reference
    real = torch.as_tensor(reference.real, device=fake_tensor.device)
    d_grad_fake = logit_gradients(D, fake_tensor)
    norms = {"real": input_gradient_norms(D, real).cpu().numpy(),
             "fake": d_grad_fake.norm(dim=1).cpu().numpy(),
             "mixed": input_gradient_norms(D, mixed_points(real, fake_tensor)).cpu().numpy()}
    # D along real-fake segments: the reference's first reals, G on the probe's own noise
    calibration = calibration_probe(G, D, real, state.config.latent_dim)
    fake = fake_tensor.cpu().numpy()
    write_snapshot(run_dir, Snapshot(state.iteration, fake, d_grid, d_grad_fake.cpu().numpy(), norms))
    return {"kind": "snapshot", "iteration": state.iteration,
            **sample_metrics(fake, reference.real, reference.modes, reference.std, reference.extent),
            **gradient_summary(norms), **calibration}

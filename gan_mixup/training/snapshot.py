"""What a snapshot records and the reference it is drawn against."""
from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from gan_mixup.config import ToyConfig
from gan_mixup.metrics import gradient_summary, sample_metrics
from gan_mixup.probes import discriminator_gradient_norms, input_gradient_norms, logit_gradients, mixed_points
from gan_mixup.rundir import Reference, Snapshot, snapshot_schedule, write_snapshot
from gan_mixup.training.state import RunState, stream_seeds


def metric_schedule(config: ToyConfig) -> set[int] | None:
    """The snapshots that compute metrics: every one for points (``None``); for images, where a
    metric costs a few training steps, ``metric_frames`` log-spaced ones, the paper's iterations, the
    first and the last."""
    if config.kind == "points" or not config.metric_samples:
        return None if config.kind == "points" else set()
    return {0, *snapshot_schedule(config.iterations, config.metric_frames)}


@torch.no_grad()
def take_snapshot(state: RunState, run_dir: Path, with_metrics: bool = True) -> dict[str, Any]:
    """Write the snapshot of this iteration; return its metrics record.

    Points: G(fixed noise) and sigmoid(D) on the grid. Images: G(fixed noise) as uint8, and the
    metrics of G(metric noise) against the reference's real images. G and D run in ``eval()`` mode
    (BatchNorm uses its running statistics and updates nothing), restored afterwards, so recording
    never changes training. With ``g_ema`` the EMA generator draws the samples.
    """
    with evaluating(state.ema if state.ema is not None else state.generator, state.discriminator) as (G, D):
        if state.config.kind == "images":
            return _image_snapshot(state, run_dir, G, D, with_metrics)
        fake_tensor = G(state.fixed_noise).float()
        axis = grid_axis(state)
        xs = torch.as_tensor(axis, device=state.fixed_noise.device, dtype=torch.float32)
        grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), dim=-1).reshape(-1, 2)  # (G*G, 2), x fastest
        d_grid = torch.sigmoid(D(grid)).reshape(len(axis), len(axis)).float().cpu().numpy()
        reference = reference_of(state)
        real = torch.as_tensor(reference.real, device=fake_tensor.device)
        d_grad_fake = logit_gradients(D, fake_tensor)
        norms = {"real": input_gradient_norms(D, real).cpu().numpy(),
                 "fake": d_grad_fake.norm(dim=1).cpu().numpy(),
                 "mixed": input_gradient_norms(D, mixed_points(real, fake_tensor)).cpu().numpy()}
    fake = fake_tensor.cpu().numpy()
    write_snapshot(run_dir, Snapshot(state.iteration, fake, d_grid, d_grad_fake.cpu().numpy(), norms))
    return {"kind": "snapshot", "iteration": state.iteration,
            **sample_metrics(fake, reference.real, reference.modes, reference.std, reference.extent),
            **gradient_summary(norms)}


GRADIENT_PROBE_IMAGES = 256  # images (real and fake) whose D input gradients an image snapshot measures


def _image_snapshot(state: RunState, run_dir: Path, G: nn.Module, D: nn.Module, with_metrics: bool) -> dict[str, Any]:
    from gan_mixup.modalities.images.metrics import ceiling_reals, image_sample_metrics, judge_for
    from gan_mixup.modalities.images.data import images_to_uint8, uint8_to_images

    fake = images_to_uint8(G(state.fixed_noise))  # (N, C, H, W) uint8
    write_snapshot(run_dir, Snapshot(state.iteration, fake, np.zeros((0, 0), np.float32)))
    record: dict[str, Any] = {"kind": "snapshot", "iteration": state.iteration}
    if with_metrics and state.metric_noise is not None:
        real = reference_of(state).real
        batches = [G(noise) for noise in state.metric_noise.split(500)]  # bounded memory at any size
        metric_fake = images_to_uint8(torch.cat(batches))
        record.update(image_sample_metrics(metric_fake, real, dataset_name=state.config.dataset, dataset=state.dataset))
        if state.config.fid_weights:
            from gan_mixup.modalities.images.metrics import inception_metrics

            record.update(inception_metrics(metric_fake, real, state.config.fid_weights, device=state.fixed_noise.device))
        # D's input gradients on a few hundred images: enough for a stable mean, cheap at every metric iteration.
        probe = min(GRADIENT_PROBE_IMAGES, len(real), len(metric_fake))
        real_images = uint8_to_images(real[:probe], device=state.fixed_noise.device)
        fake_images = torch.cat(batches)[:probe].float()
        record.update(gradient_summary(discriminator_gradient_norms(D, real_images, fake_images)))
        if state.iteration == 0:
            # The ceiling at this sample size: what real data scores (at 1,000 samples, uniform
            # data shows only ~632 of 1,000 modes), for reading the fake scores against.
            own = image_sample_metrics(real[: len(metric_fake)], real, dataset_name=state.config.dataset, dataset=state.dataset)
            record.update({f"real_{k}": v for k, v in own.items() if k in ("modes_covered", "kl_modes")})
            # The other metrics of real data against itself are trivial (0, 1): a second, independent
            # real sample of the same size gives their ceiling.
            other = ceiling_reals(state.dataset, len(metric_fake), state.config.seed)
            own = image_sample_metrics(other, real, dataset_name=state.config.dataset, dataset=state.dataset)
            record.update({f"real_{k}": v for k, v in own.items() if k not in ("modes_covered", "kl_modes", "frechet_digits")})
            record["classifier_accuracy"] = judge_for(state.dataset).accuracy
    return record


@contextmanager
def evaluating(*modules: nn.Module) -> Iterator[tuple[nn.Module, ...]]:
    """Put ``modules`` in ``eval()`` mode for the block and restore each one's own mode after."""
    modes = [[m.training for m in module.modules()] for module in modules]
    for module in modules:
        module.eval()
    try:
        yield modules
    finally:
        for module, flags in zip(modules, modes):
            for m, flag in zip(module.modules(), flags):
                m.train(flag)


def grid_axis(state: RunState) -> np.ndarray:
    extent = state.dataset.extent
    return np.linspace(-extent, extent, state.config.grid_size, dtype=np.float32)


def make_reference(state: RunState) -> Reference:
    """Real samples for the frames come from their own seeded stream, not the training data stream."""
    real_rng = torch.Generator().manual_seed(int(stream_seeds(state.config.seed)[5]))
    if state.config.kind == "images":
        from gan_mixup.modalities.images.data import images_to_uint8

        count = max(state.config.fixed_samples, state.config.metric_samples)
        real_images = images_to_uint8(state.dataset.sample(count, real_rng))  # (N, C, H, W) uint8
        return Reference(real_images, np.zeros((0, 2), np.float32), math.nan, np.zeros(0, np.float32), None, "images")
    real = state.dataset.sample(state.config.fixed_samples, real_rng).numpy()
    modes = state.dataset.modes.numpy() if state.dataset.modes is not None else np.zeros((0, 2), np.float32)
    return Reference(real, modes, float(state.dataset.extent), grid_axis(state), state.dataset.std)


def reference_of(state: RunState) -> Reference:
    if state.reference is None:
        state.reference = make_reference(state)
    return state.reference

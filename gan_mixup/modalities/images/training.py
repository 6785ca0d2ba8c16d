"""What the trainer asks of the images modality: its data, DCGAN, the metric iterations, what a
snapshot records and the reference it is drawn against.

A snapshot holds G(fixed noise) as uint8 images; at the metric iterations its record holds the
classifier metrics of G(metric noise) against the reference's real images (and the Inception
metrics with ``fid_weights``), D's input-gradient summary at 128 real images, 128 fakes and 128
mixes of them, the calibration probe (D along 128 real-fake segments, ``gan_mixup.probes``), and
at iteration 0 the ceilings real data reaches at this sample size.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from gan_mixup.modalities.images.data import get_image_dataset, images_to_uint8, uint8_to_images
from gan_mixup.modalities.images.metrics import ceiling_reals, image_sample_metrics, inception_metrics, judge_for
from gan_mixup.modalities.images.models import channels_last, dcgan_discriminator, dcgan_generator
from gan_mixup.probes import (
    CALIBRATION_PROBE_SAMPLES,
    calibration_probe,
    discriminator_gradient_norms,
    gradient_summary,
)
from gan_mixup.rundir import Reference, Snapshot, snapshot_schedule, write_snapshot

# Images (real and fake; as many mixes of them) whose D input gradients a metric snapshot measures:
# the mean of 128 per-sample norms; 256 cost more than G's whole pass on the metric noise (a DCGAN at
# 64 px, width 64: 2.7 training steps of CPU time, against 1.2 at 128).
GRADIENT_PROBE_IMAGES = 128
# G draws the metric samples in batches of this many: the activations of a batch stay in the CPU's
# caches (at 64 px, width 64, 1,000 samples took 15% less CPU time than in batches of 500).
METRIC_BATCH = 128


def build_data(config: Any) -> Any:
    """The run's image dataset, at its size and channels, from where the config says."""
    return get_image_dataset(config.dataset, image_size=config.image_size, data_root=config.data_root,
                             channels=config.channels, download=config.download)


def build_models(config: Any, data: Any) -> tuple[nn.Module, nn.Module]:
    """DCGAN's G and D for the data's channels at ``image_size`` (channels-last when asked)."""
    G = dcgan_generator(config.latent_dim, data.channels, config.image_size, config.hidden)
    D = dcgan_discriminator(data.channels, config.image_size, config.hidden, spectral_norm=config.spectral_norm)
    return (channels_last(G), channels_last(D)) if config.channels_last else (G, D)


def metric_iterations(config: Any) -> set[int]:
    """A metric costs a few training steps here: ``metric_frames`` log-spaced snapshots, the
    paper's iterations, the first and the last (none without ``metric_samples``)."""
    if not config.metric_samples:
        return set()
    return {0, *snapshot_schedule(config.iterations, config.metric_frames)}


def make_reference(config: Any, data: Any, generator: torch.Generator) -> Reference:
    """``max(fixed_samples, metric_samples)`` real images from ``generator``, as uint8."""
    count = max(config.fixed_samples, config.metric_samples)
    real_images = images_to_uint8(data.sample(count, generator))  # (N, C, H, W) uint8
    return Reference(real_images, np.zeros((0, 2), np.float32), math.nan, np.zeros(0, np.float32), None, "images")


def take_snapshot(state: Any, run_dir: Path, G: nn.Module, D: nn.Module, with_metrics: bool = True) -> dict[str, Any]:
    """Write the snapshot of ``state.iteration`` (G and D as given, in eval mode); return its record,
    with the metrics when ``with_metrics`` and the run has metric noise."""
    config, device = state.config, state.fixed_noise.device
    fake = images_to_uint8(G(state.fixed_noise))  # (N, C, H, W) uint8
    write_snapshot(run_dir, Snapshot(state.iteration, fake, np.zeros((0, 0), np.float32)))
    record: dict[str, Any] = {"kind": "snapshot", "iteration": state.iteration}
    if with_metrics and state.metric_noise is not None:
        real = state.reference.real
        batches = [G(noise) for noise in state.metric_noise.split(METRIC_BATCH)]
        metric_fake = images_to_uint8(torch.cat(batches))
        record.update(image_sample_metrics(metric_fake, real, dataset_name=config.dataset, dataset=state.dataset))
        if config.fid_weights:
            record.update(inception_metrics(metric_fake, real, config.fid_weights, device=device))
        # D's input gradients at GRADIENT_PROBE_IMAGES real, fake and mixed images (see its comment).
        probe = min(GRADIENT_PROBE_IMAGES, len(real), len(metric_fake))
        real_images = uint8_to_images(real[:probe], device=device)
        fake_images = torch.cat(batches)[:probe].float()
        record.update(gradient_summary(discriminator_gradient_norms(D, real_images, fake_images)))
        record.update(calibration_probe(G, D, uint8_to_images(real[:CALIBRATION_PROBE_SAMPLES], device=device),
                                        config.latent_dim, batch_statistics=config.g_step_batchnorm != "running"))
        if state.iteration == 0:
            # The ceiling at this sample size: what real data scores (at 1,000 samples, uniform
            # data shows only ~632 of 1,000 modes), for reading the fake scores against.
            own = image_sample_metrics(real[: len(metric_fake)], real, dataset_name=config.dataset, dataset=state.dataset)
            record.update({f"real_{k}": v for k, v in own.items() if k in ("modes_covered", "kl_modes")})
            # The other metrics of real data against itself are trivial (0, 1): a second, independent
            # real sample of the same size gives their ceiling.
            other = ceiling_reals(state.dataset, len(metric_fake), config.seed)
            own = image_sample_metrics(other, real, dataset_name=config.dataset, dataset=state.dataset)
            record.update({f"real_{k}": v for k, v in own.items() if k not in ("modes_covered", "kl_modes", "frechet_digits")})
            record["classifier_accuracy"] = judge_for(state.dataset).accuracy
    return record

"""The images modality: image datasets in [-1, 1], DCGAN, uint8 sample grids, classifier metrics."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gan_mixup.modalities.base import Modality

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

    from gan_mixup.rundir import Reference

IMAGE_DATASETS = ("digits", "stacked-digits", "mnist", "fashion-mnist", "cifar10", "stacked-mnist", "folder")


class Images(Modality):
    name = "images"
    datasets = IMAGE_DATASETS

    def build_data(self, config: Any) -> Any:
        from gan_mixup.modalities.images.data import get_image_dataset

        return get_image_dataset(config.dataset, image_size=config.image_size, data_root=config.data_root,
                                 channels=config.channels)

    def build_models(self, config: Any, data: Any) -> "tuple[nn.Module, nn.Module]":
        from gan_mixup.modalities.images.models import dcgan_discriminator, dcgan_generator

        return (dcgan_generator(config.latent_dim, data.channels, config.image_size, config.hidden),
                dcgan_discriminator(data.channels, config.image_size, config.hidden, spectral_norm=config.spectral_norm))

    # --- training ---
    def metric_iterations(self, config: Any) -> "set[int] | None":
        """A metric costs a few training steps here: ``metric_frames`` log-spaced snapshots, the
        paper's iterations, the first and the last (none without ``metric_samples``)."""
        from gan_mixup.rundir import snapshot_schedule

        if not config.metric_samples:
            return set()
        return {0, *snapshot_schedule(config.iterations, config.metric_frames)}

    def make_reference(self, config: Any, data: Any, generator: "torch.Generator") -> "Reference":
        from gan_mixup.modalities.images.snapshot import make_reference

        return make_reference(config, data, generator)

    def take_snapshot(self, state: Any, run_dir: "Path", G: "nn.Module", D: "nn.Module",
                      with_metrics: bool = True) -> dict[str, Any]:
        from gan_mixup.modalities.images.snapshot import take_snapshot

        return take_snapshot(state, run_dir, G, D, with_metrics)


IMAGES = Images()

"""The points modality: 2-D toy distributions (``toy_data``), the paper's MLPs, D drawn on a grid."""
from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gan_mixup.modalities.base import Modality
from toy_data import DATASETS

if TYPE_CHECKING:
    from torch import nn

_IMAGES_ONLY = "the toy MLPs train on 2-D points"


class Points(Modality):
    name = "points"
    datasets = tuple(DATASETS)

    def build_data(self, config: Any) -> Any:
        from toy_data import get_dataset

        return get_dataset(config.dataset, **config.dataset_options)

    def build_models(self, config: Any, data: Any) -> "tuple[nn.Module, nn.Module]":
        from gan_mixup.modalities.points.models import toy_discriminator, toy_generator

        return (toy_generator(config.latent_dim, config.hidden, config.layers),
                toy_discriminator(config.hidden, config.layers, config.spectral_norm))

    # --- config ---
    command = "toy"
    label = "toy"
    default_dataset = "ring8"
    # The paper's toy GAN, from its text and the authors' code: 2-D noise, 3x512 ReLU MLPs, 20,000
    # iterations of batch 128, 5 D steps, Adam's own defaults, 1,000 fixed noise vectors.
    defaults = MappingProxyType({
        "latent_dim": 2, "hidden": 512, "iterations": 20000, "batch_size": 128, "d_steps": 5, "lr": 1e-3,
        "betas": (0.9, 0.999), "snapshot_frames": 200, "fixed_samples": 1000, "checkpoint_every": 1000,
        "metric_samples": 0, "metric_frames": 0,
    })
    refused_fields = MappingProxyType({
        "image_size": _IMAGES_ONLY, "channels": _IMAGES_ONLY, "data_root": "toy data is generated, not read",
        "fid_weights": "Inception features are for images",
        "metric_samples": "toy metrics use every snapshot's own samples",
        "metric_frames": "toy metrics use every snapshot's own samples",
        "sync_batchnorm": "the toy MLPs have no BatchNorm",
    })

    def config_problem(self, config: Any) -> str | None:
        from toy_data import get_dataset

        try:  # the dataset checks its own options: names, types and limits
            get_dataset(config.dataset, **config.dataset_options)
        except (ValueError, TypeError) as err:
            return str(err)
        return None


POINTS = Points()

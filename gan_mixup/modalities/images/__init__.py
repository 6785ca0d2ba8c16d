"""The images modality: image datasets in [-1, 1], DCGAN, uint8 sample grids, classifier metrics."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gan_mixup.modalities.base import Modality

if TYPE_CHECKING:
    from torch import nn

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


IMAGES = Images()

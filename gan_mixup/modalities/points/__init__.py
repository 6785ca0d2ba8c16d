"""The points modality: 2-D toy distributions (``toy_data``), the paper's MLPs, D drawn on a grid."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gan_mixup.modalities.base import Modality
from toy_data import DATASETS

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

    from gan_mixup.rundir import Reference


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

    # --- training ---
    lockstep = True

    def make_reference(self, config: Any, data: Any, generator: "torch.Generator") -> "Reference":
        from gan_mixup.modalities.points.snapshot import make_reference

        return make_reference(config, data, generator)

    def take_snapshot(self, state: Any, run_dir: "Path", G: "nn.Module", D: "nn.Module",
                      with_metrics: bool = True) -> dict[str, Any]:
        from gan_mixup.modalities.points.snapshot import take_snapshot

        return take_snapshot(state, run_dir, G, D, with_metrics)


POINTS = Points()

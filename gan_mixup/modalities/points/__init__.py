"""The points modality: 2-D toy distributions (``toy_data``), the paper's MLPs, D drawn on a grid."""
from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from gan_mixup.modalities.base import CellLayout, FrameLayout, Modality
from toy_data import DATASETS

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

    from gan_mixup.rundir import Reference

_IMAGES_ONLY = "the toy MLPs train on 2-D points"


class Points(Modality):
    name = "points"

    @property
    def datasets(self) -> tuple[str, ...]:  # type: ignore[override]
        """Every toy dataset, read from ``toy_data.DATASETS`` live: a dataset added there trains at once."""
        return tuple(DATASETS)

    def build_data(self, config: Any) -> Any:
        from toy_data import get_dataset

        return get_dataset(config.dataset, **config.dataset_options)

    def build_models(self, config: Any, data: Any) -> "tuple[nn.Module, nn.Module]":
        from gan_mixup.modalities.points.models import toy_discriminator, toy_generator

        return (toy_generator(config.latent_dim, config.hidden, config.layers),
                toy_discriminator(config.hidden, config.layers, config.spectral_norm))

    # --- render and metrics ---
    frame_layout = FrameLayout(4.0, 4.0, (0.11, 0.07, 0.85, 0.85))  # 320 x 320 px at 80 dpi, ticks left and below
    comparison_layout = FrameLayout(3.2, 3.35, (0.13, 0.07, 0.82, 0.82))
    compare_cell = CellLayout(1.9, 90, left=0.45)
    figure5_cell = CellLayout(1.25, 80)
    render_modules = ("gan_mixup.modalities.points.draw",)
    distance_metric = "sliced_wasserstein"

    def sample_problem(self, fake: Any) -> str:
        from gan_mixup.modalities.points.draw import sample_problem

        return sample_problem(fake)

    def setup_axes(self, ax: Any, labelsize: float) -> None:
        from gan_mixup.modalities.points.draw import setup_axes

        setup_axes(ax, labelsize)

    def draw_frame(self, ax: Any, reference: Any, snapshot: Any, *, quiver: bool = True) -> str:
        from gan_mixup.modalities.points.draw import draw_frame

        return draw_frame(ax, reference, snapshot, quiver)

    def draw_cell(self, ax: Any, reference: Any, snapshot: Any) -> None:
        from gan_mixup.modalities.points.draw import draw_frame

        draw_frame(ax, reference, snapshot, quiver=False)

    def draw_figure5_cell(self, ax: Any, reference: Any, snapshot: Any, extent: float) -> None:
        from gan_mixup.modalities.points.draw import draw_figure5_cell

        draw_figure5_cell(ax, reference, snapshot, extent)

    def evaluate_run(self, run_dir: Any, reference: Any) -> list[dict[str, Any]]:
        from gan_mixup.modalities.points.metrics import evaluate_points_run

        return evaluate_points_run(run_dir, reference)

    def modes_total(self, reference: Any, records: list[dict[str, Any]]) -> int | None:
        return len(reference.modes) or None

    # --- training ---
    lockstep = True

    def make_reference(self, config: Any, data: Any, generator: "torch.Generator") -> "Reference":
        from gan_mixup.modalities.points.snapshot import make_reference

        return make_reference(config, data, generator)

    def take_snapshot(self, state: Any, run_dir: "Path", G: "nn.Module", D: "nn.Module",
                      with_metrics: bool = True) -> dict[str, Any]:
        from gan_mixup.modalities.points.snapshot import take_snapshot

        return take_snapshot(state, run_dir, G, D, with_metrics)

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
        "download": "toy data is generated, not downloaded",
        "fid_weights": "Inception features are for images",
        "metric_samples": "toy metrics use every snapshot's own samples",
        "metric_frames": "toy metrics use every snapshot's own samples",
        "sync_batchnorm": "the toy MLPs have no BatchNorm",
        "g_step_batchnorm": "the toy MLPs have no BatchNorm",
        "channels_last": "the toy MLPs have no convolutions",
    })

    def config_problem(self, config: Any) -> str | None:
        from toy_data import get_dataset

        try:  # the dataset checks its own options: names, types and limits
            get_dataset(config.dataset, **config.dataset_options)
        except (ValueError, TypeError) as err:
            return str(err)
        return None


POINTS = Points()

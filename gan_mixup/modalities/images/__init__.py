"""The images modality: image datasets in [-1, 1], DCGAN, uint8 sample grids, classifier metrics."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gan_mixup.modalities.base import CellLayout, FrameLayout, Modality, ScoreColumn

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

    # --- render and metrics ---
    # 340 x 340 px at 80 dpi; the image area (306 px high) shows an 8 x 8 grid of 64 samples of 32 px
    # (8 * 34 + 2 = 274 px) with every pixel >= 1 screen pixel. A comparison is that frame n times.
    frame_layout = FrameLayout(4.25, 4.25, (0.02, 0.02, 0.96, 0.9))
    comparison_layout = frame_layout
    # A grid cell: the first 36 samples (6 x 6) in 2.4 in at 90 dpi, 216 px for 32-px samples (206 px).
    compare_cell = CellLayout(2.4, 90, left=0.35)
    figure5_cell = CellLayout(2.4, 90)
    render_modules = ("gan_mixup.modalities.images.draw", "torchvision.utils")
    # Modes are the classifier's (digit classes); the distances in its feature space (frechet_digits:
    # the name of runs before other datasets had a classifier).
    result_columns = ("modes_covered", "modes_total", "kl_modes", "frechet_digits", "frechet", "precision", "recall",
                      "density", "coverage", "classifier_accuracy")
    score_columns = (ScoreColumn("modes covered", ("modes_covered",), "{:.0f}", of_total=True),
                     ScoreColumn("KL(modes)", ("kl_modes",)),
                     ScoreColumn("Fréchet", ("frechet", "frechet_digits"), "{:.3g}"),
                     *(ScoreColumn(name, (name,)) for name in ("precision", "recall", "density", "coverage")))
    distance_metric = "frechet"
    distance_label = "Fréchet"

    def sample_problem(self, fake: Any) -> str:
        from gan_mixup.modalities.images.draw import sample_problem

        return sample_problem(fake)

    def setup_axes(self, ax: Any, labelsize: float) -> None:
        ax.set_axis_off()

    def draw_frame(self, ax: Any, reference: Any, snapshot: Any, *, quiver: bool = True) -> str:
        from gan_mixup.modalities.images.draw import draw_samples

        return draw_samples(ax, snapshot.fake)

    def draw_cell(self, ax: Any, reference: Any, snapshot: Any) -> None:
        from gan_mixup.modalities.images.draw import GRID_CELL_SAMPLES, draw_samples

        draw_samples(ax, snapshot.fake, GRID_CELL_SAMPLES)

    # evaluate_run: the base's, the metrics training recorded (a snapshot keeps only a sample grid).

    def modes_total(self, reference: Any, records: list[dict[str, Any]]) -> int | None:
        # What the real data covers at the metrics' sample size, recorded at iteration 0.
        return records[0].get("real_modes_covered") if records else None
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

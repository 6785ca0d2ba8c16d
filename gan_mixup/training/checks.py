"""What a run of a config would refuse at start-up, checked before anything is built or written."""
from __future__ import annotations

from gan_mixup.config import RunConfig
from gan_mixup.modalities import modality_of, training_of
from gan_mixup.modalities.images.metrics import check_inception
from gan_mixup.training.device import run_device
from gan_mixup.training.objective import build_objective


def check_config(config: RunConfig) -> None:
    """Raise the error a run of ``config`` would hit at start-up (unknown objective options,
    regularizers, dataset options), without building models or touching the disk."""
    run_device(config)
    training_of(modality_of(config.dataset)).build_data(config)
    build_objective(config)
    check_fid_weights(config)


def check_fid_weights(config: RunConfig) -> None:
    """``--fid-weights``: the local weights file and the torch-fidelity extra, before anything is written."""
    if config.fid_weights:
        check_inception(config.fid_weights)

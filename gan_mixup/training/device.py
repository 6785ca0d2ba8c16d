"""The device a run trains on: ``auto``, or a named device that must exist here."""
from __future__ import annotations

import torch

from gan_mixup import precision
from gan_mixup.config import ConfigError, RunConfig


def run_device(config: RunConfig) -> torch.device:
    """The device ``config`` trains on; ``ConfigError`` when it is missing here or ``amp`` cannot run on it
    (see ``gan_mixup.precision``)."""
    device = resolve_device(config.device)
    refusal = precision.amp_refusal(device) if config.amp else None
    if refusal is not None:
        raise ConfigError(refusal)
    return device


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else the CPU; any other name must be usable here.

    Raises ``ConfigError`` for a device this machine lacks (``cuda`` without a GPU, ``cuda:3`` on a
    machine with two, ``mps`` off Apple silicon), before anything is built or written.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} is not usable here: torch finds no CUDA GPU (use --device cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} is not usable here: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"device {name!r} is not usable here: MPS is not available (use --device cpu or auto)")
    return device

"""The one data interface the trainer sees, for points and images alike.

Every dataset has ``sample(n, generator) -> Tensor`` that draws ``n`` samples on the generator's
device from that generator alone (so a checkpointed generator state resumes the data stream
bit-identically), and ``kind``: ``"points"`` (``(n, 2)``, a ``toy_data`` distribution) or
``"images"`` (``(n, C, H, W)`` in [-1, 1], ``gan_mixup.modalities.images.data``).

Example:
    >>> import torch
    >>> from gan_mixup.config import RunConfig
    >>> data = build_data(RunConfig(dataset="ring8"))
    >>> data.sample(4, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 2])
"""
from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor

from gan_mixup.config import ConfigError, RunConfig


class Data(Protocol):
    """What the trainer needs of a dataset."""

    name: str

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor: ...


def build_data(config: RunConfig) -> Any:
    """The dataset of ``config``: a ``toy_data`` distribution, or an in-memory image dataset.

    Toy options were checked when ``config`` was made; image data raises
    ``gan_mixup.errors.DataError`` (e.g. ``DatasetNotFoundError`` naming the files expected).
    """
    from gan_mixup.modalities import modality_of

    return modality_of(config.dataset).build_data(config)


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


"""2-D target distributions for toy GANs, each a pure sampler driven by a ``torch.Generator``.

The defaults follow the mixup authors' demo code (hongyi-zhang/mixup, ``gan/example_gan.py``):
``ring8`` is 8 Gaussians on the unit circle, ``grid25`` a 5x5 grid in [-1, 1], both with
std 0.01. Later papers' scales (ring radius 2 / std 0.02, grid spacing 2 / std 0.05) are
parameters.

Example:
    >>> import torch, toy_data
    >>> ds = toy_data.get_dataset("ring8")
    >>> x = ds.sample(128, torch.Generator().manual_seed(0))
    >>> x.shape
    torch.Size([128, 2])
"""
from toy_data.datasets import (
    DATASETS,
    GaussianMixture,
    Moons,
    Spiral,
    SwissRoll,
    ToyDataset,
    get_dataset,
    grid25,
    ring8,
)

__all__ = [
    "DATASETS",
    "GaussianMixture",
    "Moons",
    "Spiral",
    "SwissRoll",
    "ToyDataset",
    "get_dataset",
    "grid25",
    "ring8",
]

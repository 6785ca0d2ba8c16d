"""The paper's toy networks: fully connected G and D with ReLU hidden layers."""
from __future__ import annotations

from torch import nn


def mlp(in_features: int, out_features: int, hidden: int = 512, layers: int = 3, spectral_norm: bool = False) -> nn.Sequential:
    """``layers`` hidden Linear+ReLU layers of width ``hidden``, then a Linear to ``out_features``.

    The paper's toy G and D are ``mlp(2, 2)`` and ``mlp(2, 1)`` (3 hidden layers of 512 ReLU units).
    ``spectral_norm`` wraps every Linear in ``torch.nn.utils.parametrizations.spectral_norm``.

    Example:
        >>> import torch
        >>> D = mlp(2, 1, hidden=64)
        >>> D(torch.zeros(5, 2)).shape
        torch.Size([5, 1])
    """
    if hidden < 1 or layers < 1:
        raise ValueError(f"an MLP needs hidden >= 1 and layers >= 1, got hidden={hidden}, layers={layers}")
    sizes = [in_features] + [hidden] * layers + [out_features]
    modules: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(fan_in, fan_out)
        modules.append(nn.utils.parametrizations.spectral_norm(linear) if spectral_norm else linear)
        if i < len(sizes) - 2:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def toy_generator(latent_dim: int = 2, hidden: int = 512, layers: int = 3) -> nn.Sequential:
    """G: latent noise ``(B, latent_dim)`` → points ``(B, 2)``."""
    return mlp(latent_dim, 2, hidden, layers)


def toy_discriminator(hidden: int = 512, layers: int = 3, spectral_norm: bool = False) -> nn.Sequential:
    """D: points ``(B, 2)`` → one logit per point ``(B, 1)``."""
    return mlp(2, 1, hidden, layers, spectral_norm)

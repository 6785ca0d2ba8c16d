"""DCGAN generator and discriminator (Radford et al. 2016) for 16, 32 and 64 px images.

The layout of pytorch/examples ``dcgan/main.py``, with the number of stages derived from the image
size: G goes ``4 → 8 → 16 → 32 → 64`` by stride-2 transposed convolutions, halving the channels at
each stage; D mirrors it with stride-2 convolutions down to 4×4, then one 4×4 convolution to a logit.
D returns logits (no sigmoid): the objectives work on logits.

Example:
    >>> import torch
    >>> G, D = dcgan_generator(channels=3, image_size=16, width=8), dcgan_discriminator(3, 16, width=8)
    >>> D(G(torch.zeros(2, 100))).shape
    torch.Size([2])
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gan_mixup.errors import GanMixupError

DCGAN_IMAGE_SIZES = (16, 32, 64)


class ModelError(GanMixupError, ValueError):
    """A model cannot be built from these arguments (bad image size, channels, width, latent size)."""


def _check(image_size: int, channels: int, width: int, latent_dim: int = 1) -> None:
    if image_size not in DCGAN_IMAGE_SIZES:
        raise ModelError(f"DCGAN image size must be one of {', '.join(map(str, DCGAN_IMAGE_SIZES))}, got {image_size}")
    for label, value in (("channels", channels), ("width", width), ("latent_dim", latent_dim)):
        if not isinstance(value, int) or value < 1:
            raise ModelError(f"DCGAN {label} must be an integer >= 1, got {value!r}")


def _stages(image_size: int) -> int:
    """Stride-2 stages between 4×4 and ``image_size``: 2 at 16 px, 3 at 32, 4 at 64."""
    return image_size.bit_length() - 3


class _Latent(nn.Module):
    """``(B, latent_dim)`` or ``(B, latent_dim, 1, 1)`` → ``(B, latent_dim, 1, 1)``."""

    def forward(self, z: Tensor) -> Tensor:
        return z if z.dim() == 4 else z[:, :, None, None]


def dcgan_init_(module: nn.Module) -> nn.Module:
    """The DCGAN paper's init, in place: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), biases 0.

    Draws from torch's global RNG on purpose: the trainer seeds model construction with
    ``torch.random.fork_rng`` + ``manual_seed``, so G and D are the same for the same seed.
    A spectrally normalised conv has its underlying (``original``) weight initialised.

    Example:
        >>> import torch
        >>> conv = dcgan_init_(nn.Conv2d(64, 64, 4))
        >>> 0.015 < float(conv.weight.detach().std()) < 0.025
        True
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            weight = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def dcgan_generator(latent_dim: int = 100, channels: int = 1, image_size: int = 32, width: int = 64) -> nn.Sequential:
    """G: noise ``(B, latent_dim)`` (or ``(B, latent_dim, 1, 1)``) → images ``(B, channels, S, S)`` in [-1, 1].

    Transposed conv + BatchNorm + ReLU per stage, tanh at the end; the last hidden stage has ``width``
    channels and each earlier one twice as many (``width·8`` at 4×4 for 64 px, as in pytorch/examples).

    Example:
        >>> import torch
        >>> dcgan_generator(latent_dim=8, image_size=32, width=4)(torch.zeros(2, 8)).shape
        torch.Size([2, 1, 32, 32])
    """
    _check(image_size, channels, width, latent_dim)
    stages = _stages(image_size)
    top = width * 2 ** (stages - 1)
    layers: list[nn.Module] = [
        _Latent(),
        # (B, latent_dim, 1, 1) → (B, top, 4, 4)
        nn.ConvTranspose2d(latent_dim, top, 4, 1, 0, bias=False),
        nn.BatchNorm2d(top),
        nn.ReLU(True),
    ]
    size, fan_in = 4, top
    for _ in range(stages - 1):
        # (B, c, s, s) → (B, c/2, 2s, 2s)
        layers += [nn.ConvTranspose2d(fan_in, fan_in // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(fan_in // 2), nn.ReLU(True)]
        size, fan_in = size * 2, fan_in // 2
    # (B, width, S/2, S/2) → (B, channels, S, S); a bias here, as no BatchNorm follows to absorb it.
    layers += [nn.ConvTranspose2d(fan_in, channels, 4, 2, 1), nn.Tanh()]
    return dcgan_init_(nn.Sequential(*layers))


def dcgan_discriminator(
    channels: int = 1,
    image_size: int = 32,
    width: int = 64,
    spectral_norm: bool = False,
    batch_norm: bool = True,
) -> nn.Sequential:
    """D: images ``(B, channels, S, S)`` → one logit per image, shape ``(B,)`` (flattened inside).

    Strided conv + BatchNorm + LeakyReLU(0.2) per stage, no BatchNorm on the first (as in the paper),
    then a 4×4 conv to one logit. ``spectral_norm`` wraps every conv in
    ``torch.nn.utils.parametrizations.spectral_norm`` and drops BatchNorm (Miyato et al. 2018 use no
    normalisation besides it); ``batch_norm=False`` drops it alone, which gradient-penalty objectives
    want, since BatchNorm couples the samples of a batch.

    Example:
        >>> import torch
        >>> D = dcgan_discriminator(channels=3, image_size=64, width=4, spectral_norm=True)
        >>> D(torch.zeros(5, 3, 64, 64)).shape
        torch.Size([5])
    """
    _check(image_size, channels, width)
    use_bn = batch_norm and not spectral_norm
    stages = _stages(image_size)
    # (B, channels, S, S) → (B, width, S/2, S/2)
    layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=not use_bn), nn.LeakyReLU(0.2, True)]
    fan_in = width
    for _ in range(stages - 1):
        # (B, c, s, s) → (B, 2c, s/2, s/2); a bias only where no BatchNorm follows to absorb it.
        layers.append(nn.Conv2d(fan_in, fan_in * 2, 4, 2, 1, bias=not use_bn))
        if use_bn:
            layers.append(nn.BatchNorm2d(fan_in * 2))
        layers.append(nn.LeakyReLU(0.2, True))
        fan_in *= 2
    # (B, width·2^(stages-1), 4, 4) → (B, 1, 1, 1) → (B,)
    layers += [nn.Conv2d(fan_in, 1, 4, 1, 0), nn.Flatten(0)]
    D = dcgan_init_(nn.Sequential(*layers))
    if spectral_norm:
        # Wrap after init: spectral_norm's power iteration starts from the initialised weights.
        for i, layer in enumerate(D):
            if isinstance(layer, nn.Conv2d):
                D[i] = nn.utils.parametrizations.spectral_norm(layer)
    return D


def channels_last(model: nn.Module) -> nn.Module:
    """``model`` with its 4-d weights in the channels-last (NHWC) memory format, in place.

    oneDNN computes CPU convolutions in NHWC or blocked layouts; with NCHW weights and activations
    every convolution reorders its output back to NCHW (at 64 px, width 64, about 5% of a training
    step). A channels-last model gives channels-last outputs, whatever the input's format. The values
    are those of the NCHW model up to rounding (another summation order), not bit-identical.

    Example:
        >>> G = channels_last(dcgan_generator(latent_dim=8, image_size=16, width=4))
        >>> G(torch.zeros(2, 8)).is_contiguous(memory_format=torch.channels_last)
        True
    """
    return model.to(memory_format=torch.channels_last)

"""Differentiable augmentations of D's inputs: DiffAugment's policy (Zhao et al. 2020) and bCR's T.

DiffAugment (Zhao, Liu, Lin, Zhu, Han, "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020) replaces every ``D(x)`` by ``D(T(x))``, real and fake alike, in D's step and in G's;
T is differentiable, so G's gradient flows back through it. Its policy is a list of operations, each
with its own random parameters per sample:

- ``color``: brightness ``x + (b − ½)``, b ~ U(0, 1); saturation ``m₁ + s·(x − m₁)``, s ~ U(0, 2),
  m₁ the mean over the channel dim (dim 1); contrast ``m + c·(x − m)``, c ~ U(½, 3/2), m the mean over
  all of a sample's dims. On points ``(B, F)`` dim 1 is the feature dim, so saturation and contrast
  both scale a point's deviation from the mean of its coordinates.
- ``translation``: the image shifted by up to 1/8 of its side each way (a whole number of pixels,
  uniform), zeros shifted in;
- ``cutout``: a square of half the side (rounded) set to zero, its centre uniform over the image, so
  it may hang over the edge.

Translation and cutout move or mask pixels: they need images ``(B, C, H, W)`` and refuse points.
Randomness comes from the ``torch.Generator`` passed in (it must live on the batch's device), so a run
that checkpoints the generator resumes bit-identically. The ``regularizers.DiffAugment`` regularizer
applies a policy to every batch D sees; the functions here work alone in any loop.

bCR's T (Zhao et al. 2021, after CR-GAN, Zhang et al. 2020) is ``flip_and_translate``: a horizontal
flip with probability ½, then the translation above.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> diff_augment(torch.zeros(4, 3, 8, 8), parse_policy("color,translation,cutout"), g).shape
    torch.Size([4, 3, 8, 8])
    >>> parse_policy("color-cutout")
    ('color', 'cutout')
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

import torch
from torch import Tensor

from gan_mixup.errors import GanMixupError

POLICY_OPS = ("color", "translation", "cutout")
SPATIAL_OPS = ("translation", "cutout")  # they move or mask pixels: images only
TRANSLATION_RATIO = 1 / 8  # the largest shift, as a fraction of the side (DiffAugment's)
CUTOUT_RATIO = 1 / 2  # the cut square's side, as a fraction of the image's (DiffAugment's)


class AugmentError(GanMixupError, ValueError):
    """A bad DiffAugment policy, or an operation the batch's shape cannot take."""


def parse_policy(text: str | Sequence[str]) -> tuple[str, ...]:
    """A policy as a tuple of operations, from ``"color,translation"`` or ``"color-translation"`` (the
    form a regularizer spec takes, where commas separate objectives) or a sequence of names. Applied in
    the order given. Raises AugmentError for an empty policy or operation, an unknown or a repeated one."""
    parts = re.split(r"[,\-]", text) if isinstance(text, str) else list(text)
    names = tuple(str(part).strip() for part in parts if str(part).strip())
    if not names:
        raise AugmentError(f"the DiffAugment policy {text!r} is empty: name one or more of {', '.join(POLICY_OPS)} "
                           "(e.g. color,translation), or leave diffaug out")
    if len(names) < len(parts):  # "color,,cutout": a doubled or dangling separator, an operation left out
        raise AugmentError(f"the DiffAugment policy {text!r} has an empty operation between its separators; "
                           f"name each of {', '.join(POLICY_OPS)} once, e.g. color,cutout")
    for name in names:
        if name not in POLICY_OPS:
            raise AugmentError(f"unknown DiffAugment operation {name!r} in {text!r}; choose from {', '.join(POLICY_OPS)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise AugmentError(f"the DiffAugment policy {text!r} names {', '.join(repeated)} more than once")
    return names


def policy_text(policy: Sequence[str]) -> str:
    """``("color", "cutout")`` -> ``"color,cutout"``, as the config stores a policy."""
    return ",".join(policy)


def check_spatial(policy: Sequence[str], x: Tensor) -> None:
    """Raise AugmentError when ``policy`` moves pixels and ``x`` is not a batch of images."""
    spatial = [op for op in policy if op in SPATIAL_OPS]
    if spatial and x.dim() != 4:
        raise AugmentError(f"DiffAugment's {' and '.join(spatial)} work on images (B, C, H, W) only, not a batch of "
                           f"shape {tuple(x.shape)}; points take the policy color")


def _uniform(x: Tensor, low: float, high: float, generator: torch.Generator | None) -> Tensor:
    """One draw of U(low, high) per sample, shaped to broadcast over ``x``; in x's dtype, on its device."""
    u = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=torch.float32)
    return (low + (high - low) * u).to(x.dtype).view(-1, *([1] * (x.dim() - 1)))


def brightness(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``x + (b − ½)``, b ~ U(0, 1) per sample."""
    return x + _uniform(x, -0.5, 0.5, generator)


def saturation(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``m + s·(x − m)``, s ~ U(0, 2) per sample, m the mean over dim 1 (channels, or a point's features)."""
    mean = x.mean(dim=1, keepdim=True)
    return mean + _uniform(x, 0.0, 2.0, generator) * (x - mean)


def contrast(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``m + c·(x − m)``, c ~ U(½, 3/2) per sample, m the mean over all of a sample's dims."""
    mean = x.mean(dim=tuple(range(1, x.dim())), keepdim=True)
    return mean + _uniform(x, 0.5, 1.5, generator) * (x - mean)


def _shifted(x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``out[b, :, i, j] = x[b, :, rows[b, i], cols[b, j]]``, zero where the source is off the image.
    ``rows`` (B, H), ``cols`` (B, W) of source indices."""
    _, _, height, width = x.shape
    row_ok = (rows >= 0) & (rows < height)
    col_ok = (cols >= 0) & (cols < width)
    batch = torch.arange(x.shape[0], device=x.device)
    # Indices at dims 0, 2, 3 around a slice put their broadcast shape first: (B, H, W, C).
    out = x[batch[:, None, None], :, rows.clamp(0, height - 1)[:, :, None], cols.clamp(0, width - 1)[:, None, :]]
    inside = (row_ok[:, :, None] & col_ok[:, None, :]).unsqueeze(1).to(x.dtype)  # (B, 1, H, W)
    return out.permute(0, 3, 1, 2) * inside


def translation(x: Tensor, generator: torch.Generator | None = None, ratio: float = TRANSLATION_RATIO) -> Tensor:
    """Each image shifted by (t_h, t_w) pixels, each uniform in {−s, …, s}, s = round(ratio · side);
    ``out[i, j] = x[i + t_h, j + t_w]``, zero where that is off the image."""
    check_spatial(("translation",), x)
    batch, _, height, width = x.shape
    shift_h, shift_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    t_h = torch.randint(-shift_h, shift_h + 1, (batch,), generator=generator, device=x.device)
    t_w = torch.randint(-shift_w, shift_w + 1, (batch,), generator=generator, device=x.device)
    rows = torch.arange(height, device=x.device) + t_h[:, None]
    cols = torch.arange(width, device=x.device) + t_w[:, None]
    return _shifted(x, rows, cols)


def cutout_mask(x: Tensor, generator: torch.Generator | None = None, ratio: float = CUTOUT_RATIO) -> Tensor:
    """The cutout's keep-mask ``(B, 1, H, W)``: 0 on a square of round(ratio · side) per side, 1 elsewhere.
    The square's centre (row, column) is uniform in {0, …, H − k mod 2} (likewise for W, k the square's
    side), so the square may hang over the edge by up to half its side."""
    check_spatial(("cutout",), x)
    batch, _, height, width = x.shape
    size_h, size_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    centre_h = torch.randint(0, height + 1 - size_h % 2, (batch,), generator=generator, device=x.device)
    centre_w = torch.randint(0, width + 1 - size_w % 2, (batch,), generator=generator, device=x.device)
    top, left = (centre_h - size_h // 2)[:, None], (centre_w - size_w // 2)[:, None]
    rows, cols = torch.arange(height, device=x.device), torch.arange(width, device=x.device)
    in_rows = (rows >= top) & (rows < top + size_h)  # (B, H)
    in_cols = (cols >= left) & (cols < left + size_w)  # (B, W)
    return (~(in_rows[:, :, None] & in_cols[:, None, :])).unsqueeze(1).to(x.dtype)


def cutout(x: Tensor, generator: torch.Generator | None = None, ratio: float = CUTOUT_RATIO) -> Tensor:
    """``x`` with a random square per image set to zero (``cutout_mask``)."""
    return x * cutout_mask(x, generator, ratio)


OPERATIONS: dict[str, tuple[Callable[[Tensor, torch.Generator | None], Tensor], ...]] = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def diff_augment(x: Tensor, policy: Sequence[str], generator: torch.Generator | None = None) -> Tensor:
    """``x`` through every operation of ``policy`` (``parse_policy``'s tuple), in order, each drawing
    its own parameters per sample from ``generator``. Differentiable in ``x``."""
    check_spatial(policy, x)
    for name in policy:
        for operation in OPERATIONS[name]:
            x = operation(x, generator)
    return x


def flip_and_translate(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """bCR's T on images: each image flipped left-right with probability ½, then ``translation``."""
    check_spatial(("translation",), x)
    flip = torch.rand(x.shape[0], generator=generator, device=x.device, dtype=torch.float32) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    return translation(x, generator)

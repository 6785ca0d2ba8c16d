"""Mixup's family for D: manifold mixup (mix at a hidden layer) and CutMix (paste a rectangle).

``ManifoldMixupGAN`` (Verma et al., ICML 2019, and their repository's ``gan/mugan.py``) mixes real
and fake at a randomly chosen layer of D; ``CutMixGAN`` (the CutMix of Yun et al. 2019 as U-Net GAN,
Schönfeld et al., CVPR 2020, applies it to D) pastes a rectangle of a real image into a fake one.
CutMix on vectors ``(B, F)`` (a block of consecutive features, ``cutmix_spans``) is gan_mixup's
extension, in neither paper. Both state their losses as ``Term``s and draw all their randomness from
the ``generator`` they are given, so they resume bit-identically.

Splitting D (manifold mixup): an ``nn.Sequential`` splits between its children; any other module
may follow the ``Splittable`` protocol. Both of gan_mixup's discriminators are ``nn.Sequential``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_mixup.objectives.base import (
    Discriminator,
    Forward,
    ObjectiveError,
    StepStats,
    Term,
    TermObjective,
    bce,
    checked_number,
    check_pair,
    has_batch_statistics,
    ones_like_batch,
    probability_stats,
    real_fake_forwards,
)
from gan_mixup.objectives.lambdas import sample_beta
from gan_mixup.objectives.standard import unmixed_generator_terms

MANIFOLD_TARGETS = ("lambda", "fake-min")
CUTMIX_TARGETS = ("area", "fake")


# ----- splitting D ------------------------------------------------------------------------------

@runtime_checkable
class Splittable(Protocol):
    """A discriminator manifold mixup can split: ``split_points`` places k = 0 .. split_points − 1,
    with ``forward_tail(forward_head(x, k), k) == D(x)`` for each (k = 0 is usually the input itself).

    Example:
        >>> class TwoStage(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.body, self.head = nn.Sequential(nn.Linear(2, 8), nn.ReLU()), nn.Linear(8, 1)
        ...     split_points = 2  # mix the inputs (k = 0) or the body's features (k = 1)
        ...     def forward_head(self, x, k):
        ...         return x if k == 0 else self.body(x)
        ...     def forward_tail(self, h, k):
        ...         return self.head(self.body(h) if k == 0 else h)
        ...     def forward(self, x):
        ...         return self.forward_tail(self.forward_head(x, 0), 0)
        >>> split_points(TwoStage())
        2
    """

    split_points: int

    def forward_head(self, x: Tensor, k: int) -> Tensor: ...

    def forward_tail(self, h: Tensor, k: int) -> Tensor: ...


def _follows_protocol(D: Discriminator) -> bool:
    return isinstance(D, Splittable) and callable(D.forward_head) and callable(D.forward_tail)


def split_points(D: Discriminator) -> int:
    """How many places manifold mixup may mix at in D: k = 0 (the input) up to the last place before
    D's last layer with parameters (an ``nn.Sequential``: after its first k children; mixing after
    the last such layer would mix D's logits, which teaches none of its layers), or D's own
    ``split_points`` (the ``Splittable`` protocol). Raises ``ObjectiveError`` for any other D."""
    if _follows_protocol(D):
        points = D.split_points
        if isinstance(points, bool) or not isinstance(points, int) or points < 1:
            raise ObjectiveError(f"a splittable discriminator's split_points must be an integer >= 1, got {points!r}")
        return points
    if isinstance(D, nn.Sequential):
        with_parameters = [i for i, child in enumerate(D) if next(child.parameters(), None) is not None]
        if not with_parameters:
            raise ObjectiveError("manifold mixup needs a layer with parameters after the mix, and this "
                                 "nn.Sequential discriminator has none")
        return with_parameters[-1] + 1
    raise ObjectiveError(
        f"manifold mixup mixes at a hidden layer of D, and a {type(D).__name__} cannot be split: use an "
        "nn.Sequential or give it split_points, forward_head(x, k) and forward_tail(h, k) (see "
        "gan_mixup.objectives.Splittable)")


def forward_head(D: Discriminator, x: Tensor, k: int) -> Tensor:
    """D's layers before split point k on ``x`` (k = 0: ``x`` itself for an ``nn.Sequential``)."""
    if _follows_protocol(D):
        return D.forward_head(x, k)
    return D[:k](x)  # type: ignore[index]


def forward_tail(D: Discriminator, h: Tensor, k: int) -> Tensor:
    """D's layers from split point k on, applied to hidden features ``h``."""
    if _follows_protocol(D):
        return D.forward_tail(h, k)
    return D[k:](h)  # type: ignore[index]


class _MixedInside:
    """D as a manifold-mixup term reads its input: a real–fake pair ``(B, 2, ...)`` → the logits of
    ``tail_k(λ·head_k(real) + (1−λ)·head_k(fake))``, k = ⌊u·split_points(D)⌋."""

    def __init__(self, D: Discriminator, u: Tensor, lam: Tensor, separate: bool, objective: ManifoldMixupGAN) -> None:
        self.D, self.u, self.lam, self.separate, self.objective = D, u, lam, separate, objective

    def __call__(self, pair: Tensor) -> Tensor:
        points = split_points(self.D)
        # One host sync per step. The meta device holds shapes, no values: any layer does there.
        k = 0 if self.u.device.type == "meta" else min(int(self.u.item() * points), points - 1)
        self.objective.last_layer = k
        real, fake = pair[:, 0], pair[:, 1]
        if self.separate:  # a BatchNorm D: normalise a pure real and a pure fake batch, as it trains
            h_real, h_fake = forward_head(self.D, real, k), forward_head(self.D, fake, k)
        else:
            h_real, h_fake = forward_head(self.D, torch.cat([real, fake]), k).chunk(2)
        lam = self.lam.to(h_real.dtype).view(-1, *([1] * (h_real.dim() - 1)))
        return forward_tail(self.D, torch.lerp(h_fake, h_real, lam), k)


# ----- manifold mixup ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ManifoldMixupOptions:
    """``ManifoldMixupGAN``'s options (see the class docstring); checked when built."""

    alpha: float = 0.2
    target: str = "lambda"

    def __post_init__(self) -> None:
        checked_number("manifold-mixup", "alpha", self.alpha, low=0, low_open=True)
        if self.target not in MANIFOLD_TARGETS:
            raise ObjectiveError(f"unknown manifold-mixup target {self.target!r}; choose lambda or fake-min")


class ManifoldMixupGAN(TermObjective):
    """Manifold mixup in D (Verma et al. 2019): real and fake mixed at a randomly chosen layer of D.

    With ``h_k`` D's layers before split point k and ``d_k`` the rest, λ ~ Beta(α, α) per sample and
    k uniform over D's split points (one per D step)::

        lambda (default):  D loss = BCE(d_k(λ·h_k(real) + (1−λ)·h_k(fake)), λ)
        fake-min:          D loss = BCE(D(real), 1) + BCE(D(fake), 0) + BCE(d_k(λ'·h_k(real) + (1−λ')·h_k(fake)), 0),
                           λ' = min(λ, 1 − λ)
        G loss (both):     BCE(D(fake), 1), on unmixed fakes

    ``lambda`` is the default: it is the mixup paper's objective moved into D's hidden layers, so at
    k = 0 it is exactly ``MixupGAN``'s D loss, and a comparison with mixup differs in the layer alone.
    ``fake-min`` is what the authors' ``gan/mugan.py`` trains (ERM plus mixes that are mostly fake,
    labelled fake): D learns that anything with a fake majority is fake, a one-sided signal.

    D must be splittable: an ``nn.Sequential`` (split between its children, k = 0 the input) or a
    module with ``split_points``, ``forward_head(x, k)`` and ``forward_tail(h, k)`` (``Splittable``);
    any other D is refused with ``ObjectiveError``. Real and fake run through ``h_k`` in one forward,
    or two with a BatchNorm D (``separate_forwards``). The layer is chosen with one host sync per step.

    Args:
        alpha: the Beta(α, α) parameter, α > 0 (0.2, ``mugan.py``'s default).
        target: ``lambda`` or ``fake-min``, as above.
        generator: the ``torch.Generator`` λ and the layer are drawn from (on the batches' device):
            per D step λ (B values) first, then one uniform u that picks k = ⌊u·split_points⌋.

    Example:
        >>> objective = ManifoldMixupGAN(alpha=0.2, generator=torch.Generator().manual_seed(0))
        >>> D = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
        >>> objective.discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "manifold-mixup"
    Options = ManifoldMixupOptions
    draws_randomness = True
    smoothable = True
    reports = "lambda"
    not_in_lockstep = "manifold-mixup splits D at a hidden layer, which a lockstep sweep's stacked D does not expose"

    def __init__(self, alpha: float = 0.2, target: str = "lambda", generator: torch.Generator | None = None,
                 separate_forwards: bool | None = None) -> None:
        self.options = ManifoldMixupOptions(alpha, target)
        self.alpha = float(alpha)
        self.target = target
        self.generator = generator
        self.separate_forwards = separate_forwards
        self.last_stats = StepStats()
        self.last_layer: int | None = None  # the split point of the last D loss

    def discriminator_terms(self, real: Tensor, fake: Tensor, *, separate: bool, batch_statistics: bool,
                            members: Sequence[Any] | None = None, real_target: float | None = None) -> list[Forward]:
        if members is not None:
            raise ObjectiveError(self.not_in_lockstep)
        if real.shape[0] != fake.shape[0]:
            raise ObjectiveError(f"manifold mixup pairs real and fake samples: equal batch sizes needed, "
                                 f"got {real.shape[0]} and {fake.shape[0]}")
        lam = sample_beta(self.alpha, real.shape[0], self.generator, real.device, real.dtype)
        if self.target == "fake-min":
            lam = torch.minimum(lam, 1 - lam)
        u = torch.rand((), generator=self.generator, device=real.device, dtype=torch.float32)
        t = 1.0 if real_target is None else real_target
        mixed_target = t * lam if self.target == "lambda" else torch.zeros_like(lam)
        mixed = Term(torch.stack([real, fake], dim=1), mixed_target, share=lam,
                     through=lambda D: _MixedInside(D, u, lam, separate, self))
        if self.target == "lambda":
            return [[mixed]]
        return real_fake_forwards(Term(real, ones_like_batch(real, 0, t), role="real"),
                                  Term(fake, ones_like_batch(fake, 0, 0.0), role="fake"), separate) + [[mixed]]

    def generator_terms(self, real: Tensor | None, fake: Tensor, *, separate: bool, batch_statistics: bool,
                        members: Sequence[Any] | None = None) -> list[Forward]:
        """``BCE(D(fake), 1)``; with a BatchNorm D trained on mixed batches (``lambda``), D runs on
        real ∪ fake and the fake half counts, as ``MixupGAN``'s G step does."""
        lead = 0 if members is None else 1
        if self.target == "lambda" and real is not None and self.separate_forwards is not True and batch_statistics:
            (fake_term,), = unmixed_generator_terms(real, fake, "non-saturating", separate, lead)
            return [[Term(real, None, role="context"), fake_term]]
        return unmixed_generator_terms(real, fake, "non-saturating", separate, lead)

    def __repr__(self) -> str:
        return f"ManifoldMixupGAN(alpha={self.alpha}, target={self.target!r})"


# ----- CutMix -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CutMixOptions:
    """``CutMixGAN``'s options (see the class docstring); checked when built."""

    alpha: float = 1.0
    target: str = "area"
    mix_weight: float = 1.0
    consistency: float = 0.0

    def __post_init__(self) -> None:
        checked_number("cutmix", "alpha", self.alpha, low=0, low_open=True)
        if self.target not in CUTMIX_TARGETS:
            raise ObjectiveError(f"unknown cutmix target {self.target!r}; choose area or fake")
        checked_number("cutmix", "mix_weight", self.mix_weight, low=0)
        checked_number("cutmix", "consistency", self.consistency, low=0)


def cutmix_masks(n: int, height: int, width: int, alpha: float, generator: torch.Generator | None,
                 device: torch.device, dtype: torch.dtype) -> Tensor:
    """One rectangle per sample, as U-Net GAN draws it: ``(n, 1, height, width)``, 1 inside the box.

    λ ~ Beta(α, α); the box has sides ⌊H·√λ⌋ and ⌊W·√λ⌋, halved about a centre (cy, cx) uniform
    over the pixels and clipped to the image: rows ``[cy − ⌊h/2⌋, cy + ⌊h/2⌋)``, the same for columns.
    The box's area is therefore about λ·H·W, less where it is clipped; its exact fraction is the
    mask's mean. Drawn in this order from ``generator``: λ, cy, cx.
    """
    lam = sample_beta(alpha, n, generator, device, dtype)
    cy = torch.randint(height, (n,), generator=generator, device=device)
    cx = torch.randint(width, (n,), generator=generator, device=device)
    side = lam.sqrt()
    half_h = (height * side).floor().long() // 2
    half_w = (width * side).floor().long() // 2
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    in_rows = (rows >= (cy - half_h).unsqueeze(1)) & (rows < (cy + half_h).unsqueeze(1))  # (n, H)
    in_cols = (cols >= (cx - half_w).unsqueeze(1)) & (cols < (cx + half_w).unsqueeze(1))  # (n, W)
    return (in_rows.unsqueeze(2) & in_cols.unsqueeze(1)).unsqueeze(1).to(dtype)


def cutmix_spans(n: int, features: int, alpha: float, generator: torch.Generator | None,
                 device: torch.device, dtype: torch.dtype) -> Tensor:
    """One block of features per sample, the 1-D analogue of ``cutmix_masks``' box: ``(n, features)``.

    λ ~ Beta(α, α); the block has length L = round(F·λ) (``torch.round``: halves to even) and starts
    at s uniform over the F features, clipped at the end: features ``[s, min(s + L, F))`` are 1. The
    fraction pasted is the mask's mean, min(L, F − s)/F: about λ, less where the block is clipped
    (as the box is at the image's border). Drawn in this order from ``generator``: λ, s.

    Why a block and not a random subset of round(F·λ) coordinates: the box is one interval per
    spatial axis (rows × columns), so on the one axis a vector has it is one interval; a random
    subset would be another rule (feature dropout between two samples), not CutMix's. The length
    rounds rather than floors so that the pasted length is the nearest to F·λ (on 2-D points a floor
    would paste both coordinates only at λ = 1).

    On 2-D points (F = 2) L ∈ {0, 1, 2}: the mix is the fake point, one coordinate of the real point
    with the other of the fake, or (L = 2 from s = 0) the real point, so the target is 0, ½ or 1
    (with λ ~ U(0, 1): probabilities ¼, ⅝, ⅛). D is taught that a point sharing one coordinate with a
    real sample is half real: an axis-aligned statement about the marginals, off the data's support.

    Example:
        >>> cutmix_spans(2, 4, 1.0, torch.Generator().manual_seed(0), torch.device("cpu"), torch.float32).shape
        torch.Size([2, 4])
    """
    # λ·F in float32 at least: a half-precision λ would round F·λ to the wrong length for large F.
    lam = sample_beta(alpha, n, generator, device, torch.promote_types(dtype, torch.float32))
    start = torch.randint(features, (n,), generator=generator, device=device)
    end = start + (features * lam).round().long()
    cols = torch.arange(features, device=device)
    return ((cols >= start.unsqueeze(1)) & (cols < end.unsqueeze(1))).to(dtype)  # (n, F)


def _check_shape(n: int, sample_shape: Sequence[int]) -> None:
    if len(sample_shape) not in (1, 3):
        raise ObjectiveError(f"cutmix pastes a block of real features (B, F) or a rectangle of a real image "
                             f"(B, C, H, W) into a fake one, got a batch of shape {(n, *sample_shape)}")


class CutMixGAN(TermObjective):
    """CutMix for D (Yun et al. 2019; per sample, as U-Net GAN, Schönfeld et al. 2020, trains D).

    x̃ = M ⊙ real + (1 − M) ⊙ fake with M a per-sample rectangle (``cutmix_masks``: area ≈ λ·H·W,
    λ ~ Beta(α, α)), r = mean(M) the real fraction actually pasted::

        D loss = BCE(D(real), 1) + BCE(D(fake), 0) + w · BCE(D(x̃), r)      (target="area")
        G loss = BCE(D(fake), 1)

    ``target="fake"`` labels x̃ fake (0), as U-Net GAN's encoder does ("global coherence is broken").
    With ``consistency`` c > 0, D must return a per-pixel map ``(B, 1, H, W)`` (U-Net GAN's decoder),
    every BCE is per pixel (x̃'s target the mask M), and U-Net GAN's consistency term is added::

        c · mean((D(x̃) − (M ⊙ D(real) + (1 − M) ⊙ D(fake)))²)

    A D returning per-sample logits is refused there with ``ObjectiveError``, and a map is refused
    where c = 0; the consistency term is for images only.

    Vectors ``(B, F)`` (the toy points) get the same rule on the one axis they have: M is a block of
    round(F·λ) consecutive features at a uniform start, clipped (``cutmix_spans``). This is
    gan_mixup's extension, in neither paper; on 2-D points it pastes one coordinate of the real point
    into the fake (or none, or both), so r is 0, ½ or 1. Any other shape is refused. N stacked runs
    (a lockstep sweep) each draw their own masks, as they would alone.

    Args:
        alpha: the Beta(α, α) parameter of the box's area, α > 0 (1: U-Net GAN's uniform area).
        target: ``area`` (default: CutMix's own label, the real fraction) or ``fake``.
        mix_weight: w, the weight of the mixed term (U-Net GAN: 1).
        consistency: c, the consistency term's weight (0: off, D returns logits; U-Net GAN: 1).
        generator: the ``torch.Generator`` the boxes are drawn from (``cutmix_masks``' order).

    Example:
        >>> objective = CutMixGAN(generator=torch.Generator().manual_seed(0))
        >>> D = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 4, 1, 0))
        >>> objective.discriminator_loss(D, torch.randn(8, 1, 8, 8), torch.randn(8, 1, 8, 8)).shape
        torch.Size([])
    """

    name = "cutmix"
    Options = CutMixOptions
    draws_randomness = True
    smoothable = True
    reports = "lambda"

    def __init__(self, alpha: float = 1.0, target: str = "area", mix_weight: float = 1.0, consistency: float = 0.0,
                 generator: torch.Generator | None = None, separate_forwards: bool | None = None) -> None:
        self.options = CutMixOptions(alpha, target, mix_weight, consistency)
        self.alpha = float(alpha)
        self.target = target
        self.mix_weight = float(mix_weight)
        self.consistency = float(consistency)
        self.generator = generator
        self.separate_forwards = separate_forwards
        self.last_stats = StepStats()

    def draw_mask(self, n: int, sample_shape: Sequence[int], device: torch.device, dtype: torch.dtype) -> Tensor:
        """n masks from ``generator`` for samples of ``sample_shape``: ``(n, F)`` blocks for vectors
        ``(F,)`` (``cutmix_spans``), ``(n, 1, H, W)`` boxes for images ``(C, H, W)`` (``cutmix_masks``)."""
        _check_shape(n, sample_shape)
        if len(sample_shape) == 1:
            return cutmix_spans(n, sample_shape[0], self.alpha, self.generator, device, dtype)
        return cutmix_masks(n, sample_shape[1], sample_shape[2], self.alpha, self.generator, device, dtype)

    def cut_mix(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """``(x̃, M)``: one mask per sample from ``generator``, M of shape ``(B, F)`` or ``(B, 1, H, W)``."""
        if real.shape[0] != fake.shape[0]:
            raise ObjectiveError(f"cutmix pairs real and fake samples: equal batch sizes needed, "
                                 f"got {real.shape[0]} and {fake.shape[0]}")
        mask = self.draw_mask(real.shape[0], real.shape[1:], real.device, real.dtype)
        return torch.where(mask.bool(), real, fake), mask

    def _mixed(self, real: Tensor, fake: Tensor, members: Sequence[Any] | None) -> tuple[Tensor, Tensor]:
        """``cut_mix`` for one run, or for N stacked runs ``(N, B, ...)``, each member drawing its
        masks from its own generator as it would alone."""
        if members is None:
            return self.cut_mix(real, fake)
        if self.consistency:
            raise ObjectiveError("cutmix's consistency term compares per-pixel maps one run at a time: not in lockstep")
        mask = torch.stack([m.draw_mask(real.shape[1], real.shape[2:], real.device, real.dtype) for m in members])
        return torch.where(mask.bool(), real, fake), mask

    def discriminator_terms(self, real: Tensor, fake: Tensor, *, separate: bool, batch_statistics: bool,
                            members: Sequence[Any] | None = None, real_target: float | None = None) -> list[Forward]:
        lead = 0 if members is None else 1
        mixed, mask = self._mixed(real, fake, members)
        t = 1.0 if real_target is None else real_target
        area = mask.flatten(lead + 1).mean(lead + 1)
        target = t * area if self.target == "area" else torch.zeros_like(area)
        mixed_term = Term(mixed, target, self.mix_weight, share=area)
        # x̃ rides in the fake forward: BatchNorm then sees fakes with real patches, never real ones.
        unmixed = real_fake_forwards(Term(real, ones_like_batch(real, lead, t), role="real"),
                                     Term(fake, ones_like_batch(fake, lead, 0.0), role="fake"), separate)
        unmixed[-1].append(mixed_term)
        return unmixed

    def generator_terms(self, real: Tensor | None, fake: Tensor, *, separate: bool, batch_statistics: bool,
                        members: Sequence[Any] | None = None) -> list[Forward]:
        return unmixed_generator_terms(real, fake, "non-saturating", separate, 0 if members is None else 1)

    # ----- per-pixel maps (the consistency option) ----------------------------------------------

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor, real_target: float | None = None) -> Tensor:
        if self.consistency == 0:
            return super().discriminator_loss(D, real, fake, real_target)
        check_pair(real, fake)
        _check_map_input(real)
        mixed, mask = self.cut_mix(real, fake)
        t = 1.0 if real_target is None else real_target
        if self._separate(has_batch_statistics(D)):
            maps = [_map_of(D, x) for x in (real, fake, mixed)]
        else:
            maps = list(_map_of(D, torch.cat([real, fake, mixed])).chunk(3))
        on_real, on_fake, on_mixed = maps
        loss = bce(on_real, t) + bce(on_fake, 0.0) + self.mix_weight * bce(on_mixed, t * mask)
        mixed_maps = torch.lerp(on_fake, on_real, mask.to(on_real.dtype))  # M ⊙ D(real) + (1 − M) ⊙ D(fake)
        loss = loss + self.consistency * F.mse_loss(on_mixed, mixed_maps)
        stats = probability_stats(on_real, on_fake)
        self.last_stats = StepStats(lam_mean=mask.detach().mean(), d_real=stats.d_real, d_fake=stats.d_fake)
        return loss

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        if self.consistency == 0:
            return super().generator_loss(D, fake, real)
        if real is not None:
            check_pair(real, fake)
        return bce(_map_of(D, fake), 1.0)

    def __repr__(self) -> str:
        return (f"CutMixGAN(alpha={self.alpha}, target={self.target!r}, mix_weight={self.mix_weight}, "
                f"consistency={self.consistency})")


def _map_of(D: Discriminator, x: Tensor) -> Tensor:
    """D's per-pixel map of images ``x`` (B, C, H, W): shape ``(B, 1, H, W)``, else ``ObjectiveError``."""
    _check_map_input(x)
    out = D(x)
    expected = (x.shape[0], 1, x.shape[2], x.shape[3])
    if tuple(out.shape) != expected:
        raise ObjectiveError(f"cutmix's consistency term compares D's per-pixel maps: D must return {expected}, "
                             f"but returned {tuple(out.shape)} (one logit per sample: set consistency=0)")
    return out


def _check_map_input(x: Tensor) -> None:
    if x.dim() != 4:
        raise ObjectiveError(f"cutmix's consistency term compares D's per-pixel maps of images (B, C, H, W), "
                             f"got a batch of shape {tuple(x.shape)}: set consistency=0")

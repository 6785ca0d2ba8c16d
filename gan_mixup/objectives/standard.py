"""The standard (ERM) GAN and the unmixed generator losses that MixupGAN shares with it."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_mixup.objectives.base import (
    GENERATOR_LOSSES,
    Discriminator,
    ObjectiveError,
    StepStats,
    bce,
    logits_of,
    probability_stats,
    real_fake_logits,
)


class StandardGAN:
    """The standard (ERM) GAN of Goodfellow et al. 2014, on logits.

    D loss: ``BCE(D(real), 1) + BCE(D(fake), 0)``, each a mean over its batch (B samples each).
    G loss: ``non-saturating`` (default) ``BCE(D(fake), 1)``; ``saturating`` ``-BCE(D(fake), 0)``
    (the minimax form); ``minimax`` ``-BCE`` on the unmixed real ∪ fake batch as the mixup authors'
    code does (needs ``real``; the same gradient as ``saturating``, half the scale).

    Example:
        >>> objective = StandardGAN()
        >>> D = torch.nn.Linear(2, 1)
        >>> objective.discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "erm"
    batches_per_step = 1  # real/fake batches the D loss consumes per step
    real_target = 1.0  # D's target for real samples

    def __init__(self, generator_loss: str = "non-saturating", separate_forwards: bool | None = None) -> None:
        if generator_loss not in ("non-saturating", "saturating", "minimax"):
            raise ObjectiveError(
                f"StandardGAN generator_loss must be non-saturating, saturating or minimax, got {generator_loss!r}"
            )
        self.generator_loss_kind = generator_loss
        self.separate_forwards = separate_forwards  # see real_fake_logits
        self.last_stats = StepStats()

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Nothing anneals in this objective."""

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor, real_target: float | None = None) -> Tensor:
        """``real_target`` replaces the target 1 for this call (how label smoothing reaches this loss)."""
        real_logits, fake_logits = real_fake_logits(D, real, fake, self.separate_forwards)
        self.last_stats = probability_stats(real_logits, fake_logits)
        return bce(real_logits, self.real_target if real_target is None else real_target) + bce(fake_logits, 0.0)

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return generator_loss_on(D, fake, real, self.generator_loss_kind, self.separate_forwards)

    def discriminator_targets(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        """real ∪ fake with targets 1 and 0; the loss is a sum of two means over B samples each,
        which is twice the mean over the union."""
        return (*real_fake_targets(real, fake), 2.0)

    def generator_targets(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        return unmixed_generator_targets(real, fake, self.generator_loss_kind)

    def stacked_discriminator_targets(self, members: Sequence[StandardGAN], real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        """``discriminator_targets`` of N runs at once, on batches stacked ``(N, B, ...)`` (nothing random)."""
        return (*real_fake_targets(real, fake, lead=1), 2.0)

    def stacked_generator_targets(self, members: Sequence[StandardGAN], real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        """``generator_targets`` of N runs at once, on batches stacked ``(N, B, ...)``."""
        return unmixed_generator_targets(real, fake, self.generator_loss_kind, lead=1)

    def per_sample_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none")

    def __repr__(self) -> str:
        return f"StandardGAN(generator_loss={self.generator_loss_kind!r})"


def unmixed_generator_targets(real: Tensor, fake: Tensor, kind: str, lead: int = 0) -> tuple[Tensor, Tensor, float]:
    """``generator_loss_on``'s losses as D's batch, targets and scale (``PerSampleObjective``).
    ``lead``: how many leading dimensions stack runs' batches (1 for ``(N, B, ...)``)."""
    if kind == "non-saturating":
        return fake, torch.ones(fake.shape[:lead + 1], device=fake.device), 1.0
    if kind == "saturating":
        return fake, torch.zeros(fake.shape[:lead + 1], device=fake.device), -1.0
    if kind == "minimax":  # the mean BCE over real ∪ fake
        return (*real_fake_targets(real, fake, lead), -1.0)
    raise ObjectiveError(f"{kind!r} is no unmixed generator loss; choose non-saturating, saturating or minimax")


def real_fake_targets(real: Tensor, fake: Tensor, lead: int = 0) -> tuple[Tensor, Tensor]:
    """real ∪ fake along the sample dimension (after ``lead`` stacking ones), with targets 1 and 0."""
    targets = torch.cat([torch.ones(real.shape[:lead + 1], device=real.device),
                         torch.zeros(fake.shape[:lead + 1], device=fake.device)], dim=lead)
    return torch.cat([real, fake], dim=lead), targets


def generator_loss_on(D: Discriminator, fake: Tensor, real: Tensor | None, kind: str,
                      separate: bool | None = None) -> Tensor:
    """The unmixed generator losses shared by StandardGAN and MixupGAN (``separate``: see ``real_fake_logits``)."""
    if kind == "non-saturating":
        return bce(logits_of(D, fake), 1.0)
    if kind == "saturating":
        return -bce(logits_of(D, fake), 0.0)
    if kind == "minimax":
        if real is None:
            raise ObjectiveError("the minimax generator loss needs the real batch: generator_loss(D, fake, real)")
        if real.shape[0] != fake.shape[0]:
            raise ObjectiveError(f"the minimax generator loss pairs real and fake batches: equal sizes needed, got {real.shape[0]} and {fake.shape[0]}")
        real_logits, fake_logits = real_fake_logits(D, real, fake, separate)
        return -(bce(real_logits, 1.0) + bce(fake_logits, 0.0)) / 2  # the mean BCE over real ∪ fake
    raise ObjectiveError(f"unknown generator loss {kind!r}; choose one of: {', '.join(GENERATOR_LOSSES)}")


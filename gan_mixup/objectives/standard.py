"""The standard (ERM) GAN and the unmixed generator losses that MixupGAN shares with it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from torch import Tensor

from gan_mixup.objectives.base import (
    GENERATOR_LOSSES,
    Forward,
    ObjectiveError,
    StepStats,
    Term,
    TermObjective,
    ones_like_batch,
    real_fake_forwards,
)

UNMIXED_GENERATOR_LOSSES = ("non-saturating", "saturating", "minimax")


@dataclass(frozen=True)
class StandardOptions:
    """``StandardGAN``'s options: the generator loss (non-saturating, saturating or minimax)."""

    generator_loss: str = "non-saturating"

    def __post_init__(self) -> None:
        if self.generator_loss not in UNMIXED_GENERATOR_LOSSES:
            raise ObjectiveError(
                f"StandardGAN generator_loss must be non-saturating, saturating or minimax, got {self.generator_loss!r}"
            )


class StandardGAN(TermObjective):
    """The standard (ERM) GAN of Goodfellow et al. 2014, on logits.

    D loss: ``BCE(D(real), 1) + BCE(D(fake), 0)``, each a mean over its batch (B samples each).
    G loss: ``non-saturating`` (default) ``BCE(D(fake), 1)``; ``saturating`` ``-BCE(D(fake), 0)``
    (the minimax form); ``minimax`` ``-BCE`` on the unmixed real ∪ fake batch as the mixup authors'
    code does (needs ``real``; the same gradient as ``saturating``, half the scale).

    Example:
        >>> import torch
        >>> objective = StandardGAN()
        >>> D = torch.nn.Linear(2, 1)
        >>> objective.discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "erm"
    Options = StandardOptions
    smoothable = True
    reports = "probabilities"

    def __init__(self, generator_loss: str = "non-saturating", separate_forwards: bool | None = None) -> None:
        self.options = StandardOptions(generator_loss)
        self.generator_loss_form = generator_loss
        self.separate_forwards = separate_forwards  # None: two forwards exactly when D has BatchNorm in training mode
        self.last_stats = StepStats()

    def discriminator_terms(self, real: Tensor, fake: Tensor, *, separate: bool, batch_statistics: bool,
                            members: Sequence[Any] | None = None, real_target: float | None = None) -> list[Forward]:
        lead = 0 if members is None else 1
        t = 1.0 if real_target is None else real_target
        return real_fake_forwards(Term(real, ones_like_batch(real, lead, t), role="real"),
                                  Term(fake, ones_like_batch(fake, lead, 0.0), role="fake"), separate)

    def generator_terms(self, real: Tensor | None, fake: Tensor, *, separate: bool, batch_statistics: bool,
                        members: Sequence[Any] | None = None) -> list[Forward]:
        return unmixed_generator_terms(real, fake, self.generator_loss_form, separate, lead=0 if members is None else 1)

    def __repr__(self) -> str:
        return f"StandardGAN(generator_loss={self.generator_loss_form!r})"


def unmixed_generator_terms(real: Tensor | None, fake: Tensor, form: str, separate: bool, lead: int = 0) -> list[Forward]:
    """The unmixed generator losses shared by StandardGAN and MixupGAN, as terms.

    ``non-saturating``: ``BCE(D(fake), 1)``; ``saturating``: ``-BCE(D(fake), 0)``; ``minimax``: minus
    the mean BCE over real ∪ fake (``-(BCE(D(real), 1) + BCE(D(fake), 0)) / 2``; needs ``real``).
    """
    if form == "non-saturating":
        return [[Term(fake, ones_like_batch(fake, lead), role="fake")]]
    if form == "saturating":
        return [[Term(fake, ones_like_batch(fake, lead, 0.0), -1.0, role="fake")]]
    if form == "minimax":
        if real is None:
            raise ObjectiveError("the minimax generator loss needs the real batch: generator_loss(D, fake, real)")
        if real.shape[lead] != fake.shape[lead]:
            raise ObjectiveError(f"the minimax generator loss pairs real and fake batches: equal sizes needed, "
                                 f"got {real.shape[lead]} and {fake.shape[lead]}")
        return real_fake_forwards(Term(real, ones_like_batch(real, lead), -0.5, role="real"),
                                  Term(fake, ones_like_batch(fake, lead, 0.0), -0.5, role="fake"), separate)
    raise ObjectiveError(f"unknown generator loss {form!r}; choose one of: {', '.join(GENERATOR_LOSSES)}")

"""Objectives beyond the paper, under the same contract: WGAN-GP, the hinge loss, least squares."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_mixup.objectives.base import (
    Discriminator,
    Forward,
    ObjectiveError,
    StepStats,
    Term,
    TermObjective,
    checked_number,
    gradient_penalty,
    ones_like_batch,
    real_fake_forwards,
    score_per_sample,
)


def hinge_per_sample(scores: Tensor, target: Tensor) -> Tensor:
    """``max(0, 1 − t·D(x))`` with t = +1 for real, −1 for fake."""
    return F.relu(1.0 - target.to(scores.dtype) * scores)


def squared_per_sample(scores: Tensor, target: Tensor) -> Tensor:
    """``(D(x) − t)²``."""
    return (scores - target.to(scores.dtype)).pow(2)


def _fake_score_terms(fake: Tensor, weight: float) -> list[Forward]:
    """``weight · E[D(fake)]``: the Wasserstein and hinge G loss (weight −1)."""
    return [[Term(fake, None, weight, score_per_sample, role="fake")]]


@dataclass(frozen=True)
class WGANGPOptions:
    """``WGANGP``'s option: the gradient penalty's weight λ_gp ≥ 0."""

    gp_weight: float = 10.0

    def __post_init__(self) -> None:
        checked_number("WGANGP", "gp_weight", self.gp_weight, low=0)


@dataclass(frozen=True)
class HingeOptions:
    """``HingeGAN`` takes no options."""


@dataclass(frozen=True)
class LSGANOptions:
    """``LSGAN``'s targets: b for real, a for fake, c for G's samples (a ≠ b)."""

    real_target: float = 1.0
    fake_target: float = 0.0
    generator_target: float = 1.0

    def __post_init__(self) -> None:
        for key in ("real_target", "fake_target", "generator_target"):
            checked_number("LSGAN", key, getattr(self, key))
        if self.real_target == self.fake_target:
            raise ObjectiveError(f"LSGAN real_target and fake_target must differ, both are {self.real_target}")


class WGANGP(TermObjective):
    """WGAN-GP (Gulrajani et al. 2017): a Wasserstein critic with a gradient penalty on interpolates.

    D (the critic; its output is a score, not a logit)::

        D loss = E[D(fake)] − E[D(real)] + λ_gp · E[(‖∇D(x̂)‖₂ − 1)²],   x̂ = ε·real + (1−ε)·fake

    with ε ~ U(0, 1) per sample and the norm over all of a sample's dimensions.
    G: ``G loss = −E[D(fake)]``.

    Shapes: ``real`` and ``fake`` are ``(B, ...)`` with equal B; D maps them to ``(B,)`` or ``(B, 1)``.
    The paper trains with 5 critic steps per G step and Adam(lr=1e-4, betas=(0, 0.9)), and keeps batch
    normalisation out of the critic: the penalty is per sample, batch statistics break it.

    Args:
        gp_weight: λ_gp ≥ 0 (the paper's 10; 0 is a WGAN without any Lipschitz constraint).
        generator: the ``torch.Generator`` ε is drawn from (on the batches' device).

    Example:
        >>> objective = WGANGP(gp_weight=10.0, generator=torch.Generator().manual_seed(0))
        >>> D = torch.nn.Linear(2, 1)
        >>> objective.discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "wgan-gp"
    Options = WGANGPOptions
    draws_randomness = True  # ε of the interpolates

    def __init__(self, gp_weight: float = 10.0, generator: torch.Generator | None = None,
                 separate_forwards: bool | None = None) -> None:
        self.options = WGANGPOptions(gp_weight)
        self.gp_weight = float(gp_weight)
        self.generator = generator
        self.separate_forwards = separate_forwards  # see real_fake_forwards
        self.last_stats = StepStats()  # a critic's score is no logit: no sigmoid probabilities to report

    def discriminator_terms(self, real: Tensor, fake: Tensor, *, separate: bool, batch_statistics: bool,
                            members: Sequence[Any] | None = None, real_target: float | None = None) -> list[Forward]:
        """``E[D(fake)] − E[D(real)]``; the penalty is ``discriminator_penalty``."""
        return real_fake_forwards(Term(real, None, -1.0, score_per_sample, role="real"),
                                  Term(fake, None, 1.0, score_per_sample, role="fake"), separate)

    def generator_terms(self, real: Tensor | None, fake: Tensor, *, separate: bool, batch_statistics: bool,
                        members: Sequence[Any] | None = None) -> list[Forward]:
        return _fake_score_terms(fake, -1.0)

    def discriminator_penalty(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor | None:
        return None if self.gp_weight == 0 else self.gp_weight * gradient_penalty(D, real, fake, self.generator)

    def __repr__(self) -> str:
        return f"WGANGP(gp_weight={self.gp_weight})"


class HingeGAN(TermObjective):
    """The hinge GAN loss (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, SN-GAN).

    D: ``E[max(0, 1 − D(real))] + E[max(0, 1 + D(fake))]``, each a mean over its batch.
    G: ``−E[D(fake)]``.

    D's output is a score whose sign is its real/fake decision; ``last_stats`` reports the mean of
    its sigmoid as ``d_real`` / ``d_fake``, as the BCE objectives do. Usually paired with spectral
    normalisation (``models.mlp(..., spectral_norm=True)``).

    Example:
        >>> D = torch.nn.Linear(2, 1)
        >>> HingeGAN().discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "hinge"
    Options = HingeOptions
    reports = "probabilities"

    def __init__(self, separate_forwards: bool | None = None) -> None:
        self.options = HingeOptions()
        self.separate_forwards = separate_forwards  # see real_fake_forwards
        self.last_stats = StepStats()

    def discriminator_terms(self, real: Tensor, fake: Tensor, *, separate: bool, batch_statistics: bool,
                            members: Sequence[Any] | None = None, real_target: float | None = None) -> list[Forward]:
        lead = 0 if members is None else 1
        return real_fake_forwards(Term(real, ones_like_batch(real, lead), 1.0, hinge_per_sample, role="real"),
                                  Term(fake, ones_like_batch(fake, lead, -1.0), 1.0, hinge_per_sample, role="fake"),
                                  separate)

    def generator_terms(self, real: Tensor | None, fake: Tensor, *, separate: bool, batch_statistics: bool,
                        members: Sequence[Any] | None = None) -> list[Forward]:
        return _fake_score_terms(fake, -1.0)

    def __repr__(self) -> str:
        return "HingeGAN()"


class LSGAN(TermObjective):
    """Least-squares GAN (Mao et al. 2017): D regresses real to b and fake to a, G pulls D(fake) to c.

    D: ``½·E[(D(real) − b)²] + ½·E[(D(fake) − a)²]``;  G: ``½·E[(D(fake) − c)²]``.

    The defaults are the paper's 0-1 coding (a = 0, b = c = 1); its other recommendation is
    a = −1, b = 1, c = 0. D's output is a regression score, not a logit, so ``last_stats`` carries no
    sigmoid probabilities.

    Args:
        real_target: b, the target of real samples. One-sided label smoothing lowers it
            (``regularizers.LabelSmoothing`` passes ``real_target=`` to ``discriminator_loss``).
        fake_target: a, the target of fake samples.
        generator_target: c, the value G wants D to output on its samples.

    Example:
        >>> D = torch.nn.Linear(2, 1)
        >>> LSGAN().discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "lsgan"
    Options = LSGANOptions
    smoothable = True  # b, the real target

    def __init__(self, real_target: float = 1.0, fake_target: float = 0.0, generator_target: float = 1.0,
                 separate_forwards: bool | None = None) -> None:
        self.options = LSGANOptions(real_target, fake_target, generator_target)
        self.real_target = float(real_target)
        self.fake_target = float(fake_target)
        self.generator_target = float(generator_target)
        self.separate_forwards = separate_forwards  # see real_fake_forwards
        self.last_stats = StepStats()  # a regression score is no logit: no sigmoid probabilities to report

    def discriminator_terms(self, real: Tensor, fake: Tensor, *, separate: bool, batch_statistics: bool,
                            members: Sequence[Any] | None = None, real_target: float | None = None) -> list[Forward]:
        """``½·E[(D(real) − b)²] + ½·E[(D(fake) − a)²]``; ``real_target`` replaces b for this call."""
        lead = 0 if members is None else 1
        b = self.real_target if real_target is None else real_target
        return real_fake_forwards(Term(real, ones_like_batch(real, lead, b), 0.5, squared_per_sample, role="real"),
                                  Term(fake, ones_like_batch(fake, lead, self.fake_target), 0.5, squared_per_sample,
                                       role="fake"), separate)

    def generator_terms(self, real: Tensor | None, fake: Tensor, *, separate: bool, batch_statistics: bool,
                        members: Sequence[Any] | None = None) -> list[Forward]:
        lead = 0 if members is None else 1
        return [[Term(fake, ones_like_batch(fake, lead, self.generator_target), 0.5, squared_per_sample, role="fake")]]

    def __repr__(self) -> str:
        return f"LSGAN(real_target={self.real_target}, fake_target={self.fake_target}, generator_target={self.generator_target})"


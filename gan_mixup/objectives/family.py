"""Objectives beyond the paper, under the same contract: WGAN-GP, the hinge loss, least squares."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_mixup.objectives.base import (
    Discriminator,
    ObjectiveError,
    StepStats,
    gradient_penalty,
    logits_of,
    probability_stats,
    real_fake_logits,
)


class WGANGP:
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
    batches_per_step = 1

    def __init__(self, gp_weight: float = 10.0, generator: torch.Generator | None = None,
                 separate_forwards: bool | None = None) -> None:
        if isinstance(gp_weight, bool) or not isinstance(gp_weight, (int, float)) or not (math.isfinite(gp_weight) and gp_weight >= 0):
            raise ObjectiveError(f"WGANGP gp_weight must be a finite number >= 0, got {gp_weight!r}")
        self.gp_weight = float(gp_weight)
        self.generator = generator
        self.separate_forwards = separate_forwards  # see real_fake_logits
        self.last_stats = StepStats()

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Nothing anneals in this objective."""

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        real_scores, fake_scores = real_fake_logits(D, real, fake, self.separate_forwards)
        critic = fake_scores.mean() - real_scores.mean()
        # StepStats' d_real / d_fake are sigmoid probabilities; a critic's score is no logit, so they stay None.
        self.last_stats = StepStats()
        if self.gp_weight == 0:
            return critic
        return critic + self.gp_weight * gradient_penalty(D, real, fake, self.generator)

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return -logits_of(D, fake).mean()

    def __repr__(self) -> str:
        return f"WGANGP(gp_weight={self.gp_weight})"


class HingeGAN:
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
    batches_per_step = 1

    def __init__(self, separate_forwards: bool | None = None) -> None:
        self.separate_forwards = separate_forwards  # see real_fake_logits
        self.last_stats = StepStats()

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Nothing anneals in this objective."""

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        real_scores, fake_scores = real_fake_logits(D, real, fake, self.separate_forwards)
        self.last_stats = probability_stats(real_scores, fake_scores)
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return -logits_of(D, fake).mean()

    def __repr__(self) -> str:
        return "HingeGAN()"


class LSGAN:
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
    batches_per_step = 1

    def __init__(self, real_target: float = 1.0, fake_target: float = 0.0, generator_target: float = 1.0,
                 separate_forwards: bool | None = None) -> None:
        targets = {"real_target": real_target, "fake_target": fake_target, "generator_target": generator_target}
        for key, value in targets.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ObjectiveError(f"LSGAN {key} must be a finite number, got {value!r}")
        if real_target == fake_target:
            raise ObjectiveError(f"LSGAN real_target and fake_target must differ, both are {real_target}")
        self.real_target = float(real_target)
        self.fake_target = float(fake_target)
        self.generator_target = float(generator_target)
        self.separate_forwards = separate_forwards  # see real_fake_logits
        self.last_stats = StepStats()

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Nothing anneals in this objective."""

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor, real_target: float | None = None) -> Tensor:
        """``real_target`` overrides b for this call only (how label smoothing reaches this loss)."""
        b = self.real_target if real_target is None else real_target
        real_scores, fake_scores = real_fake_logits(D, real, fake, self.separate_forwards)
        self.last_stats = StepStats()
        return 0.5 * (real_scores - b).pow(2).mean() + 0.5 * (fake_scores - self.fake_target).pow(2).mean()

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return 0.5 * (logits_of(D, fake) - self.generator_target).pow(2).mean()

    def __repr__(self) -> str:
        return f"LSGAN(real_target={self.real_target}, fake_target={self.fake_target}, generator_target={self.generator_target})"


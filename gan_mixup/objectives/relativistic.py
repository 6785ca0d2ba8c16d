"""R3GAN's loss (Huang, Gokaslan, Kuleshov, Tompkin, NeurIPS 2024, "The GAN is dead; long live the
GAN! A Modern GAN Baseline"): the relativistic pairing GAN (RpGAN) with zero-centred gradient
penalties on real data (R1) and on fake data (R2)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from gan_mixup.objectives.base import (
    Discriminator,
    Forward,
    ObjectiveError,
    StepStats,
    Term,
    TermObjective,
    checked_number,
    input_gradient,
    ones_like_batch,
    real_fake_forwards,
)


def squared_gradient_norm(D: Discriminator, x: Tensor) -> Tensor:
    """``E‖∇ₓD(x)‖²``: each sample's squared input-gradient norm over all its dims, averaged."""
    return input_gradient(D, x).flatten(1).pow(2).sum(dim=1).mean()


@dataclass(frozen=True)
class R3GANOptions:
    """``R3GAN``'s option: γ ≥ 0, the weight of R1 and R2 (each γ/2 · E‖∇D‖²)."""

    gamma: float = 0.05

    def __post_init__(self) -> None:
        checked_number("R3GAN", "gamma", self.gamma, low=0)


class R3GAN(TermObjective):
    """R3GAN's loss (Huang et al. 2024): relativistic pairing (RpGAN) with R1 and R2 penalties.

    With f = softplus and real_i paired with fake_i (equal batch sizes B)::

        D loss = E[f(−(D(real) − D(fake)))] + γ/2 · E‖∇D(real)‖² + γ/2 · E‖∇D(fake)‖²
        G loss = E[f(−(D(fake) − D(real)))]

    f(−t) = BCE(t, 1), so each loss is BCE on the logit *difference* of a pair: a ``Term`` of one
    role measured ``against`` the other. D's absolute level is free (only differences count), so
    ``last_stats``' sigmoid probabilities say how D ranks real over fake, not a calibrated belief.
    The G loss reads the real batch: ``generator_loss(D, fake, real)``; the gradient reaches G
    through D(fake) only. The penalties take D's input gradient (one more forward each), so this
    objective, like wgan-gp, does not train in lockstep (``sweep --batched`` says so).

    Args:
        gamma: γ ≥ 0 for both penalties. The paper's code schedules γ per dataset (CIFAR-10 0.05 →
            0.005, ImageNet-32 0.5 → 0.05, FFHQ-64 2 → 0.2, FFHQ-256 150 → 15); the default is the
            CIFAR-10 start, the paper's smallest images. 0 leaves the bare RpGAN.

    Example:
        >>> D = torch.nn.Linear(2, 1)
        >>> R3GAN(gamma=0.05).discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "r3gan"
    Options = R3GANOptions
    reports = "probabilities"

    def __init__(self, gamma: float = 0.05, separate_forwards: bool | None = None) -> None:
        self.options = R3GANOptions(gamma)
        self.gamma = float(gamma)
        self.separate_forwards = separate_forwards  # see real_fake_forwards
        self.last_stats = StepStats()

    def discriminator_terms(self, real: Tensor, fake: Tensor, *, separate: bool, batch_statistics: bool,
                            members: Sequence[Any] | None = None, real_target: float | None = None) -> list[Forward]:
        """``E[softplus(−(D(real) − D(fake)))]``; R1 and R2 are ``discriminator_penalty``."""
        lead = 0 if members is None else 1
        _check_paired(real, fake, lead)
        return real_fake_forwards(Term(real, ones_like_batch(real, lead), role="real", against="fake"),
                                  Term(fake, None, role="fake"), separate)

    def generator_terms(self, real: Tensor | None, fake: Tensor, *, separate: bool, batch_statistics: bool,
                        members: Sequence[Any] | None = None) -> list[Forward]:
        """``E[softplus(−(D(fake) − D(real)))]``."""
        if real is None:
            raise ObjectiveError("r3gan's generator loss compares each fake with a real sample: "
                                 "call generator_loss(D, fake, real)")
        lead = 0 if members is None else 1
        _check_paired(real, fake, lead)
        return real_fake_forwards(Term(real, None, role="real"),
                                  Term(fake, ones_like_batch(fake, lead), role="fake", against="real"), separate)

    def discriminator_penalty(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor | None:
        """``γ/2 · (E‖∇D(real)‖² + E‖∇D(fake)‖²)``: R1 and R2."""
        if self.gamma == 0:
            return None
        return 0.5 * self.gamma * (squared_gradient_norm(D, real) + squared_gradient_norm(D, fake))

    def __repr__(self) -> str:
        return f"R3GAN(gamma={self.gamma})"


def _check_paired(real: Tensor, fake: Tensor, lead: int) -> None:
    if real.shape[lead] != fake.shape[lead]:
        raise ObjectiveError(f"r3gan pairs real_i with fake_i: equal batch sizes needed, "
                             f"got {real.shape[lead]} real and {fake.shape[lead]} fake")

"""Consistency regularizers: D's output should change little under a small change of its input (bCR)
or of G's noise (zCR)."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gan_mixup.augment import flip_and_translate
from gan_mixup.objectives import Discriminator, check_floating, logits_of
from gan_mixup.regularizers.common import RegularizerError, checked_number


class BalancedConsistency:
    """bCR (Zhao et al. 2021): λ_real·E[(D(x) − D(T(x)))²] + λ_fake·E[(D(G(z)) − D(T(G(z))))²], D's loss only.

    D is the raw output (the logit); each difference is per sample, squared and averaged over the
    batch, with gradient through both of D's outputs (D alone: the fakes of D's step are detached).
    T is the paper's: on images ``augment.flip_and_translate`` (a left-right flip with probability ½,
    then a shift of up to 1/8 of the side); on points ``(B, F)``, which have neither, a Gaussian jitter
    of std ``point_std`` (0.01, the std of ring8's and grid25's modes: a change the data themselves
    carry). ``weight`` sets λ_real and λ_fake alike (the paper's 10); ``real_weight`` / ``fake_weight``
    set one. Draws from ``generator``; the G loss never sees it.
    """

    name = "bcr"
    value_option = "weight"
    draws_randomness = True

    def __init__(self, weight: float = 10.0, *, real_weight: float | None = None, fake_weight: float | None = None,
                 point_std: float = 0.01, generator: torch.Generator | None = None) -> None:
        weight = checked_number("BalancedConsistency", "weight", weight, low=0.0)
        self.real_weight = weight if real_weight is None else checked_number("BalancedConsistency", "real_weight", real_weight, low=0.0)
        self.fake_weight = weight if fake_weight is None else checked_number("BalancedConsistency", "fake_weight", fake_weight, low=0.0)
        self.point_std = checked_number("BalancedConsistency", "point_std", point_std, low=0.0)
        self.generator = generator

    def transform(self, x: Tensor) -> Tensor:
        """T(x): flip and shift for images, Gaussian jitter for points."""
        check_floating(x)
        if x.dim() == 4:
            return flip_and_translate(x, self.generator)
        if x.dim() == 2:
            noise = torch.randn(x.shape, generator=self.generator, device=x.device, dtype=torch.float32)
            return x + self.point_std * noise.to(x.dtype)
        raise RegularizerError(f"bCR's T is defined for images (B, C, H, W) and points (B, F), not a batch of shape {tuple(x.shape)}")

    def _consistency(self, D: Discriminator, x: Tensor) -> Tensor:
        return (logits_of(D, x) - logits_of(D, self.transform(x))).pow(2).mean()

    def penalty(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        loss = real.new_zeros(())
        if self.real_weight:
            loss = loss + self.real_weight * self._consistency(D, real)
        if self.fake_weight:
            loss = loss + self.fake_weight * self._consistency(D, fake)
        return loss

    def __repr__(self) -> str:
        return (f"BalancedConsistency(real_weight={self.real_weight}, fake_weight={self.fake_weight}, "
                f"point_std={self.point_std})")


class LatentConsistency:
    """zCR (Zhao et al. 2021): λ_dis·E[(D(G(z)) − D(G(z+Δz)))²] in D's loss, −λ_gen·E[(G(z) − G(z+Δz))²] in G's.

    Δz ~ N(0, σ²) per latent coordinate, drawn from ``generator``. D's term makes D's logit change
    little under a small change of the noise (G(z+Δz) computed without gradient: D's step trains D
    only); G's term, maximised, makes G's output change with it, against mode collapse. G's squared
    difference is averaged over the batch and over a sample's elements (a mean squared error, as
    StudioGAN implements the paper's ‖·‖²). The paper's defaults: λ_dis 5, λ_gen 0.5, σ 0.03.

    It needs G and its noise z, which an objective's two losses are not given: it is a *latent*
    regularizer, ``latent_penalty(D, G, z, fake, generator_step)``, which ``with_regularizers``'
    objective exposes and gan_mixup's trainer adds to each loss. In a plain loop::

        z = torch.randn(batch, latent_dim)
        fake = G(z)
        d_loss = objective.discriminator_loss(D, real, fake.detach()) + objective.latent_penalty(D, G, z, fake.detach())
        g_loss = objective.generator_loss(D, fake, real) + objective.latent_penalty(D, G, z, fake, generator_step=True)
    """

    name = "zcr"
    value_option = "dis_weight"
    draws_randomness = True

    def __init__(self, dis_weight: float = 5.0, gen_weight: float = 0.5, std: float = 0.03,
                 generator: torch.Generator | None = None) -> None:
        self.dis_weight = checked_number("LatentConsistency", "dis_weight", dis_weight, low=0.0)
        self.gen_weight = checked_number("LatentConsistency", "gen_weight", gen_weight, low=0.0)
        self.std = checked_number("LatentConsistency", "std", std, low=0.0)
        self.generator = generator

    def latent_penalty(self, D: Discriminator, G: Any, z: Tensor, fake: Tensor, generator_step: bool = False) -> Tensor:
        """D's term (``generator_step=False``; ``fake`` = G(z), detached) or G's (``fake`` = G(z) with
        its graph). ``z`` is the noise ``fake`` came from, one row per sample."""
        check_floating(z, fake)
        if z.shape[0] != fake.shape[0]:
            raise RegularizerError(f"zCR needs the noise of each fake: got {z.shape[0]} noise rows for {fake.shape[0]} fakes")
        weight = self.gen_weight if generator_step else self.dis_weight
        if weight == 0:
            return fake.new_zeros(())
        noise = torch.randn(z.shape, generator=self.generator, device=z.device, dtype=torch.float32)
        nearby = z + self.std * noise.to(z.dtype)
        if generator_step:
            return -weight * (fake - G(nearby).to(fake.dtype)).pow(2).mean()
        with torch.no_grad():
            fake_nearby = G(nearby).to(fake.dtype)
        return weight * (logits_of(D, fake) - logits_of(D, fake_nearby)).pow(2).mean()

    def __repr__(self) -> str:
        return f"LatentConsistency(dis_weight={self.dis_weight}, gen_weight={self.gen_weight}, std={self.std})"

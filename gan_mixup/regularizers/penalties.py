"""Penalties on D's input gradient or its outputs, added to D's loss only: R1, R2, the gradient
penalty and LeCam."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gan_mixup.objectives import Discriminator, gradient_penalty, logits_of, squared_gradient_norm
from gan_mixup.regularizers.common import RegularizerError, checked_number


class R1:
    """R1 penalty on real data (Mescheder et al. 2018): γ/2 · E[‖∇ₓD(x)‖²], x ~ real.

    The gradient is of D's raw output (the logit) with respect to its input, per sample, squared
    norm over all of a sample's dims. Zero for a D that is constant in x.
    """

    name = "r1"
    value_option = "gamma"  # what NAME:VALUE sets
    draws_randomness = False

    def __init__(self, gamma: float = 10.0) -> None:
        self.gamma = checked_number("R1", "gamma", gamma, low=0.0)

    def penalty(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        if self.gamma == 0:
            return real.new_zeros(())
        return 0.5 * self.gamma * squared_gradient_norm(D, real)

    def __repr__(self) -> str:
        return f"R1(gamma={self.gamma})"


class GradientPenalty:
    """Gradient penalty on real/fake interpolates (Gulrajani et al. 2017): w · E[(‖∇D(x̂)‖₂ − 1)²].

    x̂ = ε·real + (1−ε)·fake with ε ~ U(0, 1) per sample, drawn from ``generator``. The same penalty
    ``WGANGP`` carries built in, here for any objective.
    """

    name = "gp"
    value_option = "weight"
    draws_randomness = True  # ε of the interpolates

    def __init__(self, weight: float = 10.0, generator: torch.Generator | None = None) -> None:
        self.weight = checked_number("GradientPenalty", "weight", weight, low=0.0)
        self.generator = generator

    def penalty(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        if self.weight == 0:
            return real.new_zeros(())
        return self.weight * gradient_penalty(D, real, fake, self.generator)

    def __repr__(self) -> str:
        return f"GradientPenalty(weight={self.weight})"


class R2:
    """R2 penalty on fake data (Mescheder et al. 2018; with R1 in R3GAN): γ/2 · E[‖∇ₓD(x)‖²], x ~ fake.

    R1's penalty on the generator's samples instead of the data's: D is pushed to be flat around
    what G produces, so it cannot sharpen against G's current samples.
    """

    name = "r2"
    value_option = "gamma"
    draws_randomness = False

    def __init__(self, gamma: float = 10.0) -> None:
        self.gamma = checked_number("R2", "gamma", gamma, low=0.0)

    def penalty(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        if self.gamma == 0:
            return fake.new_zeros(())
        return 0.5 * self.gamma * squared_gradient_norm(D, fake)

    def __repr__(self) -> str:
        return f"R2(gamma={self.gamma})"


class LeCam:
    """LeCam regularization (Tseng et al. 2021): λ · (E[(D(x) − α_F)²] + E[(D(G(z)) − α_R)²]).

    α_R and α_F are exponential moving averages of D's mean logit on the real and on the fake
    batches, updated with each D loss's batches before the penalty is taken (decay d, bias-corrected:
    α = EMA / (1 − dᵗ) after t updates, so the first α is the first batch's mean) and held constant
    in it (no gradient). D's output on real data is pulled towards what it said of fake data lately,
    and the fake output towards the real one: D cannot drift to extreme outputs on a few memorised
    samples. The defaults are the authors' code's: d = 0.99 (its StyleGAN2 loss), λ = 0.3 (its
    BigGAN CIFAR scripts; they use 0.01 with StyleGAN2). That code clips each difference with a ReLU
    (only D(x) above α_F and D(G(z)) below α_R count); this is the paper's unclipped equation.

    The averages are state: ``state_dict`` / ``load_state_dict`` carry them through a checkpoint, so
    a resumed run continues bit-identically. D runs once more on the real and the fake batch.

    Example:
        >>> lecam = LeCam(weight=0.3)
        >>> D = torch.nn.Linear(2, 1)
        >>> lecam.penalty(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "lecam"
    value_option = "weight"
    draws_randomness = False

    def __init__(self, weight: float = 0.3, decay: float = 0.99) -> None:
        self.weight = checked_number("LeCam", "weight", weight, low=0.0)
        self.decay = checked_number("LeCam", "decay", decay, low=0.0, high=1.0)
        if self.decay == 1.0:
            raise RegularizerError("LeCam decay must be below 1 (at 1 the averages never move), got 1.0")
        self.updates = 0  # how many batches the averages have seen
        self.ema_real: Tensor | None = None  # the biased averages; α = ema / (1 − decay^updates)
        self.ema_fake: Tensor | None = None

    @property
    def anchors(self) -> tuple[Tensor, Tensor]:
        """(α_R, α_F): the bias-corrected averages of D's mean logit on real and on fake data."""
        if self.ema_real is None or self.ema_fake is None:
            raise RegularizerError("LeCam has seen no batch yet: its averages start with the first penalty")
        correction = 1.0 - self.decay ** self.updates
        return self.ema_real / correction, self.ema_fake / correction

    def update(self, real_logits: Tensor, fake_logits: Tensor) -> None:
        """Move the averages towards this batch's mean logits (on the logits' device; float32 at least)."""
        dtype = torch.promote_types(real_logits.dtype, torch.float32)
        real_mean = real_logits.detach().to(dtype).mean()
        fake_mean = fake_logits.detach().to(dtype).mean()
        if self.ema_real is None or self.ema_fake is None:
            self.ema_real, self.ema_fake = torch.zeros_like(real_mean), torch.zeros_like(fake_mean)
        ema_real = self.ema_real.to(real_mean.device, dtype)
        ema_fake = self.ema_fake.to(fake_mean.device, dtype)
        self.ema_real = self.decay * ema_real + (1.0 - self.decay) * real_mean
        self.ema_fake = self.decay * ema_fake + (1.0 - self.decay) * fake_mean
        self.updates += 1

    def penalty(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        if self.weight == 0:
            return real.new_zeros(())
        real_logits, fake_logits = logits_of(D, real), logits_of(D, fake)
        self.update(real_logits, fake_logits)
        alpha_real, alpha_fake = self.anchors
        distance = ((real_logits - alpha_fake.to(real_logits.dtype)).pow(2).mean()
                    + (fake_logits - alpha_real.to(fake_logits.dtype)).pow(2).mean())
        return self.weight * distance

    def state_dict(self) -> dict[str, Any]:
        """The averages and their update count (``{}`` before the first update)."""
        if self.ema_real is None or self.ema_fake is None:
            return {}
        # On the CPU: a checkpoint gathers every rank's state on rank 0 by pickling it.
        return {"updates": self.updates, "ema_real": self.ema_real.detach().cpu().clone(),
                "ema_fake": self.ema_fake.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``'s value (``{}``: no batch seen yet)."""
        if not state:
            self.updates, self.ema_real, self.ema_fake = 0, None, None
            return
        self.updates = int(state["updates"])
        self.ema_real, self.ema_fake = state["ema_real"].clone(), state["ema_fake"].clone()

    def __repr__(self) -> str:
        return f"LeCam(weight={self.weight}, decay={self.decay})"

"""Input transforms: what every batch D sees goes through, in D's loss and in G's (instance noise,
DiffAugment)."""
from __future__ import annotations

import torch
from torch import Tensor

from gan_mixup.augment import POLICY_OPS, AugmentError, diff_augment, parse_policy, policy_text
from gan_mixup.objectives import check_floating
from gan_mixup.regularizers.common import RegularizerError, checked_number


class InstanceNoise:
    """Instance noise (Sønderby et al. 2016; Arjovsky & Bottou 2017): x + N(0, σ_t²) for every input of D.

    σ_t = σ·(1 − progress) with ``anneal`` (the default), else σ; progress = iteration / total, set by
    ``begin_iteration`` (0 until it is first called). The noise goes on real and fake batches alike, in
    the D loss and in the G loss, so both players see the same blurred distributions; it is drawn from
    ``generator``.
    """

    name = "instance-noise"
    value_option = "std"
    draws_randomness = True

    def __init__(self, std: float = 0.1, anneal: bool = True, generator: torch.Generator | None = None) -> None:
        self.std = checked_number("InstanceNoise", "std", std, low=0.0)
        self.anneal = bool(anneal)
        self.generator = generator
        self.progress = 0.0  # fraction of the run done, in [0, 1]

    def begin_iteration(self, iteration: int, total: int) -> None:
        """``iteration`` generator iterations of ``total`` are done (0 at the first)."""
        if total < 1 or iteration < 0:
            raise RegularizerError(f"begin_iteration needs iteration >= 0 and total >= 1, got {iteration} and {total}")
        self.progress = min(iteration / total, 1.0)

    @property
    def current_std(self) -> float:
        """The noise std of the current iteration."""
        return self.std * (1.0 - self.progress) if self.anneal else self.std

    def perturb(self, x: Tensor) -> Tensor:
        check_floating(x)  # noise on integers fails deep in torch.randn; say what is wrong instead
        std = self.current_std
        if std == 0:
            return x
        return x + std * torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)

    def __repr__(self) -> str:
        return f"InstanceNoise(std={self.std}, anneal={self.anneal})"


class DiffAugment:
    """DiffAugment (Zhao et al. 2020): D(T(x)) for every input of D, real and fake, in D's and G's step.

    T is ``policy``, a sequence of ``augment.POLICY_OPS`` (``color``, ``translation``, ``cutout``),
    each drawing its parameters per sample from ``generator``; G's gradient flows through T. ``None``
    (the default) is the paper's strongest policy where it applies: all three on images
    ``(B, C, H, W)``, ``color`` on any other batch (points have no pixels to move); an explicit
    ``translation`` or ``cutout`` on points raises ``AugmentError``. Like instance noise it is an
    input transform (``perturb``), so with mixup real and fake are augmented, each with its own
    draw, before they are mixed.

    Example:
        >>> from gan_mixup.objectives import StandardGAN
        >>> from gan_mixup.regularizers import with_regularizers
        >>> objective = with_regularizers(StandardGAN(), DiffAugment("color,translation"))
        >>> objective.name
        'erm+diffaug'
    """

    name = "diffaug"
    value_option = "policy"  # NAME:VALUE sets the policy, e.g. diffaug:color-translation
    draws_randomness = True

    def __init__(self, policy: str | tuple[str, ...] | None = None, generator: torch.Generator | None = None) -> None:
        try:
            self.policy = None if policy is None else parse_policy(policy)
        except AugmentError as err:
            raise RegularizerError(str(err)) from None
        self.generator = generator

    @staticmethod
    def parse_value(text: str) -> tuple[str, ...]:
        """The spec's VALUE as a policy (``color-translation``)."""
        try:
            return parse_policy(text)
        except AugmentError as err:
            raise RegularizerError(str(err)) from None

    def policy_for(self, x: Tensor) -> tuple[str, ...]:
        """The operations applied to ``x``: the policy given, else all three on images, color otherwise."""
        if self.policy is not None:
            return self.policy
        return POLICY_OPS if x.dim() == 4 else ("color",)

    def perturb(self, x: Tensor) -> Tensor:
        check_floating(x)
        return diff_augment(x, self.policy_for(x), self.generator)

    def __repr__(self) -> str:
        return f"DiffAugment(policy={None if self.policy is None else policy_text(self.policy)!r})"

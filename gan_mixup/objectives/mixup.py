"""The mixup GAN of Zhang et al. (ICLR 2018): D trained on λ·real + (1−λ)·fake with target λ."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from gan_mixup.objectives.base import (
    Forward,
    GENERATOR_LOSSES,
    LAMBDA_DISTRIBUTIONS,
    ObjectiveError,
    PAIRINGS,
    StepStats,
    Term,
    TermObjective,
    checked_number,
    check_pair,
    ones_like_batch,
)
from gan_mixup.objectives.lambdas import sample_beta
from gan_mixup.objectives.standard import unmixed_generator_terms


@dataclass(frozen=True)
class MixDraw:
    """The randomness of one mixup batch: the shuffles (``shuffled`` pairing; one per unmixed
    batch) and λ (``None`` for the unmixed α = 0 batch)."""

    perms: tuple[Tensor, ...]
    lam: Tensor | None


def _shuffled(data: Tensor, perm: Tensor) -> Tensor:
    """``data[perm]`` along the sample dimension; for stacked runs (``perm`` of shape ``(N, n)``)
    each run's rows by its own permutation."""
    if perm.dim() == 1:
        return data[perm]
    return data[torch.arange(len(perm), device=perm.device).unsqueeze(1), perm]


@dataclass(frozen=True)
class MixupOptions:
    """``MixupGAN``'s options (see the class docstring); checked when built."""

    alpha: float = 0.2
    per_sample: bool = True
    generator_loss: str = "non-saturating"
    lambda_distribution: str = "beta"
    pairing: str = "real-fake"
    mix_fake_fake: float = 0.0
    mix_real_real: float = 0.0

    def __post_init__(self) -> None:
        if self.lambda_distribution not in LAMBDA_DISTRIBUTIONS:
            raise ObjectiveError(f"unknown lambda distribution {self.lambda_distribution!r}; choose beta or uniform")
        if self.pairing not in PAIRINGS:
            raise ObjectiveError(f"unknown pairing {self.pairing!r}; choose real-fake or shuffled")
        if self.generator_loss not in GENERATOR_LOSSES:
            raise ObjectiveError(f"unknown generator loss {self.generator_loss!r}; choose one of: {', '.join(GENERATOR_LOSSES)}")
        alpha = self.alpha
        alpha_ok = isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and math.isfinite(alpha) and (
            alpha > 0 or (alpha == 0 and self.lambda_distribution == "uniform")
        )
        if not alpha_ok:
            raise ObjectiveError(
                f"alpha must be a finite number > 0 (0 is allowed only with the uniform λ distribution), got {alpha!r}"
            )
        if not isinstance(self.per_sample, bool):
            raise ObjectiveError(f"per_sample must be True or False, got {self.per_sample!r}")
        for key in ("mix_fake_fake", "mix_real_real"):
            checked_number("mixup", key, getattr(self, key), low=0, note=" (0: off)")
        if self.lambda_distribution == "uniform" and alpha > 1:
            raise ObjectiveError(f"with the uniform λ distribution alpha is the upper bound of λ and must be ≤ 1, got {alpha}")


def _stack_draws(draws: Sequence[MixDraw]) -> MixDraw:
    """N runs' draws as one, each tensor stacked along a new first dimension."""
    perms = tuple(torch.stack(column) for column in zip(*(d.perms for d in draws)))
    lam = None if draws[0].lam is None else torch.stack([d.lam for d in draws])
    return MixDraw(perms, lam)


class MixupGAN(TermObjective):
    """The mixup GAN of Zhang et al. (ICLR 2018, "Stabilization of GANs", Figure 5).

    D sees ``x̃ = λ·real + (1−λ)·fake`` with target λ:  ``D loss = BCE(D(x̃), λ)``, λ ~ Beta(α, α).

    Args:
        alpha: the Beta(α, α) (or Uniform(0, α)) parameter; α > 0. As α → 0, Beta(α, α) puts its
            mass on {0, 1}, and the loss tends to the mean of the two ERM terms (half of
            ``StandardGAN``'s sum, so Adam takes the same steps).
        per_sample: one λ per sample (default) or one per batch.
        generator_loss: ``non-saturating`` (default): ``BCE(D(fake), 1)``; ``saturating``:
            ``-BCE(D(fake), 0)``; ``mixed``: G maximises D's mixup loss, ``-BCE(D(x̃), λ)`` (the
            paper's max_g min_d written literally); ``minimax``: ``-BCE`` on an unmixed real ∪ fake
            batch (the authors' code, ``gan/example_gan.py``).
        lambda_distribution: ``beta`` (the paper's text, default) or ``uniform``: λ ~ U(0, α)
            (the authors' code; α = 0 is then allowed and means no mixing at all).
        pairing: ``real-fake`` (the paper's text, default) mixes real_i with fake_i.
            ``shuffled`` (the authors' code) concatenates real and fake with labels 1/0, shuffles,
            and mixes two such batches, so real–real, fake–fake and real–fake pairs all occur,
            labels mixed the same way. It consumes two real and two fake batches per step (see
            ``batches_per_step``): pass ``real`` and ``fake`` of ``2·B`` samples each.
        mix_fake_fake: the weight w_ff of a fake–fake term ``w_ff·BCE(D(λ·fake + (1−λ)·fake[π]), 0)``
            (0, the default: off). It teaches D that the segments between two fakes are fake too, so
            D's fake region spans the hull of G's samples and G gains nothing by landing between them.
        mix_real_real: the weight w_rr of a real–real term ``w_rr·BCE(D(λ·real + (1−λ)·real[π]), 1)``
            (0: off). It teaches D that the segments between real samples are real, which smooths D
            inside the data's support but, for data with separate modes, rewards G between them.
            Both draw a fresh λ ~ the mixup distribution per sample and a shuffle π of the batch,
            after the real–fake mix's draws, and join its forward; ``pairing`` must be ``real-fake``.
        generator: the ``torch.Generator`` λ and shuffles are drawn from (on the batches' device).

    Examples:
        >>> objective = MixupGAN(alpha=0.2, generator=torch.Generator().manual_seed(0))
        >>> D = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        >>> real, fake = torch.randn(128, 2), torch.randn(128, 2)
        >>> loss = objective.discriminator_loss(D, real, fake)
        >>> 0.0 < float(objective.last_stats.lam_mean) < 1.0
        True
    """

    name = "mixup"
    Options = MixupOptions
    draws_randomness = True
    smoothable = True  # the real share λ of x̃ is D's target: label smoothing makes it t·λ
    reports = "lambda"

    def __init__(
        self,
        alpha: float = 0.2,
        per_sample: bool = True,
        generator_loss: str = "non-saturating",
        lambda_distribution: str = "beta",
        pairing: str = "real-fake",
        generator: torch.Generator | None = None,
        separate_forwards: bool | None = None,
        mix_fake_fake: float = 0.0,
        mix_real_real: float = 0.0,
    ) -> None:
        self.options = MixupOptions(alpha, per_sample, generator_loss, lambda_distribution, pairing,
                                    mix_fake_fake, mix_real_real)
        if (mix_fake_fake or mix_real_real) and pairing != "real-fake":
            raise ObjectiveError("mix_fake_fake and mix_real_real add to real-fake pairing; shuffled pairing "
                                 "already mixes fake–fake and real–real pairs")
        self.mix_fake_fake = float(mix_fake_fake)
        self.mix_real_real = float(mix_real_real)
        self.alpha = float(alpha)
        self.per_sample = per_sample
        self.generator_loss_form = generator_loss
        self.lambda_distribution = lambda_distribution
        self.pairing = pairing
        self.generator = generator
        self.separate_forwards = separate_forwards  # see generator_terms
        self.last_stats = StepStats()

    @property
    def batches_per_step(self) -> int:
        """How many real (and fake) batches one D step consumes: 2 for shuffled pairing with α > 0."""
        return 2 if self.pairing == "shuffled" and self.alpha > 0 else 1

    def sample_lambda(self, n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """Draw λ of shape ``(n,)`` (per sample) or one λ repeated ``n`` times (per batch)."""
        count = n if self.per_sample else 1
        if self.lambda_distribution == "uniform":
            lam = self.alpha * torch.rand(count, generator=self.generator, device=device, dtype=dtype)
        else:
            lam = sample_beta(self.alpha, count, self.generator, device, dtype)
        return lam.expand(n) if count == 1 else lam

    def mix(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """Return the discriminator's batch and its targets: ``(x̃, λ)``.

        ``real-fake``: x̃ = λ·real + (1−λ)·fake, target λ; shapes ``(B, ...)`` and ``(B,)``.
        ``shuffled``: see the class docstring; ``(2B', ...)`` and ``(2B',)`` for inputs of ``B = 2B'``
        (or ``2B`` for α = 0, where the one unmixed shuffled batch is used).
        """
        check_pair(real, fake)
        return self.apply_mix(self.draw_mix(real.shape[0], fake.shape[0], real.device, real.dtype), real, fake)

    def draw_mix(self, n_real: int, n_fake: int, device: torch.device, dtype: torch.dtype) -> MixDraw:
        """The randomness of one ``mix`` of ``n_real`` real and ``n_fake`` fake samples, drawn from
        ``generator`` in ``mix``'s order: the shuffles (shuffled pairing), then λ."""
        if self.pairing == "real-fake":
            if n_real != n_fake:
                raise ObjectiveError(f"real-fake mixup needs equal batch sizes, got {n_real} and {n_fake}")
            return MixDraw((), self.sample_lambda(n_real, device, dtype))
        if self.batches_per_step == 1:  # α = 0: the authors' unmixed ERM batch
            return MixDraw((torch.randperm(n_real + n_fake, generator=self.generator, device=device),), None)
        if n_real % 2 or n_fake % 2:
            raise ObjectiveError("shuffled pairing consumes two batches per step: real and fake need an even batch size")
        half = n_real // 2 + n_fake // 2
        perms = tuple(torch.randperm(half, generator=self.generator, device=device) for _ in range(2))
        return MixDraw(perms, self.sample_lambda(half, device, dtype))

    def apply_mix(self, draw: MixDraw, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """``mix`` with its randomness given: ``(x̃, λ)``. ``real`` and ``fake`` may carry one leading
        dimension (``(N, B, ...)``: N runs' batches, stacked) that ``draw``'s tensors share."""
        lead = draw.perms[0].dim() - 1 if draw.perms else draw.lam.dim() - 1

        def per_sample(values: Tensor, like: Tensor) -> Tensor:  # (*lead, n) -> broadcastable over like's sample dims
            return values.view(*values.shape, *([1] * (like.dim() - lead - 1)))

        if self.pairing == "real-fake":
            # torch.lerp(fake, real, λ) = fake + λ·(real − fake) = λ·real + (1−λ)·fake, in one kernel.
            return torch.lerp(fake, real, per_sample(draw.lam, real)), draw.lam

        def one_batch(r: Tensor, f: Tensor, perm: Tensor) -> tuple[Tensor, Tensor]:
            data = torch.cat([r, f], dim=lead)
            labels = torch.cat([torch.ones(r.shape[:lead + 1], device=r.device, dtype=r.dtype),
                                torch.zeros(f.shape[:lead + 1], device=f.device, dtype=f.dtype)], dim=lead)
            return _shuffled(data, perm), _shuffled(labels, perm)

        if len(draw.perms) == 1:
            return one_batch(real, fake, draw.perms[0])
        (r1, r2), (f1, f2) = real.chunk(2, dim=lead), fake.chunk(2, dim=lead)
        d1, l1 = one_batch(r1, f1, draw.perms[0])
        d2, l2 = one_batch(r2, f2, draw.perms[1])
        return torch.lerp(d2, d1, per_sample(draw.lam, d1)), torch.lerp(l2, l1, draw.lam)

    def _mixed(self, real: Tensor, fake: Tensor, members: Sequence[Any] | None) -> tuple[Tensor, Tensor]:
        """``mix`` for one run, or for N stacked runs (``members``), each drawing from its own
        generator what its own ``mix`` would; the mixing runs once for all."""
        if members is None:
            return self.mix(real, fake)
        draws = [m.draw_mix(real.shape[1], fake.shape[1], real.device, real.dtype) for m in members]
        return self.apply_mix(_stack_draws(draws), real, fake)

    def discriminator_terms(self, real: Tensor, fake: Tensor, *, separate: bool, batch_statistics: bool,
                            members: Sequence[Any] | None = None, real_target: float | None = None) -> list[Forward]:
        """One term: D on x̃ with target λ (t·λ with a real target t: one-sided label smoothing); the
        fake–fake and real–real terms join its forward when their weights are above 0."""
        mixed, target = self._mixed(real, fake, members)
        if real_target is None:
            terms = [Term(mixed, target)]
        else:
            terms = [Term(mixed, real_target * target, share=target)]
        t = 1.0 if real_target is None else real_target
        for weight, data, value, role in ((self.mix_fake_fake, fake, 0.0, "fake-fake"),
                                          (self.mix_real_real, real, t, "real-real")):
            if weight > 0:
                same = self._same_kind_mix(data, members)
                terms.append(Term(same, ones_like_batch(same, 0 if members is None else 1, value), weight, role=role))
        return [terms]

    def _same_kind_mix(self, data: Tensor, members: Sequence[Any] | None) -> Tensor:
        """λ·data + (1−λ)·data[π]: each run draws a shuffle π, then λ, from its own generator."""
        lead = 0 if members is None else 1
        n = data.shape[lead]
        draws = []
        for member in ([self] if members is None else members):
            perm = torch.randperm(n, generator=member.generator, device=data.device)
            draws.append((perm, member.sample_lambda(n, data.device, data.dtype)))
        perm = draws[0][0] if members is None else torch.stack([d[0] for d in draws])
        lam = draws[0][1] if members is None else torch.stack([d[1] for d in draws])
        weight = lam.view(*lam.shape, *([1] * (data.dim() - lead - 1)))
        return torch.lerp(_shuffled(data, perm), data, weight)

    def generator_terms(self, real: Tensor | None, fake: Tensor, *, separate: bool, batch_statistics: bool,
                        members: Sequence[Any] | None = None) -> list[Forward]:
        """The unmixed losses as ``StandardGAN``'s; ``mixed``: a fresh x̃ and λ, G maximising D's loss.

        With a BatchNorm D and the real batch given, the non-saturating and saturating losses run D
        on real ∪ fake and use the fake half: D was trained on batches that mix real and fake, and a
        batch of fakes alone would be normalised by statistics D never saw (on the digits, DCGAN's D
        with that mismatch drove G to noise within a few hundred iterations). Without BatchNorm, or
        with D's BatchNorm in eval mode (the trainer's ``g_step_batchnorm="running"``: the running
        statistics of the D steps, which saw the mixed batches), D runs on the fakes alone, at
        ERM's cost."""
        lead = 0 if members is None else 1
        form = self.generator_loss_form
        if form in ("non-saturating", "saturating") and real is not None \
                and self.separate_forwards is not True and batch_statistics:
            (fake_term,), = unmixed_generator_terms(real, fake, form, separate, lead)
            return [[Term(real, None, role="context"), fake_term]]
        if form != "mixed":
            return unmixed_generator_terms(real, fake, form, separate, lead)
        if real is None:
            raise ObjectiveError("the mixed generator loss needs the real batch: generator_loss(D, fake, real)")
        mixed, target = self._mixed(real, fake, members)
        return [[Term(mixed, target, -1.0)]]

    def __repr__(self) -> str:
        return (
            f"MixupGAN(alpha={self.alpha}, per_sample={self.per_sample}, generator_loss={self.generator_loss_form!r}, "
            f"lambda_distribution={self.lambda_distribution!r}, pairing={self.pairing!r}"
            + (f", mix_fake_fake={self.mix_fake_fake}" if self.mix_fake_fake else "")
            + (f", mix_real_real={self.mix_real_real}" if self.mix_real_real else "") + ")"
        )

"""Regularizers that compose with any objective: ``with_regularizers(MixupGAN(0.2), R1(gamma=10))``.

A regularizer is one of four sorts, told apart by the one method it has:

- a **penalty** (``R1``, ``R2``, ``GradientPenalty``, ``BalancedConsistency``, ``LeCam``): ``penalty(D, real, fake) ->
  Tensor``, added to the D loss only; the G loss never sees it;
- an **input transform** (``InstanceNoise``, ``DiffAugment``): ``perturb(x) -> Tensor``, applied to
  every batch D sees, in the D loss and in the G loss alike;
- a **target change** (``LabelSmoothing``): ``smoothed_discriminator_loss(objective, D, real, fake)``
  computes the wrapped objective's D loss with a softer real target;
- a **latent** term (``LatentConsistency``, zCR): ``latent_penalty(D, G, z, fake, generator_step)``,
  which needs G and the noise z the fakes came from; the wrapped objective's ``latent_penalty``
  sums them, and the trainer (or a plain loop) adds it to D's and to G's loss.

Any of them may also have ``begin_iteration(iteration, total)``, which the trainer calls at the start
of every generator iteration (instance noise anneals with it), and ``state_dict()`` /
``load_state_dict(state)`` where it carries state from step to step (LeCam's moving averages), which
the trainer saves in checkpoints. Randomness comes from the ``torch.Generator`` passed at
construction, as in the objectives.

Spectral normalisation, the fifth common stabiliser, changes D itself: ``models.mlp(...,
spectral_norm=True)``.

Example:
    >>> import torch
    >>> from gan_mixup.objectives import MixupGAN
    >>> rng = torch.Generator().manual_seed(0)
    >>> objective = with_regularizers(MixupGAN(0.2, generator=rng), parse_regularizer("r1:10"))
    >>> objective.name
    'mixup+r1'
    >>> D = torch.nn.Linear(2, 1)
    >>> objective.discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
    torch.Size([])
"""
from __future__ import annotations

from gan_mixup.errors import GanMixupError

import math
from typing import Any

import torch
from torch import Tensor

from gan_mixup.augment import POLICY_OPS, AugmentError, diff_augment, flip_and_translate, parse_policy, policy_text
from gan_mixup.objectives import (
    Discriminator,
    Objective,
    StepStats,
    check_floating,
    gradient_penalty,
    input_gradient,
    logits_of,
    squared_gradient_norm,
    objective_summaries,
)


class RegularizerError(GanMixupError, ValueError):
    """A bad regularizer spec or value, or a regularizer the objective cannot take."""


def _number(owner: str, key: str, value: Any, *, low: float, high: float = math.inf, low_open: bool = False) -> float:
    """``value`` as a float in ``[low, high]`` (``(low, high]`` when ``low_open``), else RegularizerError."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"in ({low:g}, {high:g}]" if math.isfinite(high) else (f"> {low:g}" if low_open else f">= {low:g}")
        raise RegularizerError(f"{owner} {key} must be a finite number {bound}, got {value!r}")
    return float(value)


# ----- the regularizers -----------------------------------------------------------------------

class R1:
    """R1 penalty on real data (Mescheder et al. 2018): γ/2 · E[‖∇ₓD(x)‖²], x ~ real.

    The gradient is of D's raw output (the logit) with respect to its input, per sample, squared
    norm over all of a sample's dims. Zero for a D that is constant in x.
    """

    name = "r1"
    value_option = "gamma"  # what NAME:VALUE sets
    draws_randomness = False

    def __init__(self, gamma: float = 10.0) -> None:
        self.gamma = _number("R1", "gamma", gamma, low=0.0)

    def penalty(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        if self.gamma == 0:
            return real.new_zeros(())
        grad = input_gradient(D, real)  # (B, ...)
        return 0.5 * self.gamma * grad.flatten(1).pow(2).sum(dim=1).mean()

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
        self.weight = _number("GradientPenalty", "weight", weight, low=0.0)
        self.generator = generator

    def penalty(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        if self.weight == 0:
            return real.new_zeros(())
        return self.weight * gradient_penalty(D, real, fake, self.generator)

    def __repr__(self) -> str:
        return f"GradientPenalty(weight={self.weight})"


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
        self.std = _number("InstanceNoise", "std", std, low=0.0)
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


class LabelSmoothing:
    """One-sided label smoothing (Salimans et al. 2016): D's real target 1 → t, fake targets stay 0.

    For mixup the target λ (the real share of x̃) becomes t·λ. It applies to objectives whose D loss
    has a real target, those that declare ``smoothable`` (``TermObjective``): ``erm``, ``mixup`` and
    ``lsgan`` (whose real target b becomes t·b); their ``discriminator_loss`` takes ``real_target=``.
    The Wasserstein and hinge losses have no target to soften; wrapping them raises RegularizerError.
    The G loss is unchanged.
    """

    name = "label-smoothing"
    value_option = "real_target"
    draws_randomness = False

    def __init__(self, real_target: float = 0.9) -> None:
        self.real_target = _number("LabelSmoothing", "real_target", real_target, low=0.0, high=1.0, low_open=True)

    def check(self, objective: Objective) -> None:
        """Raise RegularizerError unless ``objective``'s D loss has a real target to smooth."""
        if not getattr(objective, "smoothable", False):
            raise RegularizerError(
                f"label smoothing needs an objective whose D loss has a real target (erm, mixup, lsgan); "
                f"{getattr(objective, 'name', type(objective).__name__)!r} has none"
            )

    def smoothed_discriminator_loss(self, objective: Objective, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        # Every objective with a real target takes it as an argument: erm's 1, mixup's λ (as t·λ), LSGAN's b.
        self.check(objective)
        return objective.discriminator_loss(D, real, fake, real_target=self.real_target * objective.real_target)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"LabelSmoothing(real_target={self.real_target})"


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
        weight = _number("BalancedConsistency", "weight", weight, low=0.0)
        self.real_weight = weight if real_weight is None else _number("BalancedConsistency", "real_weight", real_weight, low=0.0)
        self.fake_weight = weight if fake_weight is None else _number("BalancedConsistency", "fake_weight", fake_weight, low=0.0)
        self.point_std = _number("BalancedConsistency", "point_std", point_std, low=0.0)
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
        self.dis_weight = _number("LatentConsistency", "dis_weight", dis_weight, low=0.0)
        self.gen_weight = _number("LatentConsistency", "gen_weight", gen_weight, low=0.0)
        self.std = _number("LatentConsistency", "std", std, low=0.0)
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

class R2:
    """R2 penalty on fake data (Mescheder et al. 2018; with R1 in R3GAN): γ/2 · E[‖∇ₓD(x)‖²], x ~ fake.

    R1's penalty on the generator's samples instead of the data's: D is pushed to be flat around
    what G produces, so it cannot sharpen against G's current samples.
    """

    name = "r2"
    value_option = "gamma"
    draws_randomness = False

    def __init__(self, gamma: float = 10.0) -> None:
        self.gamma = _number("R2", "gamma", gamma, low=0.0)

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
        self.weight = _number("LeCam", "weight", weight, low=0.0)
        self.decay = _number("LeCam", "decay", decay, low=0.0, high=1.0)
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



# name -> class; `parse_regularizer` sets the class's `value_option` from NAME:VALUE.
REGULARIZERS: dict[str, type] = {
    "r1": R1,
    "gp": GradientPenalty,
    "instance-noise": InstanceNoise,
    "label-smoothing": LabelSmoothing,
    "diffaug": DiffAugment,
    "bcr": BalancedConsistency,
    "zcr": LatentConsistency,
    "r2": R2,
    "lecam": LeCam,
}


def regularizer_summaries() -> dict[str, str]:
    """Each registered regularizer's name and the first line of its docstring, as ``gan-mixup
    objectives`` lists them, e.g. ``regularizer_summaries()["r1"]``."""
    return {name: (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "" for name, cls in REGULARIZERS.items()}


def catalogue() -> str:
    """What ``gan-mixup objectives`` prints: each objective and each regularizer with its summary line."""
    lines = ["objectives (--objective NAME):"]
    lines += [f"  {name:16s} {summary}" for name, summary in objective_summaries().items()]
    lines.append("regularizers (--regularizer NAME[:VALUE]; label-smoothing needs erm, mixup or lsgan, "
                 "the rest compose with any objective):")
    lines += [f"  {name:16s} {summary}" for name, summary in regularizer_summaries().items()]
    return "\n".join(lines)


_SPEC_HELP = "write one of " + ", ".join(f"{name}[:{cls.value_option.upper()}]" for name, cls in REGULARIZERS.items())


def parse_regularizer(spec: str, generator: torch.Generator | None = None, *, diffaug_policy: str | None = None) -> Any:
    """Build a regularizer from ``NAME`` or ``NAME:VALUE``, e.g. ``"r1:10"``, ``"label-smoothing:0.9"``,
    ``"diffaug:color-translation"`` (a DiffAugment policy, its operations joined by ``-`` or ``,``).

    ``generator`` goes to the regularizers that draw random numbers (``gp``, ``instance-noise``, ...);
    ``diffaug_policy`` (a config's ``--diffaug-policy``) is DiffAugment's policy where the spec gives none.
    Raises RegularizerError, with a one-line message naming the valid choices, for an unknown name or a
    value that is not a finite number in range (or not a policy).
    """
    name, sep, value = str(spec).strip().partition(":")
    name = name.strip()
    if name not in REGULARIZERS:
        raise RegularizerError(f"unknown regularizer {name!r} in {spec!r}; {_SPEC_HELP}")
    cls = REGULARIZERS[name]
    options: dict[str, Any] = {}
    if sep:
        try:
            options[cls.value_option] = getattr(cls, "parse_value", float)(value)
        except RegularizerError as err:
            raise RegularizerError(f"regularizer {spec!r}: {err}; {_SPEC_HELP}") from None
        except ValueError:
            raise RegularizerError(f"regularizer {spec!r}: {value.strip()!r} is not a number; {_SPEC_HELP}") from None
    elif cls is DiffAugment and diffaug_policy is not None:
        options["policy"] = diffaug_policy
    if cls.draws_randomness:
        options["generator"] = generator
    try:
        return cls(**options)
    except RegularizerError as err:
        raise RegularizerError(f"regularizer {spec!r}: {err}; {_SPEC_HELP}") from None


# ----- composition ----------------------------------------------------------------------------

class RegularizedObjective:
    """An objective with regularizers, under the same two-method contract.

    D loss: the objective's D loss (with the real target smoothed, if asked) on the noised batches, plus
    every penalty, each on the same batches D saw. G loss: the objective's G loss on the noised batches,
    no penalty. ``last_stats`` and ``batches_per_step`` are the wrapped objective's; ``last_penalties``
    holds the last D step's penalty values (detached), by regularizer name.
    """

    def __init__(self, objective: Objective, regularizers: tuple[Any, ...]) -> None:
        self.objective = objective
        self.regularizers = regularizers
        self.name = "+".join([objective.name, *(r.name for r in regularizers)])
        self.noises = [r for r in regularizers if hasattr(r, "perturb")]
        self.penalties = [r for r in regularizers if hasattr(r, "penalty")]
        self.latents = [r for r in regularizers if hasattr(r, "latent_penalty")]
        smoothing = [r for r in regularizers if hasattr(r, "smoothed_discriminator_loss")]
        if len(smoothing) > 1:
            raise RegularizerError("label smoothing given more than once; pass one label-smoothing regularizer")
        self.smoothing = smoothing[0] if smoothing else None
        if self.smoothing is not None:
            self.smoothing.check(objective)
        self.last_penalties: dict[str, Tensor] = {}

    @property
    def last_stats(self) -> StepStats | None:
        return getattr(self.objective, "last_stats", None)

    @property
    def batches_per_step(self) -> int:
        return getattr(self.objective, "batches_per_step", 1)

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Called by the trainer before every generator iteration; passed on to everything that anneals."""
        for part in (self.objective, *self.regularizers):
            hook = getattr(part, "begin_iteration", None)
            if hook is not None:
                hook(iteration, total)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped objective's state and that of every regularizer that keeps one (LeCam's moving
        averages), keyed ``"index:name"``; empty when none does."""
        state: dict[str, Any] = {}
        inner = self.objective.state_dict() if hasattr(self.objective, "state_dict") else {}
        if inner:
            state["objective"] = inner
        for index, regularizer in enumerate(self.regularizers):
            own = regularizer.state_dict() if hasattr(regularizer, "state_dict") else {}
            if own:
                state[f"{index}:{regularizer.name}"] = own
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``'s value (what it lacks starts fresh)."""
        if hasattr(self.objective, "load_state_dict"):
            self.objective.load_state_dict(state.get("objective", {}))
        for index, regularizer in enumerate(self.regularizers):
            if hasattr(regularizer, "load_state_dict"):
                regularizer.load_state_dict(state.get(f"{index}:{regularizer.name}", {}))

    def _perturb(self, x: Tensor) -> Tensor:
        for noise in self.noises:
            x = noise.perturb(x)
        return x

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        real, fake = self._perturb(real), self._perturb(fake)
        if self.smoothing is not None:
            loss = self.smoothing.smoothed_discriminator_loss(self.objective, D, real, fake)
        else:
            loss = self.objective.discriminator_loss(D, real, fake)
        penalties: dict[str, Tensor] = {}
        for regularizer in self.penalties:
            value = regularizer.penalty(D, real, fake)
            loss = loss + value
            penalties[regularizer.name] = penalties.get(regularizer.name, 0) + value.detach()
        self.last_penalties = penalties
        return loss

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        fake = self._perturb(fake)
        real = None if real is None else self._perturb(real)
        return self.objective.generator_loss(D, fake, real)

    def latent_penalty(self, D: Discriminator, G: Any, z: Tensor, fake: Tensor, generator_step: bool = False) -> Tensor | None:
        """The latent regularizers' terms (zCR), which need G and the noise ``z`` of ``fake`` = G(z): D's
        (``fake`` detached, after ``discriminator_loss``; added to ``last_penalties``) or, with
        ``generator_step``, G's; ``None`` when there are none. They see G's raw outputs, not the
        perturbed batches: a random transform on each side would make zCR a consistency under
        augmentation too, which is bCR's job."""
        total: Tensor | None = None
        for regularizer in self.latents:
            value = regularizer.latent_penalty(D, G, z, fake, generator_step=generator_step)
            total = value if total is None else total + value
            if not generator_step:
                self.last_penalties[regularizer.name] = self.last_penalties.get(regularizer.name, 0) + value.detach()
        return total

    def __repr__(self) -> str:
        return f"with_regularizers({self.objective!r}, {', '.join(map(repr, self.regularizers))})"


def with_regularizers(objective: Objective, *regularizers: Any) -> Objective:
    """``objective`` with ``regularizers`` added; the objective itself when none are given.

    Wrapping a wrapped objective adds to its list (``mixup+r1`` + ``gp`` is ``mixup+r1+gp``).
    Raises RegularizerError for something that is not a regularizer, or label smoothing on an
    objective without a real target.
    """
    if not regularizers:
        return objective
    for regularizer in regularizers:
        if isinstance(regularizer, type):
            raise RegularizerError(f"pass a regularizer, not its class: {regularizer.__name__}(), not {regularizer.__name__}")
        methods = ("penalty", "perturb", "smoothed_discriminator_loss", "latent_penalty")
        if not hasattr(regularizer, "name") or not any(hasattr(regularizer, method) for method in methods):
            raise RegularizerError(
                f"{regularizer!r} is not a regularizer (it needs a name and penalty, perturb or "
                f"smoothed_discriminator_loss); build one with parse_regularizer, e.g. 'r1:10'"
            )
    if isinstance(objective, RegularizedObjective):
        return RegularizedObjective(objective.objective, objective.regularizers + tuple(regularizers))
    return RegularizedObjective(objective, tuple(regularizers))

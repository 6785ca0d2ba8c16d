"""Regularizers that compose with any objective: ``with_regularizers(MixupGAN(0.2), R1(gamma=10))``.

A regularizer is one of three sorts, told apart by the one method it has:

- a **penalty** (``R1``, ``GradientPenalty``): ``penalty(D, real, fake) -> Tensor``, added to the D
  loss only; the G loss never sees it;
- **input noise** (``InstanceNoise``): ``perturb(x) -> Tensor``, applied to every batch D sees, in
  the D loss and in the G loss alike;
- a **target change** (``LabelSmoothing``): ``smoothed_discriminator_loss(objective, D, real, fake)``
  computes the wrapped objective's D loss with a softer real target.

Any of them may also have ``begin_iteration(iteration, total)``, which the trainer calls at the start
of every generator iteration (instance noise anneals with it). Randomness comes from the
``torch.Generator`` passed at construction, as in the objectives.

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

from gan_mixup.objectives import (
    Discriminator,
    Objective,
    StepStats,
    check_floating,
    gradient_penalty,
    input_gradient,
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


# name -> class; `parse_regularizer` sets the class's `value_option` from NAME:VALUE.
REGULARIZERS: dict[str, type] = {
    "r1": R1,
    "gp": GradientPenalty,
    "instance-noise": InstanceNoise,
    "label-smoothing": LabelSmoothing,
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


def parse_regularizer(spec: str, generator: torch.Generator | None = None) -> Any:
    """Build a regularizer from ``NAME`` or ``NAME:VALUE``, e.g. ``"r1:10"``, ``"label-smoothing:0.9"``.

    ``generator`` goes to the regularizers that draw random numbers (``gp``, ``instance-noise``).
    Raises RegularizerError, with a one-line message naming the valid choices, for an unknown name or a
    value that is not a finite number in range.
    """
    name, sep, value = str(spec).strip().partition(":")
    name = name.strip()
    if name not in REGULARIZERS:
        raise RegularizerError(f"unknown regularizer {name!r} in {spec!r}; {_SPEC_HELP}")
    cls = REGULARIZERS[name]
    options: dict[str, Any] = {}
    if sep:
        try:
            options[cls.value_option] = float(value)
        except ValueError:
            raise RegularizerError(f"regularizer {spec!r}: {value.strip()!r} is not a number; {_SPEC_HELP}") from None
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
        methods = ("penalty", "perturb", "smoothed_discriminator_loss")
        if not hasattr(regularizer, "name") or not any(hasattr(regularizer, method) for method in methods):
            raise RegularizerError(
                f"{regularizer!r} is not a regularizer (it needs a name and penalty, perturb or "
                f"smoothed_discriminator_loss); build one with parse_regularizer, e.g. 'r1:10'"
            )
    if isinstance(objective, RegularizedObjective):
        return RegularizedObjective(objective.objective, objective.regularizers + tuple(regularizers))
    return RegularizedObjective(objective, tuple(regularizers))

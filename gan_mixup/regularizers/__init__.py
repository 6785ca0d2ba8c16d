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

The modules: ``penalties`` (R1, R2, GP, LeCam), ``consistency`` (bCR, a penalty, and zCR, the latent
term), ``inputs`` (the input transforms), ``targets`` (label smoothing), ``compose`` (the wrapper) and
``common`` (the error and the check of a numeric option). This package holds the registry and the
spec parser, and every public name is importable from it.

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

from typing import Any

import torch

from gan_mixup.objectives import objective_summaries, smoothable_objectives
from gan_mixup.regularizers.common import RegularizerError
from gan_mixup.regularizers.compose import RegularizedObjective, with_regularizers
from gan_mixup.regularizers.consistency import BalancedConsistency, LatentConsistency
from gan_mixup.regularizers.inputs import DiffAugment, InstanceNoise
from gan_mixup.regularizers.penalties import R1, R2, GradientPenalty, LeCam
from gan_mixup.regularizers.targets import LabelSmoothing

__all__ = [
    "R1", "R2", "GradientPenalty", "LeCam", "BalancedConsistency", "LatentConsistency", "InstanceNoise",
    "DiffAugment", "LabelSmoothing", "RegularizedObjective", "with_regularizers", "RegularizerError",
    "REGULARIZERS", "parse_regularizer", "regularizer_summaries", "catalogue",
]


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
    lines.append(f"regularizers (--regularizer NAME[:VALUE]; label-smoothing needs {', '.join(smoothable_objectives())}, "
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

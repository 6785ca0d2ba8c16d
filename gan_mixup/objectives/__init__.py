"""GAN objectives: each one is two losses on logits, ``discriminator_loss`` and ``generator_loss``.

Any ``nn.Module`` that maps a batch ``(B, ...)`` to one logit per sample (``(B,)`` or ``(B, 1)``)
works as the discriminator. Objectives hold no model and no optimizer; randomness (λ, shuffles)
comes from the ``torch.Generator`` passed at construction, so runs are reproducible.

Example (the three-line drop-in)::

    from gan_mixup import MixupGAN
    objective = MixupGAN(alpha=0.2)
    d_loss = objective.discriminator_loss(D, real, fake.detach())
    g_loss = objective.generator_loss(D, fake, real)

The modules, each importing only those listed before it: ``base`` (the contract, the option names
and the shared helpers), ``lambdas`` (λ's samplers), ``standard`` (``StandardGAN`` and the unmixed
generator losses), ``mixup`` (``MixupGAN``), ``family`` (``WGANGP``, ``HingeGAN``, ``LSGAN``).
Every public name is importable from here, with the registry ``OBJECTIVES`` and ``get_objective``.
"""
from __future__ import annotations

from typing import Callable

from gan_mixup.objectives.base import (
    GENERATOR_LOSSES,
    LAMBDA_DISTRIBUTIONS,
    LAMBDA_SAMPLINGS,
    PAIRINGS,
    Discriminator,
    Objective,
    ObjectiveError,
    PerSampleObjective,
    StepStats,
    TrainingObjective,
    bce,
    check_floating,
    check_pair,
    gradient_penalty,
    has_batch_statistics,
    input_gradient,
    logits_of,
    probability_stats,
    real_fake_logits,
)
from gan_mixup.objectives.family import LSGAN, WGANGP, HingeGAN
from gan_mixup.objectives.mixup import MixupGAN
from gan_mixup.objectives.standard import StandardGAN, generator_loss_on, unmixed_generator_targets

__all__ = [
    "GENERATOR_LOSSES",
    "LAMBDA_DISTRIBUTIONS",
    "LAMBDA_SAMPLINGS",
    "LSGAN",
    "OBJECTIVES",
    "PAIRINGS",
    "WGANGP",
    "Discriminator",
    "HingeGAN",
    "MixupGAN",
    "Objective",
    "ObjectiveError",
    "PerSampleObjective",
    "StandardGAN",
    "StepStats",
    "TrainingObjective",
    "bce",
    "check_floating",
    "check_pair",
    "generator_loss_on",
    "get_objective",
    "gradient_penalty",
    "has_batch_statistics",
    "input_gradient",
    "logits_of",
    "probability_stats",
    "real_fake_logits",
    "unmixed_generator_targets",
]

# name -> constructor; `get_objective` passes only the keyword options a constructor takes.
OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "erm": StandardGAN,
    "mixup": MixupGAN,
    "wgan-gp": WGANGP,
    "hinge": HingeGAN,
    "lsgan": LSGAN,
}


def get_objective(name: str, **options: object) -> Objective:
    """Build an objective by its registry name, e.g. ``get_objective("mixup", alpha=0.2)``.

    Raises ``ObjectiveError`` for an unknown name or an option the objective does not take.
    """
    if name not in OBJECTIVES:
        raise ObjectiveError(f"unknown objective {name!r}; choose one of: {', '.join(OBJECTIVES)}")
    try:
        return OBJECTIVES[name](**options)
    except TypeError as err:
        raise ObjectiveError(f"objective {name!r} does not take these options {sorted(options)}: {err}") from None

"""GAN objectives: each one is two losses on logits, ``discriminator_loss`` and ``generator_loss``.

Any ``nn.Module`` that maps a batch ``(B, ...)`` to one logit per sample (``(B,)`` or ``(B, 1)``)
works as the discriminator. Objectives hold no model and no optimizer; randomness (λ, shuffles)
comes from the ``torch.Generator`` passed at construction, so runs are reproducible.

Example (the three-line drop-in)::

    from gan_mixup import MixupGAN
    objective = MixupGAN(alpha=0.2)
    d_loss = objective.discriminator_loss(D, real, fake.detach())
    g_loss = objective.generator_loss(D, fake, real)

The modules, each importing only those listed before it: ``base`` (the contract, ``Term`` and
``TermObjective``, which derives every objective's losses from its terms, the option names and the
shared helpers), ``lambdas`` (λ's samplers), ``standard`` (``StandardGAN`` and the unmixed
generator losses), ``mixup`` (``MixupGAN``), ``family`` (``WGANGP``, ``HingeGAN``, ``LSGAN``), ``mixing``
(``ManifoldMixupGAN``, ``CutMixGAN``), ``relativistic`` (``R3GAN``).
Every public name is importable from here, with the registry ``OBJECTIVES`` and ``get_objective``.
"""
from __future__ import annotations

from gan_mixup.objectives.base import (
    GENERATOR_LOSSES,
    LAMBDA_DISTRIBUTIONS,
    LAMBDA_SAMPLINGS,
    PAIRINGS,
    Discriminator,
    Forward,
    Objective,
    ObjectiveError,
    StepStats,
    Term,
    TermObjective,
    TrainingObjective,
    bce,
    bce_per_sample,
    check_floating,
    check_pair,
    gradient_penalty,
    has_batch_statistics,
    input_gradient,
    logits_of,
    probability_stats,
    ones_like_batch,
    options_of,
    real_fake_forwards,
    score_per_sample,
    stacked_logits_of,
)
from gan_mixup.objectives.family import LSGAN, WGANGP, HingeGAN, hinge_per_sample, squared_per_sample
from gan_mixup.objectives.mixup import MixupGAN, MixupOptions
from gan_mixup.objectives.mixing import (
    CutMixGAN,
    CutMixOptions,
    ManifoldMixupGAN,
    ManifoldMixupOptions,
    Splittable,
    cutmix_masks,
    cutmix_spans,
    forward_head,
    forward_tail,
    split_points,
)
from gan_mixup.objectives.relativistic import R3GAN, R3GANOptions, squared_gradient_norm
from gan_mixup.objectives.standard import StandardGAN, StandardOptions, unmixed_generator_terms

__all__ = [
    "GENERATOR_LOSSES",
    "LAMBDA_DISTRIBUTIONS",
    "LAMBDA_SAMPLINGS",
    "LSGAN",
    "ManifoldMixupGAN",
    "ManifoldMixupOptions",
    "OBJECTIVES",
    "PAIRINGS",
    "R3GAN",
    "R3GANOptions",
    "WGANGP",
    "CutMixGAN",
    "CutMixOptions",
    "Discriminator",
    "Forward",
    "HingeGAN",
    "MixupGAN",
    "MixupOptions",
    "Objective",
    "ObjectiveError",
    "StandardGAN",
    "StandardOptions",
    "Splittable",
    "StepStats",
    "Term",
    "TermObjective",
    "TrainingObjective",
    "bce",
    "bce_per_sample",
    "check_floating",
    "check_pair",
    "cutmix_masks",
    "cutmix_spans",
    "forward_head",
    "forward_tail",
    "get_objective",
    "objective_summaries",
    "gradient_penalty",
    "has_batch_statistics",
    "hinge_per_sample",
    "input_gradient",
    "logits_of",
    "ones_like_batch",
    "options_of",
    "probability_objectives",
    "probability_stats",
    "real_fake_forwards",
    "score_per_sample",
    "smoothable_objectives",
    "split_points",
    "squared_gradient_norm",
    "squared_per_sample",
    "stacked_logits_of",
    "unmixed_generator_terms",
]

# name -> class; each declares its user options (``Options``) and whether it draws randomness.
OBJECTIVES: dict[str, type[TermObjective]] = {
    "erm": StandardGAN,
    "mixup": MixupGAN,
    "wgan-gp": WGANGP,
    "hinge": HingeGAN,
    "lsgan": LSGAN,
    "manifold-mixup": ManifoldMixupGAN,
    "cutmix": CutMixGAN,
    "r3gan": R3GAN,
}


def get_objective(name: str, **options: object) -> Objective:
    """Build an objective by its registry name, e.g. ``get_objective("mixup", alpha=0.2)``.

    Besides its ``Options``, every objective takes ``separate_forwards``, and one that draws
    randomness its ``generator``. Raises ``ObjectiveError`` for an unknown name or another option.
    """
    if name not in OBJECTIVES:
        raise ObjectiveError(f"unknown objective {name!r}; choose one of: {', '.join(OBJECTIVES)}")
    cls = OBJECTIVES[name]
    accepted = {*options_of(cls), "separate_forwards", *(("generator",) if cls.draws_randomness else ())}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ObjectiveError(f"objective {name!r} does not take the options {', '.join(unknown)}; "
                             f"its options are: {', '.join(options_of(cls)) or 'none'}")
    return cls(**options)


def smoothable_objectives() -> list[str]:
    """The registered objectives whose D loss has a real target that label smoothing may lower,
    e.g. ``"lsgan" in smoothable_objectives()``."""
    return [name for name, cls in OBJECTIVES.items() if cls.smoothable]


def probability_objectives() -> list[str]:
    """The registered objectives whose D output is the logit of D's probability that a sample is real:
    every term of D's loss is BCE on D's own logit (no critic score, hinge margin, least-squares
    regression or relativistic difference), so σ(D) is that probability. Read off the terms each
    objective builds with its default options, e.g. ``"mixup" in probability_objectives()``."""
    import torch

    probe = torch.zeros(2, 1)
    names = []
    for name, cls in OBJECTIVES.items():
        # A generator of its own: building the terms draws λ, never from torch's global stream.
        objective = get_objective(name, **({"generator": torch.Generator()} if cls.draws_randomness else {}))
        terms = [term for forward in objective.discriminator_terms(probe, probe, separate=False, batch_statistics=False)
                 for term in forward]
        if all(term.per_sample is bce_per_sample and term.against is None for term in terms):
            names.append(name)
    return names


def objective_summaries() -> dict[str, str]:
    """Each registered objective's name and the first line of its docstring, as ``gan-mixup
    objectives`` lists them, e.g. ``objective_summaries()["erm"]``."""
    return {name: (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "" for name, cls in OBJECTIVES.items()}

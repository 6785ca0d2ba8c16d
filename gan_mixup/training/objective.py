"""The objective a run's config names: its options, its regularizers, its random stream."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gan_mixup.config import RunConfig
from gan_mixup.objectives import OBJECTIVES, MixupGAN, ObjectiveError, TrainingObjective, get_objective
from gan_mixup.regularizers import parse_regularizer, with_regularizers


def build_objective(config: RunConfig, generator: torch.Generator | None = None) -> TrainingObjective:
    """The objective named by ``config``, with its options and regularizers; all its randomness
    (λ, shuffles, interpolates, instance noise, augmentations) is drawn from ``generator``."""
    if config.diffaug_policy is not None and "diffaug" not in (spec.strip() for spec in config.regularizers):
        raise ObjectiveError(f"--diffaug-policy {config.diffaug_policy} is the policy of --regularizer diffaug, which "
                             "this run does not have (diffaug:POLICY carries its own): add it, or leave the flag out")
    objective = base_objective(config, generator)
    if not config.regularizers:
        return objective
    return with_regularizers(objective, *(parse_regularizer(spec, generator, diffaug_policy=config.diffaug_policy)
                                          for spec in config.regularizers))


# --d-forward: D on real and fake in one forward or two; "auto" lets the objective decide (two exactly
# when D has BatchNorm).
SEPARATE_FORWARDS = {"auto": None, "joint": False, "separate": True}


def base_objective(config: RunConfig, generator: torch.Generator | None) -> TrainingObjective:
    """The objective of ``config`` without its regularizers."""
    separate_forwards = SEPARATE_FORWARDS[config.d_forward]
    if config.objective == "mixup":
        return MixupGAN(
            alpha=config.alpha,
            per_sample=config.lambda_sampling == "per-sample",
            generator_loss=config.generator_loss,
            lambda_distribution=config.lambda_distribution,
            pairing=config.pairing,
            generator=generator,
            separate_forwards=separate_forwards,
            **config.objective_options,  # mix_fake_fake, mix_real_real
        )
    options: dict[str, object] = dict(config.objective_options)
    if config.objective == "erm":
        options.setdefault("generator_loss", config.generator_loss)
    elif config.generator_loss != "non-saturating":
        raise ObjectiveError(f"--generator-loss applies to erm and mixup only, not {config.objective!r}")
    if config.objective == "cutmix" and options.get("consistency", 0):
        raise ObjectiveError("cutmix's consistency term needs a D that returns a per-pixel map (U-Net GAN's); "
                             "gan-mixup's discriminators return one logit per sample: use it with your own D and loop")
    if OBJECTIVES[config.objective].draws_randomness:
        options["generator"] = generator
    options["separate_forwards"] = separate_forwards
    return get_objective(config.objective, **options)


# An objective written by a user needs only the two losses, ``batches_per_step``, ``last_stats`` and
# ``begin_iteration``; the latent term (zCR) and the carried state (LeCam) are read where it has them.

def latent_term(objective: Any, D: Any, G: Any, z: Tensor, fake: Tensor, generator_step: bool = False) -> Tensor | None:
    """``objective``'s term that needs G and the noise ``z`` of ``fake`` = G(z) (zCR), in D's loss or,
    with ``generator_step``, in G's; ``None`` where it has none."""
    method = getattr(objective, "latent_penalty", None)
    return None if method is None else method(D, G, z, fake, generator_step=generator_step)


def objective_state(objective: Any) -> dict[str, Any]:
    """What ``objective`` carries from step to step (LeCam's moving averages) for a checkpoint; empty
    for a stateless one."""
    method = getattr(objective, "state_dict", None)
    return {} if method is None else method()


def restore_objective_state(objective: Any, state: dict[str, Any]) -> None:
    """Continue ``objective`` from ``objective_state``'s value; a stateless objective takes ``{}``."""
    method = getattr(objective, "load_state_dict", None)
    if method is not None:
        method(state)
    elif state:
        raise ObjectiveError(f"{objective.name} carries no state, but the checkpoint holds {', '.join(map(str, state))}")

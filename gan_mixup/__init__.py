"""gan-mixup: stable GAN training with mixup (Zhang et al., ICLR 2018), with pictures and metrics.

The three-line drop-in::

    from gan_mixup import MixupGAN
    objective = MixupGAN(alpha=0.2)
    d_loss = objective.discriminator_loss(D, real, fake.detach())
    g_loss = objective.generator_loss(D, fake, real)
"""
from gan_mixup.config import ConfigError, RunConfig
from gan_mixup.errors import GanMixupError
from gan_mixup.objectives import (
    LSGAN,
    WGANGP,
    HingeGAN,
    MixupGAN,
    Objective,
    ObjectiveError,
    StandardGAN,
    get_objective,
)
from gan_mixup.regularizers import R1, GradientPenalty, InstanceNoise, LabelSmoothing, with_regularizers
from gan_mixup.training import TrainResult, train
from gan_mixup.objectives import R3GAN
from gan_mixup.regularizers import R2, LeCam

__version__ = "0.1.0"

__all__ = [
    "LSGAN",
    "R1",
    "WGANGP",
    "ConfigError",
    "GradientPenalty",
    "HingeGAN",
    "InstanceNoise",
    "LabelSmoothing",
    "MixupGAN",
    "Objective",
    "ObjectiveError",
    "GanMixupError",
    "RunConfig",
    "StandardGAN",
    "TrainResult",
    "get_objective",
    "train",
    "with_regularizers",
    "R3GAN",
    "R2",
    "LeCam",
]

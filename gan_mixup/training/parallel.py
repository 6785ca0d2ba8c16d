"""A rank's share of a data-parallel run (torchrun): its streams, its models, and the checks that
every rank makes alike. The collectives are the run's ``World``'s (``gan_mixup.distributed``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from gan_mixup.config import ConfigError, RunConfig
from gan_mixup.distributed import World

if TYPE_CHECKING:  # the state imports this module to build a rank's share
    from gan_mixup.training.state import RunState


def rank_stream_seeds(seed: int, rank: int) -> np.ndarray:
    """The data, noise and objective seeds of ``rank`` in a data-parallel run: a child of the run's
    seed per rank (``SeedSequence`` spawn keys), independent of each other and of ``stream_seeds``.

    Example:
        >>> [int(s) for s in rank_stream_seeds(0, 1)] != [int(s) for s in rank_stream_seeds(0, 0)]
        True
    """
    return np.random.SeedSequence(seed, spawn_key=(rank,)).generate_state(3)


def make_data_parallel(state: RunState, world: World) -> None:
    """Make a fresh state this rank's share of a data-parallel run, in place.

    The models, fixed noise and frame reals come from the run's seed, the same on every rank; the
    models are also broadcast from rank 0, so the ranks start equal whatever the hardware. The data,
    noise and objective streams are reseeded per rank (``rank_stream_seeds``), so each rank draws its
    own share of the global batch. ``sync_batchnorm`` turns G's and D's BatchNorm into SyncBatchNorm.
    Raises ``ConfigError`` (on every rank alike) when the batch does not split evenly or SyncBatchNorm
    cannot run here.
    """
    config = state.config
    if config.batch_size % world.world_size:
        raise ConfigError(f"--batch-size {config.batch_size} is the global batch and must split evenly over "
                          f"{world.world_size} processes")
    for name, seed in zip(("data", "noise", "objective"), rank_stream_seeds(config.seed, world.rank)):
        state.rngs[name].manual_seed(int(seed))
    if config.sync_batchnorm:
        check_sync_batchnorm(config, state.discriminator, state.device)
        # The same Parameter objects move into the SyncBatchNorm layers: the optimisers keep working.
        state.generator = nn.SyncBatchNorm.convert_sync_batchnorm(state.generator)
        state.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(state.discriminator)
    for module in (state.generator, state.discriminator, *([state.ema] if state.ema is not None else [])):
        world.broadcast_from_main(module)
    state.world = world


def check_sync_batchnorm(config: RunConfig, discriminator: nn.Module, device: torch.device) -> None:
    """``ConfigError`` where SyncBatchNorm cannot train: off CUDA (torch implements it for GPUs
    only), and in a D with BatchNorm under a double-backward penalty (R1, GP, WGAN-GP), whose
    gradient of a gradient does not pass through SyncBatchNorm's hand-written backward."""
    if device.type != "cuda":
        raise ConfigError(f"--sync-batchnorm needs CUDA GPUs (torch's SyncBatchNorm runs on GPUs only); this run is "
                          f"on {device.type}, where each process normalises its own share of the batch")
    double_backward = config.objective == "wgan-gp" or any(spec.split(":")[0] in ("r1", "gp") for spec in config.regularizers)
    has_batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules())
    if double_backward and has_batchnorm:
        raise ConfigError("--sync-batchnorm cannot train a D with BatchNorm under r1, gp or wgan-gp (a gradient of a "
                          "gradient does not pass through SyncBatchNorm): drop it, or use --spectral-norm (D without BatchNorm)")


def check_same_config(config: RunConfig, world: World) -> None:
    """``ConfigError`` on every rank when the ranks were given different configs (one collective)."""
    configs = world.all_gather(config.to_json())
    if any(other != configs[0] for other in configs):
        differ = [rank for rank, other in enumerate(configs) if other != configs[0]]
        raise ConfigError(f"the processes were given different configs (ranks {differ} differ from rank 0); "
                          "start every rank with the same command")

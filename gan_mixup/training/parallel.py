"""What a rank of a data-parallel run (torchrun) needs besides its state: its streams' seeds and the
checks every rank makes alike. The collectives are the run's ``World``'s (``gan_mixup.distributed``);
``state.make_data_parallel`` makes a fresh state a rank's share."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gan_mixup.config import ConfigError, RunConfig
from gan_mixup.distributed import World


def rank_stream_seeds(seed: int, rank: int) -> np.ndarray:
    """The data, noise and objective seeds of ``rank`` in a data-parallel run: a child of the run's
    seed per rank (``SeedSequence`` spawn keys), independent of each other and of ``stream_seeds``.

    Example:
        >>> [int(s) for s in rank_stream_seeds(0, 1)] != [int(s) for s in rank_stream_seeds(0, 0)]
        True
    """
    return np.random.SeedSequence(seed, spawn_key=(rank,)).generate_state(3)


def check_sync_batchnorm(config: RunConfig, discriminator: nn.Module, device: torch.device) -> None:
    """``ConfigError`` where SyncBatchNorm cannot train: off CUDA (torch implements it for GPUs
    only), and in a D with BatchNorm under a double-backward penalty (R1, GP, WGAN-GP), whose
    gradient of a gradient does not pass through SyncBatchNorm's hand-written backward."""
    if device.type != "cuda":
        raise ConfigError(f"--sync-batchnorm needs CUDA GPUs (torch's SyncBatchNorm runs on GPUs only); this run is "
                          f"on {device.type}, where each process normalises its own share of the batch")
    double_backward = config.objective in ("wgan-gp", "r3gan") or any(spec.split(":")[0] in ("r1", "r2", "gp")
                                                                      for spec in config.regularizers)
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

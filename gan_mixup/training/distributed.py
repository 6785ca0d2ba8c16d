"""Data-parallel training: a fresh state made one rank's share, decisions agreed across ranks."""
from __future__ import annotations

import signal
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from gan_mixup.config import ConfigError, ToyConfig
from gan_mixup.rundir import locked
from gan_mixup import distributed
from gan_mixup.distributed import World
from gan_mixup.training.errors import Callback
from gan_mixup.training.recorder import Recorder
from gan_mixup.training.state import RunState, restore_state, stream_seeds


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
        check_sync_batchnorm(config, state.discriminator, state.fixed_noise.device)
        # The same Parameter objects move into the SyncBatchNorm layers: the optimisers keep working.
        state.generator = nn.SyncBatchNorm.convert_sync_batchnorm(state.generator)
        state.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(state.discriminator)
    for module in (state.generator, state.discriminator, *([state.ema] if state.ema is not None else [])):
        distributed.broadcast_from_main(module)
    state.world = world


def check_sync_batchnorm(config: ToyConfig, discriminator: nn.Module, device: torch.device) -> None:
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


def check_same_config(config: ToyConfig) -> None:
    """``ConfigError`` on every rank when the ranks were given different configs (one collective)."""
    configs = distributed.all_gather(config.to_json())
    if any(other != configs[0] for other in configs):
        differ = [rank for rank, other in enumerate(configs) if other != configs[0]]
        raise ConfigError(f"the processes were given different configs (ranks {differ} differ from rank 0); "
                          "start every rank with the same command")


def agree_on_stops(state: RunState, signal_name: str | None, overdue: bool, stop: bool) -> tuple[str | None, bool, bool]:
    """The stop decisions of all ranks, combined (one small all-reduce per iteration): a signal any
    rank received, a checkpoint any rank's clock says is due, a stop a callback on rank 0 asked for.
    Every rank then checkpoints and stops at the same iteration."""
    code = signal.Signals[signal_name].value if signal_name is not None else 0
    code, overdue_any, stop_any = distributed.max_over_ranks([code, int(overdue), int(stop)], state.fixed_noise.device)
    return (signal.Signals(code).name if code else None), bool(overdue_any), bool(stop_any)


def open_recorder_distributed(stack: ExitStack, run_dir: Path | None, state: RunState, *, resume: bool,
                              overwrite: bool, callbacks: Sequence[Callback], record: bool) -> Recorder:
    """The recorder of a data-parallel rank: rank 0 locks and prepares ``run_dir`` (or resumes it) as
    a single process does; the other ranks write nothing, and take rank 0's outcome: its error,
    raised on every rank, or the checkpoint it resumed, with each rank's own RNG streams."""
    world = state.world
    assert world is not None
    opened: list[Recorder] = []

    def prepare() -> dict[str, Any] | None:
        if run_dir is not None:
            stack.enter_context(locked(run_dir))
        opened.append(Recorder.open(run_dir, state, resume=resume, overwrite=overwrite, callbacks=callbacks, record=record))
        checkpoint = opened[0].resumed_from
        return None if checkpoint is None else _to_cpu(checkpoint)

    checkpoint = distributed.main_decides(prepare, world)
    if world.is_main:
        recorder = opened[0]
    else:
        recorder = Recorder(None, None, (), record=False)
        recorder.is_main = False
        if checkpoint is not None:
            restore_state(state, checkpoint, world.rank)
            recorder.checkpoint_iteration = state.iteration
    recorder.world = world
    return recorder


def _to_cpu(tree: Any) -> Any:
    """``tree`` with every tensor on the CPU: what rank 0 sends the others (a CUDA tensor would be
    unpickled onto rank 0's GPU)."""
    if isinstance(tree, Tensor):
        return tree.cpu()
    if isinstance(tree, dict):
        return {key: _to_cpu(value) for key, value in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_cpu(value) for value in tree)
    return tree

"""When a run records and checkpoints: per iteration, what it records and one agreed decision.

What an iteration records (a ``"train"`` log line, a snapshot, the snapshot's metrics) follows from
its number alone, so every rank of a data-parallel run knows it without talking. Whether it
checkpoints and whether the run stops depends on things one rank may see alone (a SIGINT, its
clock, a callback's ``StopTraining`` on rank 0), so that is decided once per iteration, after its
records, in one small all-reduce (nothing to reduce in a single process): every rank checkpoints
and stops at the same iteration, and a callback's stop counts at the iteration it was asked.

Example:
    >>> from gan_mixup import RunConfig
    >>> schedule = Schedule(RunConfig(iterations=100, log_every=10, checkpoint_every=50))
    >>> schedule.records(10).log, schedule.records(11).log
    (True, False)
    >>> schedule.decide(50, signal_name=None, stop_requested=False).checkpoint
    True
"""
from __future__ import annotations

import signal
import time
from dataclasses import dataclass

import torch

from gan_mixup.config import RunConfig
from gan_mixup.distributed import SINGLE_PROCESS, World
from gan_mixup.modalities import modality_of, training_of
from gan_mixup.rundir import snapshot_schedule

# Losses of at most this many iterations wait for their non-finite check (a long --log-every must
# not grow the queue without bound).
MAX_PENDING_CHECKS = 100


def metric_schedule(config: RunConfig) -> set[int] | None:
    """The snapshots that compute metrics, as the run's modality says (``None``: every one)."""
    return training_of(modality_of(config.dataset)).metric_iterations(config)


@dataclass(frozen=True)
class Records:
    """What one iteration records; ``check``: its queued losses are inspected for NaN/Inf first."""

    log: bool = False
    snapshot: bool = False
    metrics: bool = False
    check: bool = False


@dataclass(frozen=True)
class Decision:
    """What one iteration does after its records, the same on every rank."""

    checkpoint: bool = False
    stop: bool = False  # a callback asked to stop: the run ends after this iteration's checkpoint
    signal_name: str | None = None  # SIGINT/SIGTERM arrived: checkpoint, then TrainingInterrupted


class Schedule:
    """The run's log, snapshot, metric and checkpoint iterations, and its checkpoint clock.

    ``metric_iterations``: the snapshots that compute metrics (every snapshot is one when ``None``);
    each of them is a snapshot too.
    """

    def __init__(self, config: RunConfig, world: World = SINGLE_PROCESS, metric_iterations: set[int] | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.config, self.world, self.device = config, world, torch.device(device)
        self.metric_iterations = metric_iterations
        snapshots = set(snapshot_schedule(config.iterations, config.snapshot_frames, config.snapshot_iterations))
        self.snapshots = snapshots | ((metric_iterations or set()) - {0})
        self.last_checkpoint = time.perf_counter()

    def metrics_at(self, iteration: int) -> bool:
        """Whether the snapshot of ``iteration`` computes metrics."""
        return self.metric_iterations is None or iteration in self.metric_iterations

    def records(self, iteration: int, pending_checks: int = 0) -> Records:
        """What ``iteration`` records, with ``pending_checks`` iterations' losses still unchecked."""
        config = self.config
        log = iteration % config.log_every == 0 or iteration == config.iterations
        snapshot = iteration in self.snapshots
        return Records(log=log, snapshot=snapshot, metrics=snapshot and self.metrics_at(iteration),
                       check=log or snapshot or pending_checks >= MAX_PENDING_CHECKS)

    def decide(self, iteration: int, signal_name: str | None, stop_requested: bool) -> Decision:
        """Checkpoint and stop at ``iteration``? Combines every rank's signal, clock and stop request."""
        config = self.config
        now = time.perf_counter()
        overdue = now - self.last_checkpoint >= config.checkpoint_seconds > 0
        code = signal.Signals[signal_name].value if signal_name is not None else 0
        code, overdue_any, stop_any = self.world.agree([code, int(overdue), int(stop_requested)], self.device)
        signal_name = signal.Signals(code).name if code else None
        checkpoint = (iteration % config.checkpoint_every == 0 or iteration == config.iterations or signal_name is not None
                      or bool(overdue_any) or bool(stop_any))
        if checkpoint:
            self.last_checkpoint = now
        return Decision(checkpoint=checkpoint, stop=bool(stop_any), signal_name=signal_name)

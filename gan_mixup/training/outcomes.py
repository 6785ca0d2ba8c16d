"""What ``train`` raises and returns, and the callbacks' type."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import nn

from gan_mixup.errors import GanMixupError


Callback = Callable[[dict[str, Any]], None]


class ResumeError(GanMixupError, ValueError):
    """The checkpoint cannot continue this config (the differing fields are listed)."""


class NonFiniteError(FloatingPointError):
    """A loss or parameter became NaN/Inf at ``iteration``; the run stopped.

    ``checkpoint_iteration`` is the iteration of the last checkpoint on disk, ``None`` when the run
    has none yet (or trained without a run directory); ``on_nonfinite`` is the run's setting (with
    ``"skip"``, only non-finite weights stop a run).
    """

    def __init__(self, message: str, iteration: int, checkpoint_iteration: int | None = None,
                 on_nonfinite: str = "stop") -> None:
        super().__init__(message)
        self.iteration = iteration
        self.checkpoint_iteration = checkpoint_iteration
        self.on_nonfinite = on_nonfinite


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM arrived; a checkpoint at ``iteration`` was saved in ``run_dir``."""

    def __init__(self, run_dir: Path | None, iteration: int, signal_name: str) -> None:
        super().__init__(f"{signal_name} at iteration {iteration}")
        self.run_dir, self.iteration, self.signal_name = run_dir, iteration, signal_name


class StopTraining(Exception):
    """Raise from a callback to end the run early: the run checkpoints and stops at the end of the
    iteration whose record the callback received (on every rank of a data-parallel run alike)."""


@dataclass
class TrainResult:
    """What ``train`` measured."""

    run_dir: Path | None
    iteration: int  # generator iterations completed
    seconds: float  # wall time of the training loop (this call only)
    iterations_per_second: float
    last: dict[str, float]  # the last logged losses and statistics
    generator: nn.Module
    discriminator: nn.Module
    stopped_early: bool = False
    checkpoint_seconds: list[float] = field(default_factory=list)
    iterations_trained: int = 0  # by this call: 0 when a resumed run had finished already

    def summary(self, processes: int = 1) -> str:
        """One line on what this call trained, e.g. ``trained 200 iterations in 3.1 s (64.5 it/s)``;
        ``processes``: how many trained it together (torchrun)."""
        if self.iterations_trained == 0 and not self.stopped_early:
            return f"run already finished at iteration {self.iteration}; nothing trained"
        return (f"trained {self.iteration} iterations in {self.seconds:.1f} s ({self.iterations_per_second:.1f} it/s)"
                + (f" on {processes} processes" if processes > 1 else ""))


class TrainingSetupError(GanMixupError, TypeError):
    """``train`` was called with something other than a RunConfig, or where autograd is off."""

"""The sink of a run's records: ``metrics.jsonl``, snapshot files and checkpoints in the run
directory, and the user's callbacks.

A recorder decides nothing: the loop tells it what to record and when (``schedule.py``), and hands
it each checkpoint already taken (``RunState.checkpoint``, which refuses non-finite weights). It
notes a callback's ``StopTraining`` in ``stop_requested`` for the loop's decision, and counts the
seconds each checkpoint took.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from gan_mixup.errors import GanMixupWarning
from gan_mixup.rundir import open_metrics, save_checkpoint
from gan_mixup.training.outcomes import Callback, StopTraining
from gan_mixup.training.state import RunState


class Recorder:
    """Records of one run: written to ``run_dir`` (nothing is written when it is ``None``: a run
    without a directory, or a data-parallel rank other than 0) and passed to ``callbacks``.

    ``metrics_offset`` is the byte length of ``metrics.jsonl`` to keep (a resumed run drops what
    was logged after its checkpoint); ``checkpoint_iteration`` is the newest checkpoint's iteration
    (``None`` before the first); ``record=False`` writes checkpoints only. ``checkpoints``: whether
    ``checkpoint`` does anything, also with no directory here (another rank may wait for this one).
    """

    def __init__(self, run_dir: Path | None, callbacks: Sequence[Callback] = (), *, record: bool = True,
                 metrics_offset: int = 0, checkpoint_iteration: int | None = None, checkpoints: bool | None = None) -> None:
        self.run_dir, self.callbacks = run_dir, tuple(callbacks)
        self.record = record and run_dir is not None
        self.metrics_file: Any = None
        if run_dir is not None:
            self.metrics_file, warning = open_metrics(run_dir, metrics_offset)
            if warning:
                warnings.warn(warning, GanMixupWarning, stacklevel=2)
        self.checkpoints = run_dir is not None if checkpoints is None else checkpoints
        self.checkpoint_iteration = checkpoint_iteration
        self.checkpoint_seconds: list[float] = []
        self.stop_requested = False

    @classmethod
    def for_rank(cls, run_dir: Path | None, state: RunState, checkpoint: dict[str, Any] | None,
                 callbacks: Sequence[Callback], record: bool) -> "Recorder":
        """The recorder of this process: rank 0 (or the only process) writes ``run_dir`` and calls
        the callbacks; the other ranks of a data-parallel run take part in its checkpoints only."""
        world = state.world
        resumed_at = int(checkpoint["iteration"]) if checkpoint is not None and checkpoint["iteration"] > 0 else None
        if not world.is_main:
            return cls(None, (), record=False, checkpoint_iteration=resumed_at, checkpoints=True)
        return cls(run_dir, callbacks, record=record, checkpoint_iteration=resumed_at,
                   metrics_offset=int(checkpoint["metrics_offset"]) if checkpoint is not None else 0,
                   checkpoints=run_dir is not None or not world.alone)

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def emit(self, record: dict[str, Any]) -> None:
        """Write ``record`` to ``metrics.jsonl`` (NaN and Inf as null) and pass it to every callback."""
        if self.record:
            self.metrics_file.write(json.dumps(_json_safe(record)) + "\n")
        for callback in self.callbacks:
            try:
                callback(record)
            except StopTraining:
                self.stop_requested = True

    def event(self, iteration: int, event: str, message: str) -> None:
        self.emit({"kind": "event", "iteration": iteration, "event": event, "message": message})

    def skipped(self, updates: list[tuple[int, str, float]]) -> None:
        """One ``skipped`` event per update that a non-finite loss skipped (``check_nonfinite``)."""
        for iteration, what, value in updates:
            self.event(iteration, "skipped", f"non-finite {what} ({value}): update skipped")

    def snapshot(self, state: RunState, with_metrics: bool = True) -> None:
        """Write the snapshot of ``state.iteration`` and emit its record (with its metrics, when asked)."""
        if self.record:
            self.emit(take_snapshot(state, self.run_dir, with_metrics=with_metrics))

    def checkpoint(self, checkpoint: dict[str, Any] | None, iteration: int) -> None:
        """Flush and fsync the metrics, then save ``checkpoint`` (``RunState.checkpoint``'s, taken
        by every rank) atomically as the checkpoint of ``iteration``, with the metrics' length."""
        if self.run_dir is None or checkpoint is None:
            return
        self.metrics_file.flush()
        os.fsync(self.metrics_file.fileno())
        checkpoint["metrics_offset"] = self.metrics_file.tell()
        self.checkpoint_seconds.append(save_checkpoint(self.run_dir, checkpoint))
        self.checkpoint_iteration = iteration

    def close(self) -> None:
        if self.metrics_file is not None:
            self.metrics_file.close()


@torch.no_grad()
def take_snapshot(state: RunState, run_dir: Path, with_metrics: bool = True) -> dict[str, Any]:
    """Write the snapshot of this iteration (what the run's modality records); return its record.

    G and D run in ``eval()`` mode (BatchNorm uses its running statistics and updates nothing),
    restored afterwards, so recording never changes training. With ``g_ema`` the EMA generator
    draws the samples.
    """
    with evaluating(state.ema if state.ema is not None else state.generator, state.discriminator) as (G, D):
        return state.modality_training.take_snapshot(state, run_dir, G, D, with_metrics)


@contextmanager
def evaluating(*modules: nn.Module) -> Iterator[tuple[nn.Module, ...]]:
    """Put ``modules`` in ``eval()`` mode for the block and restore each one's own mode after."""
    modes = [[m.training for m in module.modules()] for module in modules]
    for module in modules:
        module.eval()
    try:
        yield modules
    finally:
        for module, flags in zip(modules, modes):
            for m, flag in zip(module.modules(), flags):
                m.train(flag)


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """NaN and Inf are not JSON: write them as null so every line stays strict JSON."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}

"""Where a run's records go: metrics.jsonl, snapshots, checkpoints, callbacks."""
from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Sequence


from gan_mixup.errors import GanMixupWarning
from gan_mixup.rundir import open_metrics, save_checkpoint
from gan_mixup import distributed
from gan_mixup.distributed import World
from gan_mixup.training.checkpoint import prepare_run_dir
from gan_mixup.training.errors import Callback, NonFiniteError, StopTraining
from gan_mixup.training.snapshot import take_snapshot
from gan_mixup.training.state import RunState, checkpoint_state, nonfinite_parameters


# ----- snapshots and checkpoints --------------------------------------------------------------

class Recorder:
    """Where a run's records go: ``metrics.jsonl``, snapshots and checkpoints in the run directory
    (none of them when it is ``None``), and the user's callbacks (always)."""

    def __init__(self, run_dir: Path | None, metrics_file: Any, callbacks: Sequence[Callback], record: bool,
                 checkpoint_iteration: int | None = None) -> None:
        self.run_dir, self.metrics_file, self.callbacks, self.record = run_dir, metrics_file, callbacks, record
        self.checkpoint_seconds: list[float] = []
        self.checkpoint_iteration = checkpoint_iteration  # of the newest checkpoint on disk, None before the first
        self.metric_iterations: set[int] | None = None  # snapshots that compute metrics; None: every one
        self.world: World | None = None  # data-parallel: checkpoints gather every rank's streams
        self.is_main = True  # rank 0 (or the only process): the one that reports
        self.stop_requested = False  # data-parallel: a callback raised StopTraining, to be agreed on
        self.resumed_from: dict[str, Any] | None = None  # the checkpoint ``open`` resumed, if any

    @classmethod
    def open(cls, run_dir: Path | None, state: RunState, *, resume: bool, overwrite: bool,
             callbacks: Sequence[Callback], record: bool) -> "Recorder":
        if run_dir is None:
            return cls(None, None, callbacks, record=False)
        metrics_offset, resumed_from = prepare_run_dir(run_dir, state.config, state, resume=resume, overwrite=overwrite)
        metrics_file, warning = open_metrics(run_dir, metrics_offset)
        if warning:
            warnings.warn(warning, GanMixupWarning, stacklevel=2)
        recorder = cls(run_dir, metrics_file, callbacks, record, state.iteration if state.iteration > 0 else None)
        recorder.resumed_from = resumed_from
        return recorder

    def emit(self, record: dict[str, Any]) -> None:
        if self.metrics_file is not None and self.record:
            self.metrics_file.write(json.dumps(_json_safe(record)) + "\n")
        for callback in self.callbacks:
            try:
                callback(record)
            except StopTraining:
                if self.world is None:
                    raise
                # Data-parallel: stopping here alone would leave the other ranks waiting in a
                # collective; the loop agrees on the stop at its next iteration instead.
                self.stop_requested = True

    def snapshot(self, state: RunState) -> None:
        if self.run_dir is not None and self.record:
            with_metrics = self.metric_iterations is None or state.iteration in self.metric_iterations
            self.emit(take_snapshot(state, self.run_dir, with_metrics=with_metrics))

    def checkpoint(self, state: RunState) -> None:
        """Flush metrics, refuse to checkpoint non-finite weights, then save atomically."""
        world = state.world
        if self.run_dir is None and world is None:
            return
        # Every rank checks (the parameters are the same everywhere, so is the decision) and takes
        # part in the gather below, also the ranks that write nothing.
        bad = nonfinite_parameters(state)
        if bad:
            raise NonFiniteError(f"non-finite parameters at iteration {state.iteration}: {', '.join(bad[:4])}", state.iteration)
        extra: dict[str, Any] = {}
        if world is not None:
            distributed.broadcast_from_main(state.generator, parameters=False)
            distributed.broadcast_from_main(state.discriminator, parameters=False)
            rank_rngs = distributed.gather_to_main({name: g.get_state() for name, g in state.rngs.items()})
            extra = {"world_size": world.world_size, "rank_rng": rank_rngs}
        if self.run_dir is None:
            return
        self.metrics_file.flush()
        os.fsync(self.metrics_file.fileno())
        offset = self.metrics_file.tell()
        self.checkpoint_seconds.append(save_checkpoint(self.run_dir, {**checkpoint_state(state, offset), **extra}))
        self.checkpoint_iteration = state.iteration

    def close(self) -> None:
        if self.metrics_file is not None:
            self.metrics_file.close()


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """NaN and Inf are not JSON: write them as null so every line stays strict JSON."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}

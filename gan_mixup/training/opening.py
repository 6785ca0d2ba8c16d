"""Creating, replacing and resuming a run directory: what rank 0 does before a run trains.

Opening a run changes nothing in the run's state: it returns the checkpoint to continue, and the
loop loads it (``RunState.load_state_dict``) where a reader sees it.
"""
from __future__ import annotations

import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from gan_mixup.config import ConfigError, RunConfig, resume_conflicts
from gan_mixup.errors import GanMixupWarning
from gan_mixup.rundir import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    PREVIOUS_CHECKPOINT_FILE,
    REFERENCE_FILE,
    SNAPSHOT_DIR,
    RunDirectoryError,
    clear_run_dir,
    holds_only_lock,
    is_marked,
    load_checkpoint,
    locked,
    write_config,
    write_marker,
    write_reference,
)
from gan_mixup.training.outcomes import ResumeError
from gan_mixup.training.state import RunState


def open_run(stack: ExitStack, run_dir: Path | None, state: RunState, *, resume: bool,
             overwrite: bool) -> dict[str, Any] | None:
    """Lock ``run_dir`` for the rest of ``stack`` and create, replace or check it for resuming
    (``prepare_run_dir``); return the checkpoint to continue, ``None`` for a fresh start.

    Rank 0 alone touches the directory; the other ranks of a data-parallel run get its outcome:
    the same checkpoint (its tensors on the CPU), or its error, raised on every rank.
    """
    if run_dir is None:
        return None

    def prepare() -> dict[str, Any] | None:
        stack.enter_context(locked(run_dir))
        return prepare_run_dir(run_dir, state.config, state, resume=resume, overwrite=overwrite)

    return state.world.main_decides(prepare)


def prepare_run_dir(run_dir: Path, config: RunConfig, state: RunState, *, resume: bool,
                    overwrite: bool) -> dict[str, Any] | None:
    """Create, replace or check ``run_dir`` for resuming (the caller holds its lock); return the
    checkpoint to continue, on the CPU (``None`` for a fresh start). Its ``metrics_offset`` is the
    byte length of metrics.jsonl to keep.

    ``resume`` takes the newest readable checkpoint; a run directory with no checkpoint yet (a
    run killed before its first one) starts again from iteration 0, which is identical by
    construction. ``overwrite`` removes only what gan-mixup wrote, from a folder it marked. A fresh
    run's directory gets its reference (the real samples every frame is drawn against).
    """
    has_checkpoint = (run_dir / CHECKPOINT_FILE).exists() or (run_dir / PREVIOUS_CHECKPOINT_FILE).exists()
    if resume and has_checkpoint:
        checkpoint, fallbacks = load_checkpoint(run_dir, map_location="cpu")
        for fallback in fallbacks:
            warnings.warn(fallback, GanMixupWarning, stacklevel=2)
        try:
            saved = RunConfig.from_dict(checkpoint["config"])
        except ConfigError as err:
            raise ResumeError(f"cannot resume {run_dir}: its checkpoint holds a config this version rejects ({err})") from None
        conflicts = resume_conflicts(saved, config)
        if conflicts:
            raise ResumeError("the checkpoint was trained with a different setting: " + "; ".join(conflicts))
        if checkpoint["iteration"] > config.iterations:
            raise ResumeError(f"the checkpoint is at iteration {checkpoint['iteration']}, past --iterations {config.iterations}")
        check_world_size(checkpoint, state.world.world_size)
        write_marker(run_dir, "run")
        write_config(run_dir, config.to_json())
        if not (run_dir / SNAPSHOT_DIR / REFERENCE_FILE).is_file():
            # Deleted, or lost with a copy: made from the config's seed and data alone, so the same file.
            write_reference(run_dir, state.reference)
        return checkpoint
    if not holds_only_lock(run_dir):
        if resume and not is_marked(run_dir) and not (run_dir / CONFIG_FILE).is_file():
            raise RunDirectoryError(f"cannot resume {run_dir}: it is not a gan-mixup run directory (no {CONFIG_FILE})")
        if not (overwrite or resume):
            raise RunDirectoryError(f"{run_dir} already exists; pass --overwrite to replace it or --resume to continue it")
        if resume and not is_marked(run_dir):  # an unmarked run (docs/runs.md) killed before its first checkpoint
            write_marker(run_dir, "run")
        clear_run_dir(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_marker(run_dir, "run")
    write_config(run_dir, config.to_json())
    write_reference(run_dir, state.reference)
    return None


def check_world_size(checkpoint: dict[str, Any], world_size: int) -> None:
    """``ResumeError`` unless the checkpoint was trained by ``world_size`` processes.

    Each rank draws its own share of the batch from its own streams, so another number of processes
    would train a different run: refused rather than continued without bit-identity.
    """
    saved = int(checkpoint.get("world_size", 1))  # single-process checkpoints do not record it
    if saved != world_size:
        def processes(n: int) -> str:
            return "1 process" if n == 1 else f"{n} processes"
        how = "without torchrun" if saved == 1 else f"with torchrun --nproc_per_node {saved} (or that many processes over --nnodes)"
        raise ResumeError(f"the checkpoint was trained by {processes(saved)} and this run has {processes(world_size)}: "
                          f"resume it {how}; another world size would draw different batches and not continue the run")

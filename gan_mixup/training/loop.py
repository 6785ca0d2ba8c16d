"""The one training loop, for toy points and images alike: D steps per G step, snapshots, metrics,
checkpoints, resume, a locked run directory.

Example:
    >>> from gan_mixup import RunConfig, train
    >>> result = train(RunConfig(iterations=20, hidden=32), "runs/tiny", overwrite=True)  # doctest: +SKIP
    >>> result.iteration  # doctest: +SKIP
    20
    >>> train(RunConfig(dataset="digits", iterations=20), "runs/tiny-digits")  # doctest: +SKIP
"""
from __future__ import annotations

import math
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Sequence

import torch

from gan_mixup.config import ToyConfig
from gan_mixup.rundir import locked, snapshot_schedule
from gan_mixup import distributed
from gan_mixup.training.distributed import agree_on_stops, check_same_config, make_data_parallel, open_recorder_distributed
from gan_mixup.training.errors import Callback, NonFiniteError, StopTraining, TrainResult, TrainingInterrupted, TrainingSetupError
from gan_mixup.training.process import _progress_bar, _signals_to_flag, flush_denormals
from gan_mixup.training.recorder import Recorder
from gan_mixup.training.snapshot import metric_schedule
from gan_mixup.training.state import RunState, build_state, check_fid_weights
from gan_mixup.training.step import MAX_PENDING_CHECKS, check_nonfinite, log_record, train_step


# ----- the loop -------------------------------------------------------------------------------

def train(
    config: ToyConfig,
    run_dir: str | Path | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
    handle_signals: bool = False,
    record: bool = True,
    flush_denormal: bool = True,
) -> TrainResult:
    """Train the GAN of ``config``; write snapshots, metrics and checkpoints to ``run_dir``.

    ``run_dir=None`` trains without touching the disk (as the benchmark does). ``resume`` continues
    from ``run_dir``'s last checkpoint, bit-identically to a run that was never interrupted, and
    starts the run from iteration 0 when it has no checkpoint yet (killed early, or never started);
    ``overwrite`` replaces an existing run (only a directory gan-mixup marked as its own). The run
    directory is locked while training: a second process gets ``RunLockedError``. ``callbacks``
    receive every record written to ``metrics.jsonl`` and may raise ``StopTraining``.
    ``record=False`` keeps the checkpoints but skips snapshots and metrics. ``handle_signals`` turns
    SIGINT/SIGTERM into a checkpoint and ``TrainingInterrupted`` (the CLI sets it).
    ``flush_denormal`` sets ``torch.set_flush_denormal(True)`` for this call only (see
    ``flush_denormals``).

    The caller's global torch RNG is left as it was, fresh or resumed: the run draws from its own
    generators, and torch's global RNG as callbacks see it continues the checkpoint's on resume.
    """
    check_train_arguments(config)
    with torch.random.fork_rng(devices=[]):
        return _train(config, run_dir, resume=resume, overwrite=overwrite, callbacks=callbacks, progress=progress,
                      handle_signals=handle_signals, record=record, flush_denormal=flush_denormal)


def check_train_arguments(config: Any) -> None:
    """Refuse what ``train`` cannot use, before anything is built or written."""
    if not isinstance(config, ToyConfig):
        hint = " (build one with RunConfig(**fields) or RunConfig.from_dict(...))" if isinstance(config, dict) else ""
        raise TrainingSetupError(f"train() takes a RunConfig, got {type(config).__name__}{hint}")
    if torch.is_inference_mode_enabled() or not torch.is_grad_enabled():
        raise TrainingSetupError("train() needs autograd, but it was called inside torch.no_grad() or "
                                 "torch.inference_mode(): call it outside that block")
    check_fid_weights(config)


def _train(config: ToyConfig, run_dir: str | Path | None, *, resume: bool, overwrite: bool, callbacks: Sequence[Callback],
           progress: bool, handle_signals: bool, record: bool, flush_denormal: bool) -> TrainResult:
    run_dir = Path(run_dir) if run_dir is not None else None
    world = distributed.current_world()
    if world is not None:
        check_same_config(config)
    state = build_state(config)
    if world is not None:
        make_data_parallel(state, world)
    with flush_denormals(flush_denormal), ExitStack() as stack:
        if world is None:
            if run_dir is not None:
                stack.enter_context(locked(run_dir))
            recorder = Recorder.open(run_dir, state, resume=resume, overwrite=overwrite, callbacks=callbacks, record=record)
        else:
            recorder = open_recorder_distributed(stack, run_dir, state, resume=resume, overwrite=overwrite,
                                                 callbacks=callbacks, record=record)
        return _train_loop(state, recorder, run_dir, progress=progress and recorder.is_main, handle_signals=handle_signals)


def _train_loop(state: RunState, recorder: "Recorder", run_dir: Path | None, *, progress: bool,
                handle_signals: bool) -> TrainResult:
    config = state.config
    recorder.metric_iterations = metric_schedule(config)
    # Every metric iteration is a snapshot too (the metrics are taken at snapshots).
    schedule = set(snapshot_schedule(config.iterations, config.snapshot_frames, config.snapshot_iterations))
    schedule |= (recorder.metric_iterations or set()) - {0}
    last: dict[str, Any] = {}
    stopped_early = False
    start_iteration = state.iteration
    bar = _progress_bar(progress, config.iterations, state.iteration, f"{config.objective} {config.dataset}")
    start = last_checkpoint = time.perf_counter()
    try:
        with _signals_to_flag(handle_signals) as signalled:
            if state.iteration == 0:
                recorder.snapshot(state)
            while state.iteration < config.iterations:
                d_loss, g_loss = train_step(state)
                it = state.iteration
                logged = it % config.log_every == 0 or it == config.iterations
                snapshot = it in schedule
                overdue = time.perf_counter() - last_checkpoint >= config.checkpoint_seconds > 0
                signal_name, stop = (signalled[0] if signalled else None), recorder.stop_requested
                if state.world is not None:  # every rank takes the same decisions (distributed.py)
                    signal_name, overdue, stop = agree_on_stops(state, signal_name, overdue, stop)
                checkpoint = (it % config.checkpoint_every == 0 or it == config.iterations or signal_name is not None
                              or overdue or stop)
                if logged or snapshot or checkpoint or len(state.pending_losses) >= MAX_PENDING_CHECKS:
                    for skipped_at, what, value in check_nonfinite(state, config.on_nonfinite):
                        recorder.emit({"kind": "event", "iteration": skipped_at, "event": "skipped",
                                       "message": f"non-finite {what} ({value}): update skipped"})
                if logged:
                    last = log_record(state, d_loss, g_loss)
                    recorder.emit(last)
                    if bar is not None:
                        bar.set_postfix(d_loss=f"{last['d_loss']:.3f}", g_loss=f"{last['g_loss']:.3f}", refresh=False)
                if snapshot:
                    recorder.snapshot(state)
                if bar is not None:
                    bar.update(1)
                if checkpoint:
                    recorder.checkpoint(state)
                    last_checkpoint = time.perf_counter()
                if signal_name is not None:
                    raise TrainingInterrupted(run_dir, it, signal_name)
                if stop:  # a callback's StopTraining on rank 0, agreed at this iteration
                    stopped_early = True
                    break
    except NonFiniteError as err:  # a non-finite loss (check_nonfinite) or non-finite weights (checkpoint)
        err.checkpoint_iteration = recorder.checkpoint_iteration
        err.on_nonfinite = config.on_nonfinite
        recorder.emit({"kind": "event", "iteration": err.iteration, "event": "nonfinite", "message": str(err)})
        raise
    except StopTraining:
        stopped_early = True
        recorder.checkpoint(state)
    finally:
        if bar is not None:
            bar.close()
        recorder.close()
    seconds = time.perf_counter() - start
    done = state.iteration - start_iteration
    return TrainResult(
        run_dir=run_dir,
        iteration=state.iteration,
        seconds=seconds,
        iterations_per_second=done / seconds if seconds > 0 else math.inf,
        last=last,
        generator=state.generator,
        discriminator=state.discriminator,
        stopped_early=stopped_early,
        checkpoint_seconds=recorder.checkpoint_seconds,
        iterations_trained=done,
    )

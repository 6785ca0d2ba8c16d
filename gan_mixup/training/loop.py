"""The one training loop, for toy points and images alike: build the run, resume it, train it.

Each iteration trains one generator step (``step.py``), records what the schedule says it records
(a log line, a snapshot, its metrics), then takes one decision, agreed by every rank of a
data-parallel run: checkpoint, stop, or stop on a signal (``schedule.py``).

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

from gan_mixup.config import RunConfig
from gan_mixup.distributed import this_world
from gan_mixup.training.opening import open_run
from gan_mixup.training.outcomes import Callback, NonFiniteError, TrainingInterrupted, TrainingSetupError, TrainResult
from gan_mixup.training.process import Progress, signals_to_flag, flush_denormals, keep_freed_memory
from gan_mixup.training.recorder import Recorder
from gan_mixup.training.schedule import Decision, Schedule, metric_schedule
from gan_mixup.training.checks import check_fid_weights
from gan_mixup.training.parallel import check_same_config
from gan_mixup.training.state import build_state
from gan_mixup.training.step import check_nonfinite, log_record, train_step


def train(
    config: RunConfig,
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
    ``flush_denormals``). Under ``torchrun`` it trains data-parallel (``gan_mixup.distributed``).

    The caller's global torch RNG is left as it was, fresh or resumed: the run draws from its own
    generators, and torch's global RNG as callbacks see it continues the checkpoint's on resume.
    """
    check_train_arguments(config)
    run_dir = Path(run_dir) if run_dir is not None else None
    world = this_world()
    keep_freed_memory()
    with torch.random.fork_rng(devices=[]):
        check_same_config(config, world)
        state = build_state(config, world)
        with flush_denormals(flush_denormal), ExitStack() as stack:
            checkpoint = open_run(stack, run_dir, state, resume=resume, overwrite=overwrite)
            if checkpoint is not None:
                state.load_state_dict(checkpoint)
            recorder = stack.enter_context(Recorder.for_rank(run_dir, state, checkpoint, callbacks, record))
            schedule = Schedule(config, world, metric_schedule(config), state.device)
            bar = stack.enter_context(Progress(progress and world.is_main, config.iterations, state.iteration,
                                               f"{config.objective} {config.dataset}"))
            signalled = stack.enter_context(signals_to_flag(handle_signals))
            start_iteration, start = state.iteration, time.perf_counter()
            last: dict[str, Any] = {}
            decision = Decision()
            try:
                if state.iteration == 0:
                    recorder.snapshot(state, with_metrics=schedule.metrics_at(0))
                while state.iteration < config.iterations and not decision.stop:
                    d_loss, g_loss = train_step(state)
                    due = schedule.records(state.iteration, len(state.pending_losses))
                    if due.check:
                        recorder.skipped(check_nonfinite(state, config.on_nonfinite, recorder.checkpoint_iteration))
                    if due.log:
                        last = log_record(state, d_loss, g_loss)
                        recorder.emit(last)
                    if due.snapshot:
                        recorder.snapshot(state, with_metrics=due.metrics)
                    bar.advance(last if due.log else None)
                    decision = schedule.decide(state.iteration, signalled[0] if signalled else None, recorder.stop_requested)
                    if decision.checkpoint:
                        recorder.skipped(check_nonfinite(state, config.on_nonfinite, recorder.checkpoint_iteration))
                        if recorder.checkpoints:  # every rank takes it; rank 0 writes it
                            recorder.checkpoint(state.checkpoint(recorder.checkpoint_iteration), state.iteration)
                    if decision.signal_name is not None:
                        raise TrainingInterrupted(run_dir, state.iteration, decision.signal_name)
            except NonFiniteError as err:  # a non-finite loss (check_nonfinite) or non-finite weights (checkpoint)
                recorder.event(err.iteration, "nonfinite", str(err))
                raise
        seconds = time.perf_counter() - start
    done = state.iteration - start_iteration
    return TrainResult(run_dir=run_dir, iteration=state.iteration, seconds=seconds,
                       iterations_per_second=done / seconds if seconds > 0 else math.inf, last=last,
                       generator=state.generator, discriminator=state.discriminator, stopped_early=decision.stop,
                       checkpoint_seconds=recorder.checkpoint_seconds, iterations_trained=done)


def check_train_arguments(config: Any) -> None:
    """Refuse what ``train`` cannot use, before anything is built or written."""
    if not isinstance(config, RunConfig):
        hint = " (build one with RunConfig(**fields) or RunConfig.from_dict(...))" if isinstance(config, dict) else ""
        raise TrainingSetupError(f"train() takes a RunConfig, got {type(config).__name__}{hint}")
    if torch.is_inference_mode_enabled() or not torch.is_grad_enabled():
        raise TrainingSetupError("train() needs autograd, but it was called inside torch.no_grad() or "
                                 "torch.inference_mode(): call it outside that block")
    check_fid_weights(config)

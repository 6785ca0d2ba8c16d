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

from gan_mixup.errors import GanMixupError, GanMixupWarning

import copy
import inspect
import json
import math
import os
import signal
import sys
import time
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from gan_mixup.config import ConfigError, RunConfig as ToyConfig, resume_conflicts
from gan_mixup.metrics import gradient_summary, sample_metrics
from gan_mixup.modalities import modality_of
from gan_mixup import precision
from gan_mixup.objectives import OBJECTIVES, MixupGAN, Objective, ObjectiveError, get_objective
from gan_mixup.probes import discriminator_gradient_norms, input_gradient_norms, logit_gradients, mixed_points
from gan_mixup.regularizers import parse_regularizer, with_regularizers
from gan_mixup.rundir import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    PREVIOUS_CHECKPOINT_FILE,
    Reference,
    RunDirectoryError,
    Snapshot,
    clear_run_dir,
    holds_only_lock,
    is_marked,
    load_checkpoint,
    locked,
    open_metrics,
    save_checkpoint,
    snapshot_schedule,
    write_config,
    write_marker,
    write_reference,
    write_snapshot,
)
from gan_mixup.data import build_data, resolve_device
from gan_mixup import distributed
from gan_mixup.distributed import World
from toy_data import ToyDataset

Callback = Callable[[dict[str, Any]], None]


class ResumeError(GanMixupError, ValueError):
    """The checkpoint cannot continue this config (the differing fields are listed)."""


class NonFiniteError(FloatingPointError):
    """A loss or parameter became NaN/Inf at ``iteration``; the run stopped.

    ``checkpoint_iteration`` is the iteration of the last checkpoint on disk, ``None`` when the run
    has none yet (or trained without a run directory).
    """

    def __init__(self, message: str, iteration: int, checkpoint_iteration: int | None = None) -> None:
        super().__init__(message)
        self.iteration = iteration
        self.checkpoint_iteration = checkpoint_iteration
        self.on_nonfinite = "stop"  # the run's setting (with "skip", only non-finite weights stop a run)


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM arrived; a checkpoint at ``iteration`` was saved in ``run_dir``."""

    def __init__(self, run_dir: Path | None, iteration: int, signal_name: str) -> None:
        super().__init__(f"{signal_name} at iteration {iteration}")
        self.run_dir, self.iteration, self.signal_name = run_dir, iteration, signal_name


class StopTraining(Exception):
    """Raise from a callback to end the run early (a checkpoint is written)."""


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


@dataclass
class RunState:
    """Everything that evolves during a run; a checkpoint is exactly this, serialised."""

    config: ToyConfig
    dataset: ToyDataset
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    objective: Objective
    rngs: dict[str, torch.Generator]  # "data", "noise", "objective"
    fixed_noise: Tensor  # (fixed_samples, latent_dim): every snapshot's G input
    ema: nn.Module | None = None  # EMA of G's weights (config.g_ema > 0); snapshots draw from it
    metric_noise: Tensor | None = None  # images: (metric_samples, latent_dim), the metrics' fixed G input
    iteration: int = 0
    pending_losses: list[tuple[int, Tensor]] = field(default_factory=list)  # (iteration, its D and G losses), unchecked
    reference: Reference | None = None  # the frames' shared real samples, made on first use
    world: World | None = None  # the process group when data-parallel (torchrun); None: one process

    @property
    def batch_size(self) -> int:
        """This process's share of the global ``config.batch_size`` (all of it in a single process)."""
        return self.config.batch_size if self.world is None else self.config.batch_size // self.world.world_size

    @property
    def begin_iteration(self) -> Callable[[int, int], None] | None:
        """The objective's optional per-iteration hook (regularizers that anneal use it)."""
        return getattr(self.objective, "begin_iteration", None)


def build_objective(config: ToyConfig, generator: torch.Generator | None = None) -> Objective:
    """The objective named by ``config``, with its options and regularizers; all its randomness
    (λ, shuffles, interpolates, instance noise) is drawn from ``generator``."""
    objective = _base_objective(config, generator)
    # D on real and fake: None lets the objective decide (two forwards exactly when D has BatchNorm).
    objective.separate_forwards = {"auto": None, "joint": False, "separate": True}[config.d_forward]
    if not config.regularizers:
        return objective
    return with_regularizers(objective, *(parse_regularizer(spec, generator) for spec in config.regularizers))


def check_config(config: ToyConfig) -> None:
    """Raise the error a run of ``config`` would hit at start-up (unknown objective options,
    regularizers, dataset options), without building models or touching the disk."""
    run_device(config)
    build_data(config)
    build_objective(config)
    check_fid_weights(config)


def check_fid_weights(config: ToyConfig) -> None:
    """``--fid-weights``: the local weights file and the torch-fidelity extra, before anything is written."""
    if config.fid_weights:
        from gan_mixup.modalities.images.metrics import check_inception

        check_inception(config.fid_weights)


def run_device(config: ToyConfig) -> torch.device:
    """The device ``config`` trains on; ``ConfigError`` when it is missing here or ``amp`` cannot run on it
    (see ``gan_mixup.precision``)."""
    device = resolve_device(config.device)
    refusal = precision.amp_refusal(device) if config.amp else None
    if refusal is not None:
        raise ConfigError(refusal)
    return device


def _base_objective(config: ToyConfig, generator: torch.Generator | None) -> Objective:
    if config.objective == "mixup":
        return MixupGAN(
            alpha=config.alpha,
            per_sample=config.lambda_sampling == "per-sample",
            generator_loss=config.generator_loss,
            lambda_distribution=config.lambda_distribution,
            pairing=config.pairing,
            generator=generator,
        )
    options: dict[str, object] = dict(config.objective_options)
    if config.objective == "erm":
        options.setdefault("generator_loss", config.generator_loss)
    elif config.generator_loss != "non-saturating":
        raise ObjectiveError(f"--generator-loss applies to erm and mixup only, not {config.objective!r}")
    if "generator" in inspect.signature(OBJECTIVES[config.objective]).parameters:
        options["generator"] = generator
    return get_objective(config.objective, **options)


def stream_seeds(seed: int) -> np.ndarray:
    """Six independent seeds from one: model init, data, noise, objective, fixed noise, frame reals."""
    return np.random.SeedSequence(seed).generate_state(6)


def build_state(config: ToyConfig) -> RunState:
    """Models, optimisers, objective and RNG streams of a fresh run, all derived from ``config.seed``.

    Model initialisation draws from torch's global RNG, so it runs inside ``fork_rng`` with the
    run's seed: the user's global RNG state is left untouched, and two runs with one seed (ERM and
    mixup in ``compare``) start from identical networks and see the same fixed noise.
    """
    device = run_device(config)
    dataset = build_data(config)
    seeds = stream_seeds(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seeds[0]))
        generator, discriminator = build_models(config, dataset)
        generator, discriminator = generator.to(device), discriminator.to(device)
    rngs = {name: torch.Generator(device).manual_seed(int(s)) for name, s in zip(("data", "noise", "objective"), seeds[1:4])}
    fixed = torch.Generator(device).manual_seed(int(seeds[4]))
    fixed_noise = torch.randn(config.fixed_samples, config.latent_dim, generator=fixed, device=device)
    # Drawn after the fixed noise from the same stream, so adding it changed no earlier run.
    metric_noise = (torch.randn(config.metric_samples, config.latent_dim, generator=fixed, device=device)
                    if config.metric_samples else None)
    return RunState(
        config=config,
        dataset=dataset,
        generator=generator,
        discriminator=discriminator,
        opt_g=make_adam(generator, config),
        opt_d=make_adam(discriminator, config),
        objective=build_objective(config, rngs["objective"]),
        rngs=rngs,
        fixed_noise=fixed_noise,
        ema=copy.deepcopy(generator).requires_grad_(False) if config.g_ema > 0 else None,
        metric_noise=metric_noise,
    )


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


def build_models(config: ToyConfig, dataset: Any) -> tuple[nn.Module, nn.Module]:
    """G and D for the run's kind: the paper's MLPs for points, DCGAN for images."""
    return modality_of(config.dataset).build_models(config, dataset)


def make_adam(module: nn.Module, config: ToyConfig) -> torch.optim.Adam:
    # fused=True runs the whole Adam update as one kernel per device (CPU included since torch 2.4):
    # about 30 small ops per parameter tensor fewer than the default, which matters at batch 128.
    return torch.optim.Adam(module.parameters(), lr=config.lr, betas=config.betas, fused=True)


# ----- the step -------------------------------------------------------------------------------

def sample_real(state: RunState, n: int) -> Tensor:
    return state.dataset.sample(n, state.rngs["data"]).to(state.fixed_noise.device)


def sample_noise(state: RunState, n: int) -> Tensor:
    return torch.randn(n, state.config.latent_dim, generator=state.rngs["noise"], device=state.fixed_noise.device)


def train_step(state: RunState) -> tuple[Tensor, Tensor]:
    """One generator iteration: ``d_steps`` discriminator updates, then one generator update.

    Returns the last D loss and the G loss as detached tensors. No host sync happens here: an update
    whose loss is NaN/Inf is skipped on the device by fused Adam's ``found_inf`` input (the same
    mechanism ``torch.amp.GradScaler`` uses), and the iteration's losses are queued in
    ``state.pending_losses``; ``check_nonfinite`` inspects them all with one sync at the next log,
    snapshot or checkpoint, and records skips or stops the run (``on_nonfinite``) there.
    """
    cfg, G, D, objective = state.config, state.generator, state.discriminator, state.objective
    batch_size = state.batch_size  # per process: the global batch over the world size
    batch = batch_size * getattr(objective, "batches_per_step", 1)
    if state.begin_iteration is not None:  # e.g. instance noise annealing
        state.begin_iteration(state.iteration, cfg.iterations)

    autocast = precision.autocast(state.fixed_noise.device, cfg.amp)

    if cfg.d_steps == 1 and batch == batch_size:
        # One D step (DCGAN's setting): G runs once with grad, D trains on the detached fakes, and
        # G's loss reuses them through the updated D, as pytorch/examples' dcgan does; this saves
        # one G forward per iteration. G did not change in between, so the fakes are exactly what a
        # second forward on the same noise would give.
        with autocast:
            # Under autocast G's last layer gives bfloat16; the objectives take real and fake of one dtype.
            fake = G(sample_noise(state, batch)).float()
        losses = [_d_step(state, sample_real(state, batch), fake.detach(), autocast)]
    else:
        # (1) Update D on the objective's batch, d_steps times. G does not change during these steps,
        # so one G forward for all of them gives exactly the fakes d_steps separate forwards would
        # (a G with BatchNorm normalises over all of them: one batch of d_steps x batch noise).
        with torch.no_grad(), autocast:
            fakes = G(sample_noise(state, cfg.d_steps * batch)).float()
        reals = sample_real(state, cfg.d_steps * batch)
        losses = [_d_step(state, real, fake_batch, autocast)
                  for real, fake_batch in zip(reals.split(batch), fakes.split(batch))]
        fake = None

    # (2) Update G through D. D's weights need no gradient here, which saves one of D's backward GEMMs.
    D.requires_grad_(False)
    try:
        with autocast:
            if fake is None:
                fake = G(sample_noise(state, batch_size)).float()
            g_loss = objective.generator_loss(D, fake, sample_real(state, batch_size)).float()
        state.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
    finally:
        D.requires_grad_(True)
    if state.world is not None:  # the mean gradient and loss over the ranks (see distributed.py)
        g_loss = distributed.all_reduce_gradients(G, g_loss, state.world)
    step_unless_nonfinite(state.opt_g, g_loss)
    if state.ema is not None:
        update_ema(state.ema, G, cfg.g_ema)
    losses.append(g_loss.detach())
    state.iteration += 1
    state.pending_losses.append((state.iteration, torch.stack(losses)))
    return losses[-2], losses[-1]


def _d_step(state: RunState, real: Tensor, fake: Tensor, autocast: Any) -> Tensor:
    """One discriminator update on ``real`` and (detached) ``fake``; returns the detached loss."""
    with autocast:
        d_loss = state.objective.discriminator_loss(state.discriminator, real, fake).float()
    state.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    if state.world is not None:
        d_loss = distributed.all_reduce_gradients(state.discriminator, d_loss, state.world)
    step_unless_nonfinite(state.opt_d, d_loss)
    return d_loss.detach()


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model for the weights; buffers (BatchNorm statistics) copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):
        ema_buffer.copy_(buffer)


def step_unless_nonfinite(optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
    """``optimizer.step()``, skipped on the device when ``loss`` is NaN/Inf, without a host sync.

    Fused Adam reads ``found_inf`` (a 0-dim float tensor, non-zero = skip) as GradScaler sets it:
    the parameters, moments and step count stay as they were.
    """
    optimizer.found_inf = (~torch.isfinite(loss.detach())).float().reshape(())  # type: ignore[attr-defined]
    try:
        optimizer.step()
    finally:
        del optimizer.found_inf  # type: ignore[attr-defined]


def check_nonfinite(state: RunState, on_nonfinite: str) -> list[tuple[int, str, float]]:
    """Inspect the losses queued since the last check (one host sync for all of them).

    Returns ``(iteration, "discriminator loss" | "generator loss", value)`` for every skipped update;
    with ``on_nonfinite="stop"`` raises ``NonFiniteError`` at the first instead.
    """
    if not state.pending_losses:
        return []
    iterations = [it for it, _ in state.pending_losses]
    values = torch.stack([losses for _, losses in state.pending_losses]).float().cpu()  # (n, d_steps + 1)
    state.pending_losses.clear()
    bad = (~torch.isfinite(values)).nonzero().tolist()
    skipped = []
    for row, col in bad:
        what = "generator loss" if col == values.shape[1] - 1 else "discriminator loss"
        skipped.append((iterations[row], what, float(values[row, col])))
    if skipped and on_nonfinite == "stop":
        it, what, value = skipped[0]
        raise NonFiniteError(f"the {what} became {value} at iteration {it}", it)
    return skipped


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


class TrainingSetupError(GanMixupError, TypeError):
    """``train`` was called with something other than a RunConfig, or where autograd is off."""


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


# Losses of at most this many iterations wait for their non-finite check (a long --log-every must
# not grow the queue without bound).
MAX_PENDING_CHECKS = 100


def agree_on_stops(state: RunState, signal_name: str | None, overdue: bool, stop: bool) -> tuple[str | None, bool, bool]:
    """The stop decisions of all ranks, combined (one small all-reduce per iteration): a signal any
    rank received, a checkpoint any rank's clock says is due, a stop a callback on rank 0 asked for.
    Every rank then checkpoints and stops at the same iteration."""
    code = signal.Signals[signal_name].value if signal_name is not None else 0
    code, overdue_any, stop_any = distributed.max_over_ranks([code, int(overdue), int(stop)], state.fixed_noise.device)
    return (signal.Signals(code).name if code else None), bool(overdue_any), bool(stop_any)


@contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[None]:
    """Flush denormal floats to zero for the block, then restore the previous setting.

    Deep into a run, tiny gradients and Adam moments become denormal, and on many x86 CPUs every
    operation that touches one is many times slower. Flushing them to zero changes only results
    below 1.2e-38 (the low bits of a run, so a run with and without differs after a while, though
    each is reproducible). ``torch.set_flush_denormal`` sets the calling thread's FPU flags only,
    so torch's other intra-op threads keep denormals; the setting is restored on exit, so the
    caller's process state is left as it was.
    """
    if not enabled:
        yield
        return
    before = denormals_flushed()
    supported = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(before)


def denormals_flushed() -> bool:
    """Whether this thread flushes denormal floats to zero (1e-30 * 1e-9 is denormal in float32)."""
    return float((torch.tensor([1e-30]) * 1e-9).item()) == 0.0


def log_record(state: RunState, d_loss: Tensor, g_loss: Tensor) -> dict[str, Any]:
    """The ``metrics.jsonl`` record of one logged iteration (the only host syncs of the hot loop)."""
    stats = getattr(state.objective, "last_stats", None)
    record: dict[str, Any] = {"kind": "train", "iteration": state.iteration, "d_loss": d_loss.item(), "g_loss": g_loss.item()}
    for name in ("lam_mean", "d_real", "d_fake"):
        value = getattr(stats, name, None)
        if value is not None:
            record[name] = value.item()
    return record


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


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """NaN and Inf are not JSON: write them as null so every line stays strict JSON."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


def metric_schedule(config: ToyConfig) -> set[int] | None:
    """The snapshots that compute metrics: every one for points (``None``); for images, where a
    metric costs a few training steps, ``metric_frames`` log-spaced ones, the paper's iterations, the
    first and the last."""
    if config.kind == "points" or not config.metric_samples:
        return None if config.kind == "points" else set()
    return {0, *snapshot_schedule(config.iterations, config.metric_frames)}


@torch.no_grad()
def take_snapshot(state: RunState, run_dir: Path, with_metrics: bool = True) -> dict[str, Any]:
    """Write the snapshot of this iteration; return its metrics record.

    Points: G(fixed noise) and sigmoid(D) on the grid. Images: G(fixed noise) as uint8, and the
    metrics of G(metric noise) against the reference's real images. G and D run in ``eval()`` mode
    (BatchNorm uses its running statistics and updates nothing), restored afterwards, so recording
    never changes training. With ``g_ema`` the EMA generator draws the samples.
    """
    with evaluating(state.ema if state.ema is not None else state.generator, state.discriminator) as (G, D):
        if state.config.kind == "images":
            return _image_snapshot(state, run_dir, G, D, with_metrics)
        fake_tensor = G(state.fixed_noise).float()
        axis = grid_axis(state)
        xs = torch.as_tensor(axis, device=state.fixed_noise.device, dtype=torch.float32)
        grid = torch.stack(torch.meshgrid(xs, xs, indexing="xy"), dim=-1).reshape(-1, 2)  # (G*G, 2), x fastest
        d_grid = torch.sigmoid(D(grid)).reshape(len(axis), len(axis)).float().cpu().numpy()
        reference = reference_of(state)
        real = torch.as_tensor(reference.real, device=fake_tensor.device)
        d_grad_fake = logit_gradients(D, fake_tensor)
        norms = {"real": input_gradient_norms(D, real).cpu().numpy(),
                 "fake": d_grad_fake.norm(dim=1).cpu().numpy(),
                 "mixed": input_gradient_norms(D, mixed_points(real, fake_tensor)).cpu().numpy()}
    fake = fake_tensor.cpu().numpy()
    write_snapshot(run_dir, Snapshot(state.iteration, fake, d_grid, d_grad_fake.cpu().numpy(), norms))
    return {"kind": "snapshot", "iteration": state.iteration,
            **sample_metrics(fake, reference.real, reference.modes, reference.std, reference.extent),
            **gradient_summary(norms)}


GRADIENT_PROBE_IMAGES = 256  # images (real and fake) whose D input gradients an image snapshot measures


def _image_snapshot(state: RunState, run_dir: Path, G: nn.Module, D: nn.Module, with_metrics: bool) -> dict[str, Any]:
    from gan_mixup.modalities.images.metrics import ceiling_reals, image_sample_metrics, judge_for
    from gan_mixup.modalities.images.data import images_to_uint8, uint8_to_images

    fake = images_to_uint8(G(state.fixed_noise))  # (N, C, H, W) uint8
    write_snapshot(run_dir, Snapshot(state.iteration, fake, np.zeros((0, 0), np.float32)))
    record: dict[str, Any] = {"kind": "snapshot", "iteration": state.iteration}
    if with_metrics and state.metric_noise is not None:
        real = reference_of(state).real
        batches = [G(noise) for noise in state.metric_noise.split(500)]  # bounded memory at any size
        metric_fake = images_to_uint8(torch.cat(batches))
        record.update(image_sample_metrics(metric_fake, real, dataset_name=state.config.dataset, dataset=state.dataset))
        if state.config.fid_weights:
            from gan_mixup.modalities.images.metrics import inception_metrics

            record.update(inception_metrics(metric_fake, real, state.config.fid_weights, device=state.fixed_noise.device))
        # D's input gradients on a few hundred images: enough for a stable mean, cheap at every metric iteration.
        probe = min(GRADIENT_PROBE_IMAGES, len(real), len(metric_fake))
        real_images = uint8_to_images(real[:probe], device=state.fixed_noise.device)
        fake_images = torch.cat(batches)[:probe].float()
        record.update(gradient_summary(discriminator_gradient_norms(D, real_images, fake_images)))
        if state.iteration == 0:
            # The ceiling at this sample size: what real data scores (at 1,000 samples, uniform
            # data shows only ~632 of 1,000 modes), for reading the fake scores against.
            own = image_sample_metrics(real[: len(metric_fake)], real, dataset_name=state.config.dataset, dataset=state.dataset)
            record.update({f"real_{k}": v for k, v in own.items() if k in ("modes_covered", "kl_modes")})
            # The other metrics of real data against itself are trivial (0, 1): a second, independent
            # real sample of the same size gives their ceiling.
            other = ceiling_reals(state.dataset, len(metric_fake), state.config.seed)
            own = image_sample_metrics(other, real, dataset_name=state.config.dataset, dataset=state.dataset)
            record.update({f"real_{k}": v for k, v in own.items() if k not in ("modes_covered", "kl_modes", "frechet_digits")})
            record["classifier_accuracy"] = judge_for(state.dataset).accuracy
    return record


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


def grid_axis(state: RunState) -> np.ndarray:
    extent = state.dataset.extent
    return np.linspace(-extent, extent, state.config.grid_size, dtype=np.float32)


def make_reference(state: RunState) -> Reference:
    """Real samples for the frames come from their own seeded stream, not the training data stream."""
    real_rng = torch.Generator().manual_seed(int(stream_seeds(state.config.seed)[5]))
    if state.config.kind == "images":
        from gan_mixup.modalities.images.data import images_to_uint8

        count = max(state.config.fixed_samples, state.config.metric_samples)
        real_images = images_to_uint8(state.dataset.sample(count, real_rng))  # (N, C, H, W) uint8
        return Reference(real_images, np.zeros((0, 2), np.float32), math.nan, np.zeros(0, np.float32), None, "images")
    real = state.dataset.sample(state.config.fixed_samples, real_rng).numpy()
    modes = state.dataset.modes.numpy() if state.dataset.modes is not None else np.zeros((0, 2), np.float32)
    return Reference(real, modes, float(state.dataset.extent), grid_axis(state), state.dataset.std)


def reference_of(state: RunState) -> Reference:
    if state.reference is None:
        state.reference = make_reference(state)
    return state.reference


def checkpoint_state(state: RunState, metrics_offset: int) -> dict[str, Any]:
    return {
        "iteration": state.iteration,
        "config": state.config.to_dict(),
        "generator": state.generator.state_dict(),
        "discriminator": state.discriminator.state_dict(),
        "opt_g": state.opt_g.state_dict(),
        "opt_d": state.opt_d.state_dict(),
        "rng": {name: g.get_state() for name, g in state.rngs.items()},
        "torch_rng": torch.get_rng_state(),
        "fixed_noise": state.fixed_noise,
        "metrics_offset": metrics_offset,
        **({"ema": state.ema.state_dict()} if state.ema is not None else {}),
    }


def nonfinite_parameters(state: RunState) -> list[str]:
    named = [("generator." + n, p) for n, p in state.generator.named_parameters()]
    named += [("discriminator." + n, p) for n, p in state.discriminator.named_parameters()]
    flags = torch.stack([torch.isfinite(p).all() for _, p in named]).tolist()
    return [name for (name, _), ok in zip(named, flags) if not ok]


def restore_state(state: RunState, checkpoint: dict[str, Any], rank: int = 0) -> None:
    """Load ``checkpoint`` into ``state``: models, optimisers, this rank's RNG streams, iteration."""
    state.generator.load_state_dict(checkpoint["generator"])
    state.discriminator.load_state_dict(checkpoint["discriminator"])
    state.opt_g.load_state_dict(checkpoint["opt_g"])
    state.opt_d.load_state_dict(checkpoint["opt_d"])
    # A data-parallel checkpoint holds every rank's streams ("rank_rng"); "rng" is rank 0's.
    rng_states = checkpoint["rank_rng"][rank] if "rank_rng" in checkpoint else checkpoint["rng"]
    for name, rng_state in rng_states.items():
        state.rngs[name].set_state(rng_state)
    state.fixed_noise.copy_(checkpoint["fixed_noise"])
    if state.ema is not None:
        state.ema.load_state_dict(checkpoint["ema"])
    state.iteration = int(checkpoint["iteration"])
    # The run draws nothing from torch's global RNG, but user callbacks may: continue it too.
    torch.set_rng_state(checkpoint["torch_rng"])


def prepare_run_dir(run_dir: Path, config: ToyConfig, state: RunState, *, resume: bool,
                    overwrite: bool) -> tuple[int, dict[str, Any] | None]:
    """Create, replace or resume ``run_dir`` (the caller holds its lock); return the byte length of
    metrics.jsonl to keep and the checkpoint resumed (``None`` for a fresh start).

    ``resume`` restores the newest readable checkpoint; a run directory with no checkpoint yet (a
    run killed before its first one) starts again from iteration 0, which is identical by
    construction. ``overwrite`` removes only what gan-mixup wrote, from a folder it marked.
    """
    has_checkpoint = (run_dir / CHECKPOINT_FILE).exists() or (run_dir / PREVIOUS_CHECKPOINT_FILE).exists()
    if resume and has_checkpoint:
        checkpoint, fallbacks = load_checkpoint(run_dir, map_location=state.fixed_noise.device)
        for fallback in fallbacks:
            warnings.warn(fallback, GanMixupWarning, stacklevel=2)
        try:
            saved = ToyConfig.from_dict(checkpoint["config"])
        except ConfigError as err:
            raise ResumeError(f"cannot resume {run_dir}: its checkpoint holds a config this version rejects ({err})") from None
        conflicts = resume_conflicts(saved, config)
        if conflicts:
            raise ResumeError("the checkpoint was trained with a different setting: " + "; ".join(conflicts))
        if checkpoint["iteration"] > config.iterations:
            raise ResumeError(f"the checkpoint is at iteration {checkpoint['iteration']}, past --iterations {config.iterations}")
        check_world_size(checkpoint, state.world.world_size if state.world is not None else 1)
        restore_state(state, checkpoint)
        write_marker(run_dir, "run")
        write_config(run_dir, config.to_json())
        return int(checkpoint["metrics_offset"]), checkpoint
    if not holds_only_lock(run_dir):
        if resume and not is_marked(run_dir) and not (run_dir / CONFIG_FILE).is_file():
            raise RunDirectoryError(f"cannot resume {run_dir}: it is not a gan-mixup run directory (no {CONFIG_FILE})")
        if not (overwrite or resume):
            raise RunDirectoryError(f"{run_dir} already exists; pass --overwrite to replace it or --resume to continue it")
        if resume and not is_marked(run_dir):  # a run of an earlier version, killed before its first checkpoint
            write_marker(run_dir, "run")
        clear_run_dir(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_marker(run_dir, "run")
    write_config(run_dir, config.to_json())
    write_reference(run_dir, reference_of(state))
    return 0, None


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


@contextmanager
def _signals_to_flag(enabled: bool) -> Iterator[list[str]]:
    """While active, SIGINT/SIGTERM append their name to the yielded list instead of killing us,
    so the loop can finish the iteration, checkpoint, and stop cleanly."""
    flag: list[str] = []
    if not enabled or not _in_main_thread():
        yield flag
        return
    previous = {}

    def handler(signum: int, _frame: Any) -> None:
        flag.append(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _progress_bar(enabled: bool, total: int, initial: int, description: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit="it", dynamic_ncols=True, mininterval=0.5)

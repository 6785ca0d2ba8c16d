"""A run's evolving state: ``RunState``, built from a config and a world, saved and loaded whole.

In a data-parallel run (torchrun) each rank builds the same state and then makes it its share
(``parallel.make_data_parallel``); a single process, a world of one, takes none of that path.

Example:
    >>> from gan_mixup import RunConfig
    >>> state = build_state(RunConfig(hidden=16, fixed_samples=8))
    >>> saved = state.state_dict()
    >>> state.load_state_dict(saved)
    >>> state.iteration
    0
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from gan_mixup.config import ConfigError, RunConfig
from gan_mixup.distributed import SINGLE_PROCESS, World
from gan_mixup.modalities import TrainingModule, modality_of, training_of
from gan_mixup.objectives import TrainingObjective
from gan_mixup.rundir import Reference
from gan_mixup.training.device import run_device
from gan_mixup.training.objective import build_objective, objective_state, restore_objective_state
from gan_mixup.training.outcomes import NonFiniteError
from gan_mixup.training.parallel import check_sync_batchnorm, rank_stream_seeds


class Data(Protocol):
    """What the trainer needs of a dataset (the modality builds it): ``sample(n, generator)`` draws
    ``n`` samples from that generator alone, so a checkpointed generator state resumes the data
    stream bit-identically."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor: ...


@dataclass
class RunState:
    """Everything that evolves during a run; a checkpoint is ``state_dict()``, serialised."""

    config: RunConfig
    dataset: Data
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    objective: TrainingObjective
    rngs: dict[str, torch.Generator]  # "data", "noise", "objective"
    fixed_noise: Tensor  # (fixed_samples, latent_dim): every snapshot's G input
    ema: nn.Module | None = None  # EMA of G's weights (config.g_ema > 0); snapshots draw from it
    metric_noise: Tensor | None = None  # (metric_samples, latent_dim), the metrics' fixed G input, when they have one
    iteration: int = 0
    pending_losses: list[tuple[int, Tensor]] = field(default_factory=list)  # (iteration, its D and G losses), unchecked
    world: World = SINGLE_PROCESS  # the processes training this run (torchrun), or this one alone
    _reference: Reference | None = field(default=None, repr=False)

    @property
    def modality_training(self) -> TrainingModule:
        """What the run's modality does for the trainer: data, models, the reference, snapshots."""
        return training_of(modality_of(self.config.dataset))

    @property
    def reference(self) -> Reference:
        """The real samples every snapshot is drawn against (the modality's), made on first use
        from their own seeded stream, never from the training data stream."""
        if self._reference is None:
            generator = torch.Generator().manual_seed(int(stream_seeds(self.config.seed)[5]))
            self._reference = self.modality_training.make_reference(self.config, self.dataset, generator)
        return self._reference

    @property
    def batch_size(self) -> int:
        """This process's share of the global ``config.batch_size`` (all of it in a single process)."""
        return self.config.batch_size // self.world.world_size

    @property
    def device(self) -> torch.device:
        return self.fixed_noise.device

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint holds: models, optimisers, iteration, fixed noise, every rank's
        objective state where it keeps one (``objective``: LeCam's moving averages), and the RNG streams
        of every rank (``rank_rng``, gathered on rank 0, ``None`` on the others; ``rng`` is this
        rank's). A collective in a data-parallel run: every rank calls it at the same iteration."""
        rng = {name: g.get_state() for name, g in self.rngs.items()}
        carried = objective_state(self.objective)  # LeCam's moving averages; empty for most
        return {
            "iteration": self.iteration,
            "config": self.config.to_dict(),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": rng,
            "torch_rng": torch.get_rng_state(),
            "fixed_noise": self.fixed_noise,
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
            # every rank's (each saw its own batches), gathered on rank 0 as the RNG streams are
            **({"objective": self.world.gather_to_main(carried)} if carried else {}),
            "world_size": self.world.world_size,
            "rank_rng": self.world.gather_to_main(rng),
        }

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        """Continue from ``checkpoint``: models, optimisers, this rank's RNG streams, iteration, and
        torch's global RNG (the run draws nothing from it, but user callbacks may)."""
        self.generator.load_state_dict(checkpoint["generator"])
        self.discriminator.load_state_dict(checkpoint["discriminator"])
        self.opt_g.load_state_dict(checkpoint["opt_g"])
        self.opt_d.load_state_dict(checkpoint["opt_d"])
        # Every rank's streams are in "rank_rng"; a checkpoint without it holds one process's in "rng" (docs/runs.md).
        rng_states = checkpoint["rank_rng"][self.world.rank] if checkpoint.get("rank_rng") else checkpoint["rng"]
        for name, rng_state in rng_states.items():
            self.rngs[name].set_state(rng_state)
        self.fixed_noise.copy_(checkpoint["fixed_noise"])
        if self.ema is not None:
            self.ema.load_state_dict(checkpoint["ema"])
        objective_states = checkpoint.get("objective")
        restore_objective_state(self.objective, objective_states[self.world.rank] if objective_states else {})
        self.iteration = int(checkpoint["iteration"])
        torch.set_rng_state(checkpoint["torch_rng"])

    def checkpoint(self, last_checkpoint: int | None) -> dict[str, Any]:
        """The checkpoint of this iteration (``state_dict``), after refusing non-finite weights
        (``NonFiniteError`` naming ``last_checkpoint``, the newest checkpoint on disk).

        Every rank of a data-parallel run calls it at the same iteration: the weights are the same
        everywhere, so is the refusal; the BatchNorm statistics are made rank 0's and the RNG
        streams of every rank gathered, so a resume restores every rank exactly.
        """
        bad = self.nonfinite_parameters()
        if bad:
            raise NonFiniteError(f"non-finite parameters at iteration {self.iteration}: {', '.join(bad[:4])}",
                                 self.iteration, last_checkpoint, self.config.on_nonfinite)
        self.world.broadcast_from_main(self.generator, parameters=False)
        self.world.broadcast_from_main(self.discriminator, parameters=False)
        return self.state_dict()

    def nonfinite_parameters(self) -> list[str]:
        """The names of G's and D's parameters holding a NaN or Inf (one host sync)."""
        named = [("generator." + n, p) for n, p in self.generator.named_parameters()]
        named += [("discriminator." + n, p) for n, p in self.discriminator.named_parameters()]
        flags = torch.stack([torch.isfinite(p).all() for _, p in named]).tolist()
        return [name for (name, _), ok in zip(named, flags) if not ok]

    def sample_real(self, n: int) -> Tensor:
        return self.dataset.sample(n, self.rngs["data"]).to(self.device)

    def sample_noise(self, n: int) -> Tensor:
        return torch.randn(n, self.config.latent_dim, generator=self.rngs["noise"], device=self.device)


def stream_seeds(seed: int) -> np.ndarray:
    """Six independent seeds from one: model init, data, noise, objective, fixed noise, frame reals."""
    return np.random.SeedSequence(seed).generate_state(6)


def build_state(config: RunConfig, world: World = SINGLE_PROCESS) -> RunState:
    """Models, optimisers, objective and RNG streams of a fresh run, all derived from ``config.seed``;
    in a world of several processes, this rank's share of it (``make_data_parallel``).

    Model initialisation draws from torch's global RNG, so it runs inside ``fork_rng`` with the
    run's seed: the user's global RNG state is left untouched, and two runs with one seed (ERM and
    mixup in ``compare``) start from identical networks and see the same fixed noise.
    """
    device = run_device(config)
    dataset = training_of(modality_of(config.dataset)).build_data(config)
    seeds = stream_seeds(config.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seeds[0]))
        generator, discriminator = build_models(config, dataset)
        generator, discriminator = generator.to(device), discriminator.to(device)
    rngs = {name: torch.Generator(device).manual_seed(int(s)) for name, s in zip(("data", "noise", "objective"), seeds[1:4])}
    fixed = torch.Generator(device).manual_seed(int(seeds[4]))
    fixed_noise = torch.randn(config.fixed_samples, config.latent_dim, generator=fixed, device=device)
    # Drawn after the fixed noise from the same stream, so the fixed noise is the same with or without it.
    metric_noise = (torch.randn(config.metric_samples, config.latent_dim, generator=fixed, device=device)
                    if config.metric_samples else None)
    state = RunState(
        config=config,
        dataset=dataset,
        generator=generator,
        discriminator=discriminator,
        opt_g=make_adam(generator.parameters(), config),
        opt_d=make_adam(discriminator.parameters(), config),
        objective=build_objective(config, rngs["objective"]),
        rngs=rngs,
        fixed_noise=fixed_noise,
        ema=copy.deepcopy(generator).requires_grad_(False) if config.g_ema > 0 else None,
        metric_noise=metric_noise,
    )
    if not world.alone:
        make_data_parallel(state, world)
    return state


def build_models(config: RunConfig, dataset: Any) -> tuple[nn.Module, nn.Module]:
    """G and D of the run's modality (the paper's MLPs for toy data, DCGAN for images)."""
    return training_of(modality_of(config.dataset)).build_models(config, dataset)


def make_adam(parameters: Iterable[Tensor], config: RunConfig) -> torch.optim.Adam:
    """The run's optimiser over ``parameters`` (a model's, or the lockstep trainer's stacked ones)."""
    # fused=True runs the whole Adam update as one kernel per device (CPU included since torch 2.4):
    # about 30 small ops per parameter tensor fewer than the default, which matters at batch 128.
    return torch.optim.Adam(parameters, lr=config.lr, betas=config.betas, fused=True)


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
        check_sync_batchnorm(config, state.discriminator, state.device)
        # The same Parameter objects move into the SyncBatchNorm layers: the optimisers keep working.
        state.generator = nn.SyncBatchNorm.convert_sync_batchnorm(state.generator)
        state.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(state.discriminator)
    for module in (state.generator, state.discriminator, *([state.ema] if state.ema is not None else [])):
        world.broadcast_from_main(module)
    state.world = world

"""A run's evolving state: ``RunState``, built from a config and a world, saved and loaded whole.

In a data-parallel run (torchrun) each rank builds the same state and then makes it its share
(``make_data_parallel``); the collectives are ``gan_mixup.distributed``'s, through the run's
``World``, and a single process, a world of one, takes none of that path.

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

from gan_mixup import precision
from gan_mixup.config import ConfigError, RunConfig
from gan_mixup.distributed import SINGLE_PROCESS, World
from gan_mixup.modalities import Modality, modality_of
from gan_mixup.objectives import OBJECTIVES, MixupGAN, ObjectiveError, TrainingObjective, get_objective
from gan_mixup.regularizers import parse_regularizer, with_regularizers
from gan_mixup.rundir import Reference


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
    def modality(self) -> Modality:
        return modality_of(self.config.dataset)

    @property
    def reference(self) -> Reference:
        """The real samples every snapshot is drawn against (the modality's), made on first use
        from their own seeded stream, never from the training data stream."""
        if self._reference is None:
            generator = torch.Generator().manual_seed(int(stream_seeds(self.config.seed)[5]))
            self._reference = self.modality.make_reference(self.config, self.dataset, generator)
        return self._reference

    @property
    def batch_size(self) -> int:
        """This process's share of the global ``config.batch_size`` (all of it in a single process)."""
        return self.config.batch_size // self.world.world_size

    @property
    def device(self) -> torch.device:
        return self.fixed_noise.device

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint holds: models, optimisers, iteration, fixed noise, and the RNG streams
        of every rank (``rank_rng``, gathered on rank 0, ``None`` on the others; ``rng`` is this
        rank's). A collective in a data-parallel run: every rank calls it at the same iteration."""
        rng = {name: g.get_state() for name, g in self.rngs.items()}
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
        # Every rank's streams are in "rank_rng"; checkpoints of one process before it was written have "rng" alone.
        rng_states = checkpoint["rank_rng"][self.world.rank] if checkpoint.get("rank_rng") else checkpoint["rng"]
        for name, rng_state in rng_states.items():
            self.rngs[name].set_state(rng_state)
        self.fixed_noise.copy_(checkpoint["fixed_noise"])
        if self.ema is not None:
            self.ema.load_state_dict(checkpoint["ema"])
        self.iteration = int(checkpoint["iteration"])
        torch.set_rng_state(checkpoint["torch_rng"])

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


def build_objective(config: RunConfig, generator: torch.Generator | None = None) -> TrainingObjective:
    """The objective named by ``config``, with its options and regularizers; all its randomness
    (λ, shuffles, interpolates, instance noise) is drawn from ``generator``."""
    objective = _base_objective(config, generator)
    if not config.regularizers:
        return objective
    return with_regularizers(objective, *(parse_regularizer(spec, generator) for spec in config.regularizers))


def check_config(config: RunConfig) -> None:
    """Raise the error a run of ``config`` would hit at start-up (unknown objective options,
    regularizers, dataset options), without building models or touching the disk."""
    run_device(config)
    modality_of(config.dataset).build_data(config)
    build_objective(config)
    check_fid_weights(config)


def check_fid_weights(config: RunConfig) -> None:
    """``--fid-weights``: the local weights file and the torch-fidelity extra, before anything is written."""
    if config.fid_weights:
        from gan_mixup.modalities.images.metrics import check_inception

        check_inception(config.fid_weights)


def run_device(config: RunConfig) -> torch.device:
    """The device ``config`` trains on; ``ConfigError`` when it is missing here or ``amp`` cannot run on it
    (see ``gan_mixup.precision``)."""
    device = resolve_device(config.device)
    refusal = precision.amp_refusal(device) if config.amp else None
    if refusal is not None:
        raise ConfigError(refusal)
    return device


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when present, else the CPU; any other name must be usable here.

    Raises ``ConfigError`` for a device this machine lacks (``cuda`` without a GPU, ``cuda:3`` on a
    machine with two, ``mps`` off Apple silicon), before anything is built or written.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} is not usable here: torch finds no CUDA GPU (use --device cpu or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} is not usable here: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError(f"device {name!r} is not usable here: MPS is not available (use --device cpu or auto)")
    return device


# --d-forward: D on real and fake in one forward or two; "auto" lets the objective decide (two exactly
# when D has BatchNorm).
SEPARATE_FORWARDS = {"auto": None, "joint": False, "separate": True}


def _base_objective(config: RunConfig, generator: torch.Generator | None) -> TrainingObjective:
    separate_forwards = SEPARATE_FORWARDS[config.d_forward]
    if config.objective == "mixup":
        return MixupGAN(
            alpha=config.alpha,
            per_sample=config.lambda_sampling == "per-sample",
            generator_loss=config.generator_loss,
            lambda_distribution=config.lambda_distribution,
            pairing=config.pairing,
            generator=generator,
            separate_forwards=separate_forwards,
        )
    options: dict[str, object] = dict(config.objective_options)
    if config.objective == "erm":
        options.setdefault("generator_loss", config.generator_loss)
    elif config.generator_loss != "non-saturating":
        raise ObjectiveError(f"--generator-loss applies to erm and mixup only, not {config.objective!r}")
    if OBJECTIVES[config.objective].draws_randomness:
        options["generator"] = generator
    options["separate_forwards"] = separate_forwards
    return get_objective(config.objective, **options)


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
    dataset = modality_of(config.dataset).build_data(config)
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
    """G and D of the run's modality (the paper's MLPs for points, DCGAN for images)."""
    return modality_of(config.dataset).build_models(config, dataset)


def make_adam(parameters: Iterable[Tensor], config: RunConfig) -> torch.optim.Adam:
    """The run's optimiser over ``parameters`` (a model's, or the lockstep trainer's stacked ones)."""
    # fused=True runs the whole Adam update as one kernel per device (CPU included since torch 2.4):
    # about 30 small ops per parameter tensor fewer than the default, which matters at batch 128.
    return torch.optim.Adam(parameters, lr=config.lr, betas=config.betas, fused=True)


# ----- a rank's share of a data-parallel run ---------------------------------------------------

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
        check_sync_batchnorm(config, state.discriminator, state.device)
        # The same Parameter objects move into the SyncBatchNorm layers: the optimisers keep working.
        state.generator = nn.SyncBatchNorm.convert_sync_batchnorm(state.generator)
        state.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(state.discriminator)
    for module in (state.generator, state.discriminator, *([state.ema] if state.ema is not None else [])):
        world.broadcast_from_main(module)
    state.world = world


def check_sync_batchnorm(config: RunConfig, discriminator: nn.Module, device: torch.device) -> None:
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


def check_same_config(config: RunConfig, world: World) -> None:
    """``ConfigError`` on every rank when the ranks were given different configs (one collective)."""
    configs = world.all_gather(config.to_json())
    if any(other != configs[0] for other in configs):
        differ = [rank for rank, other in enumerate(configs) if other != configs[0]]
        raise ConfigError(f"the processes were given different configs (ranks {differ} differ from rank 0); "
                          "start every rank with the same command")

"""A run's evolving state and how a fresh one is built from a config."""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from gan_mixup.config import ConfigError, ToyConfig
from gan_mixup.modalities import modality_of
from gan_mixup import precision
from gan_mixup.objectives import OBJECTIVES, MixupGAN, Objective, ObjectiveError, get_objective
from gan_mixup.regularizers import parse_regularizer, with_regularizers
from gan_mixup.rundir import Reference
from gan_mixup.data import build_data, resolve_device
from gan_mixup.distributed import World
from toy_data import ToyDataset


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


def build_models(config: ToyConfig, dataset: Any) -> tuple[nn.Module, nn.Module]:
    """G and D for the run's kind: the paper's MLPs for points, DCGAN for images."""
    return modality_of(config.dataset).build_models(config, dataset)


def make_adam(module: nn.Module, config: ToyConfig) -> torch.optim.Adam:
    # fused=True runs the whole Adam update as one kernel per device (CPU included since torch 2.4):
    # about 30 small ops per parameter tensor fewer than the default, which matters at batch 128.
    return torch.optim.Adam(module.parameters(), lr=config.lr, betas=config.betas, fused=True)


def sample_real(state: RunState, n: int) -> Tensor:
    return state.dataset.sample(n, state.rngs["data"]).to(state.fixed_noise.device)


def sample_noise(state: RunState, n: int) -> Tensor:
    return torch.randn(n, state.config.latent_dim, generator=state.rngs["noise"], device=state.fixed_noise.device)


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

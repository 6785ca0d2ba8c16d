"""The configuration of one toy GAN run: a frozen dataclass, validated on construction, JSON in and out.

Example:
    >>> cfg = ToyConfig(dataset="ring8", objective="mixup", alpha=0.2, iterations=100)
    >>> ToyConfig.from_json(cfg.to_json()) == cfg
    True
"""
from __future__ import annotations

from gan_mixup.errors import GanMixupError

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan_mixup.objectives import GENERATOR_LOSSES, LAMBDA_DISTRIBUTIONS, LAMBDA_SAMPLINGS, OBJECTIVES, PAIRINGS
from gan_mixup.snapshots import PAPER_ITERATIONS  # noqa: F401  (re-exported: part of the config's vocabulary)
from gan_mixup.regularizers import RegularizerError, parse_regularizer
from toy_data import DATASETS


class ConfigError(GanMixupError, ValueError):
    """A configuration value is out of range, of the wrong type, or unknown."""


@dataclass(frozen=True)
class ToyConfig:
    # what is trained
    dataset: str = "ring8"  # toy_data name: ring8, grid25, spiral, swissroll, moons
    dataset_options: dict[str, float] = field(default_factory=dict)  # e.g. {"radius": 2.0, "std": 0.02}
    objective: str = "mixup"  # erm, mixup, wgan-gp, hinge, lsgan (`gan-mixup objectives` lists them)
    alpha: float = 0.2  # mixup: λ ~ Beta(α, α), or U(0, α) with the uniform distribution
    lambda_distribution: str = "beta"  # mixup: beta (paper's text) or uniform (authors' code)
    lambda_sampling: str = "per-sample"  # mixup: per-sample or per-batch λ
    pairing: str = "real-fake"  # mixup: real-fake (paper's text) or shuffled (authors' code)
    generator_loss: str = "non-saturating"  # non-saturating, saturating, mixed (mixup only), minimax
    objective_options: dict[str, float] = field(default_factory=dict)  # extra keyword options of other objectives
    regularizers: tuple[str, ...] = ()  # e.g. ("r1:10",); see gan_mixup.regularizers
    spectral_norm: bool = False  # spectral normalization on every layer of D
    # the paper's toy networks and optimiser
    latent_dim: int = 2  # size of G's Gaussian noise
    hidden: int = 512  # width of every hidden layer, G and D
    layers: int = 3  # hidden layers, G and D
    iterations: int = 20000  # generator iterations
    batch_size: int = 128  # real (and fake) samples per step
    d_steps: int = 5  # discriminator steps per generator step
    lr: float = 1e-3  # Adam learning rate, G and D (Adam's default)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas (Adam's default)
    seed: int = 0  # seeds model init, data, noise and λ
    # what is recorded
    snapshot_frames: int = 200  # size of the dense log-spaced snapshot schedule for the GIF
    snapshot_iterations: tuple[int, ...] = ()  # explicit extra snapshot iterations
    fixed_samples: int = 1000  # fake samples per snapshot, from one fixed noise batch
    grid_size: int = 64  # D is evaluated on a grid_size × grid_size grid per snapshot
    log_every: int = 10  # iterations between metrics.jsonl records
    checkpoint_every: int = 1000  # iterations between checkpoints (and one at the end)
    on_nonfinite: str = "stop"  # stop or skip an update whose loss is NaN/Inf
    # how it runs
    device: str = "cpu"  # torch device string
    preset: str | None = None  # name of the preset this config came from, for the record

    def __post_init__(self) -> None:
        # JSON gives lists; keep the frozen dataclass hashable-ish and comparable.
        for name in ("betas", "regularizers", "snapshot_iterations"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):  # tuple(0.9) would fail without naming the field
                raise ConfigError(f"{name} must be a list, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        self._validate()

    def _validate(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(DATASETS)}")
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r}; choose one of: {', '.join(OBJECTIVES)}")
        _positive_int(self, "iterations", "batch_size", "d_steps", "latent_dim", "hidden", "layers",
                      "fixed_samples", "grid_size", "log_every", "checkpoint_every")
        if not isinstance(self.snapshot_frames, int) or isinstance(self.snapshot_frames, bool) or self.snapshot_frames < 0:
            raise ConfigError(f"snapshot_frames must be an integer >= 0, got {self.snapshot_frames!r}")
        for name in ("dataset_options", "objective_options"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a JSON object of option: value, got {getattr(self, name)!r}")
        if not isinstance(self.spectral_norm, bool):
            raise ConfigError(f"spectral_norm must be true or false, got {self.spectral_norm!r}")
        if not _finite(self.alpha) or self.alpha < 0:
            raise ConfigError(f"alpha must be a finite number > 0, got {self.alpha!r}")
        if self.alpha == 0 and self.objective == "mixup" and self.lambda_distribution != "uniform":
            raise ConfigError("alpha must be > 0 for mixup (alpha 0 is allowed only with --lambda-distribution uniform)")
        if self.alpha > 1 and self.objective == "mixup" and self.lambda_distribution == "uniform":
            # MixupGAN refuses it too; catching it here keeps a run from failing only after start-up.
            raise ConfigError(f"alpha is the upper bound of λ with the uniform distribution and must be <= 1, got {self.alpha}")
        if not _finite(self.lr) or self.lr <= 0:
            raise ConfigError(f"lr must be a finite number > 0, got {self.lr!r}")
        if len(self.betas) != 2 or not all(_finite(b) and 0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        _choice(self, "lambda_distribution", LAMBDA_DISTRIBUTIONS)
        _choice(self, "lambda_sampling", LAMBDA_SAMPLINGS)
        _choice(self, "pairing", PAIRINGS)
        _choice(self, "generator_loss", GENERATOR_LOSSES)
        _choice(self, "on_nonfinite", ("stop", "skip"))
        for it in self.snapshot_iterations:
            if not isinstance(it, int) or isinstance(it, bool) or not 1 <= it <= self.iterations:
                raise ConfigError(
                    f"snapshot iteration {it!r} is outside the run (1..{self.iterations}); "
                    "raise --iterations or drop it from the schedule"
                )
        for spec in self.regularizers:
            try:
                parse_regularizer(spec)
            except RegularizerError as err:
                raise ConfigError(str(err)) from None
        if not _valid_device(self.device):
            raise ConfigError(f"unknown device {self.device!r}; use e.g. cpu, cuda or cuda:0")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")

    # ----- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        data["regularizers"] = list(self.regularizers)
        data["snapshot_iterations"] = list(self.snapshot_iterations)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ToyConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as err:
            raise ConfigError(f"bad config value: {err}") from None

    @classmethod
    def from_json(cls, text: str) -> "ToyConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"config is not valid JSON: {err}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> "ToyConfig":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no config file at {path}")
        return cls.from_json(path.read_text())

    def replace(self, **changes: Any) -> "ToyConfig":
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


# Fields that must match for a checkpoint to be resumed; the rest (iterations, logging, ...) may change.
ARCHITECTURE_FIELDS = (
    "dataset", "dataset_options", "objective", "alpha", "lambda_distribution", "lambda_sampling", "pairing",
    "generator_loss", "objective_options", "regularizers", "spectral_norm", "latent_dim", "hidden", "layers", "batch_size",
    "d_steps", "lr", "betas", "seed", "fixed_samples", "grid_size",
)


def resume_conflicts(saved: ToyConfig, new: ToyConfig) -> list[str]:
    """Fields whose change would make a resumed run a different run, as ``name: old -> new``."""
    return [
        f"{name}: {getattr(saved, name)!r} -> {getattr(new, name)!r}"
        for name in ARCHITECTURE_FIELDS
        if getattr(saved, name) != getattr(new, name)
    ]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _valid_device(name: Any) -> bool:
    import torch  # already loaded through gan_mixup.objectives

    try:
        torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def _positive_int(cfg: ToyConfig, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _choice(cfg: ToyConfig, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(cfg, name)
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")

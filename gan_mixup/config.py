"""The configuration of one run, toy or image: a frozen dataclass, validated on construction, JSON in and out.

The data decides the kind of run: a ``toy_data`` name (ring8, grid25, ...) trains the paper's MLPs on
2-D points, an image dataset name (digits, stacked-digits, mnist, ...) trains a DCGAN. Fields left
``None`` take the default of the dataset's modality (``Modality.defaults``: the paper's toy settings,
or the DCGAN paper's), resolved on construction, so ``config.json`` always spells every value out.

Example:
    >>> cfg = ToyConfig(dataset="ring8", objective="mixup", alpha=0.2, iterations=100)
    >>> ToyConfig.from_json(cfg.to_json()) == cfg
    True
    >>> RunConfig(dataset="digits").hidden, RunConfig(dataset="mnist", data_root="x").hidden, RunConfig().hidden
    (32, 64, 512)
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan_mixup.errors import GanMixupError
from gan_mixup.objectives import GENERATOR_LOSSES, LAMBDA_DISTRIBUTIONS, LAMBDA_SAMPLINGS, OBJECTIVES, PAIRINGS
from gan_mixup.presets import PRESETS
from gan_mixup.rundir import PAPER_ITERATIONS  # noqa: F401  (re-exported: part of the config's vocabulary)
from gan_mixup.regularizers import RegularizerError, parse_regularizer
from gan_mixup.modalities import Modality, all_datasets, modality_of
D_FORWARDS = ("auto", "joint", "separate")

# Upper limits where memory or time is at stake; each is in the flag's --help. A modality may lower
# them (``Modality.limits``).
LIMITS = {
    "iterations": 10**9, "batch_size": 65536, "d_steps": 100, "latent_dim": 4096, "hidden": 16384, "layers": 64,
    "fixed_samples": 100_000, "grid_size": 1024, "log_every": 10**9, "checkpoint_every": 10**9,
    "snapshot_frames": 10_000, "seed": 2**63 - 1,
}
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class ConfigError(GanMixupError, ValueError):
    """A configuration value is out of range, of the wrong type, or unknown."""


def _default_of(name: str) -> Any:
    """RunConfig's own default of field ``name`` (before any modality's)."""
    spec = _FIELDS[name]
    return spec.default_factory() if spec.default_factory is not dataclasses.MISSING else spec.default


def _readers(name: str) -> list[Modality]:
    """The registered modalities that read field ``name`` (refuse it not)."""
    from gan_mixup.modalities import REGISTRY

    return [m for m in REGISTRY.values() if name not in m.refused_fields]


def dataset_kind(dataset: str) -> str:
    """The name of the modality that serves ``dataset`` (``"points"``, ``"images"``)."""
    return modality_of(dataset).name


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run, toy or image; saved as the run's ``config.json``.

    The dataset decides the kind (``kind``: ``"points"`` or ``"images"``); fields left ``None`` take
    that kind's default on construction. Each field's comment in the source gives its meaning and
    allowed values. An invalid value raises ``ConfigError``; ``to_json``/``from_json`` and ``load``
    round-trip the file, ``replace`` gives a validated copy.
    """

    # what is trained
    dataset: str = "ring8"  # toy: ring8, grid25, spiral, swissroll, moons; images: digits, stacked-digits, mnist, fashion-mnist, cifar10, folder
    dataset_options: dict[str, float] = field(default_factory=dict)  # toy only, e.g. {"radius": 2.0, "std": 0.02}
    objective: str = "mixup"  # erm, mixup, wgan-gp, hinge, lsgan (`gan-mixup objectives` lists them)
    alpha: float = 0.2  # mixup: λ ~ Beta(α, α), or U(0, α) with the uniform distribution
    lambda_distribution: str = "beta"  # mixup: beta (paper's text) or uniform (authors' code)
    lambda_sampling: str = "per-sample"  # mixup: per-sample or per-batch λ
    pairing: str = "real-fake"  # mixup: real-fake (paper's text) or shuffled (authors' code)
    generator_loss: str = "non-saturating"  # non-saturating, saturating, mixed (mixup only), minimax
    objective_options: dict[str, float] = field(default_factory=dict)  # extra keyword options of non-mixup objectives
    regularizers: tuple[str, ...] = ()  # e.g. ("r1:10",); see gan_mixup.regularizers
    spectral_norm: bool = False  # spectral normalization on every layer of D
    # networks and optimiser (None: the kind's default, KIND_DEFAULTS)
    latent_dim: int | None = None  # size of G's Gaussian noise (points 2, images 100)
    hidden: int | None = None  # MLP width (points 512) or DCGAN base feature maps (images 64, digits 32)
    layers: int = 3  # hidden layers of the toy MLPs (images: set by image_size)
    image_size: int | None = None  # images: side in pixels, 16, 32 or 64 (digits 16, else 32)
    channels: int | None = None  # images: 1 or 3 (None: the dataset's own; folder images are converted)
    data_root: str | None = None  # images: local folder of mnist, fashion-mnist, cifar10 or folder data
    d_forward: str = "auto"  # D on real and fake: joint (one forward) or separate (two, BatchNorm's way); auto: separate for images
    iterations: int | None = None  # generator iterations (points 20000, images 2000)
    batch_size: int | None = None  # real (and fake) samples per step (points 128, images 64)
    d_steps: int | None = None  # discriminator steps per generator step (points 5, images 1)
    lr: float | None = None  # Adam learning rate, G and D (points 1e-3, images 2e-4)
    betas: tuple[float, float] | None = None  # Adam betas (points (0.9, 0.999), images (0.5, 0.999))
    g_ema: float = 0.0  # decay of an exponential moving average of G's weights; snapshots use it when > 0
    amp: bool = False  # bfloat16 autocast for G and D forwards: CUDA, or a CPU with native bfloat16
    sync_batchnorm: bool = False  # data-parallel on CUDA: BatchNorm statistics over the global batch (SyncBatchNorm)
    seed: int = 0  # seeds model init, data, noise and λ
    # what is recorded
    snapshot_frames: int | None = None  # size of the dense log-spaced snapshot schedule for the GIF
    snapshot_iterations: tuple[int, ...] = ()  # explicit extra snapshot iterations
    fixed_samples: int | None = None  # fake samples per snapshot, from one fixed noise batch (points 1000, images 64)
    metric_samples: int | None = None  # images: fakes (and reals) the snapshot metrics use, beyond the grid (default 1000); points: 0
    fid_weights: str | None = None  # images: a local InceptionV3 weights file (torch-fidelity's); adds FID and KID to the metrics (extra gan-mixup[fid])
    metric_frames: int | None = None  # images: metrics at this many log-spaced iterations (and the paper's, the last; default 12), each also a snapshot; points: 0 = every snapshot
    grid_size: int = 64  # points: D is evaluated on a grid_size × grid_size grid per snapshot
    log_every: int = 10  # iterations between metrics.jsonl records
    checkpoint_every: int | None = None  # iterations between checkpoints (and one at the end)
    checkpoint_seconds: float = 60.0  # also checkpoint when this many seconds passed since the last; 0: off
    on_nonfinite: str = "stop"  # stop the run, or skip an update whose loss is NaN/Inf
    # how it runs
    device: str = "auto"  # auto (cuda when present, else cpu), cpu, cuda, cuda:N or mps
    preset: str | None = None  # name of the preset this config came from, for the record

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or self.dataset not in all_datasets():
            raise ConfigError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(all_datasets())}")
        modality = self.modality
        for name, value in {**modality.defaults, **modality.dataset_defaults(self.dataset)}.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        # JSON gives lists; keep the frozen dataclass comparable.
        for name in ("betas", "regularizers", "snapshot_iterations"):
            value = getattr(self, name)
            if not isinstance(value, (list, tuple)):  # tuple(0.9) would fail without naming the field
                raise ConfigError(f"{name} must be a list, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        self._validate()

    @property
    def kind(self) -> str:
        """``"points"`` (toy data, MLPs) or ``"images"`` (image data, DCGAN)."""
        return self.modality.name

    @property
    def modality(self) -> Modality:
        """The modality that serves the dataset: its defaults, limits and the fields it refuses."""
        return modality_of(self.dataset)

    def _validate(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r}; choose one of: {', '.join(OBJECTIVES)}")
        _positive_int(self, "iterations", "batch_size", "d_steps", "latent_dim", "hidden", "layers",
                      "fixed_samples", "log_every", "checkpoint_every")
        if not isinstance(self.grid_size, int) or isinstance(self.grid_size, bool) or self.grid_size < 2:
            raise ConfigError(f"grid_size must be an integer >= 2, got {self.grid_size!r}")
        for name in ("snapshot_frames", "metric_samples", "metric_frames"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")
        for name in ("dataset_options", "objective_options"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a JSON object of option: value, got {getattr(self, name)!r}")
        for name in ("spectral_norm", "amp", "sync_batchnorm"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
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
        if not _finite(self.g_ema) or not 0 <= self.g_ema < 1:
            raise ConfigError(f"g_ema must be a decay in [0, 1) (0: off), got {self.g_ema!r}")
        if not _finite(self.checkpoint_seconds) or self.checkpoint_seconds < 0:
            raise ConfigError(f"checkpoint_seconds must be a number >= 0 (0: off), got {self.checkpoint_seconds!r}")
        _choice(self, "lambda_distribution", LAMBDA_DISTRIBUTIONS)
        _choice(self, "lambda_sampling", LAMBDA_SAMPLINGS)
        _choice(self, "pairing", PAIRINGS)
        _choice(self, "generator_loss", GENERATOR_LOSSES)
        _choice(self, "on_nonfinite", ("stop", "skip"))
        _choice(self, "d_forward", D_FORWARDS)
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
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise ConfigError(f"unknown device {self.device!r}; use auto, cpu, cuda, cuda:N or mps")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.preset is not None and (not isinstance(self.preset, str) or self.preset not in PRESETS):
            raise ConfigError(f"unknown preset {self.preset!r}; choose one of: {', '.join(PRESETS)} (or null for none)")
        limits = {**LIMITS, **self.modality.limits}
        for name, limit in limits.items():
            if getattr(self, name) > limit:
                raise ConfigError(f"{name} must be at most {limit}, got {getattr(self, name)!r}")
        self._validate_data()
        self._validate_objective_options()

    def _validate_data(self) -> None:
        modality = self.modality
        for name, why in modality.refused_fields.items():
            default = modality.defaults.get(name, _default_of(name))
            if getattr(self, name) != default:
                users = [m.label for m in _readers(name)]
                raise ConfigError(f"{name} applies to {' and '.join(users) or 'no'} datasets only, not {self.dataset!r} "
                                  f"({why}); " + ("leave it out" if default is None else f"leave it at {default}"))
        for name, choices in modality.choices.items():
            value = getattr(self, name)
            if value is not None and not any(type(value) is type(c) and value == c for c in choices):
                raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
        problem = modality.config_problem(self)
        if problem:
            raise ConfigError(problem)

    def _validate_objective_options(self) -> None:
        if not self.objective_options:
            return
        if self.objective == "mixup":
            raise ConfigError("objective_options do not apply to mixup: set it with --alpha, --lambda-distribution, "
                              "--lambda-sampling, --pairing and --generator-loss")
        accepted = [p for p in inspect.signature(OBJECTIVES[self.objective]).parameters if p != "generator"]
        for key, value in self.objective_options.items():
            if key not in accepted:
                raise ConfigError(f"objective {self.objective!r} has no option {key!r}; its options are: "
                                  f"{', '.join(accepted) or 'none'}")
            if key != "generator_loss" and not _finite(value):
                raise ConfigError(f"objective option {key} must be a finite number, got {value!r}")

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
    def from_dict(cls, data: dict[str, Any], defaults: dict[str, Any] | None = None) -> "RunConfig":
        """The config of ``data``; ``defaults`` fill the fields it leaves out (e.g. a command's own dataset)."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(data).__name__}")
        data = {**(defaults or {}), **data}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as err:
            raise ConfigError(f"bad config value: {err}") from None

    @classmethod
    def from_json(cls, text: str, defaults: dict[str, Any] | None = None) -> "RunConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"config is not valid JSON: {err}") from None
        except RecursionError:
            raise ConfigError("config is nested too deeply to be a RunConfig (a config is one flat JSON object)") from None
        return cls.from_dict(data, defaults)

    @classmethod
    def load(cls, path: str | Path, defaults: dict[str, Any] | None = None) -> "RunConfig":
        """The config in JSON file ``path``; ``defaults`` fill the fields the file leaves out."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no config file at {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not a text file; a config is JSON as written to RUN_DIR/config.json") from None
        except OSError as err:
            raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
        return cls.from_json(text, defaults)

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
ToyConfig = RunConfig  # the name from before image data; the same class

# Fields that must match for a checkpoint to be resumed; the rest (iterations, logging, ...) may change.
ARCHITECTURE_FIELDS = (
    "dataset", "dataset_options", "objective", "alpha", "lambda_distribution", "lambda_sampling", "pairing",
    "generator_loss", "objective_options", "regularizers", "spectral_norm", "latent_dim", "hidden", "layers", "batch_size",
    "d_steps", "lr", "betas", "seed", "fixed_samples", "grid_size", "image_size", "channels", "d_forward", "g_ema", "amp", "metric_samples",
    "sync_batchnorm",
)


def resume_conflicts(saved: RunConfig, new: RunConfig) -> list[str]:
    """Fields whose change would make a resumed run a different run, as ``name: old -> new``."""
    return [
        f"{name}: {getattr(saved, name)!r} -> {getattr(new, name)!r}"
        for name in ARCHITECTURE_FIELDS
        if getattr(saved, name) != getattr(new, name)
    ]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(cfg: RunConfig, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _choice(cfg: RunConfig, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(cfg, name)
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")

"""The configuration of one run, toy or image: a frozen dataclass, validated on construction, JSON in and out.

The data decides the kind of run: a ``toy_data`` name (ring8, grid25, ...) trains the paper's MLPs on
2-D points, an image dataset name (digits, stacked-digits, mnist, ...) trains a DCGAN. Fields left
``None`` take the default of the dataset's modality (``ModalitySpec.defaults``: the paper's toy settings,
or the DCGAN paper's), resolved on construction, so ``config.json`` always spells every value out.

Example:
    >>> cfg = RunConfig(dataset="ring8", objective="mixup", alpha=0.2, iterations=100)
    >>> RunConfig.from_json(cfg.to_json()) == cfg
    True
    >>> RunConfig(dataset="digits").hidden, RunConfig(dataset="mnist", data_root="x").hidden, RunConfig().hidden
    (32, 64, 512)
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from gan_mixup.errors import GanMixupError
from gan_mixup.objectives import GENERATOR_LOSSES, LAMBDA_DISTRIBUTIONS, LAMBDA_SAMPLINGS, OBJECTIVES, PAIRINGS, options_of
from gan_mixup.presets import DATA_SCALES, PRESETS, Preset, get_preset, preset_fields
from gan_mixup.rundir import PAPER_ITERATIONS  # noqa: F401  (re-exported: part of the config's vocabulary)
from gan_mixup.regularizers import RegularizerError, parse_regularizer
from gan_mixup.augment import SPATIAL_OPS, AugmentError, parse_policy, policy_text
from gan_mixup.modalities import REGISTRY, ModalitySpec, all_datasets, modality_of
D_FORWARDS = ("auto", "joint", "separate")
G_STEP_BATCHNORMS = ("batch", "running")

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class ConfigError(GanMixupError, ValueError):
    """A configuration value is out of range, of the wrong type, or unknown."""


def field_default(name: str) -> Any:
    """RunConfig's own default of field ``name`` (before any modality's)."""
    spec = _FIELDS[name]
    return spec.default_factory() if spec.default_factory is not dataclasses.MISSING else spec.default


def readers_of(name: str) -> list[ModalitySpec]:
    """The registered modalities that read field ``name`` (refuse it not)."""
    return [m for m in REGISTRY.values() if name not in m.refused_fields]


@dataclass(frozen=True)
class FieldSpec:
    """What a RunConfig field is, declared once beside it: the CLI flag, its --help, the resume rule.

    ``help`` says what the field means; the per-modality defaults and the limits are added to it
    from the modalities (``config_flags.flag_help``), so each is written in one place. ``group`` is
    the --help section of its flag (``GROUPS``), ``None`` for a field without a flag; ``flag`` its
    name where it is not ``--field-name``; ``aliases`` further flags as ``(flag, group, help, after)``: the alias
    is listed after field ``after``. ``limit`` is an upper limit for integers (a modality may lower
    it), ``choices`` the allowed values, and ``resume_must_match`` whether a changed value would make
    a resumed run a different run.
    """

    help: str
    group: str | None = None
    flag: str | None = None
    metavar: str | None = None
    choices: tuple[Any, ...] | None = None
    limit: int | None = None
    limit_in_help: bool = True
    resume_must_match: bool = False
    aliases: tuple[tuple[str, str, str, str], ...] = ()


GROUPS = {
    "trained": "what is trained",
    "networks": "networks and optimisation (defaults: the paper's for toy data, DCGAN's for images)",
    "recording": "recording",
    "images": "image data (digits, stacked-digits, mnist, fashion-mnist, cifar10, stacked-mnist, folder)",
}


def _field(default: Any = None, help: str = "", *, factory: Any = None, **spec: Any) -> Any:
    metadata = {"spec": FieldSpec(help=help, **spec)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one run, toy or image; saved as the run's ``config.json``.

    The dataset decides the modality (``modality``: ``"toy"`` or ``"images"``); fields left ``None``
    take that modality's default on construction. Each field's ``FieldSpec`` (``field_spec(name)``)
    gives its meaning, its flag and its limits. An invalid value raises ``ConfigError``;
    ``to_json``/``from_json`` and ``load`` round-trip the file, ``replace`` gives a validated copy.
    """

    # what is trained
    dataset: str = _field("ring8", "{datasets}", group="trained", resume_must_match=True)
    dataset_options: dict[str, float | str] = _field(
        factory=dict, group="trained", flag="--dataset-option", metavar="KEY=VALUE", resume_must_match=True,
        help="a toy dataset parameter, e.g. radius=2, std=0.05, n_modes=8 (whole number, at most 10000) (repeatable)")
    objective: str = _field("mixup", "erm, mixup, ... (`gan-mixup objectives` lists all; default mixup)",
                            group="trained", resume_must_match=True)
    alpha: float = _field(0.2, "mixup α: λ ~ Beta(α, α), or U(0, α) with --lambda-distribution uniform (default 0.2)",
                          group="trained", resume_must_match=True)
    lambda_distribution: str = _field(
        "beta", "mixup λ distribution: beta (paper's text, default) or uniform (authors' code)",
        group="trained", choices=LAMBDA_DISTRIBUTIONS, resume_must_match=True)
    lambda_sampling: str = _field("per-sample", "one λ per sample (default) or per batch", group="trained",
                                  choices=LAMBDA_SAMPLINGS, resume_must_match=True)
    pairing: str = _field(
        "real-fake", "mixup pairs: real-fake (paper's text, default) or shuffled real∪fake batches (authors' code)",
        group="trained", choices=PAIRINGS, resume_must_match=True)
    generator_loss: str = _field(
        "non-saturating", "G loss: non-saturating (default), saturating, mixed (G maximises D's mixup loss), minimax "
        "(authors' code: -BCE on an unmixed real∪fake batch)", group="trained", choices=GENERATOR_LOSSES,
        resume_must_match=True)
    regularizers: tuple[str, ...] = _field(
        (), "add a regularizer, e.g. r1:10, gp:10, instance-noise:0.1, label-smoothing:0.9, diffaug, bcr:10, zcr:5 "
        "(repeatable)",
        group="trained", flag="--regularizer", metavar="NAME[:VALUE]", resume_must_match=True)
    diffaug_policy: str | None = _field(
        None, "DiffAugment's operations for --regularizer diffaug, comma-separated: color, translation, cutout "
        "(default: all three on images, color on toy points, which have no pixels to move)",
        group="trained", metavar="OPS", resume_must_match=True)
    objective_options: dict[str, float | str] = _field(
        factory=dict, group="trained", flag="--objective-option", metavar="KEY=VALUE", resume_must_match=True,
        help="an option of the objective, e.g. gp_weight=10 for wgan-gp, target=fake-min for manifold-mixup, "
             "mix_fake_fake=1 for mixup (repeatable)")
    spectral_norm: bool = _field(False, "spectral normalization on every layer of D", group="trained",
                                 resume_must_match=True)
    # networks and optimiser (None: the modality's default)
    iterations: int | None = _field(None, "generator iterations", group="networks", limit=10**9)
    batch_size: int | None = _field(None, "real and fake samples per step", group="networks", limit=65536,
                                    resume_must_match=True)
    d_steps: int | None = _field(None, "discriminator steps per generator step", group="networks", limit=100,
                                 resume_must_match=True)
    latent_dim: int | None = _field(
        None, "size of G's Gaussian noise", group="networks", limit=4096, resume_must_match=True,
        aliases=(("--nz", "images", "size of G's noise, DCGAN's nz, the same as --latent-dim", "data_root"),))
    hidden: int | None = _field(None, "hidden units per layer of the toy MLPs, or the DCGAN's base feature maps",
                                group="networks", limit=16384, resume_must_match=True)
    layers: int = _field(3, "hidden layers of the toy MLPs", group="networks", limit=64, resume_must_match=True)
    lr: float | None = _field(None, "Adam learning rate of G and D", group="networks", resume_must_match=True)
    betas: tuple[float, float] | None = _field(None, "Adam betas", resume_must_match=True)
    seed: int = _field(0, "seed for model init, data, noise and λ", group="networks", limit=2**63 - 1,
                       limit_in_help=False, resume_must_match=True)
    device: str = _field("auto", "auto (CUDA when present, else CPU; default), cpu, cuda, cuda:N or mps", group="networks")
    # what is recorded
    snapshot_frames: int | None = _field(None, "log-spaced snapshots for the GIF, besides the paper's iterations",
                                         group="recording", limit=10_000)
    snapshot_iterations: tuple[int, ...] = _field((), "extra snapshot iterations", group="recording", metavar="N,N,...")
    fixed_samples: int | None = _field(None, "fake samples per snapshot", group="recording", limit=100_000,
                                       resume_must_match=True)
    grid_size: int = _field(64, "toy: D is drawn on a GRID×GRID grid, at least 2×2", group="recording", limit=1024,
                            resume_must_match=True)
    log_every: int = _field(10, "iterations between metrics.jsonl records", group="recording", limit=10**9)
    checkpoint_every: int | None = _field(None, "iterations between checkpoints (and one at the end)",
                                          group="recording", limit=10**9)
    checkpoint_seconds: float = _field(
        60.0, "also checkpoint when this many seconds passed since the last one, so a kill loses at most that much "
        "(default 60; 0: off)", group="recording")
    on_nonfinite: str = _field("stop", "on a NaN/Inf loss: stop the run (default) or skip that update",
                               group="recording", choices=("stop", "skip"))
    # image data
    image_size: int | None = _field(None, "image side in pixels; the 8x8 digits hold no more than 16",
                                    group="images", resume_must_match=True)
    channels: int | None = _field(
        None, "convert a folder's images to 1 (grey) or 3 (RGB) channels (default: the dataset's own)",
        group="images", resume_must_match=True)
    data_root: str | None = _field(
        None, "folder of mnist, fashion-mnist, cifar10, stacked-mnist as torchvision lays them out (default: "
        "$GAN_MIXUP_DATA, else the cache folder's data/, ~/.cache/gan-mixup/data) or of images in class subfolders "
        "(folder; images directly in DIR: no classes, so no mode metrics)", group="images", metavar="DIR")
    download: bool = _field(
        False, "fetch mnist, fashion-mnist or cifar10 (stacked-mnist: mnist) into the data root with torchvision's "
        "download code and md5 checks when they are not there yet", group="images")
    d_forward: str = _field(
        "auto", "D on real and fake: separate forwards (DCGAN's, BatchNorm sees pure batches; auto picks it for "
        "images) or one joint forward", group="images", choices=D_FORWARDS, resume_must_match=True)
    channels_last: bool = _field(
        False, "G and D in the channels-last memory format: oneDNN's CPU convolutions skip their layout "
        "conversions (faster, not bit-identical to the default format)", group="images", resume_must_match=True)
    g_step_batchnorm: str = _field(
        "batch", "D's BatchNorm in the G step: batch (default: the statistics of D's batch; mixup runs D on real ∪ fake "
        "so they match its mixed training batches) or running (the running statistics of D's steps, on the fakes "
        "alone: mixup's G step costs ERM's)", group="images", choices=G_STEP_BATCHNORMS, resume_must_match=True)
    g_ema: float = _field(
        0.0, "keep an exponential moving average of G's weights with this decay (e.g. 0.999); snapshots use it "
        "(default 0: off)", group="images", metavar="DECAY", resume_must_match=True)
    amp: bool = _field(False, "bfloat16 autocast for G and D forwards, on CUDA or a CPU with native bfloat16 "
                       "(AVX512-BF16, AMX)", group="images", resume_must_match=True)
    sync_batchnorm: bool = _field(
        False, "under torchrun on CUDA GPUs: BatchNorm statistics over the global batch (SyncBatchNorm) instead of "
        "each process's share; ignored by a single process", group="images", resume_must_match=True)
    metric_samples: int | None = _field(
        None, "fakes and reals the image metrics use (0: no metrics; the limit is the VEEGAN/PacGAN Stacked-MNIST "
        "count). 1,000 samples can show at most ~632 of stacked-digits' 1,000 modes: the run records the real data's "
        "own count at the same size", group="images", resume_must_match=True)
    fid_weights: str | None = _field(
        None, "also record Inception FID and KID at the metric iterations, from this local InceptionV3 weights file "
        "(torch-fidelity's weights-inception-2015-12-05-6726825d.pth; needs pip install 'gan-mixup[fid]'; nothing is "
        "downloaded; slow on a CPU)", group="images", metavar="FILE")
    metric_frames: int | None = _field(
        None, "image metrics at this many log-spaced iterations (each also a snapshot), plus the paper's iterations "
        "and the last", group="images")
    # for the record
    preset: str | None = _field(None, "the preset this config came from")

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or self.dataset not in all_datasets():
            raise ConfigError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(all_datasets())}")
        modality = modality_of(self.dataset)
        for name, value in {**modality.defaults, **modality.dataset_defaults.get(self.dataset, {})}.items():
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
    def modality(self) -> str:
        """The name of the modality that serves the dataset: ``"toy"`` (2-D points, MLPs) or
        ``"images"`` (image data, DCGAN); ``modality_of(config.dataset)`` is its spec."""
        return modality_of(self.dataset).name

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
        for name in ("spectral_norm", "amp", "sync_batchnorm", "download"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not _finite(self.alpha) or self.alpha < 0:
            raise ConfigError(f"alpha must be a finite number > 0, got {self.alpha!r}")
        if self.alpha == 0 and self.objective == "mixup" and self.lambda_distribution != "uniform":
            raise ConfigError("alpha must be > 0 for mixup (alpha 0 is allowed only with --lambda-distribution uniform)")
        if self.alpha > 1 and self.objective == "mixup" and self.lambda_distribution == "uniform":
            # MixupGAN refuses it too; catching it here keeps a run from failing only after start-up.
            raise ConfigError(f"alpha is the upper bound of λ with the uniform distribution and must be <= 1, got {self.alpha}")
        if (self.objective != "mixup" and "alpha" in options_of(OBJECTIVES[self.objective])
                and self.alpha != field_default("alpha")):
            # The field is mixup's λ ~ Beta(α, α); these objectives draw from an α of their own (cutmix's
            # default is 1), so the flag would be ignored.
            raise ConfigError(f"--alpha is mixup's α; {self.objective} has its own: give it as "
                              f"--objective-option alpha={self.alpha:g}")
        if not _finite(self.lr) or self.lr <= 0:
            raise ConfigError(f"lr must be a finite number > 0, got {self.lr!r}")
        if len(self.betas) != 2 or not all(_finite(b) and 0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        if not _finite(self.g_ema) or not 0 <= self.g_ema < 1:
            raise ConfigError(f"g_ema must be a decay in [0, 1) (0: off), got {self.g_ema!r}")
        if not _finite(self.checkpoint_seconds) or self.checkpoint_seconds < 0:
            raise ConfigError(f"checkpoint_seconds must be a number >= 0 (0: off), got {self.checkpoint_seconds!r}")
        for name, spec in SPECS.items():
            if spec.choices is not None:
                _choice(self, name, spec.choices)
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
        names = [str(spec).partition(":")[0].strip() for spec in self.regularizers]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            # Two of one kind add up (r1 + r1) or compose (DiffAugment of DiffAugment): never what was meant.
            raise ConfigError(f"regularizers name {', '.join(repeated)} more than once ({', '.join(map(str, self.regularizers))}); "
                              "give each once, with its value (e.g. r1:10)")
        if not isinstance(self.device, str) or not _DEVICE.match(self.device):
            raise ConfigError(f"unknown device {self.device!r}; use auto, cpu, cuda, cuda:N or mps")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.preset is not None and (not isinstance(self.preset, str) or self.preset not in PRESETS):
            raise ConfigError(f"unknown preset {self.preset!r}; choose one of: {', '.join(PRESETS)} (or null for none)")
        limits = {**LIMITS, **modality_of(self.dataset).limits}
        for name, limit in limits.items():
            if getattr(self, name) > limit:
                raise ConfigError(f"{name} must be at most {limit}, got {getattr(self, name)!r}")
        self._validate_data()
        self._validate_objective_options()
        self._validate_diffaug_policies()

    def _validate_data(self) -> None:
        modality = modality_of(self.dataset)
        for name, why in modality.refused_fields.items():
            default = modality.defaults.get(name, field_default(name))
            if getattr(self, name) != default:
                users = [m.name for m in readers_of(name)]
                raise ConfigError(f"{name} applies to {' and '.join(users) or 'no'} datasets only, not {self.dataset!r} "
                                  f"({why}); " + ("leave it out" if default is None else f"leave it at {default}"))
        for name, choices in modality.choices.items():
            value = getattr(self, name)
            if value is not None and not any(type(value) is type(c) and value == c for c in choices):
                raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
        problem = modality.check(self) if modality.check is not None else None
        if problem:
            raise ConfigError(problem)

    def _validate_objective_options(self) -> None:
        if not self.objective_options:
            return
        accepted = options_of(OBJECTIVES[self.objective])
        if self.objective == "mixup":  # its other options are fields of their own (--alpha, --pairing, ...)
            accepted = tuple(key for key in accepted if key not in SPECS and key != "per_sample")
            if any(key not in accepted for key in self.objective_options):
                raise ConfigError(f"the objective options of mixup are {', '.join(accepted)}: set the rest with --alpha, "
                                  "--lambda-distribution, --lambda-sampling, --pairing and --generator-loss")
        options = OBJECTIVES[self.objective].Options
        # options that are words (a target's name), not numbers
        texts = {f.name for f in dataclasses.fields(options) if isinstance(f.default, str)} if options else set()
        for key, value in self.objective_options.items():
            if key not in accepted:
                raise ConfigError(f"objective {self.objective!r} has no option {key!r}; its options are: "
                                  f"{', '.join(accepted) or 'none'}")
            if key in texts:
                if not isinstance(value, str):
                    raise ConfigError(f"objective option {key} must be a word, got {value!r}")
            elif not _finite(value):
                raise ConfigError(f"objective option {key} must be a finite number, got {value!r}")

    def _validate_diffaug_policies(self) -> None:
        """--diffaug-policy (stored comma-separated) and diffaug:POLICY specs name known operations;
        translation and cutout move pixels, so toy points (no image_size) refuse them."""
        policies: list[tuple[str, tuple[str, ...]]] = []
        if self.diffaug_policy is not None:
            try:
                policy = parse_policy(self.diffaug_policy if isinstance(self.diffaug_policy, str) else "")
            except AugmentError as err:
                raise ConfigError(f"diffaug_policy: {err}") from None
            object.__setattr__(self, "diffaug_policy", policy_text(policy))
            policies.append(("diffaug_policy", policy))
        for spec in self.regularizers:
            name, sep, value = str(spec).partition(":")
            if name.strip() == "diffaug" and sep:
                policies.append((f"regularizer {spec!r}", parse_policy(value)))
        for where, policy in policies:
            spatial = [op for op in policy if op in SPATIAL_OPS]
            if spatial and self.image_size is None:
                verb = "move" if len(spatial) > 1 else "moves"
                raise ConfigError(f"{where}: DiffAugment's {' and '.join(spatial)} {verb} pixels, and {self.dataset!r} "
                                  "has points, not images: use the policy color")

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
        try:
            return cls.from_json(text, defaults)
        except ConfigError as err:  # name the file: a run may read several (--config, RUN_DIR/config.json)
            raise ConfigError(f"{path}: {err}") from None

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}

SPECS: dict[str, FieldSpec] = {f.name: f.metadata["spec"] for f in dataclasses.fields(RunConfig)}
# Upper limits where memory or time is at stake; a modality may lower them (``ModalitySpec.limits``).
LIMITS: dict[str, int] = {name: spec.limit for name, spec in SPECS.items() if spec.limit is not None}
# Fields that must match for a checkpoint to be resumed; the rest (iterations, logging, ...) may change.
ARCHITECTURE_FIELDS = tuple(name for name, spec in SPECS.items() if spec.resume_must_match)


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


# ----- preset < file < flags ----------------------------------------------------------------------
def resolve(
    *,
    preset: "str | Preset | Sequence[str | Preset] | None" = None,
    file: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    base: RunConfig | None = None,
    data_scale: str | None = None,
    default_dataset: str | None = None,
) -> RunConfig:
    """The config of RunConfig's defaults < ``base`` (a resumed run's config) < ``preset`` (one or
    several, later ones win) < config ``file`` < ``flags`` (field -> value, the fields a user set).

    ``default_dataset`` is the dataset when no layer names one (a file without one is read as it).
    A preset written for another modality leaves its network and schedule sizes to this one's
    defaults (``presets.preset_fields``), and its mixup-only ``generator_loss`` gives way when the
    objective takes none and the flags set none: ``preset="paper-code", flags={"objective": "hinge"}``
    is the paper's networks and data with hinge's own losses. In ``flags``, ``dataset_options`` and
    ``objective_options`` (a dict, or ``KEY=VALUE`` pairs) add to the lower layers' options;
    ``data_scale`` (``presets.DATA_SCALES``) sets ring8's or grid25's options below them.

    A ``file`` that names a dataset of another modality than the one trained (a toy run's config.json
    with ``flags={"dataset": "digits"}``, or the reverse) is a ``ConfigError``: it holds every size its
    own modality chose, and which of them its user meant cannot be told from the file.
    """
    flags = dict(flags or {})
    presets = [preset] if isinstance(preset, (str, Preset)) else list(preset or ())
    found = [get_preset(p) for p in presets]  # every name checked before a file is read
    lower = {**(base.to_dict() if base is not None else {}), **{k: v for p in found for k, v in p.fields.items()}}
    file_fields: dict[str, Any] = {}
    if file is not None:
        assumed = flags.get("dataset") or lower.get("dataset") or default_dataset or field_default("dataset")
        file_fields = RunConfig.load(file, defaults={"dataset": assumed}).to_dict()
    dataset = next((layer["dataset"] for layer in (flags, file_fields, lower) if "dataset" in layer),
                   default_dataset or field_default("dataset"))
    modality = modality_of(dataset)
    if file_fields and modality_of(file_fields["dataset"]) is not modality:
        # A run's config.json holds every size its own modality chose (a toy's latent 2, 5 D steps, no
        # metrics): read for another modality's dataset they would train a run nobody asked for.
        other = modality_of(file_fields["dataset"])
        raise ConfigError(
            f"{file} is a config of {file_fields['dataset']!r} (the {other.name} modality); its sizes do not fit "
            f"{dataset!r} (the {modality.name} modality): give a config of {_article(modality.name)} {modality.name} "
            "run, or leave out the config file")
    fields: dict[str, Any] = base.to_dict() if base is not None else {}
    for p in found:
        fields.update(preset_fields(p, modality))
    fields.update(file_fields)
    fields.update({k: v for k, v in flags.items() if k not in _MERGED_FLAGS})
    if not _takes_generator_loss(fields.get("objective")) and "generator_loss" not in flags:
        fields["generator_loss"] = field_default("generator_loss")
    if data_scale is not None:
        scales = DATA_SCALES.get(data_scale)
        if scales is None:
            raise ConfigError(f"unknown data scale {data_scale!r}; choose one of: {', '.join(DATA_SCALES)}")
        if dataset not in scales:
            hint = ("; set a toy dataset's own parameters with --dataset-option KEY=VALUE"
                    if "dataset_options" not in modality.refused_fields else "")
            raise ConfigError(f"--data-scale sets the scale of {' and '.join(scales)} only, not {dataset!r}{hint}")
        fields["dataset_options"] = dict(scales[dataset])
    for name in _MERGED_FLAGS:
        if name in flags:
            fields[name] = {**fields.get(name, {}), **dict(flags[name])}
    return RunConfig.from_dict(fields, defaults={"dataset": dataset})


_MERGED_FLAGS = ("dataset_options", "objective_options")  # flags that add to the options below them


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _takes_generator_loss(objective: Any) -> bool:
    """Whether ``objective`` reads RunConfig's ``generator_loss`` (erm and mixup do); ``None``: unset."""
    if objective is None:
        return True
    return objective in OBJECTIVES and "generator_loss" in options_of(OBJECTIVES[objective])

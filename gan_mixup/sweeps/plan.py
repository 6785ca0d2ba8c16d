"""What a sweep trains: its members, one per dataset x setting x seed, and their folder names
(``sweep_members``; the package's docstring shows it).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from gan_mixup.config import RunConfig, resolve
from gan_mixup.experiments import check_policy_read, config_with_objective
from gan_mixup.presets import load_preset
from gan_mixup.sweeps.directory import SweepError, SweepMember

AUTHORS_LATENT_DIMS = (2, 5, 10)  # the mixup authors' gan/example_gan.py grid: latent sizes ...
AUTHORS_ALPHAS = (0.0, 0.1, 0.2, 0.5, 1.0)  # ... and α (0: their ERM), on ring and grid


MAX_SEEDS = 10000  # seeds in one sweep


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-4"`` -> 0..4; ``"0,3,7"``; ``"0-2,9"``. At most ``MAX_SEEDS``, counted before any list is built.

    Example:
        >>> parse_seeds("0-2,9")
        (0, 1, 2, 9)
    """
    parts: list[tuple[int, int]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            bounds = (int(low), int(high)) if dash and low else (int(part), int(part))
        except ValueError:
            raise SweepError(f"expected seeds like 0-4 or 0,1,7, got {text!r}") from None
        if bounds[1] < bounds[0]:
            raise SweepError(f"seed range {part!r} runs backwards")
        parts.append(bounds)
    if not parts:
        raise SweepError("no seeds given")
    count = sum(high - low + 1 for low, high in parts)
    if count > MAX_SEEDS:
        raise SweepError(f"{count} seeds is more than a sweep can hold (at most {MAX_SEEDS})")
    return tuple(dict.fromkeys(seed for low, high in parts for seed in range(low, high + 1)))


@dataclass(frozen=True)
class SweepGrid:
    """What a sweep crosses besides seeds and hyperparameter axes: datasets (``None``: the config
    file's, else RunConfig's), presets (``""``: none), objective specs, α values and latent sizes
    (empty: each config's own)."""

    datasets: Sequence[str | None]
    presets: Sequence[str]
    objectives: Sequence[str]
    alphas: Sequence[float] = ()
    latent_dims: Sequence[int] = ()


def authors_grid(datasets: Sequence[str] | None = None) -> SweepGrid:
    """The mixup authors' own grid (their ``gan/example_gan.py``): ring8 and grid25 (or ``datasets``)
    x latent 2, 5, 10 x α 0, 0.1, 0.2, 0.5, 1, mixup with preset paper-code (α 0 is their ERM).

    Example:
        >>> grid = authors_grid()
        >>> len(grid.datasets) * len(grid.alphas) * len(grid.latent_dims)
        30
    """
    return SweepGrid(datasets=tuple(datasets or ("ring8", "grid25")), presets=("paper-code",), objectives=("mixup",),
                     alphas=AUTHORS_ALPHAS, latent_dims=AUTHORS_LATENT_DIMS)


def sweep_bases(grid: SweepGrid, *, file: str | None = None, flags: Mapping[str, Any] | None = None,
                data_scale: str | None = None) -> dict[tuple[str, str], RunConfig]:
    """One base config per dataset x preset of ``grid`` (``config.resolve``: the preset < the config
    ``file`` < ``flags`` < the dataset), keyed ``(dataset, preset)`` as ``sweep_members`` takes them.
    An unknown preset is refused before any config is built."""
    for name in grid.presets:
        if name:
            load_preset(name)
    bases = {}
    for dataset in grid.datasets:
        for preset in grid.presets:
            base = resolve(preset=preset or None, file=file, data_scale=data_scale,
                           flags={**(flags or {}), **({"dataset": dataset} if dataset else {})})
            bases[(base.dataset, preset)] = base
    return bases


def sweep_members(
    bases: dict[tuple[str, str], RunConfig],
    *,
    objectives: Sequence[str],
    alphas: Sequence[float],
    seeds: Sequence[int],
    latent_dims: Sequence[int] = (),
    axes: Mapping[str, Sequence[float]] | None = None,
    objective_options: Mapping[str, Any] | None = None,
) -> list[SweepMember]:
    """Every combination of ``bases`` (one config per ``(dataset, preset)``; preset ``""`` for none)
    x objective x α x latent size x hyperparameter values x seed.

    An objective without α (anything but ``mixup``) is trained once per seed, not once per α.
    Objective specs may carry regularizers as in ``compare``: ``erm+r1:10`` (so regularizer
    strengths are crossed by listing ``erm+r1:1,erm+r1:10``). ``axes`` maps a name of
    ``HYPERPARAMETER_AXES`` (``lr``, ``beta1``, ``d_steps``, ``batch_size``) to its values; each
    combination is a setting of its own, named after the axes that have more than one value.
    ``objective_options`` (``--objective-option``) go to every member, checked against its objective;
    a ``--diffaug-policy`` of a base that none of its members reads is refused.
    """
    if not seeds:
        raise SweepError("a sweep needs at least one seed")
    if not objectives:
        raise SweepError("a sweep needs at least one objective")
    axes = {name: list(values) for name, values in (axes or {}).items() if values}
    unknown = sorted(set(axes) - set(HYPERPARAMETER_AXES))
    if unknown:
        raise SweepError(f"no hyperparameter axis {', '.join(unknown)}; the axes are {', '.join(HYPERPARAMETER_AXES)}")
    for name, values in axes.items():
        flag = f"--{name.replace('_', '-')}"
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in values):
            raise SweepError(f"{flag} takes numbers, got {', '.join(map(repr, values))}")
        if name in INTEGER_AXES and any(v != int(v) for v in values):
            wrong = next(v for v in values if v != int(v))
            raise SweepError(f"{flag} takes whole numbers, got {wrong:g}")
        if len(set(values)) != len(values):
            raise SweepError(f"{flag} names a value twice")
    members = []
    several_latents = len(set(latent_dims)) > 1
    for (dataset, preset), base in bases.items():
        configs = [(spec, config_with_objective(base, spec, objective_options)) for spec in objectives]
        check_policy_read(base, [config for _, config in configs])
        for spec, config in configs:
            for alpha in (alphas or [config.alpha]) if config.objective == "mixup" else [None]:
                for latent in latent_dims or [config.latent_dim]:
                    for point in itertools.product(*axes.values()):
                        hyper = dict(zip(axes, point))
                        setting = spec + (f"[{preset}]" if preset else "") + (f" α={alpha:g}" if alpha is not None else "")
                        setting += f" z={latent}" if several_latents else ""
                        setting += "".join(f" {HYPERPARAMETER_AXES[k]}={v:g}" for k, v in hyper.items() if len(axes[k]) > 1)
                        for seed in seeds:
                            fields: dict[str, Any] = {"seed": int(seed), "latent_dim": int(latent), **_axis_fields(config, hyper)}
                            if alpha is not None:
                                fields["alpha"] = float(alpha)
                            members.append(SweepMember(
                                name=folder_name(dataset, setting, seed), dataset=dataset, setting=setting,
                                config=config.replace(**fields), preset=preset, alpha=alpha, seed=int(seed)))
    names = [m.name for m in members]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise SweepError(f"the sweep names a run twice ({', '.join(clashes[:3])}): give each objective, α and seed once")
    return members


# Hyperparameters a sweep crosses: axis name -> its label in a setting's name (and a folder's).
HYPERPARAMETER_AXES = {"lr": "lr", "beta1": "β1", "d_steps": "dsteps", "batch_size": "batch"}
INTEGER_AXES = ("d_steps", "batch_size")  # axes of whole-number fields: 1.7 D steps is refused, never truncated


def _axis_fields(config: RunConfig, hyper: dict[str, float]) -> dict[str, Any]:
    """The RunConfig fields one point of the hyperparameter axes sets."""
    fields: dict[str, Any] = {}
    for name, value in hyper.items():
        if name == "beta1":
            fields["betas"] = (float(value), config.betas[1])
        elif name == "lr":
            fields["lr"] = float(value)
        else:
            fields[name] = int(value)
    return fields


def folder_name(dataset: str, setting: str, seed: int) -> str:
    text = f"{dataset}-{setting}-seed{seed}".replace(" α=", "-a").replace(" z=", "-z").replace("[", "-").replace("]", "")
    for label in HYPERPARAMETER_AXES.values():
        text = text.replace(f" {label}=", f"-{label.replace('β', 'b')}")
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)

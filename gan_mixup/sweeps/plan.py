"""What a sweep trains: its members, one per dataset x setting x seed, and their folder names
(``sweep_members``; the package's docstring shows it).
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Mapping, Sequence

from gan_mixup.config import RunConfig
from gan_mixup.experiments import config_with_objective
from gan_mixup.sweeps.directory import SweepError, SweepMember

AUTHORS_LATENT_DIMS = (2, 5, 10)  # the mixup authors' gan/example_gan.py grid: latent sizes ...
AUTHORS_ALPHAS = (0.0, 0.1, 0.2, 0.5, 1.0)  # ... and α (0: their ERM), on ring and grid




def sweep_members(
    bases: dict[tuple[str, str], RunConfig],
    *,
    objectives: Sequence[str],
    alphas: Sequence[float],
    seeds: Sequence[int],
    latent_dims: Sequence[int] = (),
    axes: Mapping[str, Sequence[float]] | None = None,
) -> list[SweepMember]:
    """Every combination of ``bases`` (one config per ``(dataset, preset)``; preset ``""`` for none)
    x objective x α x latent size x hyperparameter values x seed.

    An objective without α (anything but ``mixup``) is trained once per seed, not once per α.
    Objective specs may carry regularizers as in ``compare``: ``erm+r1:10`` (so regularizer
    strengths are crossed by listing ``erm+r1:1,erm+r1:10``). ``axes`` maps a name of
    ``HYPERPARAMETER_AXES`` (``lr``, ``beta1``, ``d_steps``, ``batch_size``) to its values; each
    combination is a setting of its own, named after the axes that have more than one value.
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
        for spec in objectives:
            config = config_with_objective(base, spec)
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

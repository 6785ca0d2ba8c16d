"""RunConfig's field declarations rendered as command-line flags, and the config a command line names.

Each flag of a run (``--alpha``, ``--hidden``, ...) is generated from its field's ``FieldSpec``:
name, type, choices and --help, with the per-modality defaults and limits the modalities declare
written into the help. ``config_from_args`` reads the flags back into a ``RunConfig`` through
``config.resolve``; ``config_and_run_dir`` adds the run directory a ``toy``/``images`` command
trains into.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> build_run_flags(parser)
    >>> config_from_args(parser.parse_args(["--alpha", "0.5", "--hidden", "64"])).hidden
    64
    >>> flag_help("iterations")
    'generator iterations (toy 20000, images 2000; at most 1e+09)'
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import re
from pathlib import Path
from typing import Any, Sequence

from gan_mixup.config import GROUPS, SPECS, ConfigError, RunConfig, field_default, readers_of, resolve
from gan_mixup.modalities import REGISTRY, ModalitySpec, all_datasets, modality_of
from gan_mixup.presets import DATA_SCALES, DEMO, PRESETS
from gan_mixup.rundir import CONFIG_FILE, holds_only_lock, is_marked


class CommandLineError(ConfigError):
    """A command line that names no valid run: a dataset given to the other modality's command,
    ``--resume`` of a folder that is not a run directory, ``--out`` and ``--resume DIR`` apart."""


def finite_float(text: str) -> float:
    """A flag's number: finite, e.g. ``"2e-4"``; argparse reports anything else as the flag's error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def integer(text: str) -> int:
    """A flag's whole number, e.g. ``"20000"``."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def int_list(text: str) -> tuple[int, ...]:
    """Comma-separated whole numbers, e.g. ``"2,5,10"``; an empty text is the empty tuple (the default)."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if text.strip() and not values:  # "," or " , ": a list of nothing, never "the default"
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return values


def float_list(text: str) -> tuple[float, ...]:
    """Comma-separated finite numbers, e.g. ``"1e-4,1e-3"``; an empty text is the empty tuple."""
    values = tuple(finite_float(part) for part in text.split(",") if part.strip())
    if text.strip() and not values:  # "," or " , ": a list of nothing, never "the default"
        raise argparse.ArgumentTypeError(f"expected numbers like 1e-4,1e-3, got {text!r}")
    return values


def name_list(text: str, flag: str) -> list[str]:
    """The comma-separated names of ``flag``'s ``text``; an empty one among them (``erm,``) is a typo,
    refused with ``CommandLineError``.

    Example:
        >>> name_list("erm, mixup", "--objectives")
        ['erm', 'mixup']
    """
    parts = [part.strip() for part in text.split(",")]
    if any(parts) and not all(parts):
        raise CommandLineError(f"{flag} {text!r} has an empty item: name each one, or leave out the extra comma")
    return [part for part in parts if part]


def unique_names(text: str, flag: str) -> list[str]:
    """``name_list``, with at least one name and none twice (``CommandLineError`` otherwise)."""
    names = name_list(text, flag)
    if not names:
        raise CommandLineError(f"{flag} needs at least one name")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CommandLineError(f"{flag} names {', '.join(duplicates)} twice")
    return names


def key_value(text: str) -> tuple[str, float | str]:
    """``"n-modes=8"`` -> ``("n_modes", 8.0)``; a word stays a word: ``"target=fake-min"`` ->
    ``("target", "fake-min")`` (the config says which options take words)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    word = value.strip()
    if not word:
        raise argparse.ArgumentTypeError(f"{text!r} gives {key.strip()} no value: expected KEY=VALUE")
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", word) and word.lower() not in ("nan", "inf", "infinity"):
        return key.strip().replace("-", "_"), word
    return key.strip().replace("-", "_"), finite_float(value)


# How a flag parses the values of a RunConfig field, by the field's type.
FLAG_TYPES: dict[str, dict[str, Any]] = {
    "str": {}, "int": {"type": integer}, "float": {"type": finite_float}, "bool": {"action": "store_true"},
    "tuple[int, ...]": {"type": int_list}, "tuple[str, ...]": {"action": "append"},
    "dict[str, float | str]": {"action": "append", "type": key_value},  # numbers, and words (target=fake-min)
}


def build_run_flags(p: argparse.ArgumentParser, *, groups: Sequence[str] = tuple(GROUPS),
                    exclude: Sequence[str] = ()) -> None:
    """The flags of the RunConfig fields in ``groups``, generated from their ``FieldSpec``: name,
    type, choices and --help. Defaults are SUPPRESSed so that only flags the user typed override the
    preset / config file / RunConfig defaults (in that order); each flag's dest is its field."""
    S = argparse.SUPPRESS
    for group in groups:
        g = p.add_argument_group(GROUPS[group])
        if group == "trained":
            g.add_argument("--preset", default=S, choices=sorted(PRESETS), help="start from a named preset: " + "; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()))
            g.add_argument("--config", default=S, metavar="FILE", help="start from a config JSON file (as written to RUN_DIR/config.json); flags override it")
        for f in dataclasses.fields(RunConfig):
            spec = SPECS[f.name]
            if spec.group == group and f.name not in exclude:
                g.add_argument(spec.flag or "--" + f.name.replace("_", "-"), dest=f.name, default=S,
                               **_flag_type(f.name), **_flag_options(f.name, spec.metavar), help=flag_help(f.name))
            if f.name == "dataset" and group == "trained":
                g.add_argument("--data-scale", default=S, choices=list(DATA_SCALES), help="ring/grid scale: authors = radius 1 / spacing 0.5, std 0.01 (mixup authors' code, default); later = ring radius 2 std 0.02, grid spacing 2 std 0.05 (later papers)")
            for other, other_spec in SPECS.items():
                for flag, alias_group, text, after in other_spec.aliases:
                    if alias_group == group and after == f.name:
                        g.add_argument(flag, dest=other, default=S, **_flag_type(other),
                                       **_flag_options(other, None), help=flag_help(other, text))


def flag_choices(name: str) -> tuple[Any, ...] | None:
    """The values the flag of field ``name`` accepts: the field's own choices, else the modalities'."""
    if SPECS[name].choices is not None:
        return SPECS[name].choices
    found = [value for m in REGISTRY.values() for value in m.choices.get(name, ())]
    return tuple(dict.fromkeys(found)) or None


def flag_help(name: str, text: str | None = None) -> str:
    """The --help of field ``name`` (or ``text`` about it): its meaning, then its defaults and limits
    as the modalities declare them, e.g. "generator iterations (toy 20000, images 2000; at most 1e+09)"."""
    text = SPECS[name].help if text is None else text
    if "{datasets}" in text:
        text = text.replace("{datasets}", "; ".join(
            f"{m.name}: {', '.join(m.datasets)} ({m.name} default {m.default_dataset})" for m in REGISTRY.values()))
    readers = readers_of(name)
    defaults = _defaults_note(name, readers, text)
    limits = _limits_note(name, readers)
    if not (defaults or limits):
        return text
    joiner = ", " if len(readers) == 1 or not defaults.startswith(tuple(m.name for m in readers)) else "; "
    return f"{text} ({joiner.join(part for part in (defaults, limits) if part)})"


def _defaults_note(name: str, readers: list[ModalitySpec], text: str) -> str:
    """The defaults part of a flag's help: RunConfig's, or each modality's and each dataset's own."""
    if not any(name in m.defaults for m in readers):
        default = field_default(name)
        unset = default is None or default is False or default == () or default == {}
        return "" if "default" in text or unset else f"default {_shown(default)}"
    parts = [(m.name if len(readers) > 1 else "default", m.defaults.get(name, field_default(name))) for m in readers]
    for m in readers:  # datasets that default otherwise, grouped by value
        by_value: dict[Any, list[str]] = {}
        for dataset in m.datasets:
            value = m.dataset_defaults.get(dataset, {}).get(name, m.defaults.get(name))
            if value != m.defaults.get(name):
                by_value.setdefault(value, []).append(dataset)
        parts += [(" and ".join(datasets), value) for value, datasets in by_value.items()]
    sep = ", " if len(readers) > 1 else "; "
    return sep.join(f"{label} {_shown(value)}" for label, value in parts)


def _limits_note(name: str, readers: list[ModalitySpec]) -> str:
    """The limits part of a flag's help: the field's own upper limit, then each modality's lower one."""
    spec = SPECS[name]
    if not spec.limit_in_help:
        return ""
    parts = [f"at most {_shown(spec.limit)}"] if spec.limit is not None else []
    for m in readers:
        if name in m.limits:
            parts.append(f"{m.name} at most {_shown(m.limits[name])}" if parts or len(readers) > 1
                         else f"at most {_shown(m.limits[name])}")
    return ", ".join(parts)


def _shown(value: Any) -> str:
    """A value as --help writes it: 0.0002 as 0.0002, 10**9 as 1e+09."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and value >= 10**6 and str(value).rstrip("0") == "1":
        return f"{value:.0e}"
    return str(value)


def _flag_type(name: str) -> dict[str, Any]:
    annotation = next(str(f.type) for f in dataclasses.fields(RunConfig) if f.name == name)
    return FLAG_TYPES[annotation.removesuffix(" | None")]


def _flag_options(name: str, metavar: str | None) -> dict[str, Any]:
    choices = flag_choices(name)
    return {**({"choices": list(choices)} if choices else {}), **({"metavar": metavar} if metavar else {})}


def config_from_args(args: argparse.Namespace, base: RunConfig | None = None, *,
                     exclude: Sequence[str] = (), **flags: Any) -> RunConfig:
    """The config the command line ``args`` names (``config.resolve``): defaults < ``base`` (a
    resumed run's config) < --demo < --preset < --config < the run flags typed (but those in
    ``exclude``, flags a subcommand spells otherwise) < ``flags``."""
    presets = ([DEMO] if getattr(args, "demo", False) else []) + ([args.preset] if "preset" in args else [])
    return resolve(base=base, preset=presets, file=args.config if "config" in args else None,
                   flags={**typed_run_flags(args, exclude=exclude), **flags},
                   data_scale=getattr(args, "data_scale", None), default_dataset=command_dataset(args))


def typed_run_flags(args: argparse.Namespace, *, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """The RunConfig fields whose flags were typed (their defaults are SUPPRESSed), but ``exclude``."""
    return {name: getattr(args, name) for name, spec in SPECS.items()
            if spec.group is not None and name in args and name not in exclude}


def command_dataset(args: argparse.Namespace) -> str | None:
    """The dataset a command trains when neither a flag nor a config file names one: its modality's
    (``toy``, ``images``); ``None`` for RunConfig's own."""
    return next((m.default_dataset for m in REGISTRY.values() if m.name == getattr(args, "command", None)), None)


def check_command_fits(command: str, dataset: str) -> None:
    """Refuse a dataset given to the other modality's command (``gan-mixup toy --dataset digits``)."""
    if dataset not in all_datasets() or command not in REGISTRY:
        return  # RunConfig names the choices; compare and sweep train any dataset
    modality = modality_of(dataset)
    if modality.name != command:
        raise CommandLineError(f"{dataset} is a dataset of the {modality.name} modality: train it with "
                               f"`gan-mixup {modality.name} --dataset {dataset}`")


def run_dir_of(args: argparse.Namespace) -> Path | None:
    """The directory a command line names: ``--out``, or the DIR of ``--resume DIR`` (both given
    must agree); ``None`` where neither is given (a run's is then ``runs/<dataset>-<objective>``)."""
    resume_dir = args.resume if isinstance(args.resume, str) else None
    for flag, given in (("--out", args.out), ("--resume", resume_dir)):
        if given is not None and not given.strip():  # Path("") is the current directory
            raise CommandLineError(f"{flag} needs a directory name, got an empty one")
    if resume_dir is not None and args.out is not None and Path(args.out) != Path(resume_dir):
        raise CommandLineError("give the directory once: --resume DIR, or --out DIR --resume")
    if args.resume and args.overwrite:
        raise CommandLineError("--resume continues a run and --overwrite replaces it: give one of them")
    chosen = resume_dir or args.out
    if chosen is None and args.resume:
        raise CommandLineError("--resume needs the directory: --out DIR --resume (or --resume DIR)")
    return None if chosen is None else Path(chosen)


def config_and_run_dir(args: argparse.Namespace) -> tuple[RunConfig, Path]:
    """The config and run directory of a ``toy``/``images`` command line: with ``--resume`` of a run
    directory, its saved config under the flags typed; else the flags' config. Without ``--out`` the
    run directory is ``runs/<dataset>-<objective>``."""
    run_dir = run_dir_of(args)
    if "dataset" in args:  # before the config: its own complaints (a toy-only flag, ...) would hide this one
        check_command_fits(args.command, args.dataset)
    if args.resume and run_dir is not None and (run_dir / CONFIG_FILE).is_file():
        config = config_from_args(args, base=RunConfig.load(run_dir / CONFIG_FILE))
    else:
        if args.resume and run_dir is not None:
            # A marked folder without config.json is a run killed while writing it: it starts from 0.
            if not holds_only_lock(run_dir) and not is_marked(run_dir):
                raise CommandLineError(f"cannot resume {run_dir}: it is not a run directory (no {CONFIG_FILE})")
            if not run_dir.exists():
                raise CommandLineError(f"cannot resume {run_dir}: it is not a run directory (it does not exist)")
        config = config_from_args(args)
        run_dir = run_dir if run_dir is not None else Path(f"runs/{config.dataset}-{config.objective}")
    check_command_fits(args.command, config.dataset)
    return config, run_dir

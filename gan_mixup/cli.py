"""``gan-mixup``: the command line. It only parses arguments, builds configs and calls the library.

User mistakes (``GanMixupError``, argparse errors, a full disk) end with one line on stderr,
``gan-mixup: error: ...``, and exit code 2; Ctrl-C ends with one line and 130; anything else is a
bug and keeps its traceback.

It is over 500 lines because it holds eight subcommands' parsers, their resume hints and their
one-line errors; the run flags themselves are generated from RunConfig's field declarations, and
every decision they feed is the library's (``config.resolve``).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import math
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

from gan_mixup.config import GROUPS, SPECS, RunConfig, field_default, readers_of, resolve
from gan_mixup.modalities import REGISTRY, Modality, all_datasets, modality_of
from gan_mixup.errors import GanMixupError
from gan_mixup.presets import DATA_SCALES, DEMO, DEMO_PRESET, DEMO_SETTINGS, PRESETS, load_preset  # noqa: F401  (DEMO_*: `make demo`)
from gan_mixup.rundir import CONFIG_FILE, holds_only_lock, is_marked

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_NONFINITE = 3

class UsageError(GanMixupError):
    """A mistake in the command line, reported as one line and exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        # main() prints "gan-mixup: error: " before it; a subcommand's parser (prog "gan-mixup sweep")
        # adds its own name only, so every error line reads "gan-mixup: error: [SUBCOMMAND: ]...".
        _, _, command = self.prog.partition(" ")
        raise UsageError(f"{command}: {message}" if command else message)


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if text.strip() and not values:  # "," or " , ": a list of nothing, never "the default"
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return values


def _key_value(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip().replace("-", "_"), _finite_float(value)


# How a flag parses the values of a RunConfig field, by the field's type.
_FLAG_TYPES: dict[str, dict[str, Any]] = {
    "str": {}, "int": {"type": _int}, "float": {"type": _finite_float}, "bool": {"action": "store_true"},
    "tuple[int, ...]": {"type": _int_list}, "tuple[str, ...]": {"action": "append"},
    "dict[str, float]": {"action": "append", "type": _key_value},
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
            f"{m.command}: {', '.join(m.datasets)} ({m.command} default {m.default_dataset})" for m in REGISTRY.values()))
    readers = readers_of(name)
    defaults = _defaults_note(name, readers, text)
    limits = _limits_note(name, readers)
    if not (defaults or limits):
        return text
    joiner = ", " if len(readers) == 1 or not defaults.startswith(tuple(m.command for m in readers)) else "; "
    return f"{text} ({joiner.join(part for part in (defaults, limits) if part)})"


def _defaults_note(name: str, readers: list[Modality], text: str) -> str:
    if not any(name in m.defaults for m in readers):
        default = field_default(name)
        unset = default is None or default is False or default == () or default == {}
        return "" if "default" in text or unset else f"default {_shown(default)}"
    parts = [(m.command if len(readers) > 1 else "default", m.defaults.get(name, field_default(name))) for m in readers]
    for m in readers:  # datasets that default otherwise, grouped by value
        by_value: dict[Any, list[str]] = {}
        for dataset in m.datasets:
            value = m.dataset_defaults(dataset).get(name, m.defaults.get(name))
            if value != m.defaults.get(name):
                by_value.setdefault(value, []).append(dataset)
        parts += [(" and ".join(datasets), value) for value, datasets in by_value.items()]
    sep = ", " if len(readers) > 1 else "; "
    return sep.join(f"{label} {_shown(value)}" for label, value in parts)


def _limits_note(name: str, readers: list[Modality]) -> str:
    spec = SPECS[name]
    if not spec.limit_in_help:
        return ""
    parts = [f"at most {_shown(spec.limit)}"] if spec.limit is not None else []
    for m in readers:
        if name in m.limits:
            parts.append(f"{m.command} at most {_shown(m.limits[name])}" if parts or len(readers) > 1
                         else f"at most {_shown(m.limits[name])}")
    return ", ".join(parts)


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int) and value >= 10**6 and str(value).rstrip("0") == "1":
        return f"{value:.0e}"
    return str(value)


def _flag_type(name: str) -> dict[str, Any]:
    annotation = next(str(f.type) for f in dataclasses.fields(RunConfig) if f.name == name)
    return _FLAG_TYPES[annotation.removesuffix(" | None")]


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
                   flags={**_typed_run_flags(args, exclude=exclude), **flags},
                   data_scale=getattr(args, "data_scale", None), default_dataset=_command_dataset(args))


def _typed_run_flags(args: argparse.Namespace, *, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """The RunConfig fields whose flags were typed (their defaults are SUPPRESSed), but ``exclude``."""
    return {name: getattr(args, name) for name, spec in SPECS.items()
            if spec.group is not None and name in args and name not in exclude}


def _add_output_flags(p: argparse.ArgumentParser, *, what: str, default_out: str | None) -> None:
    p.add_argument("--out", help=f"{what} to create (default {default_out})" if default_out else f"{what} to create (required, unless --resume DIR names it)")
    p.add_argument("--overwrite", action="store_true", help=f"replace an existing {what} at --out (only one gan-mixup marked as its own)")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="DIR",
                   help=f"continue the {what} at --out (or DIR) from its last checkpoint, or start it when it has none; flags may change harmless settings such as --iterations")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_tensorboard_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tensorboard", action="store_true", help="also log losses, metrics and frames for TensorBoard to RUN_DIR/tensorboard (needs the tensorboard extra: pip install 'gan-mixup[tensorboard]')")


def _add_quiver_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-quiver", action="store_true", help="toy frames: leave out the light arrows at the fake samples (∇ₓ of D's logit: where G's next step pushes each sample)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gan-mixup", description="Train GANs with and without mixup on toy points or images, and watch them.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    for name, help_line, description in (
        ("toy", "train one toy GAN; write snapshots, metrics, checkpoints and a GIF",
         "Train the paper's toy GAN (3x512 ReLU MLPs, batch 128, 5 D steps per G step, Adam) and render a GIF."),
        ("images", "train one image GAN (DCGAN); write sample grids, metrics, checkpoints and a GIF",
         "Train a DCGAN on image data (default: scikit-learn's bundled digits at 16 px, nothing downloaded) with the same "
         "objectives, run directory, resume and GIFs as the toy GAN."),
    ):
        p = sub.add_parser(name, help=help_line, description=description)
        build_run_flags(p)
        _add_output_flags(p, what="run directory", default_out="runs/<dataset>-<objective>")
        if name == "toy":
            p.add_argument("--demo", action="store_true", help=f"a quick demo: preset {DEMO_PRESET} with {DEMO_SETTINGS} (a --preset, --config or flag overrides it)")
        p.add_argument("--no-render", action="store_true", help="skip rendering the GIF at the end")
        _add_quiver_flag(p)
        _add_tensorboard_flag(p)

    p = sub.add_parser("compare", help="train several objectives from one seed and fixed noise; render them side by side",
                       description="Train each objective from the same seed (same initial networks, same fixed noise), then render a side-by-side GIF and a Figure-5-style grid. Works for toy and image datasets.")
    build_run_flags(p, exclude=("objective",))
    p.add_argument("--objectives", default="erm,mixup", help="comma-separated objectives to compare (default erm,mixup); NAME+REG[:V] adds regularizers, e.g. erm+r1:10; a regularizer alone (r1) means erm with it")
    _add_output_flags(p, what="compare directory", default_out=None)
    _add_quiver_flag(p)
    _add_tensorboard_flag(p)

    p = sub.add_parser("render", help="re-render frames, GIF and loss plot of a run directory from its snapshots alone")
    p.add_argument("run_dir", help="a run directory written by `gan-mixup toy`, or a compare directory")
    p.add_argument("--fps", type=_int, default=10, help="GIF frames per second (default 10)")
    p.add_argument("--workers", type=_int, default=None, help="processes rendering frames (default: up to 4)")
    p.add_argument("--max-frames", type=_int, default=None, help="thin each GIF to at most this many snapshots (first, last and the paper's iterations always kept)")
    _add_quiver_flag(p)

    p = sub.add_parser("view", help="write an offline browser viewer of runs, a compare, figure5 or sweep directory",
                       description="Write one folder (index.html and its data) that shows the runs side by side on one time "
                                   "axis, with their metrics under the pictures; it opens from file:// with no server and no "
                                   "network. Built from the run directories alone, as render is.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="run directories, or compare / figure5 / sweep directories")
    p.add_argument("--out", default=None, help="the viewer's folder (default: PATH/viewer; needed for several paths)")
    p.add_argument("--max-frames", type=_int, default=None, help="at most this many snapshots per run (default: all, "
                   "thinned only where the frames together would pass 45 MB)")

    p = sub.add_parser("figure5", help="reproduce the paper's Figure 5 with the authors' code settings (ERM vs mixup α=0.2 on grid and ring)",
                       description="Train ERM and mixup (α = 0.2) on grid25 and ring8 with the paper-code preset and render the figure in the paper's layout.")
    p.add_argument("--iterations", type=_int, default=20000, help="generator iterations per run (default 20000, the paper's)")
    p.add_argument("--seed", type=_int, default=0, help="seed (default 0)")
    p.add_argument("--hidden", type=_int, default=None, help="override the preset's width 512, for a quick look")
    _add_output_flags(p, what="figure5 directory", default_out=None)

    p = sub.add_parser("sweep", help="train many seeds and settings (in parallel) and write a stability scorecard",
                       description="Train every combination of datasets, objectives, presets, α, latent sizes and seeds, several at "
                                   "once (one thread per process), resumably; write results.csv, scorecard.md, scorecard.png and gradients.png. "
                                   "--resume skips finished runs, continues interrupted ones and adds new ones (more seeds, another "
                                   "objective); runs of earlier grids stay in the sweep and its scorecard. It refuses, before writing "
                                   "anything, settings that differ from those the runs were trained with, and --iterations below what "
                                   "a run has trained; runs that diverged are kept as they are unless --retry-diverged. Exit code 1: "
                                   "some runs failed (the first reason is printed; the others are kept and scored).",
                       conflict_handler="resolve")
    build_run_flags(p, exclude=("objective",))
    p.add_argument("--dataset", default=None, help="comma-separated datasets, e.g. ring8,grid25 or stacked-digits (default: the --config file's, else ring8)")
    p.add_argument("--objectives", default="erm,mixup", help="comma-separated objectives (default erm,mixup); NAME+REG[:V] adds regularizers, as in compare")
    p.add_argument("--alpha", default="", type=_float_list, metavar="A,A,...", help="mixup α values, e.g. 0.1,0.2,0.5,1 (default: the preset's or 0.2); objectives without α run once")
    p.add_argument("--preset", default="", help="comma-separated presets, each a setting of its own, e.g. paper-text,paper-code (default: none)")
    p.add_argument("--latent-dim", default="", type=_int_list, metavar="Z,Z,...", help="latent sizes to sweep (default: the preset's or 2)")
    p.add_argument("--seeds", default="0-4", type=_seed_list, help="seeds: 0-4, 0,1,7 or 0-2,9 (default 0-4)")
    p.add_argument("--seed", default=None, help="not for a sweep: give --seeds")
    p.add_argument("--authors-grid", action="store_true", help="the mixup authors' own grid: ring8 and grid25 x latent 2, 5, 10 x α 0, 0.1, 0.2, 0.5, 1 with preset paper-code (α 0 is their ERM)")
    p.add_argument("--workers", type=_int, default=None, help="runs trained at once, one process and one thread each (default: the CPU count)")
    p.add_argument("--retry-diverged", action="store_true", help="with --resume: continue the runs that stopped on NaN/Inf from their last checkpoint (with the same settings they diverge again at the same step: add --on-nonfinite skip to step over it)")
    g = p.add_argument_group("hyperparameter axes (comma-separated values; each combination is a setting of its own)")
    g.add_argument("--lr", default=(), type=_float_list, metavar="LR,LR,...", help="Adam learning rates, e.g. 5e-5,2e-4,1e-3 (default: the kind's)")
    g.add_argument("--beta1", default=(), type=_float_list, metavar="B,B,...", help="Adam β1 values, e.g. 0,0.5 (default: the kind's, 0.9 toy, 0.5 images)")
    g.add_argument("--d-steps", default=(), type=_int_list, metavar="N,N,...", help="D steps per G step, e.g. 1,5 (default: the kind's)")
    g.add_argument("--batch-size", default=(), type=_int_list, metavar="N,N,...", help="batch sizes, e.g. 32,64 (default: the kind's); regularizer strengths are crossed in --objectives: erm+r1:1,erm+r1:10")
    g = p.add_argument_group("where the runs train (default: processes on this machine)")
    g.add_argument("--launcher", default=None, choices=["slurm", "local"], help="slurm: each run one task of a Slurm job array through submitit (pip install 'gan-mixup[slurm]'); local: submitit's local executor, the same path on this machine")
    g.add_argument("--slurm-partition", default=None, metavar="P", help="Slurm partition (default: the cluster's)")
    g.add_argument("--slurm-time", default=60, type=_int, metavar="MIN", help="each task's time limit in minutes (default 60); a task stopped by it checkpoints, and --resume continues it")
    g.add_argument("--slurm-array-parallelism", default=64, type=_int, metavar="N", help="tasks of the array running at once (default 64)")
    g.add_argument("--slurm-cpus", default=1, type=_int, metavar="N", help="CPU cores (torch threads) per task (default 1)")
    g.add_argument("--no-wait", action="store_true", help="with --launcher: submit and exit; `gan-mixup sweep ... --resume` (or `gan-mixup metrics DIR`) later collects what finished")
    p.add_argument("--batched", action="store_true", help="toy erm/mixup: train the seeds of each setting in lockstep as one batched computation (faster for small networks; each run reproducible from its seed, not bit-identical to it trained alone)")
    _add_output_flags(p, what="sweep directory", default_out=None)
    _add_tensorboard_flag(p)

    p = sub.add_parser("metrics", help="recompute a run's metrics from its snapshots (metrics.csv), or rebuild a sweep's scorecard",
                       description="RUN_DIR: recompute every snapshot's metrics from the snapshot files, write metrics.csv and print the "
                                   "paper's iterations and the last. SWEEP_DIR: recompute the toy members' metrics from their snapshots and rewrite results.csv, scorecard.md, scorecard.png and gradients.png.")
    p.add_argument("path", help="a run directory or a sweep directory")

    sub.add_parser("objectives", help="list the objectives and regularizers")
    return parser


def _float_list(text: str) -> tuple[float, ...]:
    values = tuple(_finite_float(part) for part in text.split(",") if part.strip())
    if text.strip() and not values:  # "," or " , ": a list of nothing, never "the default"
        raise argparse.ArgumentTypeError(f"expected numbers like 1e-4,1e-3, got {text!r}")
    return values


MAX_SEEDS = 10000  # seeds in one sweep


def _seed_list(text: str) -> tuple[int, ...]:
    """``0-4`` -> 0..4; ``0,3,7``; ``0-2,9``. At most ``MAX_SEEDS``, counted before any list is built."""
    parts: list[tuple[int, int]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            bounds = (int(low), int(high)) if dash and low else (int(part), int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seeds like 0-4 or 0,1,7, got {text!r}") from None
        if bounds[1] < bounds[0]:
            raise argparse.ArgumentTypeError(f"seed range {part!r} runs backwards")
        parts.append(bounds)
    if not parts:
        raise argparse.ArgumentTypeError("no seeds given")
    count = sum(high - low + 1 for low, high in parts)
    if count > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"{count} seeds is more than a sweep can hold (at most {MAX_SEEDS})")
    return tuple(dict.fromkeys(seed for low, high in parts for seed in range(low, high + 1)))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gan-mixup`` console script; returns the exit code."""
    from gan_mixup.distributed import ignore_sigterm_while_exiting, launched_size

    # Called without arguments, main is the program (the console script, `python -m`): the process
    # ends with the code it returns. Under torchrun every rank then exits with that same code, and
    # none may be reported killed by the SIGTERM torchrun sends once the first rank is out.
    _EXITS_AFTER_MAIN[0] = argv is None and launched_size() > 1
    with _warnings_as_lines():
        code = _main(list(sys.argv[1:] if argv is None else argv))
    if code and _EXITS_AFTER_MAIN[0]:
        ignore_sigterm_while_exiting()
    return code


_EXITS_AFTER_MAIN = [False]  # main runs as the program under torchrun (see main)


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show each ``GanMixupWarning`` (a damaged file skipped, a fallback taken) as one line on
    stderr, every time it happens, as every other message of the CLI; other warnings as Python does."""
    from gan_mixup.distributed import is_main_process
    from gan_mixup.errors import GanMixupWarning

    with warnings.catch_warnings():
        warnings.simplefilter("always", GanMixupWarning)
        default = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> None:
            if issubclass(category, GanMixupWarning):
                if is_main_process():
                    print(f"gan-mixup: warning: {message}", file=sys.stderr)
            else:
                default(message, category, *rest, **kw)

        warnings.showwarning = show
        yield


def _main(argv: list[str]) -> int:
    from gan_mixup.distributed import is_main_process

    # Under torchrun every rank exits with the same code; rank 0 alone prints the message.
    report = sys.stderr if is_main_process() else io.StringIO()
    try:
        from gan_mixup.modalities.images.download import DownloadInterrupted
        from gan_mixup.training import NonFiniteError, TrainingInterrupted

        _ARGV[:] = argv
        return _run(build_parser().parse_args(argv))
    except TrainingInterrupted as stop:
        print(f"\ngan-mixup: {stop.signal_name} at iteration {stop.iteration}; checkpoint saved. Resume with:\n"
              f"  {resume_command(argv, stop.run_dir)}", file=report)
        return EXIT_INTERRUPTED
    except DownloadInterrupted as stop:  # Ctrl-C while --download fetched a dataset
        print(f"\ngan-mixup: {stop}", file=report)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # Ctrl-C outside the training loop: starting up, or rendering
        print(f"\ngan-mixup: interrupted. {_interrupted_hint(argv)}", file=report)
        return EXIT_INTERRUPTED
    except NonFiniteError as err:
        print(f"gan-mixup: stopped: {err}. {_nonfinite_hint(err, argv)}", file=report)
        return EXIT_NONFINITE
    except GanMixupError as err:
        return _fail(str(err))
    except BrokenPipeError:  # `gan-mixup metrics RUN | head`: the reader left; nothing went wrong here
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the exit's flush of stdout cannot fail too
        return 0
    except OSError as err:  # disk full, unwritable path, ...: one line, earlier files untouched
        return _fail(f"{err.strerror or err}: {err.filename or ''}".rstrip(": "))


def _nonfinite_hint(err: Any, argv: list[str]) -> str:
    if err.checkpoint_iteration is None:
        kept = "No checkpoint was written yet, so a rerun starts from the beginning"
    else:
        kept = f"The checkpoint of iteration {err.checkpoint_iteration} and the snapshots up to it are kept"
    advice = "try a lower --lr" if err.on_nonfinite == "skip" else "try a lower --lr, or --on-nonfinite skip"
    return f"{kept}; {advice}."


def _interrupted_hint(argv: list[str]) -> str:
    if argv and argv[0] == "render":
        return "Nothing of the run is lost; render again with: gan-mixup " + shlex.join(argv)
    if argv and argv[0] in (*_training_commands(), "compare", "figure5", "sweep"):
        return "Anything trained up to the last checkpoint is kept; continue with:\n  " + resume_command(argv)
    return ""


def resume_command(argv: list[str], run_dir: Path | None = None) -> str:
    """The command that continues an interrupted run: the same command line, every flag kept
    (``--no-render``, ``--no-progress``, ...), with ``--resume`` in place of ``--overwrite``, and
    ``--out RUN_DIR`` where the directory was the default one."""
    kept: list[str] = []
    skip_next = False
    for i, arg in enumerate(argv):
        if skip_next:
            skip_next = False
            continue
        if arg in ("--overwrite", "--resume") or arg.startswith("--resume="):
            # `--resume DIR` (a path, not a flag) becomes `--out DIR` unless --out is there already
            if arg == "--resume" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                skip_next = True
                if "--out" not in argv and not any(a.startswith("--out=") for a in argv):
                    kept += ["--out", argv[i + 1]]
            continue
        kept.append(arg)
    if run_dir is not None and "--out" not in kept and not any(a.startswith("--out=") for a in kept):
        kept += ["--out", str(run_dir)]
    return _launcher() + " " + shlex.join(kept + ["--resume"])


def _launcher() -> str:
    """``gan-mixup``, or under torchrun the torchrun command that resumes with the same world size."""
    from gan_mixup.distributed import launched_size

    world_size = launched_size()
    if world_size < 2:
        return "gan-mixup"
    local = os.environ.get("LOCAL_WORLD_SIZE", str(world_size))
    if local == str(world_size):
        return f"torchrun --standalone --nproc_per_node {world_size} -m gan_mixup.cli"
    return f"torchrun --nnodes ... --nproc_per_node {local} (the same {world_size} processes) -m gan_mixup.cli"


def _fail(message: str) -> int:
    from gan_mixup.distributed import is_main_process

    if is_main_process():  # under torchrun every rank exits 2; rank 0 alone says why
        print(f"gan-mixup: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _training_commands() -> set[str]:
    """The subcommands that train one run: each modality's own (``toy``, ``images``)."""
    return {m.command for m in REGISTRY.values() if m.command}


def _run(args: argparse.Namespace) -> int:
    if args.command in _training_commands():
        return _train_one(args)
    from gan_mixup.distributed import launched_size

    if launched_size() > 1:
        raise UsageError(f"{args.command} runs in one process; under torchrun train one run at a time with "
                         "`gan-mixup images` or `gan-mixup toy`")
    if args.command == "compare":
        return _compare(args)
    if args.command == "render":
        return _render(args)
    if args.command == "figure5":
        return _figure5(args)
    if args.command == "view":
        return _view(args)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "metrics":
        return _metrics(args)
    return _list_objectives()


def _train_one(args: argparse.Namespace) -> int:
    """``toy`` and ``images``: one run, the same trainer; they differ only in the default dataset.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process trains its share of the batch: rank 0
    reads the run directory and settles the config (the other ranks take its outcome, so they may
    run on machines without the directory), and rank 0 alone writes, prints and renders.
    """
    from gan_mixup.distributed import ignore_sigterm_while_exiting, process_group
    from gan_mixup.training import train

    tensorboard = _tensorboard_factory(args)  # every rank checks the extra, so all fail alike
    with process_group() as world:
        try:
            config, run_dir = world.main_decides(lambda: _config_and_run_dir(args))
            # Rank 0 writes the snapshots, so it alone logs them.
            callbacks = list(tensorboard(run_dir)) if tensorboard and world.is_main else []
            result = train(config, run_dir, resume=bool(args.resume), overwrite=args.overwrite,
                           progress=not args.no_progress, handle_signals=True, callbacks=callbacks)
        except BaseException:
            # The ranks stop together (main_decides, agreed stops) and exit non-zero: from here on,
            # leaving the group included, torchrun's SIGTERM must not cut a rank short (see main).
            if not world.alone and _EXITS_AFTER_MAIN[0]:
                ignore_sigterm_while_exiting()
            raise
    if not world.is_main:
        return 0
    if result.iterations_trained == 0 and not result.stopped_early:
        print(f"run already finished at iteration {result.iteration}; nothing trained")
    else:
        print(f"trained {result.iteration} iterations in {result.seconds:.1f} s ({result.iterations_per_second:.1f} it/s)"
              + (f" on {world.world_size} processes" if not world.alone else ""))
    print(f"run directory: {run_dir}")
    if not args.no_render:
        render_again = f"gan-mixup render {shlex.quote(str(run_dir))}"
        try:
            from gan_mixup.render import render_run

            outputs = render_run(run_dir, quiver=not args.no_quiver)
        except KeyboardInterrupt:
            print(f"\ngan-mixup: rendering interrupted; the run is complete. Render it with:\n"
                  f"  {render_again}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except (OSError, GanMixupError) as err:  # a full disk, another render of the run, ...
            reason = str(err) if isinstance(err, GanMixupError) else _os_error_text(err)
            return _fail(f"training finished at iteration {result.iteration} and its checkpoint is intact, but "
                         f"rendering failed ({reason}); render it with: {render_again}")
        for name in sorted(outputs, key=lambda name: name == "gif"):  # the GIF last: what a user opens
            print(f"{name}: {outputs[name]}")
    return 0


def _os_error_text(err: OSError) -> str:
    """An ``OSError`` as one line: "No space left on device: runs/x/frames/frame_0003.png"."""
    return f"{err.strerror or err}: {err.filename or ''}".rstrip(": ")


def _config_and_run_dir(args: argparse.Namespace) -> tuple[RunConfig, Path]:
    run_dir = _run_dir_of(args)
    if "dataset" in args:  # before the config: its own complaints (a toy-only flag, ...) would hide this one
        _check_command_fits(args.command, args.dataset)
    if args.resume and (run_dir / CONFIG_FILE).is_file():
        base = RunConfig.load(run_dir / CONFIG_FILE)
        config = config_from_args(args, base=base)
    else:
        # A marked folder without config.json is a run killed while writing it: it starts from 0.
        if args.resume and not holds_only_lock(run_dir) and not is_marked(run_dir):
            raise UsageError(f"cannot resume {run_dir}: it is not a run directory (no {CONFIG_FILE})")
        if args.resume and not run_dir.exists():
            raise UsageError(f"cannot resume {run_dir}: it is not a run directory (it does not exist)")
        config = config_from_args(args)
        if run_dir == _PENDING:
            run_dir = Path(f"runs/{config.dataset}-{config.objective}")
    _check_command_fits(args.command, config.dataset)
    return config, run_dir


_PENDING = Path("\0pending")  # --out not given: runs/<dataset>-<objective>, known once the config is


def _run_dir_of(args: argparse.Namespace) -> Path:
    """``--out``, or the DIR of ``--resume DIR``; both given must agree."""
    resume_dir = args.resume if isinstance(args.resume, str) else None
    for flag, given in (("--out", args.out), ("--resume", resume_dir)):
        if given is not None and not given.strip():  # Path("") is the current directory
            raise UsageError(f"{flag} needs a directory name, got an empty one")
    if resume_dir is not None and args.out is not None and Path(args.out) != Path(resume_dir):
        raise UsageError("give the directory once: --resume DIR, or --out DIR --resume")
    if args.resume and args.overwrite:
        raise UsageError("--resume continues a run and --overwrite replaces it: give one of them")
    chosen = resume_dir or args.out
    if chosen is None:
        if args.resume:
            raise UsageError("--resume needs the directory: --out DIR --resume (or --resume DIR)")
        if args.command in ("compare", "figure5", "sweep"):
            raise UsageError(f"{args.command} needs --out DIR, the directory for its runs")
        return _PENDING
    return Path(chosen)


def _command_dataset(args: argparse.Namespace) -> str | None:
    """The dataset a command trains when neither a flag nor a config file names one: its modality's
    (``toy``, ``images``); ``None`` for RunConfig's own."""
    return next((m.default_dataset for m in REGISTRY.values() if m.command == getattr(args, "command", None)), None)


def _check_command_fits(command: str, dataset: str) -> None:
    if dataset not in all_datasets() or command not in {m.command for m in REGISTRY.values()}:
        return  # RunConfig names the choices; compare and sweep train any dataset
    modality = modality_of(dataset)
    if modality.command != command:
        article = "an" if modality.label[:1] in "aeiou" else "a"
        raise UsageError(f"{dataset} is {article} {modality.label} dataset: train it with "
                         f"`gan-mixup {modality.command} --dataset {dataset}`")


def _compare(args: argparse.Namespace) -> int:
    from gan_mixup.experiments import compare, config_with_objective

    specs = [part.strip() for part in args.objectives.split(",") if part.strip()]
    if len(specs) < 1:
        raise UsageError("--objectives needs at least one objective, e.g. erm,mixup")
    duplicates = sorted({spec for spec in specs if specs.count(spec) > 1})
    if duplicates:
        raise UsageError(f"--objectives names {', '.join(duplicates)} twice; each objective is trained once")
    out = _run_dir_of(args)
    base = config_from_args(args)
    configs = {spec: config_with_objective(base, spec) for spec in specs}
    outputs = compare(configs, out, overwrite=args.overwrite, resume=bool(args.resume),
                      progress=not args.no_progress, handle_signals=True, quiver=not args.no_quiver,
                      callbacks_for=_tensorboard_factory(args))
    for name, path in outputs.items():
        print(f"{name}: {path}")
    return 0


def _tensorboard_factory(args: argparse.Namespace) -> Any:
    """A ``run_dir -> [callback]`` factory for --tensorboard (checked to be installed now), or None."""
    if not getattr(args, "tensorboard", False):
        return None
    from gan_mixup.tensorboard_log import TensorBoardLogger, require_tensorboard

    require_tensorboard()
    return TensorBoardLogger.for_run


EXIT_RUNS_FAILED = 1  # a sweep whose runs (some of them) failed; the rest are kept and scored


def _sweep(args: argparse.Namespace) -> int:
    from gan_mixup.sweeps import AUTHORS_ALPHAS, AUTHORS_LATENT_DIMS, SweepInterrupted, run_sweep, sweep_members

    if args.seed is not None:
        raise UsageError("a sweep takes --seeds (e.g. 0-4), not --seed")
    if args.retry_diverged and not args.resume:
        raise UsageError("--retry-diverged continues diverged runs of a sweep: give it with --resume")
    out = _run_dir_of(args)
    # Not typed: the --config file's dataset (None here), else RunConfig's default.
    datasets: list[str | None] = list(_names(args.dataset, "--dataset")) if args.dataset is not None else [None]
    presets = _names(args.preset, "--preset") if args.preset else [""]
    objectives, alphas, latents = _names(args.objectives, "--objectives"), list(args.alpha), list(args.latent_dim)
    if args.authors_grid:
        if args.preset or args.alpha or args.latent_dim or any(a.startswith("--objectives") for a in _ARGV):
            raise UsageError("--authors-grid sets --preset, --objectives, --alpha and --latent-dim itself; leave them out")
        datasets = datasets if args.dataset is not None else ["ring8", "grid25"]
        presets, objectives, alphas, latents = ["paper-code"], ["mixup"], list(AUTHORS_ALPHAS), list(AUTHORS_LATENT_DIMS)
    for name in presets:
        if name:
            load_preset(name)  # an unknown preset: one line before anything is built
    bases = {}
    for dataset in datasets:
        for preset in presets:
            base = resolve(preset=preset or None, file=args.config if "config" in args else None,
                           flags={**_typed_run_flags(args, exclude=_SWEEP_OWN), **({"dataset": dataset} if dataset else {})},
                           data_scale=getattr(args, "data_scale", None))
            bases[(base.dataset, preset)] = base
    members = sweep_members(bases, objectives=objectives, alphas=alphas, seeds=list(args.seeds), latent_dims=latents,
                            axes={name: getattr(args, name) for name in SWEEP_AXES})
    launcher = _launcher_of(args)
    settings = len({(m.dataset, m.setting) for m in members})
    print(f"sweep: {len(members)} runs ({settings} dataset x setting combinations x {len(args.seeds)} seeds) -> {out}", flush=True)
    try:
        result = run_sweep(members, out, workers=args.workers, overwrite=args.overwrite, resume=bool(args.resume),
                           progress=not args.no_progress, handle_signals=True, callbacks_for=_tensorboard_factory(args),
                           batched=args.batched, retry_diverged=args.retry_diverged, launcher=launcher)
    except SweepInterrupted as stop:
        print(f"\ngan-mixup: {stop.signal_name}: the sweep stopped; finished runs are kept and the others checkpointed. "
              f"Resume with:\n  {resume_command(_ARGV, out)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    counts: dict[str, int] = {}
    for status in result.statuses.values():
        counts[status.split(":")[0]] = counts.get(status.split(":")[0], 0) + 1
    print("runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if counts.get("diverged") and not args.retry_diverged:
        print("diverged runs are scored as diverged and kept as they are; add --resume --retry-diverged to continue "
              "them from their last checkpoint (with --on-nonfinite skip to step over the NaN)")
    for name, path in result.outputs.items():
        print(f"{name}: {path}")
    if any(counts.get(status) for status in ("submitted", "running", "interrupted")):
        print(f"runs still training on the cluster, or stopped by their time limit: collect and continue them with\n"
              f"  {resume_command(_ARGV, out)}")
    failed = [(name, status.partition(": ")[2]) for name, status in result.statuses.items() if status.startswith("failed")]
    if failed:
        names = f" ({', '.join(n for n, _ in failed[:3])}{', ...' if len(failed) > 3 else ''})" if len(failed) > 1 else ""
        _fail(f"{len(failed)} of {len(result.statuses)} runs failed{names}; the first, {failed[0][0]}: {failed[0][1]}")
        return EXIT_RUNS_FAILED
    return 0


_ARGV: list[str] = []  # the argv main() was called with (for the resume command)
SWEEP_AXES = ("lr", "beta1", "d_steps", "batch_size")  # sweep flags that take a list of values
_SWEEP_OWN = ("dataset", "alpha", "latent_dim", "seed", *SWEEP_AXES)  # run flags a sweep spells as lists


def _launcher_of(args: argparse.Namespace) -> Any:
    """The ClusterLauncher the sweep's --launcher flags describe, or None (this machine's processes)."""
    slurm_flags = [a for a in _ARGV if a.startswith(("--slurm-", "--no-wait"))]
    if args.launcher is None:
        if slurm_flags:
            raise UsageError(f"{slurm_flags[0].split('=')[0]} needs --launcher slurm (or local)")
        return None
    if args.batched or args.workers is not None:
        raise UsageError("--launcher trains each run as a task of its own: leave out --batched and --workers")
    from gan_mixup.sweeps.cluster import ClusterLauncher, require_submitit

    require_submitit()
    return ClusterLauncher(cluster=args.launcher, partition=args.slurm_partition, time_minutes=args.slurm_time,
                           array_parallelism=args.slurm_array_parallelism, cpus_per_task=args.slurm_cpus,
                           wait=not args.no_wait)


def _names(text: str, flag: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise UsageError(f"{flag} needs at least one name")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"{flag} names {', '.join(duplicates)} twice")
    return names


def _metrics(args: argparse.Namespace) -> int:
    from gan_mixup.rundir import MANIFEST_FILE

    path = Path(args.path)
    if (path / MANIFEST_FILE).is_file():
        from gan_mixup.sweeps.scorecard import write_scorecard

        outputs = write_scorecard(path, recompute=True)
        print(outputs["scorecard"].read_text())
        for name, out in outputs.items():
            print(f"{name}: {out}")
        return 0
    if not (path / CONFIG_FILE).is_file():
        raise UsageError(f"{path} is neither a run directory (no {CONFIG_FILE}) nor a sweep directory (no {MANIFEST_FILE})")
    from gan_mixup.metrics import metrics_table, write_metrics_csv

    csv_path, rows = write_metrics_csv(path)
    for line in metrics_table(rows):
        print(line)
    print(f"metrics of {len(rows)} snapshots: {csv_path}")
    return 0


def _render(args: argparse.Namespace) -> int:
    from gan_mixup.experiments import render_any

    outputs = render_any(Path(args.run_dir), fps=args.fps, workers=args.workers, max_frames=args.max_frames,
                         quiver=not args.no_quiver)
    for name, path in outputs.items():
        print(f"{name}: {path}")
    return 0


def _view(args: argparse.Namespace) -> int:
    from gan_mixup.view import write_viewer

    print(f"viewer: {write_viewer(args.paths, args.out, max_frames=args.max_frames)}")
    return 0


def _figure5(args: argparse.Namespace) -> int:
    from gan_mixup.experiments import figure5

    outputs = figure5(_run_dir_of(args), iterations=args.iterations, seed=args.seed, hidden=args.hidden,
                      overwrite=args.overwrite, resume=bool(args.resume), progress=not args.no_progress,
                      handle_signals=True)
    for name, path in outputs.items():
        print(f"{name}: {path}")
    return 0


def _list_objectives() -> int:
    from gan_mixup.objectives import OBJECTIVES
    from gan_mixup.regularizers import REGULARIZERS

    print("objectives (--objective NAME):")
    for name, factory in OBJECTIVES.items():
        print(f"  {name:16s} {_first_line(factory)}")
    print("regularizers (--regularizer NAME[:VALUE]; label-smoothing needs erm, mixup or lsgan, the rest compose with any objective):")
    for name, factory in REGULARIZERS.items():
        print(f"  {name:16s} {_first_line(factory)}")
    return 0


def _first_line(obj: Any) -> str:
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

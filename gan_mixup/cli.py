"""``gan-mixup``: the command line. It only parses arguments, builds configs and calls the library.

User mistakes end with one line on stderr, ``gan-mixup: error: ...``, and exit code 2.
"""
from __future__ import annotations

import argparse
import math
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

from gan_mixup.config import ToyConfig
from gan_mixup.objectives import GENERATOR_LOSSES, LAMBDA_DISTRIBUTIONS, LAMBDA_SAMPLINGS, PAIRINGS
from gan_mixup.presets import PRESETS, load_preset

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_NONFINITE = 3

# `make demo`: the authors' Figure-5 setting (preset paper-code, full 3x512 networks), cut to 3,000
# iterations: about 3 minutes on 2 cores, by when mixup has reached all eight ring modes. The
# paper-text variant needs far longer to get there (see README, "The paper's text and the authors' code").
DEMO_PRESET = "paper-code"
DEMO_SETTINGS = {"iterations": 3000, "snapshot_frames": 100, "checkpoint_every": 500}


class UsageError(Exception):
    """A mistake in the command line, reported as one line and exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


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
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _key_value(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip().replace("-", "_"), _finite_float(value)


def _add_run_flags(p: argparse.ArgumentParser, *, objective: bool = True) -> None:
    """Flags that set ToyConfig fields. Defaults are SUPPRESSed so that only flags the user typed
    override the preset / config file / ToyConfig defaults (in that order)."""
    S = argparse.SUPPRESS
    g = p.add_argument_group("what is trained")
    g.add_argument("--preset", default=S, choices=sorted(PRESETS), help="start from a named preset: " + "; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()))
    g.add_argument("--config", default=S, metavar="FILE", help="start from a config JSON file (as written to RUN_DIR/config.json); flags override it")
    g.add_argument("--dataset", default=S, help="toy distribution: ring8, grid25, spiral, swissroll, moons (default ring8)")
    g.add_argument("--data-scale", default=S, choices=["authors", "later"], help="ring/grid scale: authors = radius 1 / spacing 0.5, std 0.01 (mixup authors' code, default); later = ring radius 2 std 0.02, grid spacing 2 std 0.05 (later papers)")
    g.add_argument("--dataset-option", default=S, action="append", type=_key_value, metavar="KEY=VALUE", help="a dataset parameter, e.g. radius=2 or std=0.05 (repeatable)")
    if objective:
        g.add_argument("--objective", default=S, help="erm, mixup, ... (`gan-mixup objectives` lists all; default mixup)")
    g.add_argument("--alpha", default=S, type=_finite_float, help="mixup α: λ ~ Beta(α, α), or U(0, α) with --lambda-distribution uniform (default 0.2)")
    g.add_argument("--lambda-distribution", default=S, choices=LAMBDA_DISTRIBUTIONS, help="mixup λ distribution: beta (paper's text, default) or uniform (authors' code)")
    g.add_argument("--lambda-sampling", default=S, choices=LAMBDA_SAMPLINGS, help="one λ per sample (default) or per batch")
    g.add_argument("--pairing", default=S, choices=PAIRINGS, help="mixup pairs: real-fake (paper's text, default) or shuffled real∪fake batches (authors' code)")
    g.add_argument("--generator-loss", default=S, choices=GENERATOR_LOSSES, help="G loss: non-saturating (default), saturating, mixed (G maximises D's mixup loss), minimax (authors' code: -BCE on an unmixed real∪fake batch)")
    g.add_argument("--regularizer", default=S, action="append", metavar="NAME[:VALUE]", help="add a regularizer, e.g. r1:10, gp:10, instance-noise:0.1, label-smoothing:0.9 (repeatable)")
    g.add_argument("--objective-option", default=S, action="append", type=_key_value, metavar="KEY=VALUE", help="an option of a non-mixup objective, e.g. gp_weight=10 for wgan-gp (repeatable)")
    g.add_argument("--spectral-norm", default=S, action="store_true", help="spectral normalization on every layer of D")
    g = p.add_argument_group("networks and optimisation (paper defaults)")
    g.add_argument("--iterations", default=S, type=_int, help="generator iterations (default 20000)")
    g.add_argument("--batch-size", default=S, type=_int, help="real and fake samples per step (default 128)")
    g.add_argument("--d-steps", default=S, type=_int, help="discriminator steps per generator step (default 5)")
    g.add_argument("--latent-dim", default=S, type=_int, help="size of G's Gaussian noise (default 2)")
    g.add_argument("--hidden", default=S, type=_int, help="hidden units per layer in G and D (default 512)")
    g.add_argument("--layers", default=S, type=_int, help="hidden layers in G and D (default 3)")
    g.add_argument("--lr", default=S, type=_finite_float, help="Adam learning rate (default 1e-3, Adam's default)")
    g.add_argument("--seed", default=S, type=_int, help="seed for model init, data, noise and λ (default 0)")
    g.add_argument("--device", default=S, help="torch device, e.g. cpu or cuda (default cpu)")
    g = p.add_argument_group("recording")
    g.add_argument("--snapshot-frames", default=S, type=_int, help="log-spaced snapshots for the GIF, besides the paper's iterations (default 200)")
    g.add_argument("--snapshot-iterations", default=S, type=_int_list, metavar="N,N,...", help="extra snapshot iterations")
    g.add_argument("--fixed-samples", default=S, type=_int, help="fake samples per snapshot (default 1000)")
    g.add_argument("--grid-size", default=S, type=_int, help="D is drawn on a GRID×GRID grid (default 64)")
    g.add_argument("--log-every", default=S, type=_int, help="iterations between metrics.jsonl records (default 10)")
    g.add_argument("--checkpoint-every", default=S, type=_int, help="iterations between checkpoints (default 1000)")
    g.add_argument("--on-nonfinite", default=S, choices=["stop", "skip"], help="on a NaN/Inf loss: stop the run (default) or skip that update")


DATA_SCALES = {
    "authors": {"ring8": {}, "grid25": {}},
    "later": {"ring8": {"radius": 2.0, "std": 0.02}, "grid25": {"spacing": 2.0, "std": 0.05}},
}

# Flags whose argparse dest is the ToyConfig field of the same name.
_CONFIG_FLAGS = (
    "dataset", "objective", "alpha", "lambda_distribution", "lambda_sampling", "pairing", "generator_loss",
    "spectral_norm", "iterations", "batch_size", "d_steps", "latent_dim", "hidden", "layers", "lr", "seed", "device",
    "snapshot_frames", "snapshot_iterations", "fixed_samples", "grid_size", "log_every", "checkpoint_every", "on_nonfinite",
)


def config_from_args(args: argparse.Namespace, base: ToyConfig | None = None, **overrides: Any) -> ToyConfig:
    """defaults < base (a resumed run's config) < --demo < --preset < --config < typed flags < overrides."""
    fields: dict[str, Any] = base.to_dict() if base is not None else {}
    if getattr(args, "demo", False):
        fields.update({**load_preset(DEMO_PRESET), **DEMO_SETTINGS})
    if "preset" in args:
        fields.update(load_preset(args.preset))
    if "config" in args:
        path = Path(args.config)
        if not path.is_file():
            raise UsageError(f"no config file at {path}")
        fields.update(ToyConfig.load(path).to_dict())
    fields.update({name: getattr(args, name) for name in _CONFIG_FLAGS if name in args})
    dataset = overrides.get("dataset", fields.get("dataset", ToyConfig.dataset))
    if "data_scale" in args:
        fields["dataset_options"] = dict(DATA_SCALES[args.data_scale].get(dataset, {}))
    if "dataset_option" in args:
        fields["dataset_options"] = {**fields.get("dataset_options", {}), **dict(args.dataset_option)}
    if "objective_option" in args:
        fields["objective_options"] = {**fields.get("objective_options", {}), **dict(args.objective_option)}
    if "regularizer" in args:
        fields["regularizers"] = tuple(args.regularizer)
    fields.update(overrides)
    return ToyConfig.from_dict(fields)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gan-mixup", description="Train toy GANs with and without mixup, and watch them.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("toy", help="train one toy GAN; write snapshots, metrics, checkpoints and a GIF",
                       description="Train the paper's toy GAN (3x512 ReLU MLPs, batch 128, 5 D steps per G step, Adam) and render a GIF.")
    _add_run_flags(p)
    p.add_argument("--out", help="run directory to create (default runs/<dataset>-<objective>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory at --out")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its last checkpoint (flags may change harmless settings such as --iterations)")
    p.add_argument("--demo", action="store_true", help=f"a quick demo: preset {DEMO_PRESET} with {DEMO_SETTINGS} (a --preset, --config or flag overrides it)")
    p.add_argument("--no-render", action="store_true", help="skip rendering the GIF at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("compare", help="train several objectives from one seed and fixed noise; render them side by side",
                       description="Train each objective from the same seed (same initial networks, same fixed noise), then render a side-by-side GIF and a Figure-5-style grid.")
    _add_run_flags(p, objective=False)
    p.add_argument("--objectives", default="erm,mixup", help="comma-separated objectives to compare (default erm,mixup); NAME+REG[:V] adds regularizers, e.g. erm+r1:10; a regularizer alone (r1) means erm with it")
    p.add_argument("--out", required=True, help="directory for the runs (one subdirectory per objective) and the renders")
    p.add_argument("--overwrite", action="store_true", help="replace existing runs under --out")
    p.add_argument("--resume", action="store_true", help="continue interrupted runs under --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    p = sub.add_parser("render", help="re-render frames, GIF and loss plot of a run directory from its snapshots alone")
    p.add_argument("run_dir", help="a run directory written by `gan-mixup toy`, or a compare directory")
    p.add_argument("--fps", type=_int, default=10, help="GIF frames per second (default 10)")
    p.add_argument("--workers", type=_int, default=None, help="processes rendering frames (default: up to 4)")
    p.add_argument("--max-frames", type=_int, default=None, help="thin each GIF to at most this many snapshots (first, last and the paper's iterations always kept)")

    p = sub.add_parser("figure5", help="reproduce the paper's Figure 5 with the authors' code settings (ERM vs mixup α=0.2 on grid and ring)",
                       description="Train ERM and mixup (α = 0.2) on grid25 and ring8 with the paper-code preset and render the figure in the paper's layout.")
    p.add_argument("--out", required=True, help="directory for the four runs and the figure")
    p.add_argument("--iterations", type=_int, default=20000, help="generator iterations per run (default 20000, the paper's)")
    p.add_argument("--seed", type=_int, default=0, help="seed (default 0)")
    p.add_argument("--hidden", type=_int, default=None, help="override the preset's width 512, for a quick look")
    p.add_argument("--overwrite", action="store_true", help="replace existing runs under --out")
    p.add_argument("--resume", action="store_true", help="continue interrupted runs under --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")

    sub.add_parser("objectives", help="list the objectives and regularizers")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gan-mixup`` console script; returns the exit code."""
    from gan_mixup.rundir import CheckpointError
    from gan_mixup.train import NonFiniteError, TrainingInterrupted

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(build_parser().parse_args(argv))
    except UsageError as err:
        return _fail(str(err))
    except TrainingInterrupted as stop:
        print(f"\ngan-mixup: {stop.signal_name} at iteration {stop.iteration}; checkpoint saved. Resume with:\n"
              f"  {resume_command(argv, stop.run_dir)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except NonFiniteError as err:
        print(f"gan-mixup: stopped: {err}. The last good checkpoint and snapshots are kept; "
              "try a lower --lr or --on-nonfinite skip.", file=sys.stderr)
        return EXIT_NONFINITE
    except (ValueError, CheckpointError, FileExistsError, FileNotFoundError, PermissionError) as err:
        return _fail(str(err))
    except OSError as err:  # disk full, unwritable path, ...: one line, earlier files untouched
        return _fail(f"{err.strerror or err}: {err.filename or ''}".rstrip(": "))


def resume_command(argv: list[str], run_dir: Path | None) -> str:
    """The command that continues an interrupted run: ``toy --resume RUN_DIR``, or for compare /
    figure5 the same command with ``--resume`` instead of ``--overwrite``."""
    if argv and argv[0] == "toy" and run_dir is not None:
        return f"gan-mixup toy --resume {shlex.quote(str(run_dir))}"
    kept = [arg for arg in argv if arg not in ("--overwrite", "--resume")]
    return "gan-mixup " + shlex.join(kept + ["--resume"])


def _fail(message: str) -> int:
    print(f"gan-mixup: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    if args.command == "toy":
        return _toy(args)
    if args.command == "compare":
        return _compare(args)
    if args.command == "render":
        return _render(args)
    if args.command == "figure5":
        return _figure5(args)
    return _list_objectives()


def _toy(args: argparse.Namespace) -> int:
    from gan_mixup.train import train

    if args.resume:
        if args.out and Path(args.out) != Path(args.resume):
            raise UsageError("give either --resume RUN_DIR or --out, not both")
        run_dir = Path(args.resume)
        if not (run_dir / "config.json").is_file():
            raise UsageError(f"cannot resume {run_dir}: it is not a run directory (no config.json)")
        config = config_from_args(args, base=ToyConfig.load(run_dir / "config.json"))
    else:
        config = config_from_args(args)
        run_dir = Path(args.out or f"runs/{config.dataset}-{config.objective}")
    result = train(config, run_dir, resume=bool(args.resume), overwrite=args.overwrite,
                   progress=not args.no_progress, handle_signals=True)
    print(f"trained {result.iteration} iterations in {result.seconds:.1f} s ({result.iterations_per_second:.1f} it/s)")
    print(f"run directory: {run_dir}")
    if not args.no_render:
        from gan_mixup.render import render_run

        outputs = render_run(run_dir)
        for name in sorted(outputs, key=lambda name: name == "gif"):  # the GIF last: what a user opens
            print(f"{name}: {outputs[name]}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from gan_mixup.experiments import compare

    specs = [part.strip() for part in args.objectives.split(",") if part.strip()]
    if len(specs) < 1:
        raise UsageError("--objectives needs at least one objective, e.g. erm,mixup")
    base = config_from_args(args)
    configs = {spec: config_with_objective(base, spec) for spec in specs}
    outputs = compare(configs, Path(args.out), overwrite=args.overwrite, resume=args.resume,
                      progress=not args.no_progress, handle_signals=True)
    for name, path in outputs.items():
        print(f"{name}: {path}")
    return 0


def config_with_objective(base: ToyConfig, spec: str) -> ToyConfig:
    """``mixup`` or ``erm+r1:10+gp`` -> base config with that objective and regularizers.

    A regularizer alone (``r1``, ``gp:5``) means the standard GAN with it, ``erm+r1``: the usual
    baseline it is compared as."""
    from gan_mixup.objectives import OBJECTIVES
    from gan_mixup.regularizers import REGULARIZERS

    name, *regularizers = spec.split("+")
    if name not in OBJECTIVES and name.partition(":")[0] in REGULARIZERS:
        name, regularizers = "erm", [name, *regularizers]
    return base.replace(objective=name, regularizers=tuple(base.regularizers) + tuple(regularizers))


def _render(args: argparse.Namespace) -> int:
    from gan_mixup.experiments import render_any

    for name, path in render_any(Path(args.run_dir), fps=args.fps, workers=args.workers, max_frames=args.max_frames).items():
        print(f"{name}: {path}")
    return 0


def _figure5(args: argparse.Namespace) -> int:
    from gan_mixup.experiments import figure5

    outputs = figure5(Path(args.out), iterations=args.iterations, seed=args.seed, hidden=args.hidden,
                      overwrite=args.overwrite, resume=args.resume, progress=not args.no_progress, handle_signals=True)
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

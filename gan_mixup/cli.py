"""``gan-mixup``: the command line. It only parses arguments, builds configs and calls the library.

User mistakes (``GanMixupError``, argparse errors, a full disk) end with one line on stderr,
``gan-mixup: error: ...``, and exit code 2; Ctrl-C ends with one line and 130; anything else is a
bug and keeps its traceback. The run flags are generated from RunConfig's field declarations
(``config_flags``); every decision they feed is the library's.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

from gan_mixup.config_flags import (build_run_flags, config_and_run_dir, config_from_args, float_list, int_list,
                                    integer, run_dir_of, typed_run_flags, unique_names)
from gan_mixup.distributed import ignore_sigterm_while_exiting, is_main_process, launched_size, process_group
from gan_mixup.errors import GanMixupError, GanMixupWarning, os_error_text
from gan_mixup.presets import DEMO_PRESET, DEMO_SETTINGS
from gan_mixup.regularizers import catalogue
from gan_mixup.resume_hints import interrupted_hint, nonfinite_hint, resume_command, training_commands
from gan_mixup.rundir import CONFIG_FILE, MANIFEST_FILE
from gan_mixup.tensorboard_log import tensorboard_callbacks
from gan_mixup.training import NonFiniteError, TrainingInterrupted

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_NONFINITE = 3
EXIT_RUNS_FAILED = 1  # a sweep whose runs (some of them) failed; the rest are kept and scored


class UsageError(GanMixupError):
    """A mistake in the command line, reported as one line and exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        # main() prints "gan-mixup: error: " before it; a subcommand's parser (prog "gan-mixup sweep")
        # adds its own name only, so every error line reads "gan-mixup: error: [SUBCOMMAND: ]...".
        _, _, command = self.prog.partition(" ")
        raise UsageError(f"{command}: {message}" if command else message)


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
    p.add_argument("--fps", type=integer, default=10, help="GIF frames per second (default 10)")
    p.add_argument("--workers", type=integer, default=None, help="processes rendering frames (default: up to 4)")
    p.add_argument("--max-frames", type=integer, default=None, help="thin each GIF to at most this many snapshots (first, last and the paper's iterations always kept)")
    _add_quiver_flag(p)

    p = sub.add_parser("view", help="write an offline browser viewer of runs, a compare, figure5 or sweep directory",
                       description="Write one folder (index.html and its data) that shows the runs side by side on one time "
                                   "axis, with their metrics under the pictures; it opens from file:// with no server and no "
                                   "network. Built from the run directories alone, as render is.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="run directories, or compare / figure5 / sweep directories")
    p.add_argument("--out", default=None, help="the viewer's folder (default: PATH/viewer; needed for several paths)")
    p.add_argument("--max-frames", type=integer, default=None, help="at most this many snapshots per run (default: all, "
                   "thinned only where the frames together would pass 45 MB)")

    p = sub.add_parser("figure5", help="reproduce the paper's Figure 5 with the authors' code settings (ERM vs mixup α=0.2 on grid and ring)",
                       description="Train ERM and mixup (α = 0.2) on grid25 and ring8 with the paper-code preset and render the figure in the paper's layout.")
    p.add_argument("--iterations", type=integer, default=20000, help="generator iterations per run (default 20000, the paper's)")
    p.add_argument("--seed", type=integer, default=0, help="seed (default 0)")
    p.add_argument("--hidden", type=integer, default=None, help="override the preset's width 512, for a quick look")
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
    p.add_argument("--alpha", default="", type=float_list, metavar="A,A,...", help="mixup α values, e.g. 0.1,0.2,0.5,1 (default: the preset's or 0.2); objectives without α run once")
    p.add_argument("--preset", default="", help="comma-separated presets, each a setting of its own, e.g. paper-text,paper-code (default: none)")
    p.add_argument("--latent-dim", default="", type=int_list, metavar="Z,Z,...", help="latent sizes to sweep (default: the preset's or 2)")
    p.add_argument("--seeds", default="0-4", type=_seeds, help="seeds: 0-4, 0,1,7 or 0-2,9 (default 0-4)")
    p.add_argument("--seed", default=None, help="not for a sweep: give --seeds")
    p.add_argument("--authors-grid", action="store_true", help="the mixup authors' own grid: ring8 and grid25 x latent 2, 5, 10 x α 0, 0.1, 0.2, 0.5, 1 with preset paper-code (α 0 is their ERM)")
    p.add_argument("--workers", type=integer, default=None, help="runs trained at once, one process and one thread each (default: the CPU count)")
    p.add_argument("--retry-diverged", action="store_true", help="with --resume: continue the runs that stopped on NaN/Inf from their last checkpoint (with the same settings they diverge again at the same step: add --on-nonfinite skip to step over it)")
    g = p.add_argument_group("hyperparameter axes (comma-separated values; each combination is a setting of its own)")
    g.add_argument("--lr", default=(), type=float_list, metavar="LR,LR,...", help="Adam learning rates, e.g. 5e-5,2e-4,1e-3 (default: the modality's)")
    g.add_argument("--beta1", default=(), type=float_list, metavar="B,B,...", help="Adam β1 values, e.g. 0,0.5 (default: the modality's, 0.9 toy, 0.5 images)")
    g.add_argument("--d-steps", default=(), type=int_list, metavar="N,N,...", help="D steps per G step, e.g. 1,5 (default: the modality's)")
    g.add_argument("--batch-size", default=(), type=int_list, metavar="N,N,...", help="batch sizes, e.g. 32,64 (default: the modality's); regularizer strengths are crossed in --objectives: erm+r1:1,erm+r1:10")
    g = p.add_argument_group("where the runs train (default: processes on this machine)")
    g.add_argument("--launcher", default=None, choices=["slurm", "local"], help="slurm: each run one task of a Slurm job array through submitit (pip install 'gan-mixup[slurm]'); local: submitit's local executor, the same path on this machine")
    g.add_argument("--slurm-partition", default=None, metavar="P", help="Slurm partition (default: the cluster's)")
    g.add_argument("--slurm-time", default=60, type=integer, metavar="MIN", help="each task's time limit in minutes (default 60); a task stopped by it checkpoints, and --resume continues it")
    g.add_argument("--slurm-array-parallelism", default=64, type=integer, metavar="N", help="tasks of the array running at once (default 64)")
    g.add_argument("--slurm-cpus", default=1, type=integer, metavar="N", help="CPU cores (torch threads) per task (default 1)")
    g.add_argument("--no-wait", action="store_true", help="with --launcher: submit and exit; `gan-mixup sweep ... --resume` (or `gan-mixup metrics DIR`) later collects what finished")
    p.add_argument("--batched", action="store_true", help="toy erm/mixup: train the seeds of each setting in lockstep as one batched computation (faster for small networks; each run reproducible from its seed, not bit-identical to it trained alone)")
    _add_output_flags(p, what="sweep directory", default_out=None)
    _add_tensorboard_flag(p)

    p = sub.add_parser("metrics", help="recompute a run's metrics from its snapshots (metrics.csv), or rebuild a sweep's scorecard",
                       description="RUN_DIR: recompute every snapshot's metrics from the snapshot files, write metrics.csv and print the "
                                   "paper's iterations and the last. SWEEP_DIR: recompute the toy members' metrics from their snapshots and rewrite results.csv, scorecard.md, scorecard.png and gradients.png. "
                                   "RESULTS_CSV (a sweep's results.csv, alone): write survival.md, survival.png, paired.md and (with the calibration probe's columns) calibration.md and calibration.png beside it.")
    p.add_argument("path", help="a run directory, a sweep directory, or a sweep's results.csv")

    p = sub.add_parser("status", help="how far a sweep (or a run) has come, without reading a result",
                       description="Each path, a sweep directory: its runs done, training now (and by which process), interrupted and not "
                                   "started, by seed and by arm, and the share of the iterations trained. A run directory: "
                                   "the same for one run. Nothing is written, no metric is read: a pre-registered study can "
                                   "be watched while it trains.")
    p.add_argument("paths", nargs="+", help="sweep or run directories")

    sub.add_parser("objectives", help="list the objectives and regularizers")
    return parser


def _seeds(text: str) -> tuple[int, ...]:
    from gan_mixup.sweeps import SweepError, parse_seeds

    try:
        return parse_seeds(text)
    except SweepError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gan-mixup`` console script; returns the exit code."""
    # Called without arguments, main is the program (the console script, `python -m`): the process
    # ends with the code it returns. Under torchrun every rank then exits with that same code, and
    # none may be reported killed by the SIGTERM torchrun sends once the first rank is out.
    exits_after = argv is None and launched_size() > 1
    with _warnings_as_lines():
        code = _main(list(sys.argv[1:] if argv is None else argv), exits_after=exits_after)
    if code and exits_after:
        ignore_sigterm_while_exiting()
    return code


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show each ``GanMixupWarning`` (a damaged file skipped, a fallback taken) as one line on
    stderr, every time it happens, as every other message of the CLI; other warnings as Python does."""
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


def _main(argv: list[str], *, exits_after: bool) -> int:
    """Parse ``argv`` and run its command; ``exits_after``: the process ends with this code under torchrun."""
    # Under torchrun every rank exits with the same code; rank 0 alone prints the message.
    report = sys.stderr if is_main_process() else io.StringIO()
    try:
        from gan_mixup.modalities.images.download import DownloadInterrupted

        return _run(build_parser().parse_args(argv), argv, exits_after=exits_after)
    except TrainingInterrupted as stop:
        print(f"\ngan-mixup: {stop.signal_name} at iteration {stop.iteration}; checkpoint saved. Resume with:\n"
              f"  {resume_command(argv, stop.run_dir)}", file=report)
        return EXIT_INTERRUPTED
    except DownloadInterrupted as stop:  # Ctrl-C while --download fetched a dataset
        print(f"\ngan-mixup: {stop}", file=report)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:  # Ctrl-C outside the training loop: starting up, or rendering
        print(f"\ngan-mixup: interrupted. {interrupted_hint(argv)}", file=report)
        return EXIT_INTERRUPTED
    except NonFiniteError as err:
        print(f"gan-mixup: stopped: {err}. {nonfinite_hint(err)}", file=report)
        return EXIT_NONFINITE
    except GanMixupError as err:
        return _fail(str(err))
    except BrokenPipeError:  # `gan-mixup metrics RUN | head`: the reader left; nothing went wrong here
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the exit's flush of stdout cannot fail too
        return 0
    except OSError as err:  # disk full, unwritable path, ...: one line, earlier files untouched
        return _fail(os_error_text(err))


def _fail(message: str) -> int:
    if is_main_process():  # under torchrun every rank exits 2; rank 0 alone says why
        print(f"gan-mixup: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _run(args: argparse.Namespace, argv: list[str], *, exits_after: bool) -> int:
    if args.command in training_commands():
        return _train_one(args, exits_after=exits_after)
    if launched_size() > 1:
        raise UsageError(f"{args.command} runs in one process; under torchrun train one run at a time with "
                         "`gan-mixup images` or `gan-mixup toy`")
    if args.command == "sweep":
        return _sweep(args, argv)
    if args.command == "objectives":
        print(catalogue())
        return 0
    return {"compare": _compare, "render": _render, "figure5": _figure5, "view": _view, "metrics": _metrics,
            "status": _status}[args.command](args)


def _train_one(args: argparse.Namespace, *, exits_after: bool) -> int:
    """``toy`` and ``images``: one run, the same trainer; they differ only in the default dataset.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every process trains its share of the batch: rank 0
    reads the run directory and settles the config (the other ranks take its outcome, so they may
    run on machines without the directory), and rank 0 alone writes, prints and renders.
    """
    from gan_mixup.training import train  # looked up per call: a test's worker wraps the package's train

    tensorboard = tensorboard_callbacks(args.tensorboard)  # every rank checks the extra, so all fail alike
    with process_group() as world:
        try:
            config, run_dir = world.main_decides(lambda: config_and_run_dir(args))
            # Rank 0 writes the snapshots, so it alone logs them.
            callbacks = list(tensorboard(run_dir)) if tensorboard and world.is_main else []
            result = train(config, run_dir, resume=bool(args.resume), overwrite=args.overwrite,
                           progress=not args.no_progress, handle_signals=True, callbacks=callbacks)
        except BaseException:
            # The ranks stop together (main_decides, agreed stops) and exit non-zero: from here on,
            # leaving the group included, torchrun's SIGTERM must not cut a rank short (see main).
            if not world.alone and exits_after:
                ignore_sigterm_while_exiting()
            raise
    if not world.is_main:
        return 0
    print(result.summary(processes=world.world_size))
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
            reason = str(err) if isinstance(err, GanMixupError) else os_error_text(err)
            return _fail(f"training finished at iteration {result.iteration} and its checkpoint is intact, but "
                         f"rendering failed ({reason}); render it with: {render_again}")
        for name in sorted(outputs, key=lambda name: name == "gif"):  # the GIF last: what a user opens
            print(f"{name}: {outputs[name]}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from gan_mixup.experiments import compare, member_configs

    specs = unique_names(args.objectives, "--objectives")
    out = _need_dir(args)
    # The options go to each member, checked against its objective, not against the base's (mixup by default).
    base = config_from_args(args, exclude=("objective_options",))
    configs = member_configs(base, specs, dict(typed_run_flags(args).get("objective_options") or {}))
    outputs = compare(configs, out, overwrite=args.overwrite, resume=bool(args.resume),
                      progress=not args.no_progress, handle_signals=True, quiver=not args.no_quiver,
                      callbacks_for=tensorboard_callbacks(args.tensorboard))
    _print_outputs(outputs)
    return 0


def _print_outputs(outputs: dict[str, Path]) -> None:
    for name, path in outputs.items():
        print(f"{name}: {path}")


def _need_dir(args: argparse.Namespace) -> Path:
    """The directory of compare, figure5 or sweep: they have no default one."""
    out = run_dir_of(args)
    if out is None:
        raise UsageError(f"{args.command} needs --out DIR, the directory for its runs")
    return out


SWEEP_AXES = ("lr", "beta1", "d_steps", "batch_size")  # sweep flags that take a list of values
_SWEEP_OWN = ("dataset", "alpha", "latent_dim", "seed", *SWEEP_AXES)  # run flags a sweep spells as lists


def _sweep(args: argparse.Namespace, argv: list[str]) -> int:
    from gan_mixup.sweeps import SweepGrid, SweepInterrupted, authors_grid, run_sweep, sweep_bases, sweep_members

    if args.seed is not None:
        raise UsageError("a sweep takes --seeds (e.g. 0-4), not --seed")
    if args.retry_diverged and not args.resume:
        raise UsageError("--retry-diverged continues diverged runs of a sweep: give it with --resume")
    out = _need_dir(args)
    # Not typed: the --config file's dataset (None here), else RunConfig's default.
    datasets = unique_names(args.dataset, "--dataset") if args.dataset is not None else None
    presets = unique_names(args.preset, "--preset") if args.preset else [""]
    grid = SweepGrid(datasets=datasets or [None], presets=presets, objectives=unique_names(args.objectives, "--objectives"),
                     alphas=args.alpha, latent_dims=args.latent_dim)
    if args.authors_grid:
        if args.preset or args.alpha or args.latent_dim or any(a.startswith("--objectives") for a in argv):
            raise UsageError("--authors-grid sets --preset, --objectives, --alpha and --latent-dim itself; leave them out")
        grid = authors_grid(datasets)
    bases = sweep_bases(grid, file=args.config if "config" in args else None, data_scale=getattr(args, "data_scale", None),
                        flags=typed_run_flags(args, exclude=(*_SWEEP_OWN, "objective_options")))
    members = sweep_members(bases, objectives=grid.objectives, alphas=list(grid.alphas), seeds=list(args.seeds),
                            latent_dims=list(grid.latent_dims), axes={name: getattr(args, name) for name in SWEEP_AXES},
                            objective_options=dict(typed_run_flags(args).get("objective_options") or {}))
    launcher = _launcher_of(args, argv)
    settings = len({(m.dataset, m.setting) for m in members})
    print(f"sweep: {len(members)} runs ({settings} dataset x setting combinations x {len(args.seeds)} seeds) -> {out}", flush=True)
    try:
        result = run_sweep(members, out, workers=args.workers, overwrite=args.overwrite, resume=bool(args.resume),
                           progress=not args.no_progress, handle_signals=True, callbacks_for=tensorboard_callbacks(args.tensorboard),
                           batched=args.batched, retry_diverged=args.retry_diverged, launcher=launcher)
    except SweepInterrupted as stop:
        print(f"\ngan-mixup: {stop.signal_name}: the sweep stopped; finished runs are kept and the others checkpointed. "
              f"Resume with:\n  {resume_command(argv, out)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(result.summary())
    if result.counts().get("diverged") and not args.retry_diverged:
        print("diverged runs are scored as diverged and kept as they are; add --resume --retry-diverged to continue "
              "them from their last checkpoint (with --on-nonfinite skip to step over the NaN)")
    _print_outputs(result.outputs)
    if result.still_training():
        print(f"runs still training on the cluster, or stopped by their time limit: collect and continue them with\n"
              f"  {resume_command(argv, out)}")
    failed = result.failure_message()
    if failed:
        _fail(failed)
        return EXIT_RUNS_FAILED
    return 0


def _launcher_of(args: argparse.Namespace, argv: list[str]) -> Any:
    """The ClusterLauncher the sweep's --launcher flags describe, or None (this machine's processes)."""
    slurm_flags = [a for a in argv if a.startswith(("--slurm-", "--no-wait"))]
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


def _metrics(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.is_file() and path.suffix == ".csv":  # a sweep's results.csv alone: the stability reports
        from gan_mixup.sweeps.scorecard import stability_report_from_csv

        _print_outputs(stability_report_from_csv(path))
        return 0
    if (path / MANIFEST_FILE).is_file():
        from gan_mixup.sweeps.scorecard import write_scorecard

        outputs = write_scorecard(path, recompute=True)
        print(outputs["scorecard"].read_text())
        _print_outputs(outputs)
        return 0
    if path.is_file() and path.name in (CONFIG_FILE, MANIFEST_FILE):
        raise UsageError(f"{path} is a file of the folder to score: give the folder, {path.parent}")
    if not (path / CONFIG_FILE).is_file():
        raise UsageError(f"{path} is neither a run directory (no {CONFIG_FILE}) nor a sweep directory (no {MANIFEST_FILE})"
                         " nor a sweep's results.csv")
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
    _print_outputs(outputs)
    return 0


def _view(args: argparse.Namespace) -> int:
    from gan_mixup.view import write_viewer

    print(f"viewer: {write_viewer(args.paths, args.out, max_frames=args.max_frames)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from gan_mixup.sweeps.progress import path_progress, progress_text

    for path in args.paths:
        print(progress_text(path_progress(Path(path))))
    return 0


def _figure5(args: argparse.Namespace) -> int:
    from gan_mixup.experiments import figure5

    outputs = figure5(_need_dir(args), iterations=args.iterations, seed=args.seed, hidden=args.hidden,
                      overwrite=args.overwrite, resume=bool(args.resume), progress=not args.no_progress,
                      handle_signals=True)
    _print_outputs(outputs)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

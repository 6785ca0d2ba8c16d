"""The ``gan-mixup`` command line: end-to-end runs, help texts, and a table of bad inputs.

Every training here is tiny (hidden 8, ≤ 60 iterations, a handful of snapshots) and runs in-process
through ``gan_mixup.cli.main(argv)``; a subprocess is used only where a real process is the point.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import run_cli, subprocess_env
from gan_mixup.cli import build_parser, main
from gan_mixup.resume_hints import resume_command

# Small nets and few snapshots; --iterations is added per test.
TINY = ["--hidden", "8", "--snapshot-frames", "3", "--fixed-samples", "100", "--grid-size", "8", "--no-progress"]






def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes (to prove a failed command touched nothing)."""
    if not path.exists():
        return {}
    if path.is_file():
        return {".": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()} | {
        str(p.relative_to(path)): f"-> {p.readlink()}".encode() for p in sorted(path.rglob("*")) if p.is_symlink()}


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


# ----- end to end ---------------------------------------------------------------------------------

def test_toy_writes_a_run_directory_and_says_where(tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(["toy", "--out", out, "--iterations", "20", "--checkpoint-every", "10", "--no-render", *TINY])
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert {"config.json", "metrics.jsonl", "snapshots", "checkpoint.pt", "checkpoint.prev.pt"} <= {p.name for p in out.iterdir()}
    assert str(out) in stdout, "the user must be told where the run went"
    assert "20 iterations" in stdout

    config = json.loads((out / "config.json").read_text())
    assert (config["hidden"], config["iterations"], config["fixed_samples"], config["grid_size"]) == (8, 20, 100, 8)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in records} == {"train", "snapshot"}
    assert [r["iteration"] for r in records if r["kind"] == "train"] == [10, 20]
    snaps = sorted(p.name for p in (out / "snapshots").glob("it_*.npz"))
    assert snaps[0] == "it_00000000.npz" and snaps[-1] == "it_00000020.npz" and "it_00000010.npz" in snaps
    assert (out / "snapshots" / "reference.npz").is_file()
    snap = npz_arrays(out / "snapshots" / "it_00000020.npz")
    assert snap["fake"].shape == (100, 2) and snap["d_grid"].shape == (8, 8)
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["iteration"] == 20
    assert not list(out.glob("*.tmp")), "no temporary checkpoint file is left behind"


def test_toy_renders_a_gif_by_default(tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(["toy", "--out", out, "--iterations", "12", *TINY])
    assert code == 0, stderr
    gif = out / "training.gif"
    assert gif.is_file() and gif.stat().st_size > 0
    assert stdout.strip().splitlines()[-1] == f"gif: {gif}"  # the last line says where to look


def test_default_out_is_under_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run_cli(["toy", "--dataset", "grid25", "--objective", "erm", "--iterations", "5", "--no-render", *TINY])
    assert code == 0, stderr
    assert (tmp_path / "runs" / "grid25-erm" / "checkpoint.pt").is_file()
    assert str(Path("runs") / "grid25-erm") in stdout


def _subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


SUBCOMMANDS = ["toy", "images", "compare", "render", "view", "figure5", "sweep", "metrics", "status", "objectives"]


def test_every_subcommand_is_known():
    assert set(_subcommand_parsers()) == set(SUBCOMMANDS)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_lists_every_flag_with_help_text(command, capsys):
    parser = _subcommand_parsers()[command]
    options = [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    missing = [a.option_strings[0] for a in options if not a.help or a.help == argparse.SUPPRESS or not a.help.strip()]
    assert not missing, f"flags without help text in `gan-mixup {command}`: {missing}"
    positionals = [a for a in parser._actions if not a.option_strings]
    assert all(a.help and a.help.strip() for a in positionals)

    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for action in options:
        assert action.option_strings[0] in text, f"{action.option_strings[0]} is missing from `{command} --help`"
    for action in positionals:
        assert action.dest in text


def test_top_level_help_names_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for command in SUBCOMMANDS:
        assert command in text


def test_objectives_lists_objectives_and_regularizers():
    # needs gan_mixup/regularizers/
    code, stdout, stderr = run_cli(["objectives"])
    assert code == 0, stderr
    for name in ("erm", "mixup", "r1"):
        assert name in stdout


def test_compare_trains_both_from_the_same_start_and_renders(tmp_path):
    # needs gan_mixup/render.py
    out = tmp_path / "cmp"
    code, stdout, stderr = run_cli(["compare", "--objectives", "erm,mixup", "--out", out, "--iterations", "12", *TINY])
    assert code == 0, stderr
    erm, mixup = out / "erm", out / "mixup"
    for run in (erm, mixup):
        assert (run / "checkpoint.pt").is_file() and (run / "config.json").is_file()
    assert json.loads((erm / "config.json").read_text())["objective"] == "erm"
    assert json.loads((mixup / "config.json").read_text())["objective"] == "mixup"
    # Same seed, same initial networks, same fixed noise: iteration 0 is identical.
    first_erm = npz_arrays(erm / "snapshots" / "it_00000000.npz")
    first_mixup = npz_arrays(mixup / "snapshots" / "it_00000000.npz")
    assert first_erm.keys() == first_mixup.keys()
    for key in first_erm:
        np.testing.assert_array_equal(first_erm[key], first_mixup[key])
    # ... and the objectives really differ afterwards.
    last = "it_00000012.npz"
    assert not np.array_equal(npz_arrays(erm / "snapshots" / last)["d_grid"], npz_arrays(mixup / "snapshots" / last)["d_grid"])
    printed = [line.split(": ", 1)[1] for line in stdout.splitlines() if ": " in line and str(out) in line]
    assert printed, stdout
    assert f"viewer: {out / 'viewer' / 'index.html'}" in stdout
    for path in printed:
        assert Path(path).exists(), path
    assert any(p.endswith(".gif") for p in printed) and any(p.endswith(".png") for p in printed)


def test_render_rerenders_from_snapshots_alone(tmp_path):
    # needs gan_mixup/render.py
    out = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--out", out, "--iterations", "12", "--no-render", *TINY])
    assert code == 0, stderr
    (out / "checkpoint.pt").unlink()
    (out / "checkpoint.prev.pt").unlink(missing_ok=True)
    before = tree(out)
    code, stdout, stderr = run_cli(["render", out])
    assert code == 0, stderr
    gif = out / "training.gif"
    assert gif.is_file() and str(gif) in stdout
    after = tree(out)
    for name, data in before.items():  # nothing trained, nothing rewritten
        assert after[name] == data, name
    assert not (out / "checkpoint.pt").exists()


def _tiny_run(out: Path, *extra: str) -> None:
    code, _, stderr = run_cli(["toy", "--out", out, "--iterations", "12", "--no-render", *TINY, *extra])
    assert code == 0, stderr


def test_render_while_another_render_holds_the_run_is_one_line(tmp_path):
    from gan_mixup.rundir import render_locked

    out = tmp_path / "run"
    _tiny_run(out)
    before = tree(out)
    with render_locked(out):  # a render in progress, in this process: the subprocess must wait its turn
        done = subprocess.run([sys.executable, "-m", "gan_mixup.cli", "render", str(out), "--workers", "1"],
                              capture_output=True, text=True, env=subprocess_env(), timeout=300)
    line = assert_one_error_line(done.returncode, done.stderr, "another render of")
    assert str(out) in line and "wait for it" in line
    assert tree(out) == before  # nothing written, no temporary file and no lock left


def test_final_render_failing_on_a_full_disk_says_training_finished(tmp_path, monkeypatch):
    import errno

    import gan_mixup.render

    def disk_full(run_dir, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(run_dir) / "frames" / "frame_0003.png"))

    monkeypatch.setattr(gan_mixup.render, "render_run", disk_full)
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(["toy", "--out", out, "--iterations", "12", *TINY])
    line = assert_one_error_line(code, stderr, "training finished at iteration 12")
    assert "checkpoint is intact" in line and "No space left on device" in line and "frame_0003.png" in line
    assert line.endswith(f"gan-mixup render {out}")
    assert "trained 12 iterations" in stdout
    assert torch.load(out / "checkpoint.pt", weights_only=True)["iteration"] == 12


def test_final_render_while_another_render_holds_the_run_says_training_finished(tmp_path):
    from gan_mixup.rundir import render_locked

    out = tmp_path / "run"
    _tiny_run(out)
    with render_locked(out):
        code, _, stderr = run_cli(["toy", "--out", out, "--resume", "--iterations", "16", *TINY])
    line = assert_one_error_line(code, stderr, "training finished at iteration 16")
    assert "another render of" in line and f"gan-mixup render {out}" in line
    assert torch.load(out / "checkpoint.pt", weights_only=True)["iteration"] == 16


def test_resuming_a_finished_run_says_nothing_was_trained(tmp_path):
    out = tmp_path / "run"
    _tiny_run(out)
    code, stdout, stderr = run_cli(["toy", "--out", out, "--resume", "--iterations", "12", "--no-render", *TINY])
    assert code == 0, stderr
    assert stdout.splitlines()[0] == "run already finished at iteration 12; nothing trained"
    assert "it/s" not in stdout
    code, stdout, stderr = run_cli(["toy", "--out", out, "--resume", "--iterations", "14", "--no-render", *TINY])
    assert code == 0, stderr
    assert stdout.startswith("trained 14 iterations in ")


def test_metrics_when_metrics_csv_is_a_directory_names_it_and_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    _tiny_run(out)
    (out / "metrics.csv").mkdir()
    before = tree(out)
    code, _, stderr = run_cli(["metrics", out])
    line = assert_one_error_line(code, stderr, f"{out / 'metrics.csv'} is a directory")
    assert "metrics.csv.tmp" not in line
    assert tree(out) == before and not list(out.glob("*.tmp"))


def test_metrics_given_a_folders_file_names_the_folder_and_anything_else_says_what_it_takes(tmp_path):
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "runs.json").write_text("{}")
    code, _, stderr = run_cli(["metrics", tmp_path / "sweep" / "runs.json"])
    assert_one_error_line(code, stderr, f"give the folder, {tmp_path / 'sweep'}")
    code, _, stderr = run_cli(["metrics", tmp_path])
    assert_one_error_line(code, stderr, "nor a sweep's results.csv")


def test_figure5_runs_the_four_runs_and_writes_the_figure(tmp_path):
    # needs gan_mixup/render.py
    out = tmp_path / "f5"
    code, stdout, stderr = run_cli(["figure5", "--iterations", "12", "--hidden", "8", "--out", out, "--no-progress"])
    assert code == 0, stderr
    assert (out / "figure5.png").is_file() and str(out / "figure5.png") in stdout
    assert f"viewer: {out / 'viewer' / 'index.html'}" in stdout and (out / "viewer" / "data" / "run_003.js").is_file()
    runs = sorted(p.name for p in out.iterdir() if (p / "config.json").is_file())
    assert runs == ["grid25-erm", "grid25-mixup", "ring8-erm", "ring8-mixup"]
    for run in runs:
        config = json.loads((out / run / "config.json").read_text())
        assert config["iterations"] == 12 and config["hidden"] == 8 and config["preset"] == "paper-code"
        assert (out / run / "checkpoint.pt").is_file()


def test_packages_import_in_a_fresh_process(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import gan_mixup, toy_data; print(gan_mixup.__version__)"],
                          cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_resume_command_is_copy_pasteable_and_keeps_every_flag():
    assert resume_command(["toy", "--out", "runs/a"], Path("runs/a")) == "gan-mixup toy --out runs/a --resume"
    # A path with a space must come out quoted, or pasting the command resumes the wrong thing.
    command = resume_command(["toy", "--out", "my runs/a", "--no-render", "--no-progress"], Path("my runs/a"))
    assert shlex.split(command) == ["gan-mixup", "toy", "--out", "my runs/a", "--no-render", "--no-progress", "--resume"]
    command = resume_command(["compare", "--out", "my runs/c", "--overwrite"], None)
    assert shlex.split(command) == ["gan-mixup", "compare", "--out", "my runs/c", "--resume"]
    # The default directory is named, so the command does not depend on it staying the default.
    assert resume_command(["toy", "--iterations", "5"], Path("runs/ring8-mixup")) == \
        "gan-mixup toy --iterations 5 --out runs/ring8-mixup --resume"
    # `--resume DIR` (the older spelling) stays a resume of DIR.
    assert resume_command(["toy", "--resume", "runs/a", "--no-render"], Path("runs/a")) == \
        "gan-mixup toy --out runs/a --no-render --resume"


# ----- bad input: CLI -------------------------------------------------------------------------------

# (id, argv, a word the one error line must contain). "{out}" is the run directory the case must not
# create; toy cases get TINY, --iterations 20 and --no-render first (the case's flags override them),
# and --out {out} unless they name --out/--resume.
BAD_CLI = [
    ("alpha-negative", ["toy", "--alpha", "-1"], "alpha"),
    ("alpha-zero", ["toy", "--alpha", "0"], "alpha"),
    ("alpha-nan", ["toy", "--alpha", "nan"], "finite"),
    ("alpha-inf", ["toy", "--alpha", "inf"], "finite"),
    ("alpha-minus-inf", ["toy", "--alpha=-inf"], "finite"),
    ("alpha-not-a-number", ["toy", "--alpha", "abc"], "number"),
    ("iterations-not-a-number", ["toy", "--iterations", "x"], "integer"),
    ("iterations-fraction", ["toy", "--iterations", "1.5"], "integer"),
    ("iterations-zero", ["toy", "--iterations", "0"], "iterations"),
    ("iterations-negative", ["toy", "--iterations=-5"], "iterations"),
    ("batch-size-zero", ["toy", "--batch-size", "0"], "batch_size"),
    ("d-steps-zero", ["toy", "--d-steps", "0"], "d_steps"),
    ("hidden-zero", ["toy", "--hidden", "0"], "hidden"),
    ("layers-zero", ["toy", "--layers", "0"], "layers"),
    ("latent-dim-zero", ["toy", "--latent-dim", "0"], "latent_dim"),
    ("lr-zero", ["toy", "--lr", "0"], "lr"),
    ("lr-nan", ["toy", "--lr", "nan"], "finite"),
    ("seed-negative", ["toy", "--seed=-1"], "seed"),
    ("grid-size-zero", ["toy", "--grid-size", "0"], "grid_size"),
    ("fixed-samples-zero", ["toy", "--fixed-samples", "0"], "fixed_samples"),
    ("log-every-zero", ["toy", "--log-every", "0"], "log_every"),
    ("checkpoint-every-zero", ["toy", "--checkpoint-every", "0"], "checkpoint_every"),
    ("snapshot-frames-negative", ["toy", "--snapshot-frames=-1"], "snapshot_frames"),
    ("schedule-past-the-end", ["toy", "--snapshot-iterations", "500", "--iterations", "50"], "500"),
    ("schedule-at-zero", ["toy", "--snapshot-iterations", "0"], "snapshot"),
    ("schedule-not-integers", ["toy", "--snapshot-iterations", "10,x"], "integers"),
    ("unknown-dataset", ["toy", "--dataset", "nope"], "dataset"),
    ("unknown-objective", ["toy", "--objective", "nope"], "objective"),
    ("unknown-regularizer", ["toy", "--regularizer", "nope"], "regularizer"),  # needs gan_mixup/regularizers/
    ("regularizer-bad-value", ["toy", "--regularizer", "r1:-1"], "gamma"),  # needs gan_mixup/regularizers/
    ("unknown-preset", ["toy", "--preset", "nope"], "preset"),
    ("unknown-data-scale", ["toy", "--data-scale", "huge"], "data-scale"),
    ("dataset-option-negative-radius", ["toy", "--dataset-option", "radius=-1"], "radius"),
    ("dataset-option-unknown-key", ["toy", "--dataset-option", "nope=1"], "nope"),
    ("dataset-option-no-value", ["toy", "--dataset-option", "radius"], "KEY=VALUE"),
    ("dataset-option-not-a-number", ["toy", "--dataset-option", "radius=abc"], "number"),
    ("objective-option-unknown-key", ["toy", "--objective", "wgan-gp", "--objective-option", "nope=1"], "nope"),
    ("config-malformed-json", ["toy", "--config", "{tmp}/bad.json"], "JSON"),
    ("config-unknown-keys", ["toy", "--config", "{tmp}/unknown.json"], "bogus"),
    ("config-bad-value", ["toy", "--config", "{tmp}/badvalue.json"], "hidden"),
    ("config-missing", ["toy", "--config", "{tmp}/missing.json"], "missing.json"),
    ("resume-non-run-directory", ["toy", "--resume", "{tmp}/notrun"], "run directory"),
    ("resume-missing-directory", ["toy", "--resume", "{tmp}/nowhere"], "run directory"),
    ("resume-and-different-out", ["toy", "--resume", "{tmp}/nockpt", "--out", "{out}"], "--out"),
    ("generator-loss-mixed-with-erm", ["toy", "--generator-loss", "mixed", "--objective", "erm"], "mixed"),
    ("generator-loss-with-hinge", ["toy", "--objective", "hinge", "--generator-loss", "saturating"], "generator"),
    ("uniform-lambda-alpha-2", ["toy", "--lambda-distribution", "uniform", "--alpha", "2"], "alpha"),
    ("unknown-lambda-distribution", ["toy", "--lambda-distribution", "gamma"], "lambda-distribution"),
    ("unknown-on-nonfinite", ["toy", "--on-nonfinite", "maybe"], "on-nonfinite"),
    ("existing-output", ["toy", "--out", "{tmp}/existing"], "exists"),
    ("overwrite-non-run-directory", ["toy", "--out", "{tmp}/notrun", "--overwrite"], "not a gan-mixup run"),
    ("output-under-a-file", ["toy", "--out", "{tmp}/afile/run"], "afile"),
    ("unknown-device", ["toy", "--device", "nodevice"], "device"),
    ("unknown-flag", ["toy", "--bogus"], "--bogus"),
    ("no-subcommand", [], "command"),
    ("unknown-subcommand", ["train"], "train"),
    ("compare-unknown-objective", ["compare", "--objectives", "erm,nope", "--out", "{out}", "--iterations", "5"], "nope"),
    ("compare-no-objectives", ["compare", "--objectives", ",", "--out", "{out}"], "objectives"),
    ("compare-without-out", ["compare"], "--out"),
    ("figure5-zero-iterations", ["figure5", "--iterations", "0", "--out", "{out}"], "iterations"),
    ("render-missing-directory", ["render", "{tmp}/nowhere"], "nowhere"),
    ("render-bad-fps", ["render", "{tmp}/nowhere", "--fps", "x"], "integer"),
    # issue 22: the library's ValueErrors came through as tracebacks
    ("render-fps-zero", ["render", "{tmp}/existing", "--fps", "0"], "fps"),
    ("render-fps-negative", ["render", "{tmp}/existing", "--fps", "-5"], "fps"),
    ("render-max-frames-one", ["render", "{tmp}/existing", "--max-frames", "1"], "max_frames"),
    ("render-workers-zero", ["render", "{tmp}/existing", "--workers", "0"], "workers"),
    ("render-run-stopped-before-its-first-snapshot", ["render", "{tmp}/existing"], "nothing to render yet"),
    ("render-compare-with-no-member-trained", ["render", "{tmp}/acompare"], "nothing to render yet"),
    # found by a hostile new user (issue 14): each failed late, after the run directory was made
    ("grid-size-one", ["toy", "--grid-size", "1"], "grid_size"),
    ("iterations-beyond-64-bits", ["toy", "--iterations", str(10**20)], "iterations"),
    ("iterations-beyond-the-limit", ["toy", "--iterations", str(10**9 + 1)], "at most"),
    ("device-meta", ["toy", "--device", "meta"], "device"),
    ("device-cuda-without-gpu", ["toy", "--device", "cuda:7"], "cuda"),
    ("fixed-samples-out-of-memory", ["toy", "--fixed-samples", str(10**12)], "fixed_samples"),
    ("hidden-out-of-memory", ["toy", "--hidden", str(10**7)], "hidden"),
    ("n-modes-fraction", ["toy", "--dataset-option", "n_modes=2.5"], "n_modes"),
    ("n-modes-huge", ["toy", "--dataset-option", "n_modes=1e9"], "n_modes"),
    ("config-binary", ["toy", "--config", "{tmp}/binary.json"], "not a text file"),
    ("config-a-directory", ["toy", "--config", "{tmp}/notrun"], "config"),
    ("objective-option-given-to-mixup", ["toy", "--objective", "mixup", "--objective-option", "gp_weight=1"], "mixup"),
    ("compare-same-objective-twice", ["compare", "--objectives", "erm,erm", "--out", "{out}", "--iterations", "5"], "twice"),
    ("compare-objectives-with-an-empty-item", ["compare", "--objectives", "erm,", "--out", "{out}", "--iterations", "5"], "empty item"),
    ("sweep-objectives-with-an-empty-item", ["sweep", "--objectives", "erm,,mixup", "--out", "{out}", "--iterations", "5"], "empty item"),
    ("resume-and-overwrite", ["toy", "--resume", "--overwrite"], "--overwrite"),
    ("resume-without-directory", ["compare", "--resume"], "--out"),
    ("overwrite-current-directory", ["toy", "--out", ".", "--overwrite"], "current directory"),
    ("overwrite-folder-with-a-config-json", ["toy", "--out", "{tmp}/project", "--overwrite"], "marker"),
    ("figure5-resume-into-compare", ["figure5", "--out", "{tmp}/acompare", "--resume", "--iterations", "5"], "compare"),
    ("images-with-a-toy-dataset", ["images", "--dataset", "ring8", "--out", "{out}"], "gan-mixup toy"),
    ("toy-with-an-image-dataset", ["toy", "--dataset", "digits"], "gan-mixup images"),
    ("images-mnist-without-root", ["images", "--dataset", "mnist", "--out", "{out}"], "--data-root"),
    ("images-mnist-missing-files", ["images", "--dataset", "mnist", "--data-root", "{tmp}/notrun", "--out", "{out}"], "train-images-idx3-ubyte"),
    ("images-cifar-missing-files", ["images", "--dataset", "cifar10", "--data-root", "{tmp}/nowhere", "--out", "{out}"], "cifar-10-batches-py"),
    ("images-folder-missing", ["images", "--dataset", "folder", "--data-root", "{tmp}/nowhere", "--out", "{out}"], "nowhere"),
    ("images-bad-size", ["images", "--image-size", "24", "--out", "{out}"], "image-size"),
    ("images-g-ema-one", ["images", "--g-ema", "1", "--out", "{out}"], "g_ema"),
    ("toy-with-image-size", ["toy", "--image-size", "32"], "image"),
    # issue 22: each trained somewhere unexpected or gave a traceback
    ("out-empty", ["toy", "--out", ""], "empty"),
    ("resume-empty", ["toy", "--resume", ""], "empty"),
    ("out-dangling-symlink", ["toy", "--out", "{tmp}/dangling"], "symbolic link"),
    ("sweep-out-dangling-symlink", ["sweep", "--out", "{tmp}/dangling", "--iterations", "5"], "symbolic link"),
    ("config-nested-deeply", ["toy", "--config", "{tmp}/deep.json"], "nested too deeply"),
    ("out-is-a-file", ["toy", "--out", "{tmp}/afile"], "is a file, not a directory"),
    ("sweep-out-is-a-file", ["sweep", "--out", "{tmp}/afile", "--iterations", "5"], "is a file, not a directory"),
    # toy-only flags on images, and image-only ones on toy (issue 22): refused, not recorded and ignored
    ("images-with-layers", ["images", "--layers", "7", "--out", "{out}"], "layers applies to toy datasets only"),
    ("images-with-grid-size", ["images", "--grid-size", "1000", "--out", "{out}"], "grid_size applies to toy datasets only"),
    ("images-with-data-scale", ["images", "--data-scale", "later", "--out", "{out}"], "--data-scale"),
    ("data-scale-on-spiral", ["toy", "--dataset", "spiral", "--data-scale", "later"], "ring8 and grid25 only"),
    ("compare-images-with-layers", ["compare", "--dataset", "digits", "--layers", "5", "--out", "{out}"], "layers"),
    ("toy-with-sync-batchnorm", ["toy", "--sync-batchnorm"], "sync_batchnorm"),
    ("toy-with-channels-last", ["toy", "--channels-last"], "channels_last"),
    ("toy-with-g-step-batchnorm", ["toy", "--g-step-batchnorm", "running"], "g_step_batchnorm"),
    ("images-g-step-batchnorm-unknown", ["images", "--g-step-batchnorm", "eval", "--out", "{out}"], "running"),
    ("config-unknown-preset", ["toy", "--config", "{tmp}/badpreset.json"], "unknown preset 'nope'"),
    ("images-metric-samples-one", ["images", "--metric-samples", "1", "--out", "{out}"], "metric_samples"),
    ("images-folder-without-root", ["images", "--dataset", "folder", "--out", "{out}"], "--data-root"),
    ("images-mnist-root-a-file", ["images", "--dataset", "mnist", "--data-root", "{tmp}/afile", "--out", "{out}"], "is a file"),
]


@pytest.fixture
def bad_input_dir(tmp_path):
    """Files and directories the bad-input cases point at."""
    (tmp_path / "bad.json").write_text('{"iterations": ')
    (tmp_path / "unknown.json").write_text('{"bogus": 1}')
    (tmp_path / "badvalue.json").write_text('{"hidden": 0}')
    (tmp_path / "badpreset.json").write_text('{"preset": "nope"}')
    (tmp_path / "notrun").mkdir()
    (tmp_path / "notrun" / "notes.txt").write_text("not a run\n")
    nockpt = tmp_path / "nockpt"
    nockpt.mkdir()
    (nockpt / "config.json").write_text(json.dumps({"hidden": 8, "iterations": 20, "fixed_samples": 100, "grid_size": 8}))
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "config.json").write_text('{"hidden": 8}')
    (existing / "metrics.jsonl").write_text('{"kind": "train", "iteration": 10}\n')
    (tmp_path / "afile").write_text("a regular file\n")
    (tmp_path / "binary.json").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "dangling").symlink_to(tmp_path / "missing-target")
    project = tmp_path / "project"  # a user's folder that happens to hold a config.json
    project.mkdir()
    (project / "config.json").write_text('{"lr": 0.1}')
    (project / "main.py").write_text("print('my work')\n")
    acompare = tmp_path / "acompare"
    acompare.mkdir()
    (acompare / ".gan-mixup-run").write_text('{"gan_mixup": "compare"}\n')
    (acompare / "runs.json").write_text('{"dir_type": "compare", "runs": {"erm": "erm"}}')
    return tmp_path


def _expand(argv: list[str], tmp: Path, out: Path) -> list[str]:
    argv = [a.replace("{tmp}", str(tmp)).replace("{out}", str(out)) for a in argv]
    if argv[:1] == ["toy"]:
        if "--out" not in argv and "--resume" not in argv:
            argv += ["--out", str(out)]
        # TINY first, so that the case's own flag (e.g. --hidden 0) is the one argparse keeps.
        argv = ["toy", *TINY, "--iterations", "20", "--no-render", *argv[1:]]
    return argv


def assert_one_error_line(code: int, stderr: str, keyword: str) -> str:
    assert code == 2, f"exit code {code}, stderr: {stderr!r}"
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {lines!r}"
    assert lines[0].startswith("gan-mixup: error: "), lines[0]
    assert keyword.lower() in lines[0].lower(), f"{keyword!r} not in {lines[0]!r}"
    return lines[0]


def test_bad_input_table_is_big_enough():
    assert len(BAD_CLI) >= 25 and len(BAD_LIBRARY) >= 25


@pytest.mark.parametrize("argv, keyword", [pytest.param(a, k, id=i) for i, a, k in BAD_CLI])
def test_bad_cli_input_is_one_line_exit_2_and_leaves_no_trace(argv, keyword, bad_input_dir, monkeypatch):
    tmp = bad_input_dir
    monkeypatch.chdir(tmp)  # a default --out (runs/...) would land here, and is checked below
    out = tmp / "run"
    before = tree(tmp)
    code, stdout, stderr = run_cli(_expand(argv, tmp, out))
    assert_one_error_line(code, stderr, keyword)
    assert not out.exists(), "a failed command must not leave a partial run directory"
    assert not (tmp / "runs").exists()
    assert tree(tmp) == before, "a failed command must not touch existing files"


@pytest.mark.parametrize("argv, command", [
    (["nope"], ""),
    (["toy", "--iterations", "x"], "toy"),
    (["images", "--image-size", "7"], "images"),
    (["compare", "--lr", "x"], "compare"),
    (["render"], "render"),
    (["figure5", "--seed", "x"], "figure5"),
    (["sweep", "--seeds", "a"], "sweep"),
    (["metrics"], "metrics"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_argparse_errors_name_the_program_once(argv, command):
    code, _, stderr = run_cli(argv)
    line = assert_one_error_line(code, stderr, "")
    assert line.count("gan-mixup") == 1, line
    if command:  # a subcommand's own parser names the subcommand after the prefix, never "gan-mixup X" again
        assert line.startswith(f"gan-mixup: error: {command}: "), line
def _damaged_data(root: Path, case: str) -> tuple[list[str], list[str]]:
    """Local data under ``root`` damaged as ``case``: the images flags that read it, and the words
    (file names, counts) the one error line must hold."""
    from PIL import Image

    from image_files import write_fake_mnist, write_idx, write_png

    raw = root / "MNIST" / "raw"
    if case.startswith("mnist"):
        write_fake_mnist(root, "MNIST", 12)
        if case == "mnist-counts-disagree":
            write_idx(raw / "train-labels-idx1-ubyte", np.arange(10))
            return ["--dataset", "mnist"], [str(raw / "train-images-idx3-ubyte"), str(raw / "train-labels-idx1-ubyte"), "12", "10"]
        images = raw / "train-images-idx3-ubyte"
        images.write_bytes(images.read_bytes()[:-100] if case == "mnist-truncated" else b"")
        return ["--dataset", "mnist"], [str(images), "truncated"]
    for cls in ("a", "b"):
        for i in range(6):
            write_png(root / cls / f"{i}.png", (40 * i, 0, 0), (8, 8))
    if case == "folder-empty-class":
        (root / "c").mkdir()
        return ["--dataset", "folder"], [str(root / "c"), "no images"]
    if case == "folder-truncated-png":
        bad = root / "b" / "noise.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(bad)
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
        return ["--dataset", "folder"], [str(bad), "truncated"]
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)
    return ["--dataset", "folder"], [str(root / "a" / "loop"), "symlink loop"]


@pytest.mark.parametrize("case", ["mnist-counts-disagree", "mnist-truncated", "mnist-empty-file", "folder-empty-class",
                                  "folder-truncated-png", "folder-symlink-loop"])
def test_images_on_damaged_local_data_name_the_file_in_one_line(tmp_path, case):
    flags, words = _damaged_data(tmp_path / "data", case)
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(["images", *flags, "--data-root", tmp_path / "data", "--out", out, "--iterations", "2",
                                    "--hidden", "8", "--batch-size", "8", "--image-size", "16", "--metric-samples", "0",
                                    "--no-progress", "--no-render"])
    line = assert_one_error_line(code, stderr, words[0])
    assert all(word in line for word in words), line
    assert "add --download" not in line and not out.exists()


IMAGE_TINY = ["--iterations", "2", "--hidden", "8", "--batch-size", "8", "--fixed-samples", "4", "--metric-samples", "0",
              "--snapshot-frames", "1", "--no-progress", "--no-render"]


def test_images_config_without_a_dataset_trains_the_images_default(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"image_size": 16, "hidden": 8}))  # written before the dataset key was needed
    code, stdout, stderr = run_cli(["images", "--config", old, "--out", tmp_path / "run", *IMAGE_TINY])
    assert code == 0, stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["dataset"], config["image_size"], config["hidden"]) == ("digits", 16, 8)
    # A typed --dataset still wins, and toy keeps its own default.
    code, _, stderr = run_cli(["images", "--config", old, "--dataset", "stacked-digits", "--out", tmp_path / "stacked", *IMAGE_TINY])
    assert code == 0, stderr
    assert json.loads((tmp_path / "stacked" / "config.json").read_text())["dataset"] == "stacked-digits"
    (tmp_path / "toy.json").write_text(json.dumps({"hidden": 8}))
    code, _, stderr = run_cli(["toy", "--config", tmp_path / "toy.json", "--out", tmp_path / "toy", *TINY, "--iterations", "2",
                               "--no-render"])
    assert code == 0, stderr
    assert json.loads((tmp_path / "toy" / "config.json").read_text())["dataset"] == "ring8"


# ----- bad input: library ---------------------------------------------------------------------------

def _library_cases():
    from gan_mixup.config import ConfigError, RunConfig
    from gan_mixup.objectives import MixupGAN, ObjectiveError, StandardGAN, get_objective
    from gan_mixup.presets import PresetError, load_preset
    from gan_mixup.rundir import CheckpointError, load_checkpoint, snapshot_schedule
    from gan_mixup.rundir import RunDirectoryError
    from gan_mixup.training import train
    from toy_data import get_dataset

    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    linear3 = torch.nn.Linear(2, 3)  # three outputs per sample: not a discriminator
    tiny = dict(hidden=8, iterations=5, snapshot_frames=2, fixed_samples=100, grid_size=8)

    def existing_run(tmp):
        (tmp / "run").mkdir()
        (tmp / "run" / "config.json").write_text("{}")
        train(RunConfig(**tiny), tmp / "run")

    def parse_regularizer(spec):
        from gan_mixup.regularizers import parse_regularizer as parse  # needs gan_mixup/regularizers/

        return parse(spec)

    def regularizer_error():
        from gan_mixup.regularizers import RegularizerError  # needs gan_mixup/regularizers/

        return RegularizerError

    return [
        ("mixup-alpha-negative", lambda tmp: MixupGAN(alpha=-1), ObjectiveError, "alpha"),
        ("mixup-alpha-zero", lambda tmp: MixupGAN(alpha=0), ObjectiveError, "alpha"),
        ("mixup-alpha-nan", lambda tmp: MixupGAN(alpha=math.nan), ObjectiveError, "alpha"),
        ("mixup-alpha-inf", lambda tmp: MixupGAN(alpha=math.inf), ObjectiveError, "alpha"),
        ("mixup-uniform-alpha-2", lambda tmp: MixupGAN(alpha=2, lambda_distribution="uniform"), ObjectiveError, "alpha"),
        ("mixup-unknown-generator-loss", lambda tmp: MixupGAN(generator_loss="nope"), ObjectiveError, "nope"),
        ("mixup-wrong-d-shape", lambda tmp: MixupGAN().discriminator_loss(linear3, real, fake), ObjectiveError, "one logit"),
        ("mixup-wrong-d-shape-generator", lambda tmp: MixupGAN().generator_loss(linear3, fake, real), ObjectiveError, "one logit"),
        ("erm-wrong-d-shape", lambda tmp: StandardGAN().discriminator_loss(linear3, real, fake), ObjectiveError, "one logit"),
        ("erm-d-returns-scalar", lambda tmp: StandardGAN().discriminator_loss(lambda x: x.sum(), real, fake), ObjectiveError, "one logit"),
        ("mixup-mismatched-shapes", lambda tmp: MixupGAN().discriminator_loss(torch.nn.Linear(2, 1), real, torch.randn(8, 3)), ObjectiveError, "shape"),
        ("erm-mismatched-shapes", lambda tmp: StandardGAN().discriminator_loss(torch.nn.Linear(2, 1), real, torch.randn(8, 3)), ObjectiveError, "shape"),
        ("mixup-mismatched-batch", lambda tmp: MixupGAN().discriminator_loss(torch.nn.Linear(2, 1), real, torch.randn(5, 2)), ObjectiveError, "batch"),
        ("unknown-objective", lambda tmp: get_objective("nope"), ObjectiveError, "nope"),
        ("config-iterations-zero", lambda tmp: RunConfig(iterations=0), ConfigError, "iterations"),
        ("config-alpha-negative", lambda tmp: RunConfig(alpha=-1), ConfigError, "alpha"),
        ("config-alpha-nan", lambda tmp: RunConfig(alpha=math.nan), ConfigError, "alpha"),
        ("config-batch-size-zero", lambda tmp: RunConfig(batch_size=0), ConfigError, "batch_size"),
        ("config-hidden-float", lambda tmp: RunConfig(hidden=8.5), ConfigError, "hidden"),
        ("config-unknown-dataset", lambda tmp: RunConfig(dataset="nope"), ConfigError, "dataset"),
        ("config-unknown-objective", lambda tmp: RunConfig(objective="nope"), ConfigError, "objective"),
        ("config-schedule-past-end", lambda tmp: RunConfig(iterations=50, snapshot_iterations=(500,)), ConfigError, "500"),
        ("config-unknown-keys", lambda tmp: RunConfig.from_dict({"bogus": 1}), ConfigError, "bogus"),
        ("config-bad-json", lambda tmp: RunConfig.from_json("{"), ConfigError, "JSON"),
        ("config-missing-file", lambda tmp: RunConfig.load(tmp / "missing.json"), ConfigError, "missing.json"),
        ("config-unknown-device", lambda tmp: RunConfig(device="nodevice"), ConfigError, "device"),
        ("dataset-unknown", lambda tmp: get_dataset("nope"), ValueError, "nope"),
        ("dataset-negative-radius", lambda tmp: get_dataset("ring8", radius=-1), ValueError, "radius"),
        ("dataset-unknown-option", lambda tmp: get_dataset("ring8", nope=1), ValueError, "nope"),
        ("schedule-zero-iterations", lambda tmp: snapshot_schedule(0), ValueError, "iterations"),
        ("schedule-past-end", lambda tmp: snapshot_schedule(50, 5, [500]), ValueError, "500"),
        ("preset-unknown", lambda tmp: load_preset("nope"), PresetError, "nope"),
        ("checkpoint-missing", lambda tmp: load_checkpoint(tmp), CheckpointError, "checkpoint"),
        ("train-into-existing-run", existing_run, RunDirectoryError, "exists"),
        ("regularizer-unknown", lambda tmp: parse_regularizer("nope"), regularizer_error, "nope"),
    ]


BAD_LIBRARY = _library_cases()


@pytest.mark.parametrize("call, error, keyword", [pytest.param(c, e, k, id=i) for i, c, e, k in BAD_LIBRARY])
def test_bad_library_input_raises_its_specific_error(call, error, keyword, tmp_path):
    if not isinstance(error, type):  # resolved lazily: a module still being written
        error = error()
    with pytest.raises(error) as info:
        call(tmp_path)
    assert isinstance(info.value, ValueError) or isinstance(info.value, (OSError, RuntimeError))
    assert keyword.lower() in str(info.value).lower()
    assert "\n" not in str(info.value)


def test_unavailable_cuda_device_is_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here; this checks the message on a machine without it")
    out = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--device", "cuda", "--out", out, "--iterations", "5", "--no-render", *TINY])
    assert_one_error_line(code, stderr, "cuda")
    assert not out.exists()


# ----- random garbage in numeric flags ---------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NUMERIC_FLAGS = ["--alpha", "--lr", "--iterations", "--batch-size", "--d-steps", "--hidden", "--layers", "--latent-dim",
                 "--seed", "--snapshot-frames", "--fixed-samples", "--grid-size", "--log-every", "--checkpoint-every"]


def _parses_as_number(text: str) -> bool:
    for parse in (int, float):
        try:
            parse(text)
            return True
        except ValueError:
            pass
    return False


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(NUMERIC_FLAGS + ["--dataset-option"]),
       garbage=st.text(max_size=12).filter(lambda s: not _parses_as_number(s)))
def test_garbage_in_a_numeric_flag_is_exit_2_and_one_line(flag, garbage, tmp_path):
    out = tmp_path / "garbage-run"
    value = f"radius={garbage}" if flag == "--dataset-option" else garbage
    code, _, stderr = run_cli(["toy", "--out", out, flag, value, "--iterations", "5", *TINY, "--no-render"])
    assert_one_error_line(code, stderr, "")
    assert not out.exists()


def test_demo_is_the_paper_code_preset_cut_short_and_flags_override_it():
    from gan_mixup.config_flags import config_from_args
    from gan_mixup.presets import DEMO_SETTINGS

    config = config_from_args(build_parser().parse_args(["toy", "--demo", "--alpha", "0.2"]))
    assert (config.preset, config.pairing, config.lambda_distribution, config.generator_loss) == (
        "paper-code", "shuffled", "uniform", "minimax")
    assert config.iterations == DEMO_SETTINGS["iterations"] < 20000
    assert (config.hidden, config.layers, config.batch_size, config.d_steps) == (DEMO_SETTINGS["hidden"], 3, 128, 5)
    assert config.hidden == 128  # 1/16 of the paper's matmul cost: make demo stays within minutes
    shorter = config_from_args(build_parser().parse_args(["toy", "--demo", "--iterations", "7", "--preset", "paper-text"]))
    assert (shorter.iterations, shorter.preset, shorter.pairing) == (7, "paper-text", "real-fake")


def test_compare_specs_with_regularizers_and_a_bare_regularizer():
    from gan_mixup.experiments import config_with_objective
    from gan_mixup.config import RunConfig

    base = RunConfig()
    assert (config_with_objective(base, "mixup+r1:10+gp").objective, config_with_objective(base, "mixup+r1:10+gp").regularizers) == (
        "mixup", ("r1:10", "gp"))
    bare = config_with_objective(base, "r1")
    assert (bare.objective, bare.regularizers) == ("erm", ("r1",))
    assert config_with_objective(base, "wgan-gp").objective == "wgan-gp"


def test_a_run_killed_while_writing_its_config_resumes_from_zero(tmp_path):
    # The folder is marked as a run, but config.json was never renamed into place.
    run = tmp_path / "run"
    run.mkdir()
    (run / ".gan-mixup-run").write_text('{"gan_mixup": "run"}\n')
    (run / "config.json.tmp").write_text('{"hidden": 8, "iter')
    code, stdout, stderr = run_cli(["toy", *TINY, "--iterations", "20", "--no-render", "--out", run, "--resume"])
    assert code == 0, stderr
    assert json.loads((run / "config.json").read_text())["iterations"] == 20
    assert not (run / "config.json.tmp").exists()
    assert "trained 20 iterations" in stdout


def test_a_reader_that_leaves_early_is_no_error(tmp_path):
    # `gan-mixup metrics RUN | head -1`: the pipe closes under the printing; no "Broken pipe" line.
    run = tmp_path / "run"
    assert run_cli(["toy", *TINY, "--iterations", "20", "--no-render", "--out", run])[0] == 0
    # `true` exits before the CLI has even started, so every write of it meets a closed pipe.
    script = (f"{shlex.quote(sys.executable)} -m gan_mixup.cli metrics {shlex.quote(str(run))} | true; "
              "exit ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", script], env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Broken pipe" not in done.stderr and "Traceback" not in done.stderr, done.stderr


# ----- flags generated from RunConfig's field specs ------------------------------------------------

def test_every_run_flag_comes_from_a_field_and_its_help_gives_each_modalitys_default(capsys):
    from gan_mixup.config import SPECS
    from gan_mixup.modalities import modality_of

    parser = build_parser()
    toy = parser._subparsers._group_actions[0].choices["toy"]  # type: ignore[union-attr]
    by_dest = {a.dest: a for a in toy._actions}
    for name, spec in SPECS.items():
        if spec.group is not None:
            assert name in by_dest and by_dest[name].default == argparse.SUPPRESS, name
    points, images = modality_of("ring8"), modality_of("digits")
    help_text = by_dest["iterations"].help
    assert f"toy {points.defaults['iterations']}, images {images.defaults['iterations']}" in help_text
    assert by_dest["image_size"].choices == list(images.choices["image_size"])
    assert by_dest["dataset_options"].option_strings == ["--dataset-option"]


def test_a_toy_preset_on_images_keeps_the_config_files_sizes(tmp_path):
    from gan_mixup.config_flags import config_from_args

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"dataset": "digits", "hidden": 40, "iterations": 7}))
    config = config_from_args(build_parser().parse_args(["images", "--preset", "paper-code", "--config", str(path)]))
    assert (config.hidden, config.iterations) == (40, 7)
    config = config_from_args(build_parser().parse_args(["images", "--preset", "paper-code"]))
    assert (config.dataset, config.hidden, config.iterations) == ("digits", 32, 2000)


# ----- a preset's mixup-only settings give way to another objective ----------------------------------

def test_paper_code_preset_with_hinge_trains_with_hinges_own_losses(tmp_path):
    from cli_helpers import QUIET, TINY_FLAGS

    run = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--preset", "paper-code", "--objective", "hinge", "--out", run, *TINY_FLAGS, *QUIET])
    assert code == 0, stderr
    config = json.loads((run / "config.json").read_text())
    assert (config["objective"], config["generator_loss"], config["preset"]) == ("hinge", "non-saturating", "paper-code")
    assert torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)["iteration"] == 12


def test_paper_code_preset_with_hinge_and_an_explicit_minimax_is_refused(tmp_path):
    from cli_helpers import QUIET, TINY_FLAGS, one_error_line

    run = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--preset", "paper-code", "--objective", "hinge", "--generator-loss", "minimax",
                               "--out", run, *TINY_FLAGS, *QUIET])
    one_error_line(code, stderr, "generator")
    assert not run.exists()


# ----- only GanMixupError becomes one line -----------------------------------------------------------

@pytest.mark.parametrize("error", [ValueError("bug"), RuntimeError("bug"), KeyError("bug")],
                         ids=["ValueError", "RuntimeError", "KeyError"])
def test_cli_lets_a_bug_keep_its_traceback(error, tmp_path, monkeypatch):
    import importlib

    from cli_helpers import QUIET, TINY_FLAGS

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(importlib.import_module("gan_mixup.training"), "train", broken)
    with pytest.raises(type(error), match="bug"):
        run_cli(["toy", "--out", tmp_path / "run", *TINY_FLAGS, *QUIET])


def test_cli_turns_a_gan_mixup_error_into_one_line(tmp_path, monkeypatch):
    import importlib

    from cli_helpers import QUIET, TINY_FLAGS
    from gan_mixup.errors import GanMixupError

    def mistaken(*args, **kwargs):
        raise GanMixupError("mistake")

    monkeypatch.setattr(importlib.import_module("gan_mixup.training"), "train", mistaken)
    code, stdout, stderr = run_cli(["toy", "--out", tmp_path / "run", *TINY_FLAGS, *QUIET])
    assert stderr == "gan-mixup: error: mistake\n"
    assert code == 2 and stdout == ""


# ----- Ctrl-C outside the training loop -------------------------------------------------------------

def test_ctrl_c_while_rendering_exits_130_and_says_how_to_continue(tmp_path, monkeypatch):
    import importlib

    from cli_helpers import TINY_FLAGS
    from gan_mixup.cli import EXIT_INTERRUPTED

    render = importlib.import_module("gan_mixup.render")
    real_render_run = render.render_run

    def interrupted(run_dir, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "render_run", interrupted)
    run = tmp_path / "run"
    argv = ["toy", "--out", str(run), *TINY_FLAGS, "--no-progress"]
    code, _, stderr = run_cli(argv)
    assert code == EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    load = lambda path: torch.load(path, map_location="cpu", weights_only=True)  # noqa: E731
    assert load(run / "checkpoint.pt")["iteration"] == 12, "the training itself was finished and kept"
    assert "the run is complete" in stderr
    command = stderr.strip().splitlines()[-1].strip()
    assert shlex.split(command) == ["gan-mixup", "render", str(run)], stderr

    # The printed command renders what was interrupted, without training again.
    monkeypatch.setattr(render, "render_run", real_render_run)
    code, stdout, stderr = run_cli(shlex.split(command)[1:])
    assert code == 0, stderr
    assert (run / "training.gif").is_file()
    assert load(run / "checkpoint.pt")["iteration"] == 12


# ----- `--resume DIR` is spelled the same in every subcommand ----------------------------------------

def test_compare_resume_dir_without_out_retrains_a_deleted_member(tmp_path, monkeypatch):
    import importlib
    import shutil

    from cli_helpers import TINY_FLAGS
    from gan_mixup.rundir import load_checkpoint

    experiments = importlib.import_module("gan_mixup.experiments")
    monkeypatch.setattr(experiments, "render_run", lambda run_dir, **kw: {})
    monkeypatch.setattr(experiments, "render_comparison", lambda runs, out, **kw: {})
    out = tmp_path / "cmp"
    code, _, stderr = run_cli(["compare", "--out", out, *TINY_FLAGS, "--no-progress"])
    assert code == 0, stderr
    shutil.rmtree(out / "mixup")
    code, _, stderr = run_cli(["compare", "--resume", out, *TINY_FLAGS, "--no-progress"])
    assert code == 0, stderr
    assert load_checkpoint(out / "mixup")[0]["iteration"] == 12
    code, _, stderr = run_cli(["compare", *TINY_FLAGS])
    assert code == 2 and stderr.count("\n") == 1 and "--out" in stderr

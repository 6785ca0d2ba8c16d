"""A run whose ``snapshots/reference.npz`` was deleted: ``render`` says that file is missing and how to
write it again (not "no snapshots ... --resume"), and ``--resume`` does write it again, identical."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cli_helpers import one_error_line, subprocess_env

RUNS = {
    "toy": ["toy", "--iterations", "12", "--hidden", "8", "--batch-size", "32", "--d-steps", "1",
            "--snapshot-frames", "3", "--fixed-samples", "100", "--grid-size", "16"],
    "images": ["images", "--dataset", "digits", "--image-size", "16", "--hidden", "4", "--latent-dim", "8",
               "--iterations", "4", "--batch-size", "16", "--snapshot-frames", "2", "--fixed-samples", "16",
               "--metric-samples", "0"],
}


def gan_mixup(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan_mixup.cli", *map(str, args)], env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", sorted(RUNS))
def test_render_without_the_reference_names_it_and_resume_writes_it_again(tmp_path, command):
    run = tmp_path / "run"
    trained = gan_mixup(*RUNS[command], "--no-render", "--no-progress", "--out", run)
    assert trained.returncode == 0, trained.stderr
    reference = run / "snapshots" / "reference.npz"
    with np.load(reference) as data:
        before = {key: data[key] for key in data.files}
    reference.unlink()

    done = gan_mixup("render", run)
    line = one_error_line(done.returncode, done.stderr, "reference.npz is missing", f"gan-mixup {command} --resume")
    assert "has no snapshots" not in line and str(run) in line

    resumed = gan_mixup(command, "--resume", "--out", run, "--no-render", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    with np.load(reference) as data:
        assert sorted(data.files) == sorted(before)
        for key in before:
            np.testing.assert_array_equal(data[key], before[key])
    rendered = gan_mixup("render", run, "--max-frames", "2", "--workers", "1")
    assert rendered.returncode == 0, rendered.stderr
    assert (run / "training.gif").is_file()


def test_a_run_stopped_before_its_first_snapshot_still_says_nothing_to_render_yet(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    done = gan_mixup("render", run)
    one_error_line(done.returncode, done.stderr, "nothing to render yet", "--resume")

"""The run directory's safety: --overwrite removes only what is ours, the run lock keeps a second
process out, a damaged checkpoint falls back to the previous one, and the snapshot schedule."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import QUIET, TINY_FLAGS as TINY, load_checkpoint_file as load, one_error_line
from cli_helpers import run_cli, subprocess_env
from conftest import make_tiny_config, read_metrics_file
from gan_mixup.errors import GanMixupError
from gan_mixup.rundir import (
    LOCK_FILE,
    MARKER_FILE,
    PAPER_ITERATIONS,
    RunLockedError,
    dense_schedule,
    locked,
    snapshot_schedule,
)
from gan_mixup.training.loop import train



# ----- helpers -------------------------------------------------------------------------------------

def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes (to prove a refused command touched nothing)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(Path(path).rglob("*")) if p.is_file()}


# ----- 4. --overwrite safety ------------------------------------------------------------------------

def test_overwrite_refuses_an_unmarked_folder_with_a_config(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"my": "own config"}\n')
    (folder / "data.csv").write_text("1,2,3\n")
    before = tree(folder)
    code, _, stderr = run_cli(["toy", "--out", folder, "--overwrite", *TINY, *QUIET])
    one_error_line(code, stderr, "refusing", MARKER_FILE)
    assert tree(folder) == before


@pytest.fixture
def marked_run(tmp_path) -> Path:
    run = tmp_path / "run"
    train(make_tiny_config(checkpoint_every=5), run)
    assert (run / MARKER_FILE).is_file()
    return run


def test_overwrite_refuses_the_current_directory(marked_run, monkeypatch):
    before = tree(marked_run)
    monkeypatch.chdir(marked_run)
    code, _, stderr = run_cli(["toy", "--out", ".", "--overwrite", *TINY, *QUIET])
    one_error_line(code, stderr, "current directory")
    assert tree(marked_run) == before


@pytest.mark.parametrize("out", ["..", "absolute"])
def test_overwrite_refuses_a_parent_of_the_current_directory(out, marked_run, monkeypatch):
    before = tree(marked_run)
    monkeypatch.chdir(marked_run / "snapshots")
    target = str(marked_run) if out == "absolute" else out
    code, _, stderr = run_cli(["toy", "--out", target, "--overwrite", *TINY, *QUIET])
    one_error_line(code, stderr, "parents")
    assert tree(marked_run) == before


def test_overwrite_removes_only_gan_mixups_files(marked_run):
    (marked_run / "notes.txt").write_text("my notes\n")
    (marked_run / "mine").mkdir()
    (marked_run / "mine" / "data.txt").write_text("keep me\n")
    assert (marked_run / "checkpoint.prev.pt").is_file() and (marked_run / "snapshots" / "it_00000012.npz").is_file()
    code, _, stderr = run_cli(["toy", "--out", marked_run, "--overwrite", *TINY, "--iterations", "8", *QUIET])
    assert code == 0, stderr
    assert (marked_run / "notes.txt").read_text() == "my notes\n"
    assert (marked_run / "mine" / "data.txt").read_text() == "keep me\n"
    assert load(marked_run / "checkpoint.pt")["iteration"] == 8
    assert not (marked_run / "checkpoint.prev.pt").exists(), "the old run's previous checkpoint is gone"
    assert not (marked_run / "snapshots" / "it_00000012.npz").exists(), "the old run's snapshots are gone"
    assert max(r["iteration"] for r in read_metrics_file(marked_run)) == 8
    assert (marked_run / MARKER_FILE).is_file() and not (marked_run / LOCK_FILE).exists()


# ----- 6. the run lock ------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from gan_mixup.rundir import locked
with locked(Path(sys.argv[1])):
    print("ready", flush=True)
    time.sleep(120)
"""


def test_a_locked_run_is_refused_naming_the_holder_and_freed_by_its_death(tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(), run)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], cwd=tmp_path, env=subprocess_env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        before = tree(run)
        assert f"process {holder.pid} " in before[LOCK_FILE].decode()
        for flags in (["--resume", run, "--iterations", "16"], ["--out", run, "--overwrite", *TINY]):
            code, _, stderr = run_cli(["toy", *flags, *QUIET])
            one_error_line(code, stderr, f"process {holder.pid}", "in use")
            assert tree(run) == before
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert holder.returncode == -signal.SIGKILL
    assert (run / LOCK_FILE).exists(), "kill -9 left the lock file behind: the kernel lock is what counts"
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "16", *QUIET])
    assert code == 0, stderr
    assert load(run / "checkpoint.pt")["iteration"] == 16
    assert not (run / LOCK_FILE).exists()


def test_no_lock_file_remains_after_a_run(tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(), run)
    assert not (run / LOCK_FILE).exists()
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "14", *QUIET])
    assert code == 0, stderr
    assert not (run / LOCK_FILE).exists()
    code, _, stderr = run_cli(["toy", "--out", run, *TINY, *QUIET])  # refused: exists
    one_error_line(code, stderr, "--overwrite")
    assert not (run / LOCK_FILE).exists()


def test_nested_lock_in_one_process_is_refused(tmp_path):
    run = tmp_path / "run"
    with locked(run):
        assert (run / LOCK_FILE).is_file()
        with pytest.raises(RunLockedError) as info:
            with locked(run):
                pytest.fail("a second lock on the same run directory was granted")
        assert f"process {os.getpid()} " in str(info.value)
        assert isinstance(info.value, GanMixupError)
        with pytest.raises(RunLockedError):  # the refused attempt did not release the first lock
            with locked(run):
                pass
        with pytest.raises(RunLockedError):
            train(make_tiny_config(), run)
    assert not run.exists(), "a directory created by the lock that stayed empty is removed"
    with locked(run):  # free again
        pass


# ----- 10. checkpoint fallbacks ---------------------------------------------------------------------

def test_empty_latest_checkpoint_falls_back_to_the_previous(tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(iterations=20, checkpoint_every=10), run)
    (run / "checkpoint.pt").write_bytes(b"")
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "24", *QUIET])
    assert code == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("gan-mixup: warning:")]
    assert any("checkpoint.pt" in w and "unreadable" in w for w in warnings), stderr
    assert any("previous checkpoint" in w and "checkpoint.prev.pt" in w for w in warnings), stderr
    assert "Traceback" not in stderr
    assert load(run / "checkpoint.pt")["iteration"] == 24
    # Resumed from iteration 10: the train records 12..20 were written again, once each.
    assert [r["iteration"] for r in read_metrics_file(run) if r["kind"] == "train"] == list(range(2, 25, 2))


@pytest.mark.parametrize("damage", ["empty", "garbage"])
def test_both_checkpoints_damaged_is_one_line(damage, tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(iterations=20, checkpoint_every=10), run)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (run / name).write_bytes(b"" if damage == "empty" else b"not a checkpoint\x00\xff" * 10)
    before = tree(run)
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "24", *QUIET])
    one_error_line(code, stderr, "checkpoint")
    assert tree(run) == before


# ----- 11. the snapshot schedule --------------------------------------------------------------------

def test_paper_schedule_sizes():
    dense = dense_schedule(20000, 200)
    assert len(dense) == len(set(dense)) == 200
    assert dense == sorted(dense) and dense[0] == 1 and dense[-1] == 20000
    full = snapshot_schedule(20000, 200)
    assert len(full) >= 200 and set(dense) <= set(full) and set(PAPER_ITERATIONS) <= set(full)


@settings(max_examples=300, deadline=None)
@given(iterations=st.integers(1, 10**6), frames=st.integers(0, 500))
def test_dense_schedule_property(iterations, frames):
    points = dense_schedule(iterations, frames)
    assert len(points) == min(frames, iterations)
    assert all(isinstance(p, int) for p in points)
    assert all(a < b for a, b in zip(points, points[1:]))
    assert all(1 <= p <= iterations for p in points)
    if frames >= 1:
        assert points[-1] == iterations
    if min(frames, iterations) >= 2:
        assert points[0] == 1
    schedule = snapshot_schedule(iterations, frames)
    assert schedule == sorted(set(schedule)) and schedule[-1] == iterations
    assert set(points) <= set(schedule) and {p for p in PAPER_ITERATIONS if p <= iterations} <= set(schedule)


def test_overwrite_accepts_a_run_of_the_version_before_markers(tmp_path):
    from gan_mixup.training.loop import train

    run = tmp_path / "old"
    train(make_tiny_config(), run)
    (run / ".gan-mixup-run").unlink()  # as written before runs were marked
    (run / "notes.txt").write_text("mine")
    code, _, stderr = run_cli(["toy", "--out", run, *TINY, "--no-progress", "--no-render", "--overwrite"])
    assert code == 0, stderr
    assert (run / ".gan-mixup-run").is_file() and (run / "notes.txt").read_text() == "mine"
    # A folder with only a config.json (a project's) is still refused.
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text('{"dataset": "ring8"}')
    code, _, stderr = run_cli(["toy", "--out", project, *TINY, "--no-progress", "--no-render", "--overwrite"])
    assert code == 2 and "marker" in stderr and (project / "config.json").is_file()


def test_a_checkpoint_that_does_not_fit_is_one_line_naming_it_and_leaves_no_half_file(tmp_path):
    # A file-size limit (as a full disk) hits the first checkpoint: the line names the file and what
    # is kept; no checkpoint.pt.tmp stays behind, and --resume later finishes the run.
    import resource

    run = tmp_path / "r"
    args = [sys.executable, "-m", "gan_mixup.cli", "toy", *TINY, *QUIET, "--hidden", "64", "--iterations", "20",
            "--checkpoint-every", "10", "--checkpoint-seconds", "0", "--out", str(run)]

    def limit() -> None:  # the snapshots fit; a width-64 checkpoint (~0.2 MB) does not
        resource.setrlimit(resource.RLIMIT_FSIZE, (60 * 1024, 60 * 1024))

    done = subprocess.run(args, env=subprocess_env(), capture_output=True, text=True, timeout=300, preexec_fn=limit)
    line = one_error_line(done.returncode, done.stderr, "could not write", "checkpoint.pt", "--resume")
    assert "no earlier checkpoint" in line
    assert not list(run.glob("*.tmp"))
    done = subprocess.run([*args, "--resume"], env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert load(run / "checkpoint.pt")["iteration"] == 20

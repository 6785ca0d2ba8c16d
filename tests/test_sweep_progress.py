"""`gan-mixup status`: how far a sweep has come, from its folder alone, naming no result."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from cli_helpers import one_error_line, run_cli
from gan_mixup.rundir import LOCK_FILE
from gan_mixup.sweeps.progress import path_progress, progress_text

FLAGS = ["--dataset", "ring8", "--objectives", "erm,mixup", "--seeds", "0-1", "--workers", "1", "--iterations", "30",
         "--hidden", "8", "--batch-size", "16", "--snapshot-frames", "2", "--fixed-samples", "64", "--grid-size", "8",
         "--checkpoint-every", "10", "--no-progress"]


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_status_tells_done_training_interrupted_and_not_started_members_apart(tmp_path):
    out = tmp_path / "sw"
    code, _, err = run_cli(["sweep", *FLAGS, "--out", out])
    assert code == 0, err
    (out / "ring8-erm-seed0" / LOCK_FILE).write_text(f"process {os.getpid()} (gan-mixup sweep ...)\n")  # a live trainer
    (out / "ring8-erm-seed1" / LOCK_FILE).write_text(f"process {dead_pid()} (gan-mixup sweep ...)\n")  # one killed -9: done
    interrupted = out / "ring8-mixup-a0.2-seed0"  # killed after its iteration-20 checkpoint, before the last
    (interrupted / "checkpoint.prev.pt").replace(interrupted / "checkpoint.pt")
    shutil.rmtree(out / "ring8-mixup-a0.2-seed1")

    states = {m.name: (m.state, m.reached) for m in path_progress(out).members}
    assert states == {"ring8-erm-seed0": ("training", 30), "ring8-erm-seed1": ("done", 30),
                      "ring8-mixup-a0.2-seed0": ("interrupted", 20), "ring8-mixup-a0.2-seed1": ("not started", 0)}
    code, stdout, err = run_cli(["status", out, out / "ring8-erm-seed1"])
    assert code == 0 and err == ""
    assert stdout.splitlines() == [
        f"{out}: 1 of 4 runs done, 1 training, 1 interrupted, 1 not started; 67% of the iterations",
        f"  training: ring8-erm-seed0 at 30 of 30 (process {os.getpid()})",
        "  interrupted: ring8-mixup-a0.2-seed0 at 20 of 30 (--resume continues it)",
        "  by seed: seed 0 0/2, seed 1 1/2",
        "  by arm: erm 1/2, mixup α=0.2 0/2",
        f"{out / 'ring8-erm-seed1'}: done (30 of 30 iterations)"]


def test_status_reads_nothing_of_the_results_and_writes_nothing(tmp_path):
    out = tmp_path / "sw"
    code, _, err = run_cli(["sweep", *FLAGS[:3], "erm", *FLAGS[4:], "--out", out])
    assert code == 0, err
    before = sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*"))
    text = progress_text(path_progress(out))
    assert text.startswith(f"{out}: 2 of 2 runs done")
    for result in ("modes", "diverged", "collapsed", "frechet", "precision", "loss"):
        assert result not in text
    assert sorted((p.relative_to(out), p.stat().st_mtime_ns) for p in out.rglob("*")) == before


def test_status_of_a_folder_that_is_no_sweep_or_run_is_one_error_line(tmp_path):
    code, _, err = run_cli(["status", tmp_path])
    one_error_line(code, err, "neither a sweep directory", "nor a run directory")
    code, _, err = run_cli(["status", tmp_path / "typo"])
    one_error_line(code, err, "typo does not exist")


def test_the_pace_is_the_median_gap_between_recent_ends_so_a_pause_between_sessions_does_not_count():
    from pathlib import Path

    from gan_mixup.sweeps.progress import MemberProgress, SweepProgress

    ends = [0, 600, 1200, 1800, 90_000, 90_600]  # a run every 10 min, and a night's pause
    done = [MemberProgress(f"r{i}", "erm", "0", 100, 100, "done", finished_at=t) for i, t in enumerate(ends)]
    left = [MemberProgress(f"l{i}", "erm", "1", 100, 0, "not started") for i in range(12)]
    lines = progress_text(SweepProgress(Path("sw"), done + left)).splitlines()
    assert "  pace: lately a run ends every 10 min; the 12 left, about 2.0 h at that pace" in lines
    assert not [line for line in progress_text(SweepProgress(Path("sw"), done[:2] + left)).splitlines() if "pace" in line]

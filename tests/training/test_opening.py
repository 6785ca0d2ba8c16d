"""training.opening: resuming a run directory whose metrics.jsonl was deleted or cut, or that
was killed before its first checkpoint."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from cli_helpers import QUIET, assert_state_dicts_equal, load_checkpoint_file as load, run_cli, subprocess_env
from conftest import make_tiny_config, read_metrics_file
from gan_mixup.rundir import LOCK_FILE
from gan_mixup.training.loop import train



# ----- 5. metrics.jsonl deleted or cut before --resume ----------------------------------------------

@pytest.mark.parametrize("damage", ["deleted", "cut-mid-line"])
def test_resume_continues_a_deleted_or_cut_metrics_file(damage, tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(iterations=20, checkpoint_every=10), run)
    path = run / "metrics.jsonl"
    data = path.read_bytes()
    kept = b""
    if damage == "deleted":
        path.unlink()
    else:
        cut = data.rindex(b"\n", 0, len(data) - 1) + 6  # 5 bytes into the last line
        assert data[cut - 1:cut] != b"\n"
        kept = data[:cut]
        path.write_bytes(kept)

    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "30", *QUIET])
    assert code == 0, stderr
    assert "Traceback" not in stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("gan-mixup: warning:")]
    assert len(warnings) == 1 and "metrics.jsonl" in warnings[0], stderr

    after = path.read_bytes()
    assert b"\x00" not in after
    assert after.startswith(kept)
    new_lines = after[len(kept):].decode().splitlines()
    if damage == "cut-mid-line":
        assert new_lines[0] == "", "the cut line is ended, and the next record starts on a line of its own"
        new_lines = new_lines[1:]
    new = [json.loads(line) for line in new_lines]  # every new record is strict JSON
    assert [r["iteration"] for r in new if r["kind"] == "train"] == [22, 24, 26, 28, 30]
    assert new[-1]["iteration"] == 30 and load(run / "checkpoint.pt")["iteration"] == 30


# ----- 7. a run killed before its first checkpoint resumes from iteration 0 ---------------------------

KILLED_BEFORE_CHECKPOINT = """
import sys, time
from gan_mixup.config import RunConfig
from gan_mixup.training.loop import train

def hold(record):
    if record["kind"] == "train":
        print("ready", flush=True)
        time.sleep(120)

train(RunConfig.from_json(sys.argv[2]), sys.argv[1], callbacks=[hold])
"""


def test_resume_of_a_run_killed_before_its_first_checkpoint_is_bit_identical(tmp_path):
    run = tmp_path / "run"
    config = make_tiny_config(checkpoint_every=100000, checkpoint_seconds=0)
    child = subprocess.Popen([sys.executable, "-c", KILLED_BEFORE_CHECKPOINT, str(run), config.to_json()],
                             cwd=tmp_path, env=subprocess_env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert (run / "config.json").is_file() and (run / "snapshots" / "it_00000001.npz").is_file()
    assert not (run / "checkpoint.pt").exists() and not (run / "checkpoint.prev.pt").exists()

    code, _, stderr = run_cli(["toy", "--resume", run, *QUIET])
    assert code == 0, stderr
    final = load(run / "checkpoint.pt")
    assert final["iteration"] == 12
    reference = train(config, None)
    assert_state_dicts_equal(final["generator"], reference.generator.state_dict())
    assert_state_dicts_equal(final["discriminator"], reference.discriminator.state_dict())
    train_records = [r["iteration"] for r in read_metrics_file(run) if r["kind"] == "train"]
    assert train_records == [2, 4, 6, 8, 10, 12], "the killed run's records are not kept twice"
    assert not (run / LOCK_FILE).exists()

"""A sweep on a cluster (gan_mixup.launchers): the same runs through submitit's local executor as
through this machine's processes; a task killed mid-run is reported with its reason and resumed;
the CLI's launcher flags and their mistakes."""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import run_cli
from conftest import make_tiny_config
from gan_mixup.launchers import ClusterLauncher, LauncherError
from gan_mixup.rundir import RESULTS_FILE
from gan_mixup.sweep import run_sweep, sweep_members

submitit = pytest.importorskip("submitit", reason="the slurm extra (submitit) is not installed")
import cloudpickle  # noqa: E402  (submitit's own dependency)

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the killer callback below travels to the task

LOCAL = ClusterLauncher(cluster="local", time_minutes=10)


def members(iterations: int = 20):
    base = make_tiny_config(iterations=iterations, checkpoint_every=10, checkpoint_seconds=0.0)
    return sweep_members({("ring8", ""): base}, objectives=["erm"], alphas=[], seeds=[0, 1])


def results(out: Path) -> str:
    return (out / RESULTS_FILE).read_text()


class KillOnce:
    """A member callback that kills its own process (kill -9) at iteration 14 of its first attempt
    (after the checkpoint of iteration 10), leaving a marker so that the resumed task trains on."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __call__(self, run_dir: Path):
        def kill(record):
            if record.get("kind") == "train" and record["iteration"] >= 14 and not self.marker.exists():
                self.marker.write_text("killed\n")
                os.kill(os.getpid(), signal.SIGKILL)
        return [kill] if run_dir.name.endswith("seed1") else []


def test_the_local_executor_trains_what_the_pool_does_and_resumes_a_killed_task_bit_identically(tmp_path):
    # The reference is this machine's pool; the cluster sweep loses seed 1's task to kill -9 once.
    reference = tmp_path / "reference"
    assert set(run_sweep(members(), reference, workers=1).statuses.values()) == {"done"}
    out = tmp_path / "cluster"
    first = run_sweep(members(), out, launcher=LOCAL, callbacks_for=KillOnce(tmp_path / "killed"))
    assert first.statuses["ring8-erm-seed0"] == "done"
    assert first.statuses["ring8-erm-seed1"].startswith("failed: job ")
    assert (tmp_path / "killed").is_file() and (out / "jobs.json").is_file()
    again = run_sweep(members(), out, launcher=LOCAL, resume=True, callbacks_for=KillOnce(tmp_path / "killed"))
    assert again.statuses == {"ring8-erm-seed0": "skipped", "ring8-erm-seed1": "done"}
    assert results(out) == results(reference)


def test_submitting_without_waiting_leaves_the_collection_to_resume(tmp_path):
    out = tmp_path / "cluster"
    submitted = run_sweep(members(), out, launcher=ClusterLauncher(cluster="local", wait=False))
    assert all(status.startswith("submitted: job ") for status in submitted.statuses.values())
    # While the tasks are queued or training, a resume leaves them to it and submits nothing.
    while_running = run_sweep(members(), out, launcher=LOCAL, resume=True)
    jobs = json.loads((out / "jobs.json").read_text())
    assert all(status.startswith("running") or status == "skipped" for status in while_running.statuses.values())
    assert json.loads((out / "jobs.json").read_text()) == jobs
    deadline = time.monotonic() + 300
    results = [submitit.LocalJob(out / ".submitit" / "%j", job_id).paths.result_pickle for job_id in jobs.values()]
    while not all(path.exists() for path in results) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)  # the task writes its result, then exits
    collected = run_sweep(members(), out, launcher=LOCAL, resume=True)
    assert collected.statuses == {"ring8-erm-seed0": "skipped", "ring8-erm-seed1": "skipped"}


@pytest.mark.parametrize("fields, match", [
    ({"cluster": "pbs"}, "--launcher"), ({"time_minutes": 0}, "time_minutes"),
    ({"array_parallelism": 1.5}, "array_parallelism"), ({"cpus_per_task": True}, "cpus_per_task")])
def test_bad_launcher_options_are_refused(fields, match):
    with pytest.raises(LauncherError, match=match):
        ClusterLauncher(**fields)


TINY_SWEEP = ["sweep", "--objectives", "erm", "--seeds", "0", "--iterations", "10", "--hidden", "8", "--no-progress"]


@pytest.mark.parametrize("argv, keyword", [
    (["--slurm-time", "5"], "needs --launcher"),
    (["--no-wait"], "needs --launcher"),
    (["--launcher", "local", "--batched"], "--batched"),
    (["--launcher", "pbs"], "launcher"),
])
def test_launcher_mistakes_are_one_line(tmp_path, argv, keyword):
    code, _, stderr = run_cli([*TINY_SWEEP, "--out", tmp_path / "s", *argv])
    assert code == 2 and stderr.count("\n") == 1 and keyword in stderr, stderr
    assert not (tmp_path / "s").exists()


def test_launcher_without_submitit_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit -> ImportError
    code, _, stderr = run_cli([*TINY_SWEEP, "--out", tmp_path / "s", "--launcher", "local"])
    assert code == 2 and "pip install 'gan-mixup[slurm]'" in stderr, stderr
    assert not (tmp_path / "s").exists()

"""A sweep on a cluster (gan_mixup.sweeps.cluster): the same runs through submitit's local executor as
through this machine's processes; a task killed mid-run is reported with its reason and resumed;
the CLI's launcher flags and their mistakes."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import run_cli
from conftest import make_tiny_config
from gan_mixup.sweeps.cluster import ClusterLauncher, LauncherError
from gan_mixup.rundir import RESULTS_FILE
from gan_mixup.sweeps import run_sweep, sweep_members

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


# ----- issue 32: time limits, kills, stale pids, live tasks, Ctrl-C, no Slurm ------------------------

class TimeLimitOnce:
    """A member callback that sends its own process submitit's time-limit signal (SIGUSR2) at
    iteration 14, after the checkpoint of iteration 10, as a task's time limit would."""

    def __call__(self, run_dir: Path):
        def time_limit(record):
            if record.get("kind") == "train" and record["iteration"] == 14:
                os.kill(os.getpid(), signal.SIGUSR2)
        return [time_limit] if run_dir.name.endswith("seed1") else []


def test_a_task_stopped_by_its_time_limit_checkpoints_and_is_interrupted(tmp_path):
    from gan_mixup.rundir import load_checkpoint

    out = tmp_path / "cluster"
    first = run_sweep(members(), out, launcher=LOCAL, callbacks_for=TimeLimitOnce())
    assert first.statuses["ring8-erm-seed0"] == "done"
    assert first.statuses["ring8-erm-seed1"].startswith("interrupted"), first.statuses
    assert load_checkpoint(out / "ring8-erm-seed1")[0]["iteration"] == 14  # nothing since the last checkpoint lost
    again = run_sweep(members(), out, launcher=LOCAL, resume=True)
    assert again.statuses == {"ring8-erm-seed0": "skipped", "ring8-erm-seed1": "done"}


def test_a_killed_task_is_reported_killed(tmp_path):
    out = tmp_path / "cluster"
    first = run_sweep(members(), out, launcher=LOCAL, callbacks_for=KillOnce(tmp_path / "killed"))
    reason = first.statuses["ring8-erm-seed1"]
    assert "killed" in reason and "Loading pickle" not in reason and "INFO" not in reason, reason


def test_a_stale_pid_of_another_process_does_not_keep_a_member_running(tmp_path):
    out = tmp_path / "cluster"
    one = sweep_members({("ring8", ""): members()[0].config}, objectives=["erm"], alphas=[], seeds=[0])
    run_sweep(one, out, launcher=LOCAL)
    jobs = json.loads((out / "jobs.json").read_text())
    # seed 1's task ended long ago, and its pid now belongs to an unrelated live process (this one)
    (out / "jobs.json").write_text(json.dumps({**jobs, "ring8-erm-seed1": str(os.getpid())}))
    again = run_sweep(members(), out, launcher=LOCAL, resume=True)
    assert again.statuses == {"ring8-erm-seed0": "skipped", "ring8-erm-seed1": "done"}


def test_jobs_json_in_the_way_is_named_and_nothing_is_submitted(tmp_path, monkeypatch):
    from gan_mixup.sweeps import cluster as launchers

    out = tmp_path / "cluster"
    (out / "jobs.json").mkdir(parents=True)
    with pytest.raises(LauncherError, match=r"jobs\.json is a directory.*nothing was submitted"):
        run_on_cluster_of(members(), out)
    (out / "jobs.json").rmdir()

    def full_disk(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(launchers, "_record_jobs", full_disk)
    with pytest.raises(LauncherError, match=r"jobs\.json.*the tasks keep training"):
        run_on_cluster_of(members(), out)


def run_on_cluster_of(sweep_members_, out):
    from gan_mixup.sweeps.cluster import run_on_cluster
    from gan_mixup.sweeps.jobs import cluster_job

    out.mkdir(parents=True, exist_ok=True)
    jobs = [([m.config], [out / m.name], [m.name]) for m in sweep_members_]
    return run_on_cluster(jobs, out, ClusterLauncher(cluster="local", wait=False), cluster_job)


def long_sweep(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "gan_mixup.cli", "sweep", "--objectives", "erm", "--seeds", "0", "--hidden", "8",
            "--iterations", "1000000", "--checkpoint-seconds", "600", "--no-progress", "--launcher", "local",
            "--out", str(out), *extra]


def stop_tasks(out: Path) -> None:
    """Kill each local task of ``out`` and its controller (a task still starting ignores SIGTERM)."""
    pids = [int(p) for p in json.loads((out / "jobs.json").read_text()).values()] if (out / "jobs.json").is_file() else []
    for pid in pids:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            for child in map(int, children):
                os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]


def test_overwrite_while_no_wait_tasks_train_is_refused_naming_the_process(tmp_path):
    from cli_helpers import subprocess_env

    out = tmp_path / "s"
    try:
        # Not through pipes: the local tasks' controllers inherit them and outlive the command.
        with open(tmp_path / "log", "w") as log:
            code = subprocess.run(long_sweep(out, "--no-wait"), stdout=log, stderr=log, env=subprocess_env(),
                                  timeout=300).returncode
        assert code == 0, (tmp_path / "log").read_text()
        (pid,) = json.loads((out / "jobs.json").read_text()).values()
        again = subprocess.run(long_sweep(out, "--overwrite"), capture_output=True, text=True, env=subprocess_env(),
                               timeout=300)
        lines = again.stderr.strip().splitlines()
        assert again.returncode == 2 and len(lines) == 1 and "Traceback" not in again.stderr, again.stderr
        assert f"process {pid}" in lines[0] and "--overwrite" in lines[0], lines[0]
        assert alive(int(pid)) and (out / "runs.json").is_file()  # nothing deleted
    finally:
        stop_tasks(out)


def test_ctrl_c_of_a_local_launcher_sweep_is_one_message_and_the_task_checkpoints(tmp_path):
    from cli_helpers import subprocess_env

    out = tmp_path / "s"
    # Not through pipes: the local tasks' controllers inherit them and outlive the sweep.
    log = open(tmp_path / "stderr", "w")  # noqa: SIM115 - closed below, after the sweep ends
    sweep = subprocess.Popen(long_sweep(out), stdout=subprocess.DEVNULL, stderr=log, env=subprocess_env(),
                             start_new_session=True)
    try:
        records = out / "ring8-erm-seed0" / "metrics.jsonl"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (records.is_file() and '"train"' in records.read_text()):
            time.sleep(0.2)
        assert '"train"' in records.read_text(), "the task never started training"
        os.killpg(sweep.pid, signal.SIGINT)  # the terminal's Ctrl-C: the whole foreground process group
        sweep.wait(timeout=120)
        pids = [int(p) for p in json.loads((out / "jobs.json").read_text()).values()]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(alive(pid) for pid in pids):
            time.sleep(0.2)
        log.close()
        stderr = (tmp_path / "stderr").read_text()  # the sweep's, and what its task controllers printed
        assert sweep.returncode == 130, stderr
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
        assert stderr.strip().startswith("gan-mixup: interrupted") and "--resume" in stderr, stderr
        assert (out / "ring8-erm-seed0" / "checkpoint.pt").is_file()  # the task checkpointed on the Ctrl-C
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
        log.close()
        stop_tasks(out)


@pytest.mark.parametrize("no_wait", [[], ["--no-wait"]])
def test_launcher_slurm_without_slurm_is_one_line_and_leaves_nothing(tmp_path, no_wait):
    import shutil

    if shutil.which("srun"):
        pytest.skip("this machine has Slurm")
    code, _, stderr = run_cli([*TINY_SWEEP, "--out", tmp_path / "s", "--launcher", "slurm", *no_wait])
    assert code == 2 and stderr.count("\n") == 1 and "Slurm" in stderr and "Traceback" not in stderr, stderr
    assert not (tmp_path / "s").exists()
    again, _, stderr = run_cli([*TINY_SWEEP, "--out", tmp_path / "s", "--launcher", "slurm", *no_wait])
    assert "already exists" not in stderr

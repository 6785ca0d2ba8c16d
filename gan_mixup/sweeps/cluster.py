"""Where a sweep's members train beyond this machine: a Slurm cluster through submitit.

Each sweep job (one member, or several seeds in lockstep) becomes one task of a Slurm job array.
A task trains into the member's ordinary run directory under its lock, exactly as the local pool
does, so ``gan-mixup sweep --resume DIR`` (or ``gan-mixup metrics DIR``) collects whatever
finished, resubmits what was killed (it continues from its checkpoint), and leaves alone the
members whose run directory a task still holds. submitit is an optional extra
(``pip install 'gan-mixup[slurm]'``); its local executor runs the same code path on one machine.

Example:
    >>> launcher = ClusterLauncher(partition="gpu", time_minutes=120, array_parallelism=32)
    >>> run_sweep(members, "runs/sweep", launcher=launcher)  # doctest: +SKIP
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from gan_mixup.errors import GanMixupError
from gan_mixup.pool import pid_alive, sigint_blocked
from gan_mixup.rundir import JOBS_FILE, SUBMITIT_DIR, RunLockedError, locked, write_text_atomic
CLUSTERS = ("slurm", "local")


class LauncherError(GanMixupError, ValueError):
    """A cluster launch that cannot happen: submitit missing, a bad option."""


@dataclass(frozen=True)
class ClusterLauncher:
    """Train a sweep's jobs as a Slurm job array (submitit's ``AutoExecutor``).

    ``cluster="local"`` uses submitit's local executor instead: the same submission, pickling,
    logs and collection on this machine (tests, a dry run before a cluster).
    """

    cluster: str = "slurm"  # slurm, or local (submitit's local executor)
    partition: str | None = None  # Slurm partition (None: the cluster's default)
    time_minutes: int = 60  # each task's time limit; a task stopped by it checkpoints and resumes on --resume
    array_parallelism: int = 64  # tasks of the array running at once
    cpus_per_task: int = 1  # CPU cores per task (torch threads)
    wait: bool = True  # wait for every task and report; False: submit, print the job, return

    def __post_init__(self) -> None:
        if self.cluster not in CLUSTERS:
            raise LauncherError(f"--launcher must be one of {', '.join(CLUSTERS)}, got {self.cluster!r}")
        for name, low, high in (("time_minutes", 1, 60 * 24 * 30), ("array_parallelism", 1, 100_000),
                                ("cpus_per_task", 1, 1024)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise LauncherError(f"{name} must be a whole number from {low} to {high}, got {value!r}")


def require_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise LauncherError("--launcher needs submitit: pip install 'gan-mixup[slurm]'") from None
    return submitit


def check_cluster(launcher: ClusterLauncher) -> None:
    """``LauncherError`` when ``launcher`` cannot submit from this machine (submitit missing, or
    ``cluster="slurm"`` where there is no Slurm), checked before a sweep writes anything."""
    submitit = require_submitit()
    if launcher.cluster == "slurm" and submitit.SlurmExecutor.affinity() <= 0:
        raise LauncherError("--launcher slurm needs Slurm, and this machine has no srun on its PATH: run the sweep on "
                            "the cluster's login node, or try it here with --launcher local")


def held_by_a_task(run_dir: Path) -> bool:
    """Whether a process (a cluster task still training) holds ``run_dir``'s lock right now."""
    if not run_dir.is_dir():
        return False
    try:
        with locked(run_dir):
            return False
    except RunLockedError:
        return True


def run_on_cluster(
    jobs: Sequence[tuple[list[Any], list[Path], list[str]]],
    out_dir: Path,
    launcher: ClusterLauncher,
    job_function: Callable[..., dict[str, str]],
    callbacks_for: Any = None,
) -> dict[str, str]:
    """Submit each ``(configs, run_dirs, names)`` job as one array task running
    ``job_function(configs, run_dirs, names, callbacks_for, threads=...)``; return member name ->
    status: the task's own status when ``launcher.wait``, else ``submitted: job ID``. A task that
    died (killed, out of memory, time limit without a checkpoint) is ``failed: ...`` with the reason
    submitit reports. Members whose run directory a task still holds are ``running``."""
    submitit = require_submitit()
    check_cluster(launcher)
    jobs_file = out_dir / JOBS_FILE
    if jobs_file.is_dir() or (jobs_file.exists() and not jobs_file.is_file()):
        raise LauncherError(f"{jobs_file} is a directory, not a file; move it away: it records each member's task, "
                            "so a resume knows what still trains (nothing was submitted)")
    statuses: dict[str, str] = {}
    todo = []
    known = _read_jobs(out_dir)
    for job in jobs:
        queued = [known[name] for name in job[2] if name in known and _still_queued(submitit, out_dir, launcher, known[name])]
        if queued or any(held_by_a_task(run_dir) for run_dir in job[1]):
            statuses.update({name: f"running: job {queued[0]}" if queued else "running" for name in job[2]})
        else:
            todo.append(job)
    if not todo:
        return statuses
    executor = submitit.AutoExecutor(folder=out_dir / SUBMITIT_DIR / "%j", cluster=launcher.cluster)
    executor.update_parameters(timeout_min=launcher.time_minutes, cpus_per_task=launcher.cpus_per_task,
                               slurm_array_parallelism=launcher.array_parallelism,
                               **({"slurm_partition": launcher.partition} if launcher.partition else {}))
    # The local executor's controllers are born with SIGINT blocked (the mask survives exec): a Ctrl-C
    # of the sweep reaches the sweep and the tasks (which checkpoint, see cluster_job), not the
    # controllers, which would print a KeyboardInterrupt traceback each and kill their task at once.
    with sigint_blocked(), executor.batch():
        submitted = [executor.submit(job_function, configs, run_dirs, names, callbacks_for, threads=launcher.cpus_per_task)
                     for configs, run_dirs, names in todo]
    job_ids = {name: task.job_id for task, (_, _, names) in zip(submitted, todo) for name in names}
    try:
        _record_jobs(out_dir, job_ids)
    except OSError as err:
        ids = sorted(set(job_ids.values()))
        raise LauncherError(f"could not record the submitted tasks in {out_dir / JOBS_FILE} ({err.strerror or err}); "
                            f"the tasks keep training (job {', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''}): "
                            "a resume before they end may submit their members again") from None
    if not launcher.wait:
        return {**statuses, **{name: f"submitted: job {task.job_id}" for task, (_, _, names) in zip(submitted, todo)
                               for name in names}}
    for task, (_, _, names) in zip(submitted, todo):
        try:
            statuses.update(task.result())
        except Exception as err:  # submitit's FailedJobError / UncompletedJobError: the task died
            statuses.update({name: f"failed: job {task.job_id}: {_reason(err, task)}" for name in names})
    return statuses


def _reason(err: Exception, task: Any = None) -> str:
    """Why a task gave no result: killed before it reported (submitit found no result file), or the
    last meaningful line of submitit's report (the task's own exception)."""
    if "has not produced any output" in str(err):
        state = _state(task)
        said = f" (Slurm state {state})" if state and state not in ("FINISHED", "UNKNOWN", "RUNNING", "COMPLETED") else ""
        return (f"its task was killed before it reported{said}: kill -9, out of memory, or its time limit; "
                "--resume continues it from its last checkpoint")
    lines = [line.strip() for line in str(err).splitlines() if line.strip() and not set(line.strip()) <= {"-"}]
    useful = [line for line in lines if not line.startswith(("You can check", "- /", "Traceback", "File "))]
    return (useful or lines or [type(err).__name__])[-1][:300]


def _read_jobs(out_dir: Path) -> dict[str, str]:
    try:
        known = json.loads((out_dir / JOBS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in known.items()} if isinstance(known, dict) else {}


def _record_jobs(out_dir: Path, job_ids: dict[str, str]) -> None:
    write_text_atomic(out_dir / JOBS_FILE, json.dumps({**_read_jobs(out_dir), **job_ids}, indent=1, sort_keys=True))


def _state(task: Any) -> str:
    try:
        return str(task.state).upper().split()[0]
    except Exception:  # sacct missing or failing, no task: nothing to tell
        return ""


def live_tasks(out_dir: Path) -> dict[str, str]:
    """Member name -> the task of ``jobs.json`` that still trains it (or will): a local task whose
    process is alive and is that task, or, where Slurm answers, a queued or running Slurm job."""
    known = _read_jobs(out_dir)
    if not known:
        return {}
    try:
        import submitit
    except ImportError:
        submitit = None
    live = {}
    for name, job_id in known.items():
        if _local_task_alive(out_dir, job_id):
            live[name] = f"the local task process {job_id} (submitit job {job_id})"
        elif submitit is not None and _slurm_answers():
            state = _state(submitit.SlurmJob(out_dir / SUBMITIT_DIR / "%j", job_id))
            if state in _LIVE_SLURM_STATES:
                live[name] = f"Slurm job {job_id} ({state})"
    return live


def _slurm_answers() -> bool:
    import shutil

    return shutil.which("sacct") is not None


def _local_task_alive(out_dir: Path, job_id: str) -> bool:
    """Whether ``job_id`` (a local executor's job id: its controller's process id) names a live
    controller of this sweep's tasks without a result yet. A pid that a finished task left in
    ``jobs.json`` may since belong to an unrelated process: where ``/proc`` shows command lines,
    the process must be submitit's local controller of this sweep's folder."""
    folder = out_dir / SUBMITIT_DIR
    if not job_id.isdigit() or (folder / job_id / f"{job_id}_0_result.pkl").exists():  # submitit's JobPaths
        return False
    if not pid_alive(int(job_id)):
        return False
    try:
        arguments = Path(f"/proc/{job_id}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc (macOS): the live pid is all there is to go by
    except OSError:
        return True
    if "submitit.local._local" not in arguments:
        return False
    ours = folder.resolve()
    return any(os.path.isabs(arg) and Path(arg).parent.resolve() == ours for arg in arguments)


# Slurm states of a job that will still train (or is training) its members.
_LIVE_SLURM_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING"}


def _still_queued(submitit: Any, out_dir: Path, launcher: ClusterLauncher, job_id: str) -> bool:
    """Whether the job recorded for a member is still queued or running, so that a resume must not
    submit the member again (a task that has not started yet holds no lock). A job whose state
    cannot be read counts as gone: the member's lock still keeps two tasks from training it at once."""
    folder = out_dir / SUBMITIT_DIR / "%j"
    if launcher.cluster == "local":  # the local executor's job id is its controller's process id
        return not submitit.LocalJob(folder, job_id).paths.result_pickle.exists() and _local_task_alive(out_dir, job_id)
    try:
        return str(submitit.SlurmJob(folder, job_id).state).upper().split()[0] in _LIVE_SLURM_STATES
    except Exception:  # sacct missing or failing: nothing to tell
        return False

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
    with executor.batch():
        submitted = [executor.submit(job_function, configs, run_dirs, names, callbacks_for, threads=launcher.cpus_per_task)
                     for configs, run_dirs, names in todo]
    _record_jobs(out_dir, {name: task.job_id for task, (_, _, names) in zip(submitted, todo) for name in names})
    if not launcher.wait:
        return {**statuses, **{name: f"submitted: job {task.job_id}" for task, (_, _, names) in zip(submitted, todo)
                               for name in names}}
    for task, (_, _, names) in zip(submitted, todo):
        try:
            statuses.update(task.result())
        except Exception as err:  # submitit's FailedJobError / UncompletedJobError: the task died
            statuses.update({name: f"failed: job {task.job_id}: {_reason(err)}" for name in names})
    return statuses


def _reason(err: Exception) -> str:
    """The last meaningful line of submitit's report (the task's own exception, or why it stopped)."""
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


# Slurm states of a job that will still train (or is training) its members.
_LIVE_SLURM_STATES = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "SUSPENDED", "RESIZING"}


def _still_queued(submitit: Any, out_dir: Path, launcher: ClusterLauncher, job_id: str) -> bool:
    """Whether the job recorded for a member is still queued or running, so that a resume must not
    submit the member again (a task that has not started yet holds no lock). A job whose state
    cannot be read counts as gone: the member's lock still keeps two tasks from training it at once."""
    folder = out_dir / SUBMITIT_DIR / "%j"
    if launcher.cluster == "local":  # the local executor's job id is the task's process id
        job = submitit.LocalJob(folder, job_id)
        if job.paths.result_pickle.exists() or not job_id.isdigit():
            return False
        try:
            os.kill(int(job_id), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        return str(submitit.SlurmJob(folder, job_id).state).upper().split()[0] in _LIVE_SLURM_STATES
    except Exception:  # sacct missing or failing: nothing to tell
        return False

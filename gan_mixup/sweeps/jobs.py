"""A sweep's members trained as jobs: grouping seeds into lockstep jobs, one process per job (so a
worker killed by the OS or by kill -9 fails only its own members), the progress they report, and
the cluster path through ``gan_mixup.sweeps.cluster``. ``gan_mixup.sweeps`` decides what to train; this
module only runs it.
"""
from __future__ import annotations

import os
import signal
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from gan_mixup.config import RunConfig
from gan_mixup.errors import GanMixupError, GanMixupWarning
from gan_mixup.pool import pid_alive, process_context, sigint_blocked
from gan_mixup.sweeps.directory import SweepMember, records_of


class SweepInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped the sweep; running members checkpointed, finished ones are kept."""

    def __init__(self, out_dir: Path, signal_name: str) -> None:
        super().__init__(signal_name)
        self.out_dir, self.signal_name = out_dir, signal_name


def done_iterations(run_dir: Path) -> int:
    snapshots = [r["iteration"] for r in records_of(run_dir, "snapshot")]
    return max(snapshots, default=0)


MAX_WORKERS = 256  # processes at once; each holds a copy of torch (~0.5 GB)
MAX_LOCKSTEP = 16  # members trained as one batch at most (memory grows with it; speed no longer does)


def unbatched(todo: list[SweepMember]) -> dict[str, list[str]]:
    """Why members of ``todo`` cannot train in lockstep: reason -> the settings it keeps out (each once),
    so a sweep asked for ``--batched`` can say which of its runs train one at a time."""
    from gan_mixup.training.batched import batchable

    reasons: dict[str, list[str]] = {}
    for member in todo:
        why = batchable(member.config)
        if why is not None and member.setting not in reasons.setdefault(why, []):
            reasons[why].append(member.setting)
    return {why: settings for why, settings in reasons.items() if settings}


def lockstep_jobs(todo: list[SweepMember], workers: int = 1) -> list[list[SweepMember]]:
    """Group the members that differ only in their seed (and can be batched) into lockstep jobs;
    while there are fewer jobs than ``workers``, halve the largest, so every core gets work."""
    from gan_mixup.training.batched import batchable, same_setting

    jobs: list[list[SweepMember]] = []
    for member in todo:
        if batchable(member.config) is None:
            for job in jobs:
                if len(job) < MAX_LOCKSTEP and batchable(job[0].config) is None and same_setting(job[0].config, member.config):
                    job.append(member)
                    break
            else:
                jobs.append([member])
        else:
            jobs.append([member])
    while jobs and len(jobs) < workers and max(len(job) for job in jobs) > 1:
        largest = max(jobs, key=len)
        jobs.remove(largest)
        jobs += [largest[: len(largest) // 2], largest[len(largest) // 2:]]
    return jobs


def run_members(jobs: list[list[SweepMember]], out_dir: Path, workers: int, bar: Any, handle_signals: bool,
                 callbacks_for: Any) -> dict[str, str]:
    """Train ``jobs`` (each one member, or several in lockstep); returns name -> status.
    SIGINT/SIGTERM: members in flight checkpoint and stop, no new one starts, then ``SweepInterrupted``."""
    from gan_mixup.training.process import signals_to_flag

    statuses: dict[str, str] = {}
    with signals_to_flag(handle_signals) as signalled:
        if workers == 1:
            for job in jobs:
                if signalled:
                    break
                statuses.update(_train_job([m.config for m in job], [out_dir / m.name for m in job], [m.name for m in job],
                                           callbacks_for, in_process_bar=bar, handle_signals=handle_signals))
                if "interrupted" in statuses.values() and not signalled:
                    signalled.append("SIGINT")
        else:
            statuses.update(_run_in_pool(jobs, out_dir, workers, bar, signalled, callbacks_for))
    if signalled or "interrupted" in statuses.values():
        raise SweepInterrupted(out_dir, signalled[0] if signalled else "SIGINT")
    return statuses


def _run_in_pool(jobs: list[list[SweepMember]], out_dir: Path, workers: int, bar: Any, signalled: list[str],
                 callbacks_for: Any) -> dict[str, str]:
    """Train ``jobs``, ``workers`` at a time, each job in a fresh process of its own.

    A process per job, not a long-lived pool: a pool one of whose workers dies (kill -9, the out-of-
    memory killer) breaks as a whole and takes the members of its other workers with it. Here a
    dead process fails only its own members, with the signal that ended it as their reason, and
    the sweep goes on. The forkserver has imported this module once, so a job starts in milliseconds.
    """
    from multiprocessing.connection import wait as wait_for

    context = process_context([__name__])
    queue = context.Queue()
    statuses: dict[str, str] = {}
    pending = list(jobs)
    running: dict[Any, _JobProcess] = {}  # process sentinel -> its job
    try:
        while pending or running:
            while pending and len(running) < workers and not signalled:
                job = _JobProcess.start(context, queue, pending.pop(0), out_dir, callbacks_for)
                running[job.process.sentinel] = job
            if not running:
                break
            ended = wait_for(list(running), timeout=0.5)
            _drain(queue, bar)
            if signalled:  # members in flight checkpoint and return "interrupted"; again each round, for
                for job in running.values():  # a process that was still starting and ignored the first
                    _signal(job.process.pid)
            for sentinel in ended:
                statuses.update(running.pop(sentinel).outcome())
    finally:
        # Only when this process fails: the members in flight checkpoint and stop (SIGINT again each
        # second, for a process that was still starting and ignored the first).
        while any(job.process.is_alive() for job in running.values()):
            for job in running.values():
                _signal(job.process.pid)
            wait_for([job.process.sentinel for job in running.values()], timeout=1.0)
            _drain(queue, bar)
        _drain(queue, bar)
    return statuses


@dataclass
class _JobProcess:
    """One job of a sweep running in a process of its own; its statuses come back through a pipe."""

    process: Any
    results: Any  # the reading end of the pipe
    names: list[str]

    @classmethod
    def start(cls, context: Any, queue: Any, job: list[SweepMember], out_dir: Path, callbacks_for: Any) -> "_JobProcess":
        reader, writer = context.Pipe(duplex=False)
        names = [m.name for m in job]
        process = context.Process(target=_job_main, name=f"sweep: {names[0]}",
                                  args=(writer, queue, os.getpid(), [m.config for m in job], [out_dir / n for n in names],
                                        names, callbacks_for))
        # Born with SIGINT blocked (spawn copies this thread's mask; the forkserver, started here, its
        # own): a Ctrl-C that reaches the process group before the job ignores SIGINT kills nothing.
        with sigint_blocked():
            process.start()
        writer.close()
        return cls(process, reader, names)

    def outcome(self) -> dict[str, str]:
        """name -> status, once the process has ended: what it sent, or why it sent nothing."""
        try:
            if self.results.poll():
                return dict(self.results.recv())
        except (EOFError, OSError):  # the process died before it could send
            pass
        finally:
            self.results.close()
            self.process.join()
        return {name: f"failed: {_death(self.process.exitcode)}" for name in self.names}


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else f"signal {-exitcode}"
        why = " (kill -9, or out of memory)" if -exitcode == signal.SIGKILL else ""
        return f"its process was killed by {name}{why}; --resume continues it from its last checkpoint"
    return f"its process ended with exit code {exitcode} before it reported; --resume continues it from its last checkpoint"


def _job_main(results: Any, queue: Any, sweep_pid: int, configs: list[RunConfig], run_dirs: list[Path],
              names: list[str], callbacks_for: Any) -> None:
    """The body of a job's process: train its members, send name -> status back."""
    _worker_init(queue, sweep_pid, names)
    try:
        outcome = _train_job(configs, run_dirs, names, callbacks_for)
    except Exception as err:  # a bug in a member or a callback: its members fail, the sweep goes on
        outcome = {name: f"failed: {type(err).__name__}: {err}" for name in names}
    try:
        results.send(outcome)
        results.close()
    except OSError:  # the sweep's process is gone (see _exit_with): the member checkpointed, nobody to tell
        pass


def _signal(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGINT)
    except OSError:
        pass


_QUEUE: Any = None


def _worker_init(queue: Any, sweep_pid: int, names: list[str]) -> None:
    """Each job trains with one thread (two processes on two cores beat one with two threads at
    these sizes), ignores Ctrl-C until its member's loop installs its own handler, and stops when
    the sweep's process dies (kill -9): it would otherwise train on with nobody to report to. Its
    ``GanMixupWarning``s go to the sweep's process, named after the job's members, and are warned
    there again: the caller sees them as it sees those of a member trained in its own process."""
    global _QUEUE
    _QUEUE = queue
    shown = warnings.showwarning

    def forward(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, GanMixupWarning):
            queue.put(("warning", f"{', '.join(names)}: {message}"))
        else:
            shown(message, category, *args, **kwargs)

    warnings.showwarning = forward
    import torch

    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # born blocked (see _JobProcess.start): ignored from now on instead
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threading.Thread(target=_exit_with, args=(sweep_pid,), daemon=True).start()


def _exit_with(sweep_pid: int, poll_seconds: float = 1.0, grace_seconds: float = 20.0) -> None:
    """Wait until process ``sweep_pid`` is gone; then SIGTERM this worker (a member in training
    checkpoints and stops, an idle worker ends) and, should it still live after the grace time, exit."""
    import time

    while pid_alive(sweep_pid):
        time.sleep(poll_seconds)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_seconds)
    os._exit(1)


def _train_job(configs: list[RunConfig], run_dirs: list[Path], names: list[str], callbacks_for: Any, *,
               in_process_bar: Any = None, handle_signals: bool = True) -> dict[str, str]:
    """Train (or resume) one member, or several in lockstep; return name -> status instead of
    raising, so the sweep goes on."""
    from gan_mixup.training import NonFiniteError, TrainingInterrupted, train

    callbacks = [[_progress_reporter(d, in_process_bar), *(callbacks_for(d) if callbacks_for else [])] for d in run_dirs]
    try:
        if len(configs) > 1:
            from gan_mixup.training.batched import train_batched

            return dict(zip(names, train_batched(configs, run_dirs, resume=True, callbacks=callbacks, handle_signals=handle_signals)))
        train(configs[0], run_dirs[0], resume=True, callbacks=callbacks[0], handle_signals=handle_signals)
    except TrainingInterrupted:
        return {name: "interrupted" for name in names}
    except NonFiniteError:
        return {name: "diverged" for name in names}
    except GanMixupError as err:
        return {name: f"failed: {err}" for name in names}
    return {names[0]: "done"}


def cluster_job(configs: list[RunConfig], run_dirs: list[Path], names: list[str], callbacks_for: Any, *,
                 threads: int = 1) -> dict[str, str]:
    """One cluster task: ``_train_job`` with the task's CPU count as torch's thread count. A task
    stopped by its time limit or preempted (submitit's SIGUSR2, Slurm's ``--signal=USR2@90``, or
    SIGTERM) checkpoints and reports ``interrupted``; so does one stopped by a Ctrl-C of the sweep
    that launched it locally."""
    import torch

    torch.set_num_threads(threads)
    # Born with SIGINT blocked (see run_on_cluster): ignored until the loop installs its own handler.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    statuses = _train_job(configs, run_dirs, names, callbacks_for, handle_signals=True)
    return {name: "interrupted: the task was stopped; --resume continues it" if status == "interrupted" else status
            for name, status in statuses.items()}


def _progress_reporter(run_dir: Path, in_process_bar: Any) -> Callable[[dict[str, Any]], None]:
    """A callback that counts a member's logged iterations into the sweep's one progress bar."""
    last = [done_iterations(run_dir)]

    def report(record: dict[str, Any]) -> None:
        if record.get("kind") == "train":
            step = record["iteration"] - last[0]
            last[0] = record["iteration"]
            if in_process_bar is not None:
                in_process_bar.update(step)
            elif _QUEUE is not None:
                _QUEUE.put(step)

    return report


def _drain(queue: Any, bar: Any) -> None:
    import queue as queue_module

    while True:
        try:
            item = queue.get_nowait()
        except (queue_module.Empty, OSError, ValueError):
            return
        if isinstance(item, tuple):  # ("warning", text) from a job's process
            warnings.warn(GanMixupWarning(item[1]), stacklevel=2)
        elif bar is not None:
            bar.update(item)

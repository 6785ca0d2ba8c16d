"""Many runs over seeds and settings; their scorecard is ``gan_mixup.scorecard``'s.

A sweep is a collection directory: one ordinary run directory per member (``render`` and
``metrics`` work on each), a ``runs.json`` manifest, ``results.csv`` (one row per run x snapshot
iteration), ``scorecard.md``, ``scorecard.png`` (modes covered against iteration, a band over
seeds, one panel per setting) and ``gradients.png`` (D's input-gradient norms).

Example:
    >>> from gan_mixup import RunConfig
    >>> members = sweep_members({("ring8", ""): RunConfig(iterations=200, hidden=32)},
    ...                         objectives=["erm", "mixup"], alphas=[0.2], seeds=[0, 1])
    >>> [m.name for m in members]
    ['ring8-erm-seed0', 'ring8-erm-seed1', 'ring8-mixup-a0.2-seed0', 'ring8-mixup-a0.2-seed1']
    >>> run_sweep(members, "runs/sweep", workers=2)  # doctest: +SKIP
"""
from __future__ import annotations

import itertools
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from gan_mixup.config import RunConfig, resume_conflicts
from gan_mixup.errors import GanMixupError
from gan_mixup.launchers import ClusterLauncher, run_on_cluster
from gan_mixup.experiments import _prepare_collection, config_with_objective
from gan_mixup.pool import process_context, sigint_blocked
from gan_mixup.rundir import CONFIG_FILE, locked
from gan_mixup.scorecard import write_scorecard
from gan_mixup.sweepdir import SweepError, _newest_checkpoint, _records, _records_agree, read_sweep, stopped_nonfinite
from gan_mixup.training import check_config
from gan_mixup.training.process import _progress_bar

AUTHORS_LATENT_DIMS = (2, 5, 10)  # the mixup authors' gan/example_gan.py grid: latent sizes ...
AUTHORS_ALPHAS = (0.0, 0.1, 0.2, 0.5, 1.0)  # ... and α (0: their ERM), on ring and grid




@dataclass(frozen=True)
class SweepMember:
    """One run of a sweep: its config and where it sits in the scorecard."""

    name: str  # the member's folder inside the sweep directory
    dataset: str
    setting: str  # the scorecard row: objective[preset] α=.. z=.. (dataset and seed apart)
    config: RunConfig
    preset: str = ""
    alpha: float | None = None  # None where the objective has no α
    seed: int = 0


def sweep_members(
    bases: dict[tuple[str, str], RunConfig],
    *,
    objectives: Sequence[str],
    alphas: Sequence[float],
    seeds: Sequence[int],
    latent_dims: Sequence[int] = (),
    axes: Mapping[str, Sequence[float]] | None = None,
) -> list[SweepMember]:
    """Every combination of ``bases`` (one config per ``(dataset, preset)``; preset ``""`` for none)
    x objective x α x latent size x hyperparameter values x seed.

    An objective without α (anything but ``mixup``) is trained once per seed, not once per α.
    Objective specs may carry regularizers as in ``compare``: ``erm+r1:10`` (so regularizer
    strengths are crossed by listing ``erm+r1:1,erm+r1:10``). ``axes`` maps a name of
    ``HYPERPARAMETER_AXES`` (``lr``, ``beta1``, ``d_steps``, ``batch_size``) to its values; each
    combination is a setting of its own, named after the axes that have more than one value.
    """
    if not seeds:
        raise SweepError("a sweep needs at least one seed")
    if not objectives:
        raise SweepError("a sweep needs at least one objective")
    axes = {name: list(values) for name, values in (axes or {}).items() if values}
    unknown = sorted(set(axes) - set(HYPERPARAMETER_AXES))
    if unknown:
        raise SweepError(f"no hyperparameter axis {', '.join(unknown)}; the axes are {', '.join(HYPERPARAMETER_AXES)}")
    for name, values in axes.items():
        if len(set(values)) != len(values):
            raise SweepError(f"--{name.replace('_', '-')} names a value twice")
    members = []
    several_latents = len(set(latent_dims)) > 1
    for (dataset, preset), base in bases.items():
        for spec in objectives:
            config = config_with_objective(base, spec)
            for alpha in (alphas or [config.alpha]) if config.objective == "mixup" else [None]:
                for latent in latent_dims or [config.latent_dim]:
                    for point in itertools.product(*axes.values()):
                        hyper = dict(zip(axes, point))
                        setting = spec + (f"[{preset}]" if preset else "") + (f" α={alpha:g}" if alpha is not None else "")
                        setting += f" z={latent}" if several_latents else ""
                        setting += "".join(f" {HYPERPARAMETER_AXES[k]}={v:g}" for k, v in hyper.items() if len(axes[k]) > 1)
                        for seed in seeds:
                            fields: dict[str, Any] = {"seed": int(seed), "latent_dim": int(latent), **_axis_fields(config, hyper)}
                            if alpha is not None:
                                fields["alpha"] = float(alpha)
                            members.append(SweepMember(
                                name=_folder_name(dataset, setting, seed), dataset=dataset, setting=setting,
                                config=config.replace(**fields), preset=preset, alpha=alpha, seed=int(seed)))
    names = [m.name for m in members]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise SweepError(f"the sweep names a run twice ({', '.join(clashes[:3])}): give each objective, α and seed once")
    return members


# Hyperparameters a sweep crosses: axis name -> its label in a setting's name (and a folder's).
HYPERPARAMETER_AXES = {"lr": "lr", "beta1": "β1", "d_steps": "dsteps", "batch_size": "batch"}


def _axis_fields(config: RunConfig, hyper: dict[str, float]) -> dict[str, Any]:
    """The RunConfig fields one point of the hyperparameter axes sets."""
    fields: dict[str, Any] = {}
    for name, value in hyper.items():
        if name == "beta1":
            fields["betas"] = (float(value), config.betas[1])
        elif name == "lr":
            fields["lr"] = float(value)
        else:
            fields[name] = int(value)
    return fields


def _folder_name(dataset: str, setting: str, seed: int) -> str:
    text = f"{dataset}-{setting}-seed{seed}".replace(" α=", "-a").replace(" z=", "-z").replace("[", "-").replace("]", "")
    for label in HYPERPARAMETER_AXES.values():
        text = text.replace(f" {label}=", f"-{label.replace('β', 'b')}")
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


# ----- running ----------------------------------------------------------------------------------

@dataclass
class SweepResult:
    """What ``run_sweep`` did: member name -> status (``done``, ``skipped`` (finished before),
    ``diverged`` (stopped on a non-finite loss, now or before), ``failed: REASON``), and the files it
    wrote."""

    statuses: dict[str, str]
    outputs: dict[str, Path] = field(default_factory=dict)


class SweepInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped the sweep; running members checkpointed, finished ones are kept."""

    def __init__(self, out_dir: Path, signal_name: str) -> None:
        super().__init__(signal_name)
        self.out_dir, self.signal_name = out_dir, signal_name


def run_sweep(
    members: Sequence[SweepMember],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = False,
    handle_signals: bool = False,
    callbacks_for: Callable[[Path], Sequence[Callable[[dict[str, Any]], None]]] | None = None,
    batched: bool = False,
    retry_diverged: bool = False,
    launcher: ClusterLauncher | None = None,
) -> SweepResult:
    """Train every member into ``out_dir/<member.name>``, ``workers`` at a time (default: one per
    CPU core), each in its own process with one thread; then write the results and the scorecard.

    Every config is checked before anything is trained. With ``resume`` a finished member is not
    trained again and an interrupted one continues from its checkpoint; new members (more seeds,
    another objective) are added, and members of earlier runs of the sweep that ``members`` no
    longer names stay in it and in its scorecard. Before anything is written a resume is refused
    (``SweepError``) when it would change a member's settings (those ``config.resume_conflicts``
    guards; a new seed is held to the settings of the other seeds of its setting) or set
    ``iterations`` below what a member has trained. A member that stops on a non-finite loss counts
    as diverged and the sweep goes on; a resume keeps it as it is unless ``retry_diverged``, which
    continues it from its last checkpoint (with the same settings it diverges again at the same
    step: change ``on_nonfinite`` to ``"skip"`` to step over the NaN). A member whose process dies
    (kill -9, out of memory) fails alone, with the signal as its reason. One progress bar counts the
    iterations of the whole sweep. ``callbacks_for(run_dir)`` gives extra callbacks for a member
    (e.g. TensorBoard logging); they run in the member's process.

    ``batched``: the seeds of each toy erm/mixup setting train in lockstep as one batched
    computation (``gan_mixup.training.batched``), up to ``MAX_LOCKSTEP`` at a time; each member is then
    reproducible from its seed but not bit-identical to its run trained alone. Settings the
    batched path does not cover train one run at a time as usual.

    ``launcher``: train each job as one task of a Slurm job array (``gan_mixup.launchers``) instead
    of this machine's processes; with ``launcher.wait=False`` the call submits and returns (statuses
    ``submitted: job ID``), and a later ``resume`` collects what finished and resubmits the rest.
    """
    out_dir = Path(out_dir)
    if not members:
        raise SweepError("a sweep needs at least one member")
    if workers is not None and not (isinstance(workers, int) and 1 <= workers <= MAX_WORKERS):
        raise SweepError(f"--workers must be a whole number from 1 to {MAX_WORKERS}, got {workers!r}")
    for member in members:
        check_config(member.config)
    workers = max(1, min(workers or os.cpu_count() or 1, len(members)))
    with locked(out_dir):
        on_disk = _check_resume(out_dir, members) if resume else {}
        _prepare_collection(out_dir, [m.name for m in members], overwrite=overwrite, resume=resume, kind="sweep",
                            members={m.name: _description(m) for m in members})
        statuses: dict[str, str] = {}
        todo = []
        for m in members:
            found = on_disk.get(m.name)
            if found is None:
                todo.append(m)
            elif found.finished:
                statuses[m.name] = "skipped"
            elif found.diverged and not retry_diverged:
                statuses[m.name] = "diverged"
            elif found.problem:
                statuses[m.name] = f"failed: {found.problem}"
            else:
                todo.append(m)
        bar = _progress_bar(progress, sum(m.config.iterations for m in members),
                            sum(m.config.iterations for m in members if m not in todo)
                            + sum(_done_iterations(out_dir / m.name) for m in todo), "sweep")
        try:
            jobs = _lockstep_jobs(todo, workers) if batched else [[m] for m in todo]
            if launcher is not None:
                statuses.update(run_on_cluster([([m.config for m in job], [out_dir / m.name for m in job], [m.name for m in job])
                                                for job in jobs], out_dir, launcher, _cluster_job, callbacks_for))
            else:
                statuses.update(_run_members(jobs, out_dir, min(workers, len(jobs) or 1), bar, handle_signals, callbacks_for))
        finally:
            if bar is not None:
                bar.close()
        result = SweepResult({m.name: statuses.get(m.name, "failed: not started") for m in members})
        result.outputs = write_scorecard(out_dir)
        return result








@dataclass(frozen=True)
class _OnDisk:
    """What a member's folder holds, read before a resume writes anything."""

    finished: bool
    diverged: bool
    problem: str | None = None  # why it can be neither trained on nor counted as finished


def _check_resume(out_dir: Path, members: Sequence[SweepMember]) -> dict[str, _OnDisk]:
    """Read the folders of ``members`` before a resume writes anything: name -> what it holds, for
    those that exist. ``SweepError`` when the resume would change a member's settings (those its
    checkpoint or ``config.json`` holds; for a member not started yet, those of another seed of its
    setting) or cut a member short of the iterations it has trained."""
    try:
        previous = read_sweep(out_dir)
    except SweepError:
        return {}  # not a sweep: _prepare_collection says what it is
    same_setting: dict[tuple[Any, Any], list[str]] = {}
    for name, info in previous.items():
        same_setting.setdefault((info.get("dataset"), info.get("setting")), []).append(name)
    found: dict[str, _OnDisk] = {}
    for m in members:
        run_dir = out_dir / m.name
        checkpoint = _newest_checkpoint(run_dir)
        saved = _config_of(checkpoint.get("config") if checkpoint else None) or _saved_config(run_dir)
        if saved is not None:
            _refuse_other_settings(m, saved, m.name)
        else:
            for other in same_setting.get((m.dataset, m.setting), []):
                sibling = _saved_config(out_dir / other)
                if sibling is not None and other != m.name:
                    _refuse_other_settings(m, sibling, other)
                    break
        if not run_dir.is_dir():
            continue
        iteration = int(checkpoint["iteration"]) if checkpoint else 0
        if iteration > m.config.iterations:
            raise SweepError(f"{m.name} has trained {iteration} iterations, more than --iterations {m.config.iterations}: "
                             f"a resume never cuts a member short; give --iterations {iteration} or more")
        last = iteration == m.config.iterations
        agree = last and _records_agree(run_dir, iteration)
        problem = None
        if last and not agree:
            problem = (f"its checkpoint is at the last iteration, {iteration}, but {run_dir.name}/metrics.jsonl lacks "
                       "snapshot records, or names snapshots whose files are gone; delete the folder to train it again")
        found[m.name] = _OnDisk(finished=agree, diverged=stopped_nonfinite(run_dir), problem=problem)
    return found


def _refuse_other_settings(member: SweepMember, saved: RunConfig, whose: str) -> None:
    if whose == member.name:
        conflicts = resume_conflicts(saved, member.config)
        where = f"{member.name} was trained with"
    else:  # another seed of the same setting: everything but the seed must agree
        conflicts = resume_conflicts(saved, member.config.replace(seed=saved.seed))
        where = f"{member.name} would join {whose}, trained with"
    if conflicts:
        raise SweepError(f"--resume would change the settings of the sweep: {where} other settings "
                         f"({'; '.join(conflicts)}); keep them, or train the new settings into another --out")


def _config_of(fields: Any) -> RunConfig | None:
    try:
        return RunConfig.from_dict(fields) if isinstance(fields, dict) else None
    except (GanMixupError, TypeError, ValueError):
        return None


def _saved_config(run_dir: Path) -> RunConfig | None:
    try:
        return RunConfig.load(run_dir / CONFIG_FILE) if (run_dir / CONFIG_FILE).is_file() else None
    except (OSError, GanMixupError, TypeError, ValueError):
        return None






def _done_iterations(run_dir: Path) -> int:
    snapshots = [r["iteration"] for r in _records(run_dir, "snapshot")]
    return max(snapshots, default=0)




MAX_WORKERS = 256  # processes at once; each holds a copy of torch (~0.5 GB)
MAX_LOCKSTEP = 16  # members trained as one batch at most (memory grows with it; speed no longer does)


def _lockstep_jobs(todo: list[SweepMember], workers: int = 1) -> list[list[SweepMember]]:
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


def _run_members(jobs: list[list[SweepMember]], out_dir: Path, workers: int, bar: Any, handle_signals: bool,
                 callbacks_for: Any) -> dict[str, str]:
    """Train ``jobs`` (each one member, or several in lockstep); returns name -> status.
    SIGINT/SIGTERM: members in flight checkpoint and stop, no new one starts, then ``SweepInterrupted``."""
    from gan_mixup.training.process import _signals_to_flag

    statuses: dict[str, str] = {}
    with _signals_to_flag(handle_signals) as signalled:
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
    _worker_init(queue, sweep_pid)
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


def _worker_init(queue: Any, sweep_pid: int) -> None:
    """Each job trains with one thread (two processes on two cores beat one with two threads at
    these sizes), ignores Ctrl-C until its member's loop installs its own handler, and stops when
    the sweep's process dies (kill -9): it would otherwise train on with nobody to report to."""
    global _QUEUE
    _QUEUE = queue
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

    while _alive(sweep_pid):
        time.sleep(poll_seconds)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(grace_seconds)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def _cluster_job(configs: list[RunConfig], run_dirs: list[Path], names: list[str], callbacks_for: Any, *,
                 threads: int = 1) -> dict[str, str]:
    """One cluster task: ``_train_job`` with the task's CPU count as torch's thread count. A task
    stopped by its time limit (SIGTERM) checkpoints and reports ``interrupted``."""
    import torch

    torch.set_num_threads(threads)
    statuses = _train_job(configs, run_dirs, names, callbacks_for, handle_signals=True)
    return {name: "interrupted: the task was stopped; --resume continues it" if status == "interrupted" else status
            for name, status in statuses.items()}


def _progress_reporter(run_dir: Path, in_process_bar: Any) -> Callable[[dict[str, Any]], None]:
    """A callback that counts a member's logged iterations into the sweep's one progress bar."""
    last = [_done_iterations(run_dir)]

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
            step = queue.get_nowait()
        except (queue_module.Empty, OSError, ValueError):
            return
        if bar is not None:
            bar.update(step)


def _description(m: SweepMember) -> dict[str, Any]:
    """A member's place in the scorecard, as the manifest records it (kept across resumes)."""
    return {"dataset": m.dataset, "setting": m.setting, "objective": m.config.objective, "preset": m.preset,
            "alpha": m.alpha, "latent_dim": m.config.latent_dim, "seed": m.seed, "iterations": m.config.iterations,
            "lr": m.config.lr, "beta1": m.config.betas[0], "d_steps": m.config.d_steps, "batch_size": m.config.batch_size}

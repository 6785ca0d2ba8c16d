"""Many runs over seeds and settings, and the stability scorecard that summarises them.

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
import json
import math
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from gan_mixup.config import RunConfig, resume_conflicts
from gan_mixup.errors import GanMixupError
from gan_mixup.launchers import ClusterLauncher, run_on_cluster
from gan_mixup.experiments import MANIFEST, MEMBERS_KEY, _prepare_collection, config_with_objective
from gan_mixup.metrics import evaluate_run, recorded_snapshot_metrics
from gan_mixup.rundir import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    GRADIENTS_PNG_FILE,
    PREVIOUS_CHECKPOINT_FILE,
    RESULTS_FILE,
    ROBUSTNESS_MD_FILE,
    ROBUSTNESS_PNG_FILE,
    SCORECARD_MD_FILE,
    SCORECARD_PNG_FILE,
    load_checkpoint,
    locked,
    read_records,
    read_reference,
    snapshot_path,
    write_csv,
    write_text_atomic,
)
from gan_mixup.training import check_config
from gan_mixup.training.process import _progress_bar

AUTHORS_LATENT_DIMS = (2, 5, 10)  # the mixup authors' gan/example_gan.py grid: latent sizes ...
AUTHORS_ALPHAS = (0.0, 0.1, 0.2, 0.5, 1.0)  # ... and α (0: their ERM), on ring and grid
# Diverged: at the end, more than this share of the samples lie outside the data's frame (or the run
# stopped on a non-finite loss). Stable: every snapshot from some iteration T <= STABLE_BY x the run
# length to the end covers all modes.
DIVERGED_OUTSIDE = 0.5
STABLE_BY = 0.5
RESULT_COLUMNS = ("dataset", "setting", "objective", "preset", "alpha", "latent_dim", "lr", "beta1", "d_steps",
                  "batch_size", "seed", "iteration",
                  "modes_covered", "modes_total", "modes_near", "high_quality", "kl_modes", "sliced_wasserstein",
                  "mean_mode_distance", "outside_frame", "frechet_digits", "frechet", "precision", "recall", "density",
                  "coverage", "classifier_accuracy", "d_grad_real", "d_grad_fake",
                  "d_grad_mixed", "status", "run")


class SweepError(GanMixupError, ValueError):
    """A sweep that cannot run: no members, clashing members, a folder that is not a sweep."""


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


def member_finished(run_dir: Path, iterations: int) -> bool:
    """Whether a member was trained to the end: its newest checkpoint is at ``iterations`` and the
    snapshot records of its ``metrics.jsonl`` name that iteration and only snapshots on disk.

    A member killed between its last snapshot and its final checkpoint is not finished (a resume
    trains the rest again from its last checkpoint), nor is one that stopped on a non-finite loss
    (``stopped_nonfinite``)."""
    run_dir = Path(run_dir)
    checkpoint = _newest_checkpoint(run_dir)
    return checkpoint is not None and int(checkpoint["iteration"]) == iterations and _records_agree(run_dir, iterations)


def _records_agree(run_dir: Path, iterations: int) -> bool:
    recorded = {r.get("iteration") for r in _records(run_dir, "snapshot")}
    return iterations in recorded and all(isinstance(it, int) and snapshot_path(run_dir, it).is_file() for it in recorded)


def _newest_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The checkpoint a resume would continue from (``checkpoint.pt``, else ``checkpoint.prev.pt``),
    or None when there is none that reads."""
    if not ((run_dir / CHECKPOINT_FILE).exists() or (run_dir / PREVIOUS_CHECKPOINT_FILE).exists()):
        return None
    try:
        return load_checkpoint(run_dir)[0]
    except GanMixupError:
        return None


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


def stopped_nonfinite(run_dir: Path) -> bool:
    """Whether the run's ``metrics.jsonl`` records a stop on a non-finite loss."""
    return any(r.get("event") == "nonfinite" for r in _records(run_dir, "event"))


def _records(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    try:
        return read_records(run_dir, kind)
    except (OSError, GanMixupError, ValueError):
        return []


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
    import multiprocessing
    from multiprocessing.connection import wait as wait_for

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload([__name__])
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
        from gan_mixup.render import _sigint_blocked

        reader, writer = context.Pipe(duplex=False)
        names = [m.name for m in job]
        process = context.Process(target=_job_main, name=f"sweep: {names[0]}",
                                  args=(writer, queue, os.getpid(), [m.config for m in job], [out_dir / n for n in names],
                                        names, callbacks_for))
        # Born with SIGINT blocked (spawn copies this thread's mask; the forkserver, started here, its
        # own): a Ctrl-C that reaches the process group before the job ignores SIGINT kills nothing.
        with _sigint_blocked():
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


# ----- results and the scorecard ------------------------------------------------------------------

def read_sweep(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Member name -> its description, from a sweep directory's manifest."""
    out_dir = Path(out_dir)
    try:
        info = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        raise SweepError(f"{out_dir} is not a sweep directory (no readable {MANIFEST})") from None
    if info.get("kind") != "sweep":
        raise SweepError(f"{out_dir} is a {info.get('kind', 'compare')} directory, not a sweep")
    return dict(info.get(MEMBERS_KEY, {}))


def collect_results(out_dir: str | Path, *, recompute: bool = False) -> list[dict[str, Any]]:
    """One row per member x snapshot iteration (``RESULT_COLUMNS``), from each member's
    ``metrics.jsonl`` (the metrics training recorded at its snapshots), or with ``recompute`` from
    its snapshot files (``evaluate_run``: toy runs get this version's metrics, image runs keep
    their records); members not started yet have no rows."""
    out_dir = Path(out_dir)
    rows = []
    for name, info in read_sweep(out_dir).items():
        run_dir = out_dir / name
        if recompute and (run_dir / "snapshots").is_dir():
            snapshots = evaluate_run(run_dir)
        else:
            snapshots = recorded_snapshot_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
        if not snapshots:
            continue
        total = _modes_total(run_dir, snapshots)
        status = _status(run_dir, info["iterations"])
        for record in snapshots:
            row = {key: info.get(key) for key in ("dataset", "setting", "objective", "preset", "alpha", "latent_dim", "lr",
                                                  "beta1", "d_steps", "batch_size", "seed")}
            row.update({key: record.get(key) for key in RESULT_COLUMNS if key in record})
            row.update(iteration=record["iteration"], modes_total=total, status=status, run=name)
            rows.append(row)
    return rows


def _modes_total(run_dir: Path, snapshots: list[dict[str, Any]]) -> int | None:
    """All the modes a run can cover: the toy data's mode count, or for images what the real data
    covers at the same sample size (recorded at iteration 0)."""
    try:
        reference = read_reference(run_dir)
    except GanMixupError:
        return None
    if reference.kind == "points":
        return len(reference.modes) or None
    first = snapshots[0]
    return first.get("real_modes_covered")


def _status(run_dir: Path, iterations: int) -> str:
    """``diverged``, ``finished`` (see ``member_finished``) or ``unfinished`` (interrupted, or still
    training): the scorecard leaves unfinished runs out and counts them beside the seeds."""
    if stopped_nonfinite(run_dir):
        return "diverged"
    return "finished" if member_finished(run_dir, iterations) else "unfinished"


def write_results_csv(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    return write_csv(path, RESULT_COLUMNS, rows)


@dataclass
class SettingSummary:
    """One scorecard row: a dataset x setting over its seeds, at each run's last snapshot."""

    dataset: str
    setting: str
    seeds: int  # the runs scored: finished or diverged
    iterations: int
    modes_total: int | None
    final: dict[str, list[float]]  # metric -> one value per seed
    collapsed: float
    diverged: float
    stable: float
    stable_from: list[int]  # per stable seed: the iteration from which all modes stay covered
    curves: dict[str, tuple[np.ndarray, np.ndarray]]  # metric -> (iterations, values of shape (seeds, T))
    unfinished: int = 0  # runs left out of every number above: interrupted before their last iteration


SCORE_METRICS = ("modes_covered", "modes_near", "high_quality", "kl_modes", "sliced_wasserstein", "frechet_digits",
                 "frechet", "precision", "recall", "density", "coverage",
                 "d_grad_real", "d_grad_fake", "d_grad_mixed")


def summarise(rows: Sequence[dict[str, Any]]) -> list[SettingSummary]:
    """Group ``collect_results`` rows by dataset x setting and score each group over its seeds.

    collapsed: fewer than all modes at the end. diverged: stopped on a non-finite loss, or more than
    ``DIVERGED_OUTSIDE`` of the samples outside the data's frame at the end. stable: all modes
    covered at every snapshot from some iteration T ≤ ``STABLE_BY`` x the run's length to the end.
    Runs whose rows say ``status`` ``unfinished`` (interrupted before their last iteration) are left
    out of the scores, whose "end" would otherwise mix iterations, and counted in ``unfinished``.
    """
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["setting"]), {}).setdefault(row["run"], []).append(row)
    summaries = []
    for (dataset, setting), every in groups.items():
        every = {name: sorted(r, key=lambda row: row["iteration"]) for name, r in every.items()}
        runs = {name: run for name, run in every.items() if run[-1].get("status") != "unfinished"}
        lasts = [r[-1] for r in runs.values()]
        total = next(iter(every.values()))[-1].get("modes_total")
        iterations = max(r[-1]["iteration"] for r in (runs or every).values())
        final = {k: [_float(last.get(k)) for last in lasts] for k in SCORE_METRICS if any(last.get(k) is not None for last in lasts)}
        collapsed = diverged = 0
        stable_from = []
        for run in runs.values():
            last = run[-1]
            covered = _float(last.get("modes_covered"))
            if total is not None and not covered >= total:
                collapsed += 1
            if _diverged(last):
                diverged += 1
            since = _covered_since(run, total)
            if since is not None and since <= STABLE_BY * last["iteration"] and last.get("status") != "diverged":
                stable_from.append(since)
        scored = len(runs) or math.nan
        summaries.append(SettingSummary(
            dataset=dataset, setting=setting, seeds=len(runs), iterations=iterations, modes_total=total, final=final,
            collapsed=collapsed / scored, diverged=diverged / scored, stable=len(stable_from) / scored,
            stable_from=stable_from, curves=_curves(list(runs.values())) if runs else {},
            unfinished=len(every) - len(runs)))
    return summaries


def _diverged(last: dict[str, Any]) -> bool:
    """A run's last row says it diverged: stopped on a non-finite loss, or most samples outside the frame."""
    return last.get("status") == "diverged" or _float(last.get("outside_frame")) > DIVERGED_OUTSIDE


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and value is not None else math.nan


def _covered_since(run: list[dict[str, Any]], total: int | None) -> int | None:
    """The first iteration from which every snapshot covers all ``total`` modes; None if the last does not."""
    if total is None:
        return None
    since = None
    for row in run:
        if _float(row.get("modes_covered")) >= total:
            since = row["iteration"] if since is None else since
        else:
            since = None
    return since


def _curves(runs: list[list[dict[str, Any]]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metric, the values of every seed at the iterations all seeds snapshotted."""
    common = sorted(set.intersection(*(set(r["iteration"] for r in run) for run in runs)))
    out = {}
    for metric in ("modes_covered", "modes_near", "d_grad_real", "d_grad_fake", "d_grad_mixed", "kl_modes"):
        values = np.array([[_float(row.get(metric)) for row in run if row["iteration"] in common] for run in runs])
        if values.size and np.isfinite(values).any():
            out[metric] = (np.array(common), values)
    return out


# When a run "trains", fixed before the image study's runs were looked at (docs/evidence.md): at its
# last snapshot it covers every mode (digit class), and, where the domain classifier's features give
# them, at least this precision and recall (Kynkäänniemi et al. 2019, k = 3); toy runs: every mode
# within 10σ. Diverged runs never train.
TRAINS_PRECISION = 0.5
TRAINS_RECALL = 0.5


@dataclass
class ObjectiveSpread:
    """One objective's outcomes over every hyperparameter setting and seed of a sweep (the
    robustness view of Lucic et al. 2018): how often it trains, collapses or diverges."""

    dataset: str
    objective: str  # the objective spec (erm, mixup, erm+r1:10, ...)
    settings: int  # hyperparameter settings (α, lr, β1, ...) of this objective
    runs: int  # finished runs over those settings and seeds
    trains: int
    collapsed: int
    diverged: int
    distance_metric: str  # frechet (images) or sliced_wasserstein (toy)
    final: dict[str, list[float]]  # metric -> one value per run


def robustness(rows: Sequence[dict[str, Any]]) -> list[ObjectiveSpread]:
    """Group ``collect_results`` rows by dataset x objective spec across settings; unfinished runs
    are left out. Only objectives trained at two or more settings are reported."""
    last: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("status") != "unfinished" and (row["run"] not in last or row["iteration"] > last[row["run"]]["iteration"]):
            last[row["run"]] = row
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in last.values():
        spec = str(row["setting"]).split(" ")[0].split("[")[0]
        groups.setdefault((row["dataset"], spec), []).append(row)
    spreads = []
    for (dataset, spec), runs in groups.items():
        settings = len({r["setting"] for r in runs})
        if settings < 2:
            continue
        distance = "frechet" if any(r.get("frechet") is not None for r in runs) else "sliced_wasserstein"
        trains = collapsed = diverged = 0
        for r in runs:
            total = _float(r.get("modes_total"))
            is_diverged = _diverged(r)
            covered = _float(r.get("modes_covered")) >= total
            if r.get("precision") is not None:
                good = covered and _float(r.get("precision")) >= TRAINS_PRECISION and _float(r.get("recall")) >= TRAINS_RECALL
            else:
                good = _float(r.get("modes_near")) >= total
            diverged += is_diverged
            collapsed += not covered and not is_diverged
            trains += good and not is_diverged
        final = {k: [_float(r.get(k)) for r in runs] for k in (distance, "modes_covered", "precision", "recall")}
        spreads.append(ObjectiveSpread(dataset, spec, settings, len(runs), trains, collapsed, diverged, distance, final))
    return spreads


def robustness_markdown(spreads: Sequence[ObjectiveSpread]) -> str:
    lines = ["# Robustness over hyperparameters", "",
             "Each objective's runs at their last snapshot, over every setting (α, learning rate, β1, D steps, batch "
             "size, ...) and seed; unfinished runs left out. *trains*: every mode covered and, for images, precision ≥ "
             f"{TRAINS_PRECISION:g} and recall ≥ {TRAINS_RECALL:g} (toy: every mode within 10σ), not diverged; *collapsed*: "
             "fewer than all modes covered; *diverged*: stopped on NaN/Inf (toy: or most samples outside the frame). "
             "Median [min–max] over the runs.", "",
             "| dataset | objective | settings | runs | trains | collapsed | diverged | distance | modes covered | precision | recall |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in spreads:
        name = "Fréchet " if s.distance_metric == "frechet" else "sliced W. "
        lines.append(f"| {s.dataset} | {s.objective} | {s.settings} | {s.runs} | {s.trains}/{s.runs} | {s.collapsed}/{s.runs} | "
                     f"{s.diverged}/{s.runs} | {name}{_range(s.final.get(s.distance_metric), '{:.3g}')} | "
                     f"{_range(s.final.get('modes_covered'), '{:.0f}')} | {_range(s.final.get('precision'), '{:.2f}')} | "
                     f"{_range(s.final.get('recall'), '{:.2f}')} |")
    return "\n".join(lines) + "\n"


def write_scorecard(out_dir: str | Path, *, recompute: bool = False) -> dict[str, Path]:
    """(Re)write ``results.csv``, ``scorecard.md``, ``scorecard.png`` and ``gradients.png`` of a
    sweep directory from its members' records alone (``recompute``: toy metrics from the snapshot
    files, see ``collect_results``).

    Refused (``SweepError``, every file left as it is) when ``results.csv`` holds runs of which the
    members' records give nothing now (a member folder or its ``metrics.jsonl`` deleted or cut): the
    old results are the only copy left. Delete ``results.csv`` to write it from what is there."""
    out_dir = Path(out_dir)
    rows = collect_results(out_dir, recompute=recompute)
    _refuse_to_lose_runs(out_dir / RESULTS_FILE, {row["run"] for row in rows})
    outputs = {"results": write_results_csv(rows, out_dir / RESULTS_FILE)}
    summaries = summarise(rows)
    md = out_dir / SCORECARD_MD_FILE
    write_text_atomic(md, scorecard_markdown(summaries))
    outputs["scorecard"] = md
    scored = [s for s in summaries if s.seeds]
    if scored:
        from gan_mixup.render import plot_gradient_norms, plot_mode_bands

        outputs["scorecard_png"] = plot_mode_bands(scored, out_dir / SCORECARD_PNG_FILE)
        if any("d_grad_fake" in s.curves for s in scored):
            outputs["gradients_png"] = plot_gradient_norms(scored, out_dir / GRADIENTS_PNG_FILE)
    spreads = robustness(rows)
    if spreads:  # some objective was trained at several hyperparameter settings
        from gan_mixup.render import plot_robustness

        write_text_atomic(out_dir / ROBUSTNESS_MD_FILE, robustness_markdown(spreads))
        outputs["robustness"] = out_dir / ROBUSTNESS_MD_FILE
        outputs["robustness_png"] = plot_robustness(spreads, out_dir / ROBUSTNESS_PNG_FILE)
    return outputs


def _refuse_to_lose_runs(results: Path, runs: set[str]) -> None:
    import csv

    try:
        with open(results, newline="", encoding="utf-8") as f:
            before = {row.get("run") for row in csv.DictReader(f)} - {None, ""}
    except (OSError, ValueError, csv.Error):
        return  # none yet, or unreadable: nothing in it to keep
    lost = sorted(before - runs)
    if lost:
        more = f" and {len(lost) - 3} more" if len(lost) > 3 else ""
        raise SweepError(f"kept {results} as it is: it holds {len(lost)} run(s) of which the members' records give "
                         f"nothing now ({', '.join(lost[:3])}{more}: folder or metrics.jsonl gone); restore them, "
                         f"or delete {results.name} to write it from what is left")


def scorecard_markdown(summaries: Sequence[SettingSummary]) -> str:
    """The scorecard as a Markdown table: median [min–max] over seeds at each run's last snapshot."""
    if not summaries:
        return "# Stability scorecard\n\nNo member has recorded a snapshot yet.\n"
    images = any("frechet_digits" in s.final or "frechet" in s.final for s in summaries)
    lines = ["# Stability scorecard", "",
             "Median [min–max] over seeds at each run's last snapshot. *collapsed*: fewer than all modes at the end; "
             f"*diverged*: stopped on NaN/Inf or over {DIVERGED_OUTSIDE:.0%} of the samples outside the data's frame; "
             f"*stable*: all modes covered at every snapshot from some iteration ≤ {STABLE_BY:g}x the run's length to the end "
             "(median of that iteration in brackets). Modes: a sample within 3σ of a mode is high quality; a mode is covered "
             "when ≥ 1% of the samples are its high-quality samples; *within 10σ* counts the modes with ≥ 1% of the samples "
             "within 10σ (reached, if not hit exactly). ‖∇D‖: mean norm of the gradient of D's logit with respect "
             "to its input at real, fake and mixed (λ ~ U(0, 1)) points. Runs interrupted before their last iteration "
             "are left out of every column and counted beside the seeds (*+k unfinished*).", ""]
    header = ["dataset", "setting", "seeds", "iterations", "modes covered (3σ)", "within 10σ", "high quality", "KL(modes)",
              "sliced W."]
    if images:  # the image metrics in the domain classifier's feature space (frechet_digits: runs before it)
        header += ["Fréchet", "precision", "recall", "density", "coverage"]
    header += ["collapsed", "diverged", "stable", "‖∇D‖ real", "‖∇D‖ fake", "‖∇D‖ mixed"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        total = f" / {s.modes_total}" if s.modes_total else ""
        seeds = str(s.seeds) + (f" (+{s.unfinished} unfinished)" if s.unfinished else "")
        cells = [s.dataset, s.setting, seeds, str(s.iterations),
                 _range(s.final.get("modes_covered"), "{:.0f}") + total, _range(s.final.get("modes_near"), "{:.0f}"),
                 _range(s.final.get("high_quality"), "{:.2f}"),
                 _range(s.final.get("kl_modes"), "{:.2f}"), _range(s.final.get("sliced_wasserstein"), "{:.3f}")]
        if images:
            cells.append(_range(s.final.get("frechet") or s.final.get("frechet_digits"), "{:.3g}"))
            cells += [_range(s.final.get(k), "{:.2f}") for k in ("precision", "recall", "density", "coverage")]
        stable = f"{s.stable:.0%}" + (f" ({int(np.median(s.stable_from))})" if s.stable_from else "") if s.seeds else "–"
        cells += [f"{s.collapsed:.0%}" if s.seeds else "–", f"{s.diverged:.0%}" if s.seeds else "–", stable,
                  _range(s.final.get("d_grad_real"), "{:.3g}"), _range(s.final.get("d_grad_fake"), "{:.3g}"),
                  _range(s.final.get("d_grad_mixed"), "{:.3g}")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _range(values: Iterable[float] | None, fmt: str) -> str:
    finite = [v for v in (values or []) if math.isfinite(v)]
    if not finite:
        return "–"
    lo, mid, hi = min(finite), float(np.median(finite)), max(finite)
    return fmt.format(mid) if lo == hi else f"{fmt.format(mid)} [{fmt.format(lo)}–{fmt.format(hi)}]"


def iter_member_dirs(out_dir: str | Path) -> Iterator[Path]:
    """The member run directories of a sweep that exist on disk."""
    out_dir = Path(out_dir)
    for name in read_sweep(out_dir):
        if (out_dir / name).is_dir():
            yield out_dir / name

"""Running a sweep: its members trained (in processes, in lockstep, or on a cluster), resumed and scored.

Example:
    >>> from gan_mixup import RunConfig
    >>> from gan_mixup.sweeps import sweep_members
    >>> members = sweep_members({("ring8", ""): RunConfig(iterations=200, hidden=32)}, objectives=["erm"], alphas=[0.2],
    ...                         seeds=[0])
    >>> run_sweep(members, "runs/sweep", workers=2)  # doctest: +SKIP
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from gan_mixup.config import RunConfig, resume_conflicts
from gan_mixup.errors import GanMixupError, GanMixupWarning
from gan_mixup.sweeps.cluster import ClusterLauncher, check_cluster, live_tasks, run_on_cluster
from gan_mixup.collection import prepare_collection
from gan_mixup.rundir import CONFIG_FILE, RunLockedError, locked
from gan_mixup.sweeps.scorecard import write_scorecard
from gan_mixup.view import write_viewer
from gan_mixup.sweeps.jobs import (
    MAX_WORKERS,
    cluster_job,
    done_iterations,
    lockstep_jobs,
    run_members,
    unbatched,
)
from gan_mixup.sweeps.directory import (
    DamagedManifestError,
    SweepError,
    SweepMember,
    newest_checkpoint,
    records_agree,
    read_sweep,
    stopped_nonfinite,
)
from gan_mixup.training import check_config
from gan_mixup.sweeps.plan import folder_name
from gan_mixup.training.process import progress_bar

# ----- running ----------------------------------------------------------------------------------

@dataclass
class SweepResult:
    """What ``run_sweep`` did: member name -> status (``done``, ``skipped`` (finished before),
    ``diverged`` (stopped on a non-finite loss, now or before), ``failed: REASON``), and the files it
    wrote."""

    statuses: dict[str, str]
    outputs: dict[str, Path] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Runs per status, the reason left out: ``{"done": 3, "failed": 1}``, sorted by status."""
        plain = [status.split(":")[0] for status in self.statuses.values()]
        return {status: plain.count(status) for status in sorted(set(plain))}

    def failures(self) -> list[tuple[str, str]]:
        """``(member name, reason)`` of each run that failed, in the sweep's order."""
        return [(name, status.partition(": ")[2]) for name, status in self.statuses.items() if status.startswith("failed")]

    def summary(self) -> str:
        """Runs per status in one line: ``runs: 1 diverged, 2 done, 1 failed``."""
        return "runs: " + ", ".join(f"{n} {status}" for status, n in self.counts().items())

    def still_training(self) -> bool:
        """Whether some runs are left on a cluster: submitted, running, or stopped by their time limit."""
        return any(self.counts().get(status) for status in ("submitted", "running", "interrupted"))

    def failure_message(self) -> str | None:
        """One line on the runs that failed (up to three names and the first reason), ``None`` when none did."""
        failed = self.failures()
        if not failed:
            return None
        names = f" ({', '.join(n for n, _ in failed[:3])}{', ...' if len(failed) > 3 else ''})" if len(failed) > 1 else ""
        return f"{len(failed)} of {len(self.statuses)} runs failed{names}; the first, {failed[0][0]}: {failed[0][1]}"


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
    ``iterations`` below what a member has trained. A new member whose config is that of a setting
    the sweep has trained (the seed apart) joins that setting, under its name, so no run is trained
    or scored twice (``--lr 1e-4,1e-3``, then ``--lr 1e-4`` alone). Refused before anything is
    written, too: two members of one name (``SweepError``), an ``overwrite`` of a sweep whose
    members a process still trains (``RunLockedError``, naming it), a ``launcher`` that cannot submit
    from here (``LauncherError``). A member that stops on a non-finite loss counts
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

    ``launcher``: train each job as one task of a Slurm job array (``gan_mixup.sweeps.cluster``) instead
    of this machine's processes; with ``launcher.wait=False`` the call submits and returns (statuses
    ``submitted: job ID``), and a later ``resume`` collects what finished and resubmits the rest.
    """
    out_dir = Path(out_dir)
    if not members:
        raise SweepError("a sweep needs at least one member")
    if workers is not None and not (isinstance(workers, int) and 1 <= workers <= MAX_WORKERS):
        raise SweepError(f"--workers must be a whole number from 1 to {MAX_WORKERS}, got {workers!r}")
    _refuse_clashing_names(members)
    for member in members:
        check_config(member.config)
    if launcher is not None:
        check_cluster(launcher)  # no Slurm here: one error before anything is written
    workers = max(1, min(workers or os.cpu_count() or 1, len(members)))
    with locked(out_dir):
        if overwrite:
            _refuse_overwriting_live_tasks(out_dir)
        if resume:
            members = _join_existing_settings(out_dir, members)
        on_disk = _check_resume(out_dir, members) if resume else {}
        prepare_collection(out_dir, [m.name for m in members], overwrite=overwrite, resume=resume, dir_type="sweep",
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
        bar = progress_bar(progress, sum(m.config.iterations for m in members),
                            sum(m.config.iterations for m in members if m not in todo)
                            + sum(done_iterations(out_dir / m.name) for m in todo), "sweep")
        try:
            jobs = lockstep_jobs(todo, workers) if batched else [[m] for m in todo]
            for why, settings in (unbatched(todo) if batched else {}).items():
                shown = ", ".join(settings[:4]) + (f" and {len(settings) - 4} more" if len(settings) > 4 else "")
                warnings.warn(GanMixupWarning(f"--batched: {shown} train one run at a time ({why})"), stacklevel=2)
            if launcher is not None:
                statuses.update(run_on_cluster([([m.config for m in job], [out_dir / m.name for m in job], [m.name for m in job])
                                                for job in jobs], out_dir, launcher, cluster_job, callbacks_for))
            else:
                statuses.update(run_members(jobs, out_dir, min(workers, len(jobs) or 1), bar, handle_signals, callbacks_for))
        finally:
            if bar is not None:
                bar.close()
        result = SweepResult({m.name: statuses.get(m.name, "failed: not started") for m in members})
        result.outputs = write_scorecard(out_dir)
        result.outputs["viewer"] = write_viewer([out_dir])
        return result








def _refuse_clashing_names(members: Sequence[SweepMember]) -> None:
    """Two members with one name would train into one folder (and the manifest keep one label)."""
    seen: dict[str, SweepMember] = {}
    for m in members:
        other = seen.setdefault(m.name, m)
        if other is m:
            continue
        differ = ""
        if (other.config, other.setting) != (m.config, m.setting):
            fields = "; ".join(resume_conflicts(other.config, m.config)) or "other fields"
            differ = f" with different settings ({other.setting!r}, {m.setting!r}: {fields})"
        raise SweepError(f"two members are named {m.name}{differ}: give each member a name of its own")


def _refuse_overwriting_live_tasks(out_dir: Path) -> None:
    """``--overwrite`` of a sweep whose members are still trained by a process (a cluster task, a
    ``--no-wait`` local task, a second sweep) is refused naming it: the process would write on
    into the new sweep's folders."""
    try:
        names = list(read_sweep(out_dir))
    except SweepError:
        names = []
    running = live_tasks(out_dir)
    if running:
        member, task = next(iter(running.items()))
        raise RunLockedError(f"{out_dir / member} is still trained by {task}; wait for it to finish or stop it "
                             "first, then --overwrite")
    for name in names:
        run_dir = out_dir / name
        if run_dir.is_dir() and not run_dir.is_symlink():
            with locked(run_dir, busy=_BUSY_MEMBER):
                pass


_BUSY_MEMBER = "{path} is in use by {holder}; wait for it to finish or stop it first, then --overwrite"


def _join_existing_settings(out_dir: Path, members: Sequence[SweepMember]) -> list[SweepMember]:
    """Members of a resume that the sweep has trained (or started) under another setting name, with
    that name: ``--lr 1e-4,1e-3`` then ``--resume --lr 1e-4`` names the setting ``erm``, the first
    sweep ``erm lr=0.0001``; the same runs under two names would be trained twice and counted twice.
    A member joins a setting when its config and the saved config of a member of that setting
    differ in no field a resume must keep (the seed apart)."""
    try:
        previous = read_sweep(out_dir)
    except SweepError:
        return list(members)
    settings = _by_setting(previous)
    saved: dict[tuple[Any, Any], RunConfig | None] = {}
    for key, names in settings.items():
        saved[key] = next((c for c in (_saved_config(out_dir / name) for name in names) if c is not None), None)
    joined = []
    for m in members:
        if m.name in previous or (m.dataset, m.setting) in settings:
            joined.append(m)
            continue
        for (dataset, setting), config in saved.items():
            same = config is not None and not resume_conflicts(config, m.config.replace(seed=config.seed))
            if dataset == m.dataset and same:
                name = next((n for n in settings[(dataset, setting)] if previous[n].get("seed") == m.seed),
                            folder_name(m.dataset, str(setting), m.seed))
                m = SweepMember(name=name, dataset=m.dataset, setting=str(setting), config=m.config, preset=m.preset,
                                alpha=m.alpha, seed=m.seed)
                break
        joined.append(m)
    _refuse_clashing_names(joined)
    return joined


def _by_setting(previous: dict[str, dict[str, Any]]) -> dict[tuple[Any, Any], list[str]]:
    """The names of a sweep's recorded members (``read_sweep``'s), by (dataset, setting)."""
    settings: dict[tuple[Any, Any], list[str]] = {}
    for name, info in previous.items():
        settings.setdefault((info.get("dataset"), info.get("setting")), []).append(name)
    return settings


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
    except DamagedManifestError:
        raise
    except SweepError:
        return {}  # not a sweep: prepare_collection says what it is
    same_setting = _by_setting(previous)
    found: dict[str, _OnDisk] = {}
    for m in members:
        run_dir = out_dir / m.name
        checkpoint = newest_checkpoint(run_dir)
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
        agree = last and records_agree(run_dir, iteration)
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


def _description(m: SweepMember) -> dict[str, Any]:
    """A member's place in the scorecard, as the manifest records it (kept across resumes)."""
    return {"dataset": m.dataset, "setting": m.setting, "objective": m.config.objective, "preset": m.preset,
            "alpha": m.alpha, "latent_dim": m.config.latent_dim, "seed": m.seed, "iterations": m.config.iterations,
            "lr": m.config.lr, "beta1": m.config.betas[0], "d_steps": m.config.d_steps, "batch_size": m.config.batch_size,
            "regularizers": "+".join(m.config.regularizers)}

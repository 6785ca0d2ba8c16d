"""How far a sweep has come, read from its folder without reading a single result: which members are
done, which train now (and in which process), which were interrupted and which have not started, by
arm and by seed. A long or pre-registered study can be watched this way while it trains, and nothing
it prints is an outcome (a run that stopped on a non-finite loss counts as done, as a finished one).

Example:
    >>> print(progress_text(sweep_progress("runs/study")))  # doctest: +SKIP
    runs/study: 53 of 88 runs done, 1 training, 0 interrupted, 34 not started; 60% of the iterations
      training: mnist-5k-erm-lr0.001-b0.5-seed1 at 1,230 of 3,000 (process 4242)
      pace: lately a run ends every 7 min; the 35 left, about 4.1 h at that pace
      by seed: seed 0 44/44, seed 1 9/44
      by arm: erm 8/8, mixup α=0.2 4/8, ...
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from gan_mixup.rundir import CONFIG_FILE, LOCK_FILE, MANIFEST_FILE, METRICS_FILE, lock_holder
from gan_mixup.sweeps.directory import (
    SweepError, member_status, newest_checkpoint, read_sweep, records_of,
)
from gan_mixup.sweeps.survival import arm_of

STATES = ("done", "training", "interrupted", "not started")
PACE_RUNS = 10  # the pace is the median gap between the last this-many runs' ends


@dataclass(frozen=True)
class MemberProgress:
    """One member's state: ``done`` (finished, or stopped on a non-finite loss), ``training`` (a live
    process of this machine holds its lock), ``interrupted`` (trained part of the way, no process on
    it now) or ``not started``; ``reached``: the last iteration its log records (interrupted: its newest
    checkpoint's, where ``--resume`` continues)."""

    name: str
    arm: str
    seed: str
    iterations: int
    reached: int
    state: str
    holder: str | None = None
    finished_at: float | None = None  # done: when its log was last written (seconds since the epoch)


@dataclass(frozen=True)
class SweepProgress:
    """A sweep folder's members as they stand (``sweep_progress``); ``holder``: the process running the sweep."""

    out_dir: Path
    members: list[MemberProgress]
    holder: str | None = None
    is_sweep: bool = True  # False: one run directory, read as a sweep of one


def member_progress(run_dir: str | Path, iterations: int, *, setting: str = "", seed: object = "") -> MemberProgress:
    """The state of the run in ``run_dir``, asked to train ``iterations``; ``setting`` and ``seed`` (the
    manifest's) group it by arm and seed."""
    run_dir = Path(run_dir)
    trained = records_of(run_dir, "train")
    reached = max((int(r["iteration"]) for r in trained if isinstance(r.get("iteration"), int)), default=0)
    holder = lock_holder(run_dir, LOCK_FILE)
    if holder is not None:
        state = "training"
    elif (status := member_status(run_dir, iterations)) != "unfinished":  # finished, or stopped on a non-finite loss
        state, reached = "done", iterations if status == "finished" else reached
    elif reached or (run_dir.is_dir() and any(run_dir.iterdir())):
        checkpoint = newest_checkpoint(run_dir)  # where --resume continues from
        state, reached = "interrupted", int(checkpoint["iteration"]) if checkpoint is not None else 0
    else:
        state = "not started"
    finished_at = None
    if state == "done":
        try:
            finished_at = (run_dir / METRICS_FILE).stat().st_mtime
        except OSError:
            pass
    return MemberProgress(run_dir.name, arm_of(setting), str(seed), iterations, reached, state, holder, finished_at)


def sweep_progress(out_dir: str | Path) -> SweepProgress:
    """Each member's ``MemberProgress``, in the manifest's order; ``SweepError`` when ``out_dir`` is no sweep."""
    out_dir = Path(out_dir)
    members = [member_progress(out_dir / name, int(d["iterations"]), setting=str(d.get("setting", "")), seed=d.get("seed", ""))
               for name, d in read_sweep(out_dir).items()]
    return SweepProgress(out_dir, members, lock_holder(out_dir, LOCK_FILE))


def path_progress(path: str | Path) -> SweepProgress:
    """``sweep_progress`` of a sweep directory, or the same for one run directory (its ``config.json``'s
    iterations); ``SweepError`` for anything else."""
    path = Path(path)
    if not path.exists():
        raise SweepError(f"{path} does not exist: name a sweep directory or a run directory")
    if (path / MANIFEST_FILE).is_file():
        return sweep_progress(path)
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
        iterations = int(config["iterations"])
    except (OSError, ValueError, TypeError, KeyError):
        raise SweepError(f"{path} is neither a sweep directory (no readable {MANIFEST_FILE}) nor a run directory "
                         f"(no readable {CONFIG_FILE} naming its iterations)") from None
    return SweepProgress(path, [member_progress(path, iterations, seed=config.get("seed", ""))], is_sweep=False)


def _pace(members: Sequence[MemberProgress]) -> str | None:
    """How long the rest takes at the recent pace: the median gap between the ends of the last
    ``PACE_RUNS`` done runs (a median, so a pause between two sessions does not count)."""
    left = sum(m.state != "done" for m in members)
    ends = sorted(m.finished_at for m in members if m.finished_at is not None)[-(PACE_RUNS + 1):]
    if not left or len(ends) < 3:
        return None
    gap = statistics.median(b - a for a, b in zip(ends, ends[1:]))
    if gap <= 0:
        return None
    return (f"  pace: lately a run ends every {_duration(gap)}; the {left} left, about {_duration(left * gap)} at that "
            "pace")


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def _process(holder: str | None) -> str:
    """``process PID`` of a lock's holder text (the sweep's line names its command once)."""
    return (holder or "").split(" (", 1)[0]


def _counts(members: Sequence[MemberProgress], key: str, label: str = "") -> str:
    """Done of asked per value of ``key`` (``seed`` or ``arm``), in the manifest's order."""
    groups: dict[str, list[MemberProgress]] = {}
    for m in members:
        groups.setdefault(getattr(m, key), []).append(m)
    return ", ".join(f"{label}{name} {sum(m.state == 'done' for m in group)}/{len(group)}" for name, group in groups.items())


def progress_text(progress: SweepProgress) -> str:
    """Lines for a person: the totals, the members training now, and done/asked by seed and by arm
    (one line for a run directory)."""
    members = progress.members
    if not progress.is_sweep:
        m = members[0]
        where = {"done": f"done ({m.reached:,} of {m.iterations:,} iterations)",
                 "training": f"training at {m.reached:,} of {m.iterations:,} ({m.holder})",
                 "interrupted": f"interrupted at {m.reached:,} of {m.iterations:,} (--resume continues it)",
                 "not started": f"not started ({m.iterations:,} iterations asked)"}[m.state]
        return f"{progress.out_dir}: {where}"
    count = {state: sum(m.state == state for m in members) for state in STATES}
    asked = sum(m.iterations for m in members)
    # A done member counts whole (one stopped early has nothing left to train).
    reached = sum(m.iterations if m.state == "done" else min(m.reached, m.iterations) for m in members)
    share = f"{reached / asked:.0%} of the iterations" if asked else "no iterations asked"
    lines = [f"{progress.out_dir}: {count['done']} of {len(members)} runs done, {count['training']} training, "
             f"{count['interrupted']} interrupted, {count['not started']} not started; {share}"]
    if progress.holder is not None:
        lines.append(f"  the sweep: {progress.holder}")
    for m in members:
        if m.state == "training":
            lines.append(f"  training: {m.name} at {m.reached:,} of {m.iterations:,} ({_process(m.holder)})")
    for m in members:
        if m.state == "interrupted":
            lines.append(f"  interrupted: {m.name} at {m.reached:,} of {m.iterations:,} (--resume continues it)")
    pace = _pace(members)
    if pace is not None:
        lines.append(pace)
    if members:
        lines.append(f"  by seed: {_counts(members, 'seed', 'seed ')}")
        lines.append(f"  by arm: {_counts(members, 'arm')}")
    return "\n".join(lines)

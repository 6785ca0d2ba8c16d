"""A sweep directory on disk: its manifest and what each member's folder holds, read without
training anything (the sweep's resume and its scorecard both ask)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from gan_mixup.config import RunConfig
from gan_mixup.errors import GanMixupError
from gan_mixup.collection import MEMBERS_KEY, manifest_dir_type
from gan_mixup.rundir import MANIFEST_FILE, CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE, load_checkpoint, read_records, snapshot_path


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


class SweepError(GanMixupError, ValueError):
    """A sweep that cannot run: no members, clashing members, a folder that is not a sweep."""


class DamagedManifestError(SweepError):
    """A sweep's ``runs.json`` that reads as JSON but not as a sweep's manifest."""


def member_finished(run_dir: Path, iterations: int) -> bool:
    """Whether a member was trained to the end: its newest checkpoint is at ``iterations`` and the
    snapshot records of its ``metrics.jsonl`` name that iteration and only snapshots on disk.

    A member killed between its last snapshot and its final checkpoint is not finished (a resume
    trains the rest again from its last checkpoint), nor is one that stopped on a non-finite loss
    (``stopped_nonfinite``)."""
    run_dir = Path(run_dir)
    checkpoint = newest_checkpoint(run_dir)
    return checkpoint is not None and int(checkpoint["iteration"]) == iterations and records_agree(run_dir, iterations)


def records_agree(run_dir: Path, iterations: int) -> bool:
    recorded = {r.get("iteration") for r in records_of(run_dir, "snapshot")}
    return iterations in recorded and all(isinstance(it, int) and snapshot_path(run_dir, it).is_file() for it in recorded)


def newest_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The checkpoint a resume would continue from (``checkpoint.pt``, else ``checkpoint.prev.pt``),
    or None when there is none that reads."""
    if not ((run_dir / CHECKPOINT_FILE).exists() or (run_dir / PREVIOUS_CHECKPOINT_FILE).exists()):
        return None
    try:
        return load_checkpoint(run_dir)[0]
    except GanMixupError:
        return None


def stopped_nonfinite(run_dir: Path) -> bool:
    """Whether the run's ``metrics.jsonl`` records a stop on a non-finite loss."""
    return any(r.get("event") == "nonfinite" for r in records_of(run_dir, "event"))


def records_of(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    try:
        return read_records(run_dir, kind)
    except (OSError, GanMixupError, ValueError):
        return []


def read_sweep(out_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Member name -> its description, from a sweep directory's manifest."""
    out_dir = Path(out_dir)
    try:
        info = json.loads((out_dir / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        raise SweepError(f"{out_dir} is not a sweep directory (no readable {MANIFEST_FILE})") from None
    if not isinstance(info, dict):
        raise DamagedManifestError(f"{out_dir / MANIFEST_FILE} is damaged (not a JSON object); restore it, or continue "
                                   "in another --out")
    if manifest_dir_type(info) != "sweep":
        raise SweepError(f"{out_dir} is a {manifest_dir_type(info)} directory, not a sweep")
    members = info.get(MEMBERS_KEY, {})
    if not isinstance(members, dict):
        raise DamagedManifestError(f"{out_dir / MANIFEST_FILE} is damaged: its \"{MEMBERS_KEY}\" is a "
                                   f"{type(members).__name__}, not an object of member name -> description; restore it, "
                                   "or continue in another --out")
    for name, description in members.items():
        if not isinstance(description, dict):
            problem = f"member {name!r} is described by {json.dumps(description)[:40]}, not an object"
        elif not _whole(description.get("iterations")):
            problem = f"member {name!r} has no whole number of \"iterations\""
        else:
            continue
        raise DamagedManifestError(f"{out_dir / MANIFEST_FILE} is damaged: {problem}; restore it, or continue in another --out")
    return dict(members)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def member_status(run_dir: Path, iterations: int) -> str:
    """``diverged``, ``finished`` (see ``member_finished``) or ``unfinished`` (interrupted, or still
    training): the scorecard leaves unfinished runs out and counts them beside the seeds."""
    if stopped_nonfinite(run_dir):
        return "diverged"
    return "finished" if member_finished(run_dir, iterations) else "unfinished"


def iter_member_dirs(out_dir: str | Path) -> Iterator[Path]:
    """The member run directories of a sweep that exist on disk."""
    out_dir = Path(out_dir)
    for name in read_sweep(out_dir):
        if (out_dir / name).is_dir():
            yield out_dir / name

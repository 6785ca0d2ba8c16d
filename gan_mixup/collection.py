"""A collection directory's format: compare, figure5 and sweep write one through this module.

A collection is a folder of ordinary run directories with a ``runs.json`` manifest (its type, its
runs: label -> subdirectory, and for a sweep its members' descriptions) and a marker naming its
type, so ``--overwrite`` clears only what gan-mixup made and ``--resume`` never mixes two types.

Example:
    >>> from pathlib import Path
    >>> member_subdir("ring8/ERM", "figure5"), member_subdir("erm+r1:10", "compare")
    ('ring8-erm', 'erm_r1_10')
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gan_mixup.rundir import (
    MANIFEST_FILE,
    RunDirectoryError,
    clear_run_dir,
    holds_only_lock,
    is_marked,
    marker_dir_type,
    write_manifest,
    write_marker,
)

MEMBERS_KEY = "members"  # a sweep's manifest: member name -> its place in the scorecard
DIR_TYPE_KEY = "dir_type"  # the manifest's directory type: compare, figure5 or sweep, as its marker says
_EARLIER_DIR_TYPE_KEY = "kind"  # the same, in the runs.json of earlier versions (docs/runs.md): still read
COLLECTION_TYPES = ("compare", "figure5", "sweep")


def prepare_collection(out_dir: Path, labels: list[str], *, overwrite: bool, resume: bool, dir_type: str = "compare",
                        members: dict[str, dict[str, Any]] | None = None) -> None:
    """Create, clear (``overwrite``) or continue (``resume``) a collection; the caller holds its lock.

    A ``--resume`` into a collection of another type (figure5 into a compare folder) is refused,
    so it never orphans runs the manifest would no longer name. On resume the manifest is merged,
    never replaced: runs (and, for a sweep, ``members``: name -> description) named before stay
    named, whatever the current command asks for, and the merged manifest is written in one atomic
    write, so a full disk leaves the previous one whole."""
    populated = not holds_only_lock(out_dir)
    if populated and not (overwrite or resume):
        raise RunDirectoryError(f"{out_dir} already exists; pass --overwrite to replace it or --resume to continue it")
    previous: dict[str, Any] = {}
    if populated and resume:
        existing = collection_dir_type(out_dir)
        if existing is None:
            raise RunDirectoryError(f"cannot resume {out_dir}: it is not a gan-mixup {dir_type} directory (no {MANIFEST_FILE})")
        if existing != dir_type:
            raise RunDirectoryError(f"cannot resume {out_dir} as a {dir_type} directory: it holds a {existing} collection; "
                                    f"use `gan-mixup {existing} ... --resume` or another --out")
        previous = read_manifest(out_dir)
    if populated and overwrite:
        if not is_marked(out_dir) and (out_dir / MANIFEST_FILE).is_file():
            write_marker(out_dir, collection_dir_type(out_dir) or dir_type)  # unmarked, yet its manifest says it is ours
        clear_run_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_marker(out_dir, dir_type)
    previous.pop(_EARLIER_DIR_TYPE_KEY, None)
    info = {**previous, DIR_TYPE_KEY: dir_type,
            "runs": {**previous.get("runs", {}), **{label: member_subdir(label, dir_type) for label in labels}}}
    if members is not None:
        info[MEMBERS_KEY] = {**previous.get(MEMBERS_KEY, {}), **members}
    write_manifest(out_dir, info)


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """A collection's ``runs.json`` (``{}`` when there is none); ``RunDirectoryError`` when it is
    unreadable, so a resume never writes a manifest that forgot the runs it named."""
    path = Path(out_dir) / MANIFEST_FILE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RunDirectoryError(f"{path} is unreadable ({type(err).__name__}); it names the collection's runs: "
                                "restore it, or continue in another --out") from None
    if not isinstance(info, dict) or not isinstance(info.get("runs", {}), dict) \
            or not isinstance(info.get(MEMBERS_KEY, {}), dict):
        raise RunDirectoryError(f"{path} is not a gan-mixup manifest (a JSON object with a \"runs\" object)")
    return info


def manifest_dir_type(info: dict[str, Any]) -> str:
    """The directory type a manifest (``runs.json``, read) records: ``compare``, ``figure5`` or ``sweep``.

    Example:
        >>> manifest_dir_type({"dir_type": "sweep", "runs": {}}), manifest_dir_type({"runs": {}})
        ('sweep', 'compare')
    """
    return str(info.get(DIR_TYPE_KEY, info.get(_EARLIER_DIR_TYPE_KEY, "compare")))


def collection_dir_type(out_dir: Path) -> str | None:
    """The type of the collection at ``out_dir``, from its manifest, else its marker; ``None`` when
    it is no collection."""
    try:
        return manifest_dir_type(json.loads((out_dir / MANIFEST_FILE).read_text()))
    except (OSError, ValueError, AttributeError):
        marked = marker_dir_type(out_dir)
        return marked if marked in COLLECTION_TYPES else None


def member_subdir(label: str, dir_type: str) -> str:
    if dir_type == "sweep":  # sweep labels are their members' folder names already
        return label
    if dir_type == "figure5":
        dataset, objective = label.split("/", 1)
        return f"{dataset}-{'erm' if objective.startswith('ERM') else 'mixup'}"
    return slug(label)


def slug(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label)

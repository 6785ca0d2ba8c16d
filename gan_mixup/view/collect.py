"""What a viewer shows: the runs named by the paths (a run, a compare, a figure5 folder, a sweep, or
several of them), each with the fields a reader chooses members by, and a sweep's scorecard and
robustness tables with the members each row is about."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from gan_mixup.collection import MEMBERS_KEY, manifest_dir_type, read_manifest
from gan_mixup.errors import GanMixupError
from gan_mixup.rundir import (
    CONFIG_FILE, MANIFEST_FILE, REFERENCE_FILE, ROBUSTNESS_MD_FILE, SCORECARD_MD_FILE, SNAPSHOT_DIR, RunDirectoryError,
)

# A sweep member's fields a reader filters by, in this order (the manifest's description of it).
MEMBER_FIELDS = ("dataset", "objective", "preset", "setting", "alpha", "seed", "lr", "beta1", "d_steps", "batch_size",
                 "latent_dim")


class ViewerError(GanMixupError, ValueError):
    """Nothing a viewer can show: a path that is neither a run nor a collection, no runs, a bad option."""


@dataclass
class ViewRun:
    """One run of a viewer: its label, its folder and the fields it is chosen by (``{"seed": "3", ...}``)."""

    label: str
    run_dir: Path
    group: dict[str, str] = field(default_factory=dict)


@dataclass
class Table:
    """A Markdown table of a sweep (scorecard or robustness) with, per row, the runs it scores (indices)."""

    title: str
    header: list[str]
    rows: list[list[str]]
    runs: list[list[int]]


@dataclass
class Collection:
    dir_type: str  # run, compare, figure5, sweep or several (paths of different types)
    runs: list[ViewRun]
    tables: list[Table] = field(default_factory=list)


def collect_runs(paths: Sequence[str | Path]) -> Collection:
    """The runs of ``paths``, in order; labels are made unique by their folder's name when two
    paths give the same one. ``ViewerError`` for a path that is neither a run nor a collection.

    Example:
        >>> [r.label for r in collect_runs(["runs/compare"]).runs]  # doctest: +SKIP
        ['erm', 'mixup']
    """
    if not paths:
        raise ViewerError("view needs at least one run or collection directory")
    parts = [_collect_one(Path(p)) for p in paths]
    runs: list[ViewRun] = []
    tables: list[Table] = []
    for part in parts:
        offset = len(runs)
        tables += [Table(t.title, t.header, t.rows, [[i + offset for i in row] for row in t.runs]) for t in part.tables]
        runs += part.runs
    labels = [r.label for r in runs]
    if len(set(labels)) < len(labels):
        for run in runs:
            if labels.count(run.label) > 1:
                run.label = f"{run.run_dir.parent.name}/{run.label}"
    dir_types = {part.dir_type for part in parts}
    dir_type = dir_types.pop() if len(dir_types) == 1 and len(parts) == 1 else "several"
    return Collection(dir_type, runs, tables)


def _collect_one(path: Path) -> Collection:
    if not path.is_dir():
        raise ViewerError(f"{path} does not exist or is not a directory")
    if (path / MANIFEST_FILE).is_file():
        return _collection(path)
    if (path / CONFIG_FILE).is_file() or (path / SNAPSHOT_DIR / REFERENCE_FILE).is_file():
        return Collection("run", [ViewRun(path.resolve().name, path, _config_group(path))])
    raise ViewerError(f"{path} is neither a run directory (no {CONFIG_FILE}) nor a collection (no {MANIFEST_FILE})")


def _collection(path: Path) -> Collection:
    try:
        info = read_manifest(path)  # the collection format's own reader: a JSON object with a "runs" object
    except RunDirectoryError as err:
        raise ViewerError(str(err)) from None
    if "runs" not in info:
        raise ViewerError(f"{path / MANIFEST_FILE} names no runs to show (it has no \"runs\" object)")
    runs = {str(label): str(sub) for label, sub in info["runs"].items()}
    dir_type = manifest_dir_type(info)
    members = info.get(MEMBERS_KEY, {})
    out = []
    for label, sub in runs.items():
        run_dir = path / sub
        if dir_type == "sweep":
            description = members.get(label, {})
            group = {k: _text(description[k]) for k in MEMBER_FIELDS if description.get(k) not in (None, "")}
        elif dir_type == "figure5":
            dataset, _, objective = label.partition("/")
            group = {"dataset": dataset, "objective": objective}
        else:
            group = {"objective": label}
        out.append(ViewRun(label, run_dir, group))
    tables = _sweep_tables(path, out) if dir_type == "sweep" else []
    return Collection(dir_type, out, tables)


def _config_group(run_dir: Path) -> dict[str, str]:
    try:
        config = json.loads((run_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(config, dict):
        return {}
    return {k: _text(config[k]) for k in ("dataset", "objective", "alpha", "seed") if config.get(k) is not None}


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# ----- a sweep's tables -----------------------------------------------------------------------

def _sweep_tables(path: Path, runs: list[ViewRun]) -> list[Table]:
    tables = []
    for name in (SCORECARD_MD_FILE, ROBUSTNESS_MD_FILE):
        md = path / name
        if md.is_file():
            tables += [Table(title, header, rows, [_row_runs(header, row, runs) for row in rows])
                       for title, header, rows in markdown_tables(md.read_text(encoding="utf-8"))]
    return tables


def markdown_tables(text: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """The pipe tables of a Markdown text, each with the heading above it: ``(title, header, rows)``.

    Example:
        >>> markdown_tables("# Scores\\n\\n| a | b |\\n|---|---|\\n| 1 | 2 |\\n")
        [('Scores', ['a', 'b'], [['1', '2']])]
    """
    tables = []
    title = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            title = line.lstrip("#").strip()
        elif line.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()):
            header = _cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(_cells(lines[i].strip()))
                i += 1
            tables.append((title, header, rows))
            continue
        i += 1
    return tables


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _row_runs(header: list[str], row: list[str], runs: Iterable[ViewRun]) -> list[int]:
    """The runs a scorecard row (dataset x setting) or a robustness row (dataset x objective spec) scores."""
    cell = dict(zip(header, row))
    dataset = cell.get("dataset")
    if "setting" in cell:
        return [i for i, r in enumerate(runs) if r.group.get("dataset") == dataset and r.group.get("setting") == cell["setting"]]
    if "objective" in cell:  # robustness groups a setting by its objective spec, as gan_mixup.sweeps.scorecard does
        return [i for i, r in enumerate(runs) if r.group.get("dataset") == dataset
                and r.group.get("setting", "").split(" ")[0].split("[")[0] == cell["objective"]]
    return []

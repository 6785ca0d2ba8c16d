"""Write a viewer folder: the static page from the package's ``template/`` and the runs' data files,
built in a temporary folder beside the target and swapped in, so a reader never opens half a viewer
and a failure leaves the previous one whole."""
from __future__ import annotations

import json
import os
import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from gan_mixup.rundir import VIEWER_DIR, locked
from gan_mixup.view.collect import Collection, ViewerError, collect_runs
from gan_mixup.view.encode import curve_metrics, encode_run, frame_bytes

MARKER = ".gan-mixup-viewer"  # only a folder holding it is ever replaced by a new viewer
TEMPLATE_FILES = ("index.html", "viewer.js", "viewer.css")
MAX_SHOWN = 16  # runs side by side at once; a sweep's reader picks which
# The frames of a viewer stay under about this many bytes: past it each run's snapshots are thinned
# evenly on the log axis (the paper's iterations kept). A toy frame of 1,000 samples is about 9.5 KB,
# so figure5's 4 runs keep all their ~200 snapshots and a 40-run sweep about 118 a run.
BYTE_BUDGET = 45_000_000


def default_out(paths: Sequence[str | Path]) -> Path:
    """Where a viewer of ``paths`` goes when not told: ``PATH/viewer`` for one path."""
    if len(paths) != 1:
        raise ViewerError("a viewer of several paths needs --out DIR (where to write it)")
    return Path(paths[0]) / VIEWER_DIR


def write_viewer(paths: Sequence[str | Path], out_dir: str | Path | None = None, *, max_frames: int | None = None,
                 title: str | None = None) -> Path:
    """Write one offline viewer of the runs in ``paths`` to ``out_dir`` (default: ``default_out``)
    and return its ``index.html``.

    ``max_frames``: at most this many snapshots per run (default: all, unless their frames together
    would pass ``BYTE_BUDGET``). A run that cannot be shown (not trained, a damaged reference) keeps its place
    with a message; a damaged or missing snapshot, its frame. ``ViewerError`` when a path is no run
    or collection, or ``out_dir`` is a folder of someone else's.

    Example:
        >>> write_viewer(["runs/erm", "runs/mixup"], "runs/erm-vs-mixup")  # doctest: +SKIP
        PosixPath('runs/erm-vs-mixup/index.html')
    """
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2):
        raise ViewerError(f"max_frames must be an integer of at least 2, got {max_frames!r}")
    collection = collect_runs(paths)
    out = Path(out_dir) if out_dir is not None else default_out(paths)
    _check_out(out)
    index, files = build(collection, max_frames=max_frames, title=title or _title(paths, collection))
    # Two writers of one viewer (`gan-mixup view` while a sweep writes its own at the end) take turns:
    # the second waits, then puts its newer viewer in place, and neither swap meets the other's half.
    with locked(out.parent, lock_file=f".{out.name}.lock", wait=True,
                busy=_braces(out) + " is being written by {holder}; waiting for it to finish, then replacing it"):
        _check_out(out)
        _remove_leftovers(out)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            (tmp / "data").mkdir(parents=True)
            template = resources.files("gan_mixup.view") / "template"
            for name in TEMPLATE_FILES:
                (tmp / name).write_bytes((template / name).read_bytes())
            (tmp / "data" / "index.js").write_text("window.GM_INDEX = " + _json(index) + ";\n", encoding="utf-8")
            for name, data in files.items():
                (tmp / "data" / name).write_text(f"window.GM_RUN({_json(name)}, {_json(data)});\n", encoding="utf-8")
            (tmp / MARKER).write_text("gan-mixup viewer\n")
            _swap(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out / "index.html"


def build(collection: Collection, *, max_frames: int | None, title: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The index (what the page needs at once) and each run's data file, by file name."""
    runs = collection.runs
    if max_frames is None and runs:
        size = max((frame_bytes(run.run_dir) for run in runs[:4]), default=0)  # the runs of one viewer are alike
        max_frames = max(2, int(BYTE_BUDGET / (size * len(runs)))) if size else None
    summaries, files = [], {}
    for i, run in enumerate(runs):
        name = f"run_{i:03d}.js"
        summary, data = encode_run(run.run_dir, max_frames)
        files[name] = data
        summaries.append({"id": i, "label": run.label, "group": run.group, "file": name, **summary})
    axis = sorted({it for s in summaries for it in s["iterations"]})
    fields = [f for f in dict.fromkeys(k for r in runs for k in r.group)
              if len({r.group.get(f) for r in runs}) > 1]
    index = {"title": title, "dir_type": collection.dir_type, "axis": axis, "runs": summaries, "fields": fields,
             "max_shown": MAX_SHOWN, "shown": default_shown(collection), "metrics": curve_metrics(),
             "tables": [{"title": t.title, "header": t.header, "rows": t.rows, "runs": t.runs} for t in collection.tables]}
    return index, files


def default_shown(collection: Collection) -> list[int]:
    """The runs a viewer opens with: a sweep's first seed of each dataset x setting (one panel per
    scorecard row, and less to load before the first paint), else the first ``MAX_SHOWN`` runs."""
    if collection.dir_type != "sweep":
        return list(range(min(MAX_SHOWN, len(collection.runs))))
    firsts: dict[tuple[str | None, str | None], int] = {}
    for i, run in enumerate(collection.runs):
        firsts.setdefault((run.group.get("dataset"), run.group.get("setting")), i)
    return sorted(firsts.values())[:MAX_SHOWN]


def _title(paths: Sequence[str | Path], collection: Collection) -> str:
    names = ", ".join(Path(p).resolve().name for p in paths)
    return f"gan-mixup: {names}" if collection.dir_type in ("run", "several") else f"gan-mixup {collection.dir_type}: {names}"


def _json(value: Any) -> str:
    # "</" never appears inside a <script>-loaded file's strings in a way that matters, but keep the
    # output ASCII so a file:// page never depends on the browser guessing the charset.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise ViewerError(f"refusing to write the viewer into {out}: it exists and is not a gan-mixup viewer "
                          "(no .gan-mixup-viewer); choose another --out or delete it yourself")


def _braces(path: Path) -> str:
    """``path`` as literal text inside a ``str.format`` template."""
    return str(path).replace("{", "{{").replace("}", "}}")


def _remove_leftovers(out: Path) -> None:
    """Remove the half-built and replaced viewers of writers killed mid-write (kill -9 runs no cleanup).
    Called under the viewer's lock, so no live writer owns one of them (where there is no lock to
    take, on Windows, nothing is removed)."""
    try:
        import fcntl  # noqa: F401 - the lock exists only with it
    except ImportError:  # pragma: no cover - not POSIX
        return
    ours = {*TEMPLATE_FILES, "data", MARKER}
    for stray in out.parent.glob(f".{out.name}.*"):
        if (re.fullmatch(rf"\.{re.escape(out.name)}\.\d+\.(tmp|old)", stray.name) and stray.is_dir()
                and not stray.is_symlink() and {entry.name for entry in stray.iterdir()} <= ours):
            shutil.rmtree(stray, ignore_errors=True)


def _swap(new: Path, out: Path) -> None:
    """Put ``new`` at ``out``, replacing an earlier viewer there."""
    old = out.with_name(f".{out.name}.{os.getpid()}.old")
    if out.exists():
        os.replace(out, old)
    os.replace(new, out)
    shutil.rmtree(old, ignore_errors=True)

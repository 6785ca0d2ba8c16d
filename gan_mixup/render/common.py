"""What every picture of a run needs: the run's files read with their damage handled, the iterations
to draw, bare Agg figures written atomically, the render lock and how many frame workers."""
from __future__ import annotations

import json
import math
import os
import threading
import warnings
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gan_mixup.errors import GanMixupError, GanMixupWarning
from gan_mixup.rundir import (
    CONFIG_FILE, NotARunDirectoryError, PAPER_ITERATIONS, REFERENCE_FILE, Reference, SNAPSHOT_DIR, Snapshot,
    SnapshotError, list_snapshots, read_reference, read_snapshot, render_locked, snapshot_path,
)
from gan_mixup.modalities import REGISTRY, ModalitySpec, UnknownDatasetError, drawing_of, modality_named, modality_of
from gan_mixup.pool import available_cpus

FRAME_NAME = "frame_{:04d}.png"

FRAME_DPI = 80  # every frame; its size in inches is its modality's frame_layout (toy: 320 x 320 px)
MAX_DEFAULT_WORKERS = 4
FRAMES_PER_WORKER = 8  # below this many frames per worker a process pool costs more than it saves

# What reading a damaged .npz raises (SnapshotError, from gan_mixup.rundir, is a ValueError).
_READ_ERRORS = (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError)


class RenderError(GanMixupError, ValueError):
    """Runs that cannot be drawn (together): an unknown kind, runs of two kinds in one figure,
    samples of the wrong shape, no shared iteration, a bad ``fps`` / ``workers`` / ``max_frames``.
    (A damaged file is ``SnapshotError``, of ``gan_mixup.rundir``.)"""


class NothingToRenderError(RenderError):
    """A run without a snapshot yet: its training stopped before the first one."""


class RenderWarning(GanMixupWarning):
    """A member of a collection left out of its pictures, because it has nothing to render yet."""


class Damaged(NamedTuple):
    """A snapshot file that cannot be drawn, and a one-line message naming it (picklable, for workers)."""

    path: Path
    message: str


def new_figure(width: float, height: float, dpi: int) -> Figure:
    # A bare Figure on an Agg canvas: no pyplot figure manager, no global "current figure", so
    # figures in threads or processes cannot see each other and are freed when dropped.
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, *, compress_level: int = 1) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Frames are intermediate files: fast zlib level 1 instead of the default 6.
    write_replacing(path, lambda tmp: fig.savefig(tmp, format="png", dpi=fig.dpi,
                                                   pil_kwargs={"compress_level": compress_level}))


def write_replacing(path: Path, write: Callable[[Path], Any]) -> None:
    """``write(tmp)``, then rename ``tmp`` over ``path``: a reader never sees half a picture, and a
    failure (a full disk, Ctrl-C) leaves the old file and no temporary one. The name holds the pid,
    so two processes writing one picture never share a temporary file."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def skip_damaged(damaged: list[tuple[Path, list[Damaged]]], frame_paths: list[Path], nothing_left: str) -> list[Path]:
    """Warn once per damaged snapshot, then renumber the frames that were written to close the gaps
    (``frame_0000.png`` ... without holes); ``SnapshotError`` if none was."""
    unique = list(dict.fromkeys(d for _, ds in damaged for d in ds))
    missing = {frame for frame, _ in damaged}
    written = [frame for frame in frame_paths if frame not in missing]
    if not written:
        raise SnapshotError(nothing_left + all_damaged(unique))
    for d in unique:
        warnings.warn(f"{d.message} (skipped)", GanMixupWarning, stacklevel=2)
    renumbered = []
    for i, frame in enumerate(written):
        target = frame.with_name(FRAME_NAME.format(i))
        if target != frame:  # ascending order: target's slot is a skipped frame's, or already moved on
            os.replace(frame, target)
        renumbered.append(target)
    return renumbered


def clear_frames(frames_dir: Path) -> None:
    # Stale frames of an earlier render (a longer run) would otherwise sit beside the new ones.
    if frames_dir.is_dir():
        for old in [*frames_dir.glob("frame_*.png"), *frames_dir.glob("frame_*.tmp")]:  # .tmp: a render killed -9
            old.unlink()
    frames_dir.mkdir(parents=True, exist_ok=True)


# ----- several runs ---------------------------------------------------------------------------

def snapshot_iterations(run_dir: str | Path) -> list[int]:
    """The iterations of a run's snapshots, ascending, read from the file names alone."""
    return [iteration_of(p) for p in snapshot_files(Path(run_dir))]


def common_iterations(run_dirs: Iterable[str | Path]) -> list[int]:
    """The snapshot iterations that every run in ``run_dirs`` has, ascending."""
    sets = [set(snapshot_iterations(d)) for d in run_dirs]
    if not sets:
        raise ValueError("no runs given")
    common = sorted(set.intersection(*sets))
    if not common:
        raise RenderError("the runs share no snapshot iteration; they cannot be shown side by side")
    return common


def thin_iterations(iterations: Sequence[int], max_frames: int) -> list[int]:
    """At most ``max_frames`` of ``iterations``, evenly spaced by index (so a log-spaced schedule
    stays log-spaced), always keeping the first, the last and the paper's iterations.

    Example:
        >>> thin_iterations(list(range(0, 101)), 5)
        [0, 10, 50, 100]
    """
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2:
        raise RenderError(f"max_frames must be an integer of at least 2 (the first and the last frame), got {max_frames!r}")
    iterations = sorted(iterations)
    if len(iterations) <= max_frames:
        return iterations
    keep = set(PAPER_ITERATIONS) & set(iterations)
    room = max(2, max_frames - len(keep))
    picks = np.unique(np.rint(np.linspace(0, len(iterations) - 1, room)).astype(int))
    return sorted(keep | {iterations[i] for i in picks})


def figure_iterations(iterations: Sequence[int]) -> list[int]:
    """Figure-5 columns: the paper's iterations (10, 100, 1000, 10000, 20000) among ``iterations``,
    then the last of ``iterations`` when it is not one of them (a 2,000-iteration run ends on its
    final state, not at 1,000).

    Example:
        >>> figure_iterations([0, 1, 10, 50, 100, 300])
        [10, 100, 300]
        >>> figure_iterations([0, 1, 5])
        [5]
        >>> figure_iterations([0, 10, 100, 1000, 10000, 20000])
        [10, 100, 1000, 10000, 20000]
    """
    if not iterations:
        raise ValueError("no iterations to choose figure columns from")
    available = set(iterations)
    reached = [it for it in PAPER_ITERATIONS if it in available]
    last = max(iterations)
    return reached if last in reached else reached + [last]


def all_damaged(damaged: list[Damaged]) -> str:
    return (f": {len(damaged)} damaged, the first {damaged[0].path}; re-train the run (with --overwrite) "
            f"to recreate its snapshots")


def panel_grid(rows: int, cols: int, *, panel: float, left: float, top: float, dpi: int, gap: float = 0.08,
                bottom: float = 0.08, right: float = 0.08, block: int | None = None,
                block_gap: float = 0.0) -> tuple[Figure, list[list[Axes]]]:
    """A figure of ``rows`` x ``cols`` square panels of ``panel`` inches at fixed positions (sizes in
    inches), so the picture grows by exactly one panel per row or column; ``block`` columns form a
    group followed by an extra ``block_gap``."""
    blocks = (cols - 1) // block if block else 0
    width = left + cols * panel + (cols - 1) * gap + blocks * block_gap + right
    height = top + rows * panel + (rows - 1) * gap + bottom
    fig = new_figure(width, height, dpi)
    axes = []
    for r in range(rows):
        row = []
        for c in range(cols):
            x = left + c * (panel + gap) + (c // block if block else 0) * block_gap
            y = height - top - (r + 1) * panel - r * gap
            row.append(fig.add_axes((x / width, y / height, panel / width, panel / height)))
        axes.append(row)
    return fig, axes


# ----- helpers --------------------------------------------------------------------------------

def run_modality(reference: Reference) -> ModalitySpec:
    """The modality that draws ``reference``'s run (the one it recorded); ``RenderError`` for a
    modality this version does not know."""
    try:
        return modality_named(reference.modality)
    except UnknownDatasetError:
        raise RenderError(f"unknown modality {reference.modality!r} (this version draws {', '.join(REGISTRY)})") from None


def one_modality(references: list[Reference], labels: list[str]) -> ModalitySpec:
    """The modality all ``references`` share; ``RenderError`` naming each run's modality when they differ."""
    modalities = [run_modality(r) for r in references]
    if len(set(modalities)) > 1:
        listed = ", ".join(f"{label!r} ({m.name})" for label, m in zip(labels, modalities))
        names = " and ".join(dict.fromkeys(m.name for m in modalities))
        raise RenderError(f"cannot draw runs of {names} in one figure: {listed}; compare runs of one modality")
    return modalities[0]


def read_run_reference(run_dir: Path) -> Reference:
    """``read_reference``, of a known modality; a damaged file is ``SnapshotError`` naming it, and so is a
    missing one beside snapshots (it was deleted: say how to write it again); a missing one in a run
    that has its ``config.json`` but no snapshot is ``NothingToRenderError`` (training stopped before
    writing it), ``FileNotFoundError`` elsewhere."""
    try:
        reference = read_reference(run_dir)
    except NotARunDirectoryError:
        if (Path(run_dir) / CONFIG_FILE).is_file():
            if (Path(run_dir) / SNAPSHOT_DIR).is_dir() and list_snapshots(run_dir):
                raise _reference_missing(Path(run_dir)) from None
            raise _nothing_yet(Path(run_dir)) from None
        raise
    except (GanMixupError, FileNotFoundError):
        raise
    except _READ_ERRORS as err:
        path = Path(run_dir) / SNAPSHOT_DIR / REFERENCE_FILE
        raise SnapshotError(f"{path} is damaged ({_reason(err)}); the run's frames cannot be drawn without it") from None
    run_modality(reference)
    return reference


def try_read_snapshot(path: Path, modality: ModalitySpec) -> Snapshot | Damaged:
    """The snapshot at ``path``, or why it cannot be drawn: truncated, corrupt, missing, or samples of
    the wrong shape for the run's modality."""
    try:
        snapshot = read_snapshot(path)
    except _READ_ERRORS as err:
        # gan_mixup.rundir's own SnapshotError already names the file and says what to do.
        message = str(err) if isinstance(err, GanMixupError) else _damaged_message(path, _reason(err))
        return Damaged(Path(path), message)
    problem = drawing_of(modality).sample_problem(snapshot.fake)
    return Damaged(Path(path), _damaged_message(path, problem)) if problem else snapshot


def _damaged_message(path: Path, reason: str) -> str:
    return f"snapshot file {path} is damaged ({reason}); delete it to render the rest"


def _reason(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:120]}" if lines else type(err).__name__


def snapshot_files(run_dir: Path) -> list[Path]:
    try:
        files = list_snapshots(run_dir)
    except NotARunDirectoryError:
        if (Path(run_dir) / CONFIG_FILE).is_file():
            raise _nothing_yet(Path(run_dir)) from None
        raise
    if not files:
        raise _nothing_yet(Path(run_dir))
    return files


def _reference_missing(run_dir: Path) -> SnapshotError:
    """The snapshots are there but the real samples every frame is drawn against are not: a resume
    writes them again from config.json (the same seed and data give the same file)."""
    try:
        command = _modality_name_of_config(run_dir)
    except (GanMixupError, OSError, ValueError, KeyError, TypeError):
        command = "toy|images"
    return SnapshotError(
        f"{run_dir / SNAPSHOT_DIR / REFERENCE_FILE} is missing: every frame is drawn against these real samples. "
        f"Restore it from a copy, or write it again with: gan-mixup {command} --resume --out {run_dir} "
        "(rebuilt from config.json; nothing else of the run changes), then render")


def _modality_name_of_config(run_dir: Path) -> str:
    return modality_of(json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))["dataset"]).name


def _nothing_yet(run_dir: Path) -> NothingToRenderError:
    return NothingToRenderError(f"nothing to render yet: {run_dir} has no snapshots (snapshots/it_*.npz); its training "
                                "stopped before the first one: continue it with --resume, then render")


def snapshot_file(run_dir: Path, iteration: int) -> Path:
    return snapshot_path(Path(run_dir), iteration)


def iteration_of(path: Path) -> int:
    return int(path.stem.split("_", 1)[1])  # "it_00000100" -> 100


def validate_options(*, fps: float = 10, workers: int | None = None, max_frames: int | None = None) -> None:
    """``RenderError`` unless ``fps`` is a positive number, ``workers`` ``None`` or an integer >= 1, and
    ``max_frames`` ``None`` or an integer >= 2 (a GIF keeps its first and last frame)."""
    check_fps(fps)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise RenderError(f"workers must be a positive integer (processes drawing frames), got {workers!r}")
    if max_frames is not None:
        thin_iterations([], max_frames)


def check_fps(fps: float) -> None:
    if isinstance(fps, bool) or not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise RenderError(f"fps must be a positive number (GIF frames per second), got {fps!r}")


def worker_count(workers: int | None, tasks: int) -> int:
    if workers is None:
        return max(1, min(available_cpus(), MAX_DEFAULT_WORKERS, tasks // FRAMES_PER_WORKER))
    validate_options(workers=workers)
    return min(workers, max(1, tasks))


_held = threading.local()  # the render locks this thread holds (resolved paths)


@contextmanager
def render_lock(path: str | Path) -> Iterator[None]:
    """Hold ``path``'s render lock (``gan_mixup.rundir.render_locked``) for the block, re-entrantly in
    one thread: ``render_any`` holds a collection's lock while ``render_comparison`` draws into it.
    Another process (or thread) rendering ``path`` makes this raise ``RunLockedError``."""
    key = Path(path).resolve()
    held: set[Path] = _held.__dict__.setdefault("paths", set())
    if key in held:
        yield
        return
    with render_locked(Path(path)):
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)

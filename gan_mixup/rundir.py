"""The run directory: every file name in it, the snapshot schedule and format, atomic checkpoints,
the marker that proves a folder is ours, and the lock that keeps two processes out of one run.
Every reader and writer of a run directory (training, render, metrics, sweeps) goes through this
module and no other.

A run directory holds::

    .gan-mixup-run       marker: only a folder holding it is ever deleted by --overwrite
    .lock                held (flock) by the process training the run; names its pid
    .render.lock         held (flock) by the process rendering the run (its frames, GIF and plots)
    config.json          the RunConfig, as JSON
    metrics.jsonl        one JSON object per line: {"kind": "train" | "snapshot" | "event", "iteration": ...}
    snapshots/
      reference.npz      real samples (points or images), mode centres, plot extent, the D-grid axis
      it_00000100.npz    per snapshot: fake samples from the fixed noise batch (and sigmoid(D) on the grid)
    checkpoint.pt        the latest checkpoint; checkpoint.prev.pt the one before it
    frames/ training.gif losses.png    written by ``gan-mixup render``
    viewer/              written by ``gan-mixup view`` (and at the end of compare, figure5, sweep)

A collection (``compare``, ``figure5``, ``sweep``) holds the same marker, naming its directory type,
``runs.json`` (its directory type and label -> subdirectory; ``gan_mixup.collection`` writes it) and
one run directory per member. This is the only module that spells these names.

Snapshots are plain ``.npz`` files, so ``render`` and ``metrics`` need only numpy to read a run.
"""
from __future__ import annotations

from gan_mixup.errors import GanMixupError, GanMixupWarning
from gan_mixup.pool import pid_alive

import errno
import io
import json
import os
import re
import shutil
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

PAPER_ITERATIONS = (10, 100, 1000, 10000, 20000)  # the paper's Figure 5 columns

MARKER_FILE = ".gan-mixup-run"
LOCK_FILE = ".lock"
RENDER_LOCK_FILE = ".render.lock"
REPORT_LOCK_FILE = ".report.lock"  # held while a report (results.csv, scorecard, metrics.csv) is written
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SNAPSHOT_DIR = "snapshots"
REFERENCE_FILE = "reference.npz"
CHECKPOINT_FILE = "checkpoint.pt"
PREVIOUS_CHECKPOINT_FILE = "checkpoint.prev.pt"
MANIFEST_FILE = "runs.json"  # a collection's label -> subdirectory
FRAMES_DIR = "frames"
GIF_FILE = "training.gif"
LOSSES_FILE = "losses.png"
COMPARISON_GIF_FILE = "comparison.gif"
COMPARISON_FRAMES_DIR = "comparison_frames"
FIGURE5_FILE = "figure5.png"
METRICS_CSV_FILE = "metrics.csv"  # `gan-mixup metrics RUN_DIR`: one row per snapshot
TENSORBOARD_DIR = "tensorboard"  # --tensorboard event files
JOBS_FILE = "jobs.json"  # a sweep trained on a cluster: member -> the job that trains it
SUBMITIT_DIR = ".submitit"  # a sweep trained on a cluster: submitit's pickles and each task's logs
RESULTS_FILE = "results.csv"  # a sweep: one row per run x snapshot iteration
SCORECARD_MD_FILE = "scorecard.md"
SCORECARD_PNG_FILE = "scorecard.png"
GRADIENTS_PNG_FILE = "gradients.png"
ROBUSTNESS_MD_FILE = "robustness.md"  # a sweep over hyperparameters: each objective over all its settings
ROBUSTNESS_PNG_FILE = "robustness.png"
SURVIVAL_MD_FILE = "survival.md"  # a sweep: Kaplan–Meier time to failure per arm (sweeps.survival)
SURVIVAL_PNG_FILE = "survival.png"
PAIRED_MD_FILE = "paired.md"  # a sweep: each arm against ERM, seed by seed (sweeps.paired)
CALIBRATION_MD_FILE = "calibration.md"  # a sweep with the calibration probe: its gap per arm (sweeps.calibration)
CALIBRATION_PNG_FILE = "calibration.png"
VIEWER_DIR = "viewer"  # `gan-mixup view`: the offline browser viewer of a run or collection
VIEWER_LOCK_FILE = f".{VIEWER_DIR}.lock"  # held while viewer/ is swapped in (beside any --out DIR: .DIR.lock)
# What --overwrite removes from a marked folder: only what gan-mixup writes; a user's own files stay.
OWN_ENTRIES = (CONFIG_FILE, METRICS_FILE, SNAPSHOT_DIR, CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE,
               CHECKPOINT_FILE + ".tmp", CONFIG_FILE + ".tmp", RENDER_LOCK_FILE, REPORT_LOCK_FILE, VIEWER_LOCK_FILE, JOBS_FILE, SUBMITIT_DIR, MANIFEST_FILE + ".tmp", MANIFEST_FILE, FRAMES_DIR, GIF_FILE, LOSSES_FILE, COMPARISON_GIF_FILE,
               COMPARISON_FRAMES_DIR, FIGURE5_FILE, METRICS_CSV_FILE, TENSORBOARD_DIR, RESULTS_FILE, SCORECARD_MD_FILE,
               SCORECARD_PNG_FILE, GRADIENTS_PNG_FILE, ROBUSTNESS_MD_FILE, ROBUSTNESS_PNG_FILE, VIEWER_DIR,
               SURVIVAL_MD_FILE, SURVIVAL_PNG_FILE, PAIRED_MD_FILE, CALIBRATION_MD_FILE, CALIBRATION_PNG_FILE)
CHECKPOINT_VERSION = 1
_SNAPSHOT_NAME = re.compile(r"^it_(\d{8})\.npz$")


class CheckpointError(GanMixupError, RuntimeError):
    """No usable checkpoint: missing, truncated or corrupted."""


class CheckpointWriteError(GanMixupError, OSError):
    """A checkpoint could not be written (a full disk, a file-size limit); the one before it is kept."""


class RunDirectoryError(GanMixupError, FileExistsError):
    """The output directory exists and neither resume nor overwrite was asked for, or is unusable."""


class RunLockedError(RunDirectoryError):
    """Another live process is using the run directory."""


class SnapshotError(GanMixupError, ValueError):
    """A snapshot or reference file is damaged."""


class NotARunDirectoryError(GanMixupError, FileNotFoundError):
    """The folder holds no gan-mixup run (its snapshots or reference are missing)."""


def snapshot_schedule(iterations: int, frames: int = 200, extra: Iterable[int] = ()) -> list[int]:
    """Iterations at which to snapshot: the paper's (10, 100, 1000, 10000, 20000) that the run
    reaches, ``frames`` log-spaced iterations from 1 to ``iterations`` for a smooth GIF, ``extra``,
    and the last iteration.

    The dense part has exactly ``min(frames, iterations)`` distinct iterations: where rounding the
    log spacing would repeat an iteration near the start, the next free one is taken instead.

    Example:
        >>> snapshot_schedule(1000, frames=5)
        [1, 6, 10, 32, 100, 178, 1000]
        >>> len(snapshot_schedule(20000, frames=200, extra=())) >= 200
        True
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    extra = list(extra)
    beyond = [it for it in extra if not 1 <= it <= iterations]
    if beyond:
        raise ValueError(f"snapshot iterations {beyond} are outside the run (1..{iterations})")
    paper = [it for it in PAPER_ITERATIONS if it <= iterations]
    return sorted(set(dense_schedule(iterations, frames)) | set(paper) | set(extra) | {iterations})


def dense_schedule(iterations: int, frames: int) -> list[int]:
    """``min(frames, iterations)`` distinct, roughly log-spaced iterations from 1 to ``iterations``.

    Example:
        >>> dense_schedule(10, 4)
        [1, 2, 5, 10]
        >>> dense_schedule(3, 10)
        [1, 2, 3]
    """
    frames = min(frames, iterations)
    if frames <= 0:
        return []
    if frames == 1:
        return [iterations]
    points = np.rint(np.geomspace(1, iterations, frames)).astype(np.int64)
    # Forward: each at least one past the previous (rounding collides near 1). Backward: leave room
    # for the ones after it, so the last stays at ``iterations`` and all stay distinct.
    points = np.maximum(points, np.arange(1, frames + 1))
    points = np.maximum.accumulate(points - np.arange(frames)) + np.arange(frames)
    points = np.minimum(points, iterations - np.arange(frames)[::-1])
    return [int(p) for p in points]


@dataclass(frozen=True)
class Reference:
    """What every frame of a run shares.

    ``modality`` says what a sample is: ``"toy"`` (2-D points: ``real`` is ``(N, 2)`` float32) or
    ``"images"`` (``real`` is ``(N, C, H, W)`` uint8 in 0..255; ``modes`` is ``(0, 2)``, ``extent``
    is NaN and ``grid_axis`` is empty, since no D grid is drawn for images).
    """

    real: np.ndarray  # (N, 2) real points, or (N, C, H, W) uint8 images, drawn once
    modes: np.ndarray  # (K, 2) mode centres; (0, 2) for continuous shapes and images
    extent: float  # frames show [-extent, extent]² (points only)
    grid_axis: np.ndarray  # (G,) coordinates of the D grid along x and y; (0,) for images
    std: float | None = None  # per-mode std of the data, for the mode metrics
    modality: str = "toy"  # the modality's name (gan_mixup.modalities): "toy" or "images"


@dataclass(frozen=True)
class Snapshot:
    iteration: int
    fake: np.ndarray  # (N, 2) G(fixed noise); for images (N, C, H, W) uint8
    d_grid: np.ndarray  # (G, G) sigmoid(D) at (grid_axis[j], grid_axis[i]) in row i, column j; (0, 0) for images
    # ∇ₓ of D's logit at each fake sample, (N, 2), for the frames' quiver (points; None where the file has none)
    d_grad_fake: np.ndarray | None = None
    # ‖∇ₓ D's logit‖ at real, fake and mixed points: {"real": (M,), "fake": (N,), "mixed": (M,)} (None where the file has none)
    d_grad_norms: dict[str, np.ndarray] | None = None


def snapshot_path(run_dir: Path, iteration: int) -> Path:
    return Path(run_dir) / SNAPSHOT_DIR / f"it_{iteration:08d}.npz"


def write_reference(run_dir: Path, reference: Reference) -> None:
    _atomic_npz(
        Path(run_dir) / SNAPSHOT_DIR / REFERENCE_FILE,
        real=reference.real, modes=reference.modes, extent=np.float64(reference.extent), grid_axis=reference.grid_axis,
        std=np.float64(np.nan if reference.std is None else reference.std), modality=np.str_(reference.modality),
    )


def read_reference(run_dir: Path) -> Reference:
    path = Path(run_dir) / SNAPSHOT_DIR / REFERENCE_FILE
    if not path.is_file():
        raise NotARunDirectoryError(f"{run_dir} is not a gan-mixup run directory: {path} is missing")
    try:
        with np.load(path) as data:
            std = float(data["std"])
            return Reference(data["real"], data["modes"], float(data["extent"]), data["grid_axis"],
                             None if np.isnan(std) else std, _recorded_modality(data))
    except Exception as err:
        raise SnapshotError(f"{path} is damaged ({type(err).__name__}); the run's frames cannot be drawn without it") from None


# The modality's former names, as reference.npz files of earlier versions recorded them (docs/runs.md).
FORMER_MODALITY_NAMES = {"points": "toy"}


def _recorded_modality(data: Any) -> str:
    """The modality a ``reference.npz`` records, by its current name: under ``modality``, under
    ``kind`` in files of earlier versions, and none at all (toy) in files from before images."""
    name = str(data["modality"]) if "modality" in data.files else str(data["kind"]) if "kind" in data.files else "toy"
    return FORMER_MODALITY_NAMES.get(name, name)


def write_snapshot(run_dir: Path, snapshot: Snapshot) -> None:
    extra: dict[str, np.ndarray] = {}
    if snapshot.d_grad_fake is not None:
        extra["d_grad_fake"] = snapshot.d_grad_fake
    for where, norms in (snapshot.d_grad_norms or {}).items():
        extra[f"d_grad_norm_{where}"] = norms
    _atomic_npz(snapshot_path(run_dir, snapshot.iteration), iteration=np.int64(snapshot.iteration),
                fake=snapshot.fake, d_grid=snapshot.d_grid, **extra)


def read_snapshot(path: Path) -> Snapshot:
    """Read one snapshot file; a truncated or damaged file raises ``SnapshotError`` naming it."""
    try:
        with np.load(path) as data:
            norms = {name[len("d_grad_norm_"):]: data[name] for name in data.files if name.startswith("d_grad_norm_")}
            return Snapshot(int(data["iteration"]), data["fake"], data["d_grid"],
                            data["d_grad_fake"] if "d_grad_fake" in data.files else None, norms or None)
    except FileNotFoundError:
        raise SnapshotError(f"snapshot file {path} is missing") from None
    except Exception as err:  # zipfile.BadZipFile, EOFError, KeyError, ValueError: all mean damaged
        raise SnapshotError(f"snapshot file {path} is damaged ({type(err).__name__}); delete it to render the rest") from None


def list_snapshots(run_dir: Path) -> list[Path]:
    """Snapshot files of a run, in iteration order."""
    folder = Path(run_dir) / SNAPSHOT_DIR
    if not folder.is_dir():
        raise NotARunDirectoryError(f"{run_dir} is not a gan-mixup run directory: {folder} is missing")
    return sorted(p for p in folder.iterdir() if _SNAPSHOT_NAME.match(p.name))


def read_snapshots(run_dir: Path) -> list[Snapshot]:
    return [read_snapshot(p) for p in list_snapshots(run_dir)]


# ----- checkpoints ------------------------------------------------------------------------------

def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> float:
    """Write ``state`` to ``checkpoint.pt`` atomically, keeping the previous one as ``checkpoint.prev.pt``.

    The bytes go to a temporary file that is fsynced, then renamed over the target, so a crash at
    any point leaves either the old or the new checkpoint whole. Returns the seconds it took.
    """
    start = time.perf_counter()
    run_dir = Path(run_dir)
    target = run_dir / CHECKPOINT_FILE
    tmp = run_dir / (CHECKPOINT_FILE + ".tmp")
    buffer = io.BytesIO()
    torch.save({"version": CHECKPOINT_VERSION, **state}, buffer)
    try:
        _write_synced(tmp, buffer.getbuffer())
    except OSError as err:
        tmp.unlink(missing_ok=True)  # a full disk leaves the old checkpoints, not a stray half file
        kept = "the previous checkpoint is kept" if target.exists() else "no earlier checkpoint exists"
        failure = CheckpointWriteError(f"could not write {target} ({err.strerror or err}); {kept}: "
                                       "make room and continue with --resume")
        failure.errno = err.errno
        raise failure from err
    if target.exists():
        os.replace(target, run_dir / PREVIOUS_CHECKPOINT_FILE)
    os.replace(tmp, target)
    _fsync_dir(run_dir)
    return time.perf_counter() - start


def load_checkpoint(run_dir: Path, map_location: Any = "cpu") -> tuple[dict[str, Any], list[str]]:
    """Load the newest readable checkpoint of ``run_dir``: ``checkpoint.pt``, else ``checkpoint.prev.pt``.

    Uses ``torch.load(weights_only=True)``: a checkpoint can hold tensors and plain data, never code.
    Returns the state and a list of warnings (e.g. that the latest file was corrupt and the previous
    one was used). Raises ``CheckpointError`` when neither can be read.
    """
    run_dir = Path(run_dir)
    warnings: list[str] = []
    for name in (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # truncated zip, bad pickle, ...: all mean "unreadable"
            detail = (str(err).splitlines() or ["empty or cut short"])[0][:120]  # EOFError() has no message
            warnings.append(f"{path} is unreadable ({type(err).__name__}: {detail})")
            continue
        if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
            warnings.append(f"{path} is not a gan-mixup checkpoint of version {CHECKPOINT_VERSION}")
            continue
        if name == PREVIOUS_CHECKPOINT_FILE:
            warnings.append(f"resuming from the previous checkpoint {path}")
        return state, warnings
    detail = "; ".join(warnings) if warnings else f"no {CHECKPOINT_FILE} in {run_dir}"
    raise CheckpointError(f"cannot resume {run_dir}: {detail}")


def _atomic_npz(path: Path, **arrays: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(buffer.getbuffer())
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def _write_synced(path: Path, data: memoryview | bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----- the marker, the lock, creating and replacing a run directory ------------------------------

def is_marked(path: Path) -> bool:
    """Whether ``path`` holds gan-mixup's marker file (a run or a collection this package created)."""
    return (Path(path) / MARKER_FILE).is_file()


def write_marker(path: Path, dir_type: str) -> None:
    """Mark ``path`` as gan-mixup's own, of ``dir_type``: ``run``, ``compare``, ``figure5`` or ``sweep``."""
    write_text_atomic(Path(path) / MARKER_FILE, json.dumps({"gan_mixup": dir_type}) + "\n")


def marker_dir_type(path: Path) -> str | None:
    """The directory type recorded in ``path``'s marker, or ``None`` when it has none (or it is unreadable)."""
    try:
        return str(json.loads((Path(path) / MARKER_FILE).read_text())["gan_mixup"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def clear_run_dir(path: Path) -> None:
    """Remove what gan-mixup wrote in ``path`` (``OWN_ENTRIES`` and member runs of a collection),
    but only when ``path`` is provably ours and is neither the current directory nor one of its
    parents; the folder itself and any file of the user's stay.
    """
    path = Path(path)
    resolved, here = path.resolve(), Path.cwd().resolve()
    if resolved == here or resolved in here.parents:
        raise RunDirectoryError(f"refusing to overwrite {path}: it is the current directory or one of its parents")
    if not (is_marked(path) or is_unmarked_run(path)):
        raise RunDirectoryError(
            f"refusing to overwrite {path}: it is not empty and holds no {MARKER_FILE} marker, so it is not a "
            "gan-mixup run directory; choose another --out or delete it yourself")
    entries = list(OWN_ENTRIES)
    manifest = path / MANIFEST_FILE
    if manifest.is_file():  # a collection: its members are runs of ours too
        try:
            entries += [str(sub) for sub in json.loads(manifest.read_text()).get("runs", {}).values()]
        except (OSError, ValueError, AttributeError):
            pass
    for name in entries:
        target = path / name
        if target.resolve().parent != resolved:  # a manifest naming "../x" must not reach outside
            continue
        if target.is_dir() and not target.is_symlink():
            if name in OWN_ENTRIES or is_marked(target):
                shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    (path / MARKER_FILE).unlink(missing_ok=True)


def is_unmarked_run(path: Path) -> bool:
    """A run directory without the marker (docs/runs.md): its ``snapshots/reference.npz`` reads as one of ours
    and its ``config.json`` is a JSON object naming a dataset. (A project's own config.json alone
    never qualifies.)"""
    path = Path(path)
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
        read_reference(path)
    except (OSError, ValueError, GanMixupError):
        return False
    return isinstance(config, dict) and isinstance(config.get("dataset"), str)


def holds_only_lock(path: Path) -> bool:
    """Absent, or empty but for our lock file: a run or collection directory with nothing in it yet."""
    path = Path(path)
    return not path.exists() or (path.is_dir() and all(entry.name in (LOCK_FILE, RENDER_LOCK_FILE) for entry in path.iterdir()))


def write_config(run_dir: Path, config_json: str) -> None:
    """Write ``config.json`` atomically (see ``write_text_atomic``)."""
    write_text_atomic(Path(run_dir) / CONFIG_FILE, config_json)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` through a temporary file and a rename, so a reader never sees half of it."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():  # os.replace would fail naming the temporary file
        raise IsADirectoryError(errno.EISDIR, "Is a directory, not a file: move it away", str(path))
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk or a directory in the way leaves no stray half file
        raise


def write_manifest(collection_dir: Path, info: dict[str, Any]) -> None:
    """Write a collection's ``runs.json`` in one atomic write: a failed write (a full disk) leaves
    the previous manifest whole, and no temporary file behind."""
    write_text_atomic(Path(collection_dir) / MANIFEST_FILE, json.dumps(info, indent=2))


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Path:
    """Write ``rows`` (dicts; keys outside ``columns`` ignored) as a CSV atomically: floats to 6
    significant digits, ``None`` as an empty cell."""
    import csv

    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text_atomic(Path(path), buffer.getvalue())
    return Path(path)


@contextmanager
def locked(path: Path, *, lock_file: str = LOCK_FILE,
           busy: str = "{path} is in use by {holder}; wait for it to finish or stop it first",
           wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on run directory ``path`` (created if needed) for the block.

    ``flock`` on ``path/.lock``, which names the holder's pid and command line: the kernel drops the
    lock when the process dies, even by kill -9, so a stale lock never blocks a resume. A second
    process gets ``RunLockedError`` naming the holder. The lock file is removed on exit (while still
    locked; a process that locked a removed file notices and retries), and a directory created here
    that stayed empty is removed too, so a mistake found after locking leaves no trace. Where
    ``fcntl`` does not exist (Windows) no lock is taken. ``lock_file`` names another such lock
    (see ``render_locked``); ``busy`` is the error message, with ``{path}`` and ``{holder}``.
    ``wait=True`` waits for the holder to finish instead of raising, after a ``GanMixupWarning`` with
    ``busy`` (for short writes, such as a viewer's, that two processes may both be right to make).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise RunDirectoryError(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist: "
                                "create that folder or choose another directory")
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"{path} is a file, not a directory: choose another directory")
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    lock_path = path / lock_file
    for _ in range(100):
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            if not wait:
                os.close(fd)
                raise RunLockedError(busy.format(path=path, holder=holder)) from None
            warnings.warn(GanMixupWarning(busy.format(path=path, holder=holder)), stacklevel=3)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:  # Ctrl-C (or a signal handler's exit) while waiting
                os.close(fd)
                raise
        try:
            same_file = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(fd)  # the holder removed the file between our open and our lock: lock the new one
    else:  # pragma: no cover - 100 races in a row
        raise RunLockedError(f"{path} is in use by another process")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} ({_command_line()})\n".encode(), 0)
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(fd)  # releases the flock
        if created:
            try:
                path.rmdir()  # only succeeds when nothing was written
            except OSError:
                pass


def lock_holder(path: Path, lock_file: str = LOCK_FILE) -> str | None:
    """Who holds ``path``'s lock (``process PID (command)``), read without taking it, or None: no lock
    file, or one left by a process that is gone (killed -9). Only processes of this machine are seen
    (a cluster task's lock reads as None here).

    Example:
        >>> lock_holder("runs/tiny")  # doctest: +SKIP
        'process 4242 (gan-mixup sweep --out runs/study ...)'
    """
    try:
        text = (Path(path) / lock_file).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    match = re.match(r"process (\d+) ", text + " ")
    return text if match is not None and pid_alive(int(match.group(1))) else None


@contextmanager
def render_locked(path: Path) -> Iterator[None]:
    """Hold the render lock of a run or collection directory ``path`` for the block.

    A lock of its own (``.render.lock``), apart from training's ``.lock``: a run can be rendered while
    it trains (its snapshots are written atomically), but two renders, or a user's and the trainer's
    final one, never write the same frames and GIF at once. A second render gets ``RunLockedError``
    ("another render of PATH is running ...; wait for it to finish").
    """
    with locked(path, lock_file=RENDER_LOCK_FILE,
                busy="another render of {path} is running ({holder}); wait for it to finish"):
        yield


@contextmanager
def report_locked(path: Path) -> Iterator[None]:
    """Hold the report lock of a run or sweep directory ``path`` for the block: two writers of its
    reports (``gan-mixup metrics`` while the sweep writes its own at the end, or two of them) take
    turns, so neither renames the other's half-written file. The second waits, after a warning naming
    the first; its reports, from records as new or newer, replace the first one's."""
    with locked(path, lock_file=REPORT_LOCK_FILE, wait=True,
                busy="the reports of {path} are being written by {holder}; waiting for it to finish"):
        yield


def _command_line() -> str:
    argv = [os.path.basename(sys.argv[0])] + sys.argv[1:] if sys.argv and sys.argv[0] else ["python"]
    text = " ".join(argv)
    return text if len(text) <= 200 else text[:197] + "..."


def read_records(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` whose ``"kind"`` is ``kind``, in order. A line that is not
    valid JSON (a write cut short by a crash) is skipped. Raises ``NotARunDirectoryError`` when the
    file is missing.

    Example:
        >>> [r["iteration"] for r in read_records("runs/tiny", "train")][:3]  # doctest: +SKIP
        [10, 20, 30]
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise NotARunDirectoryError(f"{run_dir} is not a gan-mixup run directory: {path} is missing")
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and record.get("kind") == kind:
                records.append(record)
    return records


def open_metrics(run_dir: Path, offset: int) -> tuple[Any, str | None]:
    """Open ``metrics.jsonl`` for appending from byte ``offset`` (where the checkpoint we resume
    left it): later records are dropped. A file that is missing or shorter than ``offset`` (deleted
    or cut by the user) is continued as it is, never padded, and a warning says what was lost.
    Returns the open file and the warning (or ``None``).
    """
    path = Path(run_dir) / METRICS_FILE
    size = path.stat().st_size if path.exists() else 0
    warning = None
    metrics_file = open(path, "a+b")
    if size >= offset:
        metrics_file.truncate(offset)
    else:
        warning = (f"{path} is shorter than when the checkpoint was written ({size} < {offset} bytes): "
                   "the records it lost are not restored; new ones are appended")
    metrics_file.seek(0, os.SEEK_END)
    if metrics_file.tell() > 0:  # a cut file may end mid-line: start the next record on a line of its own
        metrics_file.seek(-1, os.SEEK_END)
        if metrics_file.read(1) != b"\n":
            metrics_file.write(b"\n")
    metrics_file.close()
    return open(path, "a", encoding="utf-8"), warning

"""The snapshot schedule, the on-disk run format, and atomic checkpoints.

A run directory holds::

    config.json          the ToyConfig, as JSON
    metrics.jsonl        one JSON object per line: {"kind": "train" | "snapshot" | "event", "iteration": ...}
    snapshots/
      reference.npz      real samples, mode centres, plot extent, the D-grid axis: what every frame shares
      it_00000100.npz    per snapshot: fake samples from the fixed noise batch, sigmoid(D) on the grid
    checkpoint.pt        the latest checkpoint; checkpoint.prev.pt the one before it

Snapshots are plain ``.npz`` files, so ``render`` and ``metrics`` need only numpy to read a run.
"""
from __future__ import annotations

from gan_mixup.errors import GanMixupError

import io
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

PAPER_ITERATIONS = (10, 100, 1000, 10000, 20000)  # the paper's Figure 5 columns

SNAPSHOT_DIR = "snapshots"
REFERENCE_FILE = "reference.npz"
CHECKPOINT_FILE = "checkpoint.pt"
PREVIOUS_CHECKPOINT_FILE = "checkpoint.prev.pt"
CHECKPOINT_VERSION = 1
_SNAPSHOT_NAME = re.compile(r"^it_(\d{8})\.npz$")


class CheckpointError(GanMixupError, RuntimeError):
    """No usable checkpoint: missing, truncated or corrupted."""


def snapshot_schedule(iterations: int, frames: int = 200, extra: Iterable[int] = ()) -> list[int]:
    """Iterations at which to snapshot: the paper's (10, 100, 1000, 10000, 20000) that the run
    reaches, ``frames`` log-spaced iterations from 1 to ``iterations`` for a smooth GIF, ``extra``,
    and the last iteration.

    Example:
        >>> snapshot_schedule(1000, frames=5)
        [1, 6, 10, 32, 100, 178, 1000]
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    extra = list(extra)
    beyond = [it for it in extra if not 1 <= it <= iterations]
    if beyond:
        raise ValueError(f"snapshot iterations {beyond} are outside the run (1..{iterations})")
    dense = np.unique(np.rint(np.geomspace(1, iterations, frames)).astype(int)) if frames > 0 else []
    paper = [it for it in PAPER_ITERATIONS if it <= iterations]
    return sorted({int(it) for it in dense} | set(paper) | set(extra) | {iterations})


@dataclass(frozen=True)
class Reference:
    """What every frame of a run shares.

    ``kind`` says what a sample is: ``"points"`` (2-D toy data: ``real`` is ``(N, 2)`` float32) or
    ``"images"`` (``real`` is ``(N, C, H, W)`` uint8 in 0..255; ``modes`` is ``(0, 2)``, ``extent``
    is NaN and ``grid_axis`` is empty, since no D grid is drawn for images).
    """

    real: np.ndarray  # (N, 2) real points, or (N, C, H, W) uint8 images, drawn once
    modes: np.ndarray  # (K, 2) mode centres; (0, 2) for continuous shapes and images
    extent: float  # frames show [-extent, extent]² (points only)
    grid_axis: np.ndarray  # (G,) coordinates of the D grid along x and y; (0,) for images
    std: float | None = None  # per-mode std of the data, for the mode metrics
    kind: str = "points"  # "points" or "images"


@dataclass(frozen=True)
class Snapshot:
    iteration: int
    fake: np.ndarray  # (N, 2) G(fixed noise); for images (N, C, H, W) uint8
    d_grid: np.ndarray  # (G, G) sigmoid(D) at (grid_axis[j], grid_axis[i]) in row i, column j; (0, 0) for images


def snapshot_path(run_dir: Path, iteration: int) -> Path:
    return Path(run_dir) / SNAPSHOT_DIR / f"it_{iteration:08d}.npz"


def write_reference(run_dir: Path, reference: Reference) -> None:
    _atomic_npz(
        Path(run_dir) / SNAPSHOT_DIR / REFERENCE_FILE,
        real=reference.real, modes=reference.modes, extent=np.float64(reference.extent), grid_axis=reference.grid_axis,
        std=np.float64(np.nan if reference.std is None else reference.std), kind=np.str_(reference.kind),
    )


def read_reference(run_dir: Path) -> Reference:
    path = Path(run_dir) / SNAPSHOT_DIR / REFERENCE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a gan-mixup run directory: {path} is missing")
    with np.load(path) as data:
        std = float(data["std"])
        kind = str(data["kind"]) if "kind" in data.files else "points"  # runs written before images existed
        return Reference(data["real"], data["modes"], float(data["extent"]), data["grid_axis"],
                         None if np.isnan(std) else std, kind)


def write_snapshot(run_dir: Path, snapshot: Snapshot) -> None:
    _atomic_npz(snapshot_path(run_dir, snapshot.iteration), iteration=np.int64(snapshot.iteration),
                fake=snapshot.fake, d_grid=snapshot.d_grid)


def read_snapshot(path: Path) -> Snapshot:
    with np.load(path) as data:
        return Snapshot(int(data["iteration"]), data["fake"], data["d_grid"])


def list_snapshots(run_dir: Path) -> list[Path]:
    """Snapshot files of a run, in iteration order."""
    folder = Path(run_dir) / SNAPSHOT_DIR
    if not folder.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a gan-mixup run directory: {folder} is missing")
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
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk leaves the old checkpoints, not a stray half file
        raise
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
            warnings.append(f"{path} is unreadable ({type(err).__name__}: {str(err).splitlines()[0][:120]})")
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

"""Frames, GIFs, side-by-side comparisons and the Figure-5 grid, drawn from a run directory alone.

Everything here reads the snapshot files of ``gan_mixup.rundir`` (plain ``.npz``) and draws with
matplotlib's object API (``Figure`` + the Agg canvas, never ``pyplot``), so rendering needs neither
the models nor the code that trained them, and frames can be drawn in parallel processes without
sharing any plotting state.

Two kinds of runs, told apart by ``Reference.kind``. For ``"points"`` (2-D toy data) the frame recipe
is igul222's ``gan_toy.py``: the discriminator's output behind the real and the fake samples, on axes
that stay fixed from frame to frame. For ``"images"`` a frame is pytorch/examples' DCGAN picture: the
fake samples of the fixed noise batch as one grid (the layout of ``torchvision.utils.make_grid``).
Frames are written first, then the GIF is assembled from the frame files.

A damaged snapshot file (truncated, corrupt) is skipped with a one-line warning on stderr and the
rest is rendered; ``SnapshotError`` is raised only when nothing is readable, or when the run's
``reference.npz`` is damaged (every frame needs it). A run with no snapshot yet (stopped before its
first) raises ``NothingToRenderError``.

Rendering holds the directory's render lock (``gan_mixup.rundir.render_locked``), not its training
lock: a run can be rendered while it trains, but a second render of it at the same time is refused
with ``RunLockedError``. Finished pictures are written to a temporary file and renamed.

Example:
    >>> from gan_mixup.render import render_run
    >>> paths = render_run("runs/ring8-mixup")  # doctest: +SKIP
    >>> paths["gif"]  # doctest: +SKIP
    PosixPath('runs/ring8-mixup/training.gif')
"""
from __future__ import annotations

import math
import multiprocessing
import os
import signal
import threading
import warnings
from contextlib import contextmanager
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterator, Any, Callable, Iterable, NamedTuple, Sequence

import imageio.v3 as iio
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from gan_mixup.errors import GanMixupError, GanMixupWarning

# The run-directory module is the one that knows the files and their names.
from gan_mixup.rundir import (
    COMPARISON_FRAMES_DIR,
    CONFIG_FILE,
    FIGURE5_FILE as FIGURE5_NAME,
    FRAMES_DIR,
    GIF_FILE as GIF_NAME,
    LOSSES_FILE as LOSSES_NAME,
    METRICS_FILE,
    NotARunDirectoryError,
    PAPER_ITERATIONS,
    REFERENCE_FILE,
    SNAPSHOT_DIR,
    Reference,
    Snapshot,
    SnapshotError,
    list_snapshots,
    read_records,
    read_reference,
    read_snapshot,
    render_locked,
    snapshot_path,
)
from gan_mixup.rundir import COMPARISON_GIF_FILE as COMPARISON_GIF

FRAME_NAME = "frame_{:04d}.png"

FRAME_INCHES = 4.0  # a frame is FRAME_INCHES² at FRAME_DPI: 320 x 320 px, small enough for 200-frame GIFs
FRAME_DPI = 80
LAST_FRAME_HOLD_S = 2.0  # the GIF rests on the final state before it loops
FAST_PALETTE_ABOVE = 4096  # frames of more colours get a fast octree palette in the GIF (see _gif_frame)
MAX_DEFAULT_WORKERS = 4
FRAMES_PER_WORKER = 8  # below this many frames per worker a process pool costs more than it saves

# Colours: D's output on a diverging map (red = "real", blue = "fake"), gan_toy's orange real
# samples and a dark green for the fakes, which reads on both ends of the map.
D_CMAP = "RdBu_r"
D_LEVELS = np.linspace(0.0, 1.0, 11)  # fixed levels, so one colour means one D value in every frame
REAL_COLOUR = "#ff7f0e"
FAKE_COLOUR = "#0b5d1e"
# G's gradient arrows (toy frames): at most this many, each QUIVER_LENGTH x the frame's half-width long,
# light grey to black by the norm of ∇ₓ D's logit.
QUIVER_ARROWS = 150
QUIVER_LENGTH = 0.09
QUIVER_CMAP = "Greys"
MODE_COLOUR = "black"
# Figure 5: modes in one colour, fakes translucent, no D (as in the paper).
FIG5_MODE_COLOUR = "#d62728"
FIG5_FAKE_COLOUR = "#1f4e9c"

# Image runs. A frame is IMAGE_FRAME_INCHES² at FRAME_DPI = 340 x 340 px; its image area (306 px high)
# shows the 8 x 8 grid of 64 samples of 32 px (8 * 34 + 2 = 274 px) with every pixel >= 1 screen pixel.
IMAGE_FRAME_INCHES = 4.25
IMAGE_AXES = (0.02, 0.02, 0.96, 0.9)  # (left, bottom, width, height) of the sample grid in a frame
GRID_PADDING = 2  # pixels between samples, as make_grid's default
GRID_PAD_VALUE = 128  # mid-grey: separates white-on-black digits and colour images alike
GRID_CELL_SAMPLES = 36  # a figure cell shows the first 36 samples (6 x 6), small enough to read
GRID_CELL_INCHES = 2.4  # at 90 dpi: 216 px for a 6 x 6 grid of 32 px samples (206 px)
SAMPLES_GID = "gan_mixup-samples"  # marks the reusable AxesImage of a frame
KINDS = ("points", "images")

# What reading a damaged .npz raises (SnapshotError, from gan_mixup.rundir, is a ValueError).
_READ_ERRORS = (zipfile.BadZipFile, ValueError, OSError, KeyError, EOFError)


class RenderError(GanMixupError, ValueError):
    """Runs that cannot be drawn (together): an unknown kind, points and images in one figure,
    samples of the wrong shape, no shared iteration, a bad ``fps`` / ``workers`` / ``max_frames``.
    (A damaged file is ``SnapshotError``, of ``gan_mixup.rundir``.)"""


class NothingToRenderError(RenderError):
    """A run without a snapshot yet: its training stopped before the first one."""


class RenderWarning(GanMixupWarning):
    """A member of a collection left out of its pictures, because it has nothing to render yet."""


class _Damaged(NamedTuple):
    """A snapshot file that cannot be drawn, and a one-line message naming it (picklable, for workers)."""

    path: Path
    message: str


# ----- one frame ------------------------------------------------------------------------------

def render_frame(
    reference: Reference,
    snapshot: Snapshot,
    path: str | Path | None,
    *,
    title: str | None = None,
    ax: Axes | None = None,
    quiver: bool = True,
) -> Axes:
    """Draw one snapshot and write it to ``path`` as a PNG; what is drawn depends on ``reference.kind``.

    ``"points"``: gan_toy's recipe. D's output (sigmoid, fixed 0..1 colour scale) is a filled contour
    behind the real samples (faint), the fake samples (bold) and the mode centres (if the data has
    any), on the fixed square ``[-extent, extent]²`` with equal aspect. Non-finite fake samples are
    dropped and counted in the title, so a diverged run still renders. With ``quiver`` (and a
    snapshot that recorded D's input gradients) light arrows at up to ``QUIVER_ARROWS`` fake samples
    point along ∇ₓ D's logit: −∇ of G's loss, where G's next step pushes each sample; all arrows
    have one length, so they show direction, and the arrows' shade shows the norm (darker = steeper).

    ``"images"``: the fake samples ``(N, C, H, W)`` uint8 as one grid, ``ceil(sqrt(N))`` per row,
    ``GRID_PADDING`` mid-grey pixels apart (``torchvision.utils.make_grid``'s layout), grey images
    in a grey colour map and RGB as they are, nearest-neighbour scaled, axes off.

    The title ends with the snapshot's iteration; ``title`` (e.g. a run's label) goes before it.
    With ``ax`` the panel is drawn into that axes, of a figure the caller owns, and ``path`` may be
    ``None`` (nothing is written; with a path the whole figure is saved). Without ``ax`` a figure of
    fixed size is made, saved and released: ``FRAME_INCHES``² (points) or ``IMAGE_FRAME_INCHES``²
    (images) at ``FRAME_DPI``. Returns the axes drawn into. Samples of the wrong shape for the
    reference's kind raise ``RenderError``.

    Example:
        >>> from gan_mixup.rundir import read_reference, read_snapshots
        >>> ref = read_reference("runs/tiny")  # doctest: +SKIP
        >>> render_frame(ref, read_snapshots("runs/tiny")[-1], "last.png", title="mixup")  # doctest: +SKIP
    """
    kind = _kind_of(reference)
    problem = _sample_problem(kind, snapshot.fake)
    if problem:
        raise RenderError(f"cannot draw the snapshot of iteration {snapshot.iteration}: {problem}")
    if ax is None:
        if path is None:
            raise ValueError("render_frame needs a path to write to, or an ax to draw into")
        _, ax = _frame_figure(kind)
    text = _draw_samples(ax, snapshot.fake) if kind == "images" else _draw_panel(ax, reference, snapshot, quiver)
    heading = f"iteration {snapshot.iteration}" if title is None else f"{title}, iteration {snapshot.iteration}"
    ax.set_title(heading + text, fontsize=9, pad=3)
    if path is not None:
        _save(ax.figure, path)
    return ax


def frame_pixels(reference: Reference, snapshot: Snapshot, *, quiver: bool = True) -> np.ndarray:
    """One frame (as ``render_frame`` draws it) as an RGB ``(H, W, 3)`` uint8 array, written nowhere."""
    fig, ax = _frame_figure(_kind_of(reference))
    render_frame(reference, snapshot, None, ax=ax, quiver=quiver)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()


def _frame_figure(kind: str = "points") -> tuple[Figure, Axes]:
    # Fixed axes position (no tight/constrained layout): every frame has the same pixel size and
    # the same plot area, so the GIF does not jitter.
    if kind == "images":
        fig = _figure(IMAGE_FRAME_INCHES, IMAGE_FRAME_INCHES, FRAME_DPI)
        ax = fig.add_axes(IMAGE_AXES)
        ax.set_axis_off()
        return fig, ax
    fig = _figure(FRAME_INCHES, FRAME_INCHES, FRAME_DPI)
    ax = fig.add_axes((0.11, 0.07, 0.85, 0.85))
    _frame_ticks(ax, labelsize=7)
    return fig, ax


def _frame_ticks(ax: Axes, labelsize: float) -> None:
    # At most 5 ticks per axis: tick labels are the largest drawing cost of a small frame
    # (about a third of it with matplotlib's default 7-9), and they say nothing that changes.
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(4, steps=[1, 2, 5, 10]))
    ax.tick_params(labelsize=labelsize, length=2, pad=1)


def _clear_data(ax: Axes) -> None:
    """Remove what ``_draw_panel`` added, keeping the axes, its ticks and its fixed limits.

    Workers reuse one figure for all their frames: building a figure and its tick artists costs
    about as much as drawing the frame itself. The sample grid of an image frame stays: the next
    frame only swaps its pixels (``_draw_samples``).
    """
    for artist in [*ax.lines, *ax.collections, *(im for im in ax.images if im.get_gid() != SAMPLES_GID)]:
        artist.remove()


def _sample_grid(images: np.ndarray, limit: int | None = None) -> np.ndarray:
    """Tile ``(N, C, H, W)`` uint8 images (the first ``limit`` of them) into one ``(rows, cols, C)`` picture.

    The layout of ``torchvision.utils.make_grid(images, nrow=ceil(sqrt(N)), padding=GRID_PADDING,
    pad_value=GRID_PAD_VALUE)`` for N > 1, in numpy (no torch needed to read a run), keeping C:
    ``ceil(sqrt(N))`` images per row, ``GRID_PADDING`` pixels around and between them, unused cells
    of the last row left as padding.

    Example:
        >>> _sample_grid(np.zeros((10, 1, 4, 4), np.uint8)).shape  # 4 per row, 3 rows of 4 + 2 px
        (20, 26, 1)
    """
    images = np.asarray(images)[:limit]
    n, c, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    p = GRID_PADDING
    # Each sample sits at the top left of an (h + p, w + p) cell; one more p at the top and the left.
    cells = np.full((rows * cols, h + p, w + p, c), GRID_PAD_VALUE, np.uint8)
    cells[:n, :h, :w] = images.transpose(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
    tiled = cells.reshape(rows, cols, h + p, w + p, c).transpose(0, 2, 1, 3, 4).reshape(rows * (h + p), cols * (w + p), c)
    grid = np.full((rows * (h + p) + p, cols * (w + p) + p, c), GRID_PAD_VALUE, np.uint8)
    grid[p:, p:] = tiled
    return grid


def _draw_samples(ax: Axes, fake: np.ndarray, limit: int | None = None) -> str:
    """Show image samples as one grid in ``ax``, reusing its sample image when the grid's shape is the
    same (``set_data`` is far cheaper than a new ``imshow``); return a title note ('' always)."""
    grid = _sample_grid(fake, limit)
    if grid.shape[2] == 1:
        grid = grid[:, :, 0]  # grey: a 2-D array through the grey colour map
    reusable = [im for im in ax.images if im.get_gid() == SAMPLES_GID]
    if reusable and reusable[0].get_array().shape == grid.shape:
        reusable[0].set_data(grid)
        return ""
    for im in reusable:
        im.remove()
    # Fixed vmin/vmax: black is 0 and white 255 in every frame, never stretched to the data's range.
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest", gid=SAMPLES_GID)
    return ""


def _draw_panel(ax: Axes, reference: Reference, snapshot: Snapshot, quiver: bool = False) -> str:
    """Draw D, real, fake, modes and (``quiver``) G's gradient arrows into ``ax``; return a note for
    the title ('' when all is well)."""
    # d_grid row i is y = grid_axis[i], column j is x = grid_axis[j]: contourf's own layout, no
    # transpose. Non-finite D values (a diverged D) are masked, not drawn as a colour.
    d = np.ma.masked_invalid(np.asarray(snapshot.d_grid, dtype=np.float64))
    if d.count():
        ax.contourf(reference.grid_axis, reference.grid_axis, d, levels=D_LEVELS, cmap=D_CMAP,
                    vmin=0.0, vmax=1.0, alpha=0.6)
    real = reference.real
    fake = np.asarray(snapshot.fake)
    finite = np.isfinite(fake).all(axis=1)
    fake = fake[finite]
    # plot() with markers and no line uses Agg's fast marker path, several times faster than scatter().
    ax.plot(real[:, 0], real[:, 1], "+", color=REAL_COLOUR, alpha=0.35, ms=3, mew=0.6, ls="none")
    ax.plot(fake[:, 0], fake[:, 1], ".", color=FAKE_COLOUR, alpha=0.9, ms=3, mew=0, ls="none")
    if len(reference.modes):
        ax.plot(reference.modes[:, 0], reference.modes[:, 1], "x", color=MODE_COLOUR, ms=5, mew=1.2, ls="none")
    if quiver and snapshot.d_grad_fake is not None:
        _draw_quiver(ax, np.asarray(snapshot.fake)[finite], np.asarray(snapshot.d_grad_fake)[finite], reference.extent)
    _fix_axes(ax, reference.extent)
    dropped = int((~finite).sum())
    return f"\n({dropped} non-finite samples dropped)" if dropped else ""


def _draw_quiver(ax: Axes, fake: np.ndarray, grad: np.ndarray, extent: float) -> None:
    """Unit arrows along ``grad`` at (an even subset of) the ``fake`` samples inside the frame,
    shaded by the gradient's norm on a log scale shared by every frame."""
    inside = np.isfinite(grad).all(axis=1) & (np.abs(fake) <= extent).all(axis=1)
    fake, grad = fake[inside], grad[inside]
    if not len(fake):
        return
    step = max(1, len(fake) // QUIVER_ARROWS)
    fake, grad = fake[::step], grad[::step]
    norm = np.linalg.norm(grad, axis=1)
    direction = grad / np.maximum(norm, 1e-12)[:, None]
    # mid-grey (norm 0.01 or less) to black (1000 or more): light enough to leave the samples readable
    shade = 0.4 + 0.6 * np.clip((np.log10(np.maximum(norm, 1e-12)) + 2) / 5, 0.0, 1.0)
    length = QUIVER_LENGTH * extent
    ax.quiver(fake[:, 0], fake[:, 1], direction[:, 0] * length, direction[:, 1] * length, shade,
              cmap=QUIVER_CMAP, clim=(0.0, 1.0), angles="xy", scale_units="xy", scale=1, width=0.004,
              headwidth=3.5, headlength=4, alpha=0.6)


def _fix_axes(ax: Axes, extent: float) -> None:
    # Limits set after drawing, so no point outside the square (an exploding G) can rescale the frame.
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal", adjustable="box")
    ax.set_autoscale_on(False)


def _figure(width: float, height: float, dpi: int) -> Figure:
    # A bare Figure on an Agg canvas: no pyplot figure manager, no global "current figure", so
    # figures in threads or processes cannot see each other and are freed when dropped.
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path, *, compress_level: int = 1) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Frames are intermediate files: fast zlib level 1 instead of the default 6.
    _write_replacing(path, lambda tmp: fig.savefig(tmp, format="png", dpi=fig.dpi,
                                                   pil_kwargs={"compress_level": compress_level}))


def _write_replacing(path: Path, write: Callable[[Path], Any]) -> None:
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


# ----- a run ----------------------------------------------------------------------------------

def render_run(run_dir: str | Path, *, fps: float = 10, workers: int | None = None,
               max_frames: int | None = None, quiver: bool = True) -> dict[str, Path]:
    """Render every snapshot of ``run_dir`` to ``frames/frame_XXXX.png``, then ``training.gif``.

    Points or image samples, as the run's ``reference.npz`` says (see ``render_frame``). The GIF
    loops forever and holds the last frame for ``LAST_FRAME_HOLD_S``. Frames are drawn in
    ``workers`` processes (default: ``min(cpu_count, 4)``, fewer for short runs); ``workers=1``
    renders serially in this process. Worker processes start with the forkserver (or spawn)
    method, so a script that calls this with several workers needs the usual
    ``if __name__ == "__main__":`` guard. ``losses.png`` (D and G loss against iteration) is drawn too
    when ``metrics.jsonl`` holds training records. Only the snapshot files are needed: no
    checkpoint, no models.

    ``max_frames`` thins the GIF to at most that many snapshots (see ``thin_iterations``), for small files.
    ``quiver=False`` leaves out the gradient arrows of toy frames (see ``render_frame``).

    A damaged snapshot file is skipped with a one-line warning on stderr (the frames stay numbered
    without gaps); ``SnapshotError`` is raised when no snapshot is readable, or when
    ``reference.npz`` is damaged. A run with no snapshot yet raises ``NothingToRenderError``; a bad
    ``fps``, ``workers`` or ``max_frames`` raises ``RenderError`` before anything is written.

    The run's render lock is held throughout (see ``render_lock``): while another process renders
    the run, this raises ``RunLockedError``. A run that is training may be rendered.

    Returns ``{"frames": frames dir, "gif": GIF path}`` and ``"losses"`` when that plot was drawn.

    Example:
        >>> render_run("runs/tiny", fps=10)["gif"]  # doctest: +SKIP
        PosixPath('runs/tiny/training.gif')
    """
    run_dir = Path(run_dir)
    validate_options(fps=fps, workers=workers, max_frames=max_frames)
    if not run_dir.is_dir():  # checked before locking: the lock would create the folder
        raise NotARunDirectoryError(f"{run_dir} is not a gan-mixup run directory: "
                                    f"{run_dir / SNAPSHOT_DIR / REFERENCE_FILE} is missing")
    with render_lock(run_dir):
        return _render_run(run_dir, fps=fps, workers=workers, max_frames=max_frames, quiver=quiver)


def _render_run(run_dir: Path, *, fps: float, workers: int | None, max_frames: int | None,
                quiver: bool) -> dict[str, Path]:
    reference = _read_reference(run_dir)
    snapshot_files = _snapshot_files(run_dir)
    if max_frames is not None:
        keep = set(thin_iterations([_iteration_of(p) for p in snapshot_files], max_frames))
        snapshot_files = [p for p in snapshot_files if _iteration_of(p) in keep]
    frames_dir = run_dir / FRAMES_DIR
    _clear_frames(frames_dir)
    frame_paths = [frames_dir / FRAME_NAME.format(i) for i in range(len(snapshot_files))]
    jobs = list(zip(snapshot_files, frame_paths))
    damaged = _map(_render_run_frames, (reference, quiver), jobs, _worker_count(workers, len(jobs)))
    frame_paths = _skip_damaged(damaged, frame_paths, f"{run_dir} has no readable snapshot")
    paths = {"frames": frames_dir, "gif": write_gif(frame_paths, run_dir / GIF_NAME, fps=fps)}
    # The loss plot is a bonus: a run copied without metrics.jsonl, or one stopped before its first
    # log record, still renders.
    if (run_dir / METRICS_FILE).is_file() and len(load_losses(run_dir)["iteration"]):
        paths["losses"] = plot_losses(run_dir, run_dir / LOSSES_NAME)
    return paths


def _render_run_frames(reference: Reference, quiver: bool, jobs: list[tuple[Path, Path]]) -> list[tuple[Path, list[_Damaged]]]:
    """Render ``(snapshot file, frame path)`` jobs on one reused figure (in a worker, or serially).

    Workers read their own snapshots, so only paths and the small reference travel between processes.
    Returns ``(frame path, [what was damaged])`` for each frame not written because its snapshot
    could not be read.
    """
    _, ax = _frame_figure(reference.kind)
    damaged = []
    for snapshot_file, frame_path in jobs:
        snapshot = _try_read_snapshot(snapshot_file, reference.kind)
        if isinstance(snapshot, _Damaged):
            damaged.append((frame_path, [snapshot]))
            continue
        render_frame(reference, snapshot, frame_path, ax=ax, quiver=quiver)
        _clear_data(ax)
    return damaged


def _skip_damaged(damaged: list[tuple[Path, list[_Damaged]]], frame_paths: list[Path], nothing_left: str) -> list[Path]:
    """Warn once per damaged snapshot, then renumber the frames that were written to close the gaps
    (``frame_0000.png`` ... without holes); ``SnapshotError`` if none was."""
    unique = list(dict.fromkeys(d for _, ds in damaged for d in ds))
    missing = {frame for frame, _ in damaged}
    written = [frame for frame in frame_paths if frame not in missing]
    if not written:
        raise SnapshotError(nothing_left + _all_damaged(unique))
    for d in unique:
        warnings.warn(f"{d.message} (skipped)", GanMixupWarning, stacklevel=2)
    renumbered = []
    for i, frame in enumerate(written):
        target = frame.with_name(FRAME_NAME.format(i))
        if target != frame:  # ascending order: target's slot is a skipped frame's, or already moved on
            os.replace(frame, target)
        renumbered.append(target)
    return renumbered


def write_gif(frame_paths: Sequence[str | Path], gif_path: str | Path, *, fps: float = 10) -> Path:
    """Assemble PNG frames (all of one size) into a GIF that loops forever, the last frame held.

    Written to a temporary file and renamed, so a reader never sees half a GIF, and a failed write
    leaves no temporary file.

    Example:
        >>> write_gif(sorted(Path("runs/tiny/frames").glob("*.png")), "tiny.gif", fps=5)  # doctest: +SKIP
    """
    _check_fps(fps)
    if not frame_paths:
        raise ValueError("write_gif needs at least one frame")
    gif_path = Path(gif_path)
    frames = [iio.imread(p)[..., :3] for p in frame_paths]  # drop alpha: GIF has no partial transparency
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise ValueError(f"frames differ in size ({sorted(shapes)}); a GIF needs frames of one size")
    frame_ms = 1000.0 / fps
    durations = [frame_ms] * len(frames)
    durations[-1] = max(frame_ms, 1000.0 * LAST_FRAME_HOLD_S)
    images = [_gif_frame(frame) for frame in frames]
    # loop=0 is "forever" in the GIF format; durations are in milliseconds for Pillow.
    _write_replacing(gif_path, lambda tmp: images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                                                          duration=durations, loop=0))
    return gif_path


def _gif_frame(rgb: np.ndarray) -> Image.Image:
    """One GIF frame for Pillow. Grey frames (grey sample grids) go in as greyscale: exact, no palette
    to choose. Frames of many colours (colour sample grids, ~50k) are reduced to 256 by fast octree:
    Pillow's own choice, median cut, takes ~0.5 s for one 340-px frame of them, octree ~4 ms, about
    as close. Anything else (point frames, a few hundred colours) is left to Pillow as before."""
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        return Image.fromarray(np.ascontiguousarray(rgb[..., 0]), mode="L")
    image = Image.fromarray(rgb)
    if image.getcolors(FAST_PALETTE_ABOVE) is None:
        image = image.quantize(256, method=Image.Quantize.FASTOCTREE)
    return image


def _clear_frames(frames_dir: Path) -> None:
    # Stale frames of an earlier render (a longer run) would otherwise sit beside the new ones.
    if frames_dir.is_dir():
        for old in [*frames_dir.glob("frame_*.png"), *frames_dir.glob("frame_*.tmp")]:  # .tmp: a render killed -9
            old.unlink()
    frames_dir.mkdir(parents=True, exist_ok=True)


# ----- a sweep's scorecard ---------------------------------------------------------------------

def plot_mode_bands(summaries: Sequence[Any], path: str | Path) -> Path:
    """Modes covered against iteration: one panel per dataset x setting (rows: datasets), the
    median over seeds as a line and the min–max range as a band (within 3σ, and within 10σ where
    recorded), all modes as a dashed line.

    ``summaries`` are ``gan_mixup.sweep.SettingSummary`` objects (from ``summarise``)."""
    datasets = list(dict.fromkeys(s.dataset for s in summaries))
    cols = max(sum(1 for s in summaries if s.dataset == d) for d in datasets)
    fig, axes = _panel_grid(len(datasets), cols, panel=2.4, left=0.55, top=0.45, dpi=100, gap=0.62, bottom=0.45)
    for r, dataset in enumerate(datasets):
        row = [s for s in summaries if s.dataset == dataset]
        for c in range(cols):
            ax = axes[r][c]
            if c >= len(row):
                ax.set_axis_off()
                continue
            s = row[c]
            ax.set_title(f"{dataset}: {s.setting}\n{s.seeds} seeds", fontsize=8, pad=3)
            if "modes_covered" in s.curves:
                _band(ax, *s.curves["modes_covered"], colour=FIG5_FAKE_COLOUR, label="within 3σ")
            if "modes_near" in s.curves:
                _band(ax, *s.curves["modes_near"], colour=REAL_COLOUR, label="within 10σ")
            if r == 0 and c == 0 and "modes_near" in s.curves:
                ax.legend(fontsize=6, loc="upper left")
            if s.modes_total:
                ax.axhline(s.modes_total, color="black", lw=0.8, ls="--")
                ax.set_ylim(-0.03 * s.modes_total, 1.08 * s.modes_total)
            ax.set_xscale("log")
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if c == 0:
                ax.set_ylabel("modes covered", fontsize=8)
            if r == len(datasets) - 1:
                ax.set_xlabel("iteration", fontsize=8)
    _save(fig, path, compress_level=6)
    return Path(path)


def plot_robustness(spreads: Sequence[Any], path: str | Path) -> Path:
    """Per dataset, one box per objective of its runs' final values over every hyperparameter
    setting and seed: the Fréchet distance (images; toy: sliced Wasserstein) and the modes covered.

    ``spreads`` are ``gan_mixup.sweep.ObjectiveSpread`` objects (from ``robustness``)."""
    datasets = list(dict.fromkeys(s.dataset for s in spreads))
    fig = Figure(figsize=(9, 3.2 * len(datasets)), dpi=100)
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    for r, dataset in enumerate(datasets):
        row = [s for s in spreads if s.dataset == dataset]
        for c, (metric, label) in enumerate(((row[0].distance_metric, row[0].distance_metric.replace("_", " ")),
                                             ("modes_covered", "modes covered"))):
            ax = axes[r][c]
            values = [[v for v in s.final.get(metric, []) if math.isfinite(v)] for s in row]
            ax.boxplot([v or [math.nan] for v in values], showfliers=True)
            ax.set_xticks(range(1, len(row) + 1), [f"{s.objective}\n{s.trains}/{s.runs} train" for s in row], fontsize=7)
            ax.set_title(f"{dataset}: final {label} over {row[0].settings} settings x seeds", fontsize=9)
            ax.grid(alpha=0.3, axis="y")
            if metric != "modes_covered" and all(v and min(v) > 0 for v in values):
                ax.set_yscale("log")
    fig.tight_layout()
    _save(fig, path, compress_level=6)
    return Path(path)


def plot_gradient_norms(summaries: Sequence[Any], path: str | Path) -> Path:
    """D's input-gradient norm at fake, real and mixed points against iteration: one column per
    kind of point, one row per dataset, one line per setting (median over seeds, band min–max)."""
    datasets = list(dict.fromkeys(s.dataset for s in summaries))
    wheres = ("d_grad_fake", "d_grad_real", "d_grad_mixed")
    fig, axes = _panel_grid(len(datasets), len(wheres), panel=2.8, left=0.6, top=0.45, dpi=100, gap=0.62, bottom=0.45)
    colours = [f"C{i}" for i in range(10)]
    for r, dataset in enumerate(datasets):
        for c, where in enumerate(wheres):
            ax = axes[r][c]
            for k, s in enumerate(x for x in summaries if x.dataset == dataset):
                if where in s.curves:
                    _band(ax, *s.curves[where], colour=colours[k % 10], label=s.setting)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            ax.set_title(f"{dataset}: ‖∇ₓD‖ at {where.removeprefix('d_grad_')} points", fontsize=8, pad=3)
            if r == len(datasets) - 1:
                ax.set_xlabel("iteration", fontsize=8)
            if c == 0:
                ax.legend(fontsize=6, loc="best")
    _save(fig, path, compress_level=6)
    return Path(path)


def _band(ax: Axes, iterations: np.ndarray, values: np.ndarray, *, colour: str, label: str | None = None) -> None:
    """Median line and min–max band over the rows of ``values`` (seeds), ignoring NaN."""
    values = np.where(np.isfinite(values), values, np.nan)
    keep = np.isfinite(values).any(axis=0) & (iterations > 0)
    if not keep.any():
        return
    x, v = iterations[keep], values[:, keep]
    ax.fill_between(x, np.nanmin(v, axis=0), np.nanmax(v, axis=0), color=colour, alpha=0.2, lw=0)
    ax.plot(x, np.nanmedian(v, axis=0), color=colour, lw=1.4, label=label)


# ----- losses ---------------------------------------------------------------------------------

def load_losses(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The ``"train"`` records of ``metrics.jsonl`` as columns: ``iteration``, ``d_loss``, ``g_loss``
    and any other numeric statistic logged (``lam_mean``, ``d_real``, ...; NaN where a record lacks it).

    A line that is not valid JSON (a write cut short by a crash) is skipped.

    Example:
        >>> losses = load_losses("runs/tiny")  # doctest: +SKIP
        >>> losses["iteration"][:3], losses["d_loss"][:3]  # doctest: +SKIP
        (array([10, 20, 30]), array([1.38, 1.36, 1.31]))
    """
    records = read_records(Path(run_dir), "train")
    keys = ["iteration", "d_loss", "g_loss"]
    keys += sorted({k for r in records for k, v in r.items()
                    if k not in keys and k != "kind" and isinstance(v, (int, float)) and not isinstance(v, bool)})
    columns = {k: np.array([float(r.get(k, math.nan)) for r in records], dtype=np.float64) for k in keys}
    columns["iteration"] = columns["iteration"].astype(np.int64)
    return columns


def plot_losses(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Plot D and G loss against iteration (log x) to ``path`` (default ``run_dir/losses.png``).

    Example:
        >>> plot_losses("runs/tiny")  # doctest: +SKIP
        PosixPath('runs/tiny/losses.png')
    """
    run_dir = Path(run_dir)
    path = Path(path) if path is not None else run_dir / LOSSES_NAME
    losses = load_losses(run_dir)
    fig = _figure(5.0, 3.0, 100)
    ax = fig.add_axes((0.12, 0.16, 0.84, 0.74))
    it = losses["iteration"]
    for key, label in (("d_loss", "D loss"), ("g_loss", "G loss")):
        # inf/NaN losses become gaps, so a diverged run still plots its finite part.
        y = np.where(np.isfinite(losses[key]), losses[key], np.nan)
        ax.plot(it, y, lw=1, label=label)
    if len(it):
        ax.set_xscale("log")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no training records", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("iteration", fontsize=9)
    ax.set_ylabel("loss", fontsize=9)
    ax.set_title(run_dir.name, fontsize=9)
    ax.tick_params(labelsize=8)
    _save(fig, path, compress_level=6)
    return path


# ----- several runs ---------------------------------------------------------------------------

def snapshot_iterations(run_dir: str | Path) -> list[int]:
    """The iterations of a run's snapshots, ascending, read from the file names alone."""
    return [_iteration_of(p) for p in _snapshot_files(Path(run_dir))]


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


def render_comparison(run_dirs: dict[str, str | Path], out_dir: str | Path, *, fps: float = 10,
                      workers: int | None = None, max_frames: int | None = None, quiver: bool = True) -> dict[str, Path]:
    """Show several runs side by side: ``comparison.gif`` and the grid ``figure5.png``.

    Each GIF frame has one panel per run (in the dict's order), all at the same iteration, over the
    iterations that all runs snapshotted; a panel is the run's own frame (``render_frame``), so an
    image comparison is ``len(run_dirs)`` frames wide. ``figure5.png`` has one row per run (labelled
    with its key) and one column per paper iteration the runs reached (see ``figure_iterations``),
    titled "iteration N"; for image runs a cell shows the first ``GRID_CELL_SAMPLES`` (36, a 6 x 6
    grid) samples of the fixed noise batch, enough to judge variety while each stays legible.
    Frames go to ``out_dir/comparison_frames``.

    The runs must be of one kind (all points or all images; ``RenderError`` otherwise). An iteration
    at which any run's snapshot is damaged is left out of the GIF, and a damaged figure cell says so,
    each with a one-line warning on stderr; ``SnapshotError`` when nothing is readable. ``out_dir``'s
    render lock is held throughout (``RunLockedError`` while another process renders into it).

    Returns ``{"gif": ..., "frames": ..., "figure5": ...}``.

    Example:
        >>> render_comparison({"ERM GAN": "runs/erm", "mixup GAN (α = 0.2)": "runs/mixup"}, "runs/compare")  # doctest: +SKIP
        {'gif': PosixPath('runs/compare/comparison.gif'), ...}
    """
    validate_options(fps=fps, workers=workers, max_frames=max_frames)
    if not run_dirs:
        raise ValueError("render_comparison needs at least one run")
    with render_lock(out_dir):
        return _render_comparison(run_dirs, Path(out_dir), fps=fps, workers=workers, max_frames=max_frames,
                                  quiver=quiver)


def _render_comparison(run_dirs: dict[str, str | Path], out_dir: Path, *, fps: float, workers: int | None,
                       max_frames: int | None, quiver: bool) -> dict[str, Path]:
    labels = [str(label) for label in run_dirs]
    dirs = [Path(d) for d in run_dirs.values()]
    references = [_read_reference(d) for d in dirs]
    _one_kind(references, labels)
    iterations = common_iterations(dirs)
    if max_frames is not None:
        iterations = thin_iterations(iterations, max_frames)
    frames_dir = out_dir / COMPARISON_FRAMES_DIR
    _clear_frames(frames_dir)
    frame_paths = [frames_dir / FRAME_NAME.format(i) for i in range(len(iterations))]
    jobs = [([_snapshot_file(d, it) for d in dirs], frame) for it, frame in zip(iterations, frame_paths)]
    damaged = _map(_render_comparison_frames, (labels, references, quiver), jobs, _worker_count(workers, len(jobs)))
    frame_paths = _skip_damaged(damaged, frame_paths, "the runs have no iteration with a readable snapshot in each")
    gif = write_gif(frame_paths, out_dir / COMPARISON_GIF, fps=fps)
    grid = _render_run_grid(labels, dirs, references, figure_iterations(iterations), out_dir / FIGURE5_NAME)
    return {"gif": gif, "frames": frames_dir, "figure5": grid}


def _render_comparison_frames(labels: list[str], references: list[Reference], quiver: bool,
                              jobs: list[tuple[list[Path], Path]]) -> list[tuple[Path, list[_Damaged]]]:
    """Render ``(one snapshot file per run, frame path)`` jobs, one panel per run, on one reused figure.

    Returns ``(frame path, [problems])`` for each frame left out because a snapshot could not be read.
    """
    n = len(labels)
    kind = references[0].kind
    if kind == "images":
        # Each panel is exactly a single image frame, IMAGE_FRAME_INCHES wide, laid side by side.
        fig = _figure(IMAGE_FRAME_INCHES * n, IMAGE_FRAME_INCHES, FRAME_DPI)
        left, bottom, width, height = IMAGE_AXES
        axes = [fig.add_axes(((k + left) / n, bottom, width / n, height)) for k in range(n)]
        for ax in axes:
            ax.set_axis_off()
    else:
        panel = 3.2
        fig = _figure(panel * n, panel + 0.15, FRAME_DPI)
        axes = [fig.add_axes(((k + 0.13) / n, 0.07, 0.82 / n, 0.82)) for k in range(n)]
        for ax in axes:
            _frame_ticks(ax, labelsize=6)
    damaged = []
    for snapshot_files, frame_path in jobs:
        snapshots = [_try_read_snapshot(f, kind) for f in snapshot_files]
        problems = [s for s in snapshots if isinstance(s, _Damaged)]
        if problems:
            damaged.append((frame_path, problems))
            continue
        for ax, label, reference, snapshot in zip(axes, labels, references, snapshots):
            render_frame(reference, snapshot, None, title=label, ax=ax, quiver=quiver)
        _save(fig, frame_path)
        for ax in axes:
            _clear_data(ax)
    return damaged


def _render_run_grid(labels: list[str], dirs: list[Path], references: list[Reference], iterations: list[int],
                     path: Path) -> Path:
    """One row per run, one column per iteration, each panel the frame recipe (points) or the first
    ``GRID_CELL_SAMPLES`` samples (images)."""
    images = references[0].kind == "images"
    if images:
        fig, axes = _panel_grid(len(labels), len(iterations), panel=GRID_CELL_INCHES, left=0.35, top=0.35, dpi=90)
    else:
        fig, axes = _panel_grid(len(labels), len(iterations), panel=1.9, left=0.45, top=0.35, dpi=90)
    cells = [(r, c, run_dir, reference, it) for r, (run_dir, reference) in enumerate(zip(dirs, references))
             for c, it in enumerate(iterations)]
    problems: list[_Damaged] = []
    for r, c, run_dir, reference, it in cells:
        ax = axes[r][c]
        _draw_grid_cell(ax, run_dir, reference, it, problems, lambda snap: _draw_panel(ax, reference, snap))
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title(f"iteration {it}", fontsize=9, pad=3)
        if c == 0:
            ax.set_ylabel(labels[r], fontsize=9)
    _grid_problems(problems, len(cells))
    _save(fig, path, compress_level=6)
    return path


def _draw_grid_cell(ax: Axes, run_dir: Path, reference: Reference, iteration: int, problems: list[_Damaged],
                    draw_points: Callable[[Snapshot], Any]) -> None:
    """One cell of a figure grid: the first ``GRID_CELL_SAMPLES`` samples of an image run, or
    ``draw_points(snapshot)`` for points; a damaged snapshot is a blank cell, noted in ``problems``."""
    snapshot = _try_read_snapshot(_snapshot_file(run_dir, iteration), reference.kind)
    if isinstance(snapshot, _Damaged):
        problems.append(snapshot)
        _damaged_cell(ax)
    elif reference.kind == "images":
        _draw_samples(ax, snapshot.fake, GRID_CELL_SAMPLES)
    else:
        draw_points(snapshot)


def _damaged_cell(ax: Axes) -> None:
    ax.text(0.5, 0.5, "damaged\nsnapshot", ha="center", va="center", fontsize=8, color="0.4", transform=ax.transAxes)


def _all_damaged(damaged: list[_Damaged]) -> str:
    return (f": {len(damaged)} damaged, the first {damaged[0].path}; re-train the run (with --overwrite) "
            f"to recreate its snapshots")


def _grid_problems(problems: list[_Damaged], cells: int) -> None:
    """Warn about the damaged cells of a figure; ``SnapshotError`` when every cell is."""
    if problems and len(problems) == cells:
        raise SnapshotError("no snapshot of the figure is readable" + _all_damaged(problems))
    for problem in problems:
        warnings.warn(f"{problem.message} (its figure cell is left blank)", GanMixupWarning, stacklevel=2)


def render_figure5(runs: dict[tuple[str, str], str | Path], out_path: str | Path) -> Path:
    """The paper's Figure 5: one row per dataset, one block of columns per objective.

    ``runs`` maps ``(dataset, objective label)`` to a run directory, e.g.
    ``{("grid25", "ERM GAN"): ..., ("grid25", "mixup GAN (α = 0.2)"): ..., ("ring8", ...): ...}``.
    Rows follow the datasets' first appearance, blocks the objectives'; every (dataset, objective)
    pair must be present. Columns are the paper's iterations that all runs reached (see
    ``figure_iterations``). As in the paper, point panels show the real mode centres in one colour
    and the translucent fake samples (the real samples, faint, for data without modes), axes off,
    with limits fixed per dataset (the largest extent of its runs). Image runs (say digits and
    CIFAR rows) are drawn too: each panel is the first ``GRID_CELL_SAMPLES`` (36) samples as a
    6 x 6 grid, as in ``render_comparison``. Points and image runs in one figure raise
    ``RenderError``; a damaged snapshot leaves its panel blank with a warning on stderr. Returns
    ``out_path``.

    Example:
        >>> render_figure5({("ring8", "ERM GAN"): "runs/r-erm", ("ring8", "mixup GAN (α = 0.2)"): "runs/r-mix"},
        ...                "figure5.png")  # doctest: +SKIP
    """
    if not runs:
        raise ValueError("render_figure5 needs at least one run")
    datasets = list(dict.fromkeys(dataset for dataset, _ in runs))
    objectives = list(dict.fromkeys(objective for _, objective in runs))
    missing = [(d, o) for d in datasets for o in objectives if (d, o) not in runs]
    if missing:
        raise ValueError(f"render_figure5 needs every (dataset, objective) pair; missing: {missing}")
    dirs = {key: Path(d) for key, d in runs.items()}
    references = {key: _read_reference(d) for key, d in dirs.items()}
    images = _one_kind(list(references.values()), [f"{d} / {o}" for d, o in references]) == "images"
    iterations = figure_iterations(common_iterations(dirs.values()))
    n_it = len(iterations)
    block_gap = 0.35  # inches between objective blocks, so the halves read as two figures
    panel, dpi = (GRID_CELL_INCHES, 90) if images else (1.25, 80)
    fig, axes = _panel_grid(len(datasets), n_it * len(objectives), panel=panel, left=0.5, top=0.62, dpi=dpi,
                            block=n_it, block_gap=block_gap)
    problems: list[_Damaged] = []
    for r, dataset in enumerate(datasets):
        for b, objective in enumerate(objectives):
            reference = references[(dataset, objective)]
            for c, it in enumerate(iterations):
                ax = axes[r][b * n_it + c]
                extent = max(references[(dataset, o)].extent for o in objectives)
                _draw_grid_cell(ax, dirs[(dataset, objective)], reference, it, problems,
                                lambda snap: _draw_figure5_points(ax, reference, snap, extent))
                ax.axis("off")
                if r == 0:
                    ax.set_title(f"iteration {it}", fontsize=8, pad=2)
        # axis("off") hides ylabels, so the dataset name is figure text beside the row.
        box = axes[r][0].get_position()
        fig.text(box.x0 - 0.1 / fig.get_figwidth(), (box.y0 + box.y1) / 2, dataset, rotation=90,
                 ha="right", va="center", fontsize=9)
    _grid_problems(problems, len(datasets) * len(objectives) * n_it)
    for b, objective in enumerate(objectives):
        first, last = axes[0][b * n_it].get_position(), axes[0][(b + 1) * n_it - 1].get_position()
        fig.text((first.x0 + last.x1) / 2, 1 - 0.12 / fig.get_figheight(), objective, ha="center", va="top",
                 fontsize=10, fontweight="bold")
    out_path = Path(out_path)
    _save(fig, out_path, compress_level=9)
    return out_path


def _draw_figure5_points(ax: Axes, reference: Reference, snapshot: Snapshot, extent: float) -> None:
    fake = snapshot.fake[np.isfinite(snapshot.fake).all(axis=1)]
    ax.plot(fake[:, 0], fake[:, 1], ".", color=FIG5_FAKE_COLOUR, alpha=0.25, ms=2.5, mew=0, ls="none")
    if len(reference.modes):
        ax.plot(reference.modes[:, 0], reference.modes[:, 1], "o", color=FIG5_MODE_COLOUR, ms=2.5,
                mew=0, ls="none")
    else:  # a continuous shape (spiral, moons) has no means: show its samples, faint, instead
        ax.plot(reference.real[:, 0], reference.real[:, 1], ".", color=FIG5_MODE_COLOUR, alpha=0.15,
                ms=1.5, mew=0, ls="none")
    _fix_axes(ax, extent)


def _panel_grid(rows: int, cols: int, *, panel: float, left: float, top: float, dpi: int, gap: float = 0.08,
                bottom: float = 0.08, right: float = 0.08, block: int | None = None,
                block_gap: float = 0.0) -> tuple[Figure, list[list[Axes]]]:
    """A figure of ``rows`` x ``cols`` square panels of ``panel`` inches at fixed positions (sizes in
    inches), so the picture grows by exactly one panel per row or column; ``block`` columns form a
    group followed by an extra ``block_gap``."""
    blocks = (cols - 1) // block if block else 0
    width = left + cols * panel + (cols - 1) * gap + blocks * block_gap + right
    height = top + rows * panel + (rows - 1) * gap + bottom
    fig = _figure(width, height, dpi)
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

def _kind_of(reference: Reference) -> str:
    if reference.kind not in KINDS:
        raise RenderError(f"unknown run kind {reference.kind!r} (this version draws {', '.join(KINDS)})")
    return reference.kind


def _one_kind(references: list[Reference], labels: list[str]) -> str:
    """The kind all ``references`` share; ``RenderError`` naming each run's kind when they differ."""
    kinds = [_kind_of(r) for r in references]
    if len(set(kinds)) > 1:
        listed = ", ".join(f"{label!r} ({kind})" for label, kind in zip(labels, kinds))
        raise RenderError(f"cannot draw points and image runs in one figure: {listed}; compare runs of one kind")
    return kinds[0]


def _sample_problem(kind: str, fake: np.ndarray) -> str:
    """Why ``fake`` is not a sample batch of ``kind`` ('' if it is one)."""
    fake = np.asarray(fake)
    if kind == "images":
        if fake.dtype != np.uint8 or fake.ndim != 4 or fake.shape[1] not in (1, 3) or not len(fake):
            return f"expected images as uint8 (N, C, H, W) with C = 1 or 3, got {fake.dtype} {fake.shape}"
    elif fake.ndim != 2 or fake.shape[1] != 2:
        return f"expected 2-D points (N, 2), got {fake.dtype} {fake.shape}"
    return ""


def _read_reference(run_dir: Path) -> Reference:
    """``read_reference``, of a known kind; a damaged file is ``SnapshotError`` naming it, a missing one
    ``NothingToRenderError`` in a run that has its ``config.json`` (training stopped before writing
    it), ``FileNotFoundError`` elsewhere."""
    try:
        reference = read_reference(run_dir)
    except NotARunDirectoryError:
        if (Path(run_dir) / CONFIG_FILE).is_file():
            raise _nothing_yet(Path(run_dir)) from None
        raise
    except (GanMixupError, FileNotFoundError):
        raise
    except _READ_ERRORS as err:
        path = Path(run_dir) / SNAPSHOT_DIR / REFERENCE_FILE
        raise SnapshotError(f"{path} is damaged ({_reason(err)}); the run's frames cannot be drawn without it") from None
    _kind_of(reference)
    return reference


def _try_read_snapshot(path: Path, kind: str) -> Snapshot | _Damaged:
    """The snapshot at ``path``, or why it cannot be drawn: truncated, corrupt, missing, or samples of
    the wrong shape for the run's ``kind``."""
    try:
        snapshot = read_snapshot(path)
    except _READ_ERRORS as err:
        # gan_mixup.rundir's own SnapshotError already names the file and says what to do.
        message = str(err) if isinstance(err, GanMixupError) else _damaged_message(path, _reason(err))
        return _Damaged(Path(path), message)
    problem = _sample_problem(kind, snapshot.fake)
    return _Damaged(Path(path), _damaged_message(path, problem)) if problem else snapshot


def _damaged_message(path: Path, reason: str) -> str:
    return f"snapshot file {path} is damaged ({reason}); delete it to render the rest"


def _reason(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:120]}" if lines else type(err).__name__


def _snapshot_files(run_dir: Path) -> list[Path]:
    try:
        files = list_snapshots(run_dir)
    except NotARunDirectoryError:
        if (Path(run_dir) / CONFIG_FILE).is_file():
            raise _nothing_yet(Path(run_dir)) from None
        raise
    if not files:
        raise _nothing_yet(Path(run_dir))
    return files


def _nothing_yet(run_dir: Path) -> NothingToRenderError:
    return NothingToRenderError(f"nothing to render yet: {run_dir} has no snapshots (snapshots/it_*.npz); its training "
                                "stopped before the first one: continue it with --resume, then render")


def _snapshot_file(run_dir: Path, iteration: int) -> Path:
    return snapshot_path(Path(run_dir), iteration)


def _iteration_of(snapshot_file: Path) -> int:
    return int(snapshot_file.stem.split("_", 1)[1])  # "it_00000100" -> 100


def validate_options(*, fps: float = 10, workers: int | None = None, max_frames: int | None = None) -> None:
    """``RenderError`` unless ``fps`` is a positive number, ``workers`` ``None`` or an integer >= 1, and
    ``max_frames`` ``None`` or an integer >= 2 (a GIF keeps its first and last frame)."""
    _check_fps(fps)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise RenderError(f"workers must be a positive integer (processes drawing frames), got {workers!r}")
    if max_frames is not None:
        thin_iterations([], max_frames)


def _check_fps(fps: float) -> None:
    if isinstance(fps, bool) or not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise RenderError(f"fps must be a positive number (GIF frames per second), got {fps!r}")


def _worker_count(workers: int | None, tasks: int) -> int:
    if workers is None:
        # The CPUs this process may run on (a container or taskset may allow fewer than the machine has).
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(1, min(cpus, MAX_DEFAULT_WORKERS, tasks // FRAMES_PER_WORKER))
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


def _map(fn: Callable[..., list[Any]], shared: tuple[Any, ...], jobs: list[Any], workers: int) -> list[Any]:
    """Run ``fn(*shared, chunk)`` over contiguous chunks of ``jobs``: in this process as one chunk
    (``workers == 1``), or in a process pool, two chunks per worker to even out the load. Returns the
    lists ``fn`` returned, concatenated in job order."""
    if workers == 1:
        return list(fn(*shared, jobs))
    # Not "fork": the caller may hold torch's thread pools (render right after training), and
    # forking a multi-threaded process can deadlock a child. A forkserver forks clean children from
    # one server that has imported this module once, so each worker starts in milliseconds. Like
    # any spawn/forkserver pool, it needs the calling script's `if __name__ == "__main__":` guard.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload([__name__])
    bounds = np.linspace(0, len(jobs), min(len(jobs), 2 * workers) + 1).astype(int)
    chunks = [jobs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    results: list[Any] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        # Workers (and the forkserver) start with SIGINT blocked, inherited from this thread's mask:
        # Ctrl-C reaches only this process, which stops the pool, instead of one traceback per child.
        with _sigint_blocked():
            futures = [pool.submit(fn, *shared, chunk) for chunk in chunks]
        for future in futures:
            results.extend(future.result())  # re-raises a worker's exception here
    return results


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a Ctrl-C that came meanwhile is delivered now

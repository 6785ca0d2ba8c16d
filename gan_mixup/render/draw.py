"""How one frame or grid cell is drawn: D, real and fake points and G's gradient arrows for points, a
sample grid for images."""
from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gan_mixup.rundir import Reference, Snapshot
from gan_mixup.render.common import (
    D_CMAP, D_LEVELS, FAKE_COLOUR, FIG5_FAKE_COLOUR, FIG5_MODE_COLOUR, FRAME_DPI, FRAME_INCHES, GRID_PADDING,
    GRID_PAD_VALUE, IMAGE_AXES, IMAGE_FRAME_INCHES, MODE_COLOUR, QUIVER_ARROWS, QUIVER_CMAP, QUIVER_LENGTH,
    REAL_COLOUR, SAMPLES_GID, _figure, _fix_axes,
)

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

"""How an images run is drawn: pytorch/examples' DCGAN picture, the fixed noise batch's samples as one grid.

The grid is ``torchvision.utils.make_grid``'s: ``ceil(sqrt(N))`` samples per row, ``GRID_PADDING``
mid-grey pixels around and between them; grey images go through a grey colour map with black at 0
and white at 255 in every frame, RGB as they are, nearest-neighbour scaled, axes off.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from matplotlib.axes import Axes

from gan_mixup.modalities.common import REUSABLE_GID, clear_frame  # noqa: F401  (this module's clear_frame: the shared one)

GRID_PADDING = 2  # pixels between samples, as make_grid's default
GRID_PAD_VALUE = 128  # mid-grey: separates white-on-black digits and colour images alike
GRID_CELL_SAMPLES = 36  # a figure cell shows the first 36 samples (6 x 6), small enough to read


def sample_problem(fake: Any) -> str:
    """Why ``fake`` is not a batch of uint8 images ``(N, C, H, W)``, C = 1 or 3 ('' if it is one)."""
    fake = np.asarray(fake)
    if fake.dtype != np.uint8 or fake.ndim != 4 or fake.shape[1] not in (1, 3) or not len(fake):
        return f"expected images as uint8 (N, C, H, W) with C = 1 or 3, got {fake.dtype} {fake.shape}"
    return ""


def sample_grid(images: np.ndarray, limit: int | None = None) -> np.ndarray:
    """Tile ``(N, C, H, W)`` uint8 images (the first ``limit`` of them) into one ``(rows, cols, C)`` picture.

    Example:
        >>> sample_grid(np.zeros((10, 1, 4, 4), np.uint8)).shape  # 4 per row, 3 rows of 4 + 2 px
        (20, 26, 1)
    """
    from torchvision.utils import make_grid  # torchvision: heavy to import; the viewer draws toy runs without it

    images = np.asarray(images)[:limit]
    n, c = images.shape[:2]
    if n == 1:  # make_grid returns a lone image unpadded; a grid of one keeps its frame
        p = GRID_PADDING
        return np.pad(images[0].transpose(1, 2, 0), ((p, p), (p, p), (0, 0)), constant_values=GRID_PAD_VALUE)
    grid = make_grid(torch.from_numpy(np.ascontiguousarray(images)), nrow=math.ceil(math.sqrt(n)), padding=GRID_PADDING,
                     pad_value=GRID_PAD_VALUE)
    return grid.numpy()[:c].transpose(1, 2, 0)  # make_grid gives grey as 3 channels: keep C


def draw_samples(ax: Axes, fake: np.ndarray, limit: int | None = None) -> str:
    """Show image samples as one grid in ``ax``, reusing its sample image when the grid's shape is the
    same (``set_data`` is far cheaper than a new ``imshow``); return a title note ('' always)."""
    grid = sample_grid(fake, limit)
    if grid.shape[2] == 1:
        grid = grid[:, :, 0]  # grey: a 2-D array through the grey colour map
    reusable = [im for im in ax.images if im.get_gid() == REUSABLE_GID]
    if reusable and reusable[0].get_array().shape == grid.shape:
        reusable[0].set_data(grid)
        return ""
    for im in reusable:
        im.remove()
    # Fixed vmin/vmax: black is 0 and white 255 in every frame, never stretched to the data's range.
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest", gid=REUSABLE_GID)
    return ""


def setup_axes(ax: Axes, labelsize: float) -> None:
    """A sample grid has no axes to read: none shown."""
    ax.set_axis_off()


def draw_frame(ax: Axes, reference: Any, snapshot: Any, quiver: bool = True) -> str:
    """One frame: the fixed noise batch's samples as one grid (images have no arrows: ``quiver`` is unused)."""
    return draw_samples(ax, snapshot.fake)


def draw_cell(ax: Axes, reference: Any, snapshot: Any) -> None:
    """One cell of a comparison grid: the first ``GRID_CELL_SAMPLES`` samples."""
    draw_samples(ax, snapshot.fake, GRID_CELL_SAMPLES)


def draw_figure5_cell(ax: Axes, reference: Any, snapshot: Any, extent: float) -> None:
    """One cell of Figure 5: as a comparison cell (``extent`` is the toy frames')."""
    draw_cell(ax, reference, snapshot)

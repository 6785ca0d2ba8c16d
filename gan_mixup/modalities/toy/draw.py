"""How a toy run is drawn: igul222's ``gan_toy.py`` frame recipe, the comparison cell and Figure 5.

A frame is D's output (sigmoid, fixed 0..1 colour scale) as a filled contour behind the real samples
(faint), the fake samples (bold) and the mode centres (if the data has any), on the fixed square
``[-extent, extent]²`` with equal aspect, so the GIF does not jitter. Non-finite fake samples are
dropped and counted in the title, so a diverged run still renders. With ``quiver`` (and a snapshot
that recorded D's input gradients) light arrows at up to ``QUIVER_ARROWS`` fake samples point along
∇ₓ D's logit: −∇ of G's loss, where G's next step pushes each sample; all arrows have one length, so
they show direction, and their shade shows the norm (darker = steeper).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from gan_mixup.modalities.common import clear_frame  # noqa: F401  (this module's clear_frame: the shared one)

# Colours: D's output on a diverging map (red = "real", blue = "fake"), gan_toy's orange real
# samples and a dark green for the fakes, which reads on both ends of the map.
D_CMAP = "RdBu_r"
D_LEVELS = np.linspace(0.0, 1.0, 11)  # fixed levels, so one colour means one D value in every frame
REAL_COLOUR = "#ff7f0e"
FAKE_COLOUR = "#0b5d1e"
# G's gradient arrows: at most this many, each QUIVER_LENGTH x the frame's half-width long, light
# grey to black by the norm of ∇ₓ D's logit.
QUIVER_ARROWS = 150
QUIVER_LENGTH = 0.09
QUIVER_CMAP = "Greys"
MODE_COLOUR = "black"
# Figure 5: modes in one colour, fakes translucent, no D (as in the paper).
FIG5_MODE_COLOUR = "#d62728"
FIG5_FAKE_COLOUR = "#1f4e9c"


def sample_problem(fake: Any) -> str:
    """Why ``fake`` is not a batch of 2-D points ``(N, 2)`` ('' if it is one)."""
    fake = np.asarray(fake)
    if fake.ndim != 2 or fake.shape[1] != 2:
        return f"expected 2-D points (N, 2), got {fake.dtype} {fake.shape}"
    return ""


def setup_axes(ax: Axes, labelsize: float) -> None:
    # At most 5 ticks per axis: tick labels are the largest drawing cost of a small frame
    # (about a third of it with matplotlib's default 7-9), and they say nothing that changes.
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(4, steps=[1, 2, 5, 10]))
    ax.tick_params(labelsize=labelsize, length=2, pad=1)


def draw_frame(ax: Axes, reference: Any, snapshot: Any, quiver: bool = False) -> str:
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
    fix_axes(ax, reference.extent)
    dropped = int((~finite).sum())
    return f"\n({dropped} non-finite samples dropped)" if dropped else ""


def draw_cell(ax: Axes, reference: Any, snapshot: Any) -> None:
    """One cell of a comparison grid: the frame without G's arrows."""
    draw_frame(ax, reference, snapshot, quiver=False)


def draw_figure5_cell(ax: Axes, reference: Any, snapshot: Any, extent: float) -> None:
    """The paper's panel: the real mode centres in one colour, the translucent fake samples (the real
    samples, faint, for data without modes), within ``[-extent, extent]²``."""
    fake = snapshot.fake[np.isfinite(snapshot.fake).all(axis=1)]
    ax.plot(fake[:, 0], fake[:, 1], ".", color=FIG5_FAKE_COLOUR, alpha=0.25, ms=2.5, mew=0, ls="none")
    if len(reference.modes):
        ax.plot(reference.modes[:, 0], reference.modes[:, 1], "o", color=FIG5_MODE_COLOUR, ms=2.5,
                mew=0, ls="none")
    else:  # a continuous shape (spiral, moons) has no means: show its samples, faint, instead
        ax.plot(reference.real[:, 0], reference.real[:, 1], ".", color=FIG5_MODE_COLOUR, alpha=0.15,
                ms=1.5, mew=0, ls="none")
    fix_axes(ax, extent)


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


def fix_axes(ax: Axes, extent: float) -> None:
    # Limits set after drawing, so no point outside the square (an exploding G) can rescale the frame.
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal", adjustable="box")
    ax.set_autoscale_on(False)

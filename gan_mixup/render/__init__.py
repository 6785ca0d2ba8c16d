"""Frames, GIFs, side-by-side comparisons, the Figure-5 grid and a sweep's plots, drawn from a run directory alone.

Everything here reads the snapshot files of ``gan_mixup.rundir`` (plain ``.npz``) and draws with
matplotlib's object API (``Figure`` + the Agg canvas, never ``pyplot``), so rendering needs neither
the models nor the code that trained them, and frames can be drawn in parallel processes without
sharing any plotting state.

What a frame or a grid cell shows is the run's modality's (``gan_mixup.modalities``, found from the
kind ``reference.npz`` records): for points igul222's ``gan_toy.py`` recipe, the discriminator's
output behind the real and the fake samples on axes that stay fixed from frame to frame; for images
pytorch/examples' DCGAN picture, the fake samples of the fixed noise batch as one
``torchvision.utils.make_grid`` grid. This package lays out the figures, reads the files and writes
the pictures. Frames are written first, then the GIF is assembled from the frame files.

A damaged snapshot file (truncated, corrupt) is skipped with a one-line warning (``warnings``, a
``GanMixupWarning``) and the rest is rendered; ``SnapshotError`` is raised only when nothing is readable, or when the run's
``reference.npz`` is damaged (every frame needs it). A run with no snapshot yet (stopped before its
first) raises ``NothingToRenderError``.

Rendering holds the directory's render lock (``gan_mixup.rundir.render_locked``), not its training
lock: a run can be rendered while it trains, but a second render of it at the same time is refused
with ``RunLockedError``. Finished pictures are written to a temporary file and renamed.

The package by job: ``frames`` (a run's frames and GIF, runs side by side), ``gif``, ``figures``
(the comparison grid and Figure 5), ``plots`` (losses, mode bands, gradient norms, robustness, survival, calibration) and
``common`` (reading snapshots, damage, iterations, figures, the render lock, the frame workers).

Example:
    >>> from gan_mixup.render import render_run
    >>> paths = render_run("runs/ring8-mixup")  # doctest: +SKIP
    >>> paths["gif"]  # doctest: +SKIP
    PosixPath('runs/ring8-mixup/training.gif')
"""

from __future__ import annotations

from gan_mixup.render.common import (  # noqa: F401
    FRAME_DPI, FRAME_NAME, FRAMES_PER_WORKER, MAX_DEFAULT_WORKERS, NothingToRenderError, RenderError, RenderWarning,
    common_iterations, figure_iterations, render_lock, snapshot_iterations, thin_iterations, validate_options,
)
from gan_mixup.render.gif import (  # noqa: F401
    LAST_FRAME_HOLD_S, FAST_PALETTE_ABOVE, write_gif,
)
from gan_mixup.render.plots import (  # noqa: F401
    plot_mode_bands, plot_robustness, plot_gradient_norms, load_losses, plot_losses, plot_survival, plot_calibration,
)
from gan_mixup.render.figures import (  # noqa: F401
    render_figure5,
)
from gan_mixup.render.frames import (  # noqa: F401
    frame_figure, frame_pixels, render_comparison, render_frame, render_run,
)

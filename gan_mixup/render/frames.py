"""A run's frames and GIF (``render_run``) and several runs side by side (``render_comparison``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gan_mixup.rundir import (
    COMPARISON_FRAMES_DIR, COMPARISON_GIF_FILE as COMPARISON_GIF, FIGURE5_FILE as FIGURE5_NAME, FRAMES_DIR,
    GIF_FILE as GIF_NAME, LOSSES_FILE as LOSSES_NAME, METRICS_FILE, NotARunDirectoryError, REFERENCE_FILE,
    Reference, SNAPSHOT_DIR, Snapshot,
)
from gan_mixup.modalities import ModalitySpec, drawing_of
from gan_mixup.pool import map_chunks
from gan_mixup.render.common import (
    FRAME_DPI, FRAME_NAME, RenderError, Damaged, clear_frames, new_figure, iteration_of, run_modality,
    one_modality, read_run_reference, save_figure, skip_damaged, snapshot_file, snapshot_files, try_read_snapshot,
    worker_count, common_iterations, figure_iterations, render_lock, thin_iterations, validate_options,
)
from gan_mixup.render.figures import render_run_grid
from gan_mixup.render.gif import write_gif
from gan_mixup.render.plots import load_losses, plot_losses

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
    """Draw one snapshot and write it to ``path`` as a PNG, as the run's modality draws it.

    Toy runs (``gan_mixup.modalities.toy.draw``): gan_toy's recipe, D's output behind the real
    samples, the fake ones, the modes and (``quiver``) G's gradient arrows, on fixed axes; non-finite
    fake samples are dropped and counted in the title. Images (``gan_mixup.modalities.images.draw``):
    the fake samples as one ``torchvision.utils.make_grid`` grid, axes off.

    The title ends with the snapshot's iteration; ``title`` (e.g. a run's label) goes before it.
    With ``ax`` the panel is drawn into that axes, of a figure the caller owns, and ``path`` may be
    ``None`` (nothing is written; with a path the whole figure is saved). Without ``ax`` a figure of
    the modality's fixed ``frame_layout`` at ``FRAME_DPI`` is made, saved and released. Returns the
    axes drawn into. Samples of the wrong shape for the reference's modality raise ``RenderError``.

    Example:
        >>> from gan_mixup.rundir import read_reference, read_snapshots
        >>> ref = read_reference("runs/tiny")  # doctest: +SKIP
        >>> render_frame(ref, read_snapshots("runs/tiny")[-1], "last.png", title="mixup")  # doctest: +SKIP
    """
    modality = run_modality(reference)
    drawing = drawing_of(modality)
    problem = drawing.sample_problem(snapshot.fake)
    if problem:
        raise RenderError(f"cannot draw the snapshot of iteration {snapshot.iteration}: {problem}")
    if ax is None:
        if path is None:
            raise ValueError("render_frame needs a path to write to, or an ax to draw into")
        _, (ax,) = frame_figure(modality)
    text = drawing.draw_frame(ax, reference, snapshot, quiver=quiver)
    heading = f"iteration {snapshot.iteration}" if title is None else f"{title}, iteration {snapshot.iteration}"
    ax.set_title(heading + text, fontsize=9, pad=3)
    if path is not None:
        save_figure(ax.figure, path)
    return ax


def frame_pixels(reference: Reference, snapshot: Snapshot, *, quiver: bool = True) -> np.ndarray:
    """One frame (as ``render_frame`` draws it) as an RGB ``(H, W, 3)`` uint8 array, written nowhere."""
    fig, (ax,) = frame_figure(run_modality(reference))
    render_frame(reference, snapshot, None, ax=ax, quiver=quiver)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy()


def frame_figure(modality: ModalitySpec, panels: int = 0) -> tuple[Figure, list[Axes]]:
    """A bare figure for one frame of ``modality`` (``panels=0``), or for a comparison frame of
    ``panels`` panels side by side, with its axes dressed by the modality.

    Fixed axes positions (no tight/constrained layout): every frame has the same pixel size and the
    same plot area, so the GIF does not jitter.
    """
    layout = modality.comparison_layout if panels else modality.frame_layout
    n = panels or 1
    fig = new_figure(layout.width * n, layout.height, FRAME_DPI)
    left, bottom, width, height = layout.axes
    axes = [fig.add_axes(((k + left) / n, bottom, width / n, height)) for k in range(n)]
    for ax in axes:
        drawing_of(modality).setup_axes(ax, labelsize=6 if panels else 7)
    return fig, axes


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
    reference = read_run_reference(run_dir)
    files = snapshot_files(run_dir)
    if max_frames is not None:
        keep = set(thin_iterations([iteration_of(p) for p in files], max_frames))
        files = [p for p in files if iteration_of(p) in keep]
    frames_dir = run_dir / FRAMES_DIR
    clear_frames(frames_dir)
    frame_paths = [frames_dir / FRAME_NAME.format(i) for i in range(len(files))]
    jobs = list(zip(files, frame_paths))
    damaged = map_chunks(_render_run_frames, (reference, quiver), jobs, worker_count(workers, len(jobs)),
                         preload=run_modality(reference).render_modules)
    frame_paths = skip_damaged(damaged, frame_paths, f"{run_dir} has no readable snapshot")
    paths = {"frames": frames_dir, "gif": write_gif(frame_paths, run_dir / GIF_NAME, fps=fps)}
    # The loss plot is a bonus: a run copied without metrics.jsonl, or one stopped before its first
    # log record, still renders.
    if (run_dir / METRICS_FILE).is_file() and len(load_losses(run_dir)["iteration"]):
        paths["losses"] = plot_losses(run_dir, run_dir / LOSSES_NAME)
    return paths


def _render_run_frames(reference: Reference, quiver: bool, jobs: list[tuple[Path, Path]]) -> list[tuple[Path, list[Damaged]]]:
    """Render ``(snapshot file, frame path)`` jobs on one reused figure (in a worker, or serially).

    Workers read their own snapshots, so only paths and the small reference travel between processes.
    Returns ``(frame path, [what was damaged])`` for each frame not written because its snapshot
    could not be read.
    """
    modality = run_modality(reference)
    _, (ax,) = frame_figure(modality)
    damaged = []
    for path, frame_path in jobs:
        snapshot = try_read_snapshot(path, modality)
        if isinstance(snapshot, Damaged):
            damaged.append((frame_path, [snapshot]))
            continue
        render_frame(reference, snapshot, frame_path, ax=ax, quiver=quiver)
        drawing_of(modality).clear_frame(ax)
    return damaged


def render_comparison(run_dirs: dict[str, str | Path], out_dir: str | Path, *, fps: float = 10,
                      workers: int | None = None, max_frames: int | None = None, quiver: bool = True) -> dict[str, Path]:
    """Show several runs side by side: ``comparison.gif`` and the grid ``figure5.png``.

    Each GIF frame has one panel per run (in the dict's order), all at the same iteration, over the
    iterations that all runs snapshotted; a panel is the run's own frame (``render_frame``), so an
    image comparison is ``len(run_dirs)`` frames wide. ``figure5.png`` has one row per run (labelled
    with its key) and one column per paper iteration the runs reached (see ``figure_iterations``),
    titled "iteration N"; for image runs a cell shows the first 36 (a 6 x 6 grid)
    samples of the fixed noise batch, enough to judge variety while each stays legible.
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
    references = [read_run_reference(d) for d in dirs]
    one_modality(references, labels)
    iterations = common_iterations(dirs)
    if max_frames is not None:
        iterations = thin_iterations(iterations, max_frames)
    frames_dir = out_dir / COMPARISON_FRAMES_DIR
    clear_frames(frames_dir)
    frame_paths = [frames_dir / FRAME_NAME.format(i) for i in range(len(iterations))]
    jobs = [([snapshot_file(d, it) for d in dirs], frame) for it, frame in zip(iterations, frame_paths)]
    damaged = map_chunks(_render_comparison_frames, (labels, references, quiver), jobs, worker_count(workers, len(jobs)),
                         preload=run_modality(references[0]).render_modules)
    frame_paths = skip_damaged(damaged, frame_paths, "the runs have no iteration with a readable snapshot in each")
    gif = write_gif(frame_paths, out_dir / COMPARISON_GIF, fps=fps)
    grid = render_run_grid(labels, dirs, references, figure_iterations(iterations), out_dir / FIGURE5_NAME)
    return {"gif": gif, "frames": frames_dir, "figure5": grid}


def _render_comparison_frames(labels: list[str], references: list[Reference], quiver: bool,
                              jobs: list[tuple[list[Path], Path]]) -> list[tuple[Path, list[Damaged]]]:
    """Render ``(one snapshot file per run, frame path)`` jobs, one panel per run, on one reused figure.

    Returns ``(frame path, [problems])`` for each frame left out because a snapshot could not be read.
    """
    modality = run_modality(references[0])
    _, axes = frame_figure(modality, len(labels))
    damaged = []
    for paths, frame_path in jobs:
        snapshots = [try_read_snapshot(f, modality) for f in paths]
        problems = [s for s in snapshots if isinstance(s, Damaged)]
        if problems:
            damaged.append((frame_path, problems))
            continue
        for ax, label, reference, snapshot in zip(axes, labels, references, snapshots):
            render_frame(reference, snapshot, None, title=label, ax=ax, quiver=quiver)
        save_figure(axes[0].figure, frame_path)
        for ax in axes:
            drawing_of(modality).clear_frame(ax)
    return damaged

"""Grids of panels: the comparison grid (runs x iterations) and the paper's Figure 5."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

from matplotlib.axes import Axes

from gan_mixup.errors import GanMixupWarning
from gan_mixup.rundir import Reference, Snapshot, SnapshotError
from gan_mixup.modalities import ModalitySpec, drawing_of
from gan_mixup.render.common import (
    Damaged, all_damaged, one_modality, panel_grid, read_run_reference, save_figure, snapshot_file, try_read_snapshot,
    common_iterations, figure_iterations,
)


def render_run_grid(labels: list[str], dirs: list[Path], references: list[Reference], iterations: list[int],
                     path: Path) -> Path:
    """One row per run, one column per iteration, each cell as the modality draws it (``draw_cell``:
    the frame recipe without arrows for toy runs, the first 36 samples for images)."""
    modality = one_modality(references, labels)
    drawing = drawing_of(modality)
    cell = modality.compare_cell
    fig, axes = panel_grid(len(labels), len(iterations), panel=cell.inches, left=cell.left, top=0.35, dpi=cell.dpi)
    cells = [(r, c, run_dir, reference, it) for r, (run_dir, reference) in enumerate(zip(dirs, references))
             for c, it in enumerate(iterations)]
    problems: list[Damaged] = []
    for r, c, run_dir, reference, it in cells:
        ax = axes[r][c]
        _draw_grid_cell(ax, run_dir, modality, it, problems, lambda snap: drawing.draw_cell(ax, reference, snap))
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title(f"iteration {it}", fontsize=9, pad=3)
        if c == 0:
            ax.set_ylabel(labels[r], fontsize=9)
    _grid_problems(problems, len(cells))
    save_figure(fig, path, compress_level=6)
    return path


def _draw_grid_cell(ax: Axes, run_dir: Path, modality: ModalitySpec, iteration: int, problems: list[Damaged],
                    draw: Callable[[Snapshot], Any]) -> None:
    """One cell of a figure grid: ``draw(snapshot)``; a damaged snapshot is a blank cell, noted in ``problems``."""
    snapshot = try_read_snapshot(snapshot_file(run_dir, iteration), modality)
    if isinstance(snapshot, Damaged):
        problems.append(snapshot)
        _damaged_cell(ax)
    else:
        draw(snapshot)


def _damaged_cell(ax: Axes) -> None:
    ax.text(0.5, 0.5, "damaged\nsnapshot", ha="center", va="center", fontsize=8, color="0.4", transform=ax.transAxes)


def _grid_problems(problems: list[Damaged], cells: int) -> None:
    """Warn about the damaged cells of a figure; ``SnapshotError`` when every cell is."""
    if problems and len(problems) == cells:
        raise SnapshotError("no snapshot of the figure is readable" + all_damaged(problems))
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
    CIFAR rows) are drawn too: each panel is the first 36 samples as a
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
    references = {key: read_run_reference(d) for key, d in dirs.items()}
    modality = one_modality(list(references.values()), [f"{d} / {o}" for d, o in references])
    drawing = drawing_of(modality)
    iterations = figure_iterations(common_iterations(dirs.values()))
    n_it = len(iterations)
    block_gap = 0.35  # inches between objective blocks, so the halves read as two figures
    cell = modality.figure5_cell
    fig, axes = panel_grid(len(datasets), n_it * len(objectives), panel=cell.inches, left=cell.left, top=0.62,
                            dpi=cell.dpi, block=n_it, block_gap=block_gap)
    problems: list[Damaged] = []
    for r, dataset in enumerate(datasets):
        for b, objective in enumerate(objectives):
            reference = references[(dataset, objective)]
            for c, it in enumerate(iterations):
                ax = axes[r][b * n_it + c]
                extent = max(references[(dataset, o)].extent for o in objectives)
                _draw_grid_cell(ax, dirs[(dataset, objective)], modality, it, problems,
                                lambda snap: drawing.draw_figure5_cell(ax, reference, snap, extent))
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
    save_figure(fig, out_path, compress_level=9)
    return out_path

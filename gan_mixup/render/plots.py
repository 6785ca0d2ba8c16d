"""Line plots: a run's losses, a sweep's modes and gradient norms against iteration, its robustness boxes,
its survival curves, its calibration gap per arm."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gan_mixup.rundir import LOSSES_FILE as LOSSES_NAME, read_records
from gan_mixup.render.common import new_figure, panel_grid, save_figure

COVERED_COLOUR = "#1f4e9c"  # modes within 3σ (Figure 5's fake samples' blue)
NEAR_COLOUR = "#ff7f0e"  # modes within 10σ (the frames' orange)
GRADIENT_LEGEND_INSIDE = 10  # the most arms whose legend plot_gradient_norms draws inside a panel
CALIBRATION_LEGEND_INSIDE = 6  # the same for plot_calibration's gap curves, which share their panel with bands

# ----- a sweep's scorecard ---------------------------------------------------------------------

def plot_mode_bands(summaries: Sequence[Any], path: str | Path) -> Path:
    """Modes covered against iteration: one panel per setting, the median over seeds as a line and the
    min–max range as a band (within 3σ, and within 10σ where recorded), all modes as a dashed line.
    One row per dataset and hyperparameter setting (lr, β1, ...; one row per dataset in a sweep without
    those axes), one column per arm, so an arm keeps its column down the picture.

    ``summaries`` are ``gan_mixup.sweeps.SettingSummary`` objects (from ``summarise``)."""
    rows = _rows_by_hyperparameters(summaries)
    arms = _arms_by_dataset(summaries)
    cols = max(len(a) for a in arms.values())
    fig, axes = panel_grid(len(rows), cols, panel=2.4, left=0.55, top=0.45, dpi=100, gap=0.62, bottom=0.45)
    for r, ((dataset, hyper), row) in enumerate(rows.items()):
        placed = {arms[dataset].index(s.arm): s for s in row}
        for c in range(cols):
            ax = axes[r][c]
            if c not in placed:
                ax.set_axis_off()
                continue
            s = placed[c]
            ax.set_title(f"{dataset}: {s.arm}\n{hyper + ', ' if hyper else ''}{s.seeds} seeds", fontsize=8, pad=3)
            if "modes_covered" in s.curves:
                _band(ax, *s.curves["modes_covered"], colour=COVERED_COLOUR, label="within 3σ")
            if "modes_near" in s.curves:
                _band(ax, *s.curves["modes_near"], colour=NEAR_COLOUR, label="within 10σ")
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
            if r == len(rows) - 1:
                ax.set_xlabel("iteration", fontsize=8)
    save_figure(fig, path, compress_level=6)
    return Path(path)


def _rows_by_hyperparameters(summaries: Sequence[Any]) -> dict[tuple[str, str], list[Any]]:
    """The summaries grouped by dataset x hyperparameter setting, in order of first appearance."""
    rows: dict[tuple[str, str], list[Any]] = {}
    for s in summaries:
        rows.setdefault((s.dataset, s.hyperparameters), []).append(s)
    return rows


def _arms_by_dataset(summaries: Sequence[Any]) -> dict[str, list[str]]:
    """Each dataset's arms in order of first appearance: an arm's column, or colour, in every row."""
    arms: dict[str, list[str]] = {}
    for s in summaries:
        if s.arm not in arms.setdefault(s.dataset, []):
            arms[s.dataset].append(s.arm)
    return arms


def arm_style(k: int) -> tuple[str, str, str]:
    """The colour, line style and marker of the ``k``-th arm of a picture: matplotlib's ten colours,
    then the same ten dashed with square markers, so a study's 11 or more arms stay apart."""
    return f"C{k % 10}", "-" if k % 20 < 10 else "--", "o" if k % 20 < 10 else "s"


def plot_robustness(spreads: Sequence[Any], path: str | Path) -> Path:
    """Per dataset, one box per arm of its runs' final values over every hyperparameter setting and
    seed: the Fréchet distance (images; toy: sliced Wasserstein) and the modes covered. A run stopped on a
    non-finite loss has no final value (``verdicts.final_value``) and is counted under its box instead.

    ``spreads`` are ``gan_mixup.sweeps.scorecard.ArmSpread`` objects (from ``robustness``)."""
    datasets = list(dict.fromkeys(s.dataset for s in spreads))
    most = max(sum(s.dataset == d for s in spreads) for d in datasets)
    fig = Figure(figsize=(max(9.0, 1.3 * most + 1.5), (3.2 if most <= 4 else 4.2) * len(datasets)), dpi=100)
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    for r, dataset in enumerate(datasets):
        row = [s for s in spreads if s.dataset == dataset]
        for c, (metric, label) in enumerate(((row[0].distance_metric, row[0].distance_metric.replace("_", " ")),
                                             ("modes_covered", "modes covered"))):
            ax = axes[r][c]
            values = [[v for v in s.final.get(metric, []) if math.isfinite(v)] for s in row]
            ax.boxplot([v or [math.nan] for v in values], showfliers=False)
            for i, v in enumerate(values, start=1):  # every run, spread sideways so equal values stay visible
                ax.plot([i + 0.25 * ((j * 0.618) % 1 - 0.5) for j in range(len(v))], v, ".", color="C0", ms=3, alpha=0.6)
            ticks = [f"{s.arm}\n{s.trains}/{s.runs} train" + (f", {s.diverged} diverged" if s.diverged else "") for s in row]
            ax.set_xticks(range(1, len(row) + 1), ticks, fontsize=7,
                          rotation=0 if len(row) <= 4 else 35, ha="center" if len(row) <= 4 else "right")
            ax.set_title(f"{dataset}: final {label} over {row[0].settings} settings x seeds", fontsize=9)
            ax.grid(alpha=0.3, axis="y")
            if metric != "modes_covered" and all(v and min(v) > 0 for v in values):
                ax.set_yscale("log")
    fig.tight_layout()
    save_figure(fig, path, compress_level=6)
    return Path(path)


SURVIVAL_SPREAD = 0.007  # how far apart survival.png draws two arms' curves (a fraction of the runs)


def plot_survival(curves: Sequence[Any], path: str | Path) -> Path:
    """Kaplan–Meier curves in one figure: one panel per dataset, one step line per arm (the fraction of
    its runs not yet failed against iteration, log-scaled), each censored run a tick on its arm's line,
    the median time to failure in the legend.

    ``curves`` are ``gan_mixup.sweeps.survival.SurvivalCurve`` objects (from ``survival_curves``)."""
    datasets = list(dict.fromkeys(c.dataset for c in curves))
    fig = Figure(figsize=(5.2 * len(datasets), 3.6), dpi=100)
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, dataset in zip(axes, datasets):
        shown = [x for x in curves if x.dataset == dataset]
        for k, c in enumerate(shown):
            # Arms with equal curves (all alive, say) would hide each other: each is drawn a little apart,
            # up to ±3.5% over 11 arms, as the title says.
            lift = SURVIVAL_SPREAD * (k - (len(shown) - 1) / 2) if len(shown) > 1 else 0.0
            xs = [1, *(max(t, 1) for t in c.times), max(c.last, 1)]  # iteration 0 drawn at 1: the axis is log-scaled
            ys = [1.0 + lift, *(v + lift for v in c.survival), (c.survival[-1] if c.survival else 1.0) + lift]
            median = "never" if c.median is None else f"{c.median:,}"
            colour, line, _ = arm_style(k)
            ax.step(xs, ys, where="post", color=colour, ls=line, lw=1.4,
                    label=f"{c.arm} ({c.failures}/{c.runs} failed; median {median})")
            censored = [o.iteration for o in c.outcomes if not o.failed]
            if censored:
                level = [next((s for t, s in reversed(list(zip(c.times, c.survival))) if t <= x), 1.0) + lift
                         for x in censored]
                ax.plot([max(x, 1) for x in censored], level, "|", color=colour, ms=8)
        ax.set_xscale("log")
        ax.set_ylim(-0.07, 1.09)
        ax.set_xlabel("iteration", fontsize=8)
        ax.set_ylabel("runs not yet failed", fontsize=8)
        apart = f"; arms drawn ±{SURVIVAL_SPREAD * (len(shown) - 1) / 2:.1%} apart" if len(shown) > 1 else ""
        ax.set_title(f"{dataset}: survival (Kaplan–Meier)\nticks: censored{apart}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    save_figure(fig, path, compress_level=6)
    return Path(path)


def plot_calibration(arms: Sequence[Any], path: str | Path) -> Path:
    """The calibration gap per arm in one figure, one column per dataset. Top: the gap against iteration
    (log-scaled, iteration 0 drawn at 1), one line per arm (the median over its runs) in a light band
    (the quartiles). Bottom: each run's mean gap against its final distance to the data, coloured by arm,
    failed runs as crosses.

    ``arms`` are ``gan_mixup.sweeps.calibration.ArmCalibration`` objects (from ``arm_calibrations``)."""
    datasets = list(dict.fromkeys(a.dataset for a in arms))
    beside = max(sum(a.dataset == d for a in arms) for d in datasets) > CALIBRATION_LEGEND_INSIDE
    fig = Figure(figsize=((7.0 if beside else 5.0) * len(datasets), 6.4), dpi=90)
    axes = fig.subplots(2, len(datasets), squeeze=False)
    for c, dataset in enumerate(datasets):
        over, runs = axes[0][c], axes[1][c]
        distances = []
        for k, a in enumerate(x for x in arms if x.dataset == dataset):
            colour, line, alive = arm_style(k)
            label = a.arm + ("" if a.probability else " †")
            xs = [max(it, 1) for it in a.iterations]
            over.fill_between(xs, a.lower, a.upper, color=colour, alpha=0.18, lw=0)
            over.plot(xs, a.median, color=colour, ls=line, lw=1.4, label=f"{label} ({len(a.runs)} runs)")
            for failed, marker in ((False, alive), (True, "x" if alive == "o" else "+")):
                shown = [g for g in a.runs if g.failed == failed and math.isfinite(g.mean_gap) and math.isfinite(g.final_distance)]
                if shown:
                    runs.scatter([g.mean_gap for g in shown], [g.final_distance for g in shown], s=18, marker=marker,
                                 color=colour, alpha=0.8, lw=1.0 if failed else 0)
                    distances += [g.final_distance for g in shown]
        over.set_xscale("log")
        over.set_xlabel("iteration", fontsize=8)
        over.set_ylabel("calibration gap |σ(D) − λ|", fontsize=8)
        over.set_title(f"{dataset}: calibration gap (median, quartiles; †: σ(D) no probability)", fontsize=8)
        if beside:  # a study's 11 arms would cover the curves
            over.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
        else:
            over.legend(fontsize=6, loc="best")
        metric = next(a.distance_metric for a in arms if a.dataset == dataset) or "distance to the data"
        runs.set_xlabel("run's mean gap after iteration 0", fontsize=8)
        runs.set_ylabel(f"final {metric.replace('_', ' ')}", fontsize=8)
        runs.set_title(f"{dataset}: each run (x: failed)", fontsize=8)
        if distances and min(distances) > 0 and max(distances) > 10 * min(distances):
            runs.set_yscale("log")
        for ax in (over, runs):
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, compress_level=6)
    return Path(path)


def plot_gradient_norms(summaries: Sequence[Any], path: str | Path) -> Path:
    """D's input-gradient norm at fake, real and mixed points against iteration: one column per sort
    of point, one row per dataset and hyperparameter setting (one per dataset in a sweep without those
    axes), one line per arm (median over seeds, band min–max), the legend beside the first row when
    there are more arms than a panel holds.

    ``summaries`` are ``gan_mixup.sweeps.SettingSummary`` objects (from ``summarise``)."""
    rows = _rows_by_hyperparameters(summaries)
    arms = _arms_by_dataset(summaries)
    wheres = ("d_grad_fake", "d_grad_real", "d_grad_mixed")
    most = max(len(row) for row in rows.values())
    beside = most > GRADIENT_LEGEND_INSIDE
    fig, axes = panel_grid(len(rows), len(wheres), panel=2.8, left=0.6, top=0.45, dpi=100, gap=0.62, bottom=0.45,
                           right=2.1 if beside else 0.08)
    for r, ((dataset, hyper), row) in enumerate(rows.items()):
        for c, where in enumerate(wheres):
            ax = axes[r][c]
            for s in row:
                if where in s.curves:
                    colour, line, _ = arm_style(arms[dataset].index(s.arm))
                    _band(ax, *s.curves[where], colour=colour, line=line, label=s.arm, alpha=0.08 if beside else 0.2)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            ax.set_title(f"{dataset}{', ' + hyper if hyper else ''}: ‖∇ₓD‖ at {where.removeprefix('d_grad_')} points",
                         fontsize=8, pad=3)
            if r == len(rows) - 1:
                ax.set_xlabel("iteration", fontsize=8)
            if not beside and c == 0:
                ax.legend(fontsize=6, loc="best")
    if beside:  # one legend of every arm, from whichever rows drew it
        lines = {label: line for row_axes in axes for ax in row_axes for line, label in zip(*ax.get_legend_handles_labels())}
        axes[0][-1].legend(list(lines.values()), list(lines), fontsize=6, loc="upper left", bbox_to_anchor=(1.03, 1.0),
                           borderaxespad=0)
    save_figure(fig, path, compress_level=6)
    return Path(path)


def _band(ax: Axes, iterations: np.ndarray, values: np.ndarray, *, colour: str, line: str = "-",
          label: str | None = None, alpha: float = 0.2) -> None:
    """Median line and min–max band (of opacity ``alpha``) over the rows of ``values`` (seeds), ignoring NaN."""
    values = np.where(np.isfinite(values), values, np.nan)
    keep = np.isfinite(values).any(axis=0) & (iterations > 0)
    if not keep.any():
        return
    x, v = iterations[keep], values[:, keep]
    ax.fill_between(x, np.nanmin(v, axis=0), np.nanmax(v, axis=0), color=colour, alpha=alpha, lw=0)
    ax.plot(x, np.nanmedian(v, axis=0), color=colour, ls=line, lw=1.4, label=label)


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
    fig = new_figure(5.0, 3.0, 100)
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
    save_figure(fig, path, compress_level=6)
    return path

"""A run's metrics from its run directory alone, through the run's modality.

``evaluate_run`` asks the modality the run recorded (``reference.npz``'s modality): toy runs recompute the
toy metrics (``gan_mixup.modalities.toy.metrics``: modes covered, high quality, KL over modes,
sliced Wasserstein) from the snapshot files; images, whose snapshots keep only a small sample grid,
read back the metrics training recorded (``gan_mixup.modalities.images.metrics``). The toy metrics
stay importable from here, and so does the metric registry (``gan_mixup.metric_registry``:
``Metric``, ``register_metric``, ``METRICS``), which ``metrics_table`` reads as every other table does.

Example:
    >>> import numpy as np
    >>> modes = np.array([[1.0, 0.0], [-1.0, 0.0]])
    >>> mode_metrics(np.array([[1.0, 0.001], [0.99, 0.0]]), modes, std=0.01)["modes_covered"]
    1
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_mixup.metric_registry import METRICS, Metric, MetricError, metrics_of, register_metric  # noqa: F401
from gan_mixup.modalities import measuring_of, modality_named
from gan_mixup.modalities.common import recorded_metrics
from gan_mixup.modalities.toy.metrics import (  # noqa: F401  (the toy metrics' public home before modalities)
    NEAR_STD,
    mode_metrics,
    nearest_mode,
    sample_metrics,
    sliced_wasserstein,
)
from gan_mixup.probes import CALIBRATION_CURVES, CALIBRATION_LAMBDAS
from gan_mixup.probes import gradient_summary  # noqa: F401  (re-exported beside the toy metrics)
from gan_mixup.rundir import (
    METRICS_CSV_FILE, PAPER_ITERATIONS, RunDirectoryError, read_reference, report_locked, write_csv,
)

TABLE_WIDTH = 14  # characters per column of ``metrics_table``


def evaluate_run(run_dir: str | Path) -> list[dict[str, Any]]:
    """Metrics for every snapshot of a run directory, read from disk alone.

    Toy runs: recomputed from the snapshot files (a damaged one is left out with a warning). Image
    runs keep only a small sample grid per snapshot, so their metrics (computed on
    ``metric_samples`` fakes while training) are read back from ``metrics.jsonl``.

    Examples:
        >>> rows = evaluate_run("runs/demo")  # doctest: +SKIP
        >>> rows[-1]["modes_covered"]  # doctest: +SKIP
        8
    """
    run_dir = Path(run_dir)
    reference = read_reference(run_dir)
    return measuring_of(modality_named(reference.modality)).evaluate_run(run_dir, reference)


def recorded_snapshot_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The ``{"kind": "snapshot"}`` records of ``metrics.jsonl`` that hold metrics, without the kind."""
    return recorded_metrics(Path(run_dir))


def write_metrics_csv(run_dir: str | Path) -> tuple[Path, list[dict[str, Any]]]:
    """(Re)compute a run's metrics with ``evaluate_run`` and write them to ``metrics.csv``, one row
    per snapshot, a curve of the calibration probe as a column per λ (``calibration_curve_0.1``);
    returns the path and the rows. ``RunDirectoryError`` when something other than a file is in the
    way of ``metrics.csv`` (nothing is computed or written then)."""
    run_dir = Path(run_dir)
    path = run_dir / METRICS_CSV_FILE
    if path.is_dir() or (path.exists() and not path.is_file()):
        what = "a directory" if path.is_dir() else "not a regular file"
        raise RunDirectoryError(f"{path} is {what}; move it away, and the metrics are written there as a CSV file")
    with report_locked(run_dir):  # two at once: the second waits, then writes its own
        rows = evaluate_run(run_dir)
        flat = [_curves_as_columns(row) for row in rows]
        columns = list(dict.fromkeys(key for row in flat for key in row))
        return write_csv(path, columns, flat), rows


def _curves_as_columns(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with each calibration curve (a list, one value per λ) spread over a column per λ, so
    every cell of metrics.csv holds one number."""
    out = {}
    for key, value in row.items():
        if key in CALIBRATION_CURVES and isinstance(value, (list, tuple)) and len(value) == len(CALIBRATION_LAMBDAS):
            out.update({f"{key}_{lam:g}": v for lam, v in zip(CALIBRATION_LAMBDAS, value)})
        else:
            out[key] = value
    return out


def metrics_table(rows: list[dict[str, Any]]) -> list[str]:
    """The lines ``gan-mixup metrics RUN_DIR`` prints for ``rows`` (``evaluate_run``'s): the paper's
    iterations and the last, one column per registered metric (``Metric.table``) some shown row
    records, then the real data's values at iteration 0 (the ceiling) and the classifier's accuracy.

    Example:
        >>> metrics_table([{"iteration": 10, "modes_covered": 3, "kl_modes": 0.5}])[1].split()
        ['10', '3', '0.5']
    """
    shown = [r for r in rows if r["iteration"] in PAPER_ITERATIONS or r is rows[-1]] if rows else []
    keys = [key for m in METRICS.values() if m.table for key in [m.key_in(shown)] if key is not None]
    columns = [c for c in ("iteration", *keys) if any(c in r for r in shown)]
    lines = ["  ".join(f"{c:>{TABLE_WIDTH}s}" for c in columns)]
    lines += ["  ".join(f"{_cell(row.get(c)):>{TABLE_WIDTH}s}" for c in columns) for row in shown]
    first = rows[0] if rows and rows[0].get("iteration") == 0 else {}
    ceiling = [f"{c} {_cell(first[f'real_{c}'])}" for c in columns if first.get(f"real_{c}") is not None]
    if ceiling:
        lines.append("real data at this sample size (the ceiling): " + ", ".join(ceiling))
    if first.get("classifier_accuracy") is not None:
        lines.append(f"classifier held-out accuracy: {first['classifier_accuracy']:.4f}")
    return lines


def _cell(value: Any) -> str:
    """A value as the metrics table prints it: four significant digits for a float, '–' for none."""
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)

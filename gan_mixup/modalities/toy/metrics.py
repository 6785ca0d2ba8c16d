"""Toy-GAN metrics, computed from samples alone, so they work on a run directory without the models.

Mode metrics follow the convention of VEEGAN / Unrolled GAN papers: a sample is *high quality* when
it lies within 3σ of its nearest mode, and a mode is *covered* when at least 1% of the samples are
high-quality samples of it.

Example:
    >>> import numpy as np
    >>> modes = np.array([[1.0, 0.0], [-1.0, 0.0]])
    >>> mode_metrics(np.array([[1.0, 0.001], [0.99, 0.0]]), modes, std=0.01)["modes_covered"]
    1
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from gan_mixup.errors import GanMixupWarning
from gan_mixup.metric_registry import computed_metrics
from gan_mixup.modalities.common import recorded_metrics
from gan_mixup.probes import CALIBRATION_CURVES, CALIBRATION_METRICS, gradient_summary
from gan_mixup.rundir import METRICS_FILE, SnapshotError, list_snapshots, read_snapshot


def nearest_mode(samples: np.ndarray, modes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of and distance to the nearest mode for each sample: two arrays of shape ``(N,)``."""
    distances = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=-1)  # (N, K)
    index = distances.argmin(axis=1)
    return index, distances[np.arange(len(samples)), index]


# A looser coverage count beside the strict 3σ one: modes with >= 1% of the samples within 10σ
# (0.1 at the authors' std 0.01, under a quarter of the ring's and grid's mode spacing, so a sample
# counts for one mode at most). It tells "G reached the mode" from "G sits exactly on it".
NEAR_STD = 10.0


def mode_metrics(samples: np.ndarray, modes: np.ndarray, std: float, threshold_std: float = 3.0,
                 covered_fraction: float = 0.01) -> dict[str, Any]:
    """Mode coverage and quality of 2-D ``samples`` against a Gaussian mixture's ``modes``.

    Returns ``modes_covered`` (int), ``high_quality`` (fraction of samples within
    ``threshold_std``·σ of a mode), ``kl_modes`` (KL(p_fake‖uniform) over the high-quality samples'
    modes; 0 is a perfect balance, ``log K`` is all in one mode) and ``mean_mode_distance``.
    Non-finite samples count as low quality.
    """
    samples = np.asarray(samples, dtype=np.float64)
    finite = np.isfinite(samples).all(axis=1)
    index, distance = nearest_mode(np.where(finite[:, None], samples, 0.0), modes)
    good = finite & (distance < threshold_std * std)
    counts = np.bincount(index[good], minlength=len(modes))
    covered = int((counts >= max(1.0, covered_fraction * len(samples))).sum())
    if counts.sum() > 0:
        p = counts / counts.sum()
        nonzero = p > 0
        kl = float(np.sum(p[nonzero] * np.log(p[nonzero] * len(modes))))
    else:
        kl = float(np.log(len(modes)))
    mean_distance = float(distance[finite].mean()) if finite.any() else float("inf")
    near = finite & (distance < NEAR_STD * std)
    modes_near = int((np.bincount(index[near], minlength=len(modes)) >= max(1.0, covered_fraction * len(samples))).sum())
    return {"modes_covered": covered, "high_quality": float(good.mean()), "kl_modes": kl,
            "mean_mode_distance": mean_distance, "modes_near": modes_near}


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int = 128, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance between two point clouds of equal dimension.

    Projection directions come from a local ``numpy`` generator seeded with ``seed``, never the
    global RNG. Uses the quantiles of each projection, so ``a`` and ``b`` may differ in size.
    """
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(projections, a.shape[1]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    qs = np.linspace(0, 1, 200)
    return float(np.abs(_quantiles(a @ directions.T, qs) - _quantiles(b @ directions.T, qs)).mean())


def _quantiles(x: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """``np.quantile(x, qs, axis=0)`` (linear method) from one sort: 4x faster for many columns,
    which matters because the trainer computes this at every snapshot."""
    x = np.sort(x, axis=0)
    position = qs * (len(x) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(x) - 1)
    weight = (position - low)[:, None]
    return x[low] * (1 - weight) + x[high] * weight


def sample_metrics(fake: np.ndarray, real: np.ndarray, modes: np.ndarray, std: float | None,
                   extent: float | None = None) -> dict[str, Any]:
    """All toy metrics for one set of fake samples: mode metrics where the data has modes, the
    sliced Wasserstein distance to the real samples always, and with ``extent`` the fraction of
    samples outside the frame ``[-extent, extent]²`` (non-finite ones included), ``outside_frame``;
    then every registered toy metric that carries its ``compute`` function (``Metric.compute``)."""
    out: dict[str, Any] = {}
    if len(modes) and std:
        out.update(mode_metrics(fake, modes, std))
    finite = np.isfinite(fake).all(axis=1)
    out["sliced_wasserstein"] = sliced_wasserstein(fake[finite], real) if finite.any() else float("inf")
    if extent is not None:
        inside = finite & (np.abs(np.where(finite[:, None], fake, 0.0)) <= extent).all(axis=1)
        out["outside_frame"] = float(1.0 - inside.mean()) if len(fake) else 0.0
    out.update(computed_metrics("toy", fake, real))
    return out


def evaluate_run(run_dir: Path, reference: Any) -> list[dict[str, Any]]:
    """The metrics of every snapshot of a toy run, recomputed from its snapshot files (a damaged
    one is left out with a warning), with the calibration probe's curves and scalars that training
    recorded (the probe needs D, which a snapshot does not keep)."""
    recorded = recorded_metrics(run_dir) if (Path(run_dir) / METRICS_FILE).is_file() else []
    probe_keys = CALIBRATION_CURVES + CALIBRATION_METRICS
    calibration = {r["iteration"]: {k: r[k] for k in probe_keys if k in r} for r in recorded}
    rows = []
    for path in list_snapshots(run_dir):
        try:
            snap = read_snapshot(path)
        except SnapshotError as err:  # one damaged file costs its own row, not the run's metrics
            warnings.warn(f"{err}; its metrics are left out", GanMixupWarning, stacklevel=3)  # the caller of metrics.evaluate_run
            continue
        rows.append({"iteration": snap.iteration,
                     **sample_metrics(snap.fake, reference.real, reference.modes, reference.std, reference.extent),
                     **(gradient_summary(snap.d_grad_norms) if snap.d_grad_norms else {}),
                     **calibration.get(snap.iteration, {})})
    return rows


def modes_total(reference: Any, records: list[dict[str, Any]]) -> int | None:
    """The data's modes, from the run's reference (None for data without modes)."""
    return len(reference.modes) or None

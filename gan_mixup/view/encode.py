"""One run's data for the viewer, read from its directory alone: frames encoded from the snapshot
arrays, the recorded metrics as curves, and the events the scorecard's rules find.

A frame is data the page draws, not a picture of one: that keeps a toy frame to about 9 KB and sharp
at any zoom. Points: the fake samples as 16-bit fixed point (``POINT_SCALE`` steps per half-width of
the frame, 1/8000 of it: far below a pixel), D's surface as a palette PNG of the snapshot's own grid
(upsampled 3x, in the 10 bands of the GIF frames' contour, ``gan_mixup.modalities.toy.draw``), G's
gradient arrows as the GIF frames choose them (index, direction, shade), D's gradient field on a
lattice, and per mode the samples
within 3σ and 10σ. Images: the fixed-noise grid as a PNG at the samples' own resolution
(``gan_mixup.modalities.images.draw.sample_grid``). A snapshot that cannot be read becomes a message
for its panel.
"""
from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from gan_mixup.errors import GanMixupError
from gan_mixup.metric_registry import METRICS
from gan_mixup.modalities import UnknownDatasetError, drawing_of, measuring_of, modality_named
from gan_mixup.modalities.toy.metrics import NEAR_STD, nearest_mode
from gan_mixup.rundir import (
    PAPER_ITERATIONS, METRICS_FILE, Reference, Snapshot, list_snapshots, read_records, read_reference, read_snapshot, snapshot_path,
)
from gan_mixup.verdicts import DIVERGED_OUTSIDE, covered_since, has_diverged

POINT_SCALE = 8000  # int16 steps per half-width (extent) of a toy frame; ±4 extents fit, beyond is clipped
POINT_MISSING = -32768  # a non-finite sample
SURFACE_UPSAMPLE = 3  # D's grid is upsampled this much (bilinear) before banding, so band edges stay smooth
CURVE_POINTS = 400  # a training-loss curve keeps at most this many records (log-spaced, as the axis is)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _png(pixels: np.ndarray, palette: np.ndarray | None = None) -> str:
    """A PNG data URI of ``pixels`` (H, W) grey or palette indices, or (H, W, 3) RGB; lossless."""
    from PIL import Image  # Pillow: heavy to import, needed only for a frame's PNG

    if palette is not None:
        image = Image.fromarray(pixels.astype(np.uint8), mode="P")
        image.putpalette(palette.astype(np.uint8).ravel().tolist())
    else:
        image = Image.fromarray(pixels if pixels.ndim == 3 else pixels, mode="RGB" if pixels.ndim == 3 else "L")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)  # level 9 or optimize: 5% smaller, 15x slower
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# ----- points -----------------------------------------------------------------------------------

def fixed_points(points: np.ndarray, extent: float) -> np.ndarray:
    """``(N, 2)`` points as int16 fixed point in units of ``extent / POINT_SCALE``; non-finite ones ``POINT_MISSING``.

    Example:
        >>> fixed_points(np.array([[1.0, -0.5], [np.nan, 0.0]]), 2.0).tolist()
        [[4000, -2000], [-32768, -32768]]
    """
    points = np.asarray(points, dtype=np.float64)
    finite = np.isfinite(points).all(axis=1)
    q = np.clip(np.rint(np.where(finite[:, None], points, 0.0) / extent * POINT_SCALE), -32767, 32767).astype("<i2")
    q[~finite] = POINT_MISSING
    return q


def surface_palette() -> np.ndarray:
    """The 10 colours of D's bands as the GIF frames draw them (RdBu_r at each band's middle, 60% over
    white), then white for a non-finite D: an (11, 3) uint8 palette."""
    from matplotlib import colormaps  # matplotlib (and the toy drawing module): heavy to import

    from gan_mixup.modalities.toy.draw import D_CMAP, D_LEVELS

    middles = (D_LEVELS[:-1] + D_LEVELS[1:]) / 2
    rgb = np.asarray(colormaps[D_CMAP](middles))[:, :3] * 0.6 + 0.4
    return np.rint(np.vstack([rgb, [1.0, 1.0, 1.0]]) * 255).astype(np.uint8)


def surface_bands(d_grid: np.ndarray, upsample: int = SURFACE_UPSAMPLE) -> np.ndarray:
    """sigmoid(D) on the grid (row i is y = axis[i]) as band indices 0..9 (10: non-finite), upsampled
    bilinearly and flipped so that row 0 is the top of the frame.

    Example:
        >>> surface_bands(np.array([[0.0, 1.0], [0.5, np.nan]]), upsample=1).tolist()
        [[5, 10], [0, 9]]
    """
    d = np.asarray(d_grid, dtype=np.float64)
    n = d.shape[0]
    if upsample > 1 and n > 1:
        t = np.linspace(0, n - 1, n * upsample)
        low = np.minimum(np.floor(t).astype(int), n - 2)
        w = t - low
        d = d[low] * (1 - w)[:, None] + d[low + 1] * w[:, None]
        d = d[:, low] * (1 - w)[None, :] + d[:, low + 1] * w[None, :]
    bands = np.clip(np.floor(np.nan_to_num(d, nan=0.0) * 10), 0, 9).astype(np.uint8)
    bands[~np.isfinite(d)] = 10
    return bands[::-1]


def arrows(fake: np.ndarray, grad: np.ndarray | None, extent: float) -> np.ndarray:
    """G's gradient arrows as the GIF frames pick them (``gan_mixup.modalities.toy.draw``): at an
    even subset of up to ``QUIVER_ARROWS`` finite samples inside the frame, each as (sample index,
    direction in 256ths of a turn, shade 0..255 from the log norm); a structured array."""
    from gan_mixup.modalities.toy.draw import QUIVER_ARROWS  # imports matplotlib: heavy

    arrow = np.dtype([("i", "<u2"), ("a", "u1"), ("s", "u1")])
    if grad is None:
        return np.zeros(0, arrow)
    fake, grad = np.asarray(fake, dtype=np.float64), np.asarray(grad, dtype=np.float64)
    inside = np.isfinite(grad).all(axis=1) & np.isfinite(fake).all(axis=1)
    inside &= (np.abs(np.nan_to_num(fake)) <= extent).all(axis=1)
    index = np.flatnonzero(inside)
    index = index[::max(1, len(index) // QUIVER_ARROWS)]
    g = grad[index]
    norm = np.linalg.norm(g, axis=1)
    out = np.zeros(len(index), arrow)
    out["i"] = index
    out["a"] = np.rint((np.arctan2(g[:, 1], g[:, 0]) % (2 * np.pi)) / (2 * np.pi) * 256).astype(int) % 256
    # the GIF's shade: mid-grey at a norm of 0.01 or less to black at 1000 or more
    out["s"] = np.rint(255 * np.clip((np.log10(np.maximum(norm, 1e-12)) + 2) / 5, 0.0, 1.0))
    return out


FIELD_ARROWS = 12  # D's gradient field: arrows on a FIELD_ARROWS x FIELD_ARROWS lattice over the frame


def gradient_field(d_grid: np.ndarray, axis: np.ndarray, n: int = FIELD_ARROWS) -> np.ndarray:
    """∇ₓ of D's logit over the frame, from the snapshot's grid of sigmoid(D) (finite differences of
    the logit, the sigmoid clipped to 1e-6..1-1e-6 where float32 saturates): at an ``n`` x ``n``
    lattice, row 0 at the top, each as (direction in 256ths of a turn, shade 1..255 by the log norm
    as the gradient arrows; 0: no value there, D non-finite); an ``(n, n, 2)`` uint8 array.

    Example:
        >>> axis = np.linspace(-1, 1, 8)
        >>> field = gradient_field(1 / (1 + np.exp(-np.tile(axis, (8, 1)))), axis, n=2)  # D grows with x
        >>> field[..., 0].tolist()  # every arrow points along +x
        [[0, 0], [0, 0]]
    """
    p = np.clip(np.asarray(d_grid, dtype=np.float64), 1e-6, 1 - 1e-6)
    logit = np.log(p) - np.log1p(-p)
    gy, gx = np.gradient(logit, axis, axis)  # rows are y, columns are x
    pick = np.rint(np.linspace(0, len(axis) - 1, n + 2)[1:-1]).astype(int)  # inside the frame, not on its edge
    gx, gy = gx[np.ix_(pick, pick)][::-1], gy[np.ix_(pick, pick)][::-1]
    norm = np.hypot(gx, gy)
    out = np.zeros((n, n, 2), np.uint8)
    out[..., 0] = np.rint((np.arctan2(gy, gx) % (2 * np.pi)) / (2 * np.pi) * 256).astype(int) % 256
    out[..., 1] = 1 + np.rint(254 * np.clip((np.log10(np.maximum(norm, 1e-12)) + 2) / 5, 0.0, 1.0))
    out[~np.isfinite(norm) | ~np.isfinite(np.asarray(d_grid, dtype=np.float64)[np.ix_(pick, pick)][::-1])] = 0
    return out


def mode_counts(fake: np.ndarray, reference: Reference) -> tuple[np.ndarray, np.ndarray]:
    """Per mode, the samples within 3σ and within 10σ of it (nearest mode, as the mode metrics count)."""
    k = len(reference.modes)
    fake = np.asarray(fake, dtype=np.float64)
    finite = np.isfinite(fake).all(axis=1)
    if not k or not reference.std or not finite.any():
        return np.zeros(k, "<u2"), np.zeros(k, "<u2")
    index, distance = nearest_mode(fake[finite], reference.modes)
    near3 = np.bincount(index[distance < 3 * reference.std], minlength=k)
    near10 = np.bincount(index[distance < NEAR_STD * reference.std], minlength=k)
    return near3.astype("<u2"), near10.astype("<u2")


def points_frame(reference: Reference, snapshot: Snapshot, palette: np.ndarray) -> dict[str, Any]:
    near3, near10 = mode_counts(snapshot.fake, reference)
    return {"fake": _b64(fixed_points(snapshot.fake, reference.extent)),
            "surface": _png(surface_bands(snapshot.d_grid), palette) if np.size(snapshot.d_grid) else None,
            "arrows": _b64(arrows(snapshot.fake, snapshot.d_grad_fake, reference.extent)),
            "field": _b64(gradient_field(snapshot.d_grid, reference.grid_axis)) if np.size(snapshot.d_grid) else "",
            "near3": _b64(near3), "near10": _b64(near10)}


def points_reference(reference: Reference) -> dict[str, Any]:
    return {"extent": reference.extent, "real": _b64(fixed_points(reference.real, reference.extent)),
            "modes": np.round(np.asarray(reference.modes, dtype=np.float64), 6).tolist(), "std": reference.std,
            "near_std": NEAR_STD, "scale": POINT_SCALE}


# ----- images -----------------------------------------------------------------------------------

def images_frame(reference: Reference, snapshot: Snapshot, palette: Any = None) -> dict[str, Any]:
    from gan_mixup.modalities.images.draw import sample_grid  # imports matplotlib: heavy

    grid = sample_grid(snapshot.fake)
    return {"grid": _png(grid[:, :, 0] if grid.shape[2] == 1 else grid)}


def images_reference(reference: Reference, fake: np.ndarray | None) -> dict[str, Any]:
    """Where each sample sits in the grid (``make_grid``'s layout), from the first readable snapshot."""
    from gan_mixup.modalities.images.draw import GRID_PADDING  # imports matplotlib: heavy

    if fake is None:
        return {}
    n, _, h, w = np.asarray(fake).shape
    return {"count": int(n), "cols": int(math.ceil(math.sqrt(n))) if n > 1 else 1, "height": int(h), "width": int(w),
            "padding": GRID_PADDING}


@dataclass(frozen=True)
class Pictures:
    """How the viewer draws one modality's snapshots: a frame per snapshot and the run's reference
    (with the palette the frames share). A modality without an entry shows a message instead."""

    frame: Callable[[Reference, Snapshot, Any], dict[str, Any]]
    reference: Callable[[Reference, np.ndarray | None], dict[str, Any]]
    palette: Callable[[], Any] = lambda: None


PICTURES = {"toy": Pictures(points_frame, lambda reference, fake: points_reference(reference), surface_palette),
            "images": Pictures(images_frame, images_reference)}


# ----- a run -------------------------------------------------------------------------------------

def encode_run(run_dir: Path, max_frames: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(summary, data)`` of one run: the summary (its iterations, events, status, modality, or why it
    cannot be shown) goes in the viewer's index; the data (frames, curves, reference) in the run's own
    file. ``max_frames``: thin the snapshots to about this many (``log_thin``)."""
    run_dir = Path(run_dir)
    records = records_of(run_dir, "snapshot")
    event_records = records_of(run_dir, "event")
    summary: dict[str, Any] = {"iterations": [], "events": [], "status": "", "error": None, "modality": None}
    data: dict[str, Any] = {"frames": {}, "curves": curves(run_dir, records)}
    calibration = calibration_curves(records)
    if calibration:
        data["calibration"] = calibration
    try:
        reference = read_reference(run_dir)
    except GanMixupError as err:  # missing (not trained yet) or damaged: the panel says which
        summary["error"] = str(err)
        return summary, data
    try:
        modality = modality_named(reference.modality)
        pictures = PICTURES[modality.name]
    except (UnknownDatasetError, KeyError):
        summary["error"] = f"this version of the viewer cannot draw {reference.modality!r} runs"
        return summary, data
    summary["modality"] = modality.name
    on_disk = {int(p.name[3:11]): p for p in list_snapshots(run_dir)}
    recorded = {int(r["iteration"]) for r in records if isinstance(r.get("iteration"), int)}
    iterations = sorted(set(on_disk) | {it for it in recorded if it > 0})  # iteration 0: metrics of the real data only
    if max_frames is not None and iterations:
        iterations = log_thin(iterations, max_frames)
    palette = pictures.palette()
    first_fake = None
    for it in iterations:
        path = on_disk.get(it, snapshot_path(run_dir, it))
        try:
            snapshot = read_snapshot(path)
            problem = drawing_of(modality).sample_problem(snapshot.fake)
        except GanMixupError as err:
            snapshot, problem = None, str(err)
        if problem or snapshot is None:
            data["frames"][str(it)] = {"error": problem.replace(str(run_dir) + "/", "")}
            continue
        first_fake = snapshot.fake if first_fake is None else first_fake
        data["frames"][str(it)] = pictures.frame(reference, snapshot, palette)
    data["reference"] = pictures.reference(reference, first_fake)
    summary["iterations"] = iterations
    if not iterations:
        summary["error"] = "nothing to show yet: the run has no snapshots (snapshots/it_*.npz)"
    total = measuring_of(modality).modes_total(reference, [r for r in records if len(r) > 2])
    summary["events"], summary["status"] = events(records, event_records, total)
    summary["modes_total"] = total
    return summary, data


def frame_bytes(run_dir: Path) -> int:
    """The bytes one encoded frame of ``run_dir`` takes in the viewer (its last snapshot's; 0 when it
    has none that reads): what sizes the viewer before all of it is encoded."""
    try:
        reference = read_reference(run_dir)
        pictures = PICTURES[modality_named(reference.modality).name]
        snapshot = read_snapshot(list_snapshots(run_dir)[-1])
        return len(json.dumps(pictures.frame(reference, snapshot, pictures.palette())))
    except (GanMixupError, KeyError, IndexError, ValueError):
        return 0


def log_thin(iterations: list[int], max_frames: int) -> list[int]:
    """About ``max_frames`` of ``iterations``, evenly spaced in log(iteration) (the time axis is
    logarithmic), always with the first, the last and the paper's iterations.

    A snapshot schedule is log-spaced only past its first hundred or so iterations (below, every
    iteration is taken), so thinning by index would keep mostly the first few hundred.

    Example:
        >>> log_thin(list(range(0, 2001)), 6)
        [0, 10, 45, 100, 1000, 2000]
    """
    iterations = sorted(iterations)
    if len(iterations) <= max_frames:
        return iterations
    its = np.array(iterations)
    position = np.log10(np.maximum(its, 1))
    kept = set(PAPER_ITERATIONS) & set(iterations) | {iterations[0], iterations[-1]}
    best = sorted(kept)
    # Targets closer than two early snapshots pick the same one: add targets while the count fits.
    for targets in range(2, 4 * max_frames):
        nearest = np.abs(position[None, :] - np.linspace(position[0], position[-1], targets)[:, None]).argmin(axis=1)
        picks = kept | {int(it) for it in its[nearest]}
        if len(picks) > max_frames:
            break
        best = sorted(picks)
    return best


def records_of(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    if not (run_dir / METRICS_FILE).is_file():
        return []
    return read_records(run_dir, kind)


def _round(value: Any) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(f"{value:.4g}")


def curve_metrics() -> list[dict[str, Any]]:
    """The registered metrics as the viewer's curves show them (``gan_mixup.metric_registry``), in
    registration order: the charts' order, their titles, and which way is better (a title's tooltip).
    Curves of what no metric registers (the training losses, ...) follow them.

    Example:
        >>> curve_metrics()[0]
        {'name': 'modes_covered', 'label': 'modes covered', 'better': 'higher'}
    """
    return [{"name": m.name, "label": m.label, "better": m.better} for m in METRICS.values()]


def curves(run_dir: Path, snapshot_records: list[dict[str, Any]]) -> dict[str, list[list[Any]]]:
    """Every numeric metric ``metrics.jsonl`` recorded: ``{name: [iterations, values]}``; the
    training records (losses, λ, D's outputs) thinned to about ``CURVE_POINTS`` log-spaced records."""
    train = records_of(run_dir, "train")
    if len(train) > CURVE_POINTS:
        its = np.array([r.get("iteration", 0) for r in train], dtype=np.float64)
        targets = np.geomspace(max(its[0], 1), max(its[-1], 1), CURVE_POINTS)
        picks = np.unique(np.searchsorted(its, targets).clip(0, len(train) - 1))
        train = [train[i] for i in picks]
    out: dict[str, list[list[Any]]] = {}
    for record in [*snapshot_records, *train]:
        it = record.get("iteration")
        if not isinstance(it, int) or it < 1:
            continue
        for key, value in record.items():
            if key in ("kind", "iteration") or isinstance(value, bool) or not isinstance(value, (int, float, type(None))):
                continue
            series = out.setdefault(key, [[], []])
            series[0].append(it)
            series[1].append(_round(value))
    for key, (its, values) in out.items():
        order = np.argsort(its, kind="stable")
        out[key] = [[its[i] for i in order], [values[i] for i in order]]
    return {k: v for k, v in out.items() if any(x is not None for x in v[1])}


def calibration_curves(snapshot_records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The calibration probe's curves (``gan_mixup.probes.calibration_curve``) of the snapshots that
    recorded one: ``{"lambdas": [...], "iterations": [...], "sigma": [[...] per iteration]}``, the
    viewer's chart of σ(D) from the fake end to the real end at the shown iteration; None without any.

    Example:
        >>> calibration_curves([{"iteration": 10, "calibration_curve": [0.5] * 11}])["iterations"]
        [10]
    """
    rows = sorted((r for r in snapshot_records if isinstance(r.get("iteration"), int)
                   and isinstance(r.get("calibration_curve"), list) and len(r["calibration_curve"]) > 1),
                  key=lambda r: r["iteration"])
    if not rows:
        return None
    # the probe's grid is even from 0 to 1 (probes.CALIBRATION_LAMBDAS; torch stays out of the viewer)
    points = len(rows[-1]["calibration_curve"])
    rows = [r for r in rows if len(r["calibration_curve"]) == points]
    return {"lambdas": [round(i / (points - 1), 6) for i in range(points)], "iterations": [r["iteration"] for r in rows],
            "sigma": [[_round(v) for v in r["calibration_curve"]] for r in rows]}


def events(records: list[dict[str, Any]], event_records: list[dict[str, Any]],
           total: int | None) -> tuple[list[dict[str, Any]], str]:
    """The events to mark on the time axis, by the scorecard's own rules (``gan_mixup.verdicts``),
    and the run's status at its end (``diverged``, ``collapsed`` or '').

    diverged: stopped on a non-finite loss, or more than ``DIVERGED_OUTSIDE`` of the samples outside
    the frame, marked where that started and held to the end; collapsed: fewer than all modes
    covered, marked where that started and held to the end; all modes covered from T (the stable
    rule's T); every update skipped on a NaN/Inf (``--on-nonfinite skip``), one mark per iteration.
    """
    out: list[dict[str, Any]] = []
    rows = sorted((r for r in records if isinstance(r.get("iteration"), int) and r["iteration"] > 0 and len(r) > 2),
                  key=lambda r: r["iteration"])
    stopped = [e for e in event_records if e.get("event") == "nonfinite"]
    if stopped:
        rows = [{**r, "status": "diverged"} if r is rows[-1] else r for r in rows] if rows else rows
    status = ""
    if rows and has_diverged(rows[-1]):
        start = _held_from(rows, has_diverged)
        why = "stopped on a non-finite value" if stopped else f"over {DIVERGED_OUTSIDE:.0%} of the samples outside the frame"
        out.append({"iteration": stopped[0]["iteration"] if stopped else start, "event": "diverged", "text": f"diverged: {why}"})
        status = "diverged"
    elif stopped:
        out.append({"iteration": stopped[0]["iteration"], "event": "diverged", "text": "diverged: stopped on a non-finite value"})
        status = "diverged"
    if total is not None and rows:
        def short(row: dict[str, Any]) -> bool:
            value = row.get("modes_covered")
            return not (isinstance(value, (int, float)) and value >= total)

        if short(rows[-1]):
            start = _held_from(rows, short)
            out.append({"iteration": start, "event": "collapsed",
                        "text": f"collapsed: fewer than all {total} modes covered from here to the end"})
            status = status or "collapsed"
        since = covered_since(rows, total)
        if since is not None:
            out.append({"iteration": since, "event": "covered", "text": f"all {total} modes covered from here to the end"})
    skipped: dict[int, int] = {}
    for e in event_records:
        if e.get("event") == "skipped" and isinstance(e.get("iteration"), int):
            skipped[e["iteration"]] = skipped.get(e["iteration"], 0) + 1
    out += [{"iteration": it, "event": "skipped", "text": f"NaN/Inf: {n} update{'s' if n > 1 else ''} skipped"}
            for it, n in sorted(skipped.items())]
    return sorted(out, key=lambda e: e["iteration"]), status


def _held_from(rows: list[dict[str, Any]], test: Any) -> int:
    """The first iteration from which ``test(row)`` holds at every snapshot to the end."""
    start = rows[-1]["iteration"]
    for row in reversed(rows):
        if not test(row):
            break
        start = row["iteration"]
    return start

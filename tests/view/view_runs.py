"""Hand-made run directories for the viewer's tests: written through gan_mixup.rundir as training
writes them, with samples chosen so each picture is known (no training: fast and exact)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gan_mixup.modalities.toy.metrics import sample_metrics
from gan_mixup.rundir import (
    CONFIG_FILE, MANIFEST_FILE, METRICS_FILE, Reference, Snapshot, write_reference, write_snapshot,
)

ITERATIONS = (1, 3, 10, 30, 100, 300, 1000)
MODES = np.array([[np.cos(t), np.sin(t)] for t in np.linspace(0, 2 * np.pi, 8, endpoint=False)], np.float32)
STD = 0.02
EXTENT = 1.5
GRID = 16


def points_run(run_dir: Path, *, objective: str = "mixup", diverge_from: int | None = None, seed: int = 0,
               iterations: tuple[int, ...] = ITERATIONS) -> Path:
    """A ring8 run whose fakes close in on the modes as it trains; from ``diverge_from`` on they fly
    out of the frame (as a diverged ERM run's do), so its panel is empty of fakes there."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True)
    (run_dir / CONFIG_FILE).write_text(json.dumps({"dataset": "ring8", "objective": objective, "seed": seed}))
    real = MODES[rng.integers(0, 8, 400)] + rng.normal(0, STD, (400, 2)).astype(np.float32)
    axis = np.linspace(-EXTENT, EXTENT, GRID, dtype=np.float32)
    write_reference(run_dir, Reference(real, MODES, EXTENT, axis, STD))
    records = []
    for it in iterations:
        spread = 1.0 / np.sqrt(it)  # closer to the modes at every snapshot: every frame differs
        fake = MODES[rng.integers(0, 8, 300)] + rng.normal(0, spread, (300, 2))
        if diverge_from is not None and it >= diverge_from:
            fake = fake + 20.0
        xs, ys = np.meshgrid(axis, axis)
        d_grid = 1 / (1 + np.exp(-(xs * np.log10(it + 1) + ys)))  # D's surface tilts as it trains
        grad = rng.normal(0, 1, fake.shape) * it
        write_snapshot(run_dir, Snapshot(it, fake.astype(np.float32), d_grid.astype(np.float32), grad.astype(np.float32),
                                         {"real": np.full(50, 1.0 * it), "fake": np.full(300, 2.0), "mixed": np.full(50, 0.5)}))
        records.append({"kind": "snapshot", "iteration": it, **sample_metrics(fake, real, MODES, STD, EXTENT),
                        "d_grad_real": float(it), "d_grad_fake": 2.0, "d_grad_mixed": 0.5})
        records.append({"kind": "train", "iteration": it, "d_loss": 1.0 / it, "g_loss": 0.5 + it / 1000})
    (run_dir / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))
    return run_dir


def images_run(run_dir: Path, *, seed: int = 0, iterations: tuple[int, ...] = ITERATIONS) -> Path:
    """A run of 16 grey 8x8 images that brighten as it trains."""
    rng = np.random.default_rng(seed)
    run_dir.mkdir(parents=True)
    (run_dir / CONFIG_FILE).write_text(json.dumps({"dataset": "digits", "objective": "erm", "seed": seed}))
    write_reference(run_dir, Reference(rng.integers(0, 255, (16, 1, 8, 8), dtype=np.uint8), np.zeros((0, 2), np.float32),
                                       float("nan"), np.zeros(0, np.float32), None, "images"))
    records = []
    for k, it in enumerate(iterations):
        fake = np.clip(rng.integers(0, 60, (16, 1, 8, 8)) + 30 * k, 0, 255).astype(np.uint8)
        write_snapshot(run_dir, Snapshot(it, fake, np.zeros((0, 0), np.float32)))
        records.append({"kind": "snapshot", "iteration": it, "frechet": 100.0 / it, "modes_covered": min(10, k + 3)})
    (run_dir / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))
    return run_dir


def collection(out: Path, dir_type: str, runs: dict[str, Path], members: dict[str, dict] | None = None) -> Path:
    """A compare / figure5 / sweep folder naming ``runs`` (label -> member folder inside ``out``)."""
    info: dict = {"dir_type": dir_type, "runs": {label: path.name for label, path in runs.items()}}
    if members is not None:
        info["members"] = members
    (out / MANIFEST_FILE).write_text(json.dumps(info))
    return out


def erm_vs_mixup(out: Path) -> Path:
    """A compare folder: ERM diverges at iteration 100, mixup does not."""
    out.mkdir(parents=True)
    runs = {"erm": points_run(out / "erm", objective="erm", diverge_from=100, seed=1),
            "mixup": points_run(out / "mixup", objective="mixup", seed=2)}
    return collection(out, "compare", runs)

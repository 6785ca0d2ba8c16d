"""Run directories written by earlier versions, whose ``reference.npz`` records the modality as
``kind`` (the toy one as ``points``) or not at all, still load, resume, render and score."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cli_helpers import run_cli
from conftest import make_tiny_config
from gan_mixup import train
from gan_mixup.metrics import evaluate_run, write_metrics_csv
from gan_mixup.rundir import REFERENCE_FILE, SNAPSHOT_DIR, read_records, read_reference, read_snapshots
from gan_mixup.view.encode import encode_run


def write_reference_as_before(run: Path, recorded: dict[str, Any]) -> None:
    """Rewrite ``run``'s reference.npz as an earlier version wrote it: ``recorded`` in place of ``modality``."""
    path = run / SNAPSHOT_DIR / REFERENCE_FILE
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files if name != "modality"}
    np.savez(path, **arrays, **{key: np.str_(value) for key, value in recorded.items()})
    with np.load(path) as data:
        assert "modality" not in data.files


@pytest.mark.parametrize("recorded", [{"kind": "points"}, {}], ids=["kind-points", "before-images"])
def test_a_former_toy_run_loads_resumes_renders_and_scores(tmp_path: Path, recorded: dict[str, Any]) -> None:
    run = tmp_path / "run"
    train(make_tiny_config(iterations=6), run, progress=False)
    write_reference_as_before(run, recorded)
    assert read_reference(run).modality == "toy"

    train(make_tiny_config(), run, resume=True, progress=False)
    straight = tmp_path / "straight"
    train(make_tiny_config(), straight, progress=False)
    assert read_records(run, "train") == read_records(straight, "train")  # resumed bit-identically

    code, _, err = run_cli(["render", run, "--workers", "1"])
    assert code == 0, err
    assert (run / "training.gif").stat().st_size > 0
    rows = evaluate_run(run)
    assert [r["iteration"] for r in rows] == [s.iteration for s in read_snapshots(run)]
    assert write_metrics_csv(run)[0].is_file()
    summary, _ = encode_run(run)  # the viewer: drawn and counted through the run's modality
    assert (summary["modality"], summary["modes_total"], summary["error"]) == ("toy", 8, None)


def test_a_former_image_reference_reads_as_images(tmp_path: Path) -> None:
    (tmp_path / SNAPSHOT_DIR).mkdir()
    np.savez(tmp_path / SNAPSHOT_DIR / REFERENCE_FILE, real=np.zeros((2, 1, 16, 16), np.uint8),
             modes=np.zeros((0, 2), np.float32), extent=np.float64(np.nan), grid_axis=np.zeros(0, np.float32),
             std=np.float64(np.nan), kind=np.str_("images"))
    assert read_reference(tmp_path).modality == "images"

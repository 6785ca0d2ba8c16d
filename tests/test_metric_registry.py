"""A metric is registered once (``gan_mixup.metric_registry``) and every reader follows: a toy metric,
the mean distance of the fakes to the origin, added in the one ``register_metric`` call below, arrives in
results.csv, scorecard.md, the `gan-mixup metrics` table, TensorBoard and the viewer's curves."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from cli_helpers import run_cli
from conftest import make_tiny_config
from gan_mixup.metric_registry import METRICS, Metric, MetricError, register_metric
from gan_mixup.metrics import evaluate_run, metrics_table
from gan_mixup.rundir import read_records, read_snapshots
from gan_mixup.sweeps import run_sweep, sweep_members
from gan_mixup.sweeps.scorecard import RESULT_COLUMNS, result_columns, write_scorecard
from gan_mixup.training import train


def origin_distance(fake: np.ndarray, real: np.ndarray) -> float:
    """Mean distance of the finite fakes to (0, 0)."""
    finite = fake[np.isfinite(fake).all(axis=1)]
    return float(np.linalg.norm(finite, axis=1).mean())


ORIGIN = Metric("origin_distance", "mean distance to the origin", "lower", ("toy",), "{:.3f}",
                header="origin dist.", compute=origin_distance)


@pytest.fixture
def origin_metric():
    before = dict(METRICS)
    register_metric(ORIGIN)  # the one place a new metric is added
    yield ORIGIN
    METRICS.clear()
    METRICS.update(before)


def test_the_built_in_registry_keeps_every_file_format_as_it_was():
    assert RESULT_COLUMNS[-8:] == ("d_grad_real", "d_grad_fake", "d_grad_mixed", "calibration_gap",
                                   "calibration_slope_fake", "calibration_slope_real", "status", "run")
    assert [m.name for m in METRICS.values() if m.scorecard] == [
        "modes_covered", "modes_near", "high_quality", "kl_modes", "sliced_wasserstein", "frechet", "precision", "recall",
        "density", "coverage", "calibration_gap", "calibration_slope_fake", "calibration_slope_real"]
    assert METRICS["modes_covered"].header_for(["toy", "images"]) == "modes covered (3σ)"
    assert METRICS["modes_covered"].header_for(["images"]) == "modes covered"


def test_a_metric_must_say_which_way_is_better_and_print_a_number():
    with pytest.raises(MetricError, match="better"):
        Metric("x", "x", better="up")
    with pytest.raises(MetricError, match="format"):
        Metric("x", "x", fmt="{:d}")


def test_a_registered_metric_reaches_results_scorecard_and_the_metrics_table(tmp_path, origin_metric):
    # runs trained before the metric existed: a recomputed scorecard measures it from their snapshots
    METRICS.pop("origin_distance")
    bases = {("ring8", ""): make_tiny_config(dataset="ring8")}
    out = tmp_path / "sweep"
    run_sweep(sweep_members(bases, objectives=["mixup"], alphas=[0.2], seeds=[0]), out, workers=1)
    assert "origin_distance" not in (out / "results.csv").read_text()
    register_metric(ORIGIN)

    assert result_columns()[-3:] == ("origin_distance", "status", "run")
    write_scorecard(out, recompute=True)
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    run = out / rows[0]["run"]
    expected = [origin_distance(s.fake, None) for s in read_snapshots(run)]
    assert [float(r["origin_distance"]) for r in rows] == pytest.approx(expected, rel=1e-5)  # CSV keeps 6 digits
    scorecard = (out / "scorecard.md").read_text()
    assert "| sliced W. | calib. gap | slope λ=0 | slope λ=1 | origin dist. | collapsed |" in scorecard
    assert f"| {expected[-1]:.3f} |" in scorecard

    code, stdout, _ = run_cli(["metrics", run])
    assert code == 0
    header, *lines = stdout.splitlines()
    assert header.split() == ["iteration", "modes_covered", "high_quality", "kl_modes", "sliced_wasserstein",
                              "d_grad_real", "d_grad_fake", "d_grad_mixed", "calibration_gap", "calibration_slope_fake",
                              "calibration_slope_real", "origin_distance"]
    assert float(lines[-2].split()[-1]) == pytest.approx(expected[-1], rel=1e-3)  # the last snapshot; then the path
    assert metrics_table(evaluate_run(run))[0] == header


def test_a_registered_metric_is_recorded_and_reaches_tensorboard_and_the_viewer(tmp_path, origin_metric):
    pytest.importorskip("tensorboard")  # in the test extra, so this runs in CI
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from gan_mixup.tensorboard_log import TensorBoardLogger, metrics_layout
    from gan_mixup.view import write_viewer
    from gan_mixup.view.encode import encode_run

    run = tmp_path / "run"
    train(make_tiny_config(iterations=12), run, callbacks=TensorBoardLogger.for_run(run))
    recorded = [r["origin_distance"] for r in read_records(run, "snapshot")]
    assert recorded == pytest.approx([origin_distance(s.fake, None) for s in read_snapshots(run)])

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [e.value for e in events.Scalars("metrics/origin_distance")] == pytest.approx(recorded)
    assert metrics_layout()["lower is better"]["mean distance to the origin"] == ["Multiline", ["metrics/origin_distance"]]

    _, data = encode_run(run)
    assert data["curves"]["origin_distance"][1] == pytest.approx(recorded[1:], rel=1e-3)  # iteration 0: no curve point
    page = write_viewer([run], tmp_path / "viewer")
    index = json.loads((page.parent / "data" / "index.js").read_text().removeprefix("window.GM_INDEX = ").rstrip(";\n"))
    assert {"name": "origin_distance", "label": "mean distance to the origin", "better": "lower"} in index["metrics"]


def test_the_metrics_table_reads_a_metric_under_the_name_an_older_run_recorded():
    old = [{"iteration": 0, "real_modes_covered": 10, "classifier_accuracy": 0.98765},
           {"iteration": 10, "modes_covered": 9, "frechet_digits": 12.5, "precision": 0.75}]
    header, row, ceiling, accuracy = metrics_table(old)
    assert header.split() == ["iteration", "modes_covered", "frechet_digits", "precision"]
    assert row.split() == ["10", "9", "12.5", "0.75"]
    assert ceiling == "real data at this sample size (the ceiling): modes_covered 10"
    assert accuracy == "classifier held-out accuracy: 0.9877"
    new = [{**old[1], "frechet": 12.5}]
    assert metrics_table(new)[0].split() == ["iteration", "modes_covered", "frechet", "precision"]

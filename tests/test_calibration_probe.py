"""The calibration probe (``gan_mixup.probes.calibration_curve``): D's mean σ(D(λ·x + (1−λ)·G(z))) on
11 λ from the fake end to the real end, against the line λ that mixup's target draws. Known values on
hand-made discriminators, nothing of training touched, every objective and both modalities probed,
the scalars in every table, and the paper's argument as a test: mixup's D ends closer to the line."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import make_tiny_config
from gan_mixup.config import ConfigError
from gan_mixup.metric_registry import METRICS
from gan_mixup.metrics import evaluate_run, metrics_table
from gan_mixup.objectives import OBJECTIVES
from gan_mixup.probes import (
    CALIBRATION_CURVES,
    CALIBRATION_LAMBDAS,
    CALIBRATION_METRICS,
    calibration_curve,
    calibration_noise,
    calibration_probe,
    calibration_record,
    calibration_summary,
)
from gan_mixup.rundir import read_records
from gan_mixup.training import train

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
import golden_runs  # noqa: E402

LAMBDAS = torch.tensor(CALIBRATION_LAMBDAS, dtype=torch.float64)


class LogitOfLinear(nn.Module):
    """D(x) = logit(a + b·x₀): σ(D) is the linear function ``a + b·x₀`` of the first coordinate."""

    def __init__(self, a: float, b: float) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logit(self.a + self.b * x[:, 0]).unsqueeze(1)


def segment(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Reals with x₀ in [0.8, 1] and fakes with x₀ in [0, 0.2] (means 0.9 and 0.1), second coordinate noise."""
    g = torch.Generator().manual_seed(0)
    real = torch.stack([torch.linspace(0.8, 1.0, n), torch.randn(n, generator=g)], dim=1)
    fake = torch.stack([torch.linspace(0.0, 0.2, n), torch.randn(n, generator=g)], dim=1)
    return real, fake


def test_the_curve_of_a_logit_of_a_linear_function_is_that_function_on_the_segment():
    real, fake = segment()
    sigma, raw = calibration_curve(LogitOfLinear(0.1, 0.8), real, fake)
    # σ(D) at λ·real + (1−λ)·fake is 0.1 + 0.8·(λ·x_real + (1−λ)·x_fake); its mean over the pairs
    # is the same line at the means 0.9 and 0.1: 0.18 + 0.64·λ
    expected = 0.18 + 0.64 * LAMBDAS
    torch.testing.assert_close(torch.as_tensor(sigma), expected, atol=1e-6, rtol=0)
    x = LAMBDAS[:, None] * real[:, 0].double() + (1 - LAMBDAS[:, None]) * fake[:, 0].double()  # (11, n)
    torch.testing.assert_close(torch.as_tensor(raw), torch.logit(0.1 + 0.8 * x).mean(dim=1), atol=1e-5, rtol=0)

    summary = calibration_summary(sigma)
    # |0.18 + 0.64·λ − λ| = |0.18 − 0.36·λ| on λ = 0, 0.1, ..., 1: 0.18, 0.144, 0.108, 0.072, 0.036, 0
    # and back up: 2 · 0.54 / 11
    torch.testing.assert_close(summary["calibration_gap"], 1.08 / 11, atol=1e-6, rtol=0)
    torch.testing.assert_close(summary["calibration_slope_fake"], 0.64, atol=1e-5, rtol=0)
    torch.testing.assert_close(summary["calibration_slope_real"], 0.64, atol=1e-5, rtol=0)


def test_a_discriminator_on_the_line_has_no_gap_and_slope_one_and_a_step_has_gap_a_quarter():
    real, fake = torch.ones(8, 1), torch.zeros(8, 1)
    sigma, raw = calibration_curve(LogitOfLinear(0.0, 1.0), real, fake)
    torch.testing.assert_close(torch.as_tensor(sigma), LAMBDAS, atol=1e-6, rtol=0)
    summary = calibration_summary(sigma)
    torch.testing.assert_close(summary["calibration_gap"], 0.0, atol=1e-6, rtol=0)
    torch.testing.assert_close(summary["calibration_slope_fake"], 1.0, atol=1e-5, rtol=0)
    torch.testing.assert_close(summary["calibration_slope_real"], 1.0, atol=1e-5, rtol=0)
    # logit(0) = −inf and logit(1) = +inf at the ends: σ of them is 0 and 1, the raw mean has no finite value
    assert math.isnan(raw[0]) and math.isnan(raw[-1]) and np.isfinite(raw[1:-1]).all()
    record = calibration_record(LogitOfLinear(0.0, 1.0), real, fake)
    assert record["calibration_logits"][0] is None and record["calibration_logits"][-1] is None
    json.dumps(record, allow_nan=False)  # a metrics.jsonl line stays strict JSON

    step = nn.Sequential(nn.Linear(1, 1))  # σ(1000·(x − 0.5)): 0 below the middle, 1 above
    with torch.no_grad():
        step[0].weight.fill_(1000.0)
        step[0].bias.fill_(-500.0)
    sigma, _ = calibration_curve(step, real, fake)
    expected = (LAMBDAS > 0.5).double() + 0.5 * (LAMBDAS == 0.5).double()
    torch.testing.assert_close(torch.as_tensor(sigma), expected, atol=1e-6, rtol=0)
    # |step − λ| sums to 2·(0 + 0.1 + 0.2 + 0.3 + 0.4) + 0 = 2.0 over 11 points; flat ends: slope 0
    summary = calibration_summary(sigma)
    torch.testing.assert_close(summary["calibration_gap"], 2.0 / 11, atol=1e-6, rtol=0)
    torch.testing.assert_close(summary["calibration_slope_fake"], 0.0, atol=1e-6, rtol=0)


def test_the_ends_are_the_reals_and_the_fakes_exactly():
    seen = []

    class Recording(nn.Module):
        def forward(self, x):
            seen.append(x.clone())
            return x.sum(dim=1)

    real, fake = torch.randn(5, 3), torch.randn(5, 3)
    calibration_curve(Recording(), real, fake)
    assert len(seen) == len(CALIBRATION_LAMBDAS)
    assert torch.equal(seen[0], fake) and torch.equal(seen[-1], real)


def test_probing_leaves_mode_buffers_weights_and_global_rng_as_they_were():
    torch.manual_seed(3)
    D = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1))
    D[1].running_mean.normal_()  # non-default statistics, so a change would show
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    for training in (True, False):
        D.train(training)
        before = {k: v.clone() for k, v in D.state_dict().items()}
        rng = torch.get_rng_state()
        calibration_curve(D, real, fake)
        after = D.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before), [k for k in before if not torch.equal(before[k], after[k])]
        assert [m.training for m in D.modules()] == [training] * len(list(D.modules()))
        assert torch.equal(torch.get_rng_state(), rng)
        assert all(p.grad is None for p in D.parameters())


def test_a_snapshots_probe_normalises_each_batch_by_its_own_statistics_and_restores_every_mode():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1)).eval()  # as a snapshot has it
    G = nn.Linear(3, 2).eval()
    real = torch.randn(200, 2) + 3.0  # far from the running statistics' defaults (mean 0, variance 1)
    before = {k: v.clone() for k, v in D.state_dict().items()}
    record = calibration_probe(G, D, real, latent_dim=3)
    assert not any(m.training for m in D.modules())
    assert all(torch.equal(before[k], v) for k, v in D.state_dict().items())
    with torch.no_grad():
        fake = G(calibration_noise(128, 3))
    D[1].train()
    batch, _ = calibration_curve(D, real[:128], fake)
    D[1].eval()
    running, _ = calibration_curve(D, real[:128], fake)
    assert record["calibration_curve"] == batch.tolist() != running.tolist()
    # g_step_batchnorm="running" (G's step sees the running statistics), or SyncBatchNorm: the caller's mode
    assert calibration_probe(G, D, real, 3, batch_statistics=False)["calibration_curve"] == running.tolist()
    synced = nn.Sequential(nn.Linear(2, 8), nn.SyncBatchNorm(8), nn.ReLU(), nn.Linear(8, 1)).eval()
    synced.load_state_dict(D.state_dict())
    assert calibration_probe(G, synced, real, 3)["calibration_curve"] == running.tolist()


def test_the_probe_noise_is_its_own_and_the_same_on_every_call():
    rng = torch.get_rng_state()
    a, b = calibration_noise(7, 3), calibration_noise(7, 3)
    assert torch.equal(a, b) and a.shape == (7, 3)
    assert torch.equal(torch.get_rng_state(), rng)


def _without_probe(monkeypatch):
    for module in ("gan_mixup.modalities.toy.training", "gan_mixup.modalities.images.training"):
        monkeypatch.setattr(f"{module}.calibration_probe", lambda *args, **kwargs: {})


@pytest.mark.parametrize("fields", [
    dict(objective="mixup"),
    dict(objective="erm", spectral_norm=True),  # power-iteration vectors: buffers a train-mode forward updates
    dict(dataset="digits", objective="erm", hidden=8, batch_size=16, fixed_samples=16, metric_samples=64,
         metric_frames=3, g_ema=0.9),  # DCGAN: BatchNorm in G and D
], ids=["points", "points-spectral-norm", "images"])
def test_a_probed_run_trains_byte_identically_to_an_unprobed_one(tmp_path, monkeypatch, fields):
    config = make_tiny_config(**fields, checkpoint_every=4)
    train(config, tmp_path / "probed")
    probed = read_records(tmp_path / "probed", "snapshot")
    assert any("calibration_gap" in r for r in probed)  # the probe ran
    with monkeypatch.context() as patch:
        _without_probe(patch)
        train(config, tmp_path / "unprobed")
    unprobed = read_records(tmp_path / "unprobed", "snapshot")
    assert not any("calibration_gap" in r for r in unprobed)
    assert golden_runs.digest_run(tmp_path / "probed") == golden_runs.digest_run(tmp_path / "unprobed")
    probe_keys = set(CALIBRATION_METRICS + CALIBRATION_CURVES)
    assert [{k: v for k, v in r.items() if k not in probe_keys} for r in probed] == unprobed


def test_every_objective_and_both_modalities_record_the_curve_and_its_scalars(tmp_path):
    images = dict(dataset="digits", hidden=8, batch_size=16, fixed_samples=16, metric_samples=64, metric_frames=2)
    probed = set()
    for name in sorted(OBJECTIVES):
        for modality, fields in (("points", {}), ("images", images)):
            try:
                config = make_tiny_config(objective=name, iterations=2, **fields)
            except ConfigError:  # an objective that refuses this modality's data has no run to probe
                continue
            run = tmp_path / f"{name}-{modality}"
            train(config, run)
            probed.add((name, modality))
            last = read_records(run, "snapshot")[-1]
            assert len(last["calibration_curve"]) == len(last["calibration_logits"]) == 11, (name, modality)
            assert all(0.0 <= v <= 1.0 for v in last["calibration_curve"]), (name, modality)
            assert calibration_summary(last["calibration_curve"]) == pytest.approx(
                {k: last[k] for k in CALIBRATION_METRICS}), (name, modality)
    assert {(name, m) for name in ("erm", "mixup", "wgan-gp", "hinge", "lsgan") for m in ("points", "images")} <= probed


def test_the_scalars_are_registered_and_kept_where_points_metrics_are_recomputed(tmp_path):
    assert METRICS["calibration_gap"].better == "lower"
    assert all(METRICS[k].results and METRICS[k].scorecard and METRICS[k].table for k in CALIBRATION_METRICS)
    pytest.importorskip("tensorboard")  # in the test extra, so this runs in CI
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from gan_mixup.tensorboard_log import TensorBoardLogger, metrics_layout

    run = tmp_path / "run"
    train(make_tiny_config(iterations=12), run, callbacks=TensorBoardLogger.for_run(run))
    recorded = {r["iteration"]: r for r in read_records(run, "snapshot")}
    rows = evaluate_run(run)  # points: recomputed from the snapshot files, the probe's values read back
    for key in CALIBRATION_METRICS + CALIBRATION_CURVES:
        assert [r[key] for r in rows] == [recorded[r["iteration"]][key] for r in rows]
    header = metrics_table(rows)[0].split()
    assert header[-3:] == list(CALIBRATION_METRICS)
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    for key in CALIBRATION_METRICS:
        assert [e.value for e in events.Scalars(f"metrics/{key}")] == pytest.approx([r[key] for r in rows])
    assert metrics_layout()["lower is better"][METRICS["calibration_gap"].label] == ["Multiline", ["metrics/calibration_gap"]]


def test_metrics_csv_holds_one_number_a_cell_each_curve_a_column_per_lambda(tmp_path):
    import csv

    from gan_mixup.metrics import write_metrics_csv
    from gan_mixup.probes import CALIBRATION_LAMBDAS

    run = tmp_path / "run"
    train(make_tiny_config(iterations=12), run)
    path, rows = write_metrics_csv(run)
    table = list(csv.DictReader(path.read_text().splitlines()))
    assert "calibration_curve" not in table[0] and "calibration_logits" not in table[0]
    for key in CALIBRATION_CURVES:
        columns = [f"{key}_{lam:g}" for lam in CALIBRATION_LAMBDAS]
        assert columns[0] == f"{key}_0" and columns[-1] == f"{key}_1" and all(c in table[0] for c in columns)
        assert [[float(r[c]) for c in columns] for r in table] == [pytest.approx(row[key], rel=1e-5) for row in rows]


# The paper's argument (Zhang et al. 2018, "Stabilization of GANs"): mixup makes D behave linearly
# between real and fake. 1,000 iterations of a width-64 GAN on the ring: ERM's D is a trough (σ near 0
# between the ends: gap 0.36-0.38 on seeds 0-5), mixup's rises far more evenly (0.21-0.27); seed 1:
# ERM 0.362, mixup 0.209 (measured on an Intel Xeon, 1 thread).
RING_RUN = dict(dataset="ring8", iterations=1000, hidden=64, batch_size=64, d_steps=2, snapshot_frames=3, seed=1)


def test_a_discriminator_trained_with_mixup_ends_closer_to_the_line_than_erms(tmp_path):
    gaps = {}
    for objective in ("erm", "mixup"):
        run = tmp_path / objective
        train(make_tiny_config(objective=objective, **RING_RUN), run)
        last = read_records(run, "snapshot")[-1]
        assert last["iteration"] == RING_RUN["iterations"]
        gaps[objective] = last["calibration_gap"]
    assert gaps["mixup"] < gaps["erm"] - 0.1, gaps

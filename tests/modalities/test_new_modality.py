"""What adding a modality touches. Inside the package: a new package gan_mixup/modalities/<name>/ (spec.py
with its ``ModalitySpec``, training.py, draw.py, metrics.py), one line in ``REGISTRY``
(gan_mixup/modalities/__init__.py) and a ``Metric`` row per metric it records (metric_registry.py);
optionally its pictures in the browser viewer (view/encode.py ``PICTURES``) and a subcommand (cli.py).
From outside, as here: a spec, one module doing its three jobs (this one), ``register`` and
``register_metric``. The signals modality written here trains, records, resumes, renders and scores
through the package unchanged. And the package itself asks the modality, never tests for one by
name, outside the modalities."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import gan_mixup
from gan_mixup import RunConfig
from gan_mixup.metric_registry import METRICS, Metric, register_metric
import gan_mixup.metrics
from gan_mixup.modalities import REGISTRY, DrawingModule, MeasuringModule, ModalitySpec, TrainingModule, drawing_of, measuring_of, modality_of, register, training_of
from gan_mixup.modalities.common import clear_frame  # noqa: F401  (this module's clear_frame)
from gan_mixup.render import render_run
from gan_mixup.rundir import Reference, Snapshot, read_records, read_snapshots, write_snapshot
from gan_mixup.sweeps.scorecard import write_scorecard
from gan_mixup.sweeps import run_sweep, sweep_members

LENGTH = 16  # samples per signal
PHASES = 4  # the modes: sine waves at four phases


class Sines:
    """Sine waves of one period over ``LENGTH`` samples at one of ``PHASES`` phases, with a little noise."""

    name = "sines"

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        phase = torch.randint(PHASES, (n, 1), generator=generator) * (2 * torch.pi / PHASES)
        t = torch.linspace(0, 2 * torch.pi, LENGTH)
        return torch.sin(t + phase) + 0.01 * torch.randn(n, LENGTH, generator=generator)


def phase_error(fake: np.ndarray) -> float:
    """Mean distance of each fake signal to the nearest clean wave: 0 on the data, about 1 for noise."""
    t = np.linspace(0, 2 * np.pi, LENGTH)
    waves = np.stack([np.sin(t + k * 2 * np.pi / PHASES) for k in range(PHASES)])
    distance = np.sqrt(((fake[:, None, :] - waves[None]) ** 2).mean(-1)).min(1)
    return float(distance.mean())


# ----- what the signals modality declares ----------------------------------------------------------

SIGNALS = ModalitySpec(
    name="signals",
    datasets=("sines",),
    default_dataset="sines",
    training=__name__, drawing=__name__, measuring=__name__,  # this module does all three jobs
    defaults=MappingProxyType({"latent_dim": 4, "hidden": 32, "iterations": 40, "batch_size": 32, "d_steps": 1,
                               "lr": 1e-3, "betas": (0.5, 0.999), "fixed_samples": 64, "snapshot_frames": 5,
                               "checkpoint_every": 20, "metric_samples": 0, "metric_frames": 0}),
    refused_fields=MappingProxyType({"image_size": "signals are 1-D", "channels": "signals are 1-D"}),
    distance_metric="phase_error",
)


# ----- what it does: training ----------------------------------------------------------------------

def build_data(config: Any) -> Sines:
    return Sines()


def build_models(config: Any, data: Any) -> tuple[nn.Module, nn.Module]:
    h = config.hidden
    return (nn.Sequential(nn.Linear(config.latent_dim, h), nn.ReLU(), nn.Linear(h, LENGTH)),
            nn.Sequential(nn.Linear(LENGTH, h), nn.ReLU(), nn.Linear(h, 1)))


def metric_iterations(config: Any) -> None:
    return None


def make_reference(config: Any, data: Any, generator: torch.Generator) -> Reference:
    real = data.sample(config.fixed_samples, generator).numpy()
    return Reference(real, np.zeros((0, 2), np.float32), float("nan"), np.zeros(0, np.float32), None, SIGNALS.name)


def take_snapshot(state: Any, run_dir: Path, G: nn.Module, D: nn.Module, with_metrics: bool = True) -> dict[str, Any]:
    fake = G(state.fixed_noise).float().cpu().numpy()
    write_snapshot(run_dir, Snapshot(state.iteration, fake, np.zeros((0, 0), np.float32)))
    return {"kind": "snapshot", "iteration": state.iteration, "phase_error": phase_error(fake)}


# ----- measuring -----------------------------------------------------------------------------------

def evaluate_run(run_dir: Path, reference: Any) -> list[dict[str, Any]]:
    return [{"iteration": s.iteration, "phase_error": phase_error(s.fake)} for s in read_snapshots(run_dir)]


def modes_total(reference: Any, records: list[dict[str, Any]]) -> int:
    return PHASES


# ----- drawing -------------------------------------------------------------------------------------

def sample_problem(fake: Any) -> str:
    return "" if fake.ndim == 2 and fake.shape[1] == LENGTH else f"signals are (N, {LENGTH}), not {fake.shape}"


def setup_axes(ax: Any, labelsize: float) -> None:
    ax.tick_params(labelsize=labelsize)


def draw_frame(ax: Any, reference: Any, snapshot: Any, quiver: bool = True) -> str:
    ax.plot(reference.real[:4].T, color="#ff7f0e", lw=0.8)
    ax.plot(snapshot.fake[:4].T, color="#0b5d1e", lw=0.8)
    return ""


def draw_cell(ax: Any, reference: Any, snapshot: Any) -> None:
    draw_frame(ax, reference, snapshot)


def draw_figure5_cell(ax: Any, reference: Any, snapshot: Any, extent: float) -> None:
    draw_cell(ax, reference, snapshot)


@pytest.fixture
def signals():
    before, metrics = dict(REGISTRY), dict(METRICS)
    register(SIGNALS)  # the one registry line a new modality adds (REGISTRY in gan_mixup/modalities/__init__.py)
    register_metric(Metric("phase_error", "phase error", "lower", ("signals",), "{:.3f}"))  # and its metric's
    yield SIGNALS
    REGISTRY.clear()
    REGISTRY.update(before)
    METRICS.clear()
    METRICS.update(metrics)


def config(**fields: Any) -> RunConfig:
    return RunConfig(dataset="sines", objective="mixup", alpha=0.2, seed=0, **fields)


def test_the_dataset_picks_the_new_modality_and_its_defaults(signals):
    assert modality_of("sines") is signals and config().modality == "signals"
    this_module = sys.modules[__name__]
    assert training_of(signals) is drawing_of(signals) is measuring_of(signals) is this_module
    cfg = config()
    assert (cfg.latent_dim, cfg.hidden, cfg.iterations, cfg.batch_size) == (4, 32, 40, 32)
    with pytest.raises(gan_mixup.ConfigError, match="image_size"):
        config(image_size=32)


def protocol(cls: type) -> list[str]:
    return [name for name in vars(cls) if not name.startswith("_")]


@pytest.mark.parametrize("name", ["toy", "images", "signals"])
def test_each_modality_s_modules_do_every_job_of_their_protocol(signals, name):
    spec = REGISTRY[name]
    for module, role in ((training_of(spec), TrainingModule), (drawing_of(spec), DrawingModule),
                         (measuring_of(spec), MeasuringModule)):
        missing = [f for f in protocol(role) if not callable(getattr(module, f, None))]
        assert not missing, f"{module.__name__} lacks {missing} of {role.__name__}"
    if name != "signals":  # a built-in modality is one package: gan_mixup/modalities/<name>/
        assert [spec.training, spec.drawing, spec.measuring] == [
            f"gan_mixup.modalities.{name}.{m}" for m in ("training", "draw", "metrics")]
        assert type(spec).__module__ == "gan_mixup.modalities.spec"


def test_a_signals_run_trains_records_resumes_renders_and_scores(signals, tmp_path):
    run = tmp_path / "run"
    gan_mixup.train(config(iterations=20), run_dir=run, progress=False)
    gan_mixup.train(config(), run_dir=run, resume=True, progress=False)
    straight = tmp_path / "straight"
    gan_mixup.train(config(), run_dir=straight, progress=False)
    assert read_records(run, "train") == read_records(straight, "train")  # resumed bit-identically

    snapshots = read_records(run, "snapshot")
    assert [r["iteration"] for r in snapshots][-1] == 40
    assert all(0 <= r["phase_error"] < 5 for r in snapshots)
    assert [r["phase_error"] for r in gan_mixup.metrics.evaluate_run(run)] == pytest.approx([r["phase_error"] for r in snapshots])

    outputs = render_run(run, workers=1)
    assert (run / "training.gif").is_file() and (run / "training.gif").stat().st_size > 0
    assert outputs


def test_a_signals_sweep_scores_with_the_modalitys_columns(signals, tmp_path):
    members = sweep_members({("sines", ""): config(iterations=20)}, objectives=["erm", "mixup"], alphas=[0.2],
                            seeds=[0, 1])
    run_sweep(members, tmp_path / "sweep", workers=1, progress=False)
    written = write_scorecard(tmp_path / "sweep")
    assert "phase_error" in (tmp_path / "sweep" / "results.csv").read_text().splitlines()[0]
    assert "phase error" in (tmp_path / "sweep" / "scorecard.md").read_text()
    assert written


# What testing for a kind looks like; outside gan_mixup/modalities/ the package asks the modality.
KIND_TESTS = re.compile(r"""[!=]= *["'](points|images)["']|["'](points|images)["'] *[!=]=|in \([^)]*["'](points|images)["']"""
                        r"""|\bis_image\b|dataset_kind\(|IMAGE_DATASETS|TOY_DATASETS|\.kind\b *[!=]=|\[["'](points|images)["']\]""")
# Where a kind's name is data, not a decision: the run-directory format records it, and reads runs
# written before it recorded one, or under a former name, as toy.
FORMAT = {"gan_mixup/rundir.py"}


def test_no_modality_test_outside_the_modality_modules():
    package = Path(gan_mixup.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).as_posix()
        if rel.startswith("gan_mixup/modalities/") or rel in FORMAT:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if KIND_TESTS.search(code):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "\n".join(found)

"""Shared tiny fixtures: small configs, hand-set linear discriminators, run-directory readers."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from gan_mixup.config import RunConfig
from gan_mixup.modalities import modality_of

# The toy networks are far too small to gain from intra-op threads, and on a shared machine two
# threads per process oversubscribe the cores: one thread made a 100-iteration run ~10x faster.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_user_data_root(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or fills the user's real data folder: the default data root (--data-root left out)
    is a path under pytest's temp folder that holds nothing (subprocesses inherit it)."""
    monkeypatch.setenv("GAN_MIXUP_DATA", str(tmp_path_factory.getbasetemp() / "default-data-root"))


def make_tiny_config(**overrides: Any) -> RunConfig:
    """A RunConfig that trains in well under a second: width 16, a handful of iterations."""
    fields: dict[str, Any] = dict(
        hidden=16,
        iterations=12,
        batch_size=32,
        d_steps=2,
        snapshot_frames=3,
        fixed_samples=200,
        grid_size=16,
        log_every=2,
        checkpoint_every=1000,
    )
    fields.update(overrides)
    if "grid_size" in modality_of(fields.get("dataset", RunConfig.dataset)).refused_fields and "grid_size" not in overrides:
        del fields["grid_size"]  # a field the run's modality never reads must stay at its default
    return RunConfig(**fields)


@pytest.fixture(scope="session")
def tiny_config():
    """``tiny_config(**kw)``: the tiny RunConfig with ``kw`` applied."""
    return make_tiny_config


def make_linear_d(weight: list[float], bias: float, dtype: torch.dtype = torch.float32) -> nn.Linear:
    """A linear discriminator D(x) = w·x + b with known weights, for hand-computed losses."""
    D = nn.Linear(len(weight), 1).to(dtype)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([weight], dtype=dtype))
        D.bias.fill_(bias)
    return D


def assert_same(a: Any, b: Any, where: str = "state") -> None:
    """Recursive, bit-exact equality of two states or loaded checkpoints (tensors with torch.equal,
    dtype and shape included)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{tuple(a.shape)} vs {b.dtype}{tuple(b.shape)}"
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}"
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def read_metrics_file(run_dir: Path) -> list[dict[str, Any]]:
    """The records of a run's metrics.jsonl, in order."""
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
def linear_d():
    """``linear_d(weight, bias, dtype=float32)``: an ``nn.Linear`` D with those weights."""
    return make_linear_d


@pytest.fixture
def read_metrics():
    """``read_metrics(run_dir)``: the parsed records of ``run_dir/metrics.jsonl``."""
    return read_metrics_file

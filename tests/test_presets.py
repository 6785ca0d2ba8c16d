"""presets: ``paper-code`` is the authors' demo, it validates, trains, and allows their α = 0 ERM."""
from __future__ import annotations

import numpy as np
import pytest

from gan_mixup.config import RunConfig
from gan_mixup.objectives import MixupGAN
from gan_mixup.presets import PRESETS, PresetError, load_preset
from gan_mixup.rundir import list_snapshots, read_snapshot
from gan_mixup.training import build_objective, train


def test_paper_code_preset_is_the_authors_demo():
    cfg = RunConfig(**load_preset("paper-code"))
    assert cfg.objective == "mixup"
    assert cfg.lambda_distribution == "uniform"
    assert cfg.pairing == "shuffled"
    assert cfg.generator_loss == "minimax"
    assert cfg.latent_dim == 2
    assert (cfg.layers, cfg.hidden) == (3, 512)
    assert cfg.batch_size == 128 and cfg.d_steps == 5
    assert cfg.iterations == 20000
    assert cfg.fixed_samples == 1000
    assert cfg.lr == 1e-3 and cfg.betas == (0.9, 0.999)
    assert cfg.dataset_options == {}  # ring8 / grid25 defaults: the authors' scales
    assert cfg.preset == "paper-code"
    objective = build_objective(cfg)
    assert isinstance(objective, MixupGAN)
    assert (objective.lambda_distribution, objective.pairing, objective.generator_loss_form) == ("uniform", "shuffled", "minimax")
    assert objective.batches_per_step == 2


def test_paper_text_preset_is_the_papers_text():
    cfg = RunConfig(**load_preset("paper-text"))
    assert (cfg.lambda_distribution, cfg.pairing, cfg.generator_loss) == ("beta", "real-fake", "non-saturating")


def test_load_preset_returns_a_fresh_copy():
    fields = load_preset("paper-code")
    fields["dataset_options"]["radius"] = 2.0
    fields["hidden"] = 3
    again = load_preset("paper-code")
    assert again["dataset_options"] == {} and again["hidden"] == 512


def test_unknown_preset_names_the_choices():
    with pytest.raises(PresetError) as err:
        load_preset("paper")
    assert "paper" in str(err.value)
    for name in PRESETS:
        assert name in str(err.value)
    assert isinstance(err.value, ValueError)


def test_short_run_with_the_paper_code_preset(tmp_path, read_metrics):
    fields = {**load_preset("paper-code"), "hidden": 16, "iterations": 12, "alpha": 0.2, "snapshot_frames": 0,
              "grid_size": 16, "log_every": 2}
    result = train(RunConfig(**fields), tmp_path / "run")
    assert result.iteration == 12
    iterations = [read_snapshot(p).iteration for p in list_snapshots(tmp_path / "run")]
    assert iterations == [0, 10, 12]  # 10 is the one paper iteration this run reaches
    records = read_metrics(tmp_path / "run")
    train_records = [r for r in records if r["kind"] == "train"]
    assert len(train_records) == 6
    for r in train_records:
        assert np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"])
        # Mixed labels λ·l1 + (1−λ)·l2 over a half-real batch with λ ≤ 0.2: their mean is about 0.5.
        assert 0.3 < r["lam_mean"] < 0.7
        # The minimax G loss is minus a BCE, so it is never positive.
        assert r["g_loss"] <= 0
    for p in list_snapshots(tmp_path / "run"):
        assert np.isfinite(read_snapshot(p).fake).all()


def test_alpha_zero_with_the_preset_is_the_authors_erm(tmp_path):
    cfg = RunConfig(**{**load_preset("paper-code"), "alpha": 0.0, "hidden": 16, "iterations": 3, "snapshot_frames": 0,
                       "grid_size": 8, "fixed_samples": 50})
    objective = build_objective(cfg)
    assert objective.alpha == 0.0 and objective.batches_per_step == 1  # one unmixed shuffled batch
    result = train(cfg, None)
    assert result.iteration == 3 and np.isfinite(result.last["d_loss"])
    assert result.last["lam_mean"] == 0.5  # labels: exactly B ones and B zeros

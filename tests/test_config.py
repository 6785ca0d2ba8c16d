"""config: the paper's defaults, JSON round trips, validation naming the field, resume conflicts."""
from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_mixup.config import ARCHITECTURE_FIELDS, PAPER_ITERATIONS, ConfigError, ToyConfig, resume_conflicts
from gan_mixup.train import check_config
from toy_data import DATASETS

POSITIVE_INT_FIELDS = (
    "iterations", "batch_size", "d_steps", "latent_dim", "hidden", "layers",
    "fixed_samples", "grid_size", "log_every", "checkpoint_every",
)


def test_defaults_are_the_paper_settings():
    cfg = ToyConfig()
    assert (cfg.layers, cfg.hidden) == (3, 512)
    assert cfg.batch_size == 128
    assert cfg.d_steps == 5
    assert cfg.latent_dim == 2
    assert cfg.iterations == 20000
    assert cfg.lr == 1e-3 and cfg.betas == (0.9, 0.999)  # Adam's defaults
    assert cfg.dataset == "ring8" and cfg.dataset_options == {}
    assert cfg.objective == "mixup" and cfg.alpha == 0.2  # Figure 5's "mixup GAN (α = 0.2)"
    assert cfg.lambda_distribution == "beta" and cfg.pairing == "real-fake"  # the paper's text
    assert PAPER_ITERATIONS == (10, 100, 1000, 10000, 20000)


def test_json_round_trip_of_defaults_and_of_a_changed_config():
    for cfg in (
        ToyConfig(),
        ToyConfig(dataset="grid25", dataset_options={"spacing": 2.0, "std": 0.05}, objective="erm", hidden=64,
                  iterations=300, snapshot_iterations=(7, 250), betas=(0.5, 0.99), regularizers=("r1:10",),
                  seed=3, preset="paper-text"),
    ):
        text = cfg.to_json()
        assert isinstance(json.loads(text), dict)
        back = ToyConfig.from_json(text)
        assert back == cfg
        assert back.to_json() == text
        assert isinstance(back.betas, tuple) and isinstance(back.snapshot_iterations, tuple)


def test_load_reads_a_file_and_refuses_a_missing_one(tmp_path):
    cfg = ToyConfig(iterations=50, hidden=16)
    (tmp_path / "config.json").write_text(cfg.to_json())
    assert ToyConfig.load(tmp_path / "config.json") == cfg
    with pytest.raises(ConfigError, match="no config file"):
        ToyConfig.load(tmp_path / "missing.json")


def test_config_is_frozen_and_replace_validates():
    cfg = ToyConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hidden = 3  # type: ignore[misc]
    assert cfg.replace(hidden=64).hidden == 64
    with pytest.raises(ConfigError, match="hidden"):
        cfg.replace(hidden=0)


def test_unknown_keys_are_an_error_naming_them():
    data = ToyConfig().to_dict()
    data["hiden"] = 64
    data["zeta"] = 1
    with pytest.raises(ConfigError, match="hiden, zeta"):
        ToyConfig.from_dict(data)


@pytest.mark.parametrize("text", ["{", "not json", '{"hidden": 16,}', ""])
def test_malformed_json_is_a_config_error(text):
    with pytest.raises(ConfigError, match="JSON"):
        ToyConfig.from_json(text)


@pytest.mark.parametrize("text", ["[1, 2]", "3", '"ring8"', "null"])
def test_json_that_is_not_an_object_is_refused(text):
    with pytest.raises(ConfigError, match="JSON object"):
        ToyConfig.from_json(text)


@pytest.mark.parametrize(
    "field, value",
    [
        ("hidden", "512"),
        ("hidden", 2.5),
        ("iterations", True),
        ("iterations", "many"),
        ("batch_size", [128]),
        ("lr", "fast"),
        ("lr", [1e-3]),
        ("alpha", "0.2"),
        ("alpha", True),
        ("seed", "0"),
        ("seed", True),
        ("snapshot_frames", "5"),
        ("snapshot_frames", 2.5),
        ("betas", 0.9),
        ("betas", [0.9]),
        ("betas", ["a", "b"]),
        ("snapshot_iterations", 5),
        ("snapshot_iterations", [True]),
        ("regularizers", 5),
        ("dataset_options", [1.0]),
        ("objective_options", "gp_weight"),
        ("spectral_norm", "yes"),
        ("lambda_distribution", 1),
        ("pairing", None),
        ("generator_loss", "minmax"),
        ("on_nonfinite", "ignore"),
    ],
)
def test_wrong_types_raise_config_error_naming_the_field(field, value):
    text = json.dumps({field: value})
    with pytest.raises(ConfigError) as from_json:
        ToyConfig.from_json(text)
    with pytest.raises(ConfigError) as direct:
        ToyConfig(**{field: value})
    for err in (from_json, direct):
        message = str(err.value)
        # One entry of snapshot_iterations is reported as "snapshot iteration True is outside the run".
        assert field in message or (field == "snapshot_iterations" and "snapshot iteration" in message), message


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"iterations": 0}, "iterations"),
        ({"iterations": -5}, "iterations"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": -0.2}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"alpha": float("inf")}, "alpha"),
        ({"alpha": 1.5, "lambda_distribution": "uniform"}, "alpha"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("inf")}, "lr"),
        ({"betas": (0.9, 1.0)}, "betas"),
        ({"betas": (0.9, float("nan"))}, "betas"),
        ({"snapshot_frames": -1}, "snapshot_frames"),
        ({"seed": -1}, "seed"),
        ({"iterations": 100, "snapshot_iterations": (10, 200)}, "snapshot iteration"),
        ({"iterations": 100, "snapshot_iterations": (0,)}, "snapshot iteration"),
        ({"dataset": "ring9"}, "dataset"),
        ({"objective": "mixupp"}, "objective"),
    ],
)
def test_out_of_range_values_raise_config_error_naming_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        ToyConfig(**changes)
    # The same through JSON (NaN/inf are written by Python's json as NaN/Infinity, which it reads back).
    with pytest.raises(ConfigError, match=field):
        ToyConfig.from_json(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}))


def test_unknown_dataset_and_objective_list_the_choices():
    with pytest.raises(ConfigError) as err:
        ToyConfig(dataset="ring9")
    assert all(name in str(err.value) for name in DATASETS)
    with pytest.raises(ConfigError) as err:
        ToyConfig(objective="wgan")
    assert "erm" in str(err.value) and "mixup" in str(err.value)


def test_alpha_zero_is_allowed_with_uniform_lambda_and_for_erm():
    assert ToyConfig(alpha=0.0, lambda_distribution="uniform").alpha == 0.0
    assert ToyConfig(alpha=0.0, objective="erm").alpha == 0.0
    assert ToyConfig(alpha=1.0, lambda_distribution="uniform").alpha == 1.0
    assert ToyConfig(alpha=2.0).alpha == 2.0  # Beta(2, 2) is fine


def test_snapshot_iterations_at_the_edges_of_the_run_are_allowed():
    assert ToyConfig(iterations=100, snapshot_iterations=(1, 100)).snapshot_iterations == (1, 100)
    assert ToyConfig(iterations=100, snapshot_frames=0).snapshot_frames == 0


@pytest.mark.parametrize("field, value", [("layers", 7), ("grid_size", 1000), ("grid_size", 8)])
def test_image_configs_refuse_toy_only_fields_away_from_their_defaults(field, value):
    with pytest.raises(ConfigError, match=f"{field} applies to toy datasets only, not 'digits'"):
        ToyConfig(dataset="digits", **{field: value})
    # Their defaults, as every image config.json spells them out, are accepted.
    assert ToyConfig.from_json(ToyConfig(dataset="digits").to_json()).layers == 3


def test_toy_configs_refuse_the_image_only_sync_batchnorm():
    with pytest.raises(ConfigError, match="sync_batchnorm applies to image datasets only, not 'ring8'"):
        ToyConfig(sync_batchnorm=True)
    assert ToyConfig(dataset="digits", sync_batchnorm=True).sync_batchnorm


@pytest.mark.parametrize("preset", ["nope", "", 3])
def test_an_unknown_preset_is_refused_with_the_choices(preset):
    with pytest.raises(ConfigError, match="unknown preset .*paper-code, paper-text"):
        ToyConfig.from_json(json.dumps({"preset": preset}))
    assert ToyConfig(preset="paper-code").preset == "paper-code" and ToyConfig().preset is None


def test_image_metric_samples_are_off_or_enough_for_a_covariance():
    with pytest.raises(ConfigError, match="metric_samples must be 0 .* or at least 2"):
        ToyConfig(dataset="digits", metric_samples=1)
    assert ToyConfig(dataset="digits", metric_samples=0).metric_samples == 0
    assert ToyConfig(dataset="digits", metric_samples=2).metric_samples == 2


def test_load_fills_only_the_fields_a_file_leaves_out(tmp_path):
    (tmp_path / "old.json").write_text('{"image_size": 16, "hidden": 8}')
    cfg = ToyConfig.load(tmp_path / "old.json", defaults={"dataset": "digits"})
    assert (cfg.dataset, cfg.image_size, cfg.hidden) == ("digits", 16, 8)
    (tmp_path / "named.json").write_text('{"dataset": "stacked-digits"}')
    assert ToyConfig.load(tmp_path / "named.json", defaults={"dataset": "digits"}).dataset == "stacked-digits"


# ----- resume -----------------------------------------------------------------------------------

def test_resume_conflicts_list_architecture_fields_but_not_iterations():
    saved = ToyConfig(iterations=100, hidden=32)
    assert resume_conflicts(saved, saved.replace(iterations=500, log_every=7, checkpoint_every=50, snapshot_frames=9)) == []
    conflicts = resume_conflicts(saved, saved.replace(hidden=64, alpha=0.4, seed=1))
    assert len(conflicts) == 3
    assert any(c.startswith("hidden: 32 -> 64") for c in conflicts)
    assert any(c.startswith("alpha: 0.2 -> 0.4") for c in conflicts)
    assert any(c.startswith("seed: 0 -> 1") for c in conflicts)
    assert "iterations" not in ARCHITECTURE_FIELDS
    for name in ("hidden", "layers", "latent_dim", "batch_size", "d_steps", "objective", "dataset", "lr", "seed"):
        assert name in ARCHITECTURE_FIELDS


# ----- properties --------------------------------------------------------------------------------

_valid_configs = st.builds(
    dict,
    dataset=st.sampled_from(sorted(DATASETS)),
    objective=st.sampled_from(["erm", "mixup"]),
    alpha=st.floats(min_value=0.01, max_value=1.0),
    lambda_distribution=st.sampled_from(["beta", "uniform"]),
    lambda_sampling=st.sampled_from(["per-sample", "per-batch"]),
    pairing=st.sampled_from(["real-fake", "shuffled"]),
    generator_loss=st.sampled_from(["non-saturating", "saturating", "minimax"]),
    latent_dim=st.integers(1, 16),
    hidden=st.integers(1, 1024),
    layers=st.integers(1, 6),
    iterations=st.integers(1, 50_000),
    batch_size=st.integers(1, 512),
    d_steps=st.integers(1, 10),
    lr=st.floats(min_value=1e-6, max_value=1.0),
    betas=st.tuples(st.floats(0, 0.99), st.floats(0, 0.9999)),
    seed=st.integers(0, 2**32 - 1),
    snapshot_frames=st.integers(0, 500),
    fixed_samples=st.integers(1, 5000),
    grid_size=st.integers(2, 128),
    log_every=st.integers(1, 100),
    spectral_norm=st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(fields=_valid_configs, data=st.data())
def test_any_valid_config_round_trips_and_builds_its_objective(fields, data):
    fields["snapshot_iterations"] = data.draw(st.lists(st.integers(1, fields["iterations"]), max_size=4))
    cfg = ToyConfig(**fields)
    assert ToyConfig.from_json(cfg.to_json()) == cfg
    assert ToyConfig.from_dict(json.loads(cfg.to_json())) == cfg
    check_config(cfg)  # a config that validates can also build its dataset and objective


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(POSITIVE_INT_FIELDS), value=st.integers(max_value=0))
def test_any_integer_field_below_one_raises_naming_it(field, value):
    with pytest.raises(ConfigError, match=field):
        ToyConfig(**{field: value})

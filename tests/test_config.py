"""config: the paper's defaults, JSON round trips, validation naming the field, resume conflicts."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_mixup.config import ARCHITECTURE_FIELDS, PAPER_ITERATIONS, ConfigError, RunConfig, field_default, resume_conflicts
from gan_mixup.training import check_config
from toy_data import DATASETS

POSITIVE_INT_FIELDS = (
    "iterations", "batch_size", "d_steps", "latent_dim", "hidden", "layers",
    "fixed_samples", "grid_size", "log_every", "checkpoint_every",
)


def test_defaults_are_the_paper_settings():
    cfg = RunConfig()
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
        RunConfig(),
        RunConfig(dataset="grid25", dataset_options={"spacing": 2.0, "std": 0.05}, objective="erm", hidden=64,
                  iterations=300, snapshot_iterations=(7, 250), betas=(0.5, 0.99), regularizers=("r1:10",),
                  seed=3, preset="paper-text"),
    ):
        text = cfg.to_json()
        assert isinstance(json.loads(text), dict)
        back = RunConfig.from_json(text)
        assert back == cfg
        assert back.to_json() == text
        assert isinstance(back.betas, tuple) and isinstance(back.snapshot_iterations, tuple)


def test_load_reads_a_file_and_refuses_a_missing_one(tmp_path):
    cfg = RunConfig(iterations=50, hidden=16)
    (tmp_path / "config.json").write_text(cfg.to_json())
    assert RunConfig.load(tmp_path / "config.json") == cfg
    with pytest.raises(ConfigError, match="no config file"):
        RunConfig.load(tmp_path / "missing.json")


def test_config_is_frozen_and_replace_validates():
    cfg = RunConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hidden = 3  # type: ignore[misc]
    assert cfg.replace(hidden=64).hidden == 64
    with pytest.raises(ConfigError, match="hidden"):
        cfg.replace(hidden=0)


def test_unknown_keys_are_an_error_naming_them():
    data = RunConfig().to_dict()
    data["hiden"] = 64
    data["zeta"] = 1
    with pytest.raises(ConfigError, match="hiden, zeta"):
        RunConfig.from_dict(data)


@pytest.mark.parametrize("text", ["{", "not json", '{"hidden": 16,}', ""])
def test_malformed_json_is_a_config_error(text):
    with pytest.raises(ConfigError, match="JSON"):
        RunConfig.from_json(text)


@pytest.mark.parametrize("text", ["[1, 2]", "3", '"ring8"', "null"])
def test_json_that_is_not_an_object_is_refused(text):
    with pytest.raises(ConfigError, match="JSON object"):
        RunConfig.from_json(text)


@pytest.mark.parametrize("text, words", [("{nope", "JSON"), ("[1, 2]", "JSON object"), ('{"hiden": 1}', "hiden")])
def test_a_bad_config_file_is_named_in_its_error(tmp_path, text, words):
    path = tmp_path / "mine.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: .*{words}"):
        RunConfig.load(path)


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
        RunConfig.from_json(text)
    with pytest.raises(ConfigError) as direct:
        RunConfig(**{field: value})
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
        RunConfig(**changes)
    # The same through JSON (NaN/inf are written by Python's json as NaN/Infinity, which it reads back).
    with pytest.raises(ConfigError, match=field):
        RunConfig.from_json(json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}))


def test_unknown_dataset_and_objective_list_the_choices():
    with pytest.raises(ConfigError) as err:
        RunConfig(dataset="ring9")
    assert all(name in str(err.value) for name in DATASETS)
    with pytest.raises(ConfigError) as err:
        RunConfig(objective="wgan")
    assert "erm" in str(err.value) and "mixup" in str(err.value)


def test_alpha_zero_is_allowed_with_uniform_lambda_and_for_erm():
    assert RunConfig(alpha=0.0, lambda_distribution="uniform").alpha == 0.0
    assert RunConfig(alpha=0.0, objective="erm").alpha == 0.0
    assert RunConfig(alpha=1.0, lambda_distribution="uniform").alpha == 1.0
    assert RunConfig(alpha=2.0).alpha == 2.0  # Beta(2, 2) is fine


def test_snapshot_iterations_at_the_edges_of_the_run_are_allowed():
    assert RunConfig(iterations=100, snapshot_iterations=(1, 100)).snapshot_iterations == (1, 100)
    assert RunConfig(iterations=100, snapshot_frames=0).snapshot_frames == 0


@pytest.mark.parametrize("field, value", [("layers", 7), ("grid_size", 1000), ("grid_size", 8)])
def test_image_configs_refuse_toy_only_fields_away_from_their_defaults(field, value):
    with pytest.raises(ConfigError, match=f"{field} applies to toy datasets only, not 'digits'"):
        RunConfig(dataset="digits", **{field: value})
    # Their defaults, as every image config.json spells them out, are accepted.
    assert RunConfig.from_json(RunConfig(dataset="digits").to_json()).layers == 3


def test_toy_configs_refuse_the_image_only_sync_batchnorm():
    with pytest.raises(ConfigError, match="sync_batchnorm applies to images datasets only, not 'ring8'"):
        RunConfig(sync_batchnorm=True)
    assert RunConfig(dataset="digits", sync_batchnorm=True).sync_batchnorm


@pytest.mark.parametrize("preset", ["nope", "", 3])
def test_an_unknown_preset_is_refused_with_the_choices(preset):
    with pytest.raises(ConfigError, match="unknown preset .*paper-code, paper-text"):
        RunConfig.from_json(json.dumps({"preset": preset}))
    assert RunConfig(preset="paper-code").preset == "paper-code" and RunConfig().preset is None


def test_image_metric_samples_are_off_or_enough_for_a_covariance():
    with pytest.raises(ConfigError, match="metric_samples must be 0 .* or at least 2"):
        RunConfig(dataset="digits", metric_samples=1)
    assert RunConfig(dataset="digits", metric_samples=0).metric_samples == 0
    assert RunConfig(dataset="digits", metric_samples=2).metric_samples == 2


def test_load_fills_only_the_fields_a_file_leaves_out(tmp_path):
    (tmp_path / "old.json").write_text('{"image_size": 16, "hidden": 8}')
    cfg = RunConfig.load(tmp_path / "old.json", defaults={"dataset": "digits"})
    assert (cfg.dataset, cfg.image_size, cfg.hidden) == ("digits", 16, 8)
    (tmp_path / "named.json").write_text('{"dataset": "stacked-digits"}')
    assert RunConfig.load(tmp_path / "named.json", defaults={"dataset": "digits"}).dataset == "stacked-digits"


# ----- resume -----------------------------------------------------------------------------------

def test_resume_conflicts_list_architecture_fields_but_not_iterations():
    saved = RunConfig(iterations=100, hidden=32)
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
    cfg = RunConfig(**fields)
    assert RunConfig.from_json(cfg.to_json()) == cfg
    assert RunConfig.from_dict(json.loads(cfg.to_json())) == cfg
    check_config(cfg)  # a config that validates can also build its dataset and objective


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(POSITIVE_INT_FIELDS), value=st.integers(max_value=0))
def test_any_integer_field_below_one_raises_naming_it(field, value):
    with pytest.raises(ConfigError, match=field):
        RunConfig(**{field: value})


# ----- each field declared once: specs, the modalities' defaults, resolve ----------------------------

# config.json as the version before field specs wrote it (key order and all): it must load and compare equal.
OLD_TOY_JSON = '{"alpha":0.2,"amp":false,"batch_size":128,"betas":[0.9,0.999],"channels":null,"checkpoint_every":1000,"checkpoint_seconds":60.0,"d_forward":"auto","d_steps":5,"data_root":null,"dataset":"ring8","dataset_options":{"radius":2.0},"device":"auto","fid_weights":null,"fixed_samples":1000,"g_ema":0.0,"generator_loss":"non-saturating","grid_size":64,"hidden":16,"image_size":null,"iterations":12,"lambda_distribution":"beta","lambda_sampling":"per-sample","latent_dim":2,"layers":3,"log_every":10,"lr":0.001,"metric_frames":0,"metric_samples":0,"objective":"mixup","objective_options":{},"on_nonfinite":"stop","pairing":"real-fake","preset":"paper-code","regularizers":["r1:10"],"seed":0,"snapshot_frames":200,"snapshot_iterations":[],"spectral_norm":false,"sync_batchnorm":false}'  # noqa: E501
OLD_DIGITS_JSON = '{"alpha":0.2,"amp":false,"batch_size":64,"betas":[0.5,0.999],"channels":null,"checkpoint_every":500,"checkpoint_seconds":60.0,"d_forward":"auto","d_steps":1,"data_root":null,"dataset":"digits","dataset_options":{},"device":"auto","fid_weights":null,"fixed_samples":64,"g_ema":0.0,"generator_loss":"non-saturating","grid_size":64,"hidden":32,"image_size":16,"iterations":6,"lambda_distribution":"beta","lambda_sampling":"per-sample","latent_dim":100,"layers":3,"log_every":10,"lr":0.0002,"metric_frames":12,"metric_samples":10,"objective":"mixup","objective_options":{},"on_nonfinite":"stop","pairing":"real-fake","preset":null,"regularizers":[],"seed":0,"snapshot_frames":60,"snapshot_iterations":[],"spectral_norm":false,"sync_batchnorm":false}'  # noqa: E501


def test_config_json_of_the_previous_version_loads_compares_equal_and_resumes_without_conflicts():
    toy = RunConfig.from_json(OLD_TOY_JSON)
    assert toy == RunConfig(hidden=16, iterations=12, preset="paper-code", regularizers=("r1:10",),
                            dataset_options={"radius": 2.0})
    digits = RunConfig.from_json(OLD_DIGITS_JSON)
    assert digits == RunConfig(dataset="digits", iterations=6, metric_samples=10)
    for config, text in ((toy, OLD_TOY_JSON), (digits, OLD_DIGITS_JSON)):
        written = json.loads(config.to_json())
        # fields added since that version are written with their defaults, the rest as it was
        added = set(written) - set(json.loads(text))
        assert added == {"channels_last", "g_step_batchnorm", "download", "diffaug_policy"} and all(written.pop(name) == field_default(name) for name in added)
        assert written == json.loads(text)
        assert resume_conflicts(config, config.replace(iterations=40)) == []


def test_every_field_declares_its_help_and_the_resume_check_is_generated_from_it():
    from gan_mixup.config import SPECS

    assert set(SPECS) == {f.name for f in dataclasses.fields(RunConfig)}
    assert all(spec.help for spec in SPECS.values())
    assert ARCHITECTURE_FIELDS == tuple(name for name, spec in SPECS.items() if spec.resume_must_match)
    saved = RunConfig(iterations=10, hidden=16)
    for name in ("hidden", "batch_size", "seed"):
        changed = saved.replace(**{name: getattr(saved, name) + 1})
        assert [c.split(":")[0] for c in resume_conflicts(saved, changed)] == [name]


def test_the_modalities_own_the_defaults_and_limits_a_config_resolves():
    from gan_mixup.modalities import modality_of

    for dataset in ("ring8", "digits", "mnist"):
        modality = modality_of(dataset)
        config = RunConfig(dataset=dataset, **({"data_root": "x"} if dataset == "mnist" else {}))
        for name, value in {**modality.defaults, **modality.dataset_defaults.get(dataset, {})}.items():
            assert getattr(config, name) == value, (dataset, name)
    limit = modality_of("digits").limits["hidden"]
    RunConfig(dataset="digits", hidden=limit)
    with pytest.raises(ConfigError, match=f"hidden must be at most {limit}"):
        RunConfig(dataset="digits", hidden=limit + 1)
    RunConfig(hidden=limit + 1)  # the toy MLPs may be wider


def test_resolve_layers_preset_file_and_flags(tmp_path):
    from gan_mixup.config import resolve

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hidden": 48, "iterations": 30, "dataset_options": {"std": 0.03}}))
    config = resolve(preset="paper-code", file=path, flags={"iterations": 7, "dataset_options": [("radius", 2.0)]})
    # A file spells every field out (a config.json), so it overrides all of the preset; flags override it.
    assert (config.pairing, config.hidden, config.iterations) == ("real-fake", 48, 7)
    assert resolve(preset="paper-code", flags={"hidden": 8}).pairing == "shuffled"
    assert config.dataset_options == {"std": 0.03, "radius": 2.0}  # option flags add to the file's
    assert resolve(preset="paper-code", flags={"objective": "hinge"}).generator_loss == "non-saturating"
    assert resolve(data_scale="later", flags={"dataset": "grid25"}).dataset_options == {"spacing": 2.0, "std": 0.05}
    with pytest.raises(ConfigError, match="--data-scale sets the scale of ring8 and grid25 only, not 'spiral'"):
        resolve(data_scale="later", flags={"dataset": "spiral"})
    assert resolve(default_dataset="digits").dataset == "digits"
    path.write_text(json.dumps({"iterations": 30}))
    assert resolve(file=path, default_dataset="digits").dataset == "digits"  # a file without a dataset


def test_a_toy_preset_on_images_gives_its_sizes_to_dcgan_but_not_a_config_files(tmp_path):
    from gan_mixup.config import resolve

    on_images = resolve(preset="paper-code", flags={"dataset": "digits"})
    assert (on_images.pairing, on_images.hidden, on_images.lr) == ("shuffled", 32, 2e-4)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"dataset": "digits", "hidden": 40, "iterations": 7}))
    from_file = resolve(preset="paper-code", file=path)
    assert (from_file.hidden, from_file.iterations) == (40, 7)


@pytest.mark.parametrize("fields, keyword", [
    ({"dataset_options": {"bogus": 1}}, "bogus"),
    ({"device": 5}, "device"),
    ({"device": "meta"}, "meta"),
], ids=["dataset-option", "device-int", "device-meta"])
def test_run_config_mistakes_raise_config_error(fields, keyword):
    from gan_mixup.errors import GanMixupError

    with pytest.raises(ConfigError, match=keyword) as info:
        RunConfig(**fields)
    assert isinstance(info.value, GanMixupError)


def test_an_infinite_mode_count_in_a_config_is_a_config_error(tmp_path):
    from cli_helpers import QUIET, TINY_FLAGS, one_error_line, run_cli

    with pytest.raises(ConfigError, match="n_modes"):
        RunConfig(dataset_options={"n_modes": float("inf")})
    config = tmp_path / "config.json"
    config.write_text('{"dataset": "ring8", "dataset_options": {"n_modes": Infinity}}')  # json.loads accepts it
    code, _, stderr = run_cli(["toy", "--config", config, "--out", tmp_path / "run", *TINY_FLAGS, *QUIET])
    one_error_line(code, stderr, "n_modes")


@pytest.mark.parametrize("regularizers", [("diffaug", "diffaug"), ("r1:10", "lecam", "r1:5"), ("bcr", " bcr:2")])
def test_a_regularizer_named_twice_is_refused(regularizers):
    """Two of one kind would add up (r1 + r1) or compose (DiffAugment twice), silently."""
    with pytest.raises(ConfigError, match="more than once") as info:
        RunConfig(regularizers=regularizers)
    assert "\n" not in str(info.value)


def test_compare_refuses_a_regularizer_its_members_get_twice(tmp_path):
    from cli_helpers import TINY_FLAGS, one_error_line, run_cli

    code, _, err = run_cli(["compare", "--dataset", "ring8", "--regularizer", "lecam", "--objectives", "erm+lecam,mixup",
                            *TINY_FLAGS, "--no-progress", "--out", tmp_path / "c"])
    one_error_line(code, err, "lecam", "more than once")
    assert not (tmp_path / "c").exists()

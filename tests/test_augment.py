"""DiffAugment (gan_mixup.augment, regularizers.DiffAugment): each operation against its formula on
tiny hand-made batches, what D sees in both steps, the gradient G gets through T, the policy's
parsing and refusals, the run's config and flag, lockstep's refusal, and a bit-identical resume."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from cli_helpers import TINY_FLAGS, one_error_line, run_cli
from conftest import make_tiny_config
from gan_mixup import RunConfig
from gan_mixup.augment import (
    AugmentError,
    brightness,
    contrast,
    cutout,
    cutout_mask,
    diff_augment,
    flip_and_translate,
    parse_policy,
    saturation,
    translation,
)
from gan_mixup.config import ConfigError
from gan_mixup.objectives import MixupGAN, StandardGAN, lambdas
from gan_mixup.regularizers import DiffAugment, RegularizerError, parse_regularizer, with_regularizers
from gan_mixup.training import train
from gan_mixup.training.batched import BatchingError, batchable, train_batched
from gan_mixup.training.state import build_state
from gan_mixup.training.step import train_step

sys.path.insert(0, str(Path(__file__).resolve().parent / "training"))
from test_step_float64 import META, Float64Recorder, _batchnorm_image_d  # noqa: E402


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def image(batch: int = 2, channels: int = 1, side: int = 8) -> torch.Tensor:
    """Distinct values 1, 2, 3, ... so every moved pixel can be told apart (none is 0)."""
    return torch.arange(1, batch * channels * side * side + 1, dtype=torch.float32).view(batch, channels, side, side)


# ----- the operations, by hand ------------------------------------------------------------------

def test_brightness_adds_one_uniform_offset_per_sample():
    x = torch.tensor([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
    u = torch.rand(3, generator=seeded(4))
    assert_close(brightness(x, seeded(4)), x + (u - 0.5)[:, None])


def test_saturation_scales_the_deviation_from_the_channel_mean():
    x = torch.tensor([0.0, 1.0, 5.0]).view(1, 3, 1, 1)  # one pixel, three channels; mean 2
    s = 2 * torch.rand(1, generator=seeded(5))
    assert_close(saturation(x, seeded(5)).flatten(), 2.0 + s * torch.tensor([-2.0, -1.0, 3.0]))


def test_contrast_scales_the_deviation_from_the_sample_mean():
    x = torch.tensor([[[[0.0, 2.0], [4.0, 6.0]]]])  # mean 3
    c = 0.5 + torch.rand(1, generator=seeded(6))
    assert_close(contrast(x, seeded(6)).flatten(), 3.0 + c * torch.tensor([-3.0, -1.0, 1.0, 3.0]))


def test_color_on_points_acts_over_the_feature_dim():
    x = torch.tensor([[1.0, 3.0], [-2.0, 0.0]])
    u = torch.rand(6, generator=seeded(7))  # the draws in order: brightness, saturation, contrast (2 each)
    b, s, c = u[0:2] - 0.5, 2 * u[2:4], 0.5 + u[4:6]
    y = x + b[:, None]
    m = y.mean(1, keepdim=True)  # a point's mean coordinate: saturation's and contrast's mean alike
    y = m + s[:, None] * (y - m)
    y = m + c[:, None] * (y - m)
    assert_close(diff_augment(x, ("color",), seeded(7)), y)


def test_translation_shifts_by_whole_pixels_and_shifts_in_zeros():
    x = image(batch=3)
    draws = seeded(8)
    t_h, t_w = torch.randint(-1, 2, (3,), generator=draws), torch.randint(-1, 2, (3,), generator=draws)  # 8/8 = 1 pixel
    out = translation(x, seeded(8))
    for k in range(3):
        padded = nn.functional.pad(x[k, 0], (1, 1, 1, 1))  # zeros around the image
        rows, cols = slice(1 + t_h[k], 9 + t_h[k]), slice(1 + t_w[k], 9 + t_w[k])
        assert_close(out[k, 0], padded[rows, cols])  # out[i, j] = x[i + t_h, j + t_w]


def test_translation_of_a_32_image_moves_up_to_4_pixels_each_way():
    x = torch.zeros(400, 1, 32, 32)
    x[:, :, 16, 16] = 1.0  # one lit pixel: where it lands is the shift
    out = translation(x, seeded(9))
    lit = out[:, 0].flatten(1).argmax(1)
    shifts_h, shifts_w = 16 - lit // 32, 16 - lit % 32
    assert set(shifts_h.tolist()) == set(range(-4, 5)) and set(shifts_w.tolist()) == set(range(-4, 5))


def test_cutout_masks_a_half_side_square_centred_by_the_draw():
    x = image(batch=4)
    draws = seeded(10)
    centre_h, centre_w = torch.randint(0, 9, (4,), generator=draws), torch.randint(0, 9, (4,), generator=draws)
    mask = cutout_mask(x, seeded(10))
    for k in range(4):
        expected = torch.ones(8, 8)
        expected[max(0, centre_h[k] - 2):centre_h[k] + 2, max(0, centre_w[k] - 2):centre_w[k] + 2] = 0.0
        assert_close(mask[k, 0], expected)
    assert_close(cutout(x, seeded(10)), x * mask)


def test_cutout_of_an_odd_square_stays_centred_on_the_image():
    mask = cutout_mask(torch.ones(2000, 1, 10, 10), seeded(11))  # side 5: centres 0..9
    assert ((1 - mask).flatten(1).sum(1) >= 9).all()  # at least a 3x3 corner of the square is inside
    assert ((1 - mask).flatten(1).sum(1) == 25).any()


def test_the_gradient_through_translation_and_cutout_is_the_mask_of_what_was_kept():
    x = image(batch=2).requires_grad_(True)
    mask = cutout_mask(x.detach(), seeded(12))
    (grad,) = torch.autograd.grad(cutout(x, seeded(12)).sum(), x)
    assert_close(grad, mask)  # masked pixels get no gradient, the rest exactly 1
    (grad,) = torch.autograd.grad(translation(x, seeded(13)).sum(), x)
    kept = translation(torch.ones_like(x), seeded(13))  # the same shift of an all-ones image
    assert_close(grad.sum(), kept.sum())
    assert set(grad.unique().tolist()) <= {0.0, 1.0}


def test_flip_and_translate_flips_half_the_images():
    x = image(batch=200)
    draws = seeded(14)
    flips = torch.rand(200, generator=draws) < 0.5
    expected = torch.where(flips.view(-1, 1, 1, 1), x.flip(-1), x)
    assert_close(flip_and_translate(x, seeded(14)), translation(expected, draws))
    assert 60 < int(flips.sum()) < 140


def test_augmentation_is_reproducible_and_leaves_the_global_rng_alone():
    x = image(batch=3, channels=3)
    state = torch.get_rng_state()
    first = diff_augment(x, parse_policy("color,translation,cutout"), seeded(15))
    assert torch.equal(first, diff_augment(x, parse_policy("color,translation,cutout"), seeded(15)))
    assert not torch.equal(first, diff_augment(x, parse_policy("color,translation,cutout"), seeded(16)))
    assert torch.equal(torch.get_rng_state(), state)


# ----- the policy ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, policy", [
    ("color,translation,cutout", ("color", "translation", "cutout")), ("color-cutout", ("color", "cutout")),
    (" translation , color ", ("translation", "color")), (["cutout"], ("cutout",)),
])
def test_a_policy_is_read_in_its_order(text, policy):
    assert parse_policy(text) == policy


@pytest.mark.parametrize("text, words", [("", "empty"), (" , ", "empty"), ("-", "empty"), ("colour", "unknown"),
                                         ("color,color", "more than once"), ("color;cutout", "unknown")])
def test_a_bad_policy_is_one_line(text, words):
    with pytest.raises(AugmentError, match=words) as info:
        parse_policy(text)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("policy", ["translation", "cutout", "color,cutout"])
def test_points_refuse_translation_and_cutout(policy):
    with pytest.raises(AugmentError, match="on images .* only") as info:
        diff_augment(torch.zeros(4, 2), parse_policy(policy), seeded())
    assert "\n" not in str(info.value)
    with pytest.raises(AugmentError, match="on images .* only"):
        with_regularizers(StandardGAN(), DiffAugment(policy, generator=seeded())).discriminator_loss(
            nn.Linear(2, 1), torch.zeros(4, 2), torch.zeros(4, 2))


# ----- the regularizer: what D sees ---------------------------------------------------------------

class Recorder(nn.Module):
    """A linear D that keeps every batch it is called on."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(features, 1)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.linear(x.flatten(1))


def test_every_input_of_d_is_augmented_in_both_steps():
    real, fake = image(batch=3, channels=3) / 100, -image(batch=3, channels=3) / 100
    D = Recorder(3 * 64)
    objective = with_regularizers(StandardGAN(separate_forwards=True), DiffAugment(generator=seeded(20)))
    d_loss = objective.discriminator_loss(D, real, fake)
    g_loss = objective.generator_loss(D, fake, real)
    draws = seeded(20)  # the wrapper's order: real, fake (D step), then fake, real (G step)
    policy = ("color", "translation", "cutout")  # the default on images
    augmented = [diff_augment(x, policy, draws) for x in (real, fake, fake, real)]
    assert len(D.seen) == 3  # D's step: real, fake; G's: fake
    for seen, expected in zip(D.seen, augmented[:3]):
        assert_close(seen, expected)
    plain = StandardGAN(separate_forwards=True)
    assert_close(d_loss, plain.discriminator_loss(D, augmented[0], augmented[1]))
    assert_close(g_loss, plain.generator_loss(D, augmented[2]))


def test_with_mixup_real_and_fake_are_augmented_before_they_are_mixed():
    real, fake = torch.randn(8, 2, generator=seeded(1)), torch.randn(8, 2, generator=seeded(2))
    D = nn.Linear(2, 1)
    stream = seeded(21)  # one stream, as a run's objective has: the augmentations first, then mixup's λ
    loss = with_regularizers(MixupGAN(0.2, generator=stream), DiffAugment(generator=stream)).discriminator_loss(D, real, fake)
    draws = seeded(21)
    real_aug, fake_aug = diff_augment(real, ("color",), draws), diff_augment(fake, ("color",), draws)
    assert_close(loss, MixupGAN(0.2, generator=draws).discriminator_loss(D, real_aug, fake_aug))


def test_gs_gradient_flows_through_the_augmentation_and_not_through_the_cut_square():
    fake = (image(batch=2) / 1000).requires_grad_(True)
    D = nn.Sequential(nn.Flatten(), nn.Linear(64, 1))
    with torch.no_grad():
        D[1].weight.fill_(0.05)
    loss = with_regularizers(StandardGAN(), DiffAugment("cutout", generator=seeded(22))).generator_loss(D, fake)
    (grad,) = torch.autograd.grad(loss, fake)
    mask = cutout_mask(fake.detach(), seeded(22))
    # non-saturating G loss: -log σ(D(x')) per sample, mean over 2; ∂/∂x' = -(1 - σ(D(x'))) · w / 2
    logits = D(fake.detach() * mask).squeeze(1)
    expected = (-(1 - torch.sigmoid(logits)) * 0.05 / 2).view(2, 1, 1, 1) * mask
    assert_close(grad, expected)
    assert (grad[mask == 0] == 0).all() and (grad[mask == 1] != 0).all()


def test_the_default_policy_is_all_three_on_images_and_color_on_points():
    regularizer = DiffAugment()
    assert regularizer.policy_for(torch.zeros(2, 1, 8, 8)) == ("color", "translation", "cutout")
    assert regularizer.policy_for(torch.zeros(2, 2)) == ("color",)
    assert DiffAugment("cutout").policy_for(torch.zeros(2, 1, 8, 8)) == ("cutout",)


def test_parse_regularizer_reads_the_policy_from_the_spec_then_the_config():
    generator = seeded()
    assert parse_regularizer("diffaug:color-cutout", generator).policy == ("color", "cutout")
    assert parse_regularizer("diffaug", generator, diffaug_policy="translation").policy == ("translation",)
    assert parse_regularizer("diffaug:color", generator, diffaug_policy="translation").policy == ("color",)
    assert parse_regularizer("diffaug", generator).policy is None
    assert parse_regularizer("diffaug", generator).generator is generator


@pytest.mark.parametrize("spec", ["diffaug:", "diffaug:colour", "diffaug:color-color", "diffaug:1"])
def test_a_bad_diffaug_spec_is_one_line(spec):
    with pytest.raises(RegularizerError) as info:
        parse_regularizer(spec)
    assert "\n" not in str(info.value) and "diffaug[:POLICY]" in str(info.value)


def test_integer_batches_are_refused_as_for_every_regularizer():
    from gan_mixup.objectives import ObjectiveError

    with pytest.raises(ObjectiveError, match="floating point"):
        DiffAugment().perturb(torch.zeros(2, 1, 8, 8, dtype=torch.int64))


# ----- no float64 off the CPU ---------------------------------------------------------------------

def test_diffaug_on_images_puts_no_float64_on_a_device():
    D = _batchnorm_image_d().to(META)
    objective = with_regularizers(MixupGAN(0.2), DiffAugment())
    real = torch.randn(8, 1, 8, 8, device=META)
    fake = torch.randn(8, 1, 8, 8, device=META, requires_grad=True)
    with Float64Recorder() as recorder:
        objective.discriminator_loss(D, real, fake.detach()).backward()
        objective.generator_loss(D, fake, real).backward()
    assert recorder.ran_on("meta") > 50
    assert recorder.float64_on_a_device() == []
    assert fake.grad is not None and fake.grad.dtype == torch.float32


def test_a_diffaug_step_creates_no_float64_off_the_cpu(monkeypatch):
    monkeypatch.setattr(lambdas, "_draws_float64_on", lambda device: False)
    state = build_state(make_tiny_config(device="cpu", regularizers=("diffaug",)))
    with Float64Recorder() as recorder:
        train_step(state)
    assert recorder.ran_on("cpu") > 50 and recorder.float64_anywhere() == []


# ----- the run: config, flags, resume, lockstep ---------------------------------------------------

def test_the_config_stores_the_policy_comma_separated_and_refuses_bad_ones():
    assert make_tiny_config(dataset="digits", diffaug_policy="color-cutout").diffaug_policy == "color,cutout"
    assert make_tiny_config().diffaug_policy is None  # the default: all three on images, color on points
    config = make_tiny_config(regularizers=("diffaug",), diffaug_policy="color")
    assert RunConfig.from_json(config.to_json()) == config
    for bad, words in [("", "empty"), ("colour", "unknown"), ("translation", "points"), (3, "empty")]:
        with pytest.raises(ConfigError, match=words):
            make_tiny_config(diffaug_policy=bad)
    with pytest.raises(ConfigError, match="cutout moves pixels"):
        make_tiny_config(regularizers=("diffaug:color-cutout",))


def test_the_policy_must_match_on_resume():
    from gan_mixup.config import resume_conflicts

    a = make_tiny_config(dataset="digits", regularizers=("diffaug",))
    assert resume_conflicts(a, a.replace(diffaug_policy="color")) == ["diffaug_policy: None -> 'color'"]


def test_compare_runs_erm_and_erm_with_diffaug_on_the_ring(tmp_path):
    out = tmp_path / "cmp"
    code, _, stderr = run_cli(["compare", "--dataset", "ring8", "--objectives", "erm,erm+diffaug,mixup+diffaug:color",
                               "--out", out, *TINY_FLAGS, "--no-progress"])
    assert code == 0, stderr
    for name in ("erm", "erm_diffaug", "mixup_diffaug_color"):
        assert (out / name / "checkpoint.pt").is_file(), sorted(p.name for p in out.iterdir())


@pytest.mark.parametrize("flags, words", [
    (["--diffaug-policy", ""], "empty"), (["--diffaug-policy", "color,translation"], "translation moves pixels"),
    (["--regularizer", "diffaug:colour"], "unknown DiffAugment operation"),
])
def test_a_toy_run_refuses_bad_policies_in_one_line(flags, words, tmp_path):
    code, _, stderr = run_cli(["toy", "--regularizer", "diffaug", *flags, "--out", tmp_path / "run", *TINY_FLAGS,
                               "--no-render", "--no-progress"])
    one_error_line(code, stderr, words)
    assert not (tmp_path / "run").exists()


def test_an_image_run_trains_with_the_full_policy(tmp_path):
    code, _, stderr = run_cli(["images", "--dataset", "digits", "--regularizer", "diffaug", "--diffaug-policy",
                               "color,translation,cutout", "--out", tmp_path / "run", "--iterations", 3, "--hidden", 8,
                               "--metric-samples", 0, "--no-render", "--no-progress"])
    assert code == 0, stderr


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    return {f"{net}.{k}": v for net in ("generator", "discriminator") for k, v in checkpoint[net].items()}


def resumes_bit_identically(tmp_path: Path, **fields) -> None:
    """12 iterations in one go, and 6 then a resume to 12, end in the same weights bit for bit."""
    whole = train(make_tiny_config(**fields), tmp_path / "whole")
    train(make_tiny_config(**{**fields, "iterations": 6}), tmp_path / "halves")
    halves = train(make_tiny_config(**fields), tmp_path / "halves", resume=True)
    assert whole.iteration == halves.iteration == 12
    one, two = _final_weights(tmp_path / "whole"), _final_weights(tmp_path / "halves")
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


@pytest.mark.parametrize("fields", [{"regularizers": ("diffaug",)},
                                    {"objective": "mixup", "regularizers": ("diffaug",), "d_steps": 1},
                                    {"dataset": "digits", "regularizers": ("diffaug",), "hidden": 8, "metric_samples": 0,
                                     "fixed_samples": 16}],
                         ids=["erm-points", "mixup-points-one-d-step", "erm-digits"])
def test_a_diffaug_run_resumes_bit_identically(fields, tmp_path):
    resumes_bit_identically(tmp_path, **fields)


def test_lockstep_refuses_diffaug_in_one_line(tmp_path):
    config = make_tiny_config(regularizers=("diffaug",))
    assert batchable(config) == "regularizers are not batched"
    with pytest.raises(BatchingError) as info:
        train_batched([config, config.replace(seed=1)], [tmp_path / "a", tmp_path / "b"])
    assert "\n" not in str(info.value) and "not batched" in str(info.value)


@pytest.mark.parametrize("policy", ["color,,cutout", "color,", ",color", "color--cutout"])
def test_a_policy_with_an_empty_operation_is_refused(policy):
    """A doubled or dangling separator is a typo (an operation left out), not a shorter policy."""
    with pytest.raises(ConfigError, match="empty operation"):
        make_tiny_config(dataset="digits", regularizers=("diffaug",), diffaug_policy=policy)


@pytest.mark.parametrize("regularizers", [(), ("bcr",), ("diffaug:color",)])
def test_a_policy_no_diffaug_reads_is_refused_in_one_line(tmp_path, regularizers):
    """--diffaug-policy sets a bare --regularizer diffaug's policy; without one it would be ignored."""
    flags = [arg for spec in regularizers for arg in ("--regularizer", spec)]
    code, _, stderr = run_cli(["toy", *flags, "--diffaug-policy", "color", "--out", tmp_path / "run", *TINY_FLAGS,
                               "--no-render", "--no-progress"])
    one_error_line(code, stderr, "--diffaug-policy", "--regularizer diffaug")
    assert not (tmp_path / "run").exists()


def test_compare_gives_the_policy_to_the_members_with_diffaug():
    from gan_mixup.experiments import config_with_objective

    base = make_tiny_config(dataset="digits", diffaug_policy="translation")
    assert config_with_objective(base, "erm+diffaug").diffaug_policy == "translation"
    assert config_with_objective(base, "erm").diffaug_policy is None
    assert config_with_objective(base, "mixup+diffaug:color").diffaug_policy is None


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_compare_and_sweep_refuse_a_policy_no_member_reads(tmp_path, command):
    code, _, stderr = run_cli([command, "--dataset", "ring8", "--objectives", "erm,mixup+diffaug:color", "--diffaug-policy",
                               "color", "--out", tmp_path / "out", *TINY_FLAGS, "--no-progress"])
    one_error_line(code, stderr, "--diffaug-policy", "erm+diffaug")
    assert not (tmp_path / "out").exists()

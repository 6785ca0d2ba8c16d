"""bCR and zCR (Zhao et al. 2021, regularizers.BalancedConsistency / LatentConsistency): each term
against its formula on tiny linear networks, which tensors carry gradient, what the G step sees, the
latent kind's path through the trainer and a plain loop, refusals, lockstep, and a bit-identical resume."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from cli_helpers import TINY_FLAGS, one_error_line, run_cli
from conftest import make_tiny_config
from gan_mixup.augment import flip_and_translate
from gan_mixup.objectives import MixupGAN, StandardGAN, lambdas
from gan_mixup.regularizers import (
    R1,
    BalancedConsistency,
    LatentConsistency,
    RegularizerError,
    parse_regularizer,
    with_regularizers,
)
from gan_mixup.training.batched import BatchingError, batchable, train_batched
from gan_mixup.training.state import build_state
from gan_mixup.training.step import train_step
from test_augment import Float64Recorder, resumes_bit_identically


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def linear(weight: list[list[float]], bias: list[float]) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))
    return layer


REAL = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]])
FAKE = torch.tensor([[0.5, 0.5], [2.0, -1.0], [0.0, 0.0]])


# ----- bCR --------------------------------------------------------------------------------------

def test_bcr_on_points_is_the_squared_logit_change_under_jitter():
    D = linear([[2.0, -1.0]], [0.3])
    penalty = BalancedConsistency(real_weight=10.0, fake_weight=4.0, point_std=0.1, generator=seeded(1)).penalty(D, REAL, FAKE)
    draws = seeded(1)  # T(real)'s jitter, then T(fake)'s
    n_real, n_fake = torch.randn(3, 2, generator=draws), torch.randn(3, 2, generator=draws)
    w = torch.tensor([2.0, -1.0])
    # D(x) − D(x + 0.1·n) = −0.1·w·n: the bias cancels
    expected = 10.0 * ((0.1 * n_real @ w) ** 2).mean() + 4.0 * ((0.1 * n_fake @ w) ** 2).mean()
    assert_close(penalty, expected)


def test_bcr_on_images_compares_d_on_the_flipped_and_shifted_image():
    x = torch.arange(2 * 64, dtype=torch.float32).view(2, 1, 8, 8) / 64
    D = nn.Sequential(nn.Flatten(), linear([[float(k % 5) for k in range(64)]], [0.0]))
    penalty = BalancedConsistency(weight=10.0, generator=seeded(2)).penalty(D, x, 2 * x)
    draws = seeded(2)
    t_real, t_fake = flip_and_translate(x, draws), flip_and_translate(2 * x, draws)
    w = torch.tensor([float(k % 5) for k in range(64)])
    expected = 10.0 * (((x - t_real).flatten(1) @ w) ** 2).mean() + 10.0 * (((2 * x - t_fake).flatten(1) @ w) ** 2).mean()
    assert_close(penalty, expected)


def test_bcr_trains_d_through_both_outputs_and_the_g_loss_never_sees_it():
    D = linear([[2.0, -1.0]], [0.3])
    fake = FAKE.clone().requires_grad_(True)
    penalty = BalancedConsistency(generator=seeded(3)).penalty(D, REAL, fake.detach())
    grads = torch.autograd.grad(penalty, (D.weight, D.bias), allow_unused=True)
    assert grads[0].abs().sum() > 0  # through D(x) and D(T(x)) alike
    assert grads[1] is None or grads[1].abs().sum() == 0  # the bias cancels in the difference
    objective = with_regularizers(StandardGAN(), BalancedConsistency(generator=seeded(3)))
    assert torch.equal(objective.generator_loss(D, fake, REAL), StandardGAN().generator_loss(D, fake, REAL))
    d_loss = objective.discriminator_loss(D, REAL, FAKE)
    assert_close(d_loss, StandardGAN().discriminator_loss(D, REAL, FAKE) + objective.last_penalties["bcr"])


def test_bcr_at_zero_weight_draws_nothing_and_adds_nothing():
    generator = seeded(4)
    before = generator.get_state()
    assert BalancedConsistency(0.0, generator=generator).penalty(linear([[1.0, 1.0]], [0.0]), REAL, FAKE).item() == 0.0
    assert torch.equal(generator.get_state(), before)


@pytest.mark.parametrize("spec", ["bcr:-1", "bcr:nan", "bcr:x", "zcr:-5", "zcr:inf"])
def test_bad_consistency_specs_are_one_line(spec):
    with pytest.raises(RegularizerError) as info:
        parse_regularizer(spec)
    assert "\n" not in str(info.value) and "bcr[:WEIGHT]" in str(info.value) and "zcr[:DIS_WEIGHT]" in str(info.value)


def test_bcr_refuses_a_batch_it_has_no_transform_for():
    with pytest.raises(RegularizerError, match="images .* and points"):
        BalancedConsistency().penalty(lambda x: x.sum((1, 2)), torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))


def test_spec_values_set_the_papers_weights():
    bcr, zcr = parse_regularizer("bcr:5"), parse_regularizer("zcr:2")
    assert (bcr.real_weight, bcr.fake_weight) == (5.0, 5.0)
    assert (zcr.dis_weight, zcr.gen_weight, zcr.std) == (2.0, 0.5, 0.03)
    default = parse_regularizer("bcr")
    assert (default.real_weight, default.fake_weight) == (10.0, 10.0)


# ----- zCR --------------------------------------------------------------------------------------

G_WEIGHT = [[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]]  # latent 2 -> sample 3


def test_zcr_d_term_by_hand_and_only_d_gets_its_gradient():
    G, D = linear(G_WEIGHT, [0.1, 0.2, 0.3]), linear([[1.0, -2.0, 0.5]], [0.0])
    z = torch.tensor([[0.5, -1.0], [1.0, 1.0]])
    fake = G(z).detach()
    term = LatentConsistency(dis_weight=5.0, std=0.1, generator=seeded(5)).latent_penalty(D, G, z, fake)
    n = torch.randn(2, 2, generator=seeded(5))
    # D(G(z)) − D(G(z + 0.1·n)) = −0.1 · wᴰ·Wᴳ·n
    change = 0.1 * n @ torch.tensor(G_WEIGHT).T @ torch.tensor([1.0, -2.0, 0.5])
    assert_close(term, 5.0 * (change ** 2).mean())
    term.backward()
    assert D.weight.grad is not None and D.weight.grad.abs().sum() > 0
    assert G.weight.grad is None  # D's step trains D only: G(z + Δz) carries no graph


def test_zcr_g_term_by_hand_and_only_g_gets_its_gradient():
    G, D = linear(G_WEIGHT, [0.1, 0.2, 0.3]), linear([[1.0, -2.0, 0.5]], [0.0])
    z = torch.tensor([[0.5, -1.0], [1.0, 1.0]])
    fake = G(z)
    term = LatentConsistency(gen_weight=0.5, std=0.1, generator=seeded(6)).latent_penalty(D, G, z, fake, generator_step=True)
    n = torch.randn(2, 2, generator=seeded(6))
    difference = 0.1 * n @ torch.tensor(G_WEIGHT).T  # G(z + Δz) − G(z), (2, 3)
    assert_close(term, -0.5 * (difference ** 2).mean())  # maximised: minus, a mean over the 6 elements
    term.backward()
    assert G.weight.grad is not None and G.weight.grad.abs().sum() > 0
    assert D.weight.grad is None  # G's term never calls D


def test_zcr_refuses_noise_that_is_not_the_fakes():
    G = linear(G_WEIGHT, [0.0, 0.0, 0.0])
    with pytest.raises(RegularizerError, match="noise rows"):
        LatentConsistency().latent_penalty(linear([[1.0, 1.0, 1.0]], [0.0]), G, torch.zeros(3, 2), torch.zeros(2, 3))


def test_objectives_without_latent_terms_have_none():
    assert StandardGAN().latent_penalty(None, None, torch.zeros(1, 2), torch.zeros(1, 2)) is None
    assert with_regularizers(MixupGAN(0.2), R1()).latent_penalty(None, None, torch.zeros(1, 2), torch.zeros(1, 2)) is None


def test_the_wrapper_sums_latent_terms_and_logs_d_s():
    G, D = linear(G_WEIGHT, [0.0, 0.0, 0.0]), linear([[1.0, -2.0, 0.5]], [0.0])
    z = torch.randn(4, 2, generator=seeded(7))
    objective = with_regularizers(StandardGAN(), LatentConsistency(generator=seeded(8)), LatentConsistency(1.0, 0.1, generator=seeded(8)))
    objective.discriminator_loss(D, torch.randn(4, 3, generator=seeded(9)), G(z).detach())
    total = objective.latent_penalty(D, G, z, G(z).detach())
    assert_close(objective.last_penalties["zcr"], total.detach())
    own = [LatentConsistency(5.0, generator=seeded(8)).latent_penalty(D, G, z, G(z).detach()),
           LatentConsistency(1.0, generator=seeded(8)).latent_penalty(D, G, z, G(z).detach())]
    assert_close(total, own[0] + own[1])


class Spy(LatentConsistency):
    """zCR that records what the trainer passes it."""

    calls: list[tuple[bool, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def latent_penalty(self, D, G, z, fake, generator_step=False):
        with torch.no_grad():
            Spy.calls.append((generator_step, fake.requires_grad, G(z), fake.detach().clone()))
        return super().latent_penalty(D, G, z, fake, generator_step)


@pytest.mark.parametrize("d_steps", [1, 3])
def test_the_trainer_passes_g_and_the_noise_each_fake_came_from(d_steps, monkeypatch):
    from gan_mixup import regularizers

    monkeypatch.setitem(regularizers.REGULARIZERS, "zcr", Spy)
    Spy.calls = []
    state = build_state(make_tiny_config(regularizers=("zcr",), d_steps=d_steps))
    train_step(state)
    steps = [call[0] for call in Spy.calls]
    assert steps == [False] * d_steps + [True]
    for generator_step, requires_grad, g_of_z, fake in Spy.calls:
        assert torch.equal(g_of_z, fake)  # fake = G(z) exactly, for the noise passed
        assert requires_grad == generator_step  # D's steps see detached fakes, G's step the graph


def test_zcr_drops_into_a_plain_loop():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    D = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    objective = with_regularizers(MixupGAN(0.2), LatentConsistency(), BalancedConsistency())
    for _ in range(5):
        real = torch.randn(32, 2) + 3
        z = torch.randn(32, 2)
        fake = G(z)
        d_loss = objective.discriminator_loss(D, real, fake.detach()) + objective.latent_penalty(D, G, z, fake.detach())
        opt_d.zero_grad(), d_loss.backward(), opt_d.step()
        g_loss = objective.generator_loss(D, fake, real) + objective.latent_penalty(D, G, z, fake, generator_step=True)
        opt_g.zero_grad(), g_loss.backward(), opt_g.step()
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert set(objective.last_penalties) == {"bcr", "zcr"}


# ----- the run -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fields", [
    {"regularizers": ("bcr",)}, {"regularizers": ("zcr",)}, {"objective": "mixup", "regularizers": ("zcr", "bcr"), "d_steps": 1},
    {"dataset": "digits", "regularizers": ("bcr", "zcr", "diffaug"), "hidden": 8, "metric_samples": 0, "fixed_samples": 16},
], ids=["bcr", "zcr", "mixup-zcr-bcr-one-d-step", "digits-all-three"])
def test_a_consistency_run_resumes_bit_identically(fields, tmp_path):
    resumes_bit_identically(tmp_path, **fields)


@pytest.mark.parametrize("specs", [("bcr",), ("zcr",)])
def test_lockstep_refuses_consistency_in_one_line(specs, tmp_path):
    config = make_tiny_config(regularizers=specs)
    assert batchable(config) == "regularizers are not batched"
    with pytest.raises(BatchingError) as info:
        train_batched([config, config.replace(seed=1)], [tmp_path / "a", tmp_path / "b"])
    assert "\n" not in str(info.value)


def test_a_batched_sweep_trains_consistency_settings_one_at_a_time(tmp_path):
    out = tmp_path / "sweep"
    code, _, stderr = run_cli(["sweep", "--dataset", "ring8", "--objectives", "erm+zcr,erm+bcr", "--seeds", "0,1",
                               "--batched", "--out", out, *TINY_FLAGS, "--no-progress"])
    assert code == 0, stderr
    assert len(list(out.glob("*/checkpoint.pt"))) + len(list(out.glob("*/*/checkpoint.pt"))) == 4
    # said once, in one line, with the settings it keeps out of lockstep
    assert [line for line in stderr.splitlines() if "--batched" in line] == [
        "gan-mixup: warning: --batched: erm+zcr, erm+bcr train one run at a time (regularizers are not batched)"]


def test_compare_runs_bcr_and_zcr_on_the_ring(tmp_path):
    code, _, stderr = run_cli(["compare", "--dataset", "ring8", "--objectives", "erm+bcr,erm+zcr:1,mixup+zcr",
                               "--out", tmp_path / "cmp", *TINY_FLAGS, "--no-progress"])
    assert code == 0, stderr


def test_a_bad_consistency_weight_is_one_line_in_the_cli(tmp_path):
    code, _, stderr = run_cli(["toy", "--regularizer", "zcr:-1", "--out", tmp_path / "run", *TINY_FLAGS,
                               "--no-render", "--no-progress"])
    one_error_line(code, stderr, "zcr")


@pytest.mark.parametrize("specs", [("bcr",), ("zcr",), ("zcr", "bcr", "diffaug")])
def test_a_consistency_step_creates_no_float64_off_the_cpu(specs, monkeypatch):
    monkeypatch.setattr(lambdas, "_draws_float64_on", lambda device: False)
    for d_steps in (1, 2):
        state = build_state(make_tiny_config(device="cpu", objective="mixup", regularizers=specs, d_steps=d_steps))
        with Float64Recorder() as recorder:
            train_step(state)
        assert recorder.ran_on("cpu") > 50 and recorder.float64_anywhere() == []

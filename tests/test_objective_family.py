"""The objectives beside StandardGAN and MixupGAN: WGAN-GP, hinge, LSGAN, under the same contract.

Hand-computed values use a linear D(x) = w·x + b with w = (3, 4) (‖w‖ = 5) and b = 0.5 on

    real = [[0, 0], [1, 0]]   ->  D(real) = [0.5, 3.5]
    fake = [[0, 0], [-1, 0]]  ->  D(fake) = [0.5, -2.5]
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.testing import assert_close

import toy_data
from gan_mixup.modalities.toy.models import mlp
from gan_mixup.objectives import (
    OBJECTIVES,
    HingeGAN,
    LSGAN,
    MixupGAN,
    Objective,
    ObjectiveError,
    StandardGAN,
    StepStats,
    WGANGP,
    get_objective,
)
from gan_mixup.regularizers import R1, with_regularizers


W_B = ([3.0, 4.0], 0.5)  # the conftest fixture ``linear_d(weight, bias)`` builds D from these
REAL = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
FAKE = torch.tensor([[0.0, 0.0], [-1.0, 0.0]])


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# ----- hand-computed values -------------------------------------------------------------------

def test_registry_names_the_new_objectives():
    assert OBJECTIVES["wgan-gp"] is WGANGP and OBJECTIVES["hinge"] is HingeGAN and OBJECTIVES["lsgan"] is LSGAN
    for name in ("wgan-gp", "hinge", "lsgan"):
        objective = get_objective(name)
        assert objective.name == name
        assert isinstance(objective, Objective)
        assert isinstance(objective.last_stats, StepStats)
    assert get_objective("wgan-gp", gp_weight=5.0, generator=seeded()).gp_weight == 5.0


@pytest.mark.parametrize("gp_weight, expected", [(10.0, -3.0 + 10.0 * 16.0), (2.5, -3.0 + 2.5 * 16.0), (0.0, -3.0)])
def test_wgan_gp_losses_by_hand(gp_weight, expected, linear_d):
    # critic: mean D(fake) − mean D(real) = −1 − 2 = −3; penalty: (‖w‖ − 1)² = 16 for every ε.
    objective = WGANGP(gp_weight=gp_weight, generator=seeded())
    D = linear_d(*W_B)
    assert_close(objective.discriminator_loss(D, REAL, FAKE), torch.tensor(expected))
    assert_close(objective.generator_loss(D, FAKE), torch.tensor(1.0))  # −mean D(fake)


def test_wgan_gp_gradient_by_hand(linear_d):
    # d/dw [critic] = mean(fake) − mean(real) = (−1, 0); d/dw [10·(‖w‖ − 1)²] = 20·(‖w‖ − 1)·w/‖w‖ = 80·(0.6, 0.8).
    D = linear_d(*W_B)
    WGANGP(10.0, generator=seeded()).discriminator_loss(D, REAL, FAKE).backward()
    assert_close(D.weight.grad, torch.tensor([[47.0, 64.0]]))
    assert_close(D.bias.grad, torch.tensor([0.0]))


def test_wgan_gp_unit_norm_critic_has_no_penalty(linear_d):
    D = linear_d([0.6, 0.8], 0.0)
    # D(real) = [0, 0.6], D(fake) = [0, -0.6]: critic = −0.3 − 0.3.
    assert_close(WGANGP(10.0, generator=seeded()).discriminator_loss(D, REAL, FAKE), torch.tensor(-0.6))


def test_hinge_losses_by_hand(linear_d):
    D = linear_d(*W_B)
    # real: mean(relu(1 − 0.5), relu(1 − 3.5)) = 0.25; fake: mean(relu(1 + 0.5), relu(1 − 2.5)) = 0.75.
    objective = HingeGAN()
    assert_close(objective.discriminator_loss(D, REAL, FAKE), torch.tensor(1.0))
    assert_close(objective.generator_loss(D, FAKE, REAL), torch.tensor(1.0))
    assert_close(objective.last_stats.d_real, torch.sigmoid(torch.tensor([0.5, 3.5])).mean())
    assert_close(objective.last_stats.d_fake, torch.sigmoid(torch.tensor([0.5, -2.5])).mean())


@pytest.mark.parametrize(
    "targets, d_loss, g_loss",
    [
        # 0-1 coding: ½·mean(0.25, 6.25) + ½·mean(0.25, 6.25); G: ½·mean(0.25, 12.25).
        ((1.0, 0.0, 1.0), 3.25, 3.125),
        # a = −1, b = 1, c = 0: ½·mean(0.25, 6.25) + ½·mean(2.25, 2.25); G: ½·mean(0.25, 6.25).
        ((1.0, -1.0, 0.0), 2.75, 1.625),
    ],
)
def test_lsgan_losses_by_hand(targets, d_loss, g_loss, linear_d):
    b, a, c = targets
    objective = LSGAN(real_target=b, fake_target=a, generator_target=c)
    D = linear_d(*W_B)
    assert_close(objective.discriminator_loss(D, REAL, FAKE), torch.tensor(d_loss))
    assert_close(objective.generator_loss(D, FAKE), torch.tensor(g_loss))


def test_lsgan_real_target_override_is_per_call(linear_d):
    objective, D = LSGAN(), linear_d(*W_B)
    # real: ½·mean((0.5 − 0.9)², (3.5 − 0.9)²) = ½·mean(0.16, 6.76) = 1.73; fake as before 1.625.
    assert_close(objective.discriminator_loss(D, REAL, FAKE, real_target=0.9), torch.tensor(1.73 + 1.625))
    assert_close(objective.discriminator_loss(D, REAL, FAKE), torch.tensor(3.25))


def test_erm_and_mixup_by_hand_for_reference(linear_d):
    D = linear_d(*W_B)
    # BCE on logits: softplus(l) − y·l.
    real = (softplus(0.5) - 0.5 + softplus(3.5) - 3.5) / 2
    fake = (softplus(0.5) + softplus(-2.5)) / 2
    assert_close(StandardGAN().discriminator_loss(D, REAL, FAKE), torch.tensor(real + fake))
    lam = MixupGAN(0.2, generator=seeded(3)).sample_lambda(2, REAL.device, REAL.dtype)
    logits = [0.5, lam[1].item() * 3.5 + (1 - lam[1].item()) * -2.5]  # sample 0 is the origin for any λ
    expected = sum(softplus(l) - y * l for l, y in zip(logits, lam.tolist())) / 2
    assert_close(MixupGAN(0.2, generator=seeded(3)).discriminator_loss(D, REAL, FAKE), torch.tensor(expected))


# ----- errors and randomness --------------------------------------------------------------------

@pytest.mark.parametrize(
    "make",
    [
        lambda: WGANGP(gp_weight=-1.0),
        lambda: WGANGP(gp_weight=float("nan")),
        lambda: WGANGP(gp_weight=float("inf")),
        lambda: WGANGP(gp_weight="10"),
        lambda: LSGAN(real_target=float("nan")),
        lambda: LSGAN(real_target=1.0, fake_target=1.0),
        lambda: get_objective("hinge", alpha=0.2),
        lambda: get_objective("wgan", gp_weight=1.0),
    ],
)
def test_bad_options_raise(make):
    with pytest.raises(ObjectiveError):
        make()


@pytest.mark.parametrize("objective", [WGANGP(generator=seeded()), HingeGAN(), LSGAN()], ids=lambda o: o.name)
def test_wrong_discriminator_shape_raises(objective):
    D = nn.Linear(2, 3)
    with pytest.raises(ObjectiveError, match="one logit per sample"):
        objective.discriminator_loss(D, REAL, FAKE)
    with pytest.raises(ObjectiveError, match="one logit per sample"):
        objective.generator_loss(D, FAKE)


def test_wgan_gp_draws_from_its_generator_only():
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    real, fake = torch.randn(16, 2, generator=seeded(1)), torch.randn(16, 2, generator=seeded(2))
    global_state = torch.get_rng_state()
    first = WGANGP(generator=seeded(7)).discriminator_loss(D, real, fake)
    assert torch.equal(torch.get_rng_state(), global_state)
    assert_close(WGANGP(generator=seeded(7)).discriminator_loss(D, real, fake), first, rtol=0, atol=0)
    assert not torch.equal(WGANGP(generator=seeded(8)).discriminator_loss(D, real, fake), first)


# ----- properties: a finite scalar for any shape and valid option --------------------------------

def build(name: str, value: float, seed: int):
    """The objective under test, with its one numeric option set to ``value``."""
    if name == "erm":
        return StandardGAN()
    if name == "mixup":
        return MixupGAN(alpha=value, generator=seeded(seed))
    if name == "wgan-gp":
        return WGANGP(gp_weight=value, generator=seeded(seed))
    if name == "hinge":
        return HingeGAN()
    if name == "lsgan":
        return LSGAN(real_target=1.0, fake_target=-value)
    assert name == "mixup+r1"
    return with_regularizers(MixupGAN(alpha=value, generator=seeded(seed)), R1(gamma=value))


FAMILY = ("erm", "mixup", "wgan-gp", "hinge", "lsgan", "mixup+r1")

shapes = st.one_of(
    st.tuples(st.integers(1, 8), st.integers(1, 5)),  # (B, F) points
    st.tuples(st.integers(1, 6), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)),  # (B, C, H, W) images
)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(FAMILY), shape=shapes, value=st.floats(0.01, 50.0), seed=st.integers(0, 2**31 - 1),
       scale=st.floats(0.01, 100.0))
def test_every_objective_returns_a_finite_scalar(name, shape, value, seed, scale):
    features = math.prod(shape[1:])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        D = nn.Sequential(nn.Flatten(), nn.Linear(features, 8), nn.Tanh(), nn.Linear(8, 1))  # (B, ...) -> (B, 1)
    data = seeded(seed + 1)
    real = scale * torch.randn(shape, generator=data)
    fake = (scale * torch.randn(shape, generator=data)).requires_grad_(True)
    objective = build(name, value, seed)
    d_loss = objective.discriminator_loss(D, real, fake.detach())
    g_loss = objective.generator_loss(D, fake, real)
    for loss in (d_loss, g_loss):
        assert loss.shape == () and torch.isfinite(loss)
    d_loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in D.parameters())
    (grad,) = torch.autograd.grad(g_loss, fake)
    assert grad.shape == fake.shape and torch.isfinite(grad).all()


# ----- every objective trains a toy GAN without NaN ----------------------------------------------

@pytest.mark.parametrize("name", FAMILY)
def test_every_objective_trains_a_toy_gan(name):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G, D = mlp(2, 2, hidden=64), mlp(2, 1, hidden=64)
    objective = build(name, {"mixup": 0.2, "mixup+r1": 0.2, "wgan-gp": 10.0}.get(name, 1.0), seed=0)
    wgan = name == "wgan-gp"
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.9) if wgan else (0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.9) if wgan else (0.5, 0.999))
    data, noise, rng = toy_data.ring8(), seeded(1), seeded(2)
    d_steps, batch, iterations = (2 if wgan else 1), 64, 200
    for iteration in range(iterations):
        if hasattr(objective, "begin_iteration"):
            objective.begin_iteration(iteration, iterations)
        for _ in range(d_steps):  # (1) D
            real = data.sample(batch, rng)
            with torch.no_grad():
                fake = G(torch.randn(batch, 2, generator=noise))
            d_loss = objective.discriminator_loss(D, real, fake)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        fake = G(torch.randn(batch, 2, generator=noise))  # (2) G
        g_loss = objective.generator_loss(D, fake, data.sample(batch, rng))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        assert torch.isfinite(d_loss) and torch.isfinite(g_loss), f"non-finite loss at iteration {iteration}"
    for p in [*G.parameters(), *D.parameters()]:
        assert torch.isfinite(p).all()
    with torch.no_grad():
        assert torch.isfinite(G(torch.randn(256, 2, generator=noise))).all()

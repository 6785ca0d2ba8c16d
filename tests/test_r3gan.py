"""R3GAN's loss (RpGAN + R1 + R2): hand-computed values and gradients, the relativistic Term it is
made of, its G step, lockstep, a plain loop, a killed and resumed run, and hostile input."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from cli_helpers import QUIET, TINY_FLAGS, kill_toy_run_after_a_checkpoint, load_checkpoint_file, one_error_line, run_cli
from conftest import assert_same, make_tiny_config
from gan_mixup.config import RunConfig
from gan_mixup.objectives import OBJECTIVES, R3GAN, ObjectiveError, Term, TermObjective, get_objective
from gan_mixup.objectives.base import _reduce
from gan_mixup.training import train
from gan_mixup.training.batched import BatchingError, batchable, train_batched

REAL = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
FAKE = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
W = torch.tensor([1.0, -2.0])


def linear_d() -> nn.Linear:
    """D(x) = x·(1, −2) + 0.5: on REAL (1.5, −1.5, 0.5), on FAKE (0.5, −0.5, −0.5); ∇ₓD = (1, −2) everywhere."""
    D = nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.copy_(W.view(1, 2))
        D.bias.fill_(0.5)
    return D


def softplus(t: float) -> float:
    return math.log1p(math.exp(t))


def test_the_discriminator_loss_by_hand():
    # D(real) − D(fake) = (1, −1, 1); f(−t) = softplus(−t); R1 = R2 = ‖(1, −2)‖² = 5 on every sample.
    gamma = 0.05
    D = linear_d()
    loss = R3GAN(gamma=gamma).discriminator_loss(D, REAL, FAKE)
    adversarial = (softplus(-1) + softplus(1) + softplus(-1)) / 3
    assert_close(loss, torch.tensor(adversarial + gamma / 2 * (5 + 5)))
    loss.backward()
    # d/dw: mean of −σ(−Δᵢ)·(realᵢ − fakeᵢ), plus γ/2·(2w + 2w) from R1 and R2. The bias cancels in
    # every difference and the penalties do not see it: D's absolute level gets no gradient.
    sigma = torch.sigmoid(-torch.tensor([1.0, -1.0, 1.0]))
    expected_w = -(sigma[:, None] * (REAL - FAKE)).mean(0) + 2 * gamma * W
    assert_close(D.weight.grad, expected_w.view(1, 2))
    assert_close(D.bias.grad, torch.zeros(1))


def test_the_generator_loss_and_what_the_g_step_sees():
    D = linear_d()
    fake, real = FAKE.clone().requires_grad_(True), REAL.clone().requires_grad_(True)
    loss = R3GAN().generator_loss(D, fake, real)
    # D(fake) − D(real) = (−1, 1, −1); f(−t) = softplus(−t); no penalty in the G loss.
    assert_close(loss, torch.tensor((softplus(1) + softplus(-1) + softplus(1)) / 3))
    loss.backward()
    # The fake gets −σ(−(D(fᵢ) − D(rᵢ)))·w / B; the real batch enters as D's output on it (a
    # constant to G), with the opposite gradient: in a plain loop it is data, without grad.
    sigma = torch.sigmoid(torch.tensor([1.0, -1.0, 1.0]))
    assert_close(fake.grad, -(sigma[:, None] * W) / 3)
    assert_close(real.grad, (sigma[:, None] * W) / 3)


def test_the_losses_match_the_papers_equations_on_an_mlp():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 16), nn.Softplus(), nn.Linear(16, 1))  # smooth: R1 and R2 are not zero
    real, fake, gamma = torch.randn(32, 2), torch.randn(32, 2), 2.0

    def penalty(x):
        x = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
        return grad.pow(2).sum(1)

    by_paper = F.softplus(-(D(real) - D(fake))).mean() + (gamma / 2) * (penalty(real) + penalty(fake)).mean()
    for separate in (False, True):
        objective = R3GAN(gamma=gamma, separate_forwards=separate)
        assert_close(objective.discriminator_loss(D, real, fake), by_paper)
        assert_close(objective.generator_loss(D, fake, real), F.softplus(-(D(fake) - D(real))).mean())
        assert objective.last_stats.d_real is not None and objective.last_stats.lam_mean is None


def test_gamma_zero_is_the_bare_rpgan():
    D = linear_d()
    assert R3GAN(gamma=0).discriminator_penalty(D, REAL, FAKE) is None
    assert_close(R3GAN(gamma=0).discriminator_loss(D, REAL, FAKE), torch.tensor((softplus(-1) + softplus(1) + softplus(-1)) / 3))


def test_a_relativistic_term_is_general_and_leaves_other_terms_as_they_were():
    # BCE on the difference with target 1 is softplus(−(D(x) − D(y))); the partner adds nothing by itself.
    a, b = torch.tensor([0.3, -1.2]), torch.tensor([1.0, 0.5])
    forwards = [[Term(torch.zeros(2, 1), torch.ones(2), role="real", against="fake")], [Term(torch.zeros(2, 1), None, role="fake")]]
    assert_close(_reduce(forwards, [[a], [b]], lead=0), F.softplus(-(a - b)).mean())
    plain = [[Term(torch.zeros(2, 1), torch.ones(2), role="real"), Term(torch.zeros(2, 1), torch.zeros(2), role="fake")]]
    assert torch.equal(_reduce(plain, [[a, b]], lead=0),
                       F.binary_cross_entropy_with_logits(a, torch.ones(2)) + F.binary_cross_entropy_with_logits(b, torch.zeros(2)))
    with pytest.raises(ObjectiveError, match="'ghost'"):
        _reduce([[Term(torch.zeros(2, 1), torch.ones(2), role="real", against="ghost")]], [[a]], lead=0)


def test_stacked_losses_are_each_members_own():
    # The terms run stacked (N, B, ...) as any objective's; the penalties are what keeps r3gan out of lockstep.
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    real, fake = torch.randn(2, 16, 2), torch.randn(2, 16, 2)
    members = [R3GAN(gamma=0), R3GAN(gamma=0)]
    for generator in (False, True):
        stacked = members[0].stacked_losses(D, members, real, fake, generator=generator)
        for k in range(2):
            own = (R3GAN(gamma=0).generator_loss(D, fake[k], real[k]) if generator
                   else R3GAN(gamma=0).discriminator_loss(D, real[k], fake[k]))
            assert_close(stacked[k], own)


def test_lockstep_refuses_it_in_one_line_and_a_batched_sweep_trains_it_alone(tmp_path):
    config = make_tiny_config(objective="r3gan")
    assert batchable(config) == "r3gan's gradient penalty is not batched"
    with pytest.raises(BatchingError, match="^cannot train r3gan on ring8 batched: r3gan's gradient penalty is not batched$"):
        train_batched([config, config.replace(seed=1)], [tmp_path / "a", tmp_path / "b"])
    code, _, stderr = run_cli(["sweep", "--objectives", "r3gan", "--seeds", "0-1", "--batched", "--workers", "1",
                               "--hidden", "8", "--iterations", "4", "--snapshot-frames", "2", "--fixed-samples", "16",
                               "--out", tmp_path / "s", "--no-progress"])
    assert code == 0, stderr
    assert sorted(p.name for p in (tmp_path / "s").iterdir() if (p / "checkpoint.pt").exists()) == [
        "ring8-r3gan-seed0", "ring8-r3gan-seed1"]
    assert "--batched: r3gan train one run at a time (r3gan's gradient penalty is not batched)" in stderr


def test_a_plain_loop_trains_with_it():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
    D = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    objective = get_objective("r3gan", gamma=0.05)
    before = [p.detach().clone() for p in G.parameters()]
    for _ in range(20):
        real, fake = torch.randn(64, 2) * 0.1 + 1.0, G(torch.randn(64, 2))
        opt_d.zero_grad()
        d_loss = objective.discriminator_loss(D, real, fake.detach())
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = objective.generator_loss(D, fake, real)
        g_loss.backward()
        opt_g.step()
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert all(not torch.equal(b, p) for b, p in zip(before, G.parameters()))


def test_a_killed_run_resumes_bit_identically(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    flags = ["--objective", "r3gan", "--objective-option", "gamma=1", *TINY_FLAGS[:2], "--fixed-samples", "50",
             "--snapshot-frames", "3", "--grid-size", "8"]
    killed_at, iterations = kill_toy_run_after_a_checkpoint(flags, a, tmp_path / "A.log")
    code, _, stderr = run_cli(["toy", "--resume", a, *QUIET])
    assert code == 0, stderr
    config = RunConfig.load(a / "config.json")
    assert config.objective == "r3gan" and config.objective_options == {"gamma": 1.0} and config.iterations == iterations
    train(config, b)
    ca, cb = load_checkpoint_file(a / "checkpoint.pt"), load_checkpoint_file(b / "checkpoint.pt")
    assert ca["iteration"] == iterations and "objective" not in ca  # R3GAN keeps no state between steps
    assert_same({k: v for k, v in ca.items() if k != "torch_rng"}, {k: v for k, v in cb.items() if k != "torch_rng"})
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()


@pytest.mark.parametrize("args, keyword", [
    (["--objective-option", "gamma=-1"], "gamma"),
    (["--objective-option", "gamma=nan"], "finite number"),
    (["--objective-option", "alpha=0.2"], "alpha"),
])
def test_bad_options_are_one_line(args, keyword, tmp_path):
    code, _, stderr = run_cli(["toy", "--objective", "r3gan", *args, *TINY_FLAGS, "--out", tmp_path / "r", *QUIET])
    one_error_line(code, stderr, keyword)
    assert not (tmp_path / "r").exists()


def test_hostile_input_is_one_objective_error():
    D = linear_d()
    with pytest.raises(ObjectiveError, match="equal batch sizes"):
        R3GAN().discriminator_loss(D, REAL, FAKE[:2])
    with pytest.raises(ObjectiveError, match="equal batch sizes"):
        R3GAN().generator_loss(D, FAKE[:1], REAL)  # one fake against three reals would broadcast silently
    with pytest.raises(ObjectiveError, match="generator_loss\\(D, fake, real\\)"):
        R3GAN().generator_loss(D, FAKE)
    with pytest.raises(ObjectiveError, match="one logit per sample"):
        R3GAN().discriminator_loss(nn.Linear(2, 2), REAL, FAKE)  # a map, not a logit
    with pytest.raises(ObjectiveError, match="gamma"):
        R3GAN(gamma=-0.1)
    with pytest.raises(ObjectiveError, match="floating point"):
        R3GAN().discriminator_loss(D, REAL.long(), FAKE.long())


def test_it_is_registered_with_its_option():
    assert OBJECTIVES["r3gan"] is R3GAN and issubclass(R3GAN, TermObjective)
    assert get_objective("r3gan", gamma=3.0).gamma == 3.0 and R3GAN().gamma == 0.05

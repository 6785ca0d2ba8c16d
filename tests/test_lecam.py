"""LeCam regularization: hand-computed penalty, moving averages and gradients, the G step left alone,
its state through a checkpoint (a killed run resumes bit-identically), a plain loop, hostile input."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from cli_helpers import QUIET, TINY_FLAGS, kill_toy_run_after_a_checkpoint, load_checkpoint_file, one_error_line, run_cli
from conftest import assert_same, make_tiny_config
from gan_mixup.config import RunConfig
from gan_mixup.objectives import MixupGAN, ObjectiveError, StandardGAN
from gan_mixup.regularizers import LeCam, RegularizerError, parse_regularizer, with_regularizers
from gan_mixup.training import build_state, train
from gan_mixup.training.batched import batchable
from gan_mixup.training.step import train_step

REAL = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
FAKE = torch.tensor([[0.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])


def linear_d() -> nn.Linear:
    """D(x) = x·(1, −2) + 0.5: on REAL (1.5, −1.5, 0.5), mean 1/6; on FAKE (0.5, −0.5, −0.5), mean −1/6."""
    D = nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[1.0, -2.0]]))
        D.bias.fill_(0.5)
    return D


def mean(values):
    return sum(values) / len(values)


def test_the_penalty_and_its_moving_averages_by_hand():
    D, lecam = linear_d(), LeCam(weight=0.3, decay=0.5)
    on_real, on_fake = [1.5, -1.5, 0.5], [0.5, -0.5, -0.5]
    # First batch: the bias-corrected averages are the batch's own means, α_R = 1/6, α_F = −1/6.
    first = lecam.penalty(D, REAL, FAKE)
    expected = 0.3 * (mean([(r + 1 / 6) ** 2 for r in on_real]) + mean([(f - 1 / 6) ** 2 for f in on_fake]))
    assert_close(first, torch.tensor(expected))
    assert_close(torch.stack(lecam.anchors), torch.tensor([1 / 6, -1 / 6]))
    # Second batch, real and fake swapped: EMA_R = 0.5·(0.5·1/6) + 0.5·(−1/6) = −1/24, over 1 − 0.5² → −1/18.
    second = lecam.penalty(D, FAKE, REAL)
    assert_close(torch.stack(lecam.anchors), torch.tensor([-1 / 18, 1 / 18]))
    expected = 0.3 * (mean([(f - 1 / 18) ** 2 for f in on_fake]) + mean([(r + 1 / 18) ** 2 for r in on_real]))
    assert_close(second, torch.tensor(expected))
    assert lecam.updates == 2


def test_the_gradient_reaches_d_and_not_the_averages():
    D, lecam = linear_d(), LeCam(weight=0.3, decay=0.99)
    lecam.penalty(D, REAL, FAKE).backward()
    on_real, on_fake = torch.tensor([1.5, -1.5, 0.5]), torch.tensor([0.5, -0.5, -0.5])
    alpha_real, alpha_fake = 1 / 6, -1 / 6  # held constant: no gradient flows into them
    real_residual, fake_residual = 2 * (on_real - alpha_fake), 2 * (on_fake - alpha_real)
    expected_w = 0.3 * ((real_residual[:, None] * REAL).mean(0) + (fake_residual[:, None] * FAKE).mean(0))
    assert_close(D.weight.grad, expected_w.view(1, 2))
    assert_close(D.bias.grad, 0.3 * (real_residual.mean() + fake_residual.mean()).view(1))
    assert not any(t.requires_grad for t in lecam.anchors)


def test_erm_plus_lecam_adds_the_penalty_to_d_only():
    D = linear_d()
    objective = with_regularizers(StandardGAN(), parse_regularizer("lecam:0.5"))
    assert objective.name == "erm+lecam" and objective.regularizers[0].weight == 0.5
    alone = StandardGAN().discriminator_loss(D, REAL, FAKE)
    lecam = LeCam(weight=0.5).penalty(D, REAL, FAKE)
    assert_close(objective.discriminator_loss(D, REAL, FAKE), alone + lecam)
    assert_close(objective.last_penalties["lecam"], lecam.detach())
    # The G step sees the objective's own loss, and does not move the averages.
    fake = FAKE.clone().requires_grad_(True)
    assert torch.equal(objective.generator_loss(D, fake, REAL), StandardGAN().generator_loss(D, FAKE, REAL))
    assert objective.regularizers[0].updates == 1


def test_its_state_round_trips_and_a_fresh_one_would_differ():
    D = linear_d()
    trained = with_regularizers(MixupGAN(0.2, generator=torch.Generator().manual_seed(0)), LeCam(decay=0.9))
    for _ in range(3):
        trained.discriminator_loss(D, REAL, FAKE)
    state = trained.state_dict()
    assert list(state) == ["0:lecam"] and state["0:lecam"]["updates"] == 3
    restored = with_regularizers(MixupGAN(0.2), LeCam(decay=0.9))
    restored.load_state_dict(state)
    fresh = LeCam(decay=0.9)
    assert torch.equal(restored.regularizers[0].penalty(D, FAKE, REAL), trained.regularizers[0].penalty(D, FAKE, REAL))
    assert not torch.equal(fresh.penalty(D, FAKE, REAL), restored.regularizers[0].penalty(D, FAKE, REAL))
    assert LeCam().state_dict() == {}
    with pytest.raises(ObjectiveError, match="no state"):
        StandardGAN().load_state_dict({"0:lecam": {}})


def test_the_trainers_checkpoint_carries_it():
    state = build_state(make_tiny_config(regularizers=("lecam",)))
    assert "objective" not in state.state_dict()  # nothing seen yet: nothing to save
    train_step(state)
    saved = state.state_dict()
    assert saved["objective"][0]["0:lecam"]["updates"] == state.config.d_steps  # one state per rank
    other = build_state(make_tiny_config(regularizers=("lecam",)))
    other.load_state_dict(saved)
    assert_same(other.objective.state_dict(), saved["objective"][0])
    assert "objective" not in build_state(make_tiny_config()).state_dict()  # other runs' checkpoints unchanged


def test_a_killed_run_resumes_bit_identically(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    flags = ["--regularizer", "lecam", *TINY_FLAGS[:2], "--fixed-samples", "50", "--snapshot-frames", "3", "--grid-size", "8"]
    killed_at, iterations = kill_toy_run_after_a_checkpoint(flags, a, tmp_path / "A.log")
    assert load_checkpoint_file(a / "checkpoint.pt")["objective"][0]["0:lecam"]["updates"] > 0
    code, _, stderr = run_cli(["toy", "--resume", a, *QUIET])
    assert code == 0, stderr
    config = RunConfig.load(a / "config.json")
    assert config.regularizers == ("lecam",) and config.iterations == iterations
    train(config, b)
    ca, cb = load_checkpoint_file(a / "checkpoint.pt"), load_checkpoint_file(b / "checkpoint.pt")
    assert ca["iteration"] == iterations
    assert_same({k: v for k, v in ca.items() if k != "torch_rng"}, {k: v for k, v in cb.items() if k != "torch_rng"})
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()


def test_a_plain_loop_trains_with_it():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
    D = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    objective = with_regularizers(StandardGAN(), LeCam())
    for _ in range(20):
        real, fake = torch.randn(64, 2) * 0.1 + 1.0, G(torch.randn(64, 2))
        opt_d.zero_grad()
        objective.discriminator_loss(D, real, fake.detach()).backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = objective.generator_loss(D, fake, real)
        g_loss.backward()
        opt_g.step()
    assert torch.isfinite(g_loss) and objective.regularizers[0].updates == 20
    assert all(torch.isfinite(t) for t in objective.regularizers[0].anchors)


def test_lockstep_refuses_it_in_one_line():
    assert batchable(make_tiny_config(regularizers=("lecam",))) == "regularizers are not batched"


@pytest.mark.parametrize("spec, keyword", [("lecam:-1", ">= 0"), ("lecam:x", "not a number"), ("lecam:inf", "finite")])
def test_bad_specs_are_one_line(spec, keyword, tmp_path):
    with pytest.raises(RegularizerError, match=keyword):
        parse_regularizer(spec)
    code, _, stderr = run_cli(["toy", "--regularizer", spec, *TINY_FLAGS, "--out", tmp_path / "r", *QUIET])
    one_error_line(code, stderr, "lecam")
    assert not (tmp_path / "r").exists()


def test_hostile_input_is_one_error():
    for decay in (1.0, 1.5, -0.1):
        with pytest.raises(RegularizerError, match="decay"):
            LeCam(decay=decay)
    with pytest.raises(ObjectiveError, match="one logit per sample"):
        LeCam().penalty(nn.Linear(2, 2), REAL, FAKE)  # a map, not a logit
    with pytest.raises(ObjectiveError, match="floating point"):
        LeCam().penalty(linear_d(), REAL.long(), FAKE.long())
    with pytest.raises(RegularizerError, match="no batch"):
        LeCam().anchors
    assert LeCam(weight=0).penalty(linear_d(), REAL, FAKE).item() == 0.0 and LeCam(weight=0).updates == 0

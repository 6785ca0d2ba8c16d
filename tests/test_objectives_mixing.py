"""Mixup's family in D: manifold mixup, CutMix, and mixup's fake–fake / real–real terms, each
against hand-computed values, in a plain loop, resumed bit-identically, and refused where it cannot run."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cli_helpers import QUIET, TINY_FLAGS, assert_state_dicts_equal, one_error_line, run_cli
from conftest import make_tiny_config
from gan_mixup.objectives import (
    OBJECTIVES,
    CutMixGAN,
    ManifoldMixupGAN,
    MixupGAN,
    ObjectiveError,
    cutmix_masks,
    cutmix_spans,
    get_objective,
    split_points,
)
from gan_mixup.objectives.lambdas import sample_beta
from gan_mixup.training.batched import BatchingError, batchable, train_batched
from gan_mixup.training.loop import train

close = torch.testing.assert_close


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _scalar_d() -> nn.Sequential:
    """D(x) = relu(2x) on one feature: split points k = 0 (input), 1 (after the Linear), 2 (after the ReLU)."""
    D = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Linear(1, 1))
    with torch.no_grad():
        D[0].weight.fill_(2.0), D[0].bias.zero_(), D[2].weight.fill_(1.0), D[2].bias.zero_()
    return D


# ----- manifold mixup ---------------------------------------------------------------------------

def test_sequential_split_points_stop_before_the_last_layer_with_parameters():
    assert split_points(_scalar_d()) == 3
    assert split_points(nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))) == 1  # never after the logits
    from gan_mixup.modalities.images.models import dcgan_discriminator
    from gan_mixup.modalities.toy.models import toy_discriminator

    assert split_points(toy_discriminator(hidden=8)) == 7  # Linear, ReLU ×3, then the last Linear
    assert split_points(dcgan_discriminator(1, 16, 4)) == len(dcgan_discriminator(1, 16, 4)) - 1  # not the Flatten


def test_manifold_mixup_mixes_at_the_drawn_layer_with_target_lambda():
    # real x = 1, fake x = −1. At k = 0 the mix is 2λ − 1 and D gives relu(2(2λ − 1)); at k = 1 the
    # hidden values are 2 and −2, the mix 4λ − 2, relu → relu(4λ − 2); at k = 2 they are 2 and 0: 2λ.
    D, real, fake = _scalar_d(), torch.ones(1, 1), -torch.ones(1, 1)
    objective, chosen = ManifoldMixupGAN(alpha=1.0, generator=_gen(3)), set()
    expected_logit = {0: lambda lam: F.relu(2 * (2 * lam - 1)), 1: lambda lam: F.relu(4 * lam - 2), 2: lambda lam: 2 * lam}
    for _ in range(40):
        draws = _gen()
        draws.set_state(objective.generator.get_state())
        lam = sample_beta(1.0, 1, draws, torch.device("cpu"), torch.float32)
        u = torch.rand((), generator=draws)
        loss = objective.discriminator_loss(D, real, fake)
        k = objective.last_layer
        assert k == int(u * 3)
        chosen.add(k)
        close(objective.last_stats.lam_mean, lam[0])
        close(loss, F.binary_cross_entropy_with_logits(expected_logit[k](lam), lam), rtol=1e-6, atol=1e-6)
    assert chosen == {0, 1, 2}


def test_manifold_mixup_at_the_input_is_mixup():
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    for seed in range(20):
        manifold = ManifoldMixupGAN(alpha=0.2, generator=_gen(seed))
        loss = manifold.discriminator_loss(D, real, fake)
        if manifold.last_layer == 0:
            close(loss, MixupGAN(alpha=0.2, generator=_gen(seed)).discriminator_loss(D, real, fake))
            return
    pytest.fail("no seed chose the input")


def test_manifold_fake_min_is_erm_plus_a_mostly_fake_mix_labelled_fake():
    D, real, fake = _scalar_d(), torch.ones(4, 1), -torch.ones(4, 1)
    objective = ManifoldMixupGAN(alpha=0.2, target="fake-min", generator=_gen(1))
    draws = _gen(1)
    lam = sample_beta(0.2, 4, draws, torch.device("cpu"), torch.float32)
    lam = torch.minimum(lam, 1 - lam)
    k = int(torch.rand((), generator=draws) * 3)
    loss = objective.discriminator_loss(D, real, fake)
    assert objective.last_layer == k
    mix_logit = {0: F.relu(2 * (2 * lam - 1)), 1: F.relu(4 * lam - 2), 2: 2 * lam}[k]
    erm = F.binary_cross_entropy_with_logits(torch.tensor([2.0] * 4), torch.ones(4)) \
        + F.binary_cross_entropy_with_logits(torch.zeros(4), torch.zeros(4))
    close(loss, erm + F.binary_cross_entropy_with_logits(mix_logit, torch.zeros(4)))
    assert float(objective.last_stats.lam_mean) <= 0.5


def test_manifold_mixup_gradients_reach_head_and_tail_and_g_sees_unmixed_fakes():
    D = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    real, fake = torch.randn(8, 2), torch.randn(8, 2, requires_grad=True)
    objective = ManifoldMixupGAN(generator=_gen(0))
    while True:  # a step that mixes after the first hidden block: the first Linear is the head
        D.zero_grad()
        objective.discriminator_loss(D, real, fake.detach()).backward()
        if objective.last_layer >= 2:
            break
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters())
    assert fake.grad is None
    g_loss = objective.generator_loss(D, fake, real)
    close(g_loss, F.binary_cross_entropy_with_logits(D(fake).squeeze(1), torch.ones(8)))
    g_loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_a_user_module_splits_through_the_protocol():
    class TwoStage(nn.Module):
        split_points = 2

        def __init__(self):
            super().__init__()
            self.body, self.out = nn.Linear(2, 3), nn.Linear(3, 1)
            self.calls: list[tuple[str, int]] = []

        def forward_head(self, x, k):
            self.calls.append(("head", k))
            return x if k == 0 else self.body(x)

        def forward_tail(self, h, k):
            self.calls.append(("tail", k))
            return self.out(self.body(h) if k == 0 else h)

        def forward(self, x):
            return self.out(self.body(x))

    D = TwoStage()
    objective = ManifoldMixupGAN(generator=_gen(0))
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    draws = _gen(0)
    lam = sample_beta(0.2, 4, draws, torch.device("cpu"), torch.float32)
    k = int(torch.rand((), generator=draws) * 2)
    loss = objective.discriminator_loss(D, real, fake)
    assert D.calls == [("head", k), ("tail", k)]
    h = D.body if k == 1 else (lambda x: x)
    mixed = lam.view(-1, 1) * h(real) + (1 - lam.view(-1, 1)) * h(fake)
    close(loss, F.binary_cross_entropy_with_logits(D.forward_tail(mixed, k).squeeze(1), lam))


@pytest.mark.parametrize("D", [nn.Linear(2, 1), nn.Sequential(nn.ReLU())], ids=["linear", "no-parameters"])
def test_a_discriminator_that_cannot_be_split_is_refused_in_one_line(D):
    with pytest.raises(ObjectiveError) as info:
        ManifoldMixupGAN().discriminator_loss(D, torch.randn(4, 2), torch.randn(4, 2))
    assert "\n" not in str(info.value) and ("cannot be split" in str(info.value) or "parameters" in str(info.value))


@pytest.mark.parametrize("make", [lambda a: ManifoldMixupGAN(alpha=a), lambda a: CutMixGAN(alpha=a),
                                  lambda a: MixupGAN(alpha=a)], ids=["manifold-mixup", "cutmix", "mixup"])
@pytest.mark.parametrize("alpha", [0.0, -1.0, float("nan")])
def test_alpha_at_or_below_zero_is_refused_in_one_line(make, alpha):
    with pytest.raises(ObjectiveError, match="alpha") as info:
        make(alpha)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("objective", ["manifold-mixup", "cutmix"])
@pytest.mark.parametrize("alpha", ["0", "0.5"])
def test_mixups_alpha_flag_is_refused_where_the_objective_has_its_own(tmp_path, objective, alpha):
    """--alpha is mixup's; manifold-mixup and cutmix draw from their own α, so the flag would be ignored: one
    line names the option that sets theirs, and nothing is written. The option itself is checked as theirs."""
    out = tmp_path / "run"
    code, _, err = run_cli(["toy", "--objective", objective, "--alpha", alpha, *TINY_FLAGS, *QUIET, "--out", out])
    one_error_line(code, err, "--alpha", objective, "--objective-option alpha=")
    assert not out.exists()
    code, _, err = run_cli(["toy", "--objective", objective, "--objective-option", "alpha=0", *TINY_FLAGS, *QUIET,
                            "--out", out])
    one_error_line(code, err, "alpha", "> 0")
    assert not out.exists()


def test_compare_gives_mixups_alpha_to_mixup_only():
    """compare's --alpha is mixup's: a manifold-mixup or cutmix member keeps its own α (an option), not refused."""
    from gan_mixup.experiments import config_with_objective

    base = make_tiny_config(objective="mixup", alpha=0.5)
    assert config_with_objective(base, "mixup").alpha == 0.5
    for name in ("manifold-mixup", "cutmix+r1"):
        member = config_with_objective(base, name)
        assert member.alpha == 0.2 and member.objective == name.split("+")[0]


def test_options_that_are_not_ours_are_refused():
    with pytest.raises(ObjectiveError, match="target"):
        ManifoldMixupGAN(target="fake")
    with pytest.raises(ObjectiveError, match="target"):
        CutMixGAN(target="lambda")
    with pytest.raises(ObjectiveError, match="mix_fake_fake"):
        MixupGAN(mix_fake_fake=-1.0)
    with pytest.raises(ObjectiveError, match="shuffled"):
        MixupGAN(pairing="shuffled", mix_real_real=1.0)


# ----- CutMix -----------------------------------------------------------------------------------

def test_cutmix_masks_are_u_net_gans_boxes():
    masks = cutmix_masks(64, 8, 6, 1.0, _gen(2), torch.device("cpu"), torch.float32)
    draws = _gen(2)
    lam = sample_beta(1.0, 64, draws, torch.device("cpu"), torch.float32)
    cy, cx = torch.randint(8, (64,), generator=draws), torch.randint(6, (64,), generator=draws)
    expected = torch.zeros(64, 1, 8, 6)
    for i in range(64):
        h, w = int(8 * lam[i].sqrt()) // 2, int(6 * lam[i].sqrt()) // 2
        expected[i, 0, max(cy[i] - h, 0):cy[i] + h, max(cx[i] - w, 0):cx[i] + w] = 1
    close(masks, expected)
    assert masks.shape == (64, 1, 8, 6) and 0 < masks.mean() < 1


def test_cutmix_spans_are_blocks_of_round_f_lambda_features_at_a_uniform_start_clipped():
    masks = cutmix_spans(64, 5, 1.0, _gen(3), torch.device("cpu"), torch.float32)
    draws = _gen(3)
    lam = sample_beta(1.0, 64, draws, torch.device("cpu"), torch.float32)
    start = torch.randint(5, (64,), generator=draws)
    expected = torch.zeros(64, 5)
    for i in range(64):
        expected[i, start[i]:start[i] + round(5 * float(lam[i]))] = 1  # a slice past the end is clipped
    close(masks, expected)
    lengths = masks.sum(1)
    assert {int(n) for n in lengths} == {0, 1, 2, 3, 4, 5}
    # each row is one block: where it is 1, the ones are consecutive
    assert all(int(row.diff().abs().sum()) <= 2 and (row.sum() == 0 or row[int(row.argmax()):][:int(row.sum())].all())
               for row in masks)


def test_cutmix_spans_on_two_features_by_hand(monkeypatch):
    # λ = 0.2 → round(0.4) = 0: nothing pasted. λ = 0.6 → round(1.2) = 1: one coordinate, at s.
    # λ = 0.9 → round(1.8) = 2: from s = 0 both coordinates, from s = 1 the second only (clipped).
    import gan_mixup.objectives.mixing as mixing

    lam = torch.tensor([0.2, 0.6, 0.6, 0.9, 0.9])
    start = torch.tensor([1, 0, 1, 0, 1])
    expected = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    monkeypatch.setattr(mixing, "sample_beta", lambda *args: lam)  # the draws, chosen by hand
    monkeypatch.setattr(mixing.torch, "randint", lambda *args, **kwargs: start)
    masks = cutmix_spans(5, 2, 1.0, None, torch.device("cpu"), torch.float32)
    monkeypatch.undo()
    close(masks, expected)
    # D(v) = v₀ + 2·v₁: real (1, 1), fake (−1, −1); the mixes are (−1, −1), (1, −1), (−1, 1), (1, 1), (−1, 1)
    real, fake = torch.ones(5, 2), -torch.ones(5, 2)
    mixed = torch.where(masks.bool(), real, fake)
    close(mixed, torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0], [-1.0, 1.0]]))
    targets = torch.tensor([0.0, 0.5, 0.5, 1.0, 0.5])  # the real fraction: 0, ½ or 1 on 2-D points
    close(masks.mean(1), targets)
    D = nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[1.0, 2.0]])), D.bias.zero_()
    objective = CutMixGAN(generator=_gen(0))
    monkeypatch.setattr(objective, "draw_mask", lambda n, shape, device, dtype: masks)  # the draws above
    bce = F.binary_cross_entropy_with_logits
    expected_loss = bce(torch.full((5,), 3.0), torch.ones(5)) + bce(torch.full((5,), -3.0), torch.zeros(5)) \
        + bce(torch.tensor([-3.0, -1.0, 1.0, 3.0, 1.0]), targets)
    close(objective.discriminator_loss(D, real, fake), expected_loss)
    close(objective.last_stats.lam_mean, targets.mean())


@pytest.mark.parametrize("target", ["area", "fake"])
def test_cutmix_on_vectors_pastes_real_features_with_the_real_fraction_as_target(target):
    D = nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 1))
    real, fake = torch.randn(8, 6), torch.randn(8, 6)
    objective = CutMixGAN(alpha=0.5, target=target, mix_weight=0.5, generator=_gen(4))
    mask = cutmix_spans(8, 6, 0.5, _gen(4), torch.device("cpu"), torch.float32)
    mixed, m = CutMixGAN(alpha=0.5, generator=_gen(4)).cut_mix(real, fake)
    close(m, mask)
    close(mixed, mask * real + (1 - mask) * fake)
    area = mask.mean(1)
    logits = lambda x: D(x).squeeze(1)  # noqa: E731
    expected = F.binary_cross_entropy_with_logits(logits(real), torch.ones(8)) \
        + F.binary_cross_entropy_with_logits(logits(fake), torch.zeros(8)) \
        + 0.5 * F.binary_cross_entropy_with_logits(logits(mixed), area if target == "area" else torch.zeros(8))
    close(objective.discriminator_loss(D, real, fake), expected)
    close(objective.last_stats.lam_mean, area.mean())


def _flat_d(pixels: int = 16) -> nn.Sequential:
    D = nn.Sequential(nn.Flatten(), nn.Linear(pixels, 1))
    with torch.no_grad():
        D[1].weight.copy_(torch.linspace(-1, 1, pixels)), D[1].bias.fill_(0.1)
    return D


@pytest.mark.parametrize("target", ["area", "fake"])
def test_cutmix_pastes_real_into_fake_with_the_real_fraction_as_target(target):
    D, real, fake = _flat_d(), torch.randn(4, 1, 4, 4), torch.randn(4, 1, 4, 4)
    objective = CutMixGAN(alpha=1.0, target=target, mix_weight=0.5, generator=_gen(5))
    mask = cutmix_masks(4, 4, 4, 1.0, _gen(5), torch.device("cpu"), torch.float32)
    mixed, m = CutMixGAN(alpha=1.0, generator=_gen(5)).cut_mix(real, fake)
    close(m, mask)
    close(mixed, mask * real + (1 - mask) * fake)
    area = mask.mean(dim=(1, 2, 3))
    logits = lambda x: D(x).squeeze(1)  # noqa: E731
    expected = F.binary_cross_entropy_with_logits(logits(real), torch.ones(4)) \
        + F.binary_cross_entropy_with_logits(logits(fake), torch.zeros(4)) \
        + 0.5 * F.binary_cross_entropy_with_logits(logits(mixed), area if target == "area" else torch.zeros(4))
    close(objective.discriminator_loss(D, real, fake), expected)
    close(objective.last_stats.lam_mean, area.mean())


def test_cutmix_gradient_and_g_step():
    D = _flat_d()
    real, fake = torch.randn(4, 1, 4, 4), torch.randn(4, 1, 4, 4, requires_grad=True)
    objective = CutMixGAN(generator=_gen(0))
    objective.discriminator_loss(D, real, fake.detach()).backward()
    assert D[1].weight.grad is not None and fake.grad is None
    g_loss = objective.generator_loss(D, fake, real)
    close(g_loss, F.binary_cross_entropy_with_logits(D(fake).squeeze(1), torch.ones(4)))
    g_loss.backward()
    assert fake.grad is not None


def test_cutmix_consistency_on_per_pixel_maps():
    D = nn.Conv2d(1, 1, 1)  # a per-pixel map (B, 1, H, W): a stand-in for U-Net GAN's decoder
    with torch.no_grad():
        D.weight.fill_(1.5), D.bias.fill_(-0.2)
    real, fake = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    objective = CutMixGAN(consistency=2.0, generator=_gen(7))
    mask = cutmix_masks(3, 4, 4, 1.0, _gen(7), torch.device("cpu"), torch.float32)
    mixed = mask * real + (1 - mask) * fake
    on_real, on_fake, on_mixed = D(real), D(fake), D(mixed)
    expected = F.binary_cross_entropy_with_logits(on_real, torch.ones_like(on_real)) \
        + F.binary_cross_entropy_with_logits(on_fake, torch.zeros_like(on_fake)) \
        + F.binary_cross_entropy_with_logits(on_mixed, mask) \
        + 2.0 * ((on_mixed - (mask * on_real + (1 - mask) * on_fake)) ** 2).mean()
    close(objective.discriminator_loss(D, real, fake), expected)
    close(objective.generator_loss(D, fake, real), F.binary_cross_entropy_with_logits(on_fake, torch.ones_like(on_fake)))


def test_cutmix_refuses_maps_logits_and_other_shapes_in_one_line():
    images = torch.randn(4, 1, 4, 4), torch.randn(4, 1, 4, 4)
    points = torch.randn(4, 2), torch.randn(4, 2)
    cases = [(CutMixGAN(), nn.Conv2d(1, 1, 1), images, "one logit per sample"),  # a map where a logit is expected
             (CutMixGAN(consistency=1.0), _flat_d(), images, "per-pixel maps"),  # a logit where a map is expected
             (CutMixGAN(consistency=1.0), nn.Linear(2, 1), points, "per-pixel maps of images"),  # images only
             (CutMixGAN(), nn.Conv1d(2, 1, 4), (torch.randn(4, 2, 4), torch.randn(4, 2, 4)), r"\(B, F\) or"),
             (CutMixGAN(), nn.Identity(), (torch.randn(4), torch.randn(4)), r"\(B, C, H, W\)")]
    for objective, D, (real, fake), message in cases:
        state = objective.generator.get_state() if objective.generator else None
        with pytest.raises(ObjectiveError, match=message) as info:
            objective.discriminator_loss(D, real, fake)
        assert "\n" not in str(info.value)
        assert state is None or torch.equal(objective.generator.get_state(), state)


# ----- mixup's fake–fake and real–real terms ----------------------------------------------------

def test_mixup_without_the_extra_terms_draws_and_computes_as_before():
    D = nn.Linear(2, 1)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    a, b = MixupGAN(generator=_gen(0)), MixupGAN(generator=_gen(0), mix_fake_fake=0.0, mix_real_real=0.0)
    assert torch.equal(a.discriminator_loss(D, real, fake), b.discriminator_loss(D, real, fake))
    assert torch.equal(a.generator.get_state(), b.generator.get_state())


def test_mixup_fake_fake_and_real_real_terms():
    D = nn.Linear(2, 1)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    objective = MixupGAN(alpha=0.4, generator=_gen(4), mix_fake_fake=0.5, mix_real_real=0.25)
    draws, cpu = _gen(4), torch.device("cpu")
    lam = sample_beta(0.4, 8, draws, cpu, torch.float32)
    perm_ff = torch.randperm(8, generator=draws)
    lam_ff = sample_beta(0.4, 8, draws, cpu, torch.float32).view(-1, 1)
    perm_rr = torch.randperm(8, generator=draws)
    lam_rr = sample_beta(0.4, 8, draws, cpu, torch.float32).view(-1, 1)
    logits = lambda x: D(x).squeeze(1)  # noqa: E731
    expected = F.binary_cross_entropy_with_logits(logits(lam.view(-1, 1) * real + (1 - lam.view(-1, 1)) * fake), lam) \
        + 0.5 * F.binary_cross_entropy_with_logits(logits(lam_ff * fake + (1 - lam_ff) * fake[perm_ff]), torch.zeros(8)) \
        + 0.25 * F.binary_cross_entropy_with_logits(logits(lam_rr * real + (1 - lam_rr) * real[perm_rr]), torch.ones(8))
    close(objective.discriminator_loss(D, real, fake), expected)
    close(objective.last_stats.lam_mean, lam.mean())  # the logged λ stays the real–fake mix's


def test_mixup_extra_terms_in_lockstep_are_each_members_own():
    D = nn.Linear(2, 1)  # maps (N, B, 2) to (N, B, 1): a stacked D without per-member weights
    real, fake = torch.randn(3, 8, 2), torch.randn(3, 8, 2)
    members = [MixupGAN(generator=_gen(s), mix_fake_fake=1.0, mix_real_real=0.5) for s in range(3)]
    stacked = members[0].stacked_losses(D, members, real, fake)
    alone = [MixupGAN(generator=_gen(s), mix_fake_fake=1.0, mix_real_real=0.5).discriminator_loss(D, real[s], fake[s])
             for s in range(3)]
    close(stacked, torch.stack(alone))


# ----- the trainer, lockstep, the command line --------------------------------------------------

@pytest.mark.parametrize("make, shape, D", [
    (lambda: ManifoldMixupGAN(generator=_gen(0)), (2,), lambda: nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))),
    (lambda: ManifoldMixupGAN(target="fake-min", generator=_gen(0)), (2,),
     lambda: nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))),
    (lambda: CutMixGAN(generator=_gen(0)), (1, 8, 8),
     lambda: nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 4, 1, 0))),
    (lambda: CutMixGAN(generator=_gen(0)), (2,), lambda: nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))),
    (lambda: MixupGAN(generator=_gen(0), mix_fake_fake=1.0, mix_real_real=1.0), (2,), lambda: nn.Linear(2, 1)),
], ids=["manifold-mixup", "manifold-fake-min", "cutmix", "cutmix-points", "mixup-ff-rr"])
def test_drop_in_a_plain_training_loop(make, shape, D):
    torch.manual_seed(0)
    G, D = nn.Linear(4, int(torch.tensor(shape).prod())), D()
    opt_g, opt_d = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    objective, before = make(), [p.detach().clone() for p in D.parameters()]
    for _ in range(10):
        real = torch.randn(16, *shape)
        fake = G(torch.randn(16, 4)).view(16, *shape)
        d_loss = objective.discriminator_loss(D, real, fake.detach())
        opt_d.zero_grad(), d_loss.backward(), opt_d.step()
        g_loss = objective.generator_loss(D, fake, real)
        opt_g.zero_grad(), g_loss.backward(), opt_g.step()
        assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, D.parameters()))


IMAGES = dict(dataset="digits", image_size=16, hidden=8, latent_dim=8, batch_size=16, fixed_samples=16,
              metric_samples=0, snapshot_frames=3)


@pytest.mark.parametrize("changes", [
    {"objective": "manifold-mixup"},
    {"objective": "manifold-mixup", "objective_options": {"target": "fake-min"}},
    {"objective": "mixup", "objective_options": {"mix_fake_fake": 1.0, "mix_real_real": 0.5}},
    {"objective": "cutmix", **IMAGES},
    {"objective": "manifold-mixup", **IMAGES},
    {"objective": "cutmix"},
], ids=["manifold-mixup", "manifold-fake-min", "mixup-ff-rr", "cutmix-images", "manifold-mixup-images", "cutmix-points"])
def test_resume_is_bit_identical(changes, tmp_path):
    config = make_tiny_config(iterations=8, checkpoint_every=4, checkpoint_seconds=0, **changes)
    whole = train(config, tmp_path / "whole")
    train(config.replace(iterations=4), tmp_path / "halves")
    halves = train(config, tmp_path / "halves", resume=True)
    assert_state_dicts_equal(halves.generator.state_dict(), whole.generator.state_dict())
    assert_state_dicts_equal(halves.discriminator.state_dict(), whole.discriminator.state_dict())


def test_lockstep_refuses_manifold_mixup_in_one_line(tmp_path):
    assert "stacked D" in batchable(make_tiny_config(objective="manifold-mixup"))
    assert "one at a time" in batchable(make_tiny_config(objective="cutmix", **IMAGES))  # images' own reason
    with pytest.raises(BatchingError, match="manifold-mixup splits D"):
        train_batched([make_tiny_config(objective="manifold-mixup", seed=s) for s in (0, 1)],
                      [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(ObjectiveError, match="lockstep"):
        ManifoldMixupGAN().stacked_losses(nn.Linear(2, 1), [ManifoldMixupGAN()], torch.randn(1, 4, 2), torch.randn(1, 4, 2))


def test_a_batched_sweep_trains_manifold_mixup_one_run_at_a_time():
    from gan_mixup.sweeps import sweep_members
    from gan_mixup.sweeps.jobs import lockstep_jobs

    members = sweep_members({("ring8", ""): make_tiny_config()}, objectives=["erm", "manifold-mixup"], alphas=[0.2],
                            seeds=[0, 1])
    jobs = sorted(([m.config.objective for m in job] for job in lockstep_jobs(members)), key=len)
    assert jobs == [["manifold-mixup"], ["manifold-mixup"], ["erm", "erm"]]


def test_cutmix_in_lockstep_each_member_draws_its_own_masks():
    D = nn.Linear(3, 1)  # maps (N, B, 3) to (N, B, 1): a stacked D without per-member weights
    real, fake = torch.randn(3, 8, 3), torch.randn(3, 8, 3)
    members = [CutMixGAN(alpha=0.5, generator=_gen(s)) for s in range(3)]
    stacked = members[0].stacked_losses(D, members, real, fake)
    alone = [CutMixGAN(alpha=0.5, generator=_gen(s)) for s in range(3)]
    close(stacked, torch.stack([a.discriminator_loss(D, real[s], fake[s]) for s, a in enumerate(alone)]))
    for member, single in zip(members, alone):
        close(member.last_stats.lam_mean, single.last_stats.lam_mean)
        assert torch.equal(member.generator.get_state(), single.generator.get_state())
    g_stacked = members[0].stacked_losses(D, members, real, fake, generator=True)
    close(g_stacked, torch.stack([a.generator_loss(D, fake[s], real[s]) for s, a in enumerate(alone)]))
    with pytest.raises(ObjectiveError, match="not in lockstep"):
        CutMixGAN(consistency=1.0).stacked_losses(D, [CutMixGAN(consistency=1.0)], real[:1], fake[:1])


def test_a_batched_sweep_trains_cutmix_on_points_in_lockstep(tmp_path):
    from gan_mixup.sweeps import sweep_members
    from gan_mixup.sweeps.jobs import lockstep_jobs

    configs = [make_tiny_config(objective="cutmix", seed=s) for s in (0, 1)]
    assert batchable(configs[0]) is None
    train_batched(configs, [tmp_path / "a", tmp_path / "b"])
    assert (tmp_path / "b" / "checkpoint.pt").is_file()
    members = sweep_members({("ring8", ""): make_tiny_config()}, objectives=["cutmix"], alphas=[0.2], seeds=[0, 1])
    assert [[m.config.seed for m in job] for job in lockstep_jobs(members)] == [[0, 1]]


def test_mixup_with_its_extra_terms_trains_in_lockstep(tmp_path):
    configs = [make_tiny_config(objective="mixup", objective_options={"mix_fake_fake": 1.0}, seed=s) for s in (0, 1)]
    assert batchable(configs[0]) is None
    train_batched(configs, [tmp_path / "a", tmp_path / "b"])
    assert (tmp_path / "b" / "checkpoint.pt").is_file()


def test_the_command_line_lists_runs_and_refuses_them(tmp_path):
    code, out, _ = run_cli(["objectives"])
    assert code == 0 and "manifold-mixup" in out and "cutmix" in out
    code, _, err = run_cli(["toy", *TINY_FLAGS, *QUIET, "--objective", "manifold-mixup",
                            "--objective-option", "target=fake-min", "--out", tmp_path / "m"])
    assert code == 0, err
    code, _, err = run_cli(["toy", *TINY_FLAGS, *QUIET, "--objective", "cutmix", "--out", tmp_path / "c"])
    assert code == 0, err
    code, _, err = run_cli(["toy", *TINY_FLAGS, *QUIET, "--objective", "cutmix", "--objective-option", "consistency=1",
                            "--out", tmp_path / "cc"])
    one_error_line(code, err, "per-pixel map")
    code, _, err = run_cli(["toy", *TINY_FLAGS, *QUIET, "--objective", "manifold-mixup",
                            "--objective-option", "target=nonsense", "--out", tmp_path / "n"])
    one_error_line(code, err, "target")
    code, _, err = run_cli(["images", "--dataset", "digits", "--iterations", "2", *QUIET, "--objective", "cutmix",
                            "--objective-option", "consistency=1", "--out", tmp_path / "i"])
    one_error_line(code, err, "per-pixel map")
    assert not (tmp_path / "n").exists() and not (tmp_path / "i").exists() and not (tmp_path / "cc").exists()


def test_issue_35s_compare_on_the_ring_runs_every_objective(tmp_path):
    objectives = ["erm", "mixup", "manifold-mixup", "cutmix", "erm+diffaug", "erm+bcr", "r3gan"]
    flags = [*TINY_FLAGS, "--no-progress"]  # compare renders always: it has no --no-render
    flags[flags.index("--iterations") + 1] = "20"
    out = tmp_path / "cmp"
    code, _, err = run_cli(["compare", "--dataset", "ring8", "--objectives", ",".join(objectives), "--out", out, *flags])
    assert code == 0, err
    import json

    runs = json.loads((out / "runs.json").read_text())["runs"]
    assert list(runs) == objectives
    for name, folder in runs.items():
        assert (out / folder / "checkpoint.pt").is_file(), name
        assert json.loads((out / folder / "config.json").read_text())["iterations"] == 20


def test_they_are_registered():
    assert OBJECTIVES["manifold-mixup"] is ManifoldMixupGAN and OBJECTIVES["cutmix"] is CutMixGAN
    assert get_objective("cutmix", consistency=1.0).consistency == 1.0


@pytest.mark.parametrize("spec", ["r1", "gp", "instance-noise", "label-smoothing"])
@pytest.mark.parametrize("name, shape, make_d", [
    ("manifold-mixup", (2,), lambda: nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))),
    ("cutmix", (1, 4, 4), lambda: nn.Sequential(nn.Flatten(), nn.Linear(16, 1))),
    ("cutmix", (2,), lambda: nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))),
], ids=["manifold-mixup", "cutmix", "cutmix-points"])
def test_they_compose_with_every_regularizer(spec, name, shape, make_d):
    from gan_mixup.regularizers import parse_regularizer, with_regularizers

    generator = _gen(0)
    objective = with_regularizers(get_objective(name, generator=generator), parse_regularizer(spec, generator))
    objective.begin_iteration(1, 10)
    D, real, fake = make_d(), torch.randn(8, *shape), torch.randn(8, *shape, requires_grad=True)
    d_loss = objective.discriminator_loss(D, real, fake.detach())
    d_loss.backward()
    g_loss = objective.generator_loss(D, fake, real)
    g_loss.backward()
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss) and fake.grad is not None


def test_compare_and_sweep_take_objective_options_of_objectives_other_than_mixup(tmp_path):
    """--objective-option goes to the members, each checked against its own objective; the base config the
    members come from (mixup by default) is not asked to accept options that mixup lacks."""
    import json

    from gan_mixup.config import ConfigError
    from gan_mixup.sweeps import sweep_members

    out = tmp_path / "cmp"
    code, _, err = run_cli(["compare", "--dataset", "ring8", "--objectives", "r3gan,r3gan+lecam", "--objective-option",
                            "gamma=0.5", *TINY_FLAGS, "--no-progress", "--out", out])
    assert code == 0, err
    for name in ("r3gan", "r3gan_lecam"):
        assert json.loads((out / name / "config.json").read_text())["objective_options"] == {"gamma": 0.5}
    members = sweep_members({("ring8", ""): make_tiny_config()}, objectives=["manifold-mixup", "cutmix"], alphas=[],
                            seeds=[0], objective_options={"alpha": 0.5})
    assert [m.config.objective_options for m in members] == [{"alpha": 0.5}, {"alpha": 0.5}]
    with pytest.raises(ConfigError, match="no option 'gamma'"):
        sweep_members({("ring8", ""): make_tiny_config()}, objectives=["erm"], alphas=[], seeds=[0],
                      objective_options={"gamma": 1.0})
    code, _, err = run_cli(["sweep", "--dataset", "ring8", "--objectives", "erm,r3gan", "--seeds", "0",
                            "--objective-option", "gamma=1", *TINY_FLAGS, "--no-progress", "--out", tmp_path / "sw"])
    one_error_line(code, err, "'erm' has no option 'gamma'")
    assert not (tmp_path / "sw").exists()

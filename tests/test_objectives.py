"""objectives: λ statistics, hand-computed StandardGAN / MixupGAN losses, gradients, shapes, errors,
the authors' shuffled pairing, reproducibility."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from gan_mixup import objectives
from gan_mixup.objectives import OBJECTIVES, MixupGAN, ObjectiveError, StandardGAN, get_objective, lambdas


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def softplus(z: float) -> float:
    return math.log1p(math.exp(z))


def bce_by_hand(z: float, y: float) -> float:
    """BCE on one logit z with soft target y: −y·log σ(z) − (1−y)·log(1−σ(z))."""
    return y * softplus(-z) + (1 - y) * softplus(z)


# A fixed linear D and batches whose logits are easy to write down: D(x) = 0.5·x0 − 1.0·x1 + 0.25.
W, B0 = [0.5, -1.0], 0.25
REAL = torch.tensor([[1.0, 0.0], [0.0, -1.0], [2.0, 1.0]])
FAKE = torch.tensor([[-1.0, 1.0], [0.0, 0.0], [1.0, 2.0]])
REAL_LOGITS = [0.75, 1.25, 0.25]
FAKE_LOGITS = [-1.25, 0.25, -1.25]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_hand_logits_are_what_the_linear_d_computes(linear_d):
    D = linear_d(W, B0)
    torch.testing.assert_close(D(REAL).squeeze(1), torch.tensor(REAL_LOGITS))
    torch.testing.assert_close(D(FAKE).squeeze(1), torch.tensor(FAKE_LOGITS))


# ----- λ statistics ----------------------------------------------------------------------------

@pytest.fixture(params=["float64-cpu", "float32-device"])
def beta_sampler(request, monkeypatch):
    """Each Beta λ sampler, on the CPU: the CPU's float64 one, and the float32 one that every other
    device (MPS, CUDA) uses, reached by telling the CPU it is such a device."""
    if request.param == "float32-device":
        monkeypatch.setattr(lambdas, "_draws_float64_on", lambda device: False)
    return request.param


@pytest.mark.parametrize("alpha", [0.2, 1.0, 2.0])
def test_beta_lambda_matches_beta_alpha_alpha(alpha, beta_sampler):
    n = 100_000
    lam = MixupGAN(alpha=alpha, generator=_gen(1)).sample_lambda(n, torch.device("cpu"), torch.float64)
    assert lam.shape == (n,)
    assert lam.min() >= 0 and lam.max() <= 1
    var = 1 / (4 * (2 * alpha + 1))
    # mean: sd of the sample mean is sqrt(var/n) ≤ 0.0014; variance: relative sd ≈ sqrt(2/n)·(kurtosis) < 1%.
    torch.testing.assert_close(lam.mean().item(), 0.5, rtol=0, atol=0.006)
    torch.testing.assert_close(lam.var().item(), var, rtol=0.03, atol=0)


# Closed forms of the Beta(α, α) CDF: the arcsine law, the uniform, and 3x² − 2x³.
BETA_CDFS = {0.5: lambda x: 2 / math.pi * torch.asin(x.sqrt()), 1.0: lambda x: x, 2.0: lambda x: 3 * x**2 - 2 * x**3}


@pytest.mark.parametrize("alpha", sorted(BETA_CDFS))
def test_beta_lambda_follows_the_beta_cdf(alpha, beta_sampler):
    n = 100_000
    lam = MixupGAN(alpha=alpha, generator=_gen(6)).sample_lambda(n, torch.device("cpu"), torch.float64).sort().values
    cdf = BETA_CDFS[alpha](lam)
    rank = torch.arange(1, n + 1, dtype=torch.float64)
    ks = torch.maximum(rank / n - cdf, cdf - (rank - 1) / n).max().item()  # Kolmogorov–Smirnov distance
    assert ks < 0.01  # P(KS > 0.01) < 1e-8 at n = 1e5 for an exact sampler


def test_per_batch_lambda_is_one_value_for_the_whole_batch(beta_sampler):
    objective = MixupGAN(alpha=0.4, per_sample=False, generator=_gen(2))
    lams = [objective.sample_lambda(64, torch.device("cpu"), torch.float32) for _ in range(200)]
    for lam in lams:
        assert lam.shape == (64,)
        torch.testing.assert_close(lam, lam[:1].expand(64), rtol=0, atol=0)
    # ...yet it changes from batch to batch and still follows Beta(0.4, 0.4).
    firsts = torch.stack([lam[0] for lam in lams])
    assert firsts.unique().numel() == 200
    torch.testing.assert_close(firsts.mean().item(), 0.5, rtol=0, atol=0.1)


def test_per_batch_mix_uses_one_lambda_for_every_pair():
    objective = MixupGAN(alpha=0.4, per_sample=False, generator=_gen(3))
    real, fake = torch.ones(16, 2), torch.zeros(16, 2)
    mixed, target = objective.mix(real, fake)
    torch.testing.assert_close(target, target[:1].expand(16), rtol=0, atol=0)
    torch.testing.assert_close(mixed, target[:, None].expand(16, 2))


def _beta_mass_between(alpha: float, low: float, high: float) -> float:
    """P(low < λ < high) for λ ~ Beta(α, α), integrated in logit space t (dλ = λ(1 − λ) dt)."""
    t = torch.linspace(math.log(low / (1 - low)), math.log(high / (1 - high)), 200_001, dtype=torch.float64)
    lam = torch.sigmoid(t)
    log_beta = 2 * math.lgamma(alpha) - math.lgamma(2 * alpha)
    return torch.trapezoid(torch.exp(alpha * (lam.log() + (1 - lam).log()) - log_beta), t).item()


def test_alpha_to_zero_puts_lambda_on_zero_and_one(beta_sampler):
    alpha, n = 1e-3, 100_000
    lam = MixupGAN(alpha=alpha, generator=_gen(4)).sample_lambda(n, torch.device("cpu"), torch.float64)
    middle = ((lam > 0.01) & (lam < 0.99)).double().mean().item()
    # 0.46% of Beta(1e-3, 1e-3) lies in (0.01, 0.99) (an underflowing sampler puts a quarter there);
    # the count there is Poisson, sd ≈ 21 of 460: 5 sd.
    expected = _beta_mass_between(alpha, 0.01, 0.99)
    torch.testing.assert_close(middle, expected, rtol=5 / math.sqrt(n * expected), atol=0)
    # Both ends, evenly: Beta(α, α) is symmetric.
    torch.testing.assert_close((lam > 0.5).double().mean().item(), 0.5, rtol=0, atol=0.01)


def test_alpha_to_zero_mixup_loss_is_half_the_standard_loss(beta_sampler, linear_d):
    """As α → 0 each λ is 0 or 1: the loss picks, per sample, the real or the fake ERM term."""
    D = linear_d(W, B0)
    n = 20_000
    data = _gen(8)
    real, fake = torch.randn(n, 2, generator=data), torch.randn(n, 2, generator=data)
    loss = MixupGAN(alpha=1e-5, generator=_gen(7)).discriminator_loss(D, real, fake)
    _, lam = MixupGAN(alpha=1e-5, generator=_gen(7)).mix(real, fake)  # the same λ
    with torch.no_grad():
        real_terms = F.binary_cross_entropy_with_logits(D(real).squeeze(1), torch.ones(n), reduction="none")
        fake_terms = F.binary_cross_entropy_with_logits(D(fake).squeeze(1), torch.zeros(n), reduction="none")
        picked = torch.where(lam > 0.5, real_terms, fake_terms).mean()
        standard = StandardGAN().discriminator_loss(D, real, fake)
    torch.testing.assert_close(loss.item(), picked.item(), rtol=1e-3, atol=0)
    # Half of each pick is real: half the ERM sum (its sd here is 0.3% of it).
    torch.testing.assert_close(loss.item(), 0.5 * standard.item(), rtol=0.02, atol=0)


@pytest.mark.parametrize("alpha", [0.2, 1.0])
def test_uniform_lambda_stays_in_zero_alpha_with_mean_half_alpha(alpha):
    n = 50_000
    objective = MixupGAN(alpha=alpha, lambda_distribution="uniform", generator=_gen(5))
    lam = objective.sample_lambda(n, torch.device("cpu"), torch.float64)
    assert lam.min() >= 0 and lam.max() <= alpha
    torch.testing.assert_close(lam.mean().item(), alpha / 2, rtol=0, atol=4 * alpha / math.sqrt(12 * n))
    torch.testing.assert_close(lam.var().item(), alpha**2 / 12, rtol=0.03, atol=0)


# ----- hand-computed losses -------------------------------------------------------------------

def test_standard_gan_discriminator_loss_by_hand(linear_d):
    D = linear_d(W, B0)
    loss = StandardGAN().discriminator_loss(D, REAL, FAKE)
    expected = _mean([softplus(-z) for z in REAL_LOGITS]) + _mean([softplus(z) for z in FAKE_LOGITS])
    assert loss.shape == ()
    torch.testing.assert_close(loss.item(), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "form, expected",
    [
        ("non-saturating", _mean([softplus(-z) for z in FAKE_LOGITS])),
        ("saturating", -_mean([softplus(z) for z in FAKE_LOGITS])),
        ("minimax", -_mean([softplus(-z) for z in REAL_LOGITS] + [softplus(z) for z in FAKE_LOGITS])),
    ],
)
def test_standard_gan_generator_losses_by_hand(linear_d, form, expected):
    D = linear_d(W, B0)
    loss = StandardGAN(generator_loss=form).generator_loss(D, FAKE, REAL)
    torch.testing.assert_close(loss.item(), expected, rtol=1e-6, atol=1e-7)


def test_minimax_generator_loss_is_minus_bce_on_unmixed_real_and_fake(linear_d):
    D = linear_d(W, B0)
    logits = D(torch.cat([REAL, FAKE])).squeeze(1)
    targets = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    expected = -F.binary_cross_entropy_with_logits(logits, targets)
    for objective in (StandardGAN("minimax"), MixupGAN(alpha=0.2, generator_loss="minimax", generator=_gen())):
        torch.testing.assert_close(objective.generator_loss(D, FAKE, REAL), expected.detach())


def test_minimax_generator_loss_needs_real(linear_d):
    with pytest.raises(ObjectiveError, match="real"):
        StandardGAN("minimax").generator_loss(linear_d(W, B0), FAKE)


def _fixed_lambda(value: float):
    def sample_lambda(n, device, dtype):
        return torch.full((n,), value, device=device, dtype=dtype)

    return sample_lambda


def test_mixup_with_lambda_one_is_the_real_term(linear_d, monkeypatch):
    D = linear_d(W, B0)
    objective = MixupGAN(alpha=0.2)
    monkeypatch.setattr(objective, "sample_lambda", _fixed_lambda(1.0))
    loss = objective.discriminator_loss(D, REAL, FAKE)
    torch.testing.assert_close(loss.item(), _mean([softplus(-z) for z in REAL_LOGITS]), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(objective.last_stats.lam_mean.item(), 1.0)


def test_mixup_with_lambda_zero_is_the_fake_term(linear_d, monkeypatch):
    D = linear_d(W, B0)
    objective = MixupGAN(alpha=0.2)
    monkeypatch.setattr(objective, "sample_lambda", _fixed_lambda(0.0))
    loss = objective.discriminator_loss(D, REAL, FAKE)
    torch.testing.assert_close(loss.item(), _mean([softplus(z) for z in FAKE_LOGITS]), rtol=1e-6, atol=1e-7)


def test_mixup_with_lambda_one_and_zero_sum_to_the_standard_loss(linear_d, monkeypatch):
    D = linear_d(W, B0)
    objective = MixupGAN(alpha=0.2)
    monkeypatch.setattr(objective, "sample_lambda", _fixed_lambda(1.0))
    real_term = objective.discriminator_loss(D, REAL, FAKE)
    monkeypatch.setattr(objective, "sample_lambda", _fixed_lambda(0.0))
    fake_term = objective.discriminator_loss(D, REAL, FAKE)
    torch.testing.assert_close(real_term + fake_term, StandardGAN().discriminator_loss(D, REAL, FAKE))


def test_mixup_loss_at_a_middle_lambda_by_hand(linear_d, monkeypatch):
    D = linear_d(W, B0)
    objective = MixupGAN(alpha=0.2)
    monkeypatch.setattr(objective, "sample_lambda", _fixed_lambda(0.3))
    loss = objective.discriminator_loss(D, REAL, FAKE)
    # D is linear, so D(0.3·r + 0.7·f) = 0.3·D(r) + 0.7·D(f).
    mixed_logits = [0.3 * r + 0.7 * f for r, f in zip(REAL_LOGITS, FAKE_LOGITS)]
    torch.testing.assert_close(loss.item(), _mean([bce_by_hand(z, 0.3) for z in mixed_logits]), rtol=1e-6, atol=1e-7)


def test_mixup_per_sample_lambda_loss_by_hand(linear_d):
    D = linear_d(W, B0)
    objective = MixupGAN(alpha=0.5, generator=_gen(11))
    loss = objective.discriminator_loss(D, REAL, FAKE)
    lam = MixupGAN(alpha=0.5, generator=_gen(11)).sample_lambda(3, torch.device("cpu"), torch.float32).tolist()
    mixed_logits = [l * r + (1 - l) * f for l, r, f in zip(lam, REAL_LOGITS, FAKE_LOGITS)]
    torch.testing.assert_close(loss.item(), _mean([bce_by_hand(z, l) for z, l in zip(mixed_logits, lam)]), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(objective.last_stats.lam_mean.item(), _mean(lam), rtol=1e-6, atol=1e-7)


def test_mixed_generator_loss_is_minus_the_mixup_discriminator_loss():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    d_loss = MixupGAN(alpha=0.2, generator=_gen(9)).discriminator_loss(D, real, fake)
    g_loss = MixupGAN(alpha=0.2, generator_loss="mixed", generator=_gen(9)).generator_loss(D, fake, real)
    torch.testing.assert_close(g_loss, -d_loss)


def test_mixup_non_saturating_generator_loss_is_the_standard_one(linear_d):
    D = linear_d(W, B0)
    expected = _mean([softplus(-z) for z in FAKE_LOGITS])
    torch.testing.assert_close(MixupGAN(alpha=0.2).generator_loss(D, FAKE, REAL).item(), expected, rtol=1e-6, atol=1e-7)


# ----- gradients -----------------------------------------------------------------------------

def _tiny_gan(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    D = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    return G, D


def _objectives() -> list:
    return [
        StandardGAN(),
        StandardGAN("saturating"),
        MixupGAN(alpha=0.2, generator=_gen()),
        MixupGAN(alpha=0.2, generator_loss="mixed", generator=_gen()),
        MixupGAN(alpha=0.3, lambda_distribution="uniform", pairing="shuffled", generator_loss="minimax", generator=_gen()),
    ]


@pytest.mark.parametrize("objective", _objectives(), ids=repr)
def test_discriminator_loss_trains_d_and_not_g(objective):
    G, D = _tiny_gan()
    real, z = torch.randn(16, 2), torch.randn(16, 2)
    fake = G(z).detach()
    objective.discriminator_loss(D, real, fake).backward()
    for p in D.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    for p in G.parameters():
        assert p.grad is None
    assert fake.grad is None and not fake.requires_grad


@pytest.mark.parametrize("objective", _objectives(), ids=repr)
def test_generator_loss_reaches_the_fake_tensor_and_g(objective):
    G, D = _tiny_gan()
    real = torch.randn(16, 2)
    fake_leaf = torch.randn(16, 2, requires_grad=True)
    objective.generator_loss(D, fake_leaf, real).backward()
    assert fake_leaf.grad is not None and fake_leaf.grad.abs().sum() > 0

    D.zero_grad(set_to_none=True)
    fake = G(torch.randn(16, 2))
    objective.generator_loss(D, fake, real).backward()
    for p in G.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert sum(p.grad.abs().sum() for p in G.parameters()) > 0


@pytest.mark.parametrize("objective", _objectives(), ids=repr)
def test_frozen_d_still_passes_gradients_to_g(objective):
    # The trainer's pattern: D.requires_grad_(False) during the G step saves D's weight gradients,
    # yet the gradient must still flow through D's input to G.
    G, D = _tiny_gan()
    D.requires_grad_(False)
    loss = objective.generator_loss(D, G(torch.randn(16, 2)), torch.randn(16, 2))
    loss.backward()
    assert all(p.grad is None for p in D.parameters())
    assert sum(p.grad.abs().sum() for p in G.parameters()) > 0


# ----- shapes, devices, dtypes ---------------------------------------------------------------

def _image_d() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1))


@pytest.mark.parametrize("objective", _objectives(), ids=repr)
def test_image_shaped_batches_work_with_a_flattening_d(objective):
    D = _image_d()
    real = torch.randn(8, 3, 8, 8)
    fake = torch.randn(8, 3, 8, 8, requires_grad=True)
    d_loss = objective.discriminator_loss(D, real, fake.detach())
    g_loss = objective.generator_loss(D, fake, real)
    assert d_loss.shape == () and g_loss.shape == ()
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    g_loss.backward()
    assert fake.grad.shape == (8, 3, 8, 8)


def test_image_mixup_mixes_each_pixel_with_the_samples_lambda():
    objective = MixupGAN(alpha=0.2, generator=_gen(1))
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    mixed, lam = objective.mix(real, fake)
    assert mixed.shape == (4, 3, 8, 8) and lam.shape == (4,)
    expected = lam.view(4, 1, 1, 1) * real + (1 - lam.view(4, 1, 1, 1)) * fake
    torch.testing.assert_close(mixed, expected)


@pytest.mark.parametrize("objective", _objectives(), ids=repr)
def test_float64_batches_give_a_float64_loss(objective):
    _, D = _tiny_gan()
    D = D.double()
    real, fake = torch.randn(8, 2, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    d_loss = objective.discriminator_loss(D, real, fake)
    g_loss = objective.generator_loss(D, fake, real)
    assert d_loss.dtype == torch.float64 and g_loss.dtype == torch.float64
    assert d_loss.device == real.device


def test_mixup_float64_mix_keeps_dtype():
    mixed, lam = MixupGAN(alpha=0.2, generator=_gen()).mix(torch.ones(4, 2, dtype=torch.float64), torch.zeros(4, 2, dtype=torch.float64))
    assert mixed.dtype == torch.float64 and lam.dtype == torch.float64


@pytest.mark.parametrize("objective", _objectives(), ids=repr)
def test_d_with_two_outputs_is_refused(objective):
    D = nn.Linear(2, 2)
    with pytest.raises(ObjectiveError, match=r"one logit per sample"):
        objective.discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2))
    with pytest.raises(ObjectiveError, match=r"one logit per sample"):
        objective.generator_loss(D, torch.randn(8, 2), torch.randn(8, 2))


@pytest.mark.parametrize("objective", _objectives(), ids=repr)
def test_mismatched_real_and_fake_shapes_are_refused(objective):
    D = nn.Sequential(nn.Flatten(), nn.LazyLinear(1))
    with pytest.raises(ObjectiveError, match="shape"):
        objective.discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 3))


def test_real_fake_mixup_needs_equal_batch_sizes():
    with pytest.raises(ObjectiveError, match="batch"):
        MixupGAN(alpha=0.2).discriminator_loss(nn.Linear(2, 1), torch.randn(8, 2), torch.randn(6, 2))


def test_mismatched_dtypes_are_refused():
    with pytest.raises(ObjectiveError, match="dtype"):
        StandardGAN().discriminator_loss(nn.Linear(2, 1), torch.randn(8, 2), torch.randn(8, 2, dtype=torch.float64))


# ----- option errors --------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0, 0.0, -0.2, float("nan"), float("inf"), -float("inf"), "0.2", None])
def test_bad_alpha_is_refused(alpha):
    with pytest.raises(ObjectiveError, match="alpha"):
        MixupGAN(alpha=alpha)


def test_alpha_zero_is_allowed_only_with_uniform_lambda():
    assert MixupGAN(alpha=0, lambda_distribution="uniform").alpha == 0.0
    with pytest.raises(ObjectiveError, match="alpha"):
        MixupGAN(alpha=1.5, lambda_distribution="uniform")


@pytest.mark.parametrize(
    "options, word",
    [
        ({"lambda_distribution": "gamma"}, "gamma"),
        ({"pairing": "random"}, "random"),
        ({"generator_loss": "wasserstein"}, "wasserstein"),
    ],
)
def test_bad_mixup_options_are_refused(options, word):
    with pytest.raises(ObjectiveError, match=word):
        MixupGAN(alpha=0.2, **options)


def test_standard_gan_refuses_the_mixed_generator_loss():
    with pytest.raises(ObjectiveError, match="mixed"):
        StandardGAN(generator_loss="mixed")


def test_get_objective_unknown_name_lists_the_choices():
    with pytest.raises(ObjectiveError) as err:
        get_objective("mixup-gan")
    for name in OBJECTIVES:
        assert name in str(err.value)


def test_get_objective_builds_with_options_and_refuses_unknown_ones():
    objective = get_objective("mixup", alpha=0.4, per_sample=False)
    assert isinstance(objective, MixupGAN) and objective.alpha == 0.4 and not objective.per_sample
    assert isinstance(get_objective("erm"), StandardGAN)
    with pytest.raises(ObjectiveError, match="beta"):
        get_objective("erm", beta=1.0)


# ----- the authors' shuffled pairing -------------------------------------------------------------

def _tagged_batches(b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and fake batches of 2b rows each whose mixtures can be decoded.

    Features: [is_real, id in the first half, id in the second half]. The first chunk (rows :b of
    real and of fake) has ids 1..2b in feature 1 (reals 1..b, fakes b+1..2b) and 0 in feature 2;
    the second chunk likewise in feature 2. So x̃ = λ·d1 + (1−λ)·d2 has feature 1 = λ·id(d1) and
    feature 2 = (1−λ)·id(d2).
    """
    ids = torch.arange(1, b + 1, dtype=torch.float64)
    zeros, ones = torch.zeros(b, dtype=torch.float64), torch.ones(b, dtype=torch.float64)
    real = torch.cat([torch.stack([ones, ids, zeros], 1), torch.stack([ones, zeros, ids], 1)])
    fake = torch.cat([torch.stack([zeros, ids + b, zeros], 1), torch.stack([zeros, zeros, ids + b], 1)])
    return real, fake


def test_shuffled_pairing_mixes_two_shuffled_real_fake_batches(monkeypatch):
    b, alpha = 64, 0.5
    objective = MixupGAN(alpha=alpha, lambda_distribution="uniform", pairing="shuffled", generator=_gen(21))
    assert objective.batches_per_step == 2
    drawn: list[torch.Tensor] = []
    original = objective.sample_lambda

    def recording(n, device, dtype):
        lam = original(n, device, dtype)
        drawn.append(lam)
        return lam

    monkeypatch.setattr(objective, "sample_lambda", recording)
    real, fake = _tagged_batches(b)
    mixed, target = objective.mix(real, fake)
    assert mixed.shape == (2 * b, 3) and target.shape == (2 * b,)
    (lam,) = drawn
    assert lam.shape == (2 * b,)
    assert lam.min() >= 0 and lam.max() <= alpha and lam.unique().numel() == 2 * b  # per sample, U(0, α)

    id1 = (mixed[:, 1] / lam).round()
    id2 = (mixed[:, 2] / (1 - lam)).round()
    torch.testing.assert_close(mixed[:, 1], lam * id1)
    torch.testing.assert_close(mixed[:, 2], (1 - lam) * id2)
    # Each of the two shuffled batches is used whole, each sample once.
    assert sorted(id1.long().tolist()) == list(range(1, 2 * b + 1))
    assert sorted(id2.long().tolist()) == list(range(1, 2 * b + 1))
    # Labels mix like the samples: λ·l1 + (1−λ)·l2 with l = 1 for real, 0 for fake.
    l1, l2 = (id1 <= b).double(), (id2 <= b).double()
    torch.testing.assert_close(target, lam * l1 + (1 - lam) * l2)
    torch.testing.assert_close(target, mixed[:, 0])  # feature 0 (is_real) mixes exactly like the label
    # All three sorts of pair occur.
    real_real = int((l1 * l2).sum())
    fake_fake = int(((1 - l1) * (1 - l2)).sum())
    real_fake = 2 * b - real_real - fake_fake
    assert real_real > 0 and fake_fake > 0 and real_fake > 0
    assert 0.5 * b < real_fake < 1.5 * b  # about half the pairs mix a real with a fake


def test_shuffled_pairing_discriminator_loss_uses_the_mixed_labels(linear_d, monkeypatch):
    objective = MixupGAN(alpha=0.5, lambda_distribution="uniform", pairing="shuffled", generator=_gen(3))
    twin = MixupGAN(alpha=0.5, lambda_distribution="uniform", pairing="shuffled", generator=_gen(3))
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    D = linear_d(W, B0)
    loss = objective.discriminator_loss(D, real, fake)
    mixed, target = twin.mix(real, fake)
    expected = F.binary_cross_entropy_with_logits(D(mixed).squeeze(1), target)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(objective.last_stats.lam_mean, target.mean())


def test_shuffled_pairing_needs_even_batches():
    objective = MixupGAN(alpha=0.5, lambda_distribution="uniform", pairing="shuffled")
    with pytest.raises(ObjectiveError, match="even"):
        objective.mix(torch.randn(7, 2), torch.randn(7, 2))


def test_shuffled_pairing_with_alpha_zero_is_a_shuffled_unmixed_batch():
    b = 32
    objective = MixupGAN(alpha=0, lambda_distribution="uniform", pairing="shuffled", generator=_gen(8))
    assert objective.batches_per_step == 1
    real = torch.stack([torch.ones(b), torch.arange(b, dtype=torch.float32)], 1)
    fake = torch.stack([torch.zeros(b), -1 - torch.arange(b, dtype=torch.float32)], 1)
    mixed, target = objective.mix(real, fake)
    assert mixed.shape == (2 * b, 2)
    data = torch.cat([real, fake])
    # A permutation of the unmixed batch: the same rows, shuffled.
    order = mixed[:, 1].argsort()
    torch.testing.assert_close(mixed[order], data[data[:, 1].argsort()], rtol=0, atol=0)
    assert not torch.equal(mixed, data)
    # Labels 1 for real rows and 0 for fake ones, exactly.
    torch.testing.assert_close(target, mixed[:, 0], rtol=0, atol=0)
    assert set(target.tolist()) == {0.0, 1.0}


def test_shuffled_alpha_zero_loss_is_the_mean_of_the_standard_terms(linear_d):
    # The authors' ERM branch: BCE over the shuffled 2B batch = half StandardGAN's sum of means.
    D = linear_d(W, B0)
    objective = MixupGAN(alpha=0, lambda_distribution="uniform", pairing="shuffled", generator=_gen())
    loss = objective.discriminator_loss(D, REAL, FAKE)
    torch.testing.assert_close(loss, 0.5 * StandardGAN().discriminator_loss(D, REAL, FAKE))


# ----- reproducibility and a property ----------------------------------------------------------

@pytest.mark.parametrize(
    "options",
    [{}, {"per_sample": False}, {"lambda_distribution": "uniform", "pairing": "shuffled"}, {"alpha": 1e-3}],
    ids=str,
)
def test_same_generator_seed_gives_the_same_lambda_and_loss(options, beta_sampler):
    options = {"alpha": 0.2, **options}
    _, D = _tiny_gan()
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    a, b, c = (MixupGAN(**options, generator=_gen(s)) for s in (5, 5, 6))
    la, lb, lc = (o.discriminator_loss(D, real, fake) for o in (a, b, c))
    torch.testing.assert_close(la, lb, rtol=0, atol=0)
    torch.testing.assert_close(a.last_stats.lam_mean, b.last_stats.lam_mean, rtol=0, atol=0)
    assert not torch.equal(la, lc)
    # And the stream advances: a second call draws new λ.
    assert not torch.equal(a.discriminator_loss(D, real, fake), la)


def test_generator_keeps_lambda_off_the_global_rng(beta_sampler):
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    before = torch.get_rng_state()
    MixupGAN(alpha=0.2, generator=_gen()).sample_lambda(100, torch.device("cpu"), torch.float32)
    MixupGAN(alpha=1e-3, generator=_gen()).sample_lambda(100, torch.device("cpu"), torch.float32)
    MixupGAN(alpha=0.4, pairing="shuffled", lambda_distribution="uniform", generator=_gen()).mix(real, fake)
    assert torch.equal(torch.get_rng_state(), before)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    alpha=st.floats(min_value=0.01, max_value=5.0, exclude_min=True, exclude_max=True),
    batch=st.integers(min_value=1, max_value=17),
    shape=st.sampled_from([(2,), (5,), (3, 4, 4), (1, 2, 3)]),
    per_sample=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**31 - 1),
)
def test_mixup_discriminator_loss_is_a_finite_nonnegative_scalar(alpha, batch, shape, per_sample, seed):
    g = _gen(seed)
    features = math.prod(shape)
    D = nn.Sequential(nn.Flatten(), nn.Linear(features, 1))
    real = torch.randn(batch, *shape, generator=g)
    fake = 3 * torch.randn(batch, *shape, generator=g)
    loss = MixupGAN(alpha=alpha, per_sample=per_sample, generator=g).discriminator_loss(D, real, fake)
    assert loss.shape == ()
    assert torch.isfinite(loss)
    assert loss.item() >= 0


# ----- what the trainer reads: the declared protocol ------------------------------------------------

def _every_training_objective():
    from gan_mixup.regularizers import R1, with_regularizers

    built = [get_objective(name) for name in OBJECTIVES]
    return built + [with_regularizers(MixupGAN(alpha=0.2, generator=_gen()), R1(1.0))]


@pytest.mark.parametrize("objective", _every_training_objective(), ids=lambda o: type(o).__name__)
def test_every_builtin_objective_has_what_the_trainer_reads(objective):
    # The trainer reads exactly these (TrainingObjective), with no getattr fallback.
    declared = set(objectives.TrainingObjective.__annotations__) | {"begin_iteration", "state_dict", "load_state_dict"}
    assert declared == {"batches_per_step", "last_stats", "begin_iteration", "state_dict", "load_state_dict"}
    assert all(hasattr(objectives.TrainingObjective, method) for method in ("state_dict", "load_state_dict"))
    assert objective.state_dict() == {} and objective.load_state_dict({}) is None  # stateless: nothing in a checkpoint
    assert isinstance(objective.batches_per_step, int) and objective.batches_per_step >= 1
    assert objective.last_stats is None or isinstance(objective.last_stats, objectives.StepStats)
    assert objective.begin_iteration(3, 10) is None
    assert isinstance(objective, objectives.Objective)


@pytest.mark.parametrize("name", list(OBJECTIVES))
@pytest.mark.parametrize("separate", [None, False, True])
def test_separate_forwards_is_a_constructor_option_of_every_objective(name, separate):
    assert get_objective(name, separate_forwards=separate).separate_forwards is separate


PER_SAMPLE_CASES = [("erm", form, None) for form in ("non-saturating", "saturating", "minimax")] + \
    [("mixup", form, pairing) for form in ("non-saturating", "saturating", "minimax", "mixed")
     for pairing in ("real-fake", "shuffled")] + [("hinge", None, None), ("lsgan", None, None)]


@pytest.mark.parametrize("name,form,pairing", PER_SAMPLE_CASES)
def test_stacked_losses_are_each_members_own_losses(name, form, pairing):
    # The lockstep trainer evaluates N runs' losses at once from the same terms (stacked_losses); each
    # member's must be its own discriminator_loss / generator_loss, with its own λ draws and stats.
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    real, fake = torch.randn(2, 16, 2), torch.randn(2, 16, 2)

    def make(seed):
        if name == "erm":
            return StandardGAN(generator_loss=form)
        if name == "mixup":
            return MixupGAN(alpha=0.4, generator_loss=form, pairing=pairing, generator=_gen(seed))
        return get_objective(name)

    alone, members = [make(5), make(6)], [make(5), make(6)]
    for generator in (False, True):
        stacked = members[0].stacked_losses(D, members, real, fake, generator=generator)
        assert stacked.shape == (2,)
        for k, objective in enumerate(alone):
            own = (objective.generator_loss(D, fake[k], real[k]) if generator
                   else objective.discriminator_loss(D, real[k], fake[k]))
            torch.testing.assert_close(stacked[k], own)
            if not generator:  # the same statistics reach each member's log
                for field in ("lam_mean", "d_real", "d_fake"):
                    mine, theirs = getattr(members[k].last_stats, field), getattr(objective.last_stats, field)
                    assert (mine is None) == (theirs is None)
                    if mine is not None:
                        torch.testing.assert_close(mine, theirs)


def test_a_new_objective_is_one_subclass_and_one_registry_line(monkeypatch, tmp_path):
    # What adding an objective takes: state its terms once; the two losses, the lockstep form, the
    # trainer, the batched sweep and the CLI's list all follow from them.
    import json

    from gan_mixup.objectives import Term, TermObjective, ones_like_batch, real_fake_forwards
    from gan_mixup.training import train
    from gan_mixup.training.batched import batchable, train_batched
    from cli_helpers import run_cli
    from conftest import make_tiny_config

    def absolute(scores, target):
        return (scores - target).abs()

    class AbsoluteGAN(TermObjective):
        """D regresses real to 1 and fake to 0 in absolute error; G pulls D(fake) to 1."""

        name = "absolute"

        def __init__(self, separate_forwards=None):
            self.separate_forwards, self.last_stats = separate_forwards, objectives.StepStats()

        def discriminator_terms(self, real, fake, *, separate, batch_statistics, members=None, real_target=None):
            lead = 0 if members is None else 1
            return real_fake_forwards(Term(real, ones_like_batch(real, lead), 1.0, absolute, "real"),
                                      Term(fake, ones_like_batch(fake, lead, 0.0), 1.0, absolute, "fake"), separate)

        def generator_terms(self, real, fake, *, separate, batch_statistics, members=None):
            return [[Term(fake, ones_like_batch(fake, 0 if members is None else 1), 1.0, absolute, "fake")]]

    monkeypatch.setitem(OBJECTIVES, "absolute", AbsoluteGAN)
    D = nn.Linear(2, 1)
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    expected = (D(real).squeeze(1) - 1).abs().mean() + D(fake).squeeze(1).abs().mean()
    torch.testing.assert_close(get_objective("absolute").discriminator_loss(D, real, fake), expected)
    result = train(make_tiny_config(objective="absolute"), tmp_path / "alone")
    assert result.iteration == 12
    assert batchable(make_tiny_config(objective="absolute")) is None
    train_batched([make_tiny_config(objective="absolute", seed=s) for s in (0, 1)], [tmp_path / "b0", tmp_path / "b1"])
    records = [json.loads(line) for line in (tmp_path / "b1" / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records if r.get("kind") == "train"][-1] == 12
    code, out, _ = run_cli(["objectives"])
    assert code == 0 and "absolute" in out

"""Regularizers: R1, gradient penalty, instance noise, label smoothing, and their composition."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.testing import assert_close

from gan_mixup.objectives import (
    HingeGAN,
    LSGAN,
    MixupGAN,
    ObjectiveError,
    Objective,
    R3GAN,
    StandardGAN,
    WGANGP,
    bce,
    gradient_penalty,
    logits_of,
)
from gan_mixup.regularizers import (
    R1,
    REGULARIZERS,
    BalancedConsistency,
    DiffAugment,
    LatentConsistency,
    GradientPenalty,
    InstanceNoise,
    LabelSmoothing,
    LeCam,
    R2,
    RegularizerError,
    parse_regularizer,
    with_regularizers,
)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_d(seed: int = 0, features: int = 2) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(features, 16), nn.Tanh(), nn.Linear(16, 1))


def batches(n: int = 16, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = seeded(seed)
    return torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g) + 1.0


def objectives(seed: int = 5) -> dict[str, Objective]:
    """Every objective, fresh, with its randomness seeded by ``seed``."""
    return {
        "erm": StandardGAN(),
        "mixup": MixupGAN(0.2, generator=seeded(seed)),
        "wgan-gp": WGANGP(10.0, generator=seeded(seed)),
        "hinge": HingeGAN(),
        "lsgan": LSGAN(),
    }


# ----- the penalties on their own ---------------------------------------------------------------

@pytest.mark.parametrize("weight", [0.0, 1.0, 10.0])
@pytest.mark.parametrize("w", [(3.0, 4.0), (0.6, 0.8), (0.0, 0.5)])
def test_gradient_penalty_on_a_linear_d_is_its_formula(weight, w, linear_d):
    real, fake = batches()
    norm = math.hypot(*w)
    penalty = GradientPenalty(weight, generator=seeded()).penalty(linear_d(list(w), 0.5), real, fake)
    assert_close(penalty, torch.tensor(weight * (norm - 1.0) ** 2))


def test_gradient_penalty_on_images_uses_the_whole_sample_norm():
    # D = w·flatten(x): its gradient is w for every sample, whatever the shape; ‖w‖ = sqrt(12·0.25) = sqrt(3).
    D = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
    with torch.no_grad():
        D[1].weight.fill_(0.5)
    real, fake = torch.randn(4, 3, 2, 2, generator=seeded(1)), torch.randn(4, 3, 2, 2, generator=seeded(2))
    assert_close(GradientPenalty(10.0, generator=seeded()).penalty(D, real, fake), torch.tensor(10.0 * (math.sqrt(3) - 1) ** 2))


def test_gradient_penalty_on_a_curved_d_uses_its_generators_interpolates():
    # D(x) = ½‖x‖² has ∇D(x̂) = x̂, so the penalty is E[(‖x̂‖ − 1)²] with x̂ from the same ε draws.
    D = lambda x: 0.5 * x.pow(2).sum(dim=1)  # noqa: E731
    real, fake = batches()
    eps = torch.rand(len(real), generator=seeded(9))
    x_hat = eps[:, None] * real + (1 - eps[:, None]) * fake
    expected = 2.0 * (x_hat.norm(dim=1) - 1).pow(2).mean()
    assert_close(GradientPenalty(2.0, generator=seeded(9)).penalty(D, real, fake), expected)
    assert_close(gradient_penalty(D, real, fake, seeded(9)), expected / 2.0)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 10.0])
def test_r1_on_a_linear_d_is_half_gamma_times_squared_norm(gamma, linear_d):
    real, fake = batches()
    assert_close(R1(gamma).penalty(linear_d([3.0, 4.0], 0.5), real, fake), torch.tensor(gamma / 2 * 25.0))


def test_r1_is_zero_for_a_constant_d(linear_d):
    real, fake = batches()
    zero_weight = linear_d([0.0, 0.0], 2.0)
    penalty = R1(10.0).penalty(zero_weight, real, fake)
    assert_close(penalty, torch.tensor(0.0))
    penalty.backward()  # and differentiable: a zero gradient, not an error or NaN
    assert torch.equal(zero_weight.weight.grad, torch.zeros(1, 2))
    ignores_input = lambda x: torch.full((len(x),), 3.0)  # noqa: E731
    assert_close(R1(10.0).penalty(ignores_input, real, fake), torch.tensor(0.0))
    assert_close(GradientPenalty(10.0).penalty(ignores_input, real, fake), torch.tensor(10.0))  # (0 − 1)²


def test_r1_on_a_quadratic_d_by_hand():
    # D(x) = ½‖x‖², ∇D(x) = x: R1 = γ/2 · mean ‖x‖² over the real batch only.
    D = lambda x: 0.5 * x.pow(2).sum(dim=1)  # noqa: E731
    real, fake = batches()
    assert_close(R1(4.0).penalty(D, real, fake), 2.0 * real.pow(2).sum(dim=1).mean())


def test_penalties_train_d(linear_d):
    # R1 pushes a linear D's weight towards 0: its gradient is γ·w.
    D = linear_d([3.0, 4.0], 0.0)
    R1(2.0).penalty(D, *batches()).backward()
    assert_close(D.weight.grad, torch.tensor([[6.0, 8.0]]))


# ----- composition ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["erm", "mixup", "wgan-gp", "hinge", "lsgan"])
@pytest.mark.parametrize("spec", ["r1:10", "gp:5", "r1:3+gp:2"])
def test_composition_adds_the_penalty_to_the_d_loss(name, spec):
    D, (real, fake) = small_d(), batches()
    regularizers = [parse_regularizer(s, seeded(11)) for s in spec.split("+")]
    regularized = with_regularizers(objectives()[name], *regularizers)
    plain = objectives()[name]  # same seeds: the same λ / ε draws
    expected_penalty = sum(r.penalty(D, real, fake) for r in [parse_regularizer(s, seeded(11)) for s in spec.split("+")])
    difference = regularized.discriminator_loss(D, real, fake) - plain.discriminator_loss(D, real, fake)
    assert_close(difference, expected_penalty)
    assert_close(sum(regularized.last_penalties.values()), expected_penalty)
    assert set(regularized.last_penalties) == {s.split(":")[0] for s in spec.split("+")}


@pytest.mark.parametrize("name", ["erm", "mixup", "wgan-gp", "hinge", "lsgan"])
def test_penalties_leave_the_generator_loss_alone(name):
    D, (real, fake) = small_d(), batches()
    regularized = with_regularizers(objectives()[name], R1(10.0), GradientPenalty(10.0, generator=seeded()))
    assert_close(regularized.generator_loss(D, fake, real), objectives()[name].generator_loss(D, fake, real), rtol=0, atol=0)


def test_the_wrapper_keeps_the_contract():
    inner = MixupGAN(0.2, pairing="shuffled", generator=seeded())
    objective = with_regularizers(inner, R1(10.0))
    assert objective.name == "mixup+r1"
    assert isinstance(objective, Objective)
    assert objective.batches_per_step == 2
    real, fake = torch.randn(8, 2, generator=seeded(1)), torch.randn(8, 2, generator=seeded(2))
    objective.discriminator_loss(small_d(), real, fake)
    assert objective.last_stats is inner.last_stats and inner.last_stats.lam_mean is not None
    # nested wrapping extends the list; no regularizer is no wrapper
    assert with_regularizers(objective, GradientPenalty()).name == "mixup+r1+gp"
    assert with_regularizers(inner) is inner


def test_the_wrapper_forwards_begin_iteration_and_defaults_batches_per_step():
    class Bare:  # the bare two-method contract, with an annealing hook of its own
        name = "bare"

        def __init__(self):
            self.calls = []

        def begin_iteration(self, iteration, total):
            self.calls.append((iteration, total))

        def discriminator_loss(self, D, real, fake):
            return logits_of(D, real).mean()

        def generator_loss(self, D, fake, real=None):
            return logits_of(D, fake).mean()

    noise = InstanceNoise(0.5, generator=seeded())
    objective = with_regularizers(Bare(), noise, R1(1.0))
    assert objective.batches_per_step == 1 and objective.last_stats is None
    objective.begin_iteration(30, 40)
    assert objective.objective.calls == [(30, 40)]
    assert noise.current_std == pytest.approx(0.125)


@pytest.mark.parametrize("bad", [object(), "r1:10", R1])
def test_a_non_regularizer_is_refused(bad):
    with pytest.raises(RegularizerError):
        with_regularizers(StandardGAN(), bad)


# ----- instance noise -------------------------------------------------------------------------

def test_instance_noise_anneals_from_std_to_zero():
    noise = InstanceNoise(std=0.2)
    assert noise.current_std == 0.2  # before begin_iteration: progress 0
    noise.begin_iteration(0, 100)
    assert noise.current_std == 0.2
    noise.begin_iteration(50, 100)
    assert noise.current_std == pytest.approx(0.1)
    noise.begin_iteration(100, 100)
    assert noise.current_std == 0.0
    x = torch.randn(4, 2)
    assert noise.perturb(x) is x
    constant = InstanceNoise(std=0.2, anneal=False)
    constant.begin_iteration(100, 100)
    assert constant.current_std == 0.2
    with pytest.raises(RegularizerError):
        noise.begin_iteration(1, 0)
    with pytest.raises(RegularizerError):
        noise.begin_iteration(-1, 10)


def test_instance_noise_is_gaussian_with_the_current_std():
    noise = InstanceNoise(std=0.3, generator=seeded())
    noise.begin_iteration(1, 3)  # σ_t = 0.2
    sample = noise.perturb(torch.full((20000, 2), 5.0))
    assert_close(sample.mean(), torch.tensor(5.0), atol=0.01, rtol=0)
    assert_close(sample.std(), torch.tensor(0.2), atol=0.005, rtol=0)


@pytest.mark.parametrize("name", ["erm", "mixup", "wgan-gp", "hinge", "lsgan"])
def test_instance_noise_reaches_d_in_both_losses(name):
    D, (real, fake) = small_d(), batches()
    objective = with_regularizers(objectives()[name], InstanceNoise(0.5, generator=seeded(3)))
    objective.begin_iteration(2, 4)  # σ_t = 0.25
    d_loss = objective.discriminator_loss(D, real, fake)
    g_loss = objective.generator_loss(D, fake, real)
    draws = seeded(3)  # the same noise, drawn in the wrapper's order: real, fake (D), then fake, real (G)
    noisy = [x + 0.25 * torch.randn(x.shape, generator=draws) for x in (real, fake, fake, real)]
    plain = objectives()[name]
    assert_close(d_loss, plain.discriminator_loss(D, noisy[0], noisy[1]))
    assert_close(g_loss, plain.generator_loss(D, noisy[2], noisy[3]))


def test_instance_noise_keeps_the_gradient_to_the_generator():
    D, (_, fake) = small_d(), batches()
    fake = fake.requires_grad_(True)
    loss = with_regularizers(StandardGAN(), InstanceNoise(0.1, generator=seeded())).generator_loss(D, fake)
    (grad,) = torch.autograd.grad(loss, fake)
    assert grad.abs().sum() > 0


def test_regularizers_never_touch_the_global_rng():
    D, (real, fake) = small_d(), batches()
    objective = with_regularizers(
        MixupGAN(0.2, generator=seeded(1)), R1(), GradientPenalty(generator=seeded(2)),
        InstanceNoise(generator=seeded(3)), LabelSmoothing(),
    )
    state = torch.get_rng_state()
    objective.discriminator_loss(D, real, fake)
    objective.generator_loss(D, fake, real)
    assert torch.equal(torch.get_rng_state(), state)


# ----- label smoothing ------------------------------------------------------------------------

def test_label_smoothing_softens_the_erm_real_target():
    D, (real, fake) = small_d(), batches()
    objective = with_regularizers(StandardGAN(), LabelSmoothing(0.9))
    real_logits, fake_logits = logits_of(D, real), logits_of(D, fake)
    # BCE on logits with target y: softplus(l) − y·l; only the real target moved, 1 → 0.9.
    expected = (nn.functional.softplus(real_logits) - 0.9 * real_logits).mean() + nn.functional.softplus(fake_logits).mean()
    assert_close(objective.discriminator_loss(D, real, fake), expected)
    assert_close(objective.last_stats.d_real, torch.sigmoid(real_logits).mean())
    # the shift from the unsmoothed loss is exactly (1 − t)·mean D(real)
    shift = objective.discriminator_loss(D, real, fake) - StandardGAN().discriminator_loss(D, real, fake)
    assert_close(shift, 0.1 * real_logits.mean())


def test_label_smoothing_scales_the_mixup_target():
    D, (real, fake) = small_d(), batches()
    smoothed = with_regularizers(MixupGAN(0.5, generator=seeded(4)), LabelSmoothing(0.8))
    mixed, lam = MixupGAN(0.5, generator=seeded(4)).mix(real, fake)
    assert_close(smoothed.discriminator_loss(D, real, fake), bce(logits_of(D, mixed), 0.8 * lam))
    assert_close(smoothed.last_stats.lam_mean, lam.mean())  # the statistic stays the unsmoothed λ


def test_label_smoothing_scales_the_lsgan_real_target():
    D, (real, fake) = small_d(), batches()
    smoothed = with_regularizers(LSGAN(), LabelSmoothing(0.9))
    expected = 0.5 * (logits_of(D, real) - 0.9).pow(2).mean() + 0.5 * logits_of(D, fake).pow(2).mean()
    assert_close(smoothed.discriminator_loss(D, real, fake), expected)


@pytest.mark.parametrize(
    "make",
    [StandardGAN, lambda: MixupGAN(0.2, generator=seeded(4)),
     lambda: MixupGAN(0.2, pairing="shuffled", generator=seeded(4)), LSGAN],
)
def test_label_smoothing_at_one_is_the_plain_objective(make):
    D, (real, fake) = small_d(), batches()
    smoothed = with_regularizers(make(), LabelSmoothing(1.0))
    assert_close(smoothed.discriminator_loss(D, real, fake), make().discriminator_loss(D, real, fake), rtol=0, atol=0)
    assert_close(smoothed.generator_loss(D, fake, real), make().generator_loss(D, fake, real), rtol=0, atol=0)


@pytest.mark.parametrize("make", [HingeGAN, WGANGP, R3GAN])
def test_label_smoothing_needs_a_real_target(make):
    with pytest.raises(RegularizerError, match="real target") as info:
        with_regularizers(make(), LabelSmoothing(0.9))
    # The message lists every registered objective that has one, read from the classes.
    assert "(erm, mixup, lsgan, manifold-mixup, cutmix)" in str(info.value)


def test_label_smoothing_only_once():
    with pytest.raises(RegularizerError, match="more than once"):
        with_regularizers(StandardGAN(), LabelSmoothing(0.9), LabelSmoothing(0.8))


# ----- parsing --------------------------------------------------------------------------------

def test_registry_names():
    assert REGULARIZERS == {"r1": R1, "gp": GradientPenalty, "instance-noise": InstanceNoise, "label-smoothing": LabelSmoothing,
                            "diffaug": DiffAugment, "bcr": BalancedConsistency, "zcr": LatentConsistency,
                            "r2": R2, "lecam": LeCam}


@pytest.mark.parametrize(
    "spec, cls, attribute, value",
    [
        ("r1:10", R1, "gamma", 10.0),
        ("r1", R1, "gamma", 10.0),
        ("r1:0.5", R1, "gamma", 0.5),
        ("gp:10", GradientPenalty, "weight", 10.0),
        ("gp", GradientPenalty, "weight", 10.0),
        ("instance-noise:0.1", InstanceNoise, "std", 0.1),
        ("instance-noise", InstanceNoise, "std", 0.1),
        ("label-smoothing:0.9", LabelSmoothing, "real_target", 0.9),
        ("label-smoothing", LabelSmoothing, "real_target", 0.9),
        (" r1 : 2e1 ", R1, "gamma", 20.0),
    ],
)
def test_parse_regularizer(spec, cls, attribute, value):
    generator = seeded()
    regularizer = parse_regularizer(spec, generator)
    assert type(regularizer) is cls
    assert getattr(regularizer, attribute) == value
    if hasattr(regularizer, "generator"):
        assert regularizer.generator is generator


@pytest.mark.parametrize(
    "spec",
    ["foo", "", "r3:10", "r1:abc", "r1:", "r1:nan", "r1:inf", "r1:-1", "gp:-0.1", "gp:1:2", "instance-noise:-1",
     "instance-noise:nan", "label-smoothing:0", "label-smoothing:1.5", "label-smoothing:nan", "label-smoothing:x"],
)
def test_bad_specs_raise_one_readable_line(spec):
    with pytest.raises(RegularizerError) as info:
        parse_regularizer(spec)
    message = str(info.value)
    assert "\n" not in message
    assert all(name in message for name in REGULARIZERS)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "make",
    [lambda: R1(-1.0), lambda: R1(float("nan")), lambda: GradientPenalty(float("inf")), lambda: InstanceNoise(-0.1),
     lambda: LabelSmoothing(0.0), lambda: LabelSmoothing(1.01), lambda: R1(True)],
)
def test_bad_values_raise(make):
    with pytest.raises(RegularizerError):
        make()


# ----- properties -----------------------------------------------------------------------------

shapes = st.one_of(
    st.tuples(st.integers(1, 8), st.integers(1, 5)),
    st.tuples(st.integers(1, 6), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6)),
)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["erm", "mixup", "wgan-gp", "hinge", "lsgan"]), shape=shapes, seed=st.integers(0, 2**31 - 1),
       gamma=st.floats(0.0, 100.0), weight=st.floats(0.0, 100.0), std=st.floats(0.0, 2.0), target=st.floats(0.5, 1.0),
       progress=st.floats(0.0, 1.0))
def test_any_regularized_objective_returns_a_finite_scalar(name, shape, seed, gamma, weight, std, target, progress):
    regularizers = [R1(gamma), GradientPenalty(weight, generator=seeded(seed)), InstanceNoise(std, generator=seeded(seed + 1))]
    if name in ("erm", "mixup", "lsgan"):
        regularizers.append(LabelSmoothing(target))
    objective = with_regularizers(objectives(seed)[name], *regularizers)
    objective.begin_iteration(round(progress * 100), 100)
    D = small_d(seed, features=math.prod(shape[1:]))
    data = seeded(seed + 2)
    real, fake = torch.randn(shape, generator=data), torch.randn(shape, generator=data).requires_grad_(True)
    d_loss = objective.discriminator_loss(D, real, fake.detach())
    g_loss = objective.generator_loss(D, fake, real)
    assert d_loss.shape == () and torch.isfinite(d_loss)
    assert g_loss.shape == () and torch.isfinite(g_loss)
    d_loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in D.parameters())


# ----- penalties under torch.no_grad() and torch.inference_mode() -------------------------------

PENALISED = {  # name -> (the objective with its penalty, the same without it)
    "r1": (lambda: with_regularizers(StandardGAN(), R1(10.0)), lambda: StandardGAN()),
    "gp": (lambda: with_regularizers(StandardGAN(), GradientPenalty(10.0, generator=seeded(3))),
           lambda: StandardGAN()),
    "wgan-gp": (lambda: WGANGP(gp_weight=10.0, generator=seeded(3)), lambda: WGANGP(gp_weight=0.0)),
}


@pytest.mark.parametrize("name", sorted(PENALISED))
def test_a_penalty_under_no_grad_has_its_true_value(name):
    # An evaluation loop logs losses under no_grad: the penalty must not silently become zero.
    with_penalty, without = PENALISED[name]
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    real, fake = batches()
    reference = with_penalty().discriminator_loss(D, real, fake).detach()
    with torch.no_grad():
        evaluated = with_penalty().discriminator_loss(D, real, fake)
        unpenalised = without().discriminator_loss(D, real, fake)
    assert_close(evaluated, reference)
    assert (evaluated - unpenalised).abs() > 1e-3  # the penalty is in it


def test_a_penalty_under_inference_mode_is_refused_with_a_reason():
    D = nn.Linear(2, 1)
    real, fake = batches()
    with torch.inference_mode(), pytest.raises(ObjectiveError, match="inference_mode"):
        with_regularizers(StandardGAN(), R1(10.0)).discriminator_loss(D, real, fake)

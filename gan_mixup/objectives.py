"""GAN objectives: each one is two losses on logits, ``discriminator_loss`` and ``generator_loss``.

Any ``nn.Module`` that maps a batch ``(B, ...)`` to one logit per sample (``(B,)`` or ``(B, 1)``)
works as the discriminator. Objectives hold no model and no optimizer; randomness (λ, shuffles)
comes from the ``torch.Generator`` passed at construction, so runs are reproducible.

Example (the three-line drop-in)::

    from gan_mixup import MixupGAN
    objective = MixupGAN(alpha=0.2)
    d_loss = objective.discriminator_loss(D, real, fake.detach())
    g_loss = objective.generator_loss(D, fake, real)
"""
from __future__ import annotations

from gan_mixup.errors import GanMixupError

import math
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

Discriminator = Callable[[Tensor], Tensor]

GENERATOR_LOSSES = ("non-saturating", "saturating", "mixed", "minimax")
LAMBDA_DISTRIBUTIONS = ("beta", "uniform")
LAMBDA_SAMPLINGS = ("per-sample", "per-batch")
PAIRINGS = ("real-fake", "shuffled")


class ObjectiveError(GanMixupError, ValueError):
    """A bad objective option or a discriminator/batch that does not fit the contract."""


@dataclass
class StepStats:
    """Per-step statistics of the last ``discriminator_loss`` call, as detached tensors.

    Kept as tensors (no ``.item()``) so reading them costs nothing in the hot loop.
    ``lam_mean`` is the mean mixing weight (1.0 for ERM: every real sample has target 1).
    ``d_real`` / ``d_fake`` are the mean sigmoid outputs on the unmixed real / fake batch when the
    objective evaluated them, else ``None``.
    """

    lam_mean: Tensor | None = None
    d_real: Tensor | None = None
    d_fake: Tensor | None = None


@runtime_checkable
class Objective(Protocol):
    """The two-method contract every objective follows (all a hand-written training loop needs)."""

    name: str

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor: ...

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor: ...


class TrainingObjective(Objective, Protocol):
    """Everything gan_mixup's trainer reads of an objective: the two losses and these. Every
    built-in objective has them, and so does one wrapped by ``with_regularizers``.

    Attributes:
        batches_per_step: real (and fake) batches of the run's size one ``discriminator_loss``
            consumes (2 for shuffled mixup pairing: pass ``real`` and ``fake`` of twice the size).
        last_stats: the statistics of the last ``discriminator_loss`` call, for the log (``None``
            when a wrapped objective keeps none).

    Whether D sees real and fake in one forward or two is each objective's constructor argument
    ``separate_forwards`` (``None``: two exactly when D has BatchNorm in training mode).
    """

    batches_per_step: int
    last_stats: StepStats | None

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Called at the start of each generator iteration (``total`` of them); regularizers that
        anneal read it, the objectives themselves ignore it."""


class PerSampleObjective(TrainingObjective, Protocol):
    """An objective whose losses are means of per-sample terms on D's logits, stated as D's inputs
    and targets, so that many runs can share one batched D forward (``gan_mixup.training.batched``):
    a loss is ``scale * per_sample_loss(D(x), target).mean()``, equal to the ``*_loss`` method's
    value up to the order of the sums. ``erm`` and ``mixup`` have this form.
    """

    def discriminator_targets(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        """D's batch, its targets and the scale of the D loss (λ drawn as ``discriminator_loss`` draws it)."""

    def generator_targets(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        """D's batch, its targets and the scale of the G loss (negative where G maximises D's loss)."""

    def per_sample_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """The per-sample loss terms (no reduction), same shape as ``logits``."""


def logits_of(D: Discriminator, x: Tensor) -> Tensor:
    """Run ``D`` on ``x`` and return one logit per sample, shape ``(B,)``.

    Raises ``ObjectiveError`` when D returns anything but ``(B,)``, ``(B, 1)`` or ``(B, 1, 1, 1)`` (a
    DCGAN's last convolution), or for an empty batch: a silent broadcast of a wrong shape against
    the targets is the classic bug this guards against.
    """
    batch = x.shape[0]
    if batch == 0:
        raise ObjectiveError("the batch is empty: a loss over no samples is undefined")
    out = D(x)
    if out.shape == (batch,):
        return out
    if out.dim() >= 2 and out.shape[0] == batch and out[0].numel() == 1:  # (B, 1), or (B, 1, 1, 1) from a conv D
        return out.reshape(batch)
    raise ObjectiveError(
        f"the discriminator must return one logit per sample, shape ({batch},), ({batch}, 1) or ({batch}, 1, 1, 1), "
        f"but returned {tuple(out.shape)} for an input of shape {tuple(x.shape)}"
    )


def check_pair(real: Tensor, fake: Tensor) -> None:
    """Real and fake batches must share the sample shape, dtype and device."""
    if real.shape[1:] != fake.shape[1:]:
        raise ObjectiveError(
            f"real and fake samples differ in shape: {tuple(real.shape)} vs {tuple(fake.shape)}"
        )
    if real.device != fake.device or real.dtype != fake.dtype:
        raise ObjectiveError(
            f"real and fake batches must share device and dtype, got {real.device}/{real.dtype} "
            f"and {fake.device}/{fake.dtype}"
        )


def bce(logits: Tensor, target: Tensor | float) -> Tensor:
    """Mean binary cross-entropy on logits; ``target`` may be soft (a λ in [0, 1])."""
    if not isinstance(target, Tensor):
        target = torch.full_like(logits, float(target))
    return F.binary_cross_entropy_with_logits(logits, target)


def real_fake_logits(D: Discriminator, real: Tensor, fake: Tensor, separate: bool | None = None) -> tuple[Tensor, Tensor]:
    """D's outputs on ``real`` and ``fake``, shapes ``(B_real,)`` and ``(B_fake,)``.

    ``separate=False``: one forward over the concatenated batch, cheaper than two and identical for
    any D without batch statistics. ``separate=True``: two forwards, so BatchNorm normalises a pure
    real and a pure fake batch, as the DCGAN paper trains D. ``None`` (the default) picks two
    forwards exactly when D holds a BatchNorm layer in training mode.
    """
    check_pair(real, fake)
    if len(real) == 0 or len(fake) == 0:
        raise ObjectiveError(f"empty batch: {len(real)} real and {len(fake)} fake samples; a loss over no samples is undefined")
    if separate is None:
        separate = has_batch_statistics(D)
    if separate:
        return logits_of(D, real), logits_of(D, fake)
    logits = logits_of(D, torch.cat([real, fake]))
    return logits[: len(real)], logits[len(real) :]


def has_batch_statistics(D: Discriminator) -> bool:
    """Whether D normalises with statistics of its input batch (a BatchNorm layer in training mode)."""
    modules = D.modules() if isinstance(D, torch.nn.Module) else ()
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training for m in modules)


def probability_stats(real_logits: Tensor, fake_logits: Tensor) -> StepStats:
    """Mean sigmoid(D) on the real and the fake batch, detached."""
    return StepStats(d_real=torch.sigmoid(real_logits.detach()).mean(), d_fake=torch.sigmoid(fake_logits.detach()).mean())


class StandardGAN:
    """The standard (ERM) GAN of Goodfellow et al. 2014, on logits.

    D loss: ``BCE(D(real), 1) + BCE(D(fake), 0)``, each a mean over its batch (B samples each).
    G loss: ``non-saturating`` (default) ``BCE(D(fake), 1)``; ``saturating`` ``-BCE(D(fake), 0)``
    (the minimax form); ``minimax`` ``-BCE`` on the unmixed real ∪ fake batch as the mixup authors'
    code does (needs ``real``; the same gradient as ``saturating``, half the scale).

    Example:
        >>> objective = StandardGAN()
        >>> D = torch.nn.Linear(2, 1)
        >>> objective.discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "erm"
    batches_per_step = 1  # real/fake batches the D loss consumes per step
    real_target = 1.0  # D's target for real samples

    def __init__(self, generator_loss: str = "non-saturating", separate_forwards: bool | None = None) -> None:
        if generator_loss not in ("non-saturating", "saturating", "minimax"):
            raise ObjectiveError(
                f"StandardGAN generator_loss must be non-saturating, saturating or minimax, got {generator_loss!r}"
            )
        self.generator_loss_kind = generator_loss
        self.separate_forwards = separate_forwards  # see real_fake_logits
        self.last_stats = StepStats()

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Nothing anneals in this objective."""

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor, real_target: float | None = None) -> Tensor:
        """``real_target`` replaces the target 1 for this call (how label smoothing reaches this loss)."""
        real_logits, fake_logits = real_fake_logits(D, real, fake, self.separate_forwards)
        self.last_stats = probability_stats(real_logits, fake_logits)
        return bce(real_logits, self.real_target if real_target is None else real_target) + bce(fake_logits, 0.0)

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return generator_loss_on(D, fake, real, self.generator_loss_kind, self.separate_forwards)

    def discriminator_targets(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        """real ∪ fake with targets 1 and 0; the loss is a sum of two means over B samples each,
        which is twice the mean over the union."""
        ones = torch.ones(len(real), device=real.device)
        zeros = torch.zeros(len(fake), device=fake.device)
        return torch.cat([real, fake]), torch.cat([ones, zeros]), 2.0

    def generator_targets(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        return unmixed_generator_targets(real, fake, self.generator_loss_kind)

    def per_sample_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none")

    def __repr__(self) -> str:
        return f"StandardGAN(generator_loss={self.generator_loss_kind!r})"


def unmixed_generator_targets(real: Tensor, fake: Tensor, kind: str) -> tuple[Tensor, Tensor, float]:
    """``generator_loss_on``'s losses as D's batch, targets and scale (``PerSampleObjective``)."""
    if kind == "non-saturating":
        return fake, torch.ones(len(fake), device=fake.device), 1.0
    if kind == "saturating":
        return fake, torch.zeros(len(fake), device=fake.device), -1.0
    if kind == "minimax":  # the mean BCE over real ∪ fake
        targets = torch.cat([torch.ones(len(real), device=real.device), torch.zeros(len(fake), device=fake.device)])
        return torch.cat([real, fake]), targets, -1.0
    raise ObjectiveError(f"{kind!r} is no unmixed generator loss; choose non-saturating, saturating or minimax")


def generator_loss_on(D: Discriminator, fake: Tensor, real: Tensor | None, kind: str,
                      separate: bool | None = None) -> Tensor:
    """The unmixed generator losses shared by StandardGAN and MixupGAN (``separate``: see ``real_fake_logits``)."""
    if kind == "non-saturating":
        return bce(logits_of(D, fake), 1.0)
    if kind == "saturating":
        return -bce(logits_of(D, fake), 0.0)
    if kind == "minimax":
        if real is None:
            raise ObjectiveError("the minimax generator loss needs the real batch: generator_loss(D, fake, real)")
        if real.shape[0] != fake.shape[0]:
            raise ObjectiveError(f"the minimax generator loss pairs real and fake batches: equal sizes needed, got {real.shape[0]} and {fake.shape[0]}")
        real_logits, fake_logits = real_fake_logits(D, real, fake, separate)
        return -(bce(real_logits, 1.0) + bce(fake_logits, 0.0)) / 2  # the mean BCE over real ∪ fake
    raise ObjectiveError(f"unknown generator loss {kind!r}; choose one of: {', '.join(GENERATOR_LOSSES)}")


class MixupGAN:
    """The mixup GAN of Zhang et al. (ICLR 2018, "Stabilization of GANs", Figure 5).

    D sees ``x̃ = λ·real + (1−λ)·fake`` with target λ:  ``D loss = BCE(D(x̃), λ)``, λ ~ Beta(α, α).

    Args:
        alpha: the Beta(α, α) (or Uniform(0, α)) parameter; α > 0. As α → 0, Beta(α, α) puts its
            mass on {0, 1}, and the loss tends to the mean of the two ERM terms (half of
            ``StandardGAN``'s sum, so Adam takes the same steps).
        per_sample: one λ per sample (default) or one per batch.
        generator_loss: ``non-saturating`` (default): ``BCE(D(fake), 1)``; ``saturating``:
            ``-BCE(D(fake), 0)``; ``mixed``: G maximises D's mixup loss, ``-BCE(D(x̃), λ)`` (the
            paper's max_g min_d written literally); ``minimax``: ``-BCE`` on an unmixed real ∪ fake
            batch (the authors' code, ``gan/example_gan.py``).
        lambda_distribution: ``beta`` (the paper's text, default) or ``uniform``: λ ~ U(0, α)
            (the authors' code; α = 0 is then allowed and means no mixing at all).
        pairing: ``real-fake`` (the paper's text, default) mixes real_i with fake_i.
            ``shuffled`` (the authors' code) concatenates real and fake with labels 1/0, shuffles,
            and mixes two such batches, so real–real, fake–fake and real–fake pairs all occur,
            labels mixed the same way. It consumes two real and two fake batches per step (see
            ``batches_per_step``): pass ``real`` and ``fake`` of ``2·B`` samples each.
        generator: the ``torch.Generator`` λ and shuffles are drawn from (on the batches' device).

    Examples:
        >>> objective = MixupGAN(alpha=0.2, generator=torch.Generator().manual_seed(0))
        >>> D = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        >>> real, fake = torch.randn(128, 2), torch.randn(128, 2)
        >>> loss = objective.discriminator_loss(D, real, fake)
        >>> 0.0 < float(objective.last_stats.lam_mean) < 1.0
        True
    """

    name = "mixup"
    real_target = 1.0  # the share of real in x̃ is multiplied by this to give D's target

    def __init__(
        self,
        alpha: float = 0.2,
        per_sample: bool = True,
        generator_loss: str = "non-saturating",
        lambda_distribution: str = "beta",
        pairing: str = "real-fake",
        generator: torch.Generator | None = None,
        separate_forwards: bool | None = None,
    ) -> None:
        if lambda_distribution not in LAMBDA_DISTRIBUTIONS:
            raise ObjectiveError(f"unknown lambda distribution {lambda_distribution!r}; choose beta or uniform")
        if pairing not in PAIRINGS:
            raise ObjectiveError(f"unknown pairing {pairing!r}; choose real-fake or shuffled")
        if generator_loss not in GENERATOR_LOSSES:
            raise ObjectiveError(f"unknown generator loss {generator_loss!r}; choose one of: {', '.join(GENERATOR_LOSSES)}")
        alpha_ok = isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and math.isfinite(alpha) and (
            alpha > 0 or (alpha == 0 and lambda_distribution == "uniform")
        )
        if not alpha_ok:
            raise ObjectiveError(
                f"alpha must be a finite number > 0 (0 is allowed only with the uniform λ distribution), got {alpha!r}"
            )
        if not isinstance(per_sample, bool):
            raise ObjectiveError(f"per_sample must be True or False, got {per_sample!r}")
        if lambda_distribution == "uniform" and alpha > 1:
            raise ObjectiveError(f"with the uniform λ distribution alpha is the upper bound of λ and must be ≤ 1, got {alpha}")
        self.alpha = float(alpha)
        self.per_sample = per_sample
        self.generator_loss_kind = generator_loss
        self.lambda_distribution = lambda_distribution
        self.pairing = pairing
        self.generator = generator
        self.separate_forwards = separate_forwards  # see real_fake_logits and generator_loss
        self.last_stats = StepStats()

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Nothing anneals in this objective."""

    @property
    def batches_per_step(self) -> int:
        """How many real (and fake) batches one D step consumes: 2 for shuffled pairing with α > 0."""
        return 2 if self.pairing == "shuffled" and self.alpha > 0 else 1

    def sample_lambda(self, n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """Draw λ of shape ``(n,)`` (per sample) or one λ repeated ``n`` times (per batch)."""
        count = n if self.per_sample else 1
        if self.lambda_distribution == "uniform":
            lam = self.alpha * torch.rand(count, generator=self.generator, device=device, dtype=dtype)
        else:
            lam = _sample_beta(self.alpha, count, self.generator, device, dtype)
        return lam.expand(n) if count == 1 else lam

    def mix(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """Return the discriminator's batch and its targets: ``(x̃, λ)``.

        ``real-fake``: x̃ = λ·real + (1−λ)·fake, target λ; shapes ``(B, ...)`` and ``(B,)``.
        ``shuffled``: see the class docstring; ``(2B', ...)`` and ``(2B',)`` for inputs of ``B = 2B'``
        (or ``2B`` for α = 0, where the one unmixed shuffled batch is used).
        """
        check_pair(real, fake)
        if self.pairing == "real-fake":
            if real.shape[0] != fake.shape[0]:
                raise ObjectiveError(f"real-fake mixup needs equal batch sizes, got {real.shape[0]} and {fake.shape[0]}")
            lam = self.sample_lambda(real.shape[0], real.device, real.dtype)
            lam_x = lam.view(-1, *([1] * (real.dim() - 1)))
            # torch.lerp(fake, real, λ) = fake + λ·(real − fake) = λ·real + (1−λ)·fake, in one kernel.
            return torch.lerp(fake, real, lam_x), lam
        return self._mix_shuffled(real, fake)

    def _mix_shuffled(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        def one_batch(r: Tensor, f: Tensor) -> tuple[Tensor, Tensor]:
            data = torch.cat([r, f])
            labels = torch.cat([torch.ones(len(r), device=r.device, dtype=r.dtype), torch.zeros(len(f), device=f.device, dtype=f.dtype)])
            perm = torch.randperm(len(data), generator=self.generator, device=data.device)
            return data[perm], labels[perm]

        if self.batches_per_step == 1:  # α = 0: the authors' unmixed ERM batch
            return one_batch(real, fake)
        if real.shape[0] % 2 or fake.shape[0] % 2:
            raise ObjectiveError("shuffled pairing consumes two batches per step: real and fake need an even batch size")
        (r1, r2), (f1, f2) = real.chunk(2), fake.chunk(2)
        d1, l1 = one_batch(r1, f1)
        d2, l2 = one_batch(r2, f2)
        lam = self.sample_lambda(len(d1), d1.device, d1.dtype)
        lam_x = lam.view(-1, *([1] * (d1.dim() - 1)))
        return torch.lerp(d2, d1, lam_x), torch.lerp(l2, l1, lam)

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor, real_target: float | None = None) -> Tensor:
        """``real_target`` t turns the target λ into t·λ for this call (one-sided label smoothing)."""
        mixed, target = self.mix(real, fake)
        logits = logits_of(D, mixed)
        self.last_stats = StepStats(lam_mean=target.detach().mean())
        return bce(logits, target if real_target is None else real_target * target)

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        """With a BatchNorm D and the real batch given, the unmixed losses run D on real ∪ fake and
        use the fake half: D was trained on batches that mix real and fake, and a batch of fakes
        alone would be normalised by statistics D never saw (on the digits, DCGAN's D with that
        mismatch drove G to noise within a few hundred iterations). Without BatchNorm nothing changes."""
        if self.generator_loss_kind in ("non-saturating", "saturating") and real is not None \
                and self.separate_forwards is not True and has_batch_statistics(D):
            check_pair(real, fake)
            fake_logits = logits_of(D, torch.cat([real, fake]))[len(real):]
            return bce(fake_logits, 1.0) if self.generator_loss_kind == "non-saturating" else -bce(fake_logits, 0.0)
        if self.generator_loss_kind != "mixed":
            return generator_loss_on(D, fake, real, self.generator_loss_kind, self.separate_forwards)
        if real is None:
            raise ObjectiveError("the mixed generator loss needs the real batch: generator_loss(D, fake, real)")
        mixed, target = self.mix(real, fake)
        return -bce(logits_of(D, mixed), target)

    def discriminator_targets(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        """x̃ and λ from ``mix``, as ``discriminator_loss`` draws them (``last_stats`` alike)."""
        x, target = self.mix(real, fake)
        self.last_stats = StepStats(lam_mean=target.detach().mean())
        return x, target, 1.0

    def generator_targets(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        """The unmixed losses as ``StandardGAN``'s; ``mixed``: a fresh x̃ and λ, G maximising D's loss."""
        if self.generator_loss_kind != "mixed":
            return unmixed_generator_targets(real, fake, self.generator_loss_kind)
        x, target = self.mix(real, fake)
        return x, target, -1.0

    def per_sample_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none")

    def __repr__(self) -> str:
        return (
            f"MixupGAN(alpha={self.alpha}, per_sample={self.per_sample}, generator_loss={self.generator_loss_kind!r}, "
            f"lambda_distribution={self.lambda_distribution!r}, pairing={self.pairing!r})"
        )


def _draws_float64_on(device: torch.device) -> bool:
    """Whether λ is drawn in float64 on ``device``: on the CPU only (MPS has no float64, a GPU is slow at it)."""
    return device.type == "cpu"


def _sample_beta(alpha: float, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Beta(α, α) samples from ``generator``: λ = X / (X + Y) with X, Y ~ Gamma(α, 1).

    ``torch.distributions.Beta`` takes no generator, so we draw the Gammas ourselves. On the CPU we
    draw in float64: for α ≥ 0.01 torch's own float64 Gamma sampler is exact and fast. Below that
    its samples underflow (at α = 1e-3 a quarter of the λ's land in (0.01, 0.99) instead of 0.4%),
    so we sample log X and log Y with Marsaglia–Tsang and take λ = sigmoid(log X − log Y), which
    never underflows. On any other device (``generator`` lives there too) we draw in float32
    (``_sample_beta_float32``): Apple's MPS has no float64 at all, and on a GPU float64 is slow.
    """
    if not _draws_float64_on(device):
        return _sample_beta_float32(alpha, n, generator, device).to(dtype)
    if alpha >= 0.01:
        concentration = torch.full((2, n), alpha, dtype=torch.float64, device=device)
        x, y = torch._standard_gamma(concentration, generator=generator)
        return (x / (x + y)).to(dtype)
    log_x = _log_gamma_sample(alpha, n, generator, device)
    log_y = _log_gamma_sample(alpha, n, generator, device)
    return torch.sigmoid(log_x - log_y).to(dtype)


def _log_gamma_sample(alpha: float, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """log of Gamma(α, 1) samples, Marsaglia & Tsang (2000), vectorised with rejection in rounds."""
    boost = alpha < 1
    a = alpha + 1.0 if boost else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = torch.empty(n, dtype=torch.float64, device=device)
    todo = torch.arange(n, device=device)
    while todo.numel() > 0:
        m = todo.numel()
        # Draw a few extra candidates per round; acceptance is > 95% for every a ≥ 1.
        k = m + 8
        z = torch.randn(k, generator=generator, device=device, dtype=torch.float64)
        u = torch.rand(k, generator=generator, device=device, dtype=torch.float64)
        v = (1.0 + c * z) ** 3
        ok = (v > 0) & (torch.log(u.clamp_min(1e-300)) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        accepted = torch.log(d * v[ok])[:m]
        take = accepted.numel()
        out[todo[:take]] = accepted
        todo = todo[take:]
    if boost:
        u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
        out = out + torch.log(u.clamp_min(1e-300)) / alpha
    return out


# Marsaglia–Tsang proposals per sample in the float32 sampler. Each is accepted with probability
# above 0.95 (for every shape a ≥ 1), so a sample with none accepted has probability < 0.05**16 ≈ 1.5e-21.
_PROPOSALS = 16


def _sample_beta_float32(alpha: float, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Beta(α, α) samples in float32, λ = sigmoid(log X − log Y), for devices without (fast) float64.

    Log space keeps every α exact to float32 rounding: the Gammas themselves underflow float32 for
    small α (at α = 0.01 four in ten are below its smallest normal), their logs never do. Only
    float32 ops that every torch device has (Apple's MPS included), and no host sync.
    """
    log_x, log_y = _log_gamma_float32(alpha, 2 * n, generator, device).chunk(2)
    return torch.sigmoid(log_x - log_y)


def _log_gamma_float32(alpha: float, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """log of Gamma(α, 1) samples in float32: Marsaglia & Tsang (2000) with ``_PROPOSALS`` at once.

    The float64 sampler's rounds of rejection read how many samples are left, a host sync per round
    on a GPU; here each sample gets all its proposals in one draw and keeps an accepted one. Which
    accepted proposal it keeps depends only on the accept pattern, not on the values, so the kept
    value has exactly the Gamma distribution. (With none accepted it keeps a rejected proposal.)
    """
    boost = alpha < 1  # Gamma(α) = Gamma(α + 1) · U^(1/α): the proposals need a shape ≥ 1
    a = alpha + 1.0 if boost else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    tiny = torch.finfo(torch.float32).tiny  # log(0) guard: float32 rand does return 0
    z = torch.randn(_PROPOSALS, n, generator=generator, device=device, dtype=torch.float32)
    u = torch.rand(_PROPOSALS, n, generator=generator, device=device, dtype=torch.float32)
    v = (1.0 + c * z) ** 3
    log_v = torch.log(v.clamp_min(tiny))
    ok = (v > 0) & (torch.log(u.clamp_min(tiny)) < 0.5 * z * z + d - d * v + d * log_v)
    kept = ok.float().argmax(dim=0, keepdim=True)  # (1, n): an accepted proposal's index (the first, on the CPU and CUDA)
    out = (math.log(d) + log_v).gather(0, kept).squeeze(0)
    if boost:
        u = torch.rand(n, generator=generator, device=device, dtype=torch.float32)
        out = out + torch.log(u.clamp_min(tiny)) / alpha
    return out


# ----- objectives beyond the paper: same contract, other losses --------------------------------


class WGANGP:
    """WGAN-GP (Gulrajani et al. 2017): a Wasserstein critic with a gradient penalty on interpolates.

    D (the critic; its output is a score, not a logit)::

        D loss = E[D(fake)] − E[D(real)] + λ_gp · E[(‖∇D(x̂)‖₂ − 1)²],   x̂ = ε·real + (1−ε)·fake

    with ε ~ U(0, 1) per sample and the norm over all of a sample's dimensions.
    G: ``G loss = −E[D(fake)]``.

    Shapes: ``real`` and ``fake`` are ``(B, ...)`` with equal B; D maps them to ``(B,)`` or ``(B, 1)``.
    The paper trains with 5 critic steps per G step and Adam(lr=1e-4, betas=(0, 0.9)), and keeps batch
    normalisation out of the critic: the penalty is per sample, batch statistics break it.

    Args:
        gp_weight: λ_gp ≥ 0 (the paper's 10; 0 is a WGAN without any Lipschitz constraint).
        generator: the ``torch.Generator`` ε is drawn from (on the batches' device).

    Example:
        >>> objective = WGANGP(gp_weight=10.0, generator=torch.Generator().manual_seed(0))
        >>> D = torch.nn.Linear(2, 1)
        >>> objective.discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "wgan-gp"
    batches_per_step = 1

    def __init__(self, gp_weight: float = 10.0, generator: torch.Generator | None = None,
                 separate_forwards: bool | None = None) -> None:
        if isinstance(gp_weight, bool) or not isinstance(gp_weight, (int, float)) or not (math.isfinite(gp_weight) and gp_weight >= 0):
            raise ObjectiveError(f"WGANGP gp_weight must be a finite number >= 0, got {gp_weight!r}")
        self.gp_weight = float(gp_weight)
        self.generator = generator
        self.separate_forwards = separate_forwards  # see real_fake_logits
        self.last_stats = StepStats()

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Nothing anneals in this objective."""

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        real_scores, fake_scores = real_fake_logits(D, real, fake, self.separate_forwards)
        critic = fake_scores.mean() - real_scores.mean()
        # StepStats' d_real / d_fake are sigmoid probabilities; a critic's score is no logit, so they stay None.
        self.last_stats = StepStats()
        if self.gp_weight == 0:
            return critic
        return critic + self.gp_weight * gradient_penalty(D, real, fake, self.generator)

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return -logits_of(D, fake).mean()

    def __repr__(self) -> str:
        return f"WGANGP(gp_weight={self.gp_weight})"


class HingeGAN:
    """The hinge GAN loss (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, SN-GAN).

    D: ``E[max(0, 1 − D(real))] + E[max(0, 1 + D(fake))]``, each a mean over its batch.
    G: ``−E[D(fake)]``.

    D's output is a score whose sign is its real/fake decision; ``last_stats`` reports the mean of
    its sigmoid as ``d_real`` / ``d_fake``, as the BCE objectives do. Usually paired with spectral
    normalisation (``models.mlp(..., spectral_norm=True)``).

    Example:
        >>> D = torch.nn.Linear(2, 1)
        >>> HingeGAN().discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "hinge"
    batches_per_step = 1

    def __init__(self, separate_forwards: bool | None = None) -> None:
        self.separate_forwards = separate_forwards  # see real_fake_logits
        self.last_stats = StepStats()

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Nothing anneals in this objective."""

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        real_scores, fake_scores = real_fake_logits(D, real, fake, self.separate_forwards)
        self.last_stats = probability_stats(real_scores, fake_scores)
        return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return -logits_of(D, fake).mean()

    def __repr__(self) -> str:
        return "HingeGAN()"


class LSGAN:
    """Least-squares GAN (Mao et al. 2017): D regresses real to b and fake to a, G pulls D(fake) to c.

    D: ``½·E[(D(real) − b)²] + ½·E[(D(fake) − a)²]``;  G: ``½·E[(D(fake) − c)²]``.

    The defaults are the paper's 0-1 coding (a = 0, b = c = 1); its other recommendation is
    a = −1, b = 1, c = 0. D's output is a regression score, not a logit, so ``last_stats`` carries no
    sigmoid probabilities.

    Args:
        real_target: b, the target of real samples. One-sided label smoothing lowers it
            (``regularizers.LabelSmoothing`` passes ``real_target=`` to ``discriminator_loss``).
        fake_target: a, the target of fake samples.
        generator_target: c, the value G wants D to output on its samples.

    Example:
        >>> D = torch.nn.Linear(2, 1)
        >>> LSGAN().discriminator_loss(D, torch.randn(8, 2), torch.randn(8, 2)).shape
        torch.Size([])
    """

    name = "lsgan"
    batches_per_step = 1

    def __init__(self, real_target: float = 1.0, fake_target: float = 0.0, generator_target: float = 1.0,
                 separate_forwards: bool | None = None) -> None:
        targets = {"real_target": real_target, "fake_target": fake_target, "generator_target": generator_target}
        for key, value in targets.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ObjectiveError(f"LSGAN {key} must be a finite number, got {value!r}")
        if real_target == fake_target:
            raise ObjectiveError(f"LSGAN real_target and fake_target must differ, both are {real_target}")
        self.real_target = float(real_target)
        self.fake_target = float(fake_target)
        self.generator_target = float(generator_target)
        self.separate_forwards = separate_forwards  # see real_fake_logits
        self.last_stats = StepStats()

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Nothing anneals in this objective."""

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor, real_target: float | None = None) -> Tensor:
        """``real_target`` overrides b for this call only (how label smoothing reaches this loss)."""
        b = self.real_target if real_target is None else real_target
        real_scores, fake_scores = real_fake_logits(D, real, fake, self.separate_forwards)
        self.last_stats = StepStats()
        return 0.5 * (real_scores - b).pow(2).mean() + 0.5 * (fake_scores - self.fake_target).pow(2).mean()

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        return 0.5 * (logits_of(D, fake) - self.generator_target).pow(2).mean()

    def __repr__(self) -> str:
        return f"LSGAN(real_target={self.real_target}, fake_target={self.fake_target}, generator_target={self.generator_target})"


def input_gradient(D: Discriminator, x: Tensor) -> Tensor:
    """``∇ₓ Σ D(x)``: each sample's gradient of its own logit, shape ``(B, ...)`` like ``x``.

    Built with ``create_graph=True`` so a penalty on it trains D. Samples are independent (D without
    batch statistics), so the gradient of the sum is the per-sample gradient. A D whose output does
    not depend on ``x`` has gradient zero.

    Gradients are enabled locally, so a penalty computed under ``torch.no_grad()`` (an evaluation
    loop logging losses) has its true value, not zero; under ``torch.inference_mode()`` no gradient
    can be taken at all, which raises ``ObjectiveError``.
    """
    if torch.is_inference_mode_enabled():
        raise ObjectiveError("a gradient penalty (R1, WGAN-GP, gp) needs D's input gradient, which "
                             "torch.inference_mode() forbids: compute the loss under torch.no_grad() instead")
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = logits_of(D, x)
        if not out.requires_grad:
            return torch.zeros_like(x)
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True, allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad


def gradient_penalty(D: Discriminator, real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """WGAN-GP's penalty without its weight: ``E[(‖∇D(x̂)‖₂ − 1)²]``, ``x̂ = ε·real + (1−ε)·fake``.

    ε ~ U(0, 1), one per sample, drawn from ``generator``; the norm runs over all of a sample's dims.
    """
    check_pair(real, fake)
    if real.shape[0] != fake.shape[0]:
        raise ObjectiveError(f"the gradient penalty pairs real and fake samples: equal batch sizes needed, got {real.shape[0]} and {fake.shape[0]}")
    eps = torch.rand(real.shape[0], generator=generator, device=real.device, dtype=real.dtype)
    x_hat = torch.lerp(fake, real, eps.view(-1, *([1] * (real.dim() - 1))))
    norms = input_gradient(D, x_hat).flatten(1).norm(dim=1)  # (B,)
    return (norms - 1.0).pow(2).mean()


# name -> constructor; `get_objective` passes only the keyword options a constructor takes.
OBJECTIVES: dict[str, Callable[..., Objective]] = {
    "erm": StandardGAN,
    "mixup": MixupGAN,
    "wgan-gp": WGANGP,
    "hinge": HingeGAN,
    "lsgan": LSGAN,
}


def get_objective(name: str, **options: object) -> Objective:
    """Build an objective by its registry name, e.g. ``get_objective("mixup", alpha=0.2)``.

    Raises ``ObjectiveError`` for an unknown name or an option the objective does not take.
    """
    if name not in OBJECTIVES:
        raise ObjectiveError(f"unknown objective {name!r}; choose one of: {', '.join(OBJECTIVES)}")
    try:
        return OBJECTIVES[name](**options)
    except TypeError as err:
        raise ObjectiveError(f"objective {name!r} does not take these options {sorted(options)}: {err}") from None

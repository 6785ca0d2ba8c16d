"""The objective contract and what every objective computes with.

The contract: ``Objective`` (the two losses a hand-written loop calls), ``TrainingObjective`` (what
gan_mixup's trainer reads besides) and ``PerSampleObjective`` (losses stated as D's inputs and
targets, for batched runs), the ``StepStats`` they report and the ``ObjectiveError`` they raise.
The helpers: D's logits with their shape checked, real and fake in one forward or two, BCE on
logits, and D's input gradient with the WGAN-GP penalty on it (shared with the regularizers).
The option names (``GENERATOR_LOSSES``, ``LAMBDA_*``, ``PAIRINGS``) live here so that the config
and the command line can list them without importing an objective.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_mixup.errors import GanMixupError

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

    def stacked_discriminator_targets(self, members: Sequence[Any], real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        """``discriminator_targets`` of N runs of one setting at once: ``real`` and ``fake`` are their
        batches stacked ``(N, B, ...)``, and each of ``members`` (their objectives) draws from its own
        generator what its ``discriminator_targets`` would; returns ``(N, B', ...)``, ``(N, B')``."""

    def stacked_generator_targets(self, members: Sequence[Any], real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, float]:
        """``generator_targets`` of N runs at once, as ``stacked_discriminator_targets``."""

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
    check_floating(x)
    out = D(x)
    if out.shape == (batch,):
        return out
    if out.dim() >= 2 and out.shape[0] == batch and out[0].numel() == 1:  # (B, 1), or (B, 1, 1, 1) from a conv D
        return out.reshape(batch)
    raise ObjectiveError(
        f"the discriminator must return one logit per sample, shape ({batch},), ({batch}, 1) or ({batch}, 1, 1, 1), "
        f"but returned {tuple(out.shape)} for an input of shape {tuple(x.shape)}"
    )


def check_floating(*batches: Tensor) -> None:
    """D's inputs must be floating point: a loss needs gradients through them, and mixing them
    (λ·real + (1−λ)·fake) has no meaning in integers.

    Example:
        >>> check_floating(torch.zeros(2, 2, dtype=torch.int64))  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ObjectiveError: the discriminator's inputs must be floating point tensors, got torch.int64 ...
    """
    for x in batches:
        if not (isinstance(x, Tensor) and x.is_floating_point()):
            kind = x.dtype if isinstance(x, Tensor) else type(x).__name__
            raise ObjectiveError(f"the discriminator's inputs must be floating point tensors, got {kind}: convert "
                                 "the batches with .float() (images as uint8: scale them to [-1, 1] first)")


def check_pair(real: Tensor, fake: Tensor) -> None:
    """Real and fake batches must be floating point and share the sample shape, dtype and device."""
    check_floating(real, fake)
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


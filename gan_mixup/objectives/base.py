"""The objective contract and what every objective computes with.

The contract: ``Objective`` (the two losses a hand-written loop calls) and ``TrainingObjective``
(what gan_mixup's trainer reads besides), the ``StepStats`` they report and the ``ObjectiveError``
they raise. Every built-in objective states its losses once, as ``Term``s (D's inputs, targets,
weights and per-sample loss) grouped into D's forwards, and inherits from ``TermObjective`` the two
losses derived from them, for one run's batches ``(B, ...)`` or for N runs' stacked ``(N, B, ...)``
(the lockstep trainer). The helpers: D's logits with their shape checked, BCE on logits, and D's
input gradient with the WGAN-GP penalty on it (shared with the regularizers). The option names
(``GENERATOR_LOSSES``, ``LAMBDA_*``, ``PAIRINGS``) live here so that the config and the command line
can list them without importing an objective.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Callable, ClassVar, Protocol, Sequence, runtime_checkable

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

    # Optional (``gan_mixup.training.objective`` reads them where an objective has them; every
    # built-in one and every ``with_regularizers`` wrapper does):

    def latent_penalty(self, D: Discriminator, G: Any, z: Tensor, fake: Tensor,
                       generator_step: bool = False) -> Tensor | None:
        """A term of D's loss (or, with ``generator_step``, G's) that needs G and the noise ``z`` of
        ``fake`` = G(z) (zCR); ``None`` where there is none, as for every objective alone."""

    def state_dict(self) -> dict[str, Any]:
        """What the objective carries from step to step (LeCam's moving averages), for a checkpoint;
        empty for a stateless one. Random streams are not in it: the trainer saves its generators."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``'s value."""


def options_of(objective: type) -> tuple[str, ...]:
    """The option names an objective class takes from a user (``objective_options``, ``--objective-option``):
    the fields of its ``Options`` dataclass."""
    options = getattr(objective, "Options", None)
    return tuple(f.name for f in fields(options)) if options is not None else ()


PerSample = Callable[[Tensor, Tensor], Tensor]


def checked_number(owner: str, key: str, value: Any, *, low: float | None = None, high: float = math.inf,
                   low_open: bool = False, note: str = "", error: type[Exception] = ObjectiveError) -> float:
    """``value`` as a float, refusing (``error``, ``ObjectiveError`` by default) one that is not a
    finite number, is below ``low`` (at or below it when ``low_open``) or above ``high``; the objectives'
    and the regularizers' options are checked with it, e.g. ``checked_number("R3GAN", "gamma", 0.05, low=0)``."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (low is None or (value > low if low_open else value >= low)) and value <= high
    if not ok:
        if math.isfinite(high):
            bound = f" in ({low:g}, {high:g}]"
        else:
            bound = "" if low is None else f" {'>' if low_open else '>='} {low:g}"
        raise error(f"{owner} {key} must be a finite number{bound}{note}, got {value!r}")
    return float(value)


def bce_per_sample(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy on logits, one term per sample (its mean is ``bce``)."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none")


def score_per_sample(scores: Tensor, target: Tensor | None) -> Tensor:
    """D's raw score itself (the Wasserstein and hinge G losses, the critic's terms); no target."""
    return scores


@dataclass(frozen=True)
class Term:
    """One mean of a loss: ``weight · mean over samples of per_sample(D(x), target)``.

    ``x`` is ``(B, ...)`` for one run or ``(N, B, ...)`` for N stacked runs, ``target`` ``(B,)`` or
    ``(N, B)``. ``role`` says what ``x`` is (``real``, ``fake``, ``mixed``); a ``context`` term adds
    nothing to the loss: it only joins D's forward, so that a BatchNorm D normalises by the batch
    statistics it was trained with.

    A relativistic term (``against``, e.g. ``"fake"``) compares D's logit on each of its samples with
    D's logit on the paired sample of the term of that role in the same loss: its per-sample loss is
    ``per_sample(D(x) − D(x_against), target)``, both logits carrying gradient, and the term it is
    measured against adds nothing to the loss by itself (it joins a forward, as a context term does).

    Example (the ERM D loss on one run's batches, real and fake in one forward):
        >>> real, fake = torch.randn(4, 2), torch.randn(4, 2)
        >>> [[Term(real, torch.ones(4), role="real"), Term(fake, torch.zeros(4), role="fake")]]  # doctest: +ELLIPSIS
        [[Term(x=tensor(...
    """

    x: Tensor
    target: Tensor | None
    weight: float = 1.0
    per_sample: PerSample = bce_per_sample
    role: str = "mixed"
    share: Tensor | None = None  # a mixed term's real share λ when its target is t·λ (the logged λ)
    # How D reads ``x``: ``None`` calls D itself; else ``through(D)`` is the callable run on ``x``
    # (manifold mixup reads a real–fake pair and mixes it inside D). The terms of one forward share it.
    through: Callable[[Discriminator], Discriminator] | None = None
    against: str | None = None  # the role of a term whose logits, sample by sample, this one's are measured against


Forward = list[Term]  # the terms D sees in one forward (their inputs concatenated)


def ones_like_batch(x: Tensor, lead: int, value: float = 1.0) -> Tensor:
    """A target of ``value`` per sample of ``x`` (shape ``x.shape[:lead + 1]``)."""
    return torch.full(x.shape[:lead + 1], value, device=x.device, dtype=x.dtype)


def real_fake_forwards(real: Term, fake: Term, separate: bool) -> list[Forward]:
    """The real and the fake term in one forward, or in two.

    One forward over the concatenated batch is cheaper than two and identical for any D without
    batch statistics; ``separate`` gives two, so BatchNorm normalises a pure real and a pure fake
    batch, as the DCGAN paper trains D. An objective's ``separate_forwards`` sets it; ``None`` (the
    default) picks two exactly when D holds a BatchNorm layer in training mode.
    """
    return [[real], [fake]] if separate else [[real, fake]]


class TermObjective:
    """The base of every built-in objective: the losses derived once from the objective's terms.

    A subclass states its losses as ``discriminator_terms`` / ``generator_terms`` (lists of D's
    forwards, each a list of ``Term``) and inherits ``discriminator_loss`` / ``generator_loss`` for
    one run and ``stacked_losses`` for N runs in lockstep, all computed the same way: D on each
    forward's concatenated inputs, each term's per-sample loss averaged over its samples, weighted
    and summed. ``members`` (N objectives of one setting, ``self`` among them) makes the inputs
    stacked ``(N, B, ...)``, and each member draws from its own generator exactly what it would draw
    alone. Subclasses set ``Options`` (the options a user may pass, a dataclass), ``draws_randomness``,
    ``smoothable`` (a real target that label smoothing may lower) and ``reports`` (what ``last_stats``
    carries: ``probabilities`` of D on real and fake, ``lambda``, or nothing) and, where N stacked runs
    cannot use the objective, ``not_in_lockstep`` (the reason ``sweep --batched`` gives).
    """

    name: ClassVar[str] = "objective"
    Options: ClassVar[type | None] = None
    not_in_lockstep: ClassVar[str | None] = None  # why N stacked runs cannot use it (``None``: they can)
    draws_randomness: ClassVar[bool] = False
    smoothable: ClassVar[bool] = False
    reports: ClassVar[str | None] = None
    real_target: float = 1.0  # D's target for a pure real sample: what label smoothing lowers
    batches_per_step: int = 1
    separate_forwards: bool | None = None
    last_stats: StepStats

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Nothing anneals in the objectives themselves (regularizers do)."""

    def latent_penalty(self, D: Discriminator, G: Any, z: Tensor, fake: Tensor,
                       generator_step: bool = False) -> Tensor | None:
        """No term needs G or its noise: those are regularizers' (zCR, ``with_regularizers``)."""
        return None
    def state_dict(self) -> dict[str, Any]:
        """Nothing: the built-in objectives carry no state between steps (their randomness is the
        caller's generator, which the trainer saves)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore; a non-empty ``state`` is another objective's and an error."""
        if state:
            raise ObjectiveError(f"{self.name} carries no state, but was given {', '.join(map(str, state))}")

    def discriminator_terms(self, real: Tensor, fake: Tensor, *, separate: bool, batch_statistics: bool,
                            members: Sequence[Any] | None = None, real_target: float | None = None) -> list[Forward]:
        """D's loss as terms. ``separate``: real and fake in separate forwards; ``real_target`` t
        scales the targets' real share by t (label smoothing; only where ``smoothable``)."""
        raise NotImplementedError

    def generator_terms(self, real: Tensor | None, fake: Tensor, *, separate: bool, batch_statistics: bool,
                        members: Sequence[Any] | None = None) -> list[Forward]:
        """G's loss as terms (a negative weight where G maximises D's loss)."""
        raise NotImplementedError

    def discriminator_penalty(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor | None:
        """A term that is no mean of per-sample terms on D's logits (WGAN-GP's penalty), else ``None``."""
        return None

    # ----- the derived losses -------------------------------------------------------------------

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor, real_target: float | None = None) -> Tensor:
        """D's loss on one run's batches. ``real_target`` t lowers the real target 1 to t for this
        call (how label smoothing reaches a ``smoothable`` objective)."""
        check_pair(real, fake)
        if len(real) == 0 or len(fake) == 0:
            raise ObjectiveError(f"empty batch: {len(real)} real and {len(fake)} fake samples; a loss over no samples is undefined")
        if real_target is not None and not self.smoothable:
            raise ObjectiveError(f"{self.name} has no real target to smooth")
        batch_statistics = has_batch_statistics(D)
        forwards = self.discriminator_terms(real, fake, separate=self._separate(batch_statistics),
                                            batch_statistics=batch_statistics, real_target=real_target)
        logits = [_forward(D, forward, lead=0) for forward in forwards]
        self.last_stats = self._stats(forwards, logits)
        loss = _reduce(forwards, logits, lead=0)
        penalty = self.discriminator_penalty(D, real, fake)
        return loss if penalty is None else loss + penalty

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        """G's loss on one run's fakes (``real``: the real batch, for the losses that read it)."""
        if real is not None:
            check_pair(real, fake)
        check_floating(fake)
        if len(fake) == 0 or (real is not None and len(real) == 0):
            raise ObjectiveError("empty batch: a loss over no samples is undefined")
        batch_statistics = has_batch_statistics(D)
        forwards = self.generator_terms(real, fake, separate=self._separate(batch_statistics),
                                        batch_statistics=batch_statistics)
        return _reduce(forwards, [_forward(D, forward, lead=0) for forward in forwards], lead=0)

    def stacked_losses(self, D: Callable[[Tensor], Tensor], members: Sequence[Any], real: Tensor, fake: Tensor,
                       generator: bool = False) -> Tensor:
        """The D (or, with ``generator``, the G) losses of N runs at once, shape ``(N,)``: ``D`` maps
        stacked inputs ``(N, B, ...)`` to ``(N, B)`` or ``(N, B, 1)`` logits (a D without batch
        statistics, one forward per forward of the terms), and each of ``members`` sets its own
        ``last_stats`` as it would alone."""
        if generator:
            forwards = self.generator_terms(real, fake, separate=False, batch_statistics=False, members=members)
        else:
            forwards = self.discriminator_terms(real, fake, separate=False, batch_statistics=False, members=members)
        logits = [_forward(D, forward, lead=1) for forward in forwards]
        if not generator:
            for k, member in enumerate(members):
                member.last_stats = self._stats([[_member(t, k) for t in f] for f in forwards],
                                                [[part[k] for part in parts] for parts in logits])
        return _reduce(forwards, logits, lead=1)

    def _separate(self, batch_statistics: bool) -> bool:
        return batch_statistics if self.separate_forwards is None else self.separate_forwards

    def _stats(self, forwards: list[Forward], logits: list[list[Tensor]]) -> StepStats:
        by_role = {term.role: out for forward, outs in zip(forwards, logits) for term, out in zip(forward, outs)}
        if self.reports == "probabilities":
            return probability_stats(by_role["real"], by_role["fake"])
        if self.reports == "lambda":
            mixed = next(term for forward in forwards for term in forward if term.role == "mixed")
            return StepStats(lam_mean=(mixed.target if mixed.share is None else mixed.share).detach().mean())
        return StepStats()


def _member(term: Term, k: int) -> Term:
    """Member k's slice of a stacked term."""
    def part(t: Tensor | None) -> Tensor | None:
        return None if t is None else t[k]

    return Term(term.x[k], part(term.target), term.weight, term.per_sample, term.role, part(term.share), term.through,
                term.against)


def _forward(D: Callable[[Tensor], Tensor], forward: Forward, lead: int) -> list[Tensor]:
    """D's logits for each term of one forward: one call on the terms' concatenated inputs."""
    xs = [term.x for term in forward]
    through = forward[0].through
    assert all(term.through is through for term in forward), "the terms of one forward read D alike"
    if through is not None:
        D = through(D)
    if lead == 0:
        out = logits_of(D, xs[0] if len(xs) == 1 else torch.cat(xs))
    else:
        out = stacked_logits_of(D, xs[0] if len(xs) == 1 else torch.cat(xs, dim=lead))
    sizes = [x.shape[lead] for x in xs]
    return [out] if len(xs) == 1 else list(out.split(sizes, dim=lead))


def _reduce(forwards: list[Forward], logits: list[list[Tensor]], lead: int) -> Tensor:
    """Σ weight · mean(per_sample(logits, target)) over the terms that are not context, nor a term
    another one is measured against (whose logits are subtracted from that one's, sample by sample)."""
    partners = {term.against for forward in forwards for term in forward if term.against is not None}
    by_role = _logits_by_role(forwards, logits, partners) if partners else {}
    loss: Tensor | None = None
    for forward, outs in zip(forwards, logits):
        for term, out in zip(forward, outs):
            if term.role == "context" or term.role in partners:
                continue
            if term.against is not None:
                other = by_role[term.against]
                if other.shape != out.shape:  # a silent broadcast would pair every sample with every other
                    raise ObjectiveError(f"a relativistic term pairs its samples with the {term.against} term's: equal "
                                         f"batch sizes needed, got {tuple(out.shape)} and {tuple(other.shape)}")
                out = out - other
            per_sample = term.per_sample(out, term.target)
            value = per_sample.mean() if lead == 0 else per_sample.mean(lead)
            if term.weight != 1.0:
                value = term.weight * value
            loss = value if loss is None else loss + value
    assert loss is not None, "a loss needs at least one term that is not context"
    return loss


def _logits_by_role(forwards: list[Forward], logits: list[list[Tensor]], roles: set[str]) -> dict[str, Tensor]:
    """The logits of the terms of ``roles`` (each role one term), for the relativistic terms."""
    found = {term.role: out for forward, outs in zip(forwards, logits) for term, out in zip(forward, outs)
             if term.role in roles}
    missing = sorted(roles - set(found))
    if missing:
        raise ObjectiveError(f"a relativistic term is measured against a term of role {missing[0]!r}, which the loss lacks")
    return found


def stacked_logits_of(D: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Stacked D's logits for ``(N, B, ...)`` inputs, shape ``(N, B)``."""
    out = D(x)
    if out.dim() == 3 and out.shape[-1] == 1:
        out = out.squeeze(-1)
    if out.shape != x.shape[:2]:
        raise ObjectiveError(f"a stacked discriminator must return (N, B) or (N, B, 1) logits, got {tuple(out.shape)} "
                             f"for an input of shape {tuple(x.shape)}")
    return out


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
            got = x.dtype if isinstance(x, Tensor) else type(x).__name__
            raise ObjectiveError(f"the discriminator's inputs must be floating point tensors, got {got}: convert "
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


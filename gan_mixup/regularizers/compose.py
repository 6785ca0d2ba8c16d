"""An objective with regularizers under the objectives' two-method contract: ``with_regularizers``."""
from __future__ import annotations

from typing import Any

from torch import Tensor

from gan_mixup.objectives import Discriminator, Objective, StepStats
from gan_mixup.regularizers.common import RegularizerError


class RegularizedObjective:
    """An objective with regularizers, under the same two-method contract.

    D loss: the objective's D loss (with the real target smoothed, if asked) on the noised batches, plus
    every penalty, each on the same batches D saw. G loss: the objective's G loss on the noised batches,
    no penalty. ``last_stats`` and ``batches_per_step`` are the wrapped objective's; ``last_penalties``
    holds the last D step's penalty values (detached), by regularizer name.
    """

    def __init__(self, objective: Objective, regularizers: tuple[Any, ...]) -> None:
        self.objective = objective
        self.regularizers = regularizers
        self.name = "+".join([objective.name, *(r.name for r in regularizers)])
        self.noises = [r for r in regularizers if hasattr(r, "perturb")]
        self.penalties = [r for r in regularizers if hasattr(r, "penalty")]
        self.latents = [r for r in regularizers if hasattr(r, "latent_penalty")]
        smoothing = [r for r in regularizers if hasattr(r, "smoothed_discriminator_loss")]
        if len(smoothing) > 1:
            raise RegularizerError("label smoothing given more than once; pass one label-smoothing regularizer")
        self.smoothing = smoothing[0] if smoothing else None
        if self.smoothing is not None:
            self.smoothing.check(objective)
        self.last_penalties: dict[str, Tensor] = {}

    @property
    def last_stats(self) -> StepStats | None:
        return getattr(self.objective, "last_stats", None)

    @property
    def batches_per_step(self) -> int:
        return getattr(self.objective, "batches_per_step", 1)

    def begin_iteration(self, iteration: int, total: int) -> None:
        """Called by the trainer before every generator iteration; passed on to everything that anneals."""
        for part in (self.objective, *self.regularizers):
            hook = getattr(part, "begin_iteration", None)
            if hook is not None:
                hook(iteration, total)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped objective's state and that of every regularizer that keeps one (LeCam's moving
        averages), keyed ``"index:name"``; empty when none does."""
        state: dict[str, Any] = {}
        inner = self.objective.state_dict() if hasattr(self.objective, "state_dict") else {}
        if inner:
            state["objective"] = inner
        for index, regularizer in enumerate(self.regularizers):
            own = regularizer.state_dict() if hasattr(regularizer, "state_dict") else {}
            if own:
                state[f"{index}:{regularizer.name}"] = own
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``'s value (what it lacks starts fresh)."""
        if hasattr(self.objective, "load_state_dict"):
            self.objective.load_state_dict(state.get("objective", {}))
        for index, regularizer in enumerate(self.regularizers):
            if hasattr(regularizer, "load_state_dict"):
                regularizer.load_state_dict(state.get(f"{index}:{regularizer.name}", {}))

    def _perturb(self, x: Tensor) -> Tensor:
        for noise in self.noises:
            x = noise.perturb(x)
        return x

    def discriminator_loss(self, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        real, fake = self._perturb(real), self._perturb(fake)
        if self.smoothing is not None:
            loss = self.smoothing.smoothed_discriminator_loss(self.objective, D, real, fake)
        else:
            loss = self.objective.discriminator_loss(D, real, fake)
        penalties: dict[str, Tensor] = {}
        for regularizer in self.penalties:
            value = regularizer.penalty(D, real, fake)
            loss = loss + value
            penalties[regularizer.name] = penalties.get(regularizer.name, 0) + value.detach()
        self.last_penalties = penalties
        return loss

    def generator_loss(self, D: Discriminator, fake: Tensor, real: Tensor | None = None) -> Tensor:
        fake = self._perturb(fake)
        real = None if real is None else self._perturb(real)
        return self.objective.generator_loss(D, fake, real)

    def latent_penalty(self, D: Discriminator, G: Any, z: Tensor, fake: Tensor, generator_step: bool = False) -> Tensor | None:
        """The latent regularizers' terms (zCR), which need G and the noise ``z`` of ``fake`` = G(z): D's
        (``fake`` detached, after ``discriminator_loss``; added to ``last_penalties``) or, with
        ``generator_step``, G's; ``None`` when there are none. They see G's raw outputs, not the
        perturbed batches: a random transform on each side would make zCR a consistency under
        augmentation too, which is bCR's job."""
        total: Tensor | None = None
        for regularizer in self.latents:
            value = regularizer.latent_penalty(D, G, z, fake, generator_step=generator_step)
            total = value if total is None else total + value
            if not generator_step:
                self.last_penalties[regularizer.name] = self.last_penalties.get(regularizer.name, 0) + value.detach()
        return total

    def __repr__(self) -> str:
        return f"with_regularizers({self.objective!r}, {', '.join(map(repr, self.regularizers))})"


def with_regularizers(objective: Objective, *regularizers: Any) -> Objective:
    """``objective`` with ``regularizers`` added; the objective itself when none are given.

    Wrapping a wrapped objective adds to its list (``mixup+r1`` + ``gp`` is ``mixup+r1+gp``).
    Raises RegularizerError for something that is not a regularizer, or label smoothing on an
    objective without a real target.
    """
    if not regularizers:
        return objective
    for regularizer in regularizers:
        if isinstance(regularizer, type):
            raise RegularizerError(f"pass a regularizer, not its class: {regularizer.__name__}(), not {regularizer.__name__}")
        methods = ("penalty", "perturb", "smoothed_discriminator_loss", "latent_penalty")
        if not hasattr(regularizer, "name") or not any(hasattr(regularizer, method) for method in methods):
            raise RegularizerError(
                f"{regularizer!r} is not a regularizer (it needs a name and penalty, perturb or "
                f"smoothed_discriminator_loss); build one with parse_regularizer, e.g. 'r1:10'"
            )
    if isinstance(objective, RegularizedObjective):
        return RegularizedObjective(objective.objective, objective.regularizers + tuple(regularizers))
    return RegularizedObjective(objective, tuple(regularizers))

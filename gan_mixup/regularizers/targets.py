"""Target changes: the wrapped objective's D loss with a softer real target (label smoothing)."""
from __future__ import annotations

from torch import Tensor

from gan_mixup.objectives import Discriminator, Objective, smoothable_objectives
from gan_mixup.regularizers.common import RegularizerError, checked_number


class LabelSmoothing:
    """One-sided label smoothing (Salimans et al. 2016): D's real target 1 → t, fake targets stay 0.

    For mixup the target λ (the real share of x̃) becomes t·λ. It applies to objectives whose D loss
    has a real target, those that declare ``smoothable`` (``TermObjective``; listed by
    ``smoothable_objectives``): ``erm``, ``mixup``, ``lsgan`` (whose real target b becomes t·b),
    ``manifold-mixup`` and ``cutmix``; their ``discriminator_loss`` takes ``real_target=``. The
    Wasserstein, hinge and relativistic losses have no target to soften; wrapping them raises
    RegularizerError.
    The G loss is unchanged.
    """

    name = "label-smoothing"
    value_option = "real_target"
    draws_randomness = False

    def __init__(self, real_target: float = 0.9) -> None:
        self.real_target = checked_number("LabelSmoothing", "real_target", real_target, low=0.0, high=1.0, low_open=True)

    def check(self, objective: Objective) -> None:
        """Raise RegularizerError unless ``objective``'s D loss has a real target to smooth."""
        if not getattr(objective, "smoothable", False):
            raise RegularizerError(
                f"label smoothing needs an objective whose D loss has a real target ({', '.join(smoothable_objectives())}); "
                f"{getattr(objective, 'name', type(objective).__name__)!r} has none"
            )

    def smoothed_discriminator_loss(self, objective: Objective, D: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
        # Every objective with a real target takes it as an argument: erm's 1, mixup's λ (as t·λ), LSGAN's b.
        self.check(objective)
        return objective.discriminator_loss(D, real, fake, real_target=self.real_target * objective.real_target)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"LabelSmoothing(real_target={self.real_target})"

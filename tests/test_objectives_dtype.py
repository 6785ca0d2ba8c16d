"""Every objective and regularizer refuses integer batches with one clear ``ObjectiveError`` saying
that D's inputs must be floating point, rather than a NotImplementedError from deep inside torch."""
from __future__ import annotations

import pytest
import torch

from gan_mixup import MixupGAN
from gan_mixup.errors import GanMixupError
from gan_mixup.objectives import OBJECTIVES, ObjectiveError, get_objective
from gan_mixup.regularizers import parse_regularizer, with_regularizers

D = torch.nn.Linear(2, 1)
REAL = torch.randint(0, 3, (8, 2))


def objectives():
    yield from ((name, lambda name=name: get_objective(name)) for name in OBJECTIVES)
    for spec in ("r1", "gp", "instance-noise", "label-smoothing", "diffaug", "bcr", "zcr", "r2", "lecam"):
        yield f"erm+{spec}", lambda spec=spec: with_regularizers(get_objective("erm"), parse_regularizer(spec))


def test_the_issues_mixup_call_says_inputs_must_be_floating_point():
    with pytest.raises(ObjectiveError, match="must be floating point") as info:
        MixupGAN(0.2).discriminator_loss(D, REAL.float().long(), REAL.long())
    assert isinstance(info.value, GanMixupError) and "torch.int64" in str(info.value)


@pytest.mark.parametrize("name, make", list(objectives()), ids=[name for name, _ in objectives()])
@pytest.mark.parametrize("loss", ["discriminator", "generator-with-real", "generator"])
def test_every_objective_refuses_integer_batches(name, make, loss):
    objective, fake = make(), REAL.flip(0)
    calls = {"discriminator": lambda: objective.discriminator_loss(D, REAL, fake),
             "generator-with-real": lambda: objective.generator_loss(D, fake, REAL),
             "generator": lambda: objective.generator_loss(D, fake)}
    with pytest.raises(ObjectiveError, match="must be floating point"):
        calls[loss]()


def test_float_batches_of_any_float_dtype_still_pass():
    for dtype in (torch.float32, torch.float64):
        d = torch.nn.Linear(2, 1).to(dtype)
        assert MixupGAN(0.2).discriminator_loss(d, REAL.to(dtype), REAL.flip(0).to(dtype)).dtype == dtype

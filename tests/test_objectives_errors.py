"""The objectives' refusals: empty batches, bad options, and a D of the wrong output shape."""
from __future__ import annotations


import pytest
import torch
from torch import nn

from gan_mixup.errors import GanMixupError
from gan_mixup.objectives import (
    HingeGAN,
    LSGAN,
    WGANGP,
    MixupGAN,
    ObjectiveError,
    StandardGAN,
    logits_of,
)



# ----- 12. library errors ---------------------------------------------------------------------------

OBJECTIVE_FACTORIES = {
    "erm": lambda: StandardGAN(),
    "mixup": lambda: MixupGAN(generator=torch.Generator().manual_seed(0)),
    "wgan-gp": lambda: WGANGP(generator=torch.Generator().manual_seed(0)),
    "hinge": lambda: HingeGAN(),
    "lsgan": lambda: LSGAN(),
}


def test_logits_of_an_empty_batch_raises():
    with pytest.raises(ObjectiveError, match="empty") as info:
        logits_of(nn.Linear(2, 1), torch.zeros(0, 2))
    assert isinstance(info.value, GanMixupError)


@pytest.mark.parametrize("sizes", [(0, 0), (8, 0), (0, 8)], ids=["both-empty", "fake-empty", "real-empty"])
@pytest.mark.parametrize("name", list(OBJECTIVE_FACTORIES))
def test_discriminator_loss_on_an_empty_batch_raises(name, sizes):
    D = nn.Linear(2, 1)
    with pytest.raises(ObjectiveError):
        loss = OBJECTIVE_FACTORIES[name]().discriminator_loss(D, torch.randn(sizes[0], 2), torch.randn(sizes[1], 2))
        pytest.fail(f"{name} returned {loss} for real/fake batches of {sizes}")


@pytest.mark.parametrize("name", list(OBJECTIVE_FACTORIES))
def test_generator_loss_on_an_empty_batch_raises(name):
    with pytest.raises(ObjectiveError):
        OBJECTIVE_FACTORIES[name]().generator_loss(nn.Linear(2, 1), torch.zeros(0, 2), torch.randn(8, 2))


@pytest.mark.parametrize("make", [
    lambda: MixupGAN(alpha=True),
    lambda: MixupGAN(alpha=False),
    lambda: StandardGAN(generator_loss="minimax").generator_loss(nn.Linear(2, 1), torch.randn(8, 2), torch.randn(6, 2)),
    lambda: MixupGAN(generator_loss="minimax").generator_loss(nn.Linear(2, 1), torch.randn(8, 2), torch.randn(6, 2)),
], ids=["alpha-True", "alpha-False", "erm-minimax-sizes", "mixup-minimax-sizes"])
def test_objective_mistakes_raise_objective_error(make):
    with pytest.raises(ObjectiveError) as info:
        make()
    assert isinstance(info.value, GanMixupError)


class FlatD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x):
        return self.linear(x).reshape(-1)


class ConvShapedD(FlatD):
    """Returns (B, 1, 1, 1), as a DCGAN's last convolution does."""

    def forward(self, x):
        return self.linear(x).reshape(-1, 1, 1, 1)


@pytest.mark.parametrize("name", ["mixup", "erm"])
def test_a_conv_shaped_discriminator_gives_the_flat_ones_losses(name):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        flat, conv = FlatD(), ConvShapedD()
        conv.load_state_dict(flat.state_dict())
        real, fake = torch.randn(16, 2), torch.randn(16, 2)
    for network in ("discriminator", "generator"):
        losses = []
        for D in (flat, conv):
            objective = OBJECTIVE_FACTORIES[name]()
            if network == "discriminator":
                loss = objective.discriminator_loss(D, real, fake)
            else:
                loss = objective.generator_loss(D, fake, real)
            loss.backward()
            losses.append(loss.detach())
        assert losses[0].shape == losses[1].shape == ()
        assert torch.isfinite(losses[0]) and torch.equal(losses[0], losses[1]), (network, losses)
    assert torch.allclose(flat.linear.weight.grad, conv.linear.weight.grad, rtol=0, atol=0)
    minimax = StandardGAN(generator_loss="minimax").generator_loss(conv, fake, real)
    assert torch.isfinite(minimax) and minimax.item() < 0

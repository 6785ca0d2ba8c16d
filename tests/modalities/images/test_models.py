"""DCGAN G and D: shapes per image size, output ranges, the paper's init, spectral norm, bad arguments."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_mixup.modalities.images.models import ModelError, dcgan_discriminator, dcgan_generator, dcgan_init_
from gan_mixup.errors import GanMixupError


@pytest.mark.parametrize("size", [16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_shapes(size, channels):
    G = dcgan_generator(latent_dim=10, channels=channels, image_size=size, width=4)
    D = dcgan_discriminator(channels=channels, image_size=size, width=4)
    z = torch.randn(6, 10, generator=torch.Generator().manual_seed(0))
    x = G(z)
    assert x.shape == (6, channels, size, size)
    assert x.min() >= -1.0 and x.max() <= 1.0 and x.std() > 0
    torch.testing.assert_close(G(z[:, :, None, None]), x)  # (B, latent, 1, 1) is accepted too
    logits = D(x)
    assert logits.shape == (6,) and torch.isfinite(logits).all()


@pytest.mark.parametrize("size,stages", [(16, 2), (32, 3), (64, 4)])
def test_stage_count_follows_the_image_size(size, stages):
    G = dcgan_generator(image_size=size, width=8)
    D = dcgan_discriminator(image_size=size, width=8)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in G.modules()) == stages + 1
    assert sum(isinstance(m, nn.Conv2d) for m in D.modules()) == stages + 1
    # The widest stage has width · 2^(stages - 1) channels, as in pytorch/examples' dcgan (ngf · 8 at 64 px).
    assert G[1].out_channels == 8 * 2 ** (stages - 1)


def test_default_generator_matches_pytorch_examples_at_64_px():
    G = dcgan_generator(latent_dim=100, channels=3, image_size=64, width=64)
    channels = [m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert channels == [512, 256, 128, 64, 3]


def test_init_follows_the_dcgan_paper():
    torch.manual_seed(0)
    G = dcgan_generator(image_size=32, width=64)
    D = dcgan_discriminator(image_size=32, width=64)
    for module in list(G.modules()) + list(D.modules()):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and module.weight.numel() > 10_000:
            w = module.weight.detach()
            assert abs(float(w.mean())) < 0.002
            assert 0.019 < float(w.std()) < 0.021
        if isinstance(module, nn.BatchNorm2d) and module.weight.numel() >= 64:
            assert abs(float(module.weight.detach().mean()) - 1.0) < 0.01
            assert 0.012 < float(module.weight.detach().std()) < 0.028
            assert float(module.bias.detach().abs().max()) == 0.0
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and module.bias is not None:
            assert float(module.bias.detach().abs().max()) == 0.0


def test_init_draws_from_the_global_rng_so_a_seed_fixes_the_weights():
    def build():
        torch.manual_seed(123)
        return dcgan_generator(width=4), dcgan_discriminator(width=4, spectral_norm=True)

    (G1, D1), (G2, D2) = build(), build()
    for a, b in zip(list(G1.state_dict().values()) + list(D1.state_dict().values()),
                    list(G2.state_dict().values()) + list(D2.state_dict().values())):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_spectral_norm_discriminator_has_no_batch_norm_and_unit_spectral_norms():
    D = dcgan_discriminator(channels=3, image_size=32, width=8, spectral_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(hasattr(m, "parametrizations") for m in convs)
    D.train()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for _ in range(30):  # let the power iteration converge
        D(x)
    D.eval()
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert 0.9 < float(sigma) < 1.1
    assert D(x).shape == (4,)
    # The underlying weights got the DCGAN init before being wrapped.
    original = convs[1].parametrizations.weight.original.detach()
    assert 0.015 < float(original.std()) < 0.025


def test_batch_norm_can_be_turned_off():
    D = dcgan_discriminator(image_size=16, width=8, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    # Without BatchNorm each logit depends on its own sample only.
    x = torch.randn(5, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    D.train()
    torch.testing.assert_close(D(x)[:2], D(x[:2]))


def test_init_reinitialises_an_existing_module():
    conv = nn.Conv2d(32, 32, 4)
    bn = nn.BatchNorm2d(1000)
    dcgan_init_(nn.Sequential(conv, bn))
    assert 0.018 < float(conv.weight.detach().std()) < 0.022 and float(conv.bias.detach().abs().max()) == 0.0
    assert 0.017 < float(bn.weight.detach().std()) < 0.023 and abs(float(bn.weight.detach().mean()) - 1) < 0.005


def test_one_training_step_reaches_every_parameter():
    G = dcgan_generator(latent_dim=8, image_size=16, width=4)
    D = dcgan_discriminator(image_size=16, width=4)
    loss = nn.functional.softplus(-D(G(torch.randn(4, 8)))).mean()
    loss.backward()
    for model in (G, D):
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize(
    "build,word",
    [
        (lambda: dcgan_generator(image_size=28), "image size"),
        (lambda: dcgan_generator(latent_dim=0), "latent_dim"),
        (lambda: dcgan_generator(channels=0), "channels"),
        (lambda: dcgan_discriminator(width=0), "width"),
        (lambda: dcgan_discriminator(image_size=128), "image size"),
        (lambda: dcgan_discriminator(channels=2.5), "channels"),
    ],
)
def test_bad_arguments_raise_model_errors(build, word):
    with pytest.raises(ModelError) as info:
        build()
    assert isinstance(info.value, (GanMixupError, ValueError)) and word in str(info.value)


def test_channels_last_runs_train_in_nhwc_close_to_the_default_and_resumes_bit_identically(tmp_path):
    from gan_mixup import train
    from gan_mixup.training.state import build_state
    from tests.conftest import make_tiny_config

    fields = dict(dataset="digits", hidden=8, iterations=4, batch_size=16, d_steps=1, fixed_samples=16,
                  metric_samples=0, snapshot_frames=2, checkpoint_every=2, checkpoint_seconds=0.0)
    state = build_state(make_tiny_config(**fields, channels_last=True))
    convs = [p for model in (state.generator, state.discriminator) for p in model.parameters() if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert any(not p.is_contiguous() for p in convs)  # (a 1-channel weight is both)

    nhwc = train(make_tiny_config(**fields, channels_last=True), tmp_path / "nhwc")
    nchw = train(make_tiny_config(**fields), tmp_path / "nchw")
    for a, b in zip(nhwc.generator.state_dict().values(), nchw.generator.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)  # the same run up to rounding
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in nhwc.generator.parameters() if p.dim() == 4)

    train(make_tiny_config(**{**fields, "iterations": 2}, channels_last=True), tmp_path / "resumed")
    resumed = train(make_tiny_config(**fields, channels_last=True), tmp_path / "resumed", resume=True)
    for model in ("generator", "discriminator"):
        for a, b in zip(getattr(resumed, model).state_dict().values(), getattr(nhwc, model).state_dict().values()):
            assert torch.equal(a, b)


def test_channels_last_is_an_image_field_refused_on_toy_data():
    from gan_mixup.config import ConfigError, RunConfig

    assert RunConfig(dataset="digits", channels_last=True).channels_last
    with pytest.raises(ConfigError, match="channels_last"):
        RunConfig(dataset="ring8", channels_last=True)

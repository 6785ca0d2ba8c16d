"""DCGAN on the bundled digits trained by the loop of pytorch/examples' ``dcgan/main.py``, as a user writes
it: the plain contender of ``image_throughput.py``.

Example:
    >>> gan = PlainDCGAN(width=8, image_size=16, objective="mixup")
    >>> gan.step(); len(gan.log)
    1
"""
from __future__ import annotations

import math

import torch
from torch import nn

from harness import steps_per_second

from gan_mixup.modalities.images.data import get_image_dataset
from gan_mixup.modalities.images.models import dcgan_discriminator, dcgan_generator

BATCH, NZ, ALPHA, LR, BETAS = 64, 100, 0.2, 2e-4, (0.5, 0.999)


class PlainDCGAN:
    """The training loop of pytorch/examples ``dcgan/main.py``, written as a user would for these digits:
    D on real (label 1) and on ``fake.detach()`` (label 0), two backwards; G through D on the same fake;
    ``.item()`` of the losses and D's means every iteration. Unlike main.py: the trainer's models (D
    returns logits, so ``nn.BCEWithLogitsLoss``), batches from the in-memory digits, the log kept in a
    list. ``objective="mixup"``: one D forward on λ·real + (1−λ)·fake.detach() with target λ."""

    def __init__(self, width: int, image_size: int, objective: str, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.netG = dcgan_generator(NZ, 1, image_size, width)
        self.netD = dcgan_discriminator(1, image_size, width)
        self.criterion = nn.BCEWithLogitsLoss()
        self.optimizerD = torch.optim.Adam(self.netD.parameters(), lr=LR, betas=BETAS)
        self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=LR, betas=BETAS)
        self.dataset = get_image_dataset("digits", image_size=image_size)
        self.data_rng = torch.Generator().manual_seed(seed)
        self.beta = torch.distributions.Beta(torch.tensor(ALPHA), torch.tensor(ALPHA))
        self.objective = objective
        self.log: list[tuple[float, ...]] = []

    def step(self) -> None:
        real = self.dataset.sample(BATCH, self.data_rng)
        b = real.size(0)
        # (1) Update D
        self.netD.zero_grad()
        noise = torch.randn(b, NZ, 1, 1)
        fake = self.netG(noise)
        if self.objective == "erm":
            label = torch.full((b,), 1.0)
            output = self.netD(real)
            errD_real = self.criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()
            label.fill_(0.0)
            output = self.netD(fake.detach())
            errD_fake = self.criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
        else:
            lam = self.beta.sample((b,))
            w = lam.view(b, 1, 1, 1)
            output = self.netD(w * real + (1 - w) * fake.detach())
            errD = self.criterion(output, lam)
            errD.backward()
            D_x, D_G_z1 = output.mean().item(), lam.mean().item()
        self.optimizerD.step()
        # (2) Update G
        self.netG.zero_grad()
        label = torch.full((b,), 1.0)
        output = self.netD(fake)
        errG = self.criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        self.optimizerG.step()
        self.log.append((errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))

    def block(self, iterations: int, max_seconds: float = math.inf) -> float:
        """Generator iterations per second of ``iterations`` more steps (fewer after ``max_seconds``)."""
        return steps_per_second(self.step, iterations, max_seconds)

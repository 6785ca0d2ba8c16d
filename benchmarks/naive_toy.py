"""The paper's toy GAN as a user writes it from the paper's text, in plain PyTorch: the naive contender
of ``toy_throughput.py`` (imported there; run as a script, it is that benchmark's naive process).

Run:  .venv/bin/python benchmarks/naive_toy.py --iterations 1000 [--width 512] [--objective mixup] [--threads T]
"""
from __future__ import annotations

import argparse
import math

import torch
from torch import nn

from harness import steps_per_second

BATCH, D_STEPS, LATENT, ALPHA = 128, 5, 2, 0.2


class NaiveGAN:
    """Deliberately ordinary: ``nn.Sequential`` MLPs (3 hidden ReLU layers of ``width``),
    ``nn.BCEWithLogitsLoss``, ``torch.optim.Adam()`` with its defaults, λ from
    ``torch.distributions.Beta``, a fresh G forward for every D step, D's weights left trainable during
    the G step, ``loss.item()`` after every step for logging, and no ``torch.set_flush_denormal``.

    Example:
        >>> gan = NaiveGAN(width=32, objective="mixup")
        >>> gan.step(); len(gan.log)
        6
    """

    def __init__(self, width: int, objective: str, seed: int = 0) -> None:
        torch.manual_seed(seed)

        def mlp(n_in: int, n_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, width), nn.ReLU(), nn.Linear(width, n_out))

        self.G, self.D = mlp(LATENT, 2), mlp(2, 1)
        self.opt_g = torch.optim.Adam(self.G.parameters())
        self.opt_d = torch.optim.Adam(self.D.parameters())
        self.criterion = nn.BCEWithLogitsLoss()
        self.beta = torch.distributions.Beta(torch.tensor([ALPHA]), torch.tensor([ALPHA]))
        self.objective = objective
        angles = torch.arange(8) * (2 * math.pi / 8)
        self.centers = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)  # ring8, radius 1
        self.log: list[float] = []

    def real_batch(self) -> torch.Tensor:
        return self.centers[torch.randint(8, (BATCH,))] + 0.01 * torch.randn(BATCH, 2)

    def step(self) -> None:
        for _ in range(D_STEPS):
            real = self.real_batch()
            fake = self.G(torch.randn(BATCH, LATENT)).detach()
            if self.objective == "mixup":
                lam = self.beta.sample((BATCH,))  # (B, 1): one λ per sample
                d_loss = self.criterion(self.D(lam * real + (1 - lam) * fake), lam)
            else:
                out_real, out_fake = self.D(real), self.D(fake)
                d_loss = (self.criterion(out_real, torch.ones_like(out_real))
                          + self.criterion(out_fake, torch.zeros_like(out_fake)))
            self.opt_d.zero_grad()
            d_loss.backward()
            self.opt_d.step()
            self.log.append(d_loss.item())
        out = self.D(self.G(torch.randn(BATCH, LATENT)))
        g_loss = self.criterion(out, torch.ones_like(out))  # non-saturating
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()
        self.log.append(g_loss.item())

    def block(self, iterations: int, max_seconds: float = math.inf) -> float:
        """Generator iterations per second of up to ``iterations`` more steps (fewer after ``max_seconds``)."""
        return steps_per_second(self.step, iterations, max_seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, required=True, help="generator iterations to train")
    parser.add_argument("--width", type=int, default=512, help="hidden width of G and D (paper: 512)")
    parser.add_argument("--objective", choices=("mixup", "erm"), default="mixup")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    gan = NaiveGAN(args.width, args.objective)
    for it in range(1, args.iterations + 1):
        gan.step()
        if it % 100 == 0 or it == args.iterations:
            print(f"[{it}/{args.iterations}] d_loss {gan.log[-2]:.4f} g_loss {gan.log[-1]:.4f}", flush=True)


if __name__ == "__main__":
    main()

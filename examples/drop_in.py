"""Drop a gan-mixup objective into a plain GAN training loop: three lines change.

The loop below is the PyTorch DCGAN example's (pytorch/examples, dcgan/main.py) shrunk to 2-D toy
data: its own G and D, its own Adam, its own "(1) update D / (2) update G". The lines marked
``CHANGED`` are the only ones that differ from the BCE version, which is kept beside each of them in
a comment; gan_mixup is imported for the objective and nothing else.

    python examples/drop_in.py --iterations 200
    python examples/drop_in.py --objective wgan-gp --iterations 2000 --d-steps 5

Samples start near the origin, at distance about 1 from ring8's modes on the unit circle; the
printed ``mode distance`` (mean distance from a fixed batch of samples to their nearest mode) falls
as G learns.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import nn

import toy_data
from gan_mixup import get_objective  # the one gan_mixup import

OBJECTIVES = ("mixup", "erm", "wgan-gp", "hinge", "lsgan", "r3gan")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objective", default="mixup", choices=OBJECTIVES, help="the gan-mixup objective (default mixup)")
    p.add_argument("--alpha", type=float, default=0.2, help="mixup's Beta(α, α) parameter (default 0.2, the paper's)")
    p.add_argument("--iterations", type=int, default=2000, help="generator iterations (default 2000)")
    p.add_argument("--d-steps", type=int, default=1, help="discriminator steps per generator step (default 1)")
    p.add_argument("--batch-size", type=int, default=128, help="real and fake samples per step (default 128)")
    p.add_argument("--hidden", type=int, default=128, help="width of G's and D's hidden layers (default 128)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of G and D (default 1e-3)")
    p.add_argument("--seed", type=int, default=0, help="seeds the networks, data, noise and the objective (default 0)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1: faster for networks this small)")
    p.add_argument("--log-every", type=int, default=100, help="iterations between printed lines; 0 prints none (default 100)")
    return p.parse_args(argv)


def mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_out)
    )


def mode_distance(samples: torch.Tensor, modes: torch.Tensor) -> float:
    """Mean distance from each sample ``(N, 2)`` to its nearest mode ``(K, 2)``."""
    return torch.cdist(samples, modes).min(dim=1).values.mean().item()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # networks, data and noise, as in the DCGAN example
    data = toy_data.ring8()
    netG = mlp(2, 2, args.hidden)  # noise (B, 2) -> points (B, 2)
    netD = mlp(2, 1, args.hidden)  # points (B, 2) -> one logit per point (B, 1)
    optimizerD = torch.optim.Adam(netD.parameters(), lr=args.lr, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=args.lr, betas=(0.5, 0.999))
    fixed_noise = torch.randn(1000, 2)

    # The objective draws its own random numbers (mixup's λ, WGAN-GP's ε) from this generator.
    options = {"mixup": {"alpha": args.alpha}, "wgan-gp": {}}.get(args.objective)
    options = {} if options is None else {**options, "generator": torch.Generator().manual_seed(args.seed)}
    objective = get_objective(args.objective, **options)  # CHANGED 1/3, was: criterion = nn.BCEWithLogitsLoss()

    with torch.no_grad():
        samples_start = netG(fixed_noise)
    start = time.perf_counter()
    for iteration in range(1, args.iterations + 1):
        ############################
        # (1) Update D network: tell real from fake (for BCE: maximize log(D(x)) + log(1 - D(G(z))))
        ###########################
        for _ in range(args.d_steps):
            real = data.sample(args.batch_size)
            fake = netG(torch.randn(args.batch_size, 2))
            netD.zero_grad()
            errD = objective.discriminator_loss(netD, real, fake.detach())  # CHANGED 2/3, was:
            # errD = criterion(netD(real), ones) + criterion(netD(fake.detach()), zeros)
            errD.backward()
            optimizerD.step()

        ############################
        # (2) Update G network: fool D (for BCE: maximize log(D(G(z))))
        ###########################
        # As in the DCGAN example, G's step reuses the last D step's fake batch, now through D's new weights.
        netG.zero_grad()
        errG = objective.generator_loss(netD, fake, real)  # CHANGED 3/3, was: errG = criterion(netD(fake), ones)
        errG.backward()
        optimizerG.step()

        if args.log_every and (iteration % args.log_every == 0 or iteration == args.iterations):
            with torch.no_grad():
                distance = mode_distance(netG(fixed_noise), data.modes)
            print(f"[{iteration}/{args.iterations}] Loss_D: {errD.item():.4f} Loss_G: {errG.item():.4f} "
                  f"mode distance: {distance:.4f}")

    with torch.no_grad():
        samples_end = netG(fixed_noise)
    return {
        "objective": objective.name,
        "iterations": args.iterations,
        "seconds": time.perf_counter() - start,
        "d_loss": errD.item(),
        "g_loss": errG.item(),
        "mode_distance_start": mode_distance(samples_start, data.modes),
        "mode_distance_end": mode_distance(samples_end, data.modes),
        "samples_start": samples_start,  # (1000, 2): G(fixed_noise) before training
        "samples_end": samples_end,  # (1000, 2): G(fixed_noise) after training
    }


if __name__ == "__main__":
    result = main()
    print(f"{result['objective']}: mode distance {result['mode_distance_start']:.3f} -> "
          f"{result['mode_distance_end']:.3f} in {result['seconds']:.1f} s")
    sys.exit(0)

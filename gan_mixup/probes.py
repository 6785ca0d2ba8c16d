"""What the discriminator tells the generator: the gradient of D's logit with respect to its input.

The paper argues that mixup stabilises GANs because it regularises D's gradients: a D trained on
convex combinations with soft targets cannot be steep between real and fake, so G gets a smooth
signal. These probes measure that at every snapshot: ``‖∇ₓ D(x)‖`` at real samples, at fake
samples, and at mixed points ``λ·real + (1−λ)·fake`` (λ ~ U(0, 1), the whole segment between them).
It is the logit's gradient (what R1 and WGAN-GP penalise); G's own loss gradient at a fake is this
vector times a factor in (0, 1] for the non-saturating and minimax losses, so its direction is
where G's next step pushes the sample.

Example:
    >>> D = torch.nn.Linear(2, 1)
    >>> norms = input_gradient_norms(D, torch.randn(5, 2))
    >>> bool(torch.allclose(norms, D.weight.norm().expand(5)))
    True
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from gan_mixup.objectives import logits_of

# Mixing weights of the "mixed" probe come from this fixed seed, never from a run's streams, so
# probing changes nothing in training and every run (ERM or mixup) is probed at the same λs.
MIXED_PROBE_SEED = 1710_09412


def logit_gradients(D: nn.Module, x: Tensor, chunk: int = 1024) -> Tensor:
    """``∇ₓ D(x)`` for each sample (shape of ``x``), in chunks of ``chunk`` samples; D's weights
    get no gradient and D's mode (train/eval) is left as it is."""
    grads = []
    with torch.enable_grad():
        for part in x.split(chunk):
            part = part.detach().float().requires_grad_(True)
            out = logits_of(D, part)
            if not out.requires_grad:  # D ignores its input
                grads.append(torch.zeros_like(part))
                continue
            (grad,) = torch.autograd.grad(out.sum(), part, allow_unused=True)
            grads.append(torch.zeros_like(part) if grad is None else grad)
    return torch.cat(grads) if grads else torch.zeros_like(x)


def input_gradient_norms(D: nn.Module, x: Tensor) -> Tensor:
    """``‖∇ₓ D(x)‖₂`` per sample, over all of a sample's dimensions: shape ``(B,)``."""
    return logit_gradients(D, x).flatten(1).norm(dim=1)


def mixed_points(real: Tensor, fake: Tensor) -> Tensor:
    """``λ·real_i + (1−λ)·fake_i`` for the first ``min(len(real), len(fake))`` pairs, λ ~ U(0, 1)
    from ``MIXED_PROBE_SEED``."""
    n = min(len(real), len(fake))
    lam = torch.rand(n, generator=torch.Generator().manual_seed(MIXED_PROBE_SEED)).to(real.device, real.dtype)
    return torch.lerp(fake[:n], real[:n], lam.view(-1, *([1] * (real.dim() - 1))))


def discriminator_gradient_norms(D: nn.Module, real: Tensor, fake: Tensor) -> dict[str, np.ndarray]:
    """Per-sample ``‖∇ₓ D‖`` at ``real``, ``fake`` and their mixes: ``{"real", "fake", "mixed"}``.

    Non-finite fakes (a diverged G) give non-finite norms; ``gradient_summary`` leaves them out.
    """
    real = real.float()
    fake = fake.float()
    return {
        "real": input_gradient_norms(D, real).cpu().numpy(),
        "fake": input_gradient_norms(D, fake).cpu().numpy(),
        "mixed": input_gradient_norms(D, mixed_points(real, fake)).cpu().numpy(),
    }


def gradient_summary(norms: dict[str, np.ndarray]) -> dict[str, float]:
    """Summarise ``gan_mixup.probes.discriminator_gradient_norms``: the mean finite norm at each sort
    of point, ``d_grad_real``, ``d_grad_fake``, ``d_grad_mixed`` (NaN where no norm is finite)."""
    out = {}
    for where, values in norms.items():
        values = np.asarray(values, dtype=np.float64)
        finite = values[np.isfinite(values)]
        out[f"d_grad_{where}"] = float(finite.mean()) if len(finite) else float("nan")
    return out

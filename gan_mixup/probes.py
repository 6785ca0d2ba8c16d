"""What the discriminator tells the generator: the gradient of D's logit with respect to its input.

The paper argues that mixup stabilises GANs because it regularises D's gradients: a D trained on
convex combinations with soft targets cannot be steep between real and fake, so G gets a smooth
signal. These probes measure that at every snapshot: ``‖∇ₓ D(x)‖`` at real samples, at fake
samples, and at mixed points ``λ·real + (1−λ)·fake`` (λ ~ U(0, 1), the whole segment between them).
It is the logit's gradient (what R1 and WGAN-GP penalise); G's own loss gradient at a fake is this
vector times a factor in (0, 1] for the non-saturating and minimax losses, so its direction is
where G's next step pushes the sample.

The calibration probe (``calibration_curve``) reads the same argument off D's outputs instead: the
mean ``σ(D(λ·x + (1−λ)·G(z)))`` on a fixed grid of 11 λ from the fake end to the real end, and its
distance from the line λ that mixup's target draws.

Example:
    >>> D = torch.nn.Linear(2, 1)
    >>> norms = input_gradient_norms(D, torch.randn(5, 2))
    >>> bool(torch.allclose(norms, D.weight.norm().expand(5)))
    True
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

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


# ----- calibration: D along the segment from fake to real ------------------------------------------
#
# The paper's argument as a curve: a D trained with mixup on λ·x + (1−λ)·G(z) with target λ should
# answer λ everywhere on the segment, so σ(D) rises linearly from the fake end (λ = 0) to the real
# end (λ = 1), where an ERM D is free to answer anything between its ends (a step, a trough). The probe's noise comes from
# its own seed, never from a run's streams, so probing changes nothing in training and every run is
# probed with the same noise.
CALIBRATION_PROBE_SEED = 1710_09413
CALIBRATION_LAMBDAS = tuple(i / 10 for i in range(11))  # 0, 0.1, ..., 1: the fake end first
CALIBRATION_PROBE_SAMPLES = 128  # real-fake pairs per λ (a D forward of 11 x 128 samples per metric snapshot)
# The scalars a metric snapshot records (registered in gan_mixup.metric_registry) and the curves
# (lists, one value per λ of CALIBRATION_LAMBDAS) beside them.
CALIBRATION_METRICS = ("calibration_gap", "calibration_slope_fake", "calibration_slope_real")
CALIBRATION_CURVES = ("calibration_curve", "calibration_logits")


def calibration_noise(n: int, latent_dim: int, device: torch.device | str = "cpu") -> Tensor:
    """The probe's G input: ``(n, latent_dim)`` standard normal noise from ``CALIBRATION_PROBE_SEED``,
    drawn on the CPU (the same values on every device) and then moved to ``device``."""
    noise = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(CALIBRATION_PROBE_SEED))
    return noise.to(device)


@contextmanager
def buffers_kept(module: nn.Module) -> Iterator[None]:
    """Restore every buffer of ``module`` (BatchNorm's running statistics and count, spectral norm's
    power-iteration vectors) to its values before the block: a forward in ``train()`` mode updates
    them in place, and a probe must leave training exactly as it found it."""
    saved = [(buffer, buffer.detach().clone()) for buffer in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


@torch.no_grad()
def calibration_curve(D: nn.Module, real: Tensor, fake: Tensor,
                      lambdas: Sequence[float] = CALIBRATION_LAMBDAS) -> tuple[np.ndarray, np.ndarray]:
    """D along the segments from ``fake`` to ``real``: for each λ of ``lambdas``, the mean over the
    first ``min(len(real), len(fake))`` pairs of ``σ(D(λ·real_i + (1−λ)·fake_i))`` and of the raw
    output ``D(·)``; two arrays of shape ``(len(lambdas),)``.

    One D forward per λ (a batch of mixes at one λ, as D's training batches are). D's mode is left
    as it is (``calibration_probe`` chooses BatchNorm's for a snapshot), its buffers are restored
    after (``buffers_kept``), and torch's global RNG is forked, so even a D in ``train()`` mode with
    dropout changes nothing.
    Outputs that are NaN (a diverged G) are left out of the means; a λ with none left gets NaN.

    Example:
        >>> D = torch.nn.Linear(2, 1)
        >>> _ = torch.nn.init.zeros_(D.weight), torch.nn.init.zeros_(D.bias)  # D = 0: σ(D) = 1/2 everywhere
        >>> sigma, raw = calibration_curve(D, torch.ones(4, 2), torch.zeros(4, 2))
        >>> sigma.tolist() == [0.5] * 11 and raw.tolist() == [0.0] * 11
        True
    """
    n = min(len(real), len(fake))
    real, fake = real[:n].float(), fake[:n].float()
    devices = [real.device.index or 0] if real.device.type == "cuda" else []
    sigma, raw = [], []
    with torch.random.fork_rng(devices=devices), buffers_kept(D):
        for lam in lambdas:
            # lerp is exact at its ends: λ = 0 gives the fakes and λ = 1 the reals, bit for bit
            # means in float64 on the CPU: no float64 on an accelerator (MPS has none)
            out = logits_of(D, torch.lerp(fake, real, float(lam))).float().cpu().double()
            kept = out[~torch.isnan(out)]
            sigma.append(float(torch.sigmoid(kept).mean()) if kept.numel() else math.nan)
            finite = kept[torch.isfinite(kept)]
            raw.append(float(finite.mean()) if finite.numel() else math.nan)
    return np.array(sigma), np.array(raw)


def calibration_summary(curve: Sequence[float], lambdas: Sequence[float] = CALIBRATION_LAMBDAS) -> dict[str, float]:
    """The scalars of a calibration ``curve`` (``calibration_curve``'s σ means on ``lambdas``):

    - ``calibration_gap``: mean over the grid of ``|curve(λ) − λ|``, the distance from the line a
      D trained with mixup's target aims at (0: on it; 2/11 on this grid: a sharp step at λ = 0.5;
      3/11: ½ everywhere);
    - ``calibration_slope_fake``, ``calibration_slope_real``: the one-sided finite-difference slopes
      over the grid's first and last steps, ``(curve(λ₁) − curve(λ₀)) / (λ₁ − λ₀)`` at the fake end
      and ``(curve(λ_K) − curve(λ_{K−1})) / (λ_K − λ_{K−1})`` at the real end; the line has slope 1,
      a D saturated at the ends (the ERM picture) slope near 0.

    NaN in the curve gives NaN scalars.

    Example:
        >>> s = calibration_summary([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
        >>> round(s["calibration_gap"], 12), round(s["calibration_slope_fake"], 12), round(s["calibration_slope_real"], 12)
        (0.0, 1.0, 1.0)
    """
    c = np.asarray(curve, dtype=np.float64)
    lam = np.asarray(lambdas, dtype=np.float64)
    return {"calibration_gap": float(np.abs(c - lam).mean()),
            "calibration_slope_fake": float((c[1] - c[0]) / (lam[1] - lam[0])),
            "calibration_slope_real": float((c[-1] - c[-2]) / (lam[-1] - lam[-2]))}


def calibration_record(D: nn.Module, real: Tensor, fake: Tensor) -> dict[str, Any]:
    """What a metric snapshot records of the probe: the curves ``calibration_curve`` (mean σ(D)) and
    ``calibration_logits`` (mean raw output) as lists on ``CALIBRATION_LAMBDAS`` (NaN as ``None``,
    since they are JSON), and ``calibration_summary``'s scalars of the σ curve."""
    sigma, raw = calibration_curve(D, real, fake)
    return {"calibration_curve": _json_list(sigma), "calibration_logits": _json_list(raw),
            **calibration_summary(sigma)}


def calibration_probe(G: nn.Module, D: nn.Module, real: Tensor, latent_dim: int,
                      batch_statistics: bool = True) -> dict[str, Any]:
    """The calibration probe of a snapshot (``calibration_record``): D along the segments from
    ``G(calibration_noise)`` to the first ``CALIBRATION_PROBE_SAMPLES`` of ``real`` (the run's fixed
    reference samples, the same at every snapshot).

    G draws the fakes in the mode the caller set (a snapshot's: eval, as its samples are drawn). D's
    BatchNorm layers normalise each λ's batch by its own statistics with ``batch_statistics``, as D
    runs in training and in G's step (``g_step_batchnorm="batch"``), since running statistics
    (eval mode) can give a D that training sees telling reals from fakes the same answer for both;
    their modes and buffers are restored after. Without ``batch_statistics``, or where D holds a
    ``SyncBatchNorm`` (a collective that the other processes of a multi-process run would never
    enter: only the first one snapshots), D runs in the mode the caller set.
    """
    n = min(CALIBRATION_PROBE_SAMPLES, len(real))
    with torch.no_grad():
        fake = G(calibration_noise(n, latent_dim, real.device)).float()
    with _batchnorm_training(D, batch_statistics):
        return calibration_record(D, real[:n], fake)


@contextmanager
def _batchnorm_training(D: nn.Module, on: bool) -> Iterator[None]:
    """With ``on``, D's BatchNorm layers in training mode (batch statistics) for the block, each
    one's own mode restored after; nothing else changes mode (a dropout layer stays as it is)."""
    layers = [m for m in D.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not on or any(isinstance(m, nn.SyncBatchNorm) for m in layers):
        layers = []
    modes = [m.training for m in layers]
    for layer in layers:
        layer.train()
    try:
        yield
    finally:
        for layer, mode in zip(layers, modes):
            layer.train(mode)


def _json_list(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]

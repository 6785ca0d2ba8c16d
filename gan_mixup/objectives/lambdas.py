"""The mixing weight λ: Beta(α, α) samples drawn from a caller's ``torch.Generator``.

On the CPU λ is drawn in float64 (torch's Gamma sampler, or Marsaglia–Tsang in log space for
α < 0.01); on any other device in float32 with all of Marsaglia–Tsang's proposals at once, so no
float64 reaches a device that lacks it (Apple's MPS) and no host sync happens per draw.
``_draws_float64_on`` is the one place that decides which.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def _draws_float64_on(device: torch.device) -> bool:
    """Whether λ is drawn in float64 on ``device``: on the CPU only (MPS has no float64, a GPU is slow at it)."""
    return device.type == "cpu"


def sample_beta(alpha: float, n: int, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Beta(α, α) samples from ``generator``: λ = X / (X + Y) with X, Y ~ Gamma(α, 1).

    ``torch.distributions.Beta`` takes no generator, so we draw the Gammas ourselves. On the CPU we
    draw in float64: for α ≥ 0.01 torch's own float64 Gamma sampler is exact and fast. Below that
    its samples underflow (at α = 1e-3 a quarter of the λ's land in (0.01, 0.99) instead of 0.4%),
    so we sample log X and log Y with Marsaglia–Tsang and take λ = sigmoid(log X − log Y), which
    never underflows. On any other device (``generator`` lives there too) we draw in float32
    (``_sample_beta_float32``): Apple's MPS has no float64 at all, and on a GPU float64 is slow.
    """
    if not _draws_float64_on(device):
        return _sample_beta_float32(alpha, n, generator, device).to(dtype)
    if alpha >= 0.01:
        concentration = torch.full((2, n), alpha, dtype=torch.float64, device=device)
        x, y = torch._standard_gamma(concentration, generator=generator)
        return (x / (x + y)).to(dtype)
    log_x = _log_gamma_sample(alpha, n, generator, device)
    log_y = _log_gamma_sample(alpha, n, generator, device)
    return torch.sigmoid(log_x - log_y).to(dtype)


def _log_gamma_sample(alpha: float, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """log of Gamma(α, 1) samples, Marsaglia & Tsang (2000), vectorised with rejection in rounds."""
    boost = alpha < 1
    a = alpha + 1.0 if boost else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = torch.empty(n, dtype=torch.float64, device=device)
    todo = torch.arange(n, device=device)
    while todo.numel() > 0:
        m = todo.numel()
        # Draw a few extra candidates per round; acceptance is > 95% for every a ≥ 1.
        k = m + 8
        z = torch.randn(k, generator=generator, device=device, dtype=torch.float64)
        u = torch.rand(k, generator=generator, device=device, dtype=torch.float64)
        v = (1.0 + c * z) ** 3
        ok = (v > 0) & (torch.log(u.clamp_min(1e-300)) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp_min(1e-300)))
        accepted = torch.log(d * v[ok])[:m]
        take = accepted.numel()
        out[todo[:take]] = accepted
        todo = todo[take:]
    if boost:
        u = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
        out = out + torch.log(u.clamp_min(1e-300)) / alpha
    return out


# Marsaglia–Tsang proposals per sample in the float32 sampler. Each is accepted with probability
# above 0.95 (for every shape a ≥ 1), so a sample with none accepted has probability < 0.05**16 ≈ 1.5e-21.
_PROPOSALS = 16


def _sample_beta_float32(alpha: float, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """Beta(α, α) samples in float32, λ = sigmoid(log X − log Y), for devices without (fast) float64.

    Log space keeps every α exact to float32 rounding: the Gammas themselves underflow float32 for
    small α (at α = 0.01 four in ten are below its smallest normal), their logs never do. Only
    float32 ops that every torch device has (Apple's MPS included), and no host sync.
    """
    log_x, log_y = _log_gamma_float32(alpha, 2 * n, generator, device).chunk(2)
    return torch.sigmoid(log_x - log_y)


def _log_gamma_float32(alpha: float, n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """log of Gamma(α, 1) samples in float32: Marsaglia & Tsang (2000) with ``_PROPOSALS`` at once.

    The float64 sampler's rounds of rejection read how many samples are left, a host sync per round
    on a GPU; here each sample gets all its proposals in one draw and keeps an accepted one. Which
    accepted proposal it keeps depends only on the accept pattern, not on the values, so the kept
    value has exactly the Gamma distribution. (With none accepted it keeps a rejected proposal.)
    """
    boost = alpha < 1  # Gamma(α) = Gamma(α + 1) · U^(1/α): the proposals need a shape ≥ 1
    a = alpha + 1.0 if boost else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    tiny = torch.finfo(torch.float32).tiny  # log(0) guard: float32 rand does return 0
    z = torch.randn(_PROPOSALS, n, generator=generator, device=device, dtype=torch.float32)
    u = torch.rand(_PROPOSALS, n, generator=generator, device=device, dtype=torch.float32)
    v = (1.0 + c * z) ** 3
    log_v = torch.log(v.clamp_min(tiny))
    ok = (v > 0) & (torch.log(u.clamp_min(tiny)) < 0.5 * z * z + d - d * v + d * log_v)
    kept = ok.float().argmax(dim=0, keepdim=True)  # (1, n): an accepted proposal's index (the first, on the CPU and CUDA)
    out = (math.log(d) + log_v).gather(0, kept).squeeze(0)
    if boost:
        u = torch.rand(n, generator=generator, device=device, dtype=torch.float32)
        out = out + torch.log(u.clamp_min(tiny)) / alpha
    return out


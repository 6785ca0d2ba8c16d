"""Mixed precision (``--amp``): where bfloat16 autocast pays, and the autocast context for a device.

On CUDA autocast is allowed on every GPU (from Ampere on they run bfloat16 natively). On a CPU,
torch's bfloat16 kernels are fast only where the hardware has bfloat16 instructions (x86 AVX512-BF16
or AMX, Arm's BF16 extension); elsewhere each bfloat16 op is emulated through float32 conversions and runs slower than
float32 itself, so ``--amp`` is refused there.

Example:
    >>> import torch
    >>> from gan_mixup.precision import amp_refusal, autocast
    >>> amp_refusal(torch.device("cuda")) is None
    True
    >>> device = torch.device("cpu")
    >>> with autocast(device, enabled=amp_refusal(device) is None):  # doctest: +SKIP
    ...     fake = G(noise)  # bfloat16 out of G's last layer
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

# The capability names torch.cpu.get_capabilities() (cpuinfo) gives a CPU with native bfloat16:
# x86's AVX512-BF16 dot products and AMX tiles, and Arm's BF16 (BFMMLA) or SVE-BF16.
NATIVE_BF16 = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")


def cpu_native_bf16() -> str | None:
    """The first instruction set of ``NATIVE_BF16`` this CPU has (e.g. ``"avx512_bf16"``), or ``None``.

    Uses ``torch.cpu.get_capabilities()`` (public since torch 2.9); older torch asks the same
    cpuinfo through ``torch.cpu._is_avx512_bf16_supported`` / ``_is_amx_tile_supported``, which
    see x86 only.
    """
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is not None:
        capabilities = get_capabilities()
        return next((name for name in NATIVE_BF16 if capabilities.get(name) is True), None)
    if getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)():
        return "avx512_bf16"
    if getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)():
        return "amx_bf16"  # every AMX CPU so far (Sapphire Rapids on) has AMX-BF16 with its tiles
    return None


def amp_refusal(device: torch.device) -> str | None:
    """Why ``--amp`` cannot run on ``device`` (one sentence), or ``None`` when it can."""
    if device.type == "cuda":
        return None
    if device.type == "cpu":
        if cpu_native_bf16() is None:
            return ("--amp needs a CPU with native bfloat16 (AVX512-BF16 or AMX on x86, BF16 on Arm) or a CUDA "
                    "device: this CPU has none, and emulated bfloat16 trains slower than float32")
        return None
    return f"--amp runs on CUDA or on a CPU with native bfloat16, not on {device.type}"


def autocast(device: torch.device, enabled: bool) -> AbstractContextManager:
    """bfloat16 autocast on ``device`` when ``enabled`` (a no-op context otherwise)."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else nullcontext()

"""Process settings a run holds while it trains: denormal flushing, malloc's reuse of freed memory,
signals, the progress bar."""
from __future__ import annotations

import ctypes
import functools
import platform
import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import torch


@contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[None]:
    """Flush denormal floats to zero for the block, then restore the previous setting.

    Deep into a run, tiny gradients and Adam moments become denormal, and on many x86 CPUs every
    operation that touches one is many times slower. Flushing them to zero changes only results
    below 1.2e-38 (the low bits of a run, so a run with and without differs after a while, though
    each is reproducible). ``torch.set_flush_denormal`` sets the calling thread's FPU flags only,
    so torch's other intra-op threads keep denormals; the setting is restored on exit, so the
    caller's process state is left as it was.
    """
    if not enabled:
        yield
        return
    before = denormals_flushed()
    supported = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(before)


def denormals_flushed() -> bool:
    """Whether this thread flushes denormal floats to zero (1e-30 * 1e-9 is denormal in float32)."""
    return float((torch.tensor([1e-30]) * 1e-9).item()) == 0.0


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's malloc.h
_KEPT = 32 << 20  # glibc's ceiling for the mmap threshold (HEAP_MAX_SIZE / 2 on 64-bit)


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed blocks of up to 32 MB for reuse, for the rest of the process.

    By default glibc serves large blocks with ``mmap`` and trims freed memory back to the kernel, so
    a training step that allocates the same activations every iteration touches fresh pages each
    time: the lockstep step at width 128 with 8 members took 740 page faults per iteration (33 with
    this setting), several milliseconds in a VM. Raising ``M_MMAP_THRESHOLD`` to 32 MB and
    ``M_TRIM_THRESHOLD`` to 1 GB keeps the memory in the heap (the process holds on to its peak
    heap, as jemalloc and tcmalloc do). It changes no result. Returns whether it applied: on a
    libc other than glibc (macOS, musl) it does nothing.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEPT)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False


# The signals a run answers with a checkpoint and a clean stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, *((signal.SIGUSR2,) if hasattr(signal, "SIGUSR2") else ()))


@contextmanager
def signals_to_flag(enabled: bool) -> Iterator[list[str]]:
    """While active, SIGINT/SIGTERM (and SIGUSR2, which submitit and Slurm's ``--signal=USR2@90``
    send before a time limit or a preemption) append their name to the yielded list instead of
    killing us, so the loop can finish the iteration, checkpoint, and stop cleanly."""
    flag: list[str] = []
    if not enabled or not _in_main_thread():
        yield flag
        return
    previous = {}

    def handler(signum: int, _frame: Any) -> None:
        flag.append(signal.Signals(signum).name)

    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, handler)
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def progress_bar(enabled: bool, total: int, initial: int, description: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm  # tqdm.auto probes for notebooks: slow to import, and only a progress bar needs it

    return tqdm(total=total, initial=initial, desc=description, unit="it", dynamic_ncols=True, mininterval=0.5)


class Progress:
    """The loop's progress bar (tqdm), or nothing at all when it is off."""

    def __init__(self, enabled: bool, total: int, initial: int, description: str) -> None:
        self.bar = progress_bar(enabled, total, initial, description)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.close()

    def advance(self, logged: dict[str, Any] | None = None) -> None:
        """One iteration done; ``logged``: its ``"train"`` record, whose losses the bar shows."""
        if self.bar is None:
            return
        if logged is not None:
            self.bar.set_postfix(d_loss=f"{logged['d_loss']:.3f}", g_loss=f"{logged['g_loss']:.3f}", refresh=False)
        self.bar.update(1)

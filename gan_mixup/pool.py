"""Worker processes, one way for the whole package: how they start, how Ctrl-C reaches them, and
mapping chunks of work over a pool (render's frames; the sweep starts its own job processes from
the same context, see ``gan_mixup.sweeps._run_in_pool``).

Not "fork": the caller may hold torch's thread pools (render right after training), and forking a
multi-threaded process can deadlock a child. A forkserver forks clean children from one server that
has imported the preloaded modules once, so each worker starts in milliseconds. Like any
spawn/forkserver pool, it needs the calling script's ``if __name__ == "__main__":`` guard.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np


def process_context(preload: Sequence[str] = ()) -> Any:
    """The multiprocessing context for worker processes: the forkserver where there is one (with
    ``preload`` imported once in the server), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver" and preload:
        context.set_forkserver_preload(list(preload))
    return context


def pid_alive(pid: int) -> bool:
    """Whether a process with id ``pid`` runs on this machine (another user's counts; an id out of range
    is no process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except (OverflowError, ValueError):
        return False
    return True


def available_cpus() -> int:
    """The CPUs this process may run on (a container or taskset may allow fewer than the machine has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread for the block. Processes started inside it (and the forkserver,
    started by the first of them) inherit the mask: a Ctrl-C reaches only this process, which stops
    its workers, instead of one traceback per child. A Ctrl-C that came meanwhile is delivered after."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def map_chunks(fn: Callable[..., list[Any]], shared: tuple[Any, ...], jobs: list[Any], workers: int, *,
               preload: Sequence[str] = ()) -> list[Any]:
    """Run ``fn(*shared, chunk)`` over contiguous chunks of ``jobs``: in this process as one chunk
    (``workers == 1``), or in a process pool, two chunks per worker to even out the load; the
    forkserver imports ``fn``'s module and ``preload`` once for all workers. Returns the lists ``fn``
    returned, concatenated in job order; a worker's exception is raised here."""
    if workers == 1:
        return list(fn(*shared, jobs))
    context = process_context([fn.__module__, *preload])
    bounds = np.linspace(0, len(jobs), min(len(jobs), 2 * workers) + 1).astype(int)
    chunks = [jobs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    results: list[Any] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        with sigint_blocked():
            futures = [pool.submit(fn, *shared, chunk) for chunk in chunks]
        for future in futures:
            results.extend(future.result())
    return results

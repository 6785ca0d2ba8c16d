"""Timing whole training processes from their own progress output, start-up cancelled.

``timed_progress`` runs a command, timestamps each iteration count its output reports as the bytes
arrive, and kills the process once it reports ``last``; the rate between ``first`` and ``last``
leaves out imports, building the models, data loading and whatever the first iterations cost.
"""
from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

TQDM_COUNT = re.compile(r"(\d+)/(\d+) \[")


def tqdm_count(text: str) -> int | None:
    """Iterations completed, as a tqdm bar (``  12%|█▏   | 120/1000 [...``) reports them."""
    matches = TQDM_COUNT.findall(text)
    return int(matches[-1][0]) if matches else None


def timed_progress(command: list[str], env: dict[str, str], count: Callable[[str], int | None], first: int,
                   last: int, timeout: float, cwd: Path | None = None) -> dict:
    """Run ``command``; ``count`` reads the iterations completed from one line of its output (stdout
    split on newlines, stderr also on carriage returns, as progress bars redraw). Returns the
    iterations it was seen at (``from``, ``to``), the seconds between them, the rate (``it_s``) and
    the seconds until ``from`` (``startup_s``). Raises ``RuntimeError`` if it never reaches ``last``."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=str(cwd) if cwd else None, start_new_session=True)
    seen: dict[int, float] = {}
    done = threading.Event()
    tail: list[str] = []

    def read(stream, split: bytes) -> None:
        buffer = b""
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(1)
            if not chunk:
                break
            now = time.perf_counter()
            buffer += chunk
            *pieces, buffer = re.split(split, buffer)
            for piece in pieces:
                text = piece.decode(errors="replace")
                tail.append(text)
                del tail[:-20]
                iteration = count(text)
                if iteration is not None and iteration not in seen:
                    seen[iteration] = now
                    if iteration >= last:
                        done.set()

    readers = [threading.Thread(target=read, args=(process.stdout, rb"\n"), daemon=True),
               threading.Thread(target=read, args=(process.stderr, rb"[\r\n]"), daemon=True)]
    for reader in readers:
        reader.start()
    start = time.perf_counter()
    while not done.wait(0.2):
        if process.poll() is not None or time.perf_counter() - start > timeout:
            break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    reached = [i for i in seen if i >= last]
    begun = [i for i in seen if i >= first]
    if not reached or not begun:
        raise RuntimeError(f"{command[0]} did not reach iteration {last} (last output: {' | '.join(tail[-3:])[-400:]})")
    a, b = min(begun), min(reached)
    seconds = seen[b] - seen[a]
    return {"from": a, "to": b, "seconds": seconds, "it_s": (b - a) / seconds, "startup_s": seen[a] - start}


def rate_table(runs: dict[str, list[dict]], digits: int = 2) -> tuple[dict[str, float], dict[str, float]]:
    """Print the Markdown table of each contender's median and best ``it_s`` over its runs
    (``timed_progress`` results); returns the medians and the bests by name."""
    median = {name: statistics.median(r["it_s"] for r in rs) for name, rs in runs.items()}
    best = {name: max(r["it_s"] for r in rs) for name, rs in runs.items()}
    print("| contender | median it/s | best it/s |\n|---|---|---|")
    for name in runs:
        print(f"| {name} | {median[name]:.{digits}f} | {best[name]:.{digits}f} |")
    return median, best

"""The benchmarks' one harness: how every script in ``benchmarks/`` times, names the machine and reports.

- The machine: ``cpu_model`` (from /proc/cpuinfo) and ``machine``; ``cpu_line`` is printed beside every
  figure, because a rate means nothing without the CPU it was measured on.
- Disturbance: ``OtherLoad`` reads from /proc how many cores *other* processes kept busy during a block;
  a block with ``CLEAN`` cores or more is disturbed. ``summarise`` gives the best and the median of the
  undisturbed blocks.
- Side by side: ``alternate`` times the contenders in blocks, in rotation (the first contender moves one
  along every round), on the same cores, so a slow minute of a shared machine slows them all.
- Steady state: ``TrainerThread`` runs ``train`` in a thread, paused at a log record between blocks, so a
  block of a long run holds exactly what ``train`` does; ``lend_state`` lends the ``RunState`` it builds.
- Processes: ``timed_progress`` times a process from its own progress output; ``sustained_rates`` from
  two run lengths; both cancel start-up.
- Reports: ``table`` (aligned columns), ``rate_table`` (Markdown), ``positive`` (flag checks), ``fail``
  (one error line, exit 2), ``write_json``.

Example:
    >>> blocks = alternate({"a": lambda: 2.0, "b": lambda: 1.0}, rounds=1, max_seconds=5.0)  # doctest: +SKIP
    >>> summarise(blocks["a"])["best"]  # doctest: +SKIP
    2.0
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from gan_mixup.training import StopTraining, denormals_flushed, train  # noqa: E402

CLEAN = 0.1  # a block is undisturbed when other processes used less than this many cores during it
SIDE_BY_SIDE = "measured side by side in alternating blocks, same cores"


# ----- the machine ----------------------------------------------------------------------------

def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_features() -> str:
    """The CPU's AVX-512, bfloat16 and matrix units, as /proc/cpuinfo names them ('' elsewhere): a
    ratio measured with AMX does not carry over to a CPU without it."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        return ""
    found = [name for name in ("avx512f", "avx512_bf16", "amx_bf16") if name in flags]
    return ", ".join(found) if found else "no AVX-512"


def machine() -> dict:
    """What a reader needs to compare two runs of a benchmark."""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "cpu": cpu_model(), "features": cpu_features(), "cpu_count": cpu_count(), "python": platform.python_version()}


def cpu_line(threads: int | None = None) -> str:
    """``CPU: <model> (<features>), N cores, T torch threads, torch V``: printed beside every figure."""
    threads = torch.get_num_threads() if threads is None else threads
    return (f"CPU: {cpu_model()} ({cpu_features()}), {cpu_count()} cores, {threads} torch thread{'s' * (threads != 1)}, "
            f"torch {torch.__version__}")


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ----- disturbance ----------------------------------------------------------------------------

def busy_seconds() -> float:
    """CPU seconds all processes spent busy (all but idle and iowait), from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return math.nan
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds of ``pids`` and all their live descendants."""
    ticks, children, stats = os.sysconf("SC_CLK_TCK"), {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, list(pids)
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += (int(stats[pid][11]) + int(stats[pid][12])) / ticks
        todo += children.get(pid, [])
    return total


class OtherLoad:
    """Cores kept busy by *other* processes while a block ran: all CPU time (/proc/stat) less our own
    (with ``children``, also our finished children's; with ``pids``, that of those process trees).
    A context manager, or ``start()`` / ``stop()`` for a block that spans calls."""

    def __init__(self, children: bool = False, pids: list[int] | None = None) -> None:
        self.children, self.pids = children, pids
        self.cores = math.nan

    def start(self) -> "OtherLoad":
        self._start = self._sample()
        return self

    def stop(self) -> float:
        end = self._sample()
        elapsed = end[2] - self._start[2]
        other = (end[0] - self._start[0]) - (end[1] - self._start[1])
        self.cores = max(0.0, other / elapsed) if elapsed > 0 else 0.0
        return self.cores

    def __enter__(self) -> "OtherLoad":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _sample(self) -> tuple[float, float, float]:
        if self.pids is not None:
            own = tree_cpu_seconds(self.pids)
        else:
            t = os.times()
            own = t.user + t.system + (t.children_user + t.children_system if self.children else 0.0)
        return busy_seconds(), own, time.perf_counter()


def summarise(blocks: list[tuple[float, float]]) -> dict:
    """Best and median rate of the undisturbed blocks (of all blocks when none was undisturbed)."""
    clean = [rate for rate, other in blocks if other < CLEAN]
    use = clean or [rate for rate, _ in blocks]
    return {"best": max(use), "median": statistics.median(use), "clean": len(clean), "blocks": len(blocks),
            "all": [{"rate": rate, "other_cores": other} for rate, other in blocks]}


# ----- side by side ---------------------------------------------------------------------------

def alternate(timers: dict[Any, Callable[[], float]], *, rounds: int, max_seconds: float, max_rounds: int | None = None,
              min_rounds: int = 2, meter: Callable[[], Any] = OtherLoad,
              on_block: Callable[[int, Any, float, float], None] | None = None) -> dict[Any, list[tuple[float, float]]]:
    """Time one block of each contender per round, in rotation: round r starts at contender r mod n.

    Each timer runs one block and returns its rate. Stops when every contender has ``rounds``
    undisturbed blocks, after ``max_rounds`` rounds, or once ``max_seconds`` passed (after at least
    ``min_rounds`` rounds). ``meter()`` measures a block's disturbance (a context manager with
    ``cores``); ``on_block(round, name, rate, cores)`` hears of each block. Returns ``{name: [(rate,
    other processes' cores), ...]}`` in round order, so ``zip`` of two lists pairs adjacent blocks.
    """
    names = list(timers)
    blocks: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    deadline, r = time.perf_counter() + max_seconds, 0
    while not (min(sum(other < CLEAN for _, other in b) for b in blocks.values()) >= rounds
               or (max_rounds is not None and r >= max_rounds) or (r >= min_rounds and time.perf_counter() > deadline)):
        for name in names[r % len(names):] + names[: r % len(names)]:
            with meter() as load:
                rate = timers[name]()
            blocks[name].append((rate, load.cores))
            if on_block is not None:
                on_block(r, name, rate, load.cores)
        r += 1
    return blocks


def steps_per_second(step: Callable[[], Any], iterations: int, max_seconds: float = math.inf) -> float:
    """Rate of up to ``iterations`` calls of ``step`` (fewer once ``max_seconds`` passed, so a block that
    other processes slow down cannot run for minutes)."""
    done, start = 0, time.perf_counter()
    while done < iterations and time.perf_counter() - start < max_seconds:
        step()
        done += 1
    return done / (time.perf_counter() - start)


@contextmanager
def flush_denormal_set(enabled: bool) -> Iterator[None]:
    """This thread's flush-to-zero mode set to ``enabled`` for the block, restored after."""
    before = denormals_flushed()
    torch.set_flush_denormal(enabled)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


# ----- steady state: train() paused between blocks ----------------------------------------------

class TrainerThread:
    """``train(config, run_dir=None)`` in a thread of its own, paused at a log record between blocks.

    ``train`` hands its callbacks a record every ``log_every`` iterations. At the first record at or
    past the block's end, the callback notes (iteration, time), wakes the caller and waits; the next
    ``block`` lets it go on, and the block's time runs from there to the next stop, so it holds
    everything ``train`` does (flush-to-zero in its thread, non-finite checks, logging). Only one
    thread computes at a time. torch's intra-op thread count is set in the thread.
    """

    def __init__(self, config: Any, threads: int) -> None:
        self.config, self.threads = config, threads
        self._go, self._paused = threading.Semaphore(0), threading.Semaphore(0)
        self._thread = threading.Thread(target=self._main, name=f"train-{config.objective}", daemon=True)
        self._target, self._deadline, self._stop = 0, math.inf, False
        self._start = self._end = (0, 0.0)
        self.error: BaseException | None = None
        self.flushed: bool | None = None  # denormals_flushed() inside train

    @property
    def iteration(self) -> int:
        """The iteration ``train`` is paused at."""
        return self._end[0]

    def _main(self) -> None:
        torch.set_num_threads(self.threads)
        try:
            train(self.config, run_dir=None, callbacks=[self._on_record])
        except BaseException as err:  # handed to the caller by block()
            self.error = err
        finally:
            self._stop = True
            self._paused.release()

    def _on_record(self, record: dict) -> None:
        now = time.perf_counter()
        if record.get("kind") != "train" or (record["iteration"] < self._target and now < self._deadline):
            return
        self._end = (record["iteration"], now)
        self.flushed = denormals_flushed()
        self._paused.release()
        self._go.acquire()
        if self._stop:
            raise StopTraining
        self._start = (record["iteration"], time.perf_counter())

    def block(self, iterations: int, max_seconds: float = math.inf) -> float:
        """Train ``iterations`` more (to the next log record at or past them, or ``max_seconds``);
        return the block's generator iterations per second. The first call starts the run."""
        self._target = self._end[0] + iterations
        self._deadline = time.perf_counter() + max_seconds
        if not self._thread.is_alive() and self._end[0] == 0 and not self._stop:
            self._start = (0, time.perf_counter())
            self._thread.start()
        else:
            self._go.release()
        self._paused.acquire()
        if self.error is not None:
            raise self.error
        if self._stop:
            raise RuntimeError(f"{self._thread.name} ended before its block")
        return (self._end[0] - self._start[0]) / (self._end[1] - self._start[1])

    def close(self) -> None:
        if self._thread.is_alive():
            self._stop = True
            self._go.release()
            self._thread.join()


@contextmanager
def lend_state() -> Iterator[list]:
    """Lend the caller the ``RunState`` that ``train`` builds inside itself (read-only use: a census).
    Empty if ``train`` stops calling ``build_state`` by that name; the caller then says so."""
    loop = sys.modules[train.__module__]
    captured: list = []
    original = loop.build_state

    def build_and_keep(*args: Any, **kwargs: Any) -> Any:
        captured.append(original(*args, **kwargs))
        return captured[-1]

    loop.build_state = build_and_keep
    try:
        yield captured
    finally:
        loop.build_state = original


# ----- denormals ------------------------------------------------------------------------------

TINY = torch.finfo(torch.float32).tiny  # the smallest normal float32, 1.2e-38


def count_denormals(tensors: Iterable[torch.Tensor]) -> list[int]:
    """[denormal values, all values] over ``tensors``."""
    denormal = total = 0
    for t in tensors:
        t = t.detach()
        denormal += int(((t != 0) & (t.abs() < TINY)).sum())
        total += t.numel()
    return [denormal, total]


@torch.no_grad()
def denormal_census(G: nn.Module, D: nn.Module, optimizers: Iterable[torch.optim.Optimizer], real: torch.Tensor,
                    noise: torch.Tensor) -> dict[str, list[int]]:
    """Denormals in the parameters, their gradients, Adam's moments, and the activations of one
    G(noise) → D and D(real) forward (every leaf module's output, in the calling thread's flush mode)."""
    params = [*G.parameters(), *D.parameters()]
    moments = [v for opt in optimizers for s in opt.state.values() for k, v in s.items()
               if k in ("exp_avg", "exp_avg_sq") and torch.is_tensor(v)]
    activations: list[torch.Tensor] = []
    leaves = [m for m in (*G.modules(), *D.modules()) if not list(m.children())]
    hooks = [m.register_forward_hook(lambda _m, _i, out: activations.append(out.detach().clone())) for m in leaves]
    try:
        D(G(noise))
        D(real)
    finally:
        for hook in hooks:
            hook.remove()
    return {"params": count_denormals(params), "grads": count_denormals(p.grad for p in params if p.grad is not None),
            "adam_moments": count_denormals(moments), "activations": count_denormals(activations)}


def denormal_penalty(rows: int, width: int, reps: int = 20) -> dict[str, float]:
    """How many times slower this CPU computes with denormal operands than with normal ones, in this
    thread: a rows×w @ w×w matmul and an elementwise multiply, without and with flush-to-zero."""

    def best(fn: Callable[[], Any]) -> float:
        fn()
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    a, b, v = torch.randn(rows, width), torch.randn(width, width), torch.randn(1 << 20)
    with flush_denormal_set(False):
        a_sub, v_sub = a * 1e-39, v * 1e-39  # almost all denormal
        normal = best(lambda: torch.mm(a, b)), best(lambda: v * 0.5)
        slow = best(lambda: torch.mm(a_sub, b)), best(lambda: v_sub * 0.5)
    with flush_denormal_set(True):
        flushed = best(lambda: torch.mm(a_sub, b)), best(lambda: v_sub * 0.5)
    return {"denormal_fraction": count_denormals([a_sub])[0] / a_sub.numel(),
            "mm_slowdown": slow[0] / normal[0], "mm_slowdown_flushed": flushed[0] / normal[0],
            "elementwise_slowdown": slow[1] / normal[1], "elementwise_slowdown_flushed": flushed[1] / normal[1]}


# ----- the GEMM-bound limit -------------------------------------------------------------------

Gemm = tuple[str, int, int, int]  # (pass, M, K, N): C[M×N] = A[M×K] @ B[K×N]; pass: fwd, wgrad or igrad


def linear_gemms(layers: list[tuple[int, int]], rows: int, forward: bool = True, weights: bool = True,
                 first_input: bool = False) -> list[Gemm]:
    """The matmuls of ``nn.Linear(in, out)`` layers on ``rows`` rows: forward rows×in @ in×out, or
    backward: weight grad out×rows @ rows×in, input grad rows×out @ out×in (skipped for the first layer
    unless ``first_input``)."""
    if forward:
        return [("fwd", rows, i, o) for i, o in layers]
    out: list[Gemm] = []
    for j, (i, o) in enumerate(layers):
        out += [("wgrad", o, rows, i)] if weights else []
        out += [("igrad", rows, o, i)] if j > 0 or first_input else []
    return out


def gemm_flops(gemms: list[Gemm]) -> int:
    return sum(2 * m * k * n for _, m, k, n in gemms)


class GemmBench:
    """``gemms`` (and, for reference, 16 × ``square``) run back to back with torch.mm into preallocated
    outputs, operands laid out as nn.Linear lays them out (forward: x @ W.t(); weight grad: gy.t() @ x;
    input grad: gy @ W). ``block`` is timed beside the contenders, so the limit sees the machine they do."""

    def __init__(self, gemms: list[Gemm], square: Gemm) -> None:
        self.gemms, self.square, self.flops = gemms, square, gemm_flops(gemms)
        self.ops, self.square_ops = self._operands(gemms), self._operands([square] * 16)
        for _ in range(3):
            self._run(self.ops)
            self._run(self.square_ops)

    @staticmethod
    def _operands(gemms: list[Gemm]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        ops = []
        for gemm_pass, m, k, n in gemms:
            if gemm_pass == "fwd":  # x (m×k) @ W.t(), W (n×k)
                a, b = torch.randn(m, k), torch.randn(n, k).t()
            elif gemm_pass == "wgrad":  # gy.t() (m×k) @ x (k×n), gy (k×m)
                a, b = torch.randn(k, m).t(), torch.randn(k, n)
            else:  # gy (m×k) @ W (k×n)
                a, b = torch.randn(m, k), torch.randn(k, n)
            ops.append((a, b, torch.empty(m, n)))
        return ops

    @staticmethod
    def _run(ops: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
        for a, b, c in ops:
            torch.mm(a, b, out=c)

    def _time(self, ops: list, seconds: float) -> float:
        """Mean seconds per pass over ``ops``, from passes filling about ``seconds``."""
        reps, start = 0, time.perf_counter()
        while reps < 3 or time.perf_counter() - start < seconds:
            self._run(ops)
            reps += 1
        return (time.perf_counter() - start) / reps

    def block(self, seconds: float) -> tuple[float, float]:
        """(seconds for one pass over ``gemms``, seconds for one ``square``), about ``seconds`` in all."""
        return self._time(self.ops, 0.8 * seconds), self._time(self.square_ops, 0.2 * seconds) / 16


# ----- processes ------------------------------------------------------------------------------

TQDM_COUNT = re.compile(r"(\d+)/(\d+) \[")


def tqdm_count(text: str) -> int | None:
    """Iterations completed, as a tqdm bar (``  12%|█▏   | 120/1000 [...``) reports them."""
    matches = TQDM_COUNT.findall(text)
    return int(matches[-1][0]) if matches else None


def timed_progress(command: list[str], env: dict[str, str], count: Callable[[str], int | None], first: int,
                   last: int, timeout: float, cwd: Path | None = None) -> dict:
    """Run ``command``; ``count`` reads the iterations completed from one line of its output (stdout
    split on newlines, stderr also on carriage returns, as progress bars redraw); kill it once it
    reports ``last``. Returns the iterations it was seen at (``from``, ``to``), the seconds between
    them, the rate (``it_s``) and the seconds until ``from`` (``startup_s``). Raises ``RuntimeError``
    if it never reaches ``last``."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               cwd=str(cwd) if cwd else None, start_new_session=True)
    seen: dict[int, float] = {}
    done = threading.Event()
    tail: list[str] = []

    def read(stream: Any, split: bytes) -> None:
        buffer = b""
        while chunk := stream.read1(65536):
            now = time.perf_counter()
            *pieces, buffer = re.split(split, buffer + chunk)
            for piece in pieces:
                text = piece.decode(errors="replace")
                tail[:] = [*tail[-19:], text]
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
    reached, begun = [i for i in seen if i >= last], [i for i in seen if i >= first]
    if not reached or not begun:
        raise RuntimeError(f"{command[0]} did not reach iteration {last} (last output: {' | '.join(tail[-3:])[-400:]})")
    a, b = min(begun), min(reached)
    seconds = seen[b] - seen[a]
    return {"from": a, "to": b, "seconds": seconds, "it_s": (b - a) / seconds, "startup_s": seen[a] - start}


def time_process(command: list[str], env: dict[str, str], cwd: Path = REPO) -> tuple[float, float]:
    """(wall seconds, other processes' cores) of one process run to its end, output read through pipes."""
    with OtherLoad(children=True) as meter:
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    return seconds, meter.cores


def sustained_rates(commands: dict[str, Callable[[int, Path], list[str]]], n: int, start: int, repeats: int,
                    env: dict[str, str]) -> dict[str, dict]:
    """Iterations per second of each command sustained over iterations ``start``..``n``: each runs as a
    process for ``n`` and for ``start`` iterations, all alternating, and rate = (n − start) / (t_n −
    t_start) with each t the best undisturbed wall time, which cancels start-up and shutdown.
    ``commands[name](iterations, out_dir)`` gives a command line."""
    jobs = [(name, k) for k in (n, start) for name in commands]
    runs: dict[str, dict[int, list[dict]]] = {name: {n: [], start: []} for name in commands}
    with tempfile.TemporaryDirectory(prefix="gan-mixup-bench-processes-") as tmp:
        for rep in range(repeats):
            for name, k in jobs[rep % len(jobs):] + jobs[: rep % len(jobs)]:
                seconds, other = time_process(commands[name](k, Path(tmp) / f"{name}-{rep}-{k}"), env)
                runs[name][k].append({"seconds": seconds, "other_cores": other})

    def best(rs: list[dict]) -> float:
        return min([r["seconds"] for r in rs if r["other_cores"] < CLEAN] or [r["seconds"] for r in rs])

    result = {}
    for name, by_length in runs.items():
        t_n, t_s = best(by_length[n]), best(by_length[start])
        rate = (n - start) / (t_n - t_s) if t_n > t_s else math.nan
        result[name] = {"sustained": rate, "whole_process": n / t_n, "startup_s": t_n - n / rate,
                        "seconds": {n: t_n, start: t_s}, "runs": by_length,
                        "clean": min(sum(r["other_cores"] < CLEAN for r in by_length[k]) for k in (n, start))}
    return result


# ----- reports --------------------------------------------------------------------------------

def table(header: list[str], rows: list[list[Any]]) -> None:
    """Print aligned columns: the first left-aligned, the others right-aligned, a rule under the header."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [" ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in cells]
    print("\n".join([lines[0], "-" * len(lines[0]), *lines[1:]]))


def rate_table(runs: dict[str, list[dict]], digits: int = 2) -> tuple[dict[str, float], dict[str, float]]:
    """Print the Markdown table of each contender's median and best ``it_s`` over its runs
    (``timed_progress`` results); returns the medians and the bests by name."""
    median = {name: statistics.median(r["it_s"] for r in rs) for name, rs in runs.items()}
    best = {name: max(r["it_s"] for r in rs) for name, rs in runs.items()}
    print("| contender | median it/s | best it/s |\n|---|---|---|")
    for name in runs:
        print(f"| {name} | {median[name]:.{digits}f} | {best[name]:.{digits}f} |")
    return median, best


def fail(message: str) -> None:
    """A user mistake: one ``<script>: error: ...`` line on stderr, exit 2."""
    print(f"{Path(sys.argv[0]).name}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def positive(args: Any, *names: str) -> None:
    """Refuse (``fail``) any of these integer flags given below 1."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            fail(f"--{name.replace('_', '-')} must be a positive integer, got {value}")


BLOCK_FLAGS = {"warmup": (int, "iterations each contender trains before it is timed"),
               "iterations": (int, "iterations per timed block (default: about --block-seconds' worth)"),
               "block-seconds": (float, "length of one timed block when --iterations is not given"),
               "rounds": (int, "undisturbed blocks wanted per contender"),
               "max-seconds": (float, "stop collecting blocks after this long even if fewer were undisturbed")}


def add_plan(parser: Any, full: dict, flags: dict[str, tuple[type, str]]) -> None:
    """One flag per entry of ``flags`` (``name: (type, help)``), defaulting to ``full[name]`` (or to the
    ``--quick`` plan's value: see ``parse_plan``)."""
    for flag, (convert, text) in flags.items():
        key = flag.replace("-", "_")
        parser.add_argument(f"--{flag}", type=convert, help=text + (f" (default {full[key]})" if key in full else ""))


def parse_plan(parser: Any, argv: list[str] | None, full: dict, quick: dict) -> Any:
    """Parse; a flag not given takes the ``--quick`` plan's value under ``--quick``, else the full plan's.
    Refuses (``fail``) a float flag of the plan that is not positive."""
    args = parser.parse_args(argv)
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in full:
        if isinstance(full[name], float) and getattr(args, name) <= 0:
            fail(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    return args


def write_json(path: Path | None, result: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")

"""Toy-GAN throughput: a naive PyTorch loop vs the gan-mixup trainer vs the machine's GEMM-bound limit.

Run:  .venv/bin/python benchmarks/toy_throughput.py [--width 512] [--objective mixup|erm] [--threads T]
                                                     [--iterations N] [--rounds R] [--json PATH]

All contenders train the paper's toy GAN (G and D: MLPs with 3 hidden ReLU layers of ``--width``,
2-D latent, batch 128, 5 D steps per G step, Adam defaults, mixup α = 0.2 with per-sample
λ ~ Beta(α, α), non-saturating G loss) on ring8, in this one process, with one torch thread count:

1. naive      the step as a user writes it from the paper (``NaiveGAN`` below, plain PyTorch).
2. trainer    ``gan_mixup.train.train(config, run_dir=None)``: no snapshots, no metrics file.
3. recording  the trainer with a run directory, the default snapshot schedule and metrics; its
              per-iteration cost is projected from directly timed components (see ``recording_cost``).
4. limit      FLOPs of one generator iteration / the float32 matmul rate measured on exactly the
              GEMMs of that iteration (see ``iteration_gemms`` and ``GemmBench``).

Naive, trainer and limit are timed in short blocks in rotation (``--iterations`` generator
iterations each, on freshly built models from one seed, after one warm-up per contender). During every block
the CPU time of *other* processes is read from /proc/stat: on a shared machine a block during which
they kept a core busy is disturbed (with 2 OpenMP threads on 2 cores, by up to 20×), so the table
reports the best and the median of the undisturbed blocks, and the JSON holds every block.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from gan_mixup.config import ToyConfig  # noqa: E402
from gan_mixup.rundir import snapshot_schedule  # noqa: E402
from gan_mixup.train import StopTraining, build_state, log_record, take_snapshot, train, train_step  # noqa: E402

FULL_RUN = 20_000  # the paper's generator iterations
BATCH, D_STEPS, LATENT, ALPHA = 128, 5, 2, 0.2


# ----- 1. the naive baseline ------------------------------------------------------------------

class NaiveGAN:
    """The paper's toy GAN written the way a user would from its text, in plain PyTorch.

    Deliberately ordinary: ``nn.Sequential`` MLPs, ``nn.BCEWithLogitsLoss``, ``torch.optim.Adam()``
    with its defaults (for-loop implementation on CPU), λ from ``torch.distributions.Beta``, a fresh
    G forward for every D step, D's weights left trainable during the G step, ``loss.item()`` after
    every step for logging.
    """

    def __init__(self, width: int, objective: str, seed: int = 0) -> None:
        torch.manual_seed(seed)

        def mlp(n_in: int, n_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Linear(n_in, width), nn.ReLU(),
                nn.Linear(width, width), nn.ReLU(),
                nn.Linear(width, width), nn.ReLU(),
                nn.Linear(width, n_out),
            )

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
                out = self.D(lam * real + (1 - lam) * fake)
                d_loss = self.criterion(out, lam)
            else:
                out_real, out_fake = self.D(real), self.D(fake)
                d_loss = self.criterion(out_real, torch.ones_like(out_real)) + self.criterion(out_fake, torch.zeros_like(out_fake))
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


def time_naive(width: int, objective: str, iterations: int, max_seconds: float = math.inf) -> float:
    """Generator iterations per second of ``iterations`` naive steps from fresh models (stopping early
    after ``max_seconds``, so a block disturbed by other processes cannot run for minutes)."""
    gan = NaiveGAN(width, objective)
    done, start = 0, time.perf_counter()
    while done < iterations and time.perf_counter() - start < max_seconds:
        gan.step()
        done += 1
    return done / (time.perf_counter() - start)


# ----- 2. the trainer -------------------------------------------------------------------------

def paper_config(width: int, objective: str, iterations: int = FULL_RUN) -> ToyConfig:
    return ToyConfig(
        dataset="ring8", objective=objective, alpha=ALPHA, lambda_distribution="beta", lambda_sampling="per-sample",
        generator_loss="non-saturating", latent_dim=LATENT, hidden=width, layers=3, batch_size=BATCH,
        d_steps=D_STEPS, iterations=iterations, seed=0,
    )


def time_trainer(width: int, objective: str, iterations: int, max_seconds: float = math.inf) -> float:
    """``train(config, run_dir=None)``'s own iterations_per_second (its loop only, logging calls
    included), stopped through ``StopTraining`` at a log record past ``max_seconds``."""
    deadline = time.perf_counter() + max_seconds

    def stop_when_late(record: dict) -> None:
        if time.perf_counter() > deadline:
            raise StopTraining

    return train(paper_config(width, objective, iterations), run_dir=None, callbacks=[stop_when_late]).iterations_per_second


# ----- 3. the cost of recording (snapshots, metrics, checkpoints) -------------------------------

@dataclass
class RecordingCost:
    snapshots: int  # in a full default run, including the one at iteration 0
    snapshot_s: float  # seconds per snapshot (best of reps)
    logs: int  # metrics.jsonl train records in a full run
    log_s: float  # seconds per record written (json + write), on top of log_record which runs anyway
    checkpoints: int
    checkpoint_s: float
    check: dict  # end-to-end cross-check of the per-snapshot cost inside train()

    def full_run_seconds(self) -> dict[str, float]:
        return {
            "snapshots": self.snapshots * self.snapshot_s,
            "logging": self.logs * self.log_s,
            "checkpoints": self.checkpoints * self.checkpoint_s,
        }


def recording_cost(width: int, objective: str, check_iterations: int, reps: int = 7) -> RecordingCost:
    """Time one snapshot and one metrics record directly, take the checkpoint time that ``train``
    reports, and count how many of each a full default run makes. A short run cannot measure this end
    to end: with snapshot_frames=200, a run of N ≤ 200 iterations snapshots every iteration, while a
    20,000-iteration run snapshots under 1% of them. As a cross-check, the per-snapshot cost is also
    derived from short ``train`` runs (recording on vs off, every iteration snapshotted)."""
    config = paper_config(width, objective)
    snapshots = len(snapshot_schedule(FULL_RUN, config.snapshot_frames, config.snapshot_iterations)) + 1  # + iteration 0
    logs = FULL_RUN // config.log_every + (FULL_RUN % config.log_every != 0)
    checkpoints = FULL_RUN // config.checkpoint_every + (FULL_RUN % config.checkpoint_every != 0)
    state = build_state(config)
    for _ in range(3):
        d_loss, g_loss = train_step(state)  # trained a little, so the snapshot sees a non-trivial G
    with tempfile.TemporaryDirectory(prefix="gan-mixup-bench-") as tmp:
        run_dir = Path(tmp)
        with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as metrics_file:
            take_snapshot(state, run_dir)  # warm-up; builds the reference samples
            snap = []
            for _ in range(reps):
                state.iteration += 1  # one file per snapshot, as in a run
                start = time.perf_counter()
                metrics_file.write(json.dumps(take_snapshot(state, run_dir)) + "\n")
                snap.append(time.perf_counter() - start)
            record = log_record(state, d_loss, g_loss)
            start = time.perf_counter()
            for _ in range(1000):
                metrics_file.write(json.dumps(record) + "\n")
            log_s = (time.perf_counter() - start) / 1000

        # Cross-check: every iteration of a short run is snapshotted, so (on − off) / snapshots is the
        # in-loop cost of one snapshot (logging included, checkpoints excluded). Best of 3 alternating pairs.
        n, seconds_off, seconds_on, ckpt = check_iterations, math.inf, math.inf, []
        for _ in range(3):
            off = train(paper_config(width, objective, n), run_dir=None)
            on = train(paper_config(width, objective, n), run_dir / "run", overwrite=True)
            ckpt += on.checkpoint_seconds
            seconds_off = min(seconds_off, off.seconds)
            seconds_on = min(seconds_on, on.seconds - sum(on.checkpoint_seconds))
        taken = len(snapshot_schedule(n, config.snapshot_frames, config.snapshot_iterations))
    check = {"iterations": n, "snapshots": taken, "seconds_on": seconds_on, "seconds_off": seconds_off,
             "snapshot_s": (seconds_on - seconds_off) / taken}
    return RecordingCost(snapshots, min(snap), logs, log_s, checkpoints, min(ckpt), check)


# ----- 4. the GEMM-bound limit ----------------------------------------------------------------

def layer_sizes(width: int, n_in: int, n_out: int) -> list[tuple[int, int]]:
    sizes = [n_in, width, width, width, n_out]
    return list(zip(sizes[:-1], sizes[1:]))


def iteration_gemms(width: int, objective: str) -> list[tuple[str, int, int, int]]:
    """Every matmul of one generator iteration as (kind, M, K, N): C[M×N] = A[M×K] @ B[K×N].

    Linear(in, out) on a batch b: forward b×in @ in×out; weight grad out×b @ b×in; input grad
    b×out @ out×in (skipped for a first layer whose input needs no grad). A D step is G forward
    (no grad) + D forward + D backward (weights and inputs); the ERM D loss sees real and fake, 2B rows.
    The G step is G forward + D forward + D backward for the input only (D's weights need no grad)
    + G backward. Bias adds and reductions are not GEMMs and are left out.
    """
    G, D = layer_sizes(width, LATENT, 2), layer_sizes(width, 2, 1)
    d_rows = BATCH * (2 if objective == "erm" else 1)

    def forward(layers, b):
        return [("fwd", b, i, o) for i, o in layers]

    def backward(layers, b, weights=True, first_input=False):
        out = []
        for j, (i, o) in enumerate(layers):
            if weights:
                out.append(("wgrad", o, b, i))
            if j > 0 or first_input:
                out.append(("igrad", b, o, i))
        return out

    d_step = forward(G, BATCH) + forward(D, d_rows) + backward(D, d_rows)
    g_step = forward(G, BATCH) + forward(D, BATCH) + backward(D, BATCH, weights=False, first_input=True) + backward(G, BATCH)
    return d_step * D_STEPS + g_step


def gemm_flops(gemms: list[tuple[str, int, int, int]]) -> int:
    return sum(2 * m * k * n for _, m, k, n in gemms)


class GemmBench:
    """The GEMMs of one generator iteration (and, for reference, 16 × the 128×w @ w×w forward), run
    back to back with torch.mm into preallocated outputs, operands laid out as nn.Linear lays them
    out (forward: x @ W.t(); weight grad: gy.t() @ x; input grad: gy @ W). ``block`` is timed in the
    same rotation as the contenders, so the limit sees the same machine they do."""

    def __init__(self, width: int, objective: str) -> None:
        self.gemms = iteration_gemms(width, objective)
        self.flops = gemm_flops(self.gemms)
        self.square = ("fwd", BATCH, width, width)
        self.ops, self.square_ops = self._operands(self.gemms), self._operands([self.square] * 16)
        for _ in range(3):
            self._run(self.ops)
            self._run(self.square_ops)

    @staticmethod
    def _operands(gemms: list[tuple[str, int, int, int]]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        ops = []
        for kind, m, k, n in gemms:
            if kind == "fwd":  # x (m×k) @ W.t(), W (n×k)
                a, b = torch.randn(m, k), torch.randn(n, k).t()
            elif kind == "wgrad":  # gy.t() (m×k) @ x (k×n), gy (k×m)
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
        """(seconds for one iteration's GEMMs, seconds for one 128×w @ w×w forward)."""
        return self._time(self.ops, 0.8 * seconds), self._time(self.square_ops, 0.2 * seconds) / 16


# ----- the report -----------------------------------------------------------------------------

class OtherLoad:
    """CPU cores kept busy by *other* processes while a block ran (from /proc/stat minus our own
    CPU time): 0 on a quiet machine. Timings of blocks with load > 0 are disturbed."""

    def __enter__(self) -> "OtherLoad":
        self.start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._sample()
        elapsed = end[2] - self.start[2]
        self.cores = max(0.0, ((end[0] - self.start[0]) - (end[1] - self.start[1])) / elapsed) if elapsed > 0 else 0.0

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
        except (OSError, ValueError, IndexError):
            busy = math.nan
        t = os.times()
        return busy, t.user + t.system, time.perf_counter()


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def choose_iterations(width: int, objective: str, block_seconds: float) -> int:
    """Enough iterations for one timed block of about ``block_seconds`` (best of three short trainer probes)."""
    probe = max(time_trainer(width, objective, 5) for _ in range(3))
    return max(5, int(round(probe * block_seconds)))


CLEAN = 0.1  # a block is undisturbed when other processes used less than this many cores during it


def summarise(blocks: list[tuple[float, float]]) -> dict:
    """Best and median iterations/s of the undisturbed blocks (of all blocks when none was undisturbed)."""
    clean = [ips for ips, other in blocks if other < CLEAN]
    use = clean or [ips for ips, _ in blocks]
    return {"best": max(use), "median": statistics.median(use), "clean": len(clean), "blocks": len(blocks),
            "all": [{"ips": ips, "other_cores": other} for ips, other in blocks]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=512, help="hidden width of G and D (paper: 512)")
    parser.add_argument("--objective", choices=("mixup", "erm"), default="mixup")
    parser.add_argument("--iterations", type=int, default=None,
                        help="generator iterations per timed block (default: about --block-seconds' worth)")
    parser.add_argument("--block-seconds", type=float, default=2.0, help="length of one timed block when --iterations is not given")
    parser.add_argument("--rounds", type=int, default=20, help="undisturbed blocks wanted per contender")
    parser.add_argument("--max-seconds", type=float, default=150.0,
                        help="stop collecting blocks after this long even if fewer were undisturbed")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations per contender before timing")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    for name in ("width", "rounds", "warmup", "iterations", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be a positive integer, got {value}")
    if args.block_seconds <= 0 or args.max_seconds <= 0:
        parser.error("--block-seconds and --max-seconds must be positive")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    rss = {"start": rss_mib()}
    wall = time.perf_counter()

    # Warm both paths up (allocator, MKL, first calls), then alternate short blocks until each contender
    # has --rounds undisturbed ones, or --max-seconds have passed.
    time_naive(args.width, args.objective, args.warmup)
    time_trainer(args.width, args.objective, args.warmup)
    iterations = args.iterations or choose_iterations(args.width, args.objective, args.block_seconds)
    max_block = 3 * args.block_seconds if args.iterations is None else math.inf
    gemm = GemmBench(args.width, objective=args.objective)
    gemm_seconds = 0.5 * args.block_seconds  # shorter blocks for the GEMMs alone
    square_times: list[float] = []

    def time_limit(*_: object) -> float:
        iteration_s, square_s = gemm.block(gemm_seconds)
        square_times.append(square_s)
        return 1 / iteration_s

    timers = {"naive": time_naive, "trainer": time_trainer, "limit": time_limit}
    rotation = ("naive", "trainer", "limit")
    blocks: dict[str, list[tuple[float, float]]] = {who: [] for who in rotation}
    deadline, r = time.perf_counter() + args.max_seconds, 0
    while True:
        clean = min(sum(other < CLEAN for _, other in b) for b in blocks.values())
        if clean >= args.rounds or (r >= 2 and time.perf_counter() > deadline):
            break
        for who in rotation[r % 3:] + rotation[: r % 3]:
            with OtherLoad() as meter:
                ips = timers[who](args.width, args.objective, iterations, max_block)
            blocks[who].append((ips, meter.cores))
        r += 1
    rss["training"] = rss_mib()
    gemm_blocks = summarise(blocks["limit"])
    seconds = 1 / gemm_blocks["best"]
    limit = {"flops": gemm.flops, "gemms": len(gemm.gemms), "seconds": seconds, "rate": gemm.flops / seconds,
             "iterations_per_second": gemm_blocks["best"], "median_iterations_per_second": gemm_blocks["median"],
             "square_rate": gemm_flops([gemm.square]) / min(square_times), "blocks": gemm_blocks}
    rec = recording_cost(args.width, args.objective, check_iterations=max(10, min(30, iterations)))
    rss["end"] = rss_mib()

    naive, trainer = summarise(blocks["naive"]), summarise(blocks["trainer"])
    train_seconds = FULL_RUN / trainer["best"]
    extra = rec.full_run_seconds()
    overhead = (extra["snapshots"] + extra["logging"]) / train_seconds
    result = {
        "width": args.width, "objective": args.objective, "batch": BATCH, "d_steps": D_STEPS, "alpha": ALPHA,
        "iterations_per_block": iterations, "rounds": args.rounds, "warmup": args.warmup,
        "torch": torch.__version__, "threads": threads, "interop_threads": torch.get_num_interop_threads(),
        "cpu": cpu_model(), "cpu_count": _cpu_count(), "python": platform.python_version(),
        "naive": naive, "trainer": trainer,
        "trainer_over_naive": {"best": trainer["best"] / naive["best"], "median": trainer["median"] / naive["median"]},
        "limit": limit, "trainer_over_limit": trainer["best"] / limit["iterations_per_second"],
        "recording": {**rec.__dict__, "full_run_seconds": extra, "snapshot_logging_overhead": overhead,
                      "checkpoint_overhead": extra["checkpoints"] / train_seconds,
                      "iterations_per_second": FULL_RUN / (train_seconds + sum(extra.values()))},
        "peak_rss_mib": rss, "wall_seconds": time.perf_counter() - wall,
    }
    print_table(result)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def print_table(r: dict) -> None:
    lim, rec, full = r["limit"], r["recording"], r["recording"]["full_run_seconds"]
    naive, trainer = r["naive"], r["trainer"]
    limit_ips, base = lim["iterations_per_second"], naive["best"]
    print(f"\ngan-mixup toy GAN throughput: objective {r['objective']}, G/D = 3×{r['width']} ReLU MLPs, batch {r['batch']}, "
          f"{r['d_steps']} D steps per G step" + (f", mixup α={r['alpha']} per-sample Beta λ" if r["objective"] == "mixup" else ""))
    print(f"torch {r['torch']}, {r['threads']} thread{'s' if r['threads'] != 1 else ''} ({r['interop_threads']} interop), {r['cpu_count']} CPUs: {r['cpu']}; "
          f"python {r['python']}")
    print(f"blocks of {r['iterations_per_block']} generator iterations, naive / trainer / limit in rotation, fresh models each "
          f"block; best / median of the undisturbed blocks (other processes < {CLEAN} core)\n")
    head = f"{'contender':<36} {'G it/s':>8} {'median':>8} {'clean/all':>10} {'vs naive':>9} {'of limit':>9} {'20k run':>10}"
    print(head)
    print("-" * len(head))
    rows = [
        ("1 naive PyTorch (from the paper)", naive["best"], f"{naive['median']:.2f}", f"{naive['clean']}/{naive['blocks']}"),
        ("2 gan-mixup train(run_dir=None)", trainer["best"], f"{trainer['median']:.2f}", f"{trainer['clean']}/{trainer['blocks']}"),
        ("3 train(run_dir) + recording [a]", rec["iterations_per_second"], "", "projected"),
        ("4 GEMM-bound limit [b]", limit_ips, f"{lim['median_iterations_per_second']:.2f}",
         f"{lim['blocks']['clean']}/{lim['blocks']['blocks']}"),
    ]
    for name, ips, median, blocks in rows:
        print(f"{name:<36} {ips:>8.2f} {median:>8} {blocks:>10} {ips / base:>8.2f}× {ips / limit_ips:>8.1%} "
              f"{FULL_RUN / ips / 60:>6.1f} min")
    if min(naive["clean"], trainer["clean"], lim["blocks"]["clean"]) == 0:
        print("WARNING: no undisturbed block for a contender: other processes shared the CPU throughout; the numbers are unreliable")
    print(f"\ntrainer / naive = {r['trainer_over_naive']['best']:.2f}× (medians: {r['trainer_over_naive']['median']:.2f}×)   "
          f"trainer / limit = {r['trainer_over_limit']:.1%}   snapshot + logging overhead = {rec['snapshot_logging_overhead']:.2%} "
          f"(+ checkpoints {rec['checkpoint_overhead']:.2%})")
    print(f"peak RSS {r['peak_rss_mib']['end']:.0f} MiB (after imports {r['peak_rss_mib']['start']:.0f}, "
          f"after the timed training {r['peak_rss_mib']['training']:.0f}); script wall time {r['wall_seconds']:.0f} s")
    chk = rec["check"]
    print(f"\n[a] Snapshot overhead, measured by parts because a short run cannot show it (with snapshot_frames=200 a run of "
          f"≤ 200 iterations snapshots every one): a {FULL_RUN}-iteration default run takes {rec['snapshots']} snapshots "
          f"(snapshot_schedule({FULL_RUN}, 200) + iteration 0) × {rec['snapshot_s'] * 1e3:.1f} ms (take_snapshot timed "
          f"directly, best of 7: G on the fixed noise, D on the {64}² grid, metrics, .npz write) = {full['snapshots']:.1f} s, and "
          f"writes {rec['logs']} metrics records × {rec['log_s'] * 1e6:.1f} µs (json + write; log_record itself also runs "
          f"without a run dir, so row 2 already pays it) = {full['logging']:.2f} s; overhead = ({full['snapshots']:.1f} + "
          f"{full['logging']:.2f}) s / {FULL_RUN / trainer['best']:.0f} s of training at row 2's rate. Checkpoints (any run "
          f"with a run dir; TrainResult.checkpoint_seconds, best of 3): {rec['checkpoints']} × {rec['checkpoint_s'] * 1e3:.1f} ms = {full['checkpoints']:.1f} s. "
          f"Row 3 = {FULL_RUN} / (training + snapshots + logging + checkpoints). Cross-check inside train(): "
          f"{chk['iterations']} iterations with all {chk['snapshots']} snapshotted took {chk['seconds_on']:.2f} s "
          f"(checkpoint excluded) vs {chk['seconds_off']:.2f} s without a run dir, best of 3 each = "
          f"{chk['snapshot_s'] * 1e3:.1f} ms per snapshot.")
    print(f"[b] {lim['flops'] / 1e9:.3f} GFLOP per generator iteration ({lim['gemms']} GEMMs: {r['d_steps']} D steps of G forward "
          f"+ D forward + D backward, then G forward + D forward + D input-grad backward + G backward; 2·rows·in·out each). "
          f"torch.mm on exactly those shapes, back to back, timed in blocks in the same rotation as rows 1-2 (best "
          f"block shown): {lim['seconds'] * 1e3:.2f} ms = "
          f"{lim['rate'] / 1e9:.1f} GFLOP/s ({BATCH}×{r['width']} @ {r['width']}×{r['width']} alone: "
          f"{lim['square_rate'] / 1e9:.1f} GFLOP/s); limit = FLOPs / rate. The machine's speed drifts by up to ~30% "
          f"between blocks even when no other process runs (the VM shares its host), so compare best with best, "
          f"median with median.\n")


if __name__ == "__main__":
    main()

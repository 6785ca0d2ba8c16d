"""Data-parallel throughput: images/s of the image GAN trained by 1 process and by 2 processes
(torchrun, gloo), side by side in one run; and the single-process trainer of two checkouts (before
and after a change), alternating.

Run:  .venv/bin/python benchmarks/ddp_throughput.py                      # 1 vs 2 processes
      .venv/bin/python benchmarks/ddp_throughput.py --baseline /path/to/other/checkout   # + that code, 1 process
      .venv/bin/python benchmarks/ddp_throughput.py --quick              # a ~1 minute smoke run

Setting: ``gan-mixup images`` defaults on the bundled digits (16 px, DCGAN width 32, 100-d noise, D with
BatchNorm, one D step, Adam 2e-4), mixup α = 0.2, global batch 64: one process draws all 64, each of 2
processes draws 32 and the gradients are averaged (``gan_mixup.distributed``). Training only
(``train(config, run_dir=None)``: no snapshots, no files).

Contenders, each a fresh process (or torchrun job) per round, in rotation:

    1 proc x 1 thread     one process, torch.set_num_threads(1)
    1 proc x 2 threads    one process, 2 intra-op threads: what one process can do with both cores
    2 procs x 1 thread    torchrun --standalone --nproc_per_node 2, 1 thread each
    baseline 1 x 1 / 1 x 2  (with --baseline DIR) the same single-process runs on DIR's gan_mixup

Each run trains ``--warmup`` iterations, then ``--iterations`` more are timed (steady state, start-up
excluded): images/s = global batch x timed iterations / seconds, measured by rank 0 from its log
records. The table gives the best and the median over the rounds' undisturbed runs (other processes
used < 0.1 core while the run ran, from /proc/stat; ``toy_throughput.OtherLoad``), or over all runs
with a warning when a row has none. On a machine with 2 cores, 2
processes can at best double a 1-thread process; and a 1-process, 2-thread run already uses both
cores, so DDP beats it only where one process cannot keep 2 cores busy. Other processes on the
machine disturb every number: compare rows of one run, best with best.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
BATCH = 64


# ----- the worker: one training run, timed inside ------------------------------------------------

def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from contextlib import nullcontext

    from gan_mixup.config import RunConfig
    from gan_mixup.train import train

    try:
        from gan_mixup.distributed import process_group
    except ImportError:  # a baseline checkout from before distributed training: one process only
        process_group = nullcontext

    config = RunConfig(dataset="digits", objective="mixup", alpha=0.2, batch_size=BATCH, hidden=args.width,
                       iterations=args.warmup + args.iterations, log_every=args.warmup_log, seed=0,
                       metric_samples=0, checkpoint_seconds=0)
    marks: dict[int, float] = {}

    def timer(record: dict) -> None:
        if record.get("kind") == "train" and record["iteration"] in (args.warmup, args.warmup + args.iterations):
            marks[record["iteration"]] = time.perf_counter()

    with process_group() as world:
        train(config, run_dir=None, callbacks=[timer])
        if world is None or world.is_main:
            seconds = marks[args.warmup + args.iterations] - marks[args.warmup]
            import gan_mixup

            print(json.dumps({"images_per_second": BATCH * args.iterations / seconds, "seconds": seconds,
                              "processes": world.world_size if world else 1, "threads": torch.get_num_threads(),
                              "code": str(Path(gan_mixup.__file__).parents[1])}), flush=True)


# ----- the driver ---------------------------------------------------------------------------------

def run_contender(name: str, code: Path, processes: int, threads: int, args: argparse.Namespace) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    worker_args = ["--worker", "--threads", str(threads), "--width", str(args.width), "--warmup", str(args.warmup),
                   "--iterations", str(args.iterations)]
    if processes == 1:
        command = [sys.executable, str(HERE), *worker_args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   str(HERE), *worker_args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, default=32, help="DCGAN base width (default 32, the digits default)")
    parser.add_argument("--warmup", type=int, default=100, help="iterations before timing (default 100)")
    parser.add_argument("--iterations", type=int, default=300, help="timed iterations per run (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each contender, in rotation (default 3)")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout: its single-process trainer too")
    parser.add_argument("--only-single", action="store_true", help="only the single-process rows (with --baseline: before/after)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 + 40 iterations, 1 round")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.iterations, args.rounds = 20, 40, 1
    args.warmup_log = _gcd(args.warmup, args.iterations)
    if args.worker:
        worker(args)
        return {}

    contenders = [("1 proc x 1 thread", REPO, 1, 1), ("1 proc x 2 threads", REPO, 1, 2)]
    if not args.only_single:
        contenders.append(("2 procs x 1 thread", REPO, 2, 1))
    if args.baseline is not None:
        contenders += [("baseline 1 proc x 1 thread", args.baseline.resolve(), 1, 1),
                       ("baseline 1 proc x 2 threads", args.baseline.resolve(), 1, 2)]
    sys.path.insert(0, str(HERE.parent))
    from toy_throughput import CLEAN, OtherLoad  # the driver only: a worker must import gan_mixup from its own code

    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, *_ in contenders}  # (images/s, other load)
    wall = time.perf_counter()
    for r in range(args.rounds):
        order = contenders[r % len(contenders):] + contenders[: r % len(contenders)]
        for name, code, processes, threads in order:
            with OtherLoad(children=True) as meter:  # other processes' cores while the run ran
                result = run_contender(name, code, processes, threads, args)
            runs[name].append((result["images_per_second"], meter.cores))
            print(f"round {r + 1}: {name:<30} {result['images_per_second']:8.1f} images/s   (other processes: "
                  f"{meter.cores:.2f} cores)", flush=True)
    summary = {}
    for name, v in runs.items():
        clean = [ips for ips, other in v if other < CLEAN] or [ips for ips, _ in v]
        summary[name] = {"best": max(clean), "median": statistics.median(clean), "clean": sum(o < CLEAN for _, o in v),
                         "all": v}
    result = {"batch": BATCH, "width": args.width, "image_size": 16, "warmup": args.warmup, "iterations": args.iterations,
              "rounds": args.rounds, "cpu_count": os.cpu_count(), "summary": summary,
              "baseline": str(args.baseline) if args.baseline else None, "wall_seconds": time.perf_counter() - wall}
    print_table(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_table(result: dict) -> None:
    s = result["summary"]
    print(f"\nimage GAN (digits 16 px, DCGAN width {result['width']}, mixup, global batch {result['batch']}), "
          f"{result['warmup']} warm-up + {result['iterations']} timed iterations per run, {result['rounds']} rounds, "
          f"{result['cpu_count']} CPUs; images/s, best / median")
    base = s["1 proc x 1 thread"]
    for name, v in s.items():
        print(f"  {name:<30} {v['best']:8.1f} {v['median']:8.1f}   {v['best'] / base['best']:5.2f}x of 1 proc x 1 thread (best)"
              f"   undisturbed runs {v['clean']}/{len(v['all'])}")
    if min(v["clean"] for v in s.values()) == 0:
        print("WARNING: a row had no undisturbed run (other processes used >= 0.1 core throughout): its numbers "
              "are from disturbed runs and unreliable")
    if "2 procs x 1 thread" in s:
        two, threads = s["2 procs x 1 thread"], s["1 proc x 2 threads"]
        print(f"2 processes / 1 process: {two['best'] / base['best']:.2f}x (1 thread each; at most 2x on 2 cores), "
              f"{two['best'] / threads['best']:.2f}x of one process with 2 threads")
    for threads in ("1 thread", "2 threads"):
        name = f"baseline 1 proc x {threads}"
        if name in s:
            ours = s[f"1 proc x {threads}"]
            print(f"single process, {threads}: this checkout {ours['best']:.1f} vs baseline {s[name]['best']:.1f} images/s "
                  f"(best; {ours['best'] / s[name]['best'] - 1:+.1%}), medians {ours['median']:.1f} vs {s[name]['median']:.1f}")


def _gcd(a: int, b: int) -> int:
    import math

    return math.gcd(a, b)


if __name__ == "__main__":
    main()

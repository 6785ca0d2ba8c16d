"""Data-parallel throughput: images/s of the image GAN trained by 1 process and by 2 processes
(torchrun, gloo), side by side in one run; and the single-process trainer of another checkout (before
a change) against this one, in the same rotation.

Run:  .venv/bin/python benchmarks/ddp_throughput.py                                   # 1 vs 2 processes
      .venv/bin/python benchmarks/ddp_throughput.py --baseline /path/to/other/checkout  # + that code, 1 process
      .venv/bin/python benchmarks/ddp_throughput.py --quick                           # a smoke run

Setting: ``gan-mixup images`` defaults on the bundled digits (16 px, DCGAN width 32, 100-d noise, D with
BatchNorm, one D step, Adam 2e-4), mixup α = 0.2, global batch 64: one process draws all 64, each of 2
processes draws 32 and the gradients are averaged after every backward (``gan_mixup.distributed``).
Training only: ``train(config, run_dir=None)``, no snapshots, no files.

Contenders, each one long-lived job:

    1 proc x 1 thread     one process, torch.set_num_threads(1)
    1 proc x 2 threads    one process, 2 intra-op threads: what one process can do with both cores
    2 procs x 1 thread    torchrun --standalone --nproc_per_node 2, 1 thread each
    baseline 1 proc x 1 thread / x 2 threads   (with --baseline DIR) the same on DIR's gan_mixup

Sustained, as ``image_throughput.py`` times its trainers: each job (``ddp_worker.py``) starts ``train``, paused at a
log record (its callback waits on a FIFO) after ``--warmup`` iterations; then the driver lets the jobs
run blocks of ``--block`` iterations in rotation, one job at a time, the others paused (a paused rank 1
waits in gloo's receive, which sleeps). Rank 0 times each block from its log records: images/s = global
batch x iterations / seconds. During each block the driver reads from /proc how many cores *other*
processes kept busy (all CPU time less the jobs' own and its own); a block with 0.1 core or more is
disturbed, and the table gives the best and median of the undisturbed ones (of all, with a warning,
where a row has none). On 2 cores, 2 processes can at best double a 1-thread process, and a process
with 2 threads already uses both cores: DDP can only win where one process cannot keep 2 cores busy.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import REPO, SIDE_BY_SIDE, OtherLoad, alternate, machine, summarise, write_json

WORKER = Path(__file__).resolve().with_name("ddp_worker.py")
BATCH = 64
LOG_EVERY = 10  # the workers' log_every: their blocks end at a log record


class Job:
    """One contender: a process or a torchrun job, paused between blocks."""

    def __init__(self, name: str, code: Path, processes: int, threads: int, args: argparse.Namespace, folder: Path) -> None:
        self.name = name
        self.control_path, self.result_path = folder / f"{len(name)}-{abs(hash(name))}.ctl", folder / f"{abs(hash(name))}.res"
        os.mkfifo(self.control_path)
        os.mkfifo(self.result_path)
        env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(key, None)
        worker_args = ["--threads", str(threads), "--width", str(args.width), "--warmup", str(args.warmup),
                       "--control", str(self.control_path), "--result", str(self.result_path)]
        launcher = [] if processes == 1 else ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
        self.log = open(folder / f"{abs(hash(name))}.log", "w+")
        self.proc = subprocess.Popen([sys.executable, *launcher, str(WORKER), *worker_args], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.control = open(self.control_path, "w")  # blocks until the worker opens its end
        self.result = open(self.result_path)
        self._read()  # the end of the warm-up

    def _read(self) -> dict:
        line = self.result.readline()
        if not line:
            self.log.seek(0)
            raise RuntimeError(f"{self.name} ended:\n{self.log.read()[-3000:]}")
        return json.loads(line)

    def block(self, iterations: int) -> float:
        """Run ``iterations`` more; return the block's images per second."""
        self.control.write(f"{iterations}\n")
        self.control.flush()
        timed = self._read()
        return BATCH * timed["iterations"] / timed["seconds"]

    def close(self) -> None:
        try:
            self.control.write("0\n")
            self.control.flush()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=32, help="DCGAN base width (default 32, the digits default)")
    parser.add_argument("--warmup", type=int, default=100, help="iterations before timing (default 100)")
    parser.add_argument("--block", type=int, default=40, help="iterations per timed block (default 40)")
    parser.add_argument("--rounds", type=int, default=8, help="blocks of each contender, in rotation (default 8)")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout: its single-process trainer too")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 warm-up iterations, 2 rounds of 10")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.warmup, args.block, args.rounds = 20, 10, 2
    args.block = LOG_EVERY * max(1, math.ceil(args.block / LOG_EVERY))
    args.warmup = LOG_EVERY * max(1, math.ceil(args.warmup / LOG_EVERY))

    contenders = [("1 proc x 1 thread", REPO, 1, 1), ("1 proc x 2 threads", REPO, 1, 2), ("2 procs x 1 thread", REPO, 2, 1)]
    if args.baseline is not None:
        contenders += [("baseline 1 proc x 1 thread", args.baseline.resolve(), 1, 1),
                       ("baseline 1 proc x 2 threads", args.baseline.resolve(), 1, 2)]
    wall = time.perf_counter()
    print(f"CPU: {machine()['cpu']}; images/s of each block, contenders in rotation:", flush=True)
    with tempfile.TemporaryDirectory(prefix="gan-mixup-ddp-bench-") as tmp:
        jobs: list[Job] = []
        try:
            for name, code, processes, threads in contenders:  # started (and warmed up) one after the other
                jobs.append(Job(name, code, processes, threads, args, Path(tmp)))
            pids = [job.proc.pid for job in jobs] + [os.getpid()]
            blocks = alternate({job.name: (lambda job=job: job.block(args.block)) for job in jobs}, rounds=args.rounds,
                               max_rounds=args.rounds, max_seconds=math.inf, meter=lambda: OtherLoad(pids=pids),
                               on_block=lambda r, name, ips, other: print(
                                   f"round {r + 1}: {name:<28} {ips:8.1f} images/s   (other processes: {other:.2f} cores)",
                                   flush=True))
        finally:
            for job in jobs:
                job.close()
    summary = {name: summarise(v) for name, v in blocks.items()}
    result = {"batch": BATCH, "width": args.width, "image_size": 16, "warmup": args.warmup, "block": args.block,
              "rounds": args.rounds, **machine(), "summary": summary,
              "baseline": str(args.baseline) if args.baseline else None, "wall_seconds": time.perf_counter() - wall}
    print_table(result)
    write_json(args.json, result)
    return result


def print_table(result: dict) -> None:
    s = result["summary"]
    print(f"\nimage GAN (digits 16 px, DCGAN width {result['width']}, mixup, global batch {result['batch']}), "
          f"{result['warmup']} warm-up iterations, then {result['rounds']} blocks of {result['block']} per contender "
          f"{SIDE_BY_SIDE}; images/s over the undisturbed blocks")
    print(f"CPU: {result['cpu']}, {result['cpu_count']} cores, torch {result['torch']}; torch threads per process as named")
    base = s["1 proc x 1 thread"]
    print(f"  {'contender':<28} {'best':>8} {'median':>8} {'clean/all':>10}  best vs 1 proc x 1 thread")
    for name, v in s.items():
        print(f"  {name:<28} {v['best']:8.1f} {v['median']:8.1f} {v['clean']:>5}/{v['blocks']:<4}  "
              f"{v['best'] / base['best']:5.2f}x")
    if min(v["clean"] for v in s.values()) == 0:
        print("WARNING: a row had no undisturbed block (other processes used >= 0.1 core throughout): its numbers "
              "come from disturbed blocks and are unreliable")
    two, threads = s["2 procs x 1 thread"], s["1 proc x 2 threads"]
    print(f"on {result['cpu']}: 2 processes vs 1 process: {two['best'] / base['best']:.2f}x (best; medians "
          f"{two['median'] / base['median']:.2f}x) of a 1-thread process, at most 2x on 2 cores; "
          f"{two['best'] / threads['best']:.2f}x of one process with 2 threads")
    for n in ("1 thread", "2 threads"):
        name = f"baseline 1 proc x {n}"
        if name in s:
            ours = s[f"1 proc x {n}"]
            print(f"single process, {n}: this checkout {ours['best']:.1f} vs baseline {s[name]['best']:.1f} images/s "
                  f"(best, {ours['best'] / s[name]['best'] - 1:+.1%}); medians {ours['median']:.1f} vs "
                  f"{s[name]['median']:.1f} ({ours['median'] / s[name]['median'] - 1:+.1%})")


if __name__ == "__main__":
    main()

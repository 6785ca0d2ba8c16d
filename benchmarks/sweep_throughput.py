"""A sweep's cost: N seeds of one toy setting trained one after another vs in lockstep (batched).

Steady state, side by side in one process: every contender's models are first warmed up for
--warmup iterations (denormals, allocator, caches), then timed on the continuing models in
alternating blocks of --iterations (``harness.alternate``; the best undisturbed block counts). No snapshots or checkpoints are written (the
step is what differs); `gan-mixup sweep` end to end is timed by hand, see benchmarks/README.md.

    python benchmarks/sweep_throughput.py                  # 8 seeds, width 128 and 512
    python benchmarks/sweep_throughput.py --widths 128 --seeds 4 --iterations 20 --warmup 20 --blocks 2
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from harness import SIDE_BY_SIDE, alternate, cpu_line, cpu_model, summarise

from gan_mixup import RunConfig
from gan_mixup.presets import load_preset
from gan_mixup.training import Lockstep, build_state, flush_denormals, lockstep_step, train_step


def configs(width: int, seeds: int, preset: str | None) -> list[RunConfig]:
    fields = load_preset(preset) if preset else {}
    fields.update(hidden=width, iterations=100000)
    return [RunConfig.from_dict({**fields, "seed": seed}) for seed in range(seeds)]


def sequential_block(states: list, iterations: int) -> float:
    """Seconds for ``iterations`` of every run, one run after another."""
    start = time.perf_counter()
    for state in states:
        for _ in range(iterations):
            train_step(state)
        state.pending_losses[-1][1].sum().item()
        state.pending_losses.clear()
    return time.perf_counter() - start


def lockstep_block(group: Lockstep, iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        d, _ = lockstep_step(group)
    d.sum().item()
    return time.perf_counter() - start


def measure(cfgs: list[RunConfig], warmup: int, iterations: int, blocks: int) -> tuple[float, float]:
    """Best seconds per block of ``iterations`` for each contender, in alternating blocks (so a
    machine that slows down for a while slows both), after ``warmup`` iterations of each."""
    states = [build_state(cfg) for cfg in cfgs]
    group = Lockstep([build_state(cfg) for cfg in cfgs])
    sequential_block(states, warmup)
    lockstep_block(group, warmup)
    rates = alternate({"sequential": lambda: 1 / sequential_block(states, iterations),
                       "lockstep": lambda: 1 / lockstep_block(group, iterations)},
                      rounds=blocks, max_rounds=blocks, max_seconds=math.inf)
    return 1 / summarise(rates["sequential"])["best"], 1 / summarise(rates["lockstep"])["best"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="128,512")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=50, help="iterations per timed block")
    parser.add_argument("--blocks", type=int, default=4, help="alternating timed blocks per contender (the best counts)")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--preset", default="paper-code", help="paper-code (default), paper-text or none")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    preset = None if args.preset == "none" else args.preset
    print(f"{args.seeds} seeds, preset {preset}, warm-up {args.warmup}, best of {args.blocks} blocks of {args.iterations} "
          f"iterations, {SIDE_BY_SIDE}; {cpu_line(args.threads)}")
    with flush_denormals():
        for width in (int(w) for w in args.widths.split(",")):
            cfgs = configs(width, args.seeds, preset)
            sequential, batched = measure(cfgs, args.warmup, args.iterations, args.blocks)
            runs = args.seeds * args.iterations
            print(f"width {width:4d}: one after another {runs / sequential:7.1f} run-it/s, "
                  f"lockstep {runs / batched:7.1f} run-it/s: {sequential / batched:.2f}x on {cpu_model()}")


if __name__ == "__main__":
    main()

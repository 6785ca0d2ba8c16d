"""Toy-GAN throughput: a naive PyTorch loop vs the gan-mixup trainer vs the machine's GEMM-bound limit,
in the steady state of a long run, and end to end as ``gan-mixup toy`` runs.

Run:  .venv/bin/python benchmarks/toy_throughput.py [--width 512] [--objective mixup|erm] [--threads T]
                                                     [--warmup 400] [--cli-iterations 1000] [--json PATH]
      .venv/bin/python benchmarks/toy_throughput.py --quick          # a ~30 s smoke run

All contenders train the paper's toy GAN (3×``--width`` ReLU MLPs, 2-D latent, batch 128, 5 D steps
per G step, Adam defaults, mixup α = 0.2 per-sample Beta λ, non-saturating G loss) on ring8:

1. naive      ``naive_toy.NaiveGAN``: the step as a user writes it from the paper (no flags, no flush).
2. trainer    ``gan_mixup.train(config, run_dir=None)``: no snapshots, no metrics file.
3. recording  the trainer with a run directory and the default recording, projected from directly
              timed parts (``recording_cost``), cross-checked by short ``train`` runs.
4. limit      FLOPs of one generator iteration / the float32 rate of exactly its GEMMs (``harness.GemmBench``).
5. CLI        ``gan-mixup toy`` as a process vs ``naive_toy.py`` as a process (``harness.sustained_rates``).

Steady state: deep into a run, denormal gradients and Adam moments slow many x86 CPUs, so rows 1-2 train
``--warmup`` iterations first, then are timed on their continuing models in rotation with row 4
(``harness.alternate``, ``harness.TrainerThread``). It also counts each one's denormals and their cost here.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from harness import (BLOCK_FLAGS, CLEAN, REPO, SIDE_BY_SIDE, GemmBench, TrainerThread, add_plan, alternate, cpu_line,
                     denormal_census, denormal_penalty, fail, flush_denormal_set, gemm_flops, lend_state, linear_gemms,
                     machine, parse_plan, positive, rss_mib, summarise, sustained_rates, table, write_json)
from naive_toy import ALPHA, BATCH, D_STEPS, LATENT, NaiveGAN

from gan_mixup.config import LIMITS, RunConfig
from gan_mixup.rundir import snapshot_schedule
from gan_mixup.training import build_state, log_record, take_snapshot, train, train_step

FULL_RUN = 20_000  # the paper's generator iterations
LOG_EVERY = RunConfig.log_every  # train() hands its callbacks a record every this many iterations
FULL = {"warmup": 400, "rounds": 12, "max_seconds": 75.0, "block_seconds": 2.0, "cli_iterations": 1000, "cli_start": 300,
        "cli_repeats": 1}  # about 5 minutes at width 512 on 2 cores
QUICK = {"warmup": 30, "rounds": 2, "max_seconds": 3.0, "block_seconds": 0.5, "cli_iterations": 60, "cli_start": 20,
         "cli_repeats": 1}


def paper_config(width: int, objective: str, iterations: int = FULL_RUN) -> RunConfig:
    return RunConfig(dataset="ring8", objective=objective, alpha=ALPHA, lambda_distribution="beta",
                     lambda_sampling="per-sample", generator_loss="non-saturating", latent_dim=LATENT, hidden=width,
                     layers=3, batch_size=BATCH, d_steps=D_STEPS, iterations=iterations, seed=0)


def iteration_gemms(width: int, objective: str) -> list:
    """Every matmul of one generator iteration. A D step: G forward + D forward + D backward (the ERM
    loss sees real and fake, 2B rows); the G step: G forward + D forward + D's input-grad backward + G
    backward. Bias adds and reductions are not GEMMs."""
    G, D = [(LATENT, width), (width, width), (width, width), (width, 2)], [(2, width), (width, width), (width, width), (width, 1)]
    rows = BATCH * (2 if objective == "erm" else 1)
    d_step = linear_gemms(G, BATCH) + linear_gemms(D, rows) + linear_gemms(D, rows, forward=False)
    g_step = (linear_gemms(G, BATCH) + linear_gemms(D, BATCH)
              + linear_gemms(D, BATCH, forward=False, weights=False, first_input=True) + linear_gemms(G, BATCH, forward=False))
    return d_step * D_STEPS + g_step


def warm_up(block, total: int, done: int = 0) -> list[tuple[int, int, float]]:
    """Train to iteration ``total`` through ``block``; (from, to, it/s) per 100: fresh vs later models."""
    segments = []
    for begin in range(done, total, 100):
        segments.append((begin, min(begin + 100, total), block(min(100, total - begin))))
    return segments


def steady_state(args: argparse.Namespace) -> dict:
    """Warm both up, then time naive / trainer / limit blocks in rotation; count denormals on the way."""
    gan, gemm = NaiveGAN(args.width, args.objective), GemmBench(iteration_gemms(args.width, args.objective),
                                                               ("fwd", BATCH, args.width, args.width))

    def naive_census() -> dict:
        with flush_denormal_set(False):  # the naive loop runs as a user's process does
            return denormal_census(gan.G, gan.D, (gan.opt_g, gan.opt_d), gan.real_batch(), torch.randn(BATCH, LATENT))

    def trainer_census() -> dict:
        if not states:
            return {"error": "train() no longer calls build_state; no census"}
        s = states[-1]
        with flush_denormal_set(True):  # as inside train
            return denormal_census(s.generator, s.discriminator, (s.opt_g, s.opt_d),
                                   s.dataset.sample(BATCH, torch.Generator().manual_seed(1)), torch.randn(BATCH, LATENT))

    with flush_denormal_set(False):
        naive_segments = warm_up(lambda k: gan.block(k), args.warmup)
    census = {"naive_after_warmup": naive_census()}
    trainer = TrainerThread(paper_config(args.width, args.objective, LIMITS["iterations"]), torch.get_num_threads())
    with lend_state() as states:
        try:
            trainer.block(LOG_EVERY)  # start-up: building the run; not a segment
            trainer_segments = warm_up(trainer.block, args.warmup, LOG_EVERY)
            census["trainer_after_warmup"] = trainer_census()
            rate = trainer_segments[-1][2]  # blocks of about --block-seconds at the late warm-up rate, whole records
            iterations = LOG_EVERY * math.ceil((args.iterations or rate * args.block_seconds) / LOG_EVERY)
            max_block = 3 * args.block_seconds if args.iterations is None else math.inf
            square_times: list[float] = []

            def limit() -> float:
                iteration_s, square_s = gemm.block(0.5 * args.block_seconds)
                square_times.append(square_s)
                return 1 / iteration_s

            def naive() -> float:
                with flush_denormal_set(False):
                    return gan.block(iterations, max_block)

            blocks = alternate({"naive": naive, "trainer": lambda: trainer.block(iterations, max_block), "limit": limit},
                               rounds=args.rounds, max_seconds=args.max_seconds)
            census["trainer_at_end"] = trainer_census()
        finally:
            trainer.close()
    census["naive_at_end"] = naive_census()
    best_limit = summarise(blocks["limit"])
    limit_s = 1 / best_limit["best"]
    return {"iterations": iterations, "naive": summarise(blocks["naive"]), "trainer": summarise(blocks["trainer"]),
            "limit": {"flops": gemm.flops, "gemms": len(gemm.gemms), "seconds": limit_s, "rate": gemm.flops / limit_s,
                      "iterations_per_second": best_limit["best"], "median_iterations_per_second": best_limit["median"],
                      "square_rate": gemm_flops([gemm.square]) / min(square_times), "blocks": best_limit},
            "census": census, "flushed_inside_train": trainer.flushed,
            "warmup_segments": {"naive": naive_segments, "trainer": trainer_segments}}


def recording_cost(width: int, objective: str, check_iterations: int, reps: int = 7) -> dict:
    """One snapshot and one metrics record timed directly, the checkpoint time ``train`` reports, times
    how many a full default run makes (a short run cannot show it: with snapshot_frames=200, a run of
    ≤ 200 iterations snapshots every iteration). Cross-check: short ``train`` runs, recording on vs off."""
    config = paper_config(width, objective)
    snapshots = len(snapshot_schedule(FULL_RUN, config.snapshot_frames, config.snapshot_iterations)) + 1  # + iteration 0
    logs, checkpoints = math.ceil(FULL_RUN / config.log_every), math.ceil(FULL_RUN / config.checkpoint_every)
    state = build_state(config)
    for _ in range(3):
        d_loss, g_loss = train_step(state)  # trained a little, so the snapshot sees a non-trivial G
    with tempfile.TemporaryDirectory(prefix="gan-mixup-bench-") as tmp:
        run_dir, snap = Path(tmp), []
        with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as metrics_file:
            take_snapshot(state, run_dir)  # warm-up; builds the reference samples
            for _ in range(reps):
                state.iteration += 1  # one file per snapshot, as in a run
                start = time.perf_counter()
                metrics_file.write(json.dumps(take_snapshot(state, run_dir)) + "\n")
                snap.append(time.perf_counter() - start)
            record, start = log_record(state, d_loss, g_loss), time.perf_counter()
            for _ in range(1000):
                metrics_file.write(json.dumps(record) + "\n")
            log_s = (time.perf_counter() - start) / 1000
        n, off_s, on_s, ckpt = check_iterations, math.inf, math.inf, []
        for _ in range(3):  # every iteration of a short run is snapshotted; checkpoints excluded
            off = train(paper_config(width, objective, n), run_dir=None)
            on = train(paper_config(width, objective, n), run_dir / "run", overwrite=True)
            ckpt += on.checkpoint_seconds
            off_s, on_s = min(off_s, off.seconds), min(on_s, on.seconds - sum(on.checkpoint_seconds))
    taken = len(snapshot_schedule(n, config.snapshot_frames, config.snapshot_iterations))
    return {"snapshots": snapshots, "snapshot_s": min(snap), "logs": logs, "log_s": log_s, "checkpoints": checkpoints,
            "checkpoint_s": min(ckpt), "check": {"iterations": n, "snapshots": taken, "seconds_on": on_s,
                                                 "seconds_off": off_s, "snapshot_s": (on_s - off_s) / taken}}


def cli_end_to_end(width: int, objective: str, n: int, start: int, repeats: int, threads: int | None) -> dict:
    """``gan-mixup toy`` (its first ``n`` iterations of a default 20,000-iteration run, with exactly the
    snapshots that run takes there) and ``naive_toy.py`` as processes, start-up cancelled."""
    config = paper_config(width, objective)
    schedule = snapshot_schedule(FULL_RUN, config.snapshot_frames, config.snapshot_iterations)

    def cli(k: int, out: Path) -> list[str]:
        return [sys.executable, "-m", "gan_mixup.cli", "toy", "--out", str(out), "--iterations", str(k), "--hidden",
                str(width), "--objective", objective, "--snapshot-frames", "0", "--snapshot-iterations",
                ",".join(str(it) for it in schedule if it <= k), "--no-render"]

    def naive(k: int, out: Path) -> list[str]:
        return ([sys.executable, str(Path(__file__).with_name("naive_toy.py")), "--iterations", str(k), "--width",
                 str(width), "--objective", objective] + (["--threads", str(threads)] if threads else []))

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    result = sustained_rates({"cli": cli, "naive": naive}, n, start, repeats, env)
    return {**result, "iterations": n, "start": start, "repeats": repeats, "cli_over_naive":
            result["cli"]["sustained"] / result["naive"]["sustained"],
            "snapshots_in_span": sum(start < it <= n for it in schedule)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=512, help="hidden width of G and D (paper: 512)")
    parser.add_argument("--objective", choices=("mixup", "erm"), default="mixup")
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run: short warm-up, few blocks, a short CLI run")
    add_plan(parser, FULL, {**BLOCK_FLAGS, "cli-iterations": (int, "iterations of the end-to-end processes (0: skip them)"),
                            "cli-start": (int, "the short processes' iterations"),
                            "cli-repeats": (int, "rounds of the four end-to-end processes")})
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parse_plan(parser, argv, FULL, QUICK)
    positive(args, "width", "rounds", "warmup", "iterations", "threads", "cli_start", "cli_repeats")
    if args.warmup < 2 * LOG_EVERY:
        fail(f"--warmup must be at least {2 * LOG_EVERY} (train() reports every {LOG_EVERY} iterations)")
    if args.cli_iterations < 0 or (args.cli_iterations and args.cli_start >= args.cli_iterations):
        fail("--cli-iterations must be 0 (skip) or more than --cli-start")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rss, wall = {"start": rss_mib()}, time.perf_counter()
    penalty = denormal_penalty(BATCH, args.width)
    steady = steady_state(args)
    rss["training"] = rss_mib()
    rec = recording_cost(args.width, args.objective, check_iterations=max(10, min(30, steady["iterations"])))
    cli = (cli_end_to_end(args.width, args.objective, args.cli_iterations, args.cli_start, args.cli_repeats, args.threads)
           if args.cli_iterations else None)
    naive, trainer, limit = steady["naive"], steady["trainer"], steady["limit"]
    train_s = FULL_RUN / trainer["best"]
    extra = {"snapshots": rec["snapshots"] * rec["snapshot_s"], "logging": rec["logs"] * rec["log_s"],
             "checkpoints": rec["checkpoints"] * rec["checkpoint_s"]}
    rec.update(full_run_seconds=extra, snapshot_logging_overhead=(extra["snapshots"] + extra["logging"]) / train_s,
               checkpoint_overhead=extra["checkpoints"] / train_s,
               iterations_per_second=FULL_RUN / (train_s + sum(extra.values())))
    result = {"width": args.width, "objective": args.objective, "quick": args.quick, "warmup": args.warmup,
              "iterations_per_block": steady["iterations"], "rounds": args.rounds, **machine(), **steady,
              "trainer_over_naive": {k: trainer[k] / naive[k] for k in ("best", "median")},
              "trainer_over_limit": trainer["best"] / limit["iterations_per_second"], "recording": rec, "cli": cli,
              "denormal_penalty": penalty, "peak_rss_mib": {**rss, "end": rss_mib()}, "wall_seconds": time.perf_counter() - wall}
    print_report(result)
    write_json(args.json, result)
    return result


def print_report(r: dict) -> None:
    lim, rec, cli, pen = r["limit"], r["recording"], r["cli"], r["denormal_penalty"]
    naive, trainer, full = r["naive"], r["trainer"], r["recording"]["full_run_seconds"]
    print(f"\ngan-mixup toy GAN throughput: {r['objective']}, G/D = 3×{r['width']} ReLU MLPs, batch {BATCH}, {D_STEPS} D steps"
          + ("   [--quick: a smoke run, not a measurement]" if r["quick"] else ""))
    print(f"{cpu_line()}; python {r['python']}")
    print(f"steady state: each contender trained {r['warmup']} iterations, then blocks of {r['iterations_per_block']} "
          f"iterations on its continuing models, {SIDE_BY_SIDE}; best / median of the blocks other processes used < {CLEAN} core of\n")
    rows = [("1 naive PyTorch (from the paper)", naive), ("2 gan-mixup train(run_dir=None)", trainer),
            ("3 train(run_dir) + recording [a]", {"best": rec["iterations_per_second"], "median": None}),
            ("4 GEMM-bound limit [b]", lim["blocks"])]
    table(["contender", "G it/s", "median", "clean/all", "vs naive", "of limit", "20k run"],
          [[name, f"{s['best']:.2f}", "" if s["median"] is None else f"{s['median']:.2f}",
            f"{s['clean']}/{s['blocks']}" if "clean" in s else "projected", f"{s['best'] / naive['best']:.2f}×",
            f"{s['best'] / lim['iterations_per_second']:.1%}", f"{FULL_RUN / s['best'] / 60:.1f} min"] for name, s in rows])
    if min(naive["clean"], trainer["clean"], lim["blocks"]["clean"]) == 0:
        print("WARNING: no undisturbed block for a contender: other processes shared the CPU throughout; the numbers are unreliable")
    if cli is not None:
        print(f"\nend to end, as processes [c]: iterations {cli['start']}→{cli['iterations']} of a default {FULL_RUN}-iteration "
              f"run (best of {cli['repeats']}, alternating; start-up cancelled); {cpu_line()}")
        table(["process", "G it/s", "process", "start-up", "vs naive", "clean"],
              [[name, f"{cli[who]['sustained']:.2f}", f"{cli[who]['whole_process']:.2f}", f"{cli[who]['startup_s']:.1f} s",
                f"{cli[who]['sustained'] / cli['naive']['sustained']:.2f}×", f"{cli[who]['clean']}/{cli['repeats']}"]
               for name, who in (("5 gan-mixup toy (CLI, progress bar)", "cli"), ("6 naive_toy.py (row 1 as a process)", "naive"))])
        if not all(math.isfinite(cli[who]["sustained"]) for who in ("cli", "naive")):
            print("WARNING: a short process took as long as a long one: too short to measure, raise --cli-iterations")
    print("\ntargets (reported, not asserted): CLI / naive ≥ 1.8×: " + (f"{cli['cli_over_naive']:.2f}×" if cli else "not run")
          + f";  trainer / limit ≥ 75%: {r['trainer_over_limit']:.1%}")
    print(f"trainer / naive (steady, {SIDE_BY_SIDE}) = {r['trainer_over_naive']['best']:.2f}× (medians: "
          f"{r['trainer_over_naive']['median']:.2f}×), {r['cpu']};  snapshot + logging overhead = "
          f"{rec['snapshot_logging_overhead']:.2%} (+ checkpoints {rec['checkpoint_overhead']:.2%})")
    print(f"\ndenormals [d] on {r['cpu']}, main thread, {pen['denormal_fraction']:.0%}-denormal operand vs a normal one: matmul "
          f"{pen['mm_slowdown']:.2f}× (flush on: {pen['mm_slowdown_flushed']:.2f}×), elementwise {pen['elementwise_slowdown']:.2f}× "
          f"(flush on: {pen['elementwise_slowdown_flushed']:.2f}×); train() flushes in its thread: {r['flushed_inside_train']}")
    for who in ("naive", "trainer"):
        for when in ("after_warmup", "at_end"):
            c = r["census"][f"{who}_{when}"]
            print(f"  {who:<8} {when.replace('_', ' '):<13} " + (c["error"] if "error" in c else ", ".join(
                f"{name.replace('_', ' ')} {d:,}/{n:,}" for name, (d, n) in c.items())))
        print(f"  {who} warm-up it/s: " + ", ".join(f"{a + 1}–{b}: {ips:.1f}" for a, b, ips in r["warmup_segments"][who]))
    chk, rss = rec["check"], r["peak_rss_mib"]
    print(f"peak RSS {rss['end']:.0f} MiB (after imports {rss['start']:.0f}, after the timed training {rss['training']:.0f}); "
          f"wall time {r['wall_seconds']:.0f} s\n")
    print(f"[a] A default {FULL_RUN}-iteration run takes {rec['snapshots']} snapshots × {rec['snapshot_s'] * 1e3:.1f} ms "
          f"(take_snapshot, best of 7) = {full['snapshots']:.1f} s, writes {rec['logs']} records × {rec['log_s'] * 1e6:.1f} µs = "
          f"{full['logging']:.2f} s and {rec['checkpoints']} checkpoints × {rec['checkpoint_s'] * 1e3:.1f} ms = "
          f"{full['checkpoints']:.1f} s; row 3 = {FULL_RUN} / (row 2's training + these). Cross-check: train() of "
          f"{chk['iterations']} iterations, all {chk['snapshots']} snapshotted, {chk['seconds_on']:.2f} s vs {chk['seconds_off']:.2f} s "
          f"without a run dir = {chk['snapshot_s'] * 1e3:.1f} ms per snapshot.")
    print(f"[b] {lim['flops'] / 1e9:.3f} GFLOP per generator iteration ({lim['gemms']} GEMMs, 2·rows·in·out each), torch.mm on "
          f"exactly those shapes back to back in the same rotation: {lim['seconds'] * 1e3:.2f} ms = {lim['rate'] / 1e9:.1f} "
          f"GFLOP/s ({BATCH}×{r['width']} @ {r['width']}×{r['width']} alone: {lim['square_rate'] / 1e9:.1f} GFLOP/s). The "
          "machine's speed drifts between blocks even when idle: compare best with best, median with median.")
    if cli is not None:
        print(f"[c] G it/s = ({cli['iterations']} − {cli['start']}) / (t_{cli['iterations']} − t_{cli['start']}), each t the "
              f"best clean wall time; 'process' = {cli['iterations']} / t_{cli['iterations']}, start-up included. The CLI "
              f"records as a default run does ({cli['snapshots_in_span']} snapshots in the span, metrics.jsonl, checkpoints).")
    print("[d] Denormals (0 < |x| < 1.2e-38) held after the warm-up and at the end, [denormal]/[all] (activations: every "
          "layer's output on one batch, in the contender's flush mode). Where the penalty is ~1× they cannot matter.\n")


if __name__ == "__main__":
    main()

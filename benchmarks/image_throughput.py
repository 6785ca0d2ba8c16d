"""Image-GAN throughput: DCGAN on 32 px digits, batch 64, the gan-mixup trainer vs a plain loop written
like pytorch/examples' dcgan/main.py, ERM and mixup, sustained; and what snapshots cost.

Run:  .venv/bin/python benchmarks/image_throughput.py [--width 32] [--image-size 32] [--threads T] [--json PATH]
      .venv/bin/python benchmarks/image_throughput.py --width 64        # the issue's setting (~3× longer)
      .venv/bin/python benchmarks/image_throughput.py --quick           # a ~20 s smoke run (width 16, 16 px)

Setting: the bundled digits upsampled to ``--image-size``, DCGAN G and D (base width ``--width``; 100-d
noise; D with BatchNorm), batch 64, 1 D step, Adam 2e-4 (0.5, 0.999), non-saturating G loss; mixup:
λ ~ Beta(0.2, 0.2) per sample. Width 64 takes ~0.4 s per iteration on 2 cores, hence the default 32.

1. plain ERM      ``plain_dcgan.PlainDCGAN``: the loop of pytorch/examples dcgan/main.py, as a user writes it.
2. plain mixup    the same loop with the mixup D loss (the three-line change of the project's README).
3. trainer ERM    ``gan_mixup.train(RunConfig(dataset="digits", ...), run_dir=None)``.
4. trainer mixup  the same, ``objective="mixup"``.
5. trainer mixup, ``g_step_batchnorm="running"``: the G step runs D on the fakes alone, its BatchNorm
                  in eval mode (the running statistics of the D steps), instead of on real ∪ fake.

Sustained: every contender is built once, trains ``--warmup`` iterations (≥ 100), and is then timed in
short blocks on its continuing models, all five in rotation (``harness.alternate``). The plain loops run
in the main thread; each trainer is ``train`` paused at a log record between its blocks
(``harness.TrainerThread``), so rows 3-5 are exactly what ``train`` does. The table reports the best and
the median of the blocks other processes left undisturbed, the JSON every block.

Also: ``train_step``'s CPU time per step, one thread, in alternating blocks (``step_cpu_costs``); and
``take_snapshot`` timed with and without metrics, times the snapshots of a default 2,000-iteration run,
as a share of its training (``snapshot_cost``), cross-checked by short ``train`` runs (``recording_check``).
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from harness import (BLOCK_FLAGS, CLEAN, SIDE_BY_SIDE, TrainerThread, add_plan, alternate, cpu_line, machine, parse_plan,
                     positive, rss_mib, summarise, table, write_json)
from plain_dcgan import ALPHA, BATCH, BETAS, LR, PlainDCGAN

from gan_mixup.config import LIMITS, RunConfig
from gan_mixup.rundir import snapshot_schedule
from gan_mixup.training import build_state, flush_denormals, metric_schedule, take_snapshot, train, train_step

DEFAULT_RUN = 2000  # iterations of a default digits run (RunConfig's image default)
CONTENDERS = ("plain erm", "plain mixup", "trainer erm", "trainer mixup", "trainer mixup running")


# ----- 3-4. the trainer -----------------------------------------------------------------------

def image_config(width: int, image_size: int, objective: str, iterations: int = DEFAULT_RUN,
                 g_step_batchnorm: str = "batch") -> RunConfig:
    return RunConfig(dataset="digits", image_size=image_size, hidden=width, batch_size=BATCH, objective=objective,
                     alpha=ALPHA, lambda_distribution="beta", lambda_sampling="per-sample",
                     generator_loss="non-saturating", iterations=iterations, seed=0, g_step_batchnorm=g_step_batchnorm)


# ----- the snapshot cost ----------------------------------------------------------------------

def step_cpu_costs(width: int, image_size: int, rounds: int, block: int) -> dict:
    """CPU time of one ``train_step`` (one torch thread, ``time.thread_time``) for ERM, mixup and
    mixup with running statistics in the G step, in alternating blocks of ``block`` steps: a thread's
    CPU time barely changes when other processes share the cores, where its wall time does."""
    configs = {"trainer erm": image_config(width, image_size, "erm"), "trainer mixup": image_config(width, image_size, "mixup"),
               "trainer mixup running": image_config(width, image_size, "mixup", g_step_batchnorm="running")}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with flush_denormals(True):
            states = {who: build_state(config) for who, config in configs.items()}
            for state in states.values():
                for _ in range(block):
                    train_step(state)

            def cpu_seconds(state: object) -> float:
                start = time.thread_time()
                for _ in range(block):
                    train_step(state)
                return (time.thread_time() - start) / block

            blocks = alternate({who: partial(cpu_seconds, state) for who, state in states.items()}, rounds=rounds,
                               max_seconds=math.inf, max_rounds=rounds)
    finally:
        torch.set_num_threads(threads)
    seconds = {who: [t for t, _ in b] for who, b in blocks.items()}
    median = {who: sorted(v)[len(v) // 2] for who, v in seconds.items()}
    return {"rounds": rounds, "block": block, "seconds": seconds, "median_s": median,
            "over_erm": {who: median[who] / median["trainer erm"] - 1 for who in median}}


def snapshot_cost(width: int, image_size: int, objective: str, reps: int) -> dict:
    """Seconds per ``take_snapshot`` with and without metrics (best of ``reps``, alternating), the
    first one (iteration 0: the reference reals, the classifier, the real data's own score), and how
    many of each a default 2,000-iteration run takes."""
    config = image_config(width, image_size, objective)
    state = build_state(config)
    with flush_denormals(), tempfile.TemporaryDirectory(prefix="gan-mixup-bench-img-") as tmp:
        for _ in range(3):
            train_step(state)  # trained a little, so the snapshot sees a non-trivial G
        state.iteration = 0
        start = time.perf_counter()
        take_snapshot(state, Path(tmp), with_metrics=True)
        first = time.perf_counter() - start
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(reps):
            for with_metrics in (True, False):
                state.iteration += 1  # one file per snapshot, as in a run
                start = time.perf_counter()
                take_snapshot(state, Path(tmp), with_metrics=with_metrics)
                times[with_metrics].append(time.perf_counter() - start)
    snapshots = len(snapshot_schedule(config.iterations, config.snapshot_frames, config.snapshot_iterations)) + 1
    with_metrics = len(metric_schedule(config))  # iteration 0 included
    per = {"metrics": min(times[True]), "plain": min(times[False])}
    total = first + (with_metrics - 1) * per["metrics"] + (snapshots - with_metrics) * per["plain"]
    return {"iterations": config.iterations, "snapshot_frames": config.snapshot_frames, "metric_frames": config.metric_frames,
            "metric_samples": config.metric_samples, "snapshots": snapshots, "with_metrics": with_metrics,
            "first_s": first, "metrics_s": per["metrics"], "plain_s": per["plain"], "total_s": total,
            "all": {"metrics": times[True], "plain": times[False]}}


def recording_check(width: int, image_size: int, objective: str, n: int, pairs: int, cost: dict) -> dict:
    """End to end in this process: ``train`` of ``n`` iterations with a run directory (default recording)
    and without, alternating, best of ``pairs`` each; (with − without − checkpoints) vs the snapshot
    time the direct timings predict for that run's snapshots."""
    config = image_config(width, image_size, objective, n)
    seconds = {"on": math.inf, "off": math.inf}
    with tempfile.TemporaryDirectory(prefix="gan-mixup-bench-img-") as tmp:
        for _ in range(pairs):
            seconds["off"] = min(seconds["off"], train(config, run_dir=None).seconds)
            on = train(config, Path(tmp) / "run", overwrite=True)
            seconds["on"] = min(seconds["on"], on.seconds - sum(on.checkpoint_seconds))
    snapshots = len(snapshot_schedule(n, config.snapshot_frames, config.snapshot_iterations)) + 1
    with_metrics = len(metric_schedule(config))
    predicted = (cost["first_s"] + (with_metrics - 1) * cost["metrics_s"] + (snapshots - with_metrics) * cost["plain_s"])
    return {"iterations": n, "snapshots": snapshots, "with_metrics": with_metrics, "seconds_on": seconds["on"],
            "seconds_off": seconds["off"], "measured_s": seconds["on"] - seconds["off"], "predicted_s": predicted}


# ----- the run --------------------------------------------------------------------------------

FULL = {"width": 32, "image_size": 32, "warmup": 100, "rounds": 6, "max_seconds": 90.0, "block_seconds": 3.0,
        "snapshot_reps": 3, "check_iterations": 40, "check_pairs": 2}
QUICK = {"width": 16, "image_size": 16, "warmup": 10, "rounds": 1, "max_seconds": 2.0, "block_seconds": 0.5,
         "snapshot_reps": 1, "check_iterations": 10, "check_pairs": 1}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run (width 16, 16 px, short warm-up, one round)")
    add_plan(parser, FULL, {"width": (int, "DCGAN base width of G and D (the issue's: 64)"),
                            "image-size": (int, "image side in px: 16, 32 or 64"), **BLOCK_FLAGS,
                            "snapshot-reps": (int, "timed snapshots of each sort"),
                            "check-iterations": (int, "iterations of the recording on/off cross-check runs"),
                            "check-pairs": (int, "on/off pairs of the cross-check")})
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parse_plan(parser, argv, FULL, QUICK)
    positive(args, "width", "warmup", "iterations", "rounds", "snapshot_reps", "check_iterations", "check_pairs", "threads")
    if args.image_size not in (16, 32, 64):
        parser.error(f"--image-size must be 16, 32 or 64, got {args.image_size}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rss, wall, log_every = {"start": rss_mib()}, time.perf_counter(), RunConfig.log_every

    # Build each contender once and warm it up; the trainers' warm-up also sizes the blocks.
    plain = {f"plain {o}": PlainDCGAN(args.width, args.image_size, o) for o in ("erm", "mixup")}
    trainers = {who: TrainerThread(image_config(args.width, args.image_size, o, LIMITS["iterations"], bn), torch.get_num_threads())
                for who, o, bn in (("trainer erm", "erm", "batch"), ("trainer mixup", "mixup", "batch"),
                                   ("trainer mixup running", "mixup", "running"))}
    try:
        warm = {}
        for who, gan in plain.items():
            gan.block(args.warmup)
        for who, trainer in trainers.items():
            trainer.block(max(log_every, args.warmup - 2 * log_every))  # from iteration 0: start-up included, not used
            warm[who] = trainer.block(2 * log_every)  # the warm-up's last 20 iterations: their rate sizes the blocks
        # The trainers' blocks end at a log record: block lengths are whole records.
        iterations = log_every * math.ceil((args.iterations or warm["trainer erm"] * args.block_seconds) / log_every)
        max_block = 3 * args.block_seconds if args.iterations is None else math.inf
        timers = {who: (lambda c=c: c.block(iterations, max_block)) for who, c in {**plain, **trainers}.items()}
        blocks = alternate({who: timers[who] for who in CONTENDERS}, rounds=args.rounds, max_seconds=args.max_seconds)
        flushed = {who: t.flushed for who, t in trainers.items()}
    finally:
        for trainer in trainers.values():
            trainer.close()
    rss["training"] = rss_mib()

    stats = {who: summarise(b) for who, b in blocks.items()}
    steps = step_cpu_costs(args.width, args.image_size, args.rounds, max(2, iterations // 2))
    cost = snapshot_cost(args.width, args.image_size, "mixup", args.snapshot_reps)
    check = recording_check(args.width, args.image_size, "mixup", args.check_iterations, args.check_pairs, cost)

    def ratio(a: str, b: str) -> dict:
        return {k: stats[a][k] / stats[b][k] for k in ("best", "median")}

    training_s = {o: DEFAULT_RUN / stats[f"trainer {o}"]["best"] for o in ("erm", "mixup")}
    result = {
        "dataset": "digits", "width": args.width, "image_size": args.image_size, "batch": BATCH, "d_steps": 1,
        "alpha": ALPHA, "quick": args.quick, "warmup": args.warmup, "iterations_per_block": iterations,
        "rounds": args.rounds, **machine(),
        **{who: {**s, "images_per_second": s["best"] * BATCH, "median_images_per_second": s["median"] * BATCH}
           for who, s in stats.items()},
        "trainer_over_plain": {o: ratio(f"trainer {o}", f"plain {o}") for o in ("erm", "mixup")},
        "mixup_cost": {loop: {k: 1 / v - 1 for k, v in ratio(f"{loop} mixup", f"{loop} erm").items()} for loop in ("trainer", "plain")},
        "mixup_running_cost": {k: 1 / v - 1 for k, v in ratio("trainer mixup running", "trainer erm").items()},
        "step_cpu": steps,
        "snapshots": {**cost, "share_of_training": {o: cost["total_s"] / training_s[o] for o in training_s},
                      "training_s": training_s},
        "recording_check": check, "flushed_inside_train": flushed,
        "peak_rss_mib": {**rss, "end": rss_mib()}, "wall_seconds": time.perf_counter() - wall,
    }
    print_report(result)
    write_json(args.json, result)
    return result


def print_report(r: dict) -> None:
    snap, chk, top, mc, sc, mr = (r["snapshots"], r["recording_check"], r["trainer_over_plain"], r["mixup_cost"], r["step_cpu"],
                                  r["mixup_running_cost"])
    print(f"\ngan-mixup image GAN throughput: DCGAN width {r['width']} at {r['image_size']} px on digits (1 channel), batch "
          f"{r['batch']}, {r['d_steps']} D step per G step, Adam {LR:g} {BETAS}, non-saturating G loss; mixup: α={r['alpha']} "
          f"per-sample Beta λ" + ("   [--quick: a smoke run, not a measurement]" if r["quick"] else ""))
    print(f"{cpu_line()}; python {r['python']}")
    print(f"sustained: each contender trained {r['warmup']} iterations, then blocks of {r['iterations_per_block']} iterations "
          f"on its continuing models, {SIDE_BY_SIDE}; best / median of the blocks other processes used < {CLEAN} core "
          f"of; images/s = G it/s × batch {r['batch']}\n")
    names = {"plain erm": "1 plain ERM (pytorch/examples dcgan loop)", "plain mixup": "2 plain mixup (same loop, mixup D loss)",
             "trainer erm": "3 gan-mixup train(run_dir=None), erm", "trainer mixup": "4 gan-mixup train(run_dir=None), mixup",
             "trainer mixup running": "5 row 4, --g-step-batchnorm running"}
    table(["contender", "G it/s", "median", "images/s", "clean/all", "vs plain", "2000-it run"],
          [[names[who], f"{r[who]['best']:.2f}", f"{r[who]['median']:.2f}", f"{r[who]['images_per_second']:.0f}",
            f"{r[who]['clean']}/{r[who]['blocks']}", f"{r[who]['best'] / r['plain ' + who.split()[1]]['best']:.2f}×",
            f"{DEFAULT_RUN / r[who]['best'] / 60:.1f} min"] for who in CONTENDERS])
    if min(r[who]["clean"] for who in CONTENDERS) == 0:
        print("WARNING: no undisturbed block for a contender: other processes shared the CPU throughout; the numbers are unreliable")
    print(f"\non {r['cpu']}, {SIDE_BY_SIDE}:")
    print(f"trainer / plain: ERM {top['erm']['best']:.2f}× (medians {top['erm']['median']:.2f}×), mixup "
          f"{top['mixup']['best']:.2f}× (medians {top['mixup']['median']:.2f}×)   [target ≥ 1.2×]")
    print(f"mixup over ERM, time per iteration: trainer {mc['trainer']['best']:+.1%} (medians {mc['trainer']['median']:+.1%}), "
          f"plain {mc['plain']['best']:+.1%} (medians {mc['plain']['median']:+.1%})   [target: trainer ≤ +5%]")
    print(f"CPU time per train_step, 1 thread, median of {sc['rounds']} alternating blocks of {sc['block']}: "
          + ", ".join(f"{who.removeprefix('trainer ')} {sc['median_s'][who] * 1e3:.0f} ms ({sc['over_erm'][who]:+.1%})"
                      for who in sc["median_s"]) + " vs ERM")
    print(f"mixup with --g-step-batchnorm running over ERM: {mr['best']:+.1%} (medians {mr['median']:+.1%})   [target: ≤ +10%]")
    print(f"snapshots of a default {snap['iterations']}-iteration run: {snap['snapshots']} (snapshot_schedule + iteration 0), "
          f"{snap['with_metrics']} with metrics ({snap['metric_samples']} fakes through the digit classifier): first "
          f"{snap['first_s']:.2f} s + {snap['with_metrics'] - 1} × {snap['metrics_s'] * 1e3:.0f} ms + "
          f"{snap['snapshots'] - snap['with_metrics']} × {snap['plain_s'] * 1e3:.1f} ms = {snap['total_s']:.1f} s = "
          f"{snap['share_of_training']['mixup']:.1%} of that run's training at row 4's rate "
          f"({snap['share_of_training']['erm']:.1%} at row 3's)   [target ≤ 3%]")
    print(f"cross-check, train() of {chk['iterations']} iterations (mixup; {chk['snapshots']} snapshots, {chk['with_metrics']} "
          f"with metrics): with a run directory {chk['seconds_on']:.2f} s (checkpoints excluded) vs {chk['seconds_off']:.2f} s "
          f"without = {chk['measured_s']:.2f} s of recording; the direct timings predict {chk['predicted_s']:.2f} s")
    print(f"train() flushes denormals in its thread: {r['flushed_inside_train']}; peak RSS {r['peak_rss_mib']['end']:.0f} MiB "
          f"(after imports {r['peak_rss_mib']['start']:.0f}); wall time {r['wall_seconds']:.0f} s\n")


if __name__ == "__main__":
    main()

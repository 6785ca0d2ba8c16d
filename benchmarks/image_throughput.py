"""Image-GAN throughput: DCGAN on 32 px digits, batch 64, the gan-mixup trainer vs a plain loop written
like pytorch/examples' dcgan/main.py, ERM and mixup, sustained; and what snapshots cost.

Run:  .venv/bin/python benchmarks/image_throughput.py [--width 32] [--image-size 32] [--threads T] [--json PATH]
      .venv/bin/python benchmarks/image_throughput.py --width 64        # the issue's setting (~3× longer)
      .venv/bin/python benchmarks/image_throughput.py --quick           # a ~20 s smoke run (width 16, 16 px)

Setting: scikit-learn's bundled digits (``gan_mixup.modalities.images.data``, upsampled to ``--image-size``), DCGAN G and D
of ``gan_mixup.modalities.images.models`` (base width ``--width``; 100-d noise; D with BatchNorm), batch 64, 1 D step per
G step, Adam lr 2e-4, betas (0.5, 0.999), non-saturating G loss; mixup: λ ~ Beta(0.2, 0.2) per sample,
one D forward on λ·real + (1−λ)·fake with target λ. The issue asks for width 64; on a 2-core CPU a
64-wide DCGAN at 32 px takes ~0.4 s per iteration, so the default is width 32 (a run of ~4 minutes).

1. plain ERM      ``PlainDCGAN`` below: the loop of pytorch/examples dcgan/main.py, as a user writes it.
2. plain mixup    the same loop with the mixup D loss (the three-line change of the project's README).
3. trainer ERM    ``gan_mixup.train(RunConfig(dataset="digits", ...), run_dir=None)``.
4. trainer mixup  the same, ``objective="mixup"``.
5. trainer mixup, ``g_step_batchnorm="running"``: the G step runs D on the fakes alone, its BatchNorm
                  in eval mode (the running statistics of the D steps), instead of on real ∪ fake.

Sustained: every contender is built once, trains ``--warmup`` iterations (≥ 100), and is then timed in
short blocks on its continuing models, all five in rotation. The plain loops run in the main thread;
each trainer runs ``train`` in a thread of its own, paused at a log record between its blocks
(``TrainerThread``; only one thread computes at a time), so rows 3-5 are exactly what ``train`` does.
Each block's disturbance by other processes is read from /proc/stat (``toy_throughput.OtherLoad``); the
table reports the best and the median of the undisturbed blocks, the JSON every block.

Step CPU time: ``train_step`` alone on ERM, mixup and row 5's states, one torch thread, timed by
``time.thread_time`` in alternating blocks (``step_cpu_costs``): on a machine other processes share,
a thread's CPU time is a steadier measure of what one step costs than its wall time.

Snapshots: ``take_snapshot`` is timed directly with metrics (``metric_samples`` fakes and reals through
the digit classifier) and without (the fixed-noise sample grid only), times the snapshots a default
2,000-iteration digits run takes (``snapshot_schedule`` and ``metric_schedule``), as a share of that
run's training time; cross-checked by short ``train`` runs with and without a run directory.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_throughput, beside this file
from toy_throughput import CLEAN, OtherLoad, machine, rss_mib, summarise  # noqa: E402  (also puts the checkout on sys.path)

from gan_mixup.config import LIMITS, RunConfig  # noqa: E402
from gan_mixup.modalities.images.models import dcgan_discriminator, dcgan_generator  # noqa: E402
from gan_mixup.modalities.images.data import get_image_dataset  # noqa: E402
from gan_mixup.rundir import snapshot_schedule  # noqa: E402
from gan_mixup.training import StopTraining, build_state, train  # noqa: E402
from gan_mixup.training.process import denormals_flushed, flush_denormals  # noqa: E402
from gan_mixup.training.recorder import take_snapshot  # noqa: E402
from gan_mixup.training.schedule import metric_schedule  # noqa: E402
from gan_mixup.training.step import train_step  # noqa: E402

BATCH, NZ, ALPHA, LR, BETAS = 64, 100, 0.2, 2e-4, (0.5, 0.999)
DEFAULT_RUN = 2000  # iterations of a default digits run (RunConfig's image default)
CONTENDERS = ("plain erm", "plain mixup", "trainer erm", "trainer mixup", "trainer mixup running")


# ----- 1-2. the plain loop --------------------------------------------------------------------

class PlainDCGAN:
    """The training loop of pytorch/examples ``dcgan/main.py``, written as a user would for these digits.

    As there: ``netD.zero_grad()``, D on the real batch with label 1 and ``backward``, one G forward,
    D on ``fake.detach()`` with label 0 and ``backward`` (two D forwards, so BatchNorm sees pure
    batches), ``optimizerD.step()``; then ``netG.zero_grad()``, D on the same ``fake`` with label 1
    (D's weights keep requiring grad), ``optimizerG.step()``; ``.item()`` of the losses and of D's mean
    outputs every iteration (main.py prints them). Different from main.py: the models come from
    ``gan_mixup.modalities.images.models`` (the same architecture and init as the trainer's; D returns logits, so the
    criterion is ``nn.BCEWithLogitsLoss`` instead of main.py's Sigmoid + ``nn.BCELoss``), the batches
    are drawn from the in-memory digits instead of a DataLoader, and the log is kept in a list
    instead of printed. ``objective="mixup"``: λ ~ Beta(0.2, 0.2) per sample from
    ``torch.distributions``, one D forward on λ·real + (1−λ)·fake.detach() with target λ.
    """

    def __init__(self, width: int, image_size: int, objective: str, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.netG = dcgan_generator(NZ, 1, image_size, width)
        self.netD = dcgan_discriminator(1, image_size, width)
        self.criterion = nn.BCEWithLogitsLoss()
        self.optimizerD = torch.optim.Adam(self.netD.parameters(), lr=LR, betas=BETAS)
        self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=LR, betas=BETAS)
        self.dataset = get_image_dataset("digits", image_size=image_size)
        self.data_rng = torch.Generator().manual_seed(seed)
        self.beta = torch.distributions.Beta(torch.tensor(ALPHA), torch.tensor(ALPHA))
        self.objective = objective
        self.log: list[tuple[float, ...]] = []

    def step(self) -> None:
        real = self.dataset.sample(BATCH, self.data_rng)
        b = real.size(0)
        # (1) Update D
        self.netD.zero_grad()
        noise = torch.randn(b, NZ, 1, 1)
        fake = self.netG(noise)
        if self.objective == "erm":
            label = torch.full((b,), 1.0)
            output = self.netD(real)
            errD_real = self.criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()
            label.fill_(0.0)
            output = self.netD(fake.detach())
            errD_fake = self.criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
        else:
            lam = self.beta.sample((b,))
            w = lam.view(b, 1, 1, 1)
            output = self.netD(w * real + (1 - w) * fake.detach())
            errD = self.criterion(output, lam)
            errD.backward()
            D_x, D_G_z1 = output.mean().item(), lam.mean().item()
        self.optimizerD.step()
        # (2) Update G
        self.netG.zero_grad()
        label = torch.full((b,), 1.0)
        output = self.netD(fake)
        errG = self.criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        self.optimizerG.step()
        self.log.append((errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))

    def block(self, iterations: int, max_seconds: float = math.inf) -> float:
        """Generator iterations per second of ``iterations`` more steps (fewer after ``max_seconds``)."""
        done, start = 0, time.perf_counter()
        while done < iterations and time.perf_counter() - start < max_seconds:
            self.step()
            done += 1
        return done / (time.perf_counter() - start)


# ----- 3-4. the trainer -----------------------------------------------------------------------

def image_config(width: int, image_size: int, objective: str, iterations: int = DEFAULT_RUN,
                 g_step_batchnorm: str = "batch") -> RunConfig:
    return RunConfig(dataset="digits", image_size=image_size, hidden=width, batch_size=BATCH, objective=objective,
                     alpha=ALPHA, lambda_distribution="beta", lambda_sampling="per-sample",
                     generator_loss="non-saturating", iterations=iterations, seed=0, g_step_batchnorm=g_step_batchnorm)


class TrainerThread:
    """``train(config, run_dir=None)`` in a thread of its own, paused at a log record between blocks.

    ``train`` hands its callbacks a record every ``log_every`` iterations. At the first record at or
    past the block's end, the callback notes (iteration, time), wakes the main thread and waits; the
    next ``block`` call lets it go on, and the block's time runs from there to the next stop, so it
    holds everything ``train`` does (flush-to-zero in its thread, non-finite checks, logging). Two
    trainers cannot share one callback the way toy_throughput's single trainer does, hence the threads;
    only one thread computes at a time. torch's intra-op thread count is set in the thread.
    """

    def __init__(self, config: RunConfig, threads: int) -> None:
        self.config, self.threads = config, threads
        self._go, self._paused = threading.Semaphore(0), threading.Semaphore(0)
        self._thread = threading.Thread(target=self._main, name=f"train-{config.objective}", daemon=True)
        self._target, self._deadline, self._stop = 0, math.inf, False
        self._start = self._end = (0, 0.0)
        self.error: BaseException | None = None
        self.flushed: bool | None = None  # denormals_flushed() inside train

    def _main(self) -> None:
        torch.set_num_threads(self.threads)
        try:
            train(self.config, run_dir=None, callbacks=[self._on_record])
        except BaseException as err:  # handed to the main thread by block()
            self.error = err
        finally:
            self._stop = True
            self._paused.release()

    def _on_record(self, record: dict) -> None:
        now = time.perf_counter()
        if record.get("kind") != "train":
            return
        it = record["iteration"]
        if it < self._target and now < self._deadline:
            return
        self._end = (it, now)
        self.flushed = denormals_flushed()
        self._paused.release()
        self._go.acquire()
        if self._stop:
            raise StopTraining
        self._start = (it, time.perf_counter())

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
            seconds: dict[str, list[float]] = {who: [] for who in states}
            for r in range(rounds):
                for who in (list(states) if r % 2 == 0 else list(states)[::-1]):
                    start = time.thread_time()
                    for _ in range(block):
                        train_step(states[who])
                    seconds[who].append((time.thread_time() - start) / block)
    finally:
        torch.set_num_threads(threads)
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
    parser.add_argument("--width", type=int, default=None, help=f"DCGAN base width of G and D (default {FULL['width']}; the issue's: 64)")
    parser.add_argument("--image-size", type=int, choices=(16, 32, 64), default=None, help=f"image side in px (default {FULL['image_size']})")
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run (width 16, 16 px, short warm-up, one round)")
    parser.add_argument("--warmup", type=int, default=None, help=f"iterations each contender trains before it is timed (default {FULL['warmup']})")
    parser.add_argument("--iterations", type=int, default=None, help="generator iterations per timed block (default: about --block-seconds' worth)")
    parser.add_argument("--block-seconds", type=float, default=None, help=f"length of one timed block (default {FULL['block_seconds']})")
    parser.add_argument("--rounds", type=int, default=None, help=f"undisturbed blocks wanted per contender (default {FULL['rounds']})")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help=f"stop collecting blocks after this long even if fewer were undisturbed (default {FULL['max_seconds']:.0f})")
    parser.add_argument("--snapshot-reps", type=int, default=None, help=f"timed snapshots of each kind (default {FULL['snapshot_reps']})")
    parser.add_argument("--check-iterations", type=int, default=None,
                        help=f"iterations of the recording on/off cross-check runs (default {FULL['check_iterations']})")
    parser.add_argument("--check-pairs", type=int, default=None, help=f"on/off pairs of the cross-check (default {FULL['check_pairs']})")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("width", "warmup", "iterations", "rounds", "snapshot_reps", "check_iterations", "check_pairs", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    if args.block_seconds <= 0 or args.max_seconds <= 0:
        parser.error("--block-seconds and --max-seconds must be positive")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    rss = {"start": rss_mib()}
    wall = time.perf_counter()
    log_every = RunConfig.log_every

    # Build each contender once and warm it up; the trainers' warm-up also sizes the blocks.
    plain = {f"plain {o}": PlainDCGAN(args.width, args.image_size, o) for o in ("erm", "mixup")}
    trainers = {f"trainer {o}": TrainerThread(image_config(args.width, args.image_size, o, LIMITS["iterations"]), threads)
                for o in ("erm", "mixup")}
    trainers["trainer mixup running"] = TrainerThread(
        image_config(args.width, args.image_size, "mixup", LIMITS["iterations"], "running"), threads)
    blocks: dict[str, list[tuple[float, float]]] = {who: [] for who in CONTENDERS}
    try:
        warm = {}
        for who, gan in plain.items():
            gan.block(args.warmup)
        for who, trainer in trainers.items():
            trainer.block(max(log_every, args.warmup - 2 * log_every))  # from iteration 0: start-up included, not used
            warm[who] = trainer.block(2 * log_every)  # the warm-up's last 20 iterations: their rate sizes the blocks
        # The trainers' blocks end at a log record: block lengths are whole records.
        iterations = log_every * (math.ceil(args.iterations / log_every) if args.iterations
                                  else max(1, round(warm["trainer erm"] * args.block_seconds / log_every)))
        max_block = 3 * args.block_seconds if args.iterations is None else math.inf
        timers = {**{who: gan.block for who, gan in plain.items()}, **{who: t.block for who, t in trainers.items()}}

        deadline, r = time.perf_counter() + args.max_seconds, 0
        while True:
            clean = min(sum(other < CLEAN for _, other in b) for b in blocks.values())
            if clean >= args.rounds or (r >= 2 and time.perf_counter() > deadline):
                break
            for who in CONTENDERS[r % len(CONTENDERS):] + CONTENDERS[: r % len(CONTENDERS)]:
                with OtherLoad() as meter:
                    ips = timers[who](iterations, max_block)
                blocks[who].append((ips, meter.cores))
            r += 1
        flushed = {who: t.flushed for who, t in trainers.items()}
    finally:
        for trainer in trainers.values():
            trainer.close()
    rss["training"] = rss_mib()

    stats = {who: summarise(b) for who, b in blocks.items()}
    steps = step_cpu_costs(args.width, args.image_size, args.rounds, max(2, iterations // 2))
    cost = snapshot_cost(args.width, args.image_size, "mixup", args.snapshot_reps)
    check = recording_check(args.width, args.image_size, "mixup", args.check_iterations, args.check_pairs, cost)
    rss["end"] = rss_mib()

    def ratio(a: str, b: str) -> dict:
        return {"best": stats[a]["best"] / stats[b]["best"], "median": stats[a]["median"] / stats[b]["median"]}

    training_s = {o: DEFAULT_RUN / stats[f"trainer {o}"]["best"] for o in ("erm", "mixup")}
    result = {
        "dataset": "digits", "width": args.width, "image_size": args.image_size, "batch": BATCH, "d_steps": 1,
        "alpha": ALPHA, "quick": args.quick, "warmup": args.warmup, "iterations_per_block": iterations,
        "rounds": args.rounds, **machine(),
        **{who: {**s, "images_per_second": s["best"] * BATCH, "median_images_per_second": s["median"] * BATCH}
           for who, s in stats.items()},
        "trainer_over_plain": {o: ratio(f"trainer {o}", f"plain {o}") for o in ("erm", "mixup")},
        "mixup_cost": {kind: {k: 1 / v - 1 for k, v in ratio(f"{kind} mixup", f"{kind} erm").items()} for kind in ("trainer", "plain")},
        "mixup_running_cost": {k: 1 / v - 1 for k, v in ratio("trainer mixup running", "trainer erm").items()},
        "step_cpu": steps,
        "snapshots": {**cost, "share_of_training": {o: cost["total_s"] / training_s[o] for o in training_s},
                      "training_s": training_s},
        "recording_check": check, "flushed_inside_train": flushed,
        "peak_rss_mib": rss, "wall_seconds": time.perf_counter() - wall,
    }
    result["targets"] = {
        "trainer_over_plain": {"target": 1.2, "erm": result["trainer_over_plain"]["erm"]["best"],
                               "mixup": result["trainer_over_plain"]["mixup"]["best"]},
        "mixup_slower_than_erm": {"target": 0.05, "measured": result["mixup_cost"]["trainer"]["best"]},
        "snapshots": {"target": 0.03, "measured": result["snapshots"]["share_of_training"]["mixup"]},
    }
    print_table(result)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


def print_table(r: dict) -> None:
    snap, chk, t = r["snapshots"], r["recording_check"], r["targets"]
    print(f"\ngan-mixup image GAN throughput: DCGAN width {r['width']} at {r['image_size']} px on digits (1 channel), batch "
          f"{r['batch']}, {r['d_steps']} D step per G step, Adam {LR:g} {BETAS}, non-saturating G loss; mixup: α={r['alpha']} "
          f"per-sample Beta λ" + ("   [--quick: a smoke run, not a measurement]" if r["quick"] else ""))
    print(f"torch {r['torch']}, {r['threads']} thread{'s' if r['threads'] != 1 else ''} ({r['interop_threads']} interop), "
          f"{r['cpu_count']} CPUs: {r['cpu']}; python {r['python']}")
    print(f"sustained: each contender built once and trained {r['warmup']} iterations, then timed in blocks of "
          f"{r['iterations_per_block']} generator iterations on its continuing models, all in rotation; best / median "
          f"of the undisturbed blocks (other processes < {CLEAN} core); images/s = G iterations/s × batch {r['batch']}\n")
    head = f"{'contender':<44} {'G it/s':>7} {'median':>7} {'images/s':>9} {'clean/all':>10} {'vs plain':>9} {'2000-it run':>12}"
    print(head)
    print("-" * len(head))
    names = {"plain erm": "1 plain ERM (pytorch/examples dcgan loop)", "plain mixup": "2 plain mixup (same loop, mixup D loss)",
             "trainer erm": "3 gan-mixup train(run_dir=None), erm", "trainer mixup": "4 gan-mixup train(run_dir=None), mixup",
             "trainer mixup running": "5 row 4, --g-step-batchnorm running"}
    for who in CONTENDERS:
        s = r[who]
        base = r["plain " + who.split()[1]]["best"]
        print(f"{names[who]:<44} {s['best']:>7.2f} {s['median']:>7.2f} {s['images_per_second']:>9.0f} "
              f"{s['clean']:>5}/{s['blocks']:<4} {s['best'] / base:>8.2f}× {DEFAULT_RUN / s['best'] / 60:>8.1f} min")
    if min(r[who]["clean"] for who in CONTENDERS) == 0:
        print("WARNING: no undisturbed block for a contender: other processes shared the CPU throughout; the numbers are unreliable")
    top, mc = r["trainer_over_plain"], r["mixup_cost"]
    print(f"\ntrainer / plain: ERM {top['erm']['best']:.2f}× (medians {top['erm']['median']:.2f}×), mixup "
          f"{top['mixup']['best']:.2f}× (medians {top['mixup']['median']:.2f}×)   [target ≥ {t['trainer_over_plain']['target']}×]")
    print(f"mixup over ERM, time per iteration: trainer {mc['trainer']['best']:+.1%} (medians {mc['trainer']['median']:+.1%}), "
          f"plain {mc['plain']['best']:+.1%} (medians {mc['plain']['median']:+.1%})   [target: trainer ≤ +5%]")
    sc = r["step_cpu"]
    print(f"CPU time per train_step, 1 thread, median of {sc['rounds']} alternating blocks of {sc['block']}: "
          + ", ".join(f"{who.removeprefix('trainer ')} {sc['median_s'][who] * 1e3:.0f} ms ({sc['over_erm'][who]:+.1%})"
                      for who in sc["median_s"]) + " vs ERM")
    mr = r["mixup_running_cost"]
    print(f"mixup with --g-step-batchnorm running over ERM: {mr['best']:+.1%} (medians {mr['median']:+.1%})   "
          f"[issue 25 target: ≤ +10%]")
    print(f"snapshots of a default {snap['iterations']}-iteration run: {snap['snapshots']} (snapshot_schedule({snap['iterations']}, "
          f"{snap['snapshot_frames']}) + iteration 0), {snap['with_metrics']} of them with metrics (metric_schedule: "
          f"{snap['metric_frames']} log-spaced + the paper's + first and last; {snap['metric_samples']} fakes through the digit "
          f"classifier): first {snap['first_s']:.2f} s + {snap['with_metrics'] - 1} × {snap['metrics_s'] * 1e3:.0f} ms + "
          f"{snap['snapshots'] - snap['with_metrics']} × {snap['plain_s'] * 1e3:.1f} ms = {snap['total_s']:.1f} s = "
          f"{snap['share_of_training']['mixup']:.1%} of that run's training at row 4's rate "
          f"({snap['share_of_training']['erm']:.1%} at row 3's)   [target ≤ 3%]")
    print(f"cross-check, train() of {chk['iterations']} iterations in this process (mixup; {chk['snapshots']} snapshots, "
          f"{chk['with_metrics']} with metrics): with a run directory {chk['seconds_on']:.2f} s (checkpoints excluded) vs "
          f"{chk['seconds_off']:.2f} s without = {chk['measured_s']:.2f} s of recording; the direct timings predict "
          f"{chk['predicted_s']:.2f} s")
    print(f"train() flushes denormals in its thread: {r['flushed_inside_train']}; peak RSS {r['peak_rss_mib']['end']:.0f} MiB "
          f"(after imports {r['peak_rss_mib']['start']:.0f}); script wall time {r['wall_seconds']:.0f} s\n")


if __name__ == "__main__":
    main()

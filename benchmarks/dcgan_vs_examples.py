"""DCGAN against the loop people copy: ``gan-mixup images`` vs pytorch/examples' ``dcgan/main.py``,
both as whole processes, on the same MNIST-format files, alternated, start-up cancelled.

Run:  .venv/bin/python benchmarks/dcgan_vs_examples.py --examples PATH [--objective erm] [--amp]
                                                        [--also=--channels-last] [--from 40] [--to 120]
                                                        [--repeats 3] [--example-workers 0] [--json PATH]
      make bench-dcgan EXAMPLES=PATH

``PATH`` is a checkout of https://github.com/pytorch/examples (its ``dcgan/main.py`` runs unchanged;
nothing is downloaded: the script refuses to run without it). The benchmark writes MNIST's four IDX
files (scikit-learn's bundled digits, upsampled to 28 px, tiled to ``--to + 8`` batches: one epoch of
the example covers the timed window) under a temporary ``MNIST/raw``, where torchvision finds them and
skips its download.

Both sides train the same network: DCGAN at 64 px, ngf = ndf = 64, nz = 100, batch 64, Adam 2e-4,
β1 0.5, ERM (non-saturating G loss), one D step, D's BatchNorm on pure real and fake batches.

- example:   ``python -u main.py --dataset mnist --dataroot DATA --imageSize 64 --niter 1 --manualSeed 0
             --workers 0`` with its other defaults (a PNG of G's fixed noise every 100 iterations). ``--workers 0``
             (``--example-workers``) loads its batches on the training thread, as gan-mixup samples its
             in-memory dataset: its default 2 loader processes would share the cores with its training
             threads, and on 2 cores that made it 1.48x where the CPU time said 1.09x. Both then have
             every core to themselves, in turn, with torch's default thread count.
- gan-mixup: ``gan-mixup images --dataset mnist --data-root DATA --image-size 64 --hidden 64`` with the
             image defaults of a 2,000-iteration run: its snapshot schedule (G's fixed noise, D's input
             gradients at real, fake and mixed images) and metric snapshots (Fréchet distance, precision,
             recall... in the MNIST classifier's features, the classifier trained once, before timing,
             into a cache of this benchmark), metrics.jsonl and checkpoints.

``--also FLAGS`` adds a row: gan-mixup with those flags besides (an opt-in setting next to the default).

Each process is timed from its own progress: the example prints one line per iteration, gan-mixup's
progress bar (tqdm, to a pipe) reports its count; the parent timestamps what arrives and reports
iterations per second between ``--from`` and ``--to`` (start-up, data loading and the first
iterations excluded), then kills the process. The two alternate, ``--repeats`` times each, and the
table gives the median and best of each and the ratio of the medians, with the CPU they ran on:
quote a ratio with it (kernels, AMX and cache sizes move these ratios from one CPU to another).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness import REPO, SIDE_BY_SIDE, cpu_line, fail, machine, rate_table, timed_progress, tqdm_count

BATCH = 64
EXAMPLE_LINE = re.compile(r"^\[(\d+)/(\d+)\]\[(\d+)/(\d+)\] Loss_D")


def write_mnist(root: Path, n: int) -> Path:
    """MNIST's four IDX files under ``root/MNIST/raw`` with ``n`` training images: the bundled digits
    (8 px, 0..16) upsampled to 28 px and tiled. Returns ``root``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = torch.as_tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    big = F.interpolate(pixels, size=28, mode="bilinear", align_corners=False).clamp(0, 1)
    images = (big.squeeze(1).numpy() * 255).round().astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    reps = -(-n // len(images))
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)

    def idx(path: Path, array: np.ndarray) -> None:
        header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        path.write_bytes(header + array.tobytes())

    train_x, train_y = np.tile(images, (reps, 1, 1))[:n], np.tile(labels, reps)[:n]
    idx(raw / "train-images-idx3-ubyte", train_x)
    idx(raw / "train-labels-idx1-ubyte", train_y)
    idx(raw / "t10k-images-idx3-ubyte", images[:1000])
    idx(raw / "t10k-labels-idx1-ubyte", labels[:1000])
    return root


def example_command(main_py: Path, data: Path, out: Path, workers: int = 0) -> list[str]:
    """The example's command line: unchanged but for ``--workers`` (its data-loader processes; see above)."""
    return [sys.executable, "-u", str(main_py), "--dataset", "mnist", "--dataroot", str(data), "--imageSize", "64",
            "--niter", "1", "--manualSeed", "0", "--workers", str(workers), "--outf", str(out)]


def ours_command(data: Path, out: Path, objective: str, amp: bool, extra: tuple[str, ...] = ()) -> list[str]:
    command = [sys.executable, "-m", "gan_mixup.cli", "images", "--dataset", "mnist", "--data-root", str(data),
               "--image-size", "64", "--hidden", "64", "--objective", objective, "--seed", "0", "--out", str(out),
               "--overwrite"]
    return command + (["--amp"] if amp else []) + list(extra)


def example_count(text: str) -> int | None:
    """Iterations completed, as the example's per-iteration line (``[0/1][12/128] Loss_D ...``) reports them."""
    match = EXAMPLE_LINE.match(text.strip())
    return int(match.group(3)) + 1 if match else None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="?", const="", help="a checkout of github.com/pytorch/examples (required)")
    parser.add_argument("--objective", default="erm", help="gan-mixup's objective (the example is ERM)")
    parser.add_argument("--amp", action="store_true", help="gan-mixup under bfloat16 autocast (--amp)")
    parser.add_argument("--also", action="append", default=[], metavar="FLAGS",
                        help="one more gan-mixup row with these extra flags, e.g. --also=--channels-last (repeatable)")
    parser.add_argument("--from", dest="first", type=int, default=40)
    parser.add_argument("--to", dest="last", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--example-workers", type=int, default=0,
                        help="the example's data-loader processes (its own default is 2; 0 keeps them off the "
                             "cores both are timed on)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one process may take")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not args.examples:
        fail("no checkout of pytorch/examples: pass --examples PATH (make bench-dcgan EXAMPLES=PATH), a checkout of "
             "github.com/pytorch/examples; nothing is downloaded")
    main_py = Path(args.examples) / "dcgan" / "main.py"
    if not main_py.is_file():
        fail(f"{main_py} is missing: pass --examples, a checkout of github.com/pytorch/examples")

    with tempfile.TemporaryDirectory(prefix="bench-dcgan-") as tmp:
        tmp = Path(tmp)
        data = write_mnist(tmp / "data", BATCH * (args.last + 8))
        env = {**os.environ, "GAN_MIXUP_CACHE": str(tmp / "cache"), "PYTHONPATH": str(REPO),
               "PYTHONDONTWRITEBYTECODE": "1"}
        # Once, untimed: trains and caches the MNIST classifier the metric snapshots use.
        timed_progress(ours_command(data, tmp / "warm", args.objective, args.amp), env, tqdm_count, 1, 2, args.timeout,
                       cwd=REPO)
        variants = {"gan-mixup": ()} | {f"gan-mixup {flags}": tuple(flags.split()) for flags in args.also}
        runs: dict[str, list[dict]] = {"example": [], **{name: [] for name in variants}}
        for repeat in range(args.repeats):
            order = [("example", example_command(main_py, data, tmp / f"ex{repeat}", args.example_workers))]
            order += [(name, ours_command(data, tmp / f"ours{repeat}-{i}", args.objective, args.amp, extra))
                      for i, (name, extra) in enumerate(variants.items())]
            (tmp / f"ex{repeat}").mkdir()
            for name, command in order if repeat % 2 == 0 else order[::-1]:
                result = timed_progress(command, env, example_count if name == "example" else tqdm_count, args.first,
                                        args.last, args.timeout, cwd=REPO)
                runs[name].append(result)
                print(f"  {name} repeat {repeat}: {result['it_s']:.3f} it/s (iterations {result['from']}-"
                      f"{result['to']}, start-up {result['startup_s']:.1f} s)", flush=True)
    cpu = machine()
    print(f"\nDCGAN 64 px, ngf=ndf=64, batch 64, MNIST-format files; iterations {args.first}-{args.last}; "
          f"the example with --workers {args.example_workers}; {cpu_line()}")
    median, best = rate_table(runs, digits=3)
    report = {"machine": cpu, "objective": args.objective, "amp": args.amp, "window": [args.first, args.last],
              "example_workers": args.example_workers,
              "runs": runs, "median_it_s": median, "best_it_s": best,
              "ratio_median": median["gan-mixup"] / median["example"],
              "ratios_median": {name: median[name] / median["example"] for name in variants}}
    for name, ratio in report["ratios_median"].items():
        print(f"{name} ({args.objective}{', --amp' if args.amp else ''}) / example: {ratio:.2f}x (medians; processes "
              f"{SIDE_BY_SIDE}; {cpu['cpu']})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

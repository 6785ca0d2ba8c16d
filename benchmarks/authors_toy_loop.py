"""The toy GAN against the authors' own loop: ``gan-mixup toy`` vs hongyi-zhang/mixup's
``gan/example_gan.py``, both as whole processes with the same thread count, alternated, start-up
cancelled.

Run:  .venv/bin/python benchmarks/authors_toy_loop.py --authors PATH [--threads 1] [--from 150] [--to 950]
                                                       [--repeats 3] [--json PATH]
      make bench-authors AUTHORS=PATH

``PATH`` is a checkout of https://github.com/hongyi-zhang/mixup (nothing is downloaded: the script
refuses to run without it). Its ``gan/example_gan.py`` runs unchanged, in a temporary directory, with
two shims applied before it starts, because it was written for CUDA and an older matplotlib:
``.cuda()`` returns the tensor or module itself (the script sets ``use_cuda = True``), and
``plt.tight_layout(0, 0, 0)`` gets its arguments by name. Its first setting is the one timed: ring,
latent 2, ``mixup = 0`` (one shuffled real ∪ fake batch of 256 per D step, 5 D steps, G maximising
D's BCE on a fresh one; 3×512 MLPs, batch 128, Adam's defaults). gan-mixup trains the same setting:
``gan-mixup toy --preset paper-code --alpha 0`` (its snapshots, metrics.jsonl and checkpoints on).

Both print a tqdm bar; the parent timestamps the counts as they arrive and reports iterations per
second between ``--from`` and ``--to`` (the authors' script plots at iterations 10, 100 and 1000, so
the default window holds none of its plots), then kills the process. ``OMP_NUM_THREADS`` and
``torch.set_num_threads`` give both ``--threads``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from harness import REPO, SIDE_BY_SIDE, cpu_line, fail, machine, rate_table, timed_progress, tqdm_count, write_json

# Runs the authors' script unchanged on the CPU and today's matplotlib (see the module docstring).
SHIM = """
import runpy, sys, torch
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt
torch.set_num_threads(int(sys.argv[2]))
torch.Tensor.cuda = lambda self, *args, **kwargs: self
torch.nn.Module.cuda = lambda self, *args, **kwargs: self
_tight_layout = plt.tight_layout
plt.tight_layout = lambda *args, **kwargs: _tight_layout(**dict(zip(("pad", "h_pad", "w_pad"), args)), **kwargs)
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def authors_command(script: Path, threads: int) -> list[str]:
    return [sys.executable, "-c", SHIM, str(script), str(threads)]


def ours_command(out: Path, threads: int) -> list[str]:
    code = (f"import sys, torch; torch.set_num_threads({threads}); from gan_mixup.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code, "toy", "--preset", "paper-code", "--alpha", "0", "--dataset", "ring8",
            "--seed", "0", "--out", str(out), "--overwrite", "--no-render"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--authors", nargs="?", const="", help="a checkout of github.com/hongyi-zhang/mixup (required)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of both processes (default 1)")
    parser.add_argument("--from", dest="first", type=int, default=150, help="first iteration of the timed window")
    parser.add_argument("--to", dest="last", type=int, default=950, help="last iteration of the timed window")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternating (default 3)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one process may take")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if not args.authors:
        fail("no checkout of the authors' code: pass --authors PATH (make bench-authors AUTHORS=PATH), a checkout "
             "of github.com/hongyi-zhang/mixup; nothing is downloaded")
    script = (Path(args.authors) / "gan" / "example_gan.py").resolve()
    if not script.is_file():
        fail(f"{script} is missing: pass --authors, a checkout of github.com/hongyi-zhang/mixup")
    if not 10 < args.first < args.last:
        fail("--from must be above 10 and below --to")

    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1",
           "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    runs: dict[str, list[dict]] = {"authors": [], "gan-mixup": []}
    with tempfile.TemporaryDirectory(prefix="bench-authors-") as tmp:
        tmp = Path(tmp)
        for repeat in range(args.repeats):
            work = tmp / f"authors{repeat}"
            (work / "images").mkdir(parents=True)
            order = [("authors", authors_command(script, args.threads), work),
                     ("gan-mixup", ours_command(tmp / f"ours{repeat}", args.threads), REPO)]
            for name, command, cwd in order if repeat % 2 == 0 else order[::-1]:
                result = timed_progress(command, env, tqdm_count, args.first, args.last, args.timeout, cwd=cwd)
                runs[name].append(result)
                print(f"  {name:9s} repeat {repeat}: {result['it_s']:.2f} it/s (iterations {result['from']}-"
                      f"{result['to']}, start-up {result['startup_s']:.1f} s)", flush=True)
    cpu = machine()
    print(f"\nToy GAN, ring, latent 2, 3x512, batch 128, 5 D steps, the authors' ERM batch (alpha 0); "
          f"iterations {args.first}-{args.last}; {cpu_line(args.threads)}")
    median, best = rate_table(runs)
    report = {"machine": cpu, "threads": args.threads, "window": [args.first, args.last], "runs": runs,
              "median_it_s": median, "best_it_s": best, "ratio_median": median["gan-mixup"] / median["authors"]}
    print(f"gan-mixup / authors' example_gan.py: {report['ratio_median']:.2f}x (medians; processes {SIDE_BY_SIDE}; "
          f"{cpu['cpu']})")
    write_json(args.json, report)
    return report


if __name__ == "__main__":
    main()

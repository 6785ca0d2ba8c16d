"""Test helper, one rank of a data-parallel test run: ``gan-mixup`` CLI runs in this process's
process group, recording what the rank did. Started by ``tests/test_distributed.py`` through
torchrun or with torchrun's environment variables; never imported by the library.

    python tests/ddp_worker.py images --out RUN ... [--then images --out RUN2 ...]

Environment:
    DDP_TEST_RECORD   folder for this rank's record: ``rank{R}.json`` (exit codes, and every write the
                      rank made under DDP_TEST_WATCH) and ``rank{R}_run{i}.pt`` (G's and D's state
                      after run i)
    DDP_TEST_WATCH    folder whose writes are audited (``sys.addaudithook``): rank 0 writes the run
                      directories there, the other ranks must write nothing
    DDP_TEST_NAN      ``RANK:CALL``: that rank's CALL-th discriminator loss becomes NaN
"""
from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

train_module = importlib.import_module("gan_mixup.train")  # `import gan_mixup.train as m` gives the function
from gan_mixup.cli import main  # noqa: E402
from gan_mixup.distributed import process_group  # noqa: E402

RANK = int(os.environ.get("RANK", "0"))
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def audit_writes(watch: Path, writes: list[str]) -> None:
    """Note every file opened for writing, created, renamed or removed under ``watch``."""
    watched = str(watch.resolve())

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (mode is None and flags & WRITE_FLAGS)
        elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.truncate", "shutil.rmtree", "os.symlink"):
            path, writing = args[0], True
        else:
            return
        if writing and isinstance(path, (str, bytes, os.PathLike)):
            text = os.fsdecode(path)
            if os.path.abspath(text).startswith(watched):
                writes.append(f"{event} {text}")

    sys.addaudithook(hook)


def inject_nan(rank_and_call: str) -> None:
    rank, call = (int(part) for part in rank_and_call.split(":"))
    if rank != RANK:
        return
    original = train_module.build_objective

    def build_objective(config: Any, generator: Any = None) -> Any:
        objective = original(config, generator)
        loss, calls = objective.discriminator_loss, [0]

        def discriminator_loss(D: Any, real: Any, fake: Any) -> Any:
            calls[0] += 1
            value = loss(D, real, fake)
            return value * float("nan") if calls[0] == call else value

        objective.discriminator_loss = discriminator_loss
        return objective

    train_module.build_objective = build_objective


def main_worker(argv: list[str]) -> int:
    record = Path(os.environ["DDP_TEST_RECORD"])
    writes: list[str] = []
    if RANK != 0:
        audit_writes(Path(os.environ["DDP_TEST_WATCH"]), writes)
    if os.environ.get("DDP_TEST_NAN"):
        inject_nan(os.environ["DDP_TEST_NAN"])
    runs, current = [], []
    for arg in argv:
        if arg == "--then":
            runs.append(current)
            current = []
        else:
            current.append(arg)
    runs.append(current)

    results: list[Any] = []
    original_train = train_module.train

    def train(*args: Any, **kwargs: Any) -> Any:
        results.append(original_train(*args, **kwargs))
        return results[-1]

    train_module.train = train  # the CLI imports it from the module at call time
    codes = []
    with process_group():  # one group for all the runs; the CLI uses it as it is
        for i, run in enumerate(runs):
            results.clear()
            codes.append(main(run))
            if results:
                states = {"generator": results[0].generator.state_dict(), "discriminator": results[0].discriminator.state_dict()}
                torch.save(states, record / f"rank{RANK}_run{i}.pt")
            if codes[-1] != 0:
                break
    (record / f"rank{RANK}.json").write_text(json.dumps({"codes": codes, "writes": writes}))
    return codes[-1]


if __name__ == "__main__":
    sys.exit(main_worker(sys.argv[1:]))

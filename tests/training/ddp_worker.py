"""Test helper, one rank of a data-parallel test run: ``gan-mixup`` CLI runs in this process's
process group, recording what the rank did. Started by ``tests/test_distributed.py`` through
torchrun or with torchrun's environment variables; never imported by the library.

    python tests/training/ddp_worker.py images --out RUN ... [--then images --out RUN2 ...]

Environment:
    DDP_TEST_RECORD   folder for this rank's record: ``rank{R}.json`` (exit codes, and every write the
                      rank made under DDP_TEST_WATCH) and ``rank{R}_run{i}.pt`` (G's and D's state
                      after run i)
    DDP_TEST_WATCH    folder whose writes are audited (``sys.addaudithook``): rank 0 writes the run
                      directories there, the other ranks must write nothing
    DDP_TEST_NAN      ``RUN:RANK:CALL``: in run RUN, that rank's CALL-th discriminator loss becomes NaN
    DDP_TEST_GRADCHECK  when set: before the runs, check ``World.all_reduce_gradients`` against the gradient
                      of the whole batch (ERM + R1, a double backward), recorded as ``gradcheck``
    DDP_TEST_SLOW     ``RUN,RUN,...:SECONDS``: those runs sleep that long after each iteration, so a test
                      can signal or kill them mid-run (the sleep changes no result)

Rank 0 prints ``--- run I`` before each run, so its log splits by run; the other ranks print nothing.
After the process group is left, the record gets ``threads_after_group``: the names of the threads
still running (gloo's would be ``gloo_*`` / ``pt_gloo_*``).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import gan_mixup.training as training  # noqa: E402
from gan_mixup.training import loop as training_loop, state as training_state  # noqa: E402
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


def inject_nan(spec: str, run: int) -> None:
    """Patch ``build_objective`` so that run ``run`` gets a NaN D loss as ``spec`` says."""
    nan_run, rank, call = (int(part) for part in spec.split(":"))
    original = ORIGINAL["build_objective"]
    training_state.build_objective = original
    if rank != RANK or nan_run != run:
        return

    def build_objective(config: Any, generator: Any = None) -> Any:
        objective = original(config, generator)
        loss, calls = objective.discriminator_loss, [0]

        def discriminator_loss(D: Any, real: Any, fake: Any) -> Any:
            calls[0] += 1
            value = loss(D, real, fake)
            return value * float("nan") if calls[0] == call else value

        objective.discriminator_loss = discriminator_loss
        return objective

    training_state.build_objective = build_objective


def pace(spec: str, run: int) -> None:
    """Patch ``train_step`` so that the runs ``spec`` names sleep after each iteration."""
    runs, seconds = spec.split(":")
    original = ORIGINAL["train_step"]
    training_loop.train_step = original
    if str(run) not in runs.split(","):
        return

    def train_step(state: Any) -> Any:
        losses = original(state)
        time.sleep(float(seconds))
        return losses

    training_loop.train_step = train_step


def gradient_check() -> float:
    """The largest difference between D's gradient averaged over the ranks, each on its half of one
    batch, and D's gradient on the whole batch in one process: ERM + R1 (γ = 10), a D without
    BatchNorm (spectral norm, in eval mode so its power iteration stands still), where the mean of
    the halves' losses is the whole batch's loss."""
    import copy

    from gan_mixup.modalities.images.models import dcgan_discriminator
    from gan_mixup.distributed import this_world
    from gan_mixup.objectives import get_objective
    from gan_mixup.regularizers import R1, with_regularizers

    world = this_world()
    torch.manual_seed(0)  # the same D and batch on every rank
    D = dcgan_discriminator(1, 16, 8, spectral_norm=True).eval()
    real, fake = torch.rand(8, 1, 16, 16) * 2 - 1, torch.rand(8, 1, 16, 16) * 2 - 1
    objective = with_regularizers(get_objective("erm"), R1(10.0))
    whole = copy.deepcopy(D)
    objective.discriminator_loss(whole, real, fake).backward()
    share = slice(4 * world.rank, 4 * world.rank + 4)
    loss = objective.discriminator_loss(D, real[share], fake[share])
    loss.backward()
    world.all_reduce_gradients(D, loss)
    return max(float((a.grad - b.grad).abs().max()) for a, b in zip(D.parameters(), whole.parameters()))


ORIGINAL = {"build_objective": training_state.build_objective, "train_step": training_loop.train_step}


def main_worker(argv: list[str]) -> int:
    record = Path(os.environ["DDP_TEST_RECORD"])
    writes: list[str] = []
    if RANK != 0:
        audit_writes(Path(os.environ["DDP_TEST_WATCH"]), writes)
    runs, current = [], []
    for arg in argv:
        if arg == "--then":
            runs.append(current)
            current = []
        else:
            current.append(arg)
    runs.append(current)

    results: list[Any] = []
    original_train = training.train

    def train(*args: Any, **kwargs: Any) -> Any:
        results.append(original_train(*args, **kwargs))
        return results[-1]

    training.train = train  # the CLI imports it from the package at call time
    codes = []
    extra: dict[str, Any] = {}
    with process_group():  # one group for all the runs; the CLI uses it as it is
        if os.environ.get("DDP_TEST_GRADCHECK"):
            extra["gradcheck"] = gradient_check()
        for i, run in enumerate(runs):
            if os.environ.get("DDP_TEST_NAN"):
                inject_nan(os.environ["DDP_TEST_NAN"], i)
            if os.environ.get("DDP_TEST_SLOW"):
                pace(os.environ["DDP_TEST_SLOW"], i)
            if RANK == 0:
                print(f"--- run {i}", file=sys.stderr, flush=True)
            results.clear()
            codes.append(main(run))  # a failed run leaves the group usable: every rank failed alike
            if results:
                states = {"generator": results[0].generator.state_dict(), "discriminator": results[0].discriminator.state_dict()}
                torch.save(states, record / f"rank{RANK}_run{i}.pt")
            (record / f"rank{RANK}.json").write_text(json.dumps({"codes": codes, "writes": writes, **extra}))
    extra["threads_after_group"] = native_threads()
    (record / f"rank{RANK}.json").write_text(json.dumps({"codes": codes, "writes": writes, **extra}))
    return max(codes)


def native_threads() -> list[str] | None:
    """The names of this process's threads, C++ ones included (``None`` without ``/proc``)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    names = []
    for task in tasks:
        try:
            names.append(Path(f"/proc/self/task/{task}/comm").read_text().strip())
        except OSError:  # a thread that just ended
            pass
    return names


if __name__ == "__main__":
    sys.exit(main_worker(sys.argv[1:]))

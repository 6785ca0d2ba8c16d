"""What to type next after a stop: the command that resumes a run, and the advice after a stop on NaN.

The CLI prints these when a run is interrupted (a signal, Ctrl-C) or stops on a non-finite loss;
the command is the same command line with ``--resume``, and under torchrun the torchrun command
with the same number of processes.

Example:
    >>> from pathlib import Path
    >>> resume_command(["toy", "--iterations", "5"], Path("runs/ring8-mixup"))
    'gan-mixup toy --iterations 5 --out runs/ring8-mixup --resume'
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any, Sequence

from gan_mixup.distributed import launched_size
from gan_mixup.modalities import REGISTRY

# Subcommands whose runs keep what they trained up to their last checkpoint.
RESUMABLE_COMMANDS = ("compare", "figure5", "sweep")


def training_commands() -> set[str]:
    """The subcommands that train one run: each modality's own, by its name (``toy``, ``images``)."""
    return set(REGISTRY)


def resume_command(argv: Sequence[str], run_dir: Path | None = None) -> str:
    """The command that continues an interrupted run: the same command line, every flag kept
    (``--no-render``, ``--no-progress``, ...), with ``--resume`` in place of ``--overwrite``, and
    ``--out RUN_DIR`` where the directory was the default one."""
    argv = list(argv)
    kept: list[str] = []
    skip_next = False
    for i, arg in enumerate(argv):
        if skip_next:
            skip_next = False
            continue
        if arg in ("--overwrite", "--resume") or arg.startswith("--resume="):
            # `--resume DIR` (a path, not a flag) becomes `--out DIR` unless --out is there already
            if arg == "--resume" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                skip_next = True
                if "--out" not in argv and not any(a.startswith("--out=") for a in argv):
                    kept += ["--out", argv[i + 1]]
            continue
        kept.append(arg)
    if run_dir is not None and "--out" not in kept and not any(a.startswith("--out=") for a in kept):
        kept += ["--out", str(run_dir)]
    return launcher_command() + " " + shlex.join(kept + ["--resume"])


def launcher_command() -> str:
    """``gan-mixup``, or under torchrun the torchrun command that resumes with the same world size."""
    world_size = launched_size()
    if world_size < 2:
        return "gan-mixup"
    local = os.environ.get("LOCAL_WORLD_SIZE", str(world_size))
    if local == str(world_size):
        return f"torchrun --standalone --nproc_per_node {world_size} -m gan_mixup.cli"
    return f"torchrun --nnodes ... --nproc_per_node {local} (the same {world_size} processes) -m gan_mixup.cli"


def interrupted_hint(argv: Sequence[str]) -> str:
    """What is kept after Ctrl-C outside the training loop (starting up, rendering), and how to go on."""
    if argv and argv[0] == "render":
        return "Nothing of the run is lost; render again with: gan-mixup " + shlex.join(argv)
    if argv and argv[0] in (*training_commands(), *RESUMABLE_COMMANDS):
        return "Anything trained up to the last checkpoint is kept; continue with:\n  " + resume_command(argv)
    return ""


def nonfinite_hint(err: Any) -> str:
    """What a run stopped on a non-finite loss (a ``NonFiniteError``) kept, and what to try."""
    if err.checkpoint_iteration is None:
        kept = "No checkpoint was written yet, so a rerun starts from the beginning"
    else:
        kept = f"The checkpoint of iteration {err.checkpoint_iteration} and the snapshots up to it are kept"
    advice = "try a lower --lr" if err.on_nonfinite == "skip" else "try a lower --lr, or --on-nonfinite skip"
    return f"{kept}; {advice}."

"""Helpers shared by the CLI and reliability tests: run the CLI in-process or prepare a subprocess."""
from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

from gan_mixup.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(argv: list[Any]) -> tuple[int, str, str]:
    """``main(argv)`` in-process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def subprocess_env() -> dict[str, str]:
    """The environment for a CLI subprocess: one torch thread (tiny nets on a shared machine) and
    this checkout importable even without an install."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))}


# The tiny config as CLI flags (make_tiny_config's fields; its checkpoint_every 1000 is the toy default).
TINY_FLAGS = ["--hidden", "16", "--iterations", "12", "--batch-size", "32", "--d-steps", "2", "--snapshot-frames", "3",
              "--fixed-samples", "200", "--grid-size", "16", "--log-every", "2"]
QUIET = ["--no-render", "--no-progress"]


def one_error_line(code: int, stderr: str, *keywords: str) -> str:
    """Assert the CLI failed with exit 2 and one ``gan-mixup: error:`` line naming ``keywords``."""
    assert code == 2, f"exit code {code}, stderr {stderr!r}"
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("gan-mixup: error: "), lines[0]
    for keyword in keywords:
        assert keyword.lower() in lines[0].lower(), (keyword, lines[0])
    return lines[0]


def load_checkpoint_file(path) -> dict:
    """A checkpoint file's dict, on the CPU."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def assert_state_dicts_equal(a: dict, b: dict) -> None:
    """Two state dicts hold the same keys and bit-identical tensors."""
    import torch

    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def kill_toy_run_after_a_checkpoint(flags: list[Any], out: Path, log: Path) -> tuple[int, int]:
    """Start ``gan-mixup toy --out OUT FLAGS`` (checkpointing every 3 iterations), SIGKILL it as soon as
    a checkpoint is on disk, and return (the checkpoint's iteration, the run's iterations). Should a
    fast machine finish the run first, a ten times longer one is killed instead."""
    import shutil
    import signal
    import subprocess
    import sys
    import time

    for iterations in (40, 400):
        shutil.rmtree(out, ignore_errors=True)
        with open(log, "wb") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "gan_mixup.cli", "toy", "--out", str(out), *map(str, flags),
                                     "--iterations", str(iterations), "--checkpoint-every", "3", *QUIET],
                                    env=subprocess_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and not (out / "checkpoint.pt").exists():
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        try:
            killed_at = int(load_checkpoint_file(out / "checkpoint.pt")["iteration"])
        except Exception:  # not there, or caught mid-rename
            continue
        if proc.returncode == -signal.SIGKILL and killed_at < iterations:
            return killed_at, iterations
        assert proc.returncode in (0, -signal.SIGKILL), log.read_text()
    raise AssertionError("every run finished before it could be killed")

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

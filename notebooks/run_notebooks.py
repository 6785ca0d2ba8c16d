"""Execute the notebooks top to bottom with nbclient; ``make notebooks`` saves them in place at full size.

    python notebooks/run_notebooks.py                            # every notebooks/*.ipynb, full size, saved
    python notebooks/run_notebooks.py 02_drop_in.ipynb           # one of them
    python notebooks/run_notebooks.py --smoke --no-save          # the test suite's setting, nothing written back

The kernel is the ``python3`` kernel of the Python running this script (the project's virtual
environment), started in ``notebooks/`` with the repository root on ``PYTHONPATH``, so the notebooks import
this checkout's ``gan_mixup``. ``--smoke`` sets ``GAN_MIXUP_SMOKE=1``, which every notebook's parameter
cell reads to shrink itself; ``--runs DIR`` sets ``GAN_MIXUP_NOTEBOOK_RUNS`` (where the notebooks write
their run directories; by default ``runs/notebooks/`` at the repository root).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
KERNEL = "python3"
SIZE_LIMIT = 2 * 1024 * 1024  # bytes: a committed notebook stays under 2 MB


def notebook_paths() -> list[Path]:
    """Every notebook of the project, in name order."""
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def kernel_env(*, smoke: bool, runs_dir: str | Path | None = None) -> dict[str, str]:
    """The kernel's environment: this one, with the checkout first on PYTHONPATH and the size setting."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("GAN_MIXUP_SMOKE", None)
    if smoke:
        env["GAN_MIXUP_SMOKE"] = "1"
        env.setdefault("OMP_NUM_THREADS", "1")
    if runs_dir is not None:
        env["GAN_MIXUP_NOTEBOOK_RUNS"] = str(runs_dir)
    return env


def execute(path: str | Path, *, smoke: bool = False, runs_dir: str | Path | None = None,
            timeout: int | None = None) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` in a fresh kernel and return it with its outputs (the file is not
    written). A cell that raises stops the run with ``nbclient.exceptions.CellExecutionError``.
    ``timeout`` is per cell, in seconds (None: no limit)."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=kernel_env(smoke=smoke, runs_dir=runs_dir))
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook files or names in notebooks/ (default: all)")
    parser.add_argument("--smoke", action="store_true", help="run at the smoke size (GAN_MIXUP_SMOKE=1)")
    parser.add_argument("--no-save", action="store_true", help="do not write the outputs back")
    parser.add_argument("--runs", help="folder for the notebooks' runs (GAN_MIXUP_NOTEBOOK_RUNS)")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: no limit)")
    args = parser.parse_args(argv)
    paths = [Path(p) if Path(p).is_file() else NOTEBOOK_DIR / p for p in args.notebooks] or notebook_paths()
    for path in paths:
        start = time.perf_counter()
        nb = execute(path, smoke=args.smoke, runs_dir=args.runs, timeout=args.timeout)
        seconds = time.perf_counter() - start
        if args.no_save:
            print(f"{path.name}: ran in {seconds:.0f} s (not saved)")
            continue
        nbformat.write(nb, path)
        size = path.stat().st_size
        warning = f"  WARNING: over the {SIZE_LIMIT // 2**20} MB limit" if size > SIZE_LIMIT else ""
        print(f"{path.name}: ran in {seconds:.0f} s, saved ({size / 1024:.0f} KB){warning}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

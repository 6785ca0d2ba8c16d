"""benchmarks/: every script answers --help; the one harness times contenders in alternating blocks and
drives train() block by block; the scripts import only the library's public names."""
from __future__ import annotations

import ast
import contextlib
import io
import runpy
import subprocess
import sys

import pytest

from cli_helpers import REPO, subprocess_env

BENCHMARKS = REPO / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if 'if __name__ == "__main__":' in p.read_text())


def test_the_scripts_are_found():
    assert {"toy_throughput.py", "image_throughput.py", "sweep_throughput.py", "step_profile.py", "amp_cpu.py",
            "ddp_throughput.py", "authors_toy_loop.py", "dcgan_vs_examples.py", "gpu_check.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_script_answers_help(script, monkeypatch):
    # As `python benchmarks/SCRIPT --help` runs it (the benchmarks folder first on the path), in this
    # process: torch is imported once for all of them.
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / script), "--help"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(BENCHMARKS / script), run_name="__main__")
    assert exit_.value.code == 0
    assert out.getvalue().startswith("usage: ")


@pytest.mark.parametrize("script, flag, target", [("authors_toy_loop.py", "--authors", "bench-authors AUTHORS=PATH"),
                                                  ("dcgan_vs_examples.py", "--examples", "bench-dcgan EXAMPLES=PATH")])
def test_a_missing_checkout_is_one_line_of_our_own(script, flag, target):
    # `make bench-authors` without AUTHORS= runs `authors_toy_loop.py --authors` with nothing after it.
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), flag], env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(f"{script}: error: ") and target in done.stderr


class Quiet:
    """A disturbance meter that reports ``cores`` for every block."""

    def __init__(self, cores: float = 0.0) -> None:
        self.cores = cores

    def __enter__(self) -> "Quiet":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_alternate_rotates_the_contenders_until_each_has_its_undisturbed_blocks():
    from harness import alternate

    order: list[str] = []
    timers = {name: (lambda name=name: order.append(name) or float(len(order))) for name in "abc"}
    blocks = alternate(timers, rounds=3, max_seconds=60.0, meter=Quiet)
    assert order == list("abc" "bca" "cab")  # each round starts one contender further on
    assert blocks["b"] == [(2.0, 0.0), (4.0, 0.0), (9.0, 0.0)]


def test_alternate_sets_disturbed_blocks_aside_and_stops_after_max_rounds():
    from harness import CLEAN, alternate, summarise

    blocks = alternate({"a": lambda: 1.0, "b": lambda: 2.0}, rounds=2, max_rounds=5, max_seconds=60.0,
                       meter=lambda: Quiet(cores=2 * CLEAN))
    assert [len(b) for b in blocks.values()] == [5, 5]  # never 2 undisturbed blocks: all 5 rounds ran
    assert summarise(blocks["b"])["clean"] == 0 and summarise(blocks["b"])["best"] == 2.0


def test_the_trainer_thread_trains_block_by_block_and_stops():
    from harness import TrainerThread

    from conftest import make_tiny_config

    trainer = TrainerThread(make_tiny_config(iterations=10_000, log_every=10, snapshot_frames=0), threads=1)
    try:
        rates = [trainer.block(10), trainer.block(20)]
        assert trainer.iteration == 30 and all(rate > 0 for rate in rates)
        assert trainer.flushed is True  # train() flushes denormals in its thread
    finally:
        trainer.close()
    assert trainer.error is None


def private_or_internal_imports(path) -> list[str]:
    """Imports in ``path`` of a ``_private`` name, or of a ``gan_mixup.training`` submodule."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            modules, names = [node.module or ""], [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            modules, names = [alias.name for alias in node.names], []
        else:
            continue
        found += [f"{path.name}:{node.lineno} {m}" for m in modules if m.startswith("gan_mixup.training.")]
        found += [f"{path.name}:{node.lineno} {n}" for n in names if n.startswith("_") and n != "__future__"]
        found += [f"{path.name}:{node.lineno} {m}" for m in modules if any(p.startswith("_") for p in m.split("."))
                  and m != "__future__"]
    return found


def test_no_benchmark_imports_a_private_name_or_a_training_submodule():
    assert [hit for path in sorted(BENCHMARKS.glob("*.py")) for hit in private_or_internal_imports(path)] == []


def test_the_import_check_catches_both(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from gan_mixup.training.step import train_step\nfrom harness import _private\n"
                   "import gan_mixup.training.batched\n")
    assert len(private_or_internal_imports(bad)) == 3

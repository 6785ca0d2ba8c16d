"""examples/drop_in.py: a plain GAN loop with a gan-mixup objective dropped in."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import toy_data
from gan_mixup.metrics import mode_metrics

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "drop_in.py"


@pytest.fixture(scope="module")
def drop_in():
    spec = importlib.util.spec_from_file_location("drop_in_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(drop_in, argv):
    # main() seeds torch's global RNG and sets the thread count, as a script may; keep both to this test.
    threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng(devices=[]):
            return drop_in.main(argv)
    finally:
        torch.set_num_threads(threads)


def mean_mode_distance(samples: torch.Tensor) -> float:
    ring = toy_data.ring8()
    return mode_metrics(samples.numpy(), ring.modes.numpy(), ring.std)["mean_mode_distance"]


def test_mixup_drop_in_moves_samples_towards_the_modes(drop_in):
    result = run(drop_in, ["--iterations", "200", "--log-every", "0"])
    assert result["objective"] == "mixup" and result["iterations"] == 200
    start, end = mean_mode_distance(result["samples_start"]), mean_mode_distance(result["samples_end"])
    assert end < 0.75 * start
    # the example's own measure is the library's
    assert_close(result["mode_distance_start"], start, rtol=1e-5, atol=1e-6)
    assert_close(result["mode_distance_end"], end, rtol=1e-5, atol=1e-6)


def test_the_run_is_reproducible(drop_in):
    first = run(drop_in, ["--iterations", "20", "--log-every", "0", "--seed", "3"])
    second = run(drop_in, ["--iterations", "20", "--log-every", "0", "--seed", "3"])
    assert torch.equal(first["samples_end"], second["samples_end"])


@pytest.mark.parametrize("objective", ["erm", "wgan-gp", "hinge", "lsgan", "r3gan"])
def test_every_objective_drops_in(drop_in, objective):
    result = run(drop_in, ["--objective", objective, "--iterations", "30", "--d-steps", "2", "--log-every", "0"])
    assert result["objective"] == objective
    assert torch.isfinite(result["samples_end"]).all()
    assert all(map(torch.isfinite, map(torch.tensor, (result["d_loss"], result["g_loss"]))))


def test_the_script_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--iterations", "20", "--log-every", "10"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("[10/20] Loss_D:") and lines[-1].startswith("mixup: mode distance")


def test_three_lines_changed():
    # The example's promise: three marked lines differ from the BCE loop, and gan_mixup gives only the objective.
    source = EXAMPLE.read_text()
    assert [line.split("CHANGED ")[1][:3] for line in source.splitlines() if "# CHANGED" in line] == ["1/3", "2/3", "3/3"]
    imports = [line.split("#")[0].strip() for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert [line for line in imports if "gan_mixup" in line] == ["from gan_mixup import get_objective"]

"""benchmarks/gpu_check.py (`make gpu-check`) on a machine without CUDA: one line, exit 2, nothing run."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from cli_helpers import REPO, subprocess_env


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: `make gpu-check` runs the checks")
def test_gpu_check_without_cuda_says_so_and_exits_2():
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py")], env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stdout.strip().splitlines() == [
        "gpu-check: no CUDA GPU on this machine (torch.cuda.is_available() is False); nothing was checked"]
    assert "Traceback" not in done.stderr


def test_gpu_check_lists_every_cuda_path():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import gpu_check

    names = " ".join(name for name, _ in gpu_check.CHECKS)
    for path in ("CUDA-only tests", "toy", "DCGAN --amp --g-ema", "kill -9", "NCCL", "--sync-batchnorm"):
        assert path in names


def test_the_package_never_moves_a_tensor_with_cuda_calls():
    # Device-generic code takes the run's device (`.to(device)`, `device=`); a `.cuda()` call would
    # pin a tensor to GPU 0 whatever --device says, and fail on MPS.
    import ast

    calls = []
    for path in sorted((REPO / "gan_mixup").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cuda":
                calls.append(f"{path.name}:{node.lineno}")
    assert calls == []

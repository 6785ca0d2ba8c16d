"""`make gpu-check`: every CUDA path of gan-mixup, in one command, one line per check.

On a machine with a CUDA GPU this runs, in about five minutes at most:

1. the CUDA-only tests (the ones the CPU suite skips with "needs CUDA");
2. a short toy run on ``cuda`` (the paper's networks, mixup);
3. a short DCGAN run on ``cuda`` with ``--amp --g-ema 0.999``;
4. the same DCGAN run killed with SIGKILL after its first checkpoint, resumed, and compared bit for
   bit with the uninterrupted one (every train record, every snapshot array, the final weights);
5. ``torchrun`` with NCCL over every GPU, plain and with ``--sync-batchnorm`` (skipped, saying
   so, with one GPU);

and prints images/s and iterations/s of the runs. It exits 0 when every check passed, 1 when one
failed, 2 when there is no CUDA GPU. Run directories go to a temporary folder (``--keep DIR``
keeps them).

    python benchmarks/gpu_check.py [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from harness import REPO, cpu_model

sys.path.insert(0, str(REPO / "tests" / "golden"))

TOY = ["toy", "--device", "cuda", "--iterations", "300", "--snapshot-frames", "8", "--no-progress", "--no-render",
       "--checkpoint-seconds", "0"]
DCGAN = ["images", "--dataset", "digits", "--device", "cuda", "--amp", "--g-ema", "0.999", "--iterations", "200",
         "--checkpoint-every", "50", "--checkpoint-seconds", "0", "--snapshot-frames", "6", "--metric-frames", "3",
         "--no-progress", "--no-render"]
DDP = ["images", "--dataset", "digits", "--device", "cuda", "--iterations", "100", "--checkpoint-seconds", "0",
       "--snapshot-frames", "4", "--metric-frames", "2", "--no-progress", "--no-render"]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
            "PYTHONUNBUFFERED": "1"}


def cli(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan_mixup.cli", *args], env=env(), capture_output=True, text=True,
                          timeout=timeout)


def rate(stdout: str) -> str:
    """The trainer's own summary line: 'trained N iterations in S s (R it/s)'."""
    lines = [line for line in stdout.splitlines() if line.startswith("trained ")]
    return lines[-1] if lines else "no summary line"


def check_cuda_tests(out: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-k", "cuda", str(REPO / "tests")], env=env(),
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-200:]
    if done.returncode != 0 or "skipped" in summary and "passed" not in summary:
        raise RuntimeError(summary)
    return summary


def check_toy(out: Path) -> str:
    done = cli([*TOY, "--out", str(out / "toy")])
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return rate(done.stdout)


def check_dcgan(out: Path) -> str:
    done = cli([*DCGAN, "--out", str(out / "dcgan")])
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    line = rate(done.stdout)
    per_second = float(line.split("(")[1].split()[0]) if "(" in line else float("nan")
    batch = json.loads((out / "dcgan" / "config.json").read_text())["batch_size"]
    return f"{line}; {per_second * batch:.0f} images/s"


def check_kill_and_resume(out: Path) -> str:
    from golden_runs import digest_run

    run = out / "killed"
    process = subprocess.Popen([sys.executable, "-m", "gan_mixup.cli", *DCGAN, "--out", str(run)], env=env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not (run / "checkpoint.pt").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    if process.poll() is not None:
        raise RuntimeError("the run ended before it could be killed: raise --iterations")
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = cli([*DCGAN, "--out", str(run), "--resume"])
    if done.returncode != 0:
        raise RuntimeError("resume failed: " + (done.stderr.strip().splitlines() or ["?"])[-1])
    whole, resumed = digest_run(out / "dcgan"), digest_run(run)
    differ = sorted(key for key in whole.keys() | resumed.keys() if whole.get(key) != resumed.get(key))
    if differ:
        raise RuntimeError(f"{len(differ)} items differ after the resume, e.g. {differ[:3]}")
    return f"killed, resumed: {len(whole)} records, snapshot arrays and weights identical"


def torchrun(out: Path, name: str, extra: list[str]) -> str:
    import torch

    gpus = torch.cuda.device_count()
    if gpus < 2:
        return f"skipped: {gpus} GPU (NCCL needs 2 processes on 2 GPUs)"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(gpus),
                           "-m", "gan_mixup.cli", *DDP, *extra, "--batch-size", str(32 * gpus), "--out", str(out / name)],
                          env=env(), capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError((done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1])
    return f"{gpus} GPUs: {rate(done.stdout)}"


CHECKS: list[tuple[str, Callable[[Path], str]]] = [
    ("CUDA-only tests", check_cuda_tests),
    ("toy run on cuda", check_toy),
    ("DCGAN --amp --g-ema 0.999 on cuda", check_dcgan),
    ("kill -9 and resume on cuda, bit for bit", check_kill_and_resume),
    ("torchrun NCCL", lambda out: torchrun(out, "ddp", [])),
    ("torchrun NCCL --sync-batchnorm", lambda out: torchrun(out, "ddp-syncbn", ["--sync-batchnorm"])),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", metavar="DIR", help="write the run directories here and keep them")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: no CUDA GPU on this machine (torch.cuda.is_available() is False); nothing was checked")
        return 2
    print(f"gpu-check: {torch.cuda.get_device_name(0)} x {torch.cuda.device_count()}, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}; CPU: {cpu_model()}")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep) if args.keep else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for name, check in CHECKS:
            start = time.perf_counter()
            try:
                verdict = "ok    " + check(out)
            except Exception as err:  # one line per check, whatever went wrong
                failed += 1
                verdict = f"FAIL  {type(err).__name__}: {err}".splitlines()[0]
            print(f"{name:44s} {verdict}  [{time.perf_counter() - start:.0f} s]", flush=True)
    print(f"gpu-check: {len(CHECKS) - failed} of {len(CHECKS)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The golden runs: a fixed set of small trainings whose every ``"train"`` record, snapshot array and
final weight must stay byte-identical while the code around them is restructured.

``python tests/golden/golden_runs.py record`` trains them and writes ``digests.json`` beside this file
(a SHA-256 per record, per snapshot array and per weight tensor) under the machine they were recorded
on: the CPU, its vector extensions, thread count and torch version. Bit-exact floating point holds
only on one such machine, so the file keeps one set of digests per machine and recording on a new
one adds its set beside the others. ``tests/test_golden.py`` trains the runs again and compares with
the set of the machine it runs on, and skips, naming the machines it knows, anywhere else: record
there from the commit the other machines' digests came from, then run the test on later commits.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DIGESTS = HERE / "digests.json"
SETS_KEY = "machine_sets"  # digests.json: {"machine_sets": [{"machine": ..., "commit": ..., "runs": ...}, ...]}
_EARLIER_SETS_KEY = "kinds"  # the same list, as files of earlier commits name it: still read
THREADS = 1  # the suite's thread count (tests/conftest.py)

TOY = dict(hidden=32, iterations=24, batch_size=32, d_steps=2, snapshot_frames=4, fixed_samples=100, grid_size=12,
           log_every=2, checkpoint_every=10, checkpoint_seconds=0.0)
IMAGES = dict(dataset="digits", hidden=8, iterations=8, batch_size=16, snapshot_frames=2, fixed_samples=16,
              metric_samples=64, metric_frames=2, log_every=2, checkpoint_every=4, checkpoint_seconds=0.0)

# name -> RunConfig fields (trained with gan_mixup.train)
SINGLE_RUNS: dict[str, dict[str, Any]] = {
    "toy-mixup-text": dict(TOY, objective="mixup", preset="paper-text"),
    "toy-mixup-code": dict(TOY, objective="mixup", alpha=0.2, lambda_distribution="uniform", pairing="shuffled",
                           generator_loss="minimax", preset="paper-code"),
    "toy-erm-r1-sn": dict(TOY, objective="erm", regularizers=("r1:10",), spectral_norm=True),
    "toy-wgan-gp": dict(TOY, objective="wgan-gp", generator_loss="non-saturating"),
    "dcgan-erm-ema": dict(IMAGES, objective="erm", g_ema=0.9),
    "dcgan-mixup": dict(IMAGES, objective="mixup"),
    "stacked-hinge": dict(IMAGES, dataset="stacked-digits", objective="hinge"),
}


def machine() -> dict[str, Any]:
    """What bit-exact results depend on: the CPU model, its vector extensions, threads, torch."""
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "capability": torch.backends.cpu.get_cpu_capability(), "threads": THREADS,
            "torch": torch.__version__.split("+")[0], "machine": platform.machine()}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _tensor_digest(t: torch.Tensor) -> str:
    t = t.detach().cpu().contiguous()
    return f"{t.dtype}{tuple(t.shape)}:" + _sha(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def digest_run(run_dir: Path) -> dict[str, str]:
    """Item -> digest for one run directory: each ``"train"`` record (as JSON text, in order), each
    array of each snapshot, the reference, and each tensor of G, D (and G's EMA) in ``checkpoint.pt``."""
    out: dict[str, str] = {}
    train_records = [line for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                     if json.loads(line).get("kind") == "train"]
    for i, line in enumerate(train_records):
        out[f"train[{i}]"] = _sha(line.encode())
    out["train.count"] = str(len(train_records))
    for path in sorted((run_dir / "snapshots").glob("*.npz")):
        with np.load(path) as data:
            for name in sorted(data.files):
                array = np.ascontiguousarray(data[name])
                out[f"{path.stem}/{name}"] = f"{array.dtype}{array.shape}:" + _sha(array.tobytes())
    checkpoint = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    out["checkpoint.iteration"] = str(checkpoint["iteration"])
    for part in ("generator", "discriminator", "ema"):
        for name, tensor in sorted(checkpoint.get(part, {}).items()):
            out[f"{part}.{name}"] = _tensor_digest(tensor)
    return out


def _train_single(fields: dict[str, Any], run_dir: Path) -> dict[str, Path]:
    from gan_mixup import RunConfig, train

    train(RunConfig(**fields), run_dir)
    return {"": run_dir}


def _train_compare(run_dir: Path) -> dict[str, Path]:
    from gan_mixup import RunConfig
    from gan_mixup.experiments import compare

    base = RunConfig(**dict(TOY, iterations=16))
    compare({"erm": base.replace(objective="erm"), "mixup": base.replace(objective="mixup")}, run_dir, quiver=False)
    return {"/erm": run_dir / "erm", "/mixup": run_dir / "mixup"}


def _train_batched_sweep(run_dir: Path) -> dict[str, Path]:
    from gan_mixup import RunConfig
    from gan_mixup.sweeps import run_sweep, sweep_members

    base = RunConfig(**dict(TOY, iterations=16))
    members = sweep_members({("ring8", ""): base}, objectives=["mixup"], alphas=[0.2], seeds=[0, 1])
    run_sweep(members, run_dir, workers=1, batched=True)
    return {f"/{m.name}": run_dir / m.name for m in members}


def _train_torchrun(run_dir: Path) -> dict[str, Path]:
    args = ["toy", "--objective", "mixup", "--hidden", "32", "--iterations", "16", "--batch-size", "32",
            "--d-steps", "2", "--snapshot-frames", "3", "--fixed-samples", "100", "--grid-size", "12",
            "--log-every", "2", "--checkpoint-every", "8", "--checkpoint-seconds", "0", "--no-render",
            "--no-progress", "--device", "cpu", "--out", str(run_dir)]
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "gan_mixup.cli", *args], env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun golden run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return {"": run_dir}


def golden_trainers() -> dict[str, Callable[[Path], dict[str, Path]]]:
    """Golden name -> a function that trains it into a fresh directory and returns its run dirs."""
    trainers: dict[str, Callable[[Path], dict[str, Path]]] = {
        name: (lambda d, f=fields: _train_single(f, d)) for name, fields in SINGLE_RUNS.items()}
    trainers["compare"] = _train_compare
    trainers["sweep-batched"] = _train_batched_sweep
    trainers["torchrun-2"] = _train_torchrun
    return trainers


def train_and_digest(name: str, out_dir: Path) -> dict[str, str]:
    torch.set_num_threads(THREADS)
    digests: dict[str, str] = {}
    for suffix, run_dir in golden_trainers()[name](out_dir / name).items():
        digests.update({f"{suffix}:{k}" if suffix else k: v for k, v in digest_run(run_dir).items()})
    return digests


def machine_sets() -> list[dict[str, Any]]:
    """The recorded sets, one per machine: ``{"machine": ..., "commit": ..., "runs": ...}``."""
    if not DIGESTS.exists():
        return []
    stored = json.loads(DIGESTS.read_text())
    return stored[SETS_KEY] if SETS_KEY in stored else stored[_EARLIER_SETS_KEY]


def recorded_here() -> dict[str, Any] | None:
    """The set recorded on this machine, or ``None``."""
    here = machine()
    return next((machine_set for machine_set in machine_sets() if machine_set["machine"] == here), None)


def describe(info: dict[str, Any]) -> str:
    """One machine of ``machine()`` in words."""
    return f"{info['cpu']} ({info['capability']}, {info['threads']} thread(s), torch {info['torch']}, {info['machine']})"


def record(out_dir: Path) -> None:
    """Train every golden run here and store its digests as this machine's set, keeping the others'."""
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    runs = {name: train_and_digest(name, out_dir) for name in golden_trainers()}
    sets = [machine_set for machine_set in machine_sets() if machine_set["machine"] != machine()]
    sets.append({"machine": machine(), "commit": commit, "runs": runs})
    sets.sort(key=lambda machine_set: describe(machine_set["machine"]))
    tmp = DIGESTS.with_suffix(".tmp")
    tmp.write_text(json.dumps({SETS_KEY: sets}, indent=1, sort_keys=True) + "\n")
    tmp.replace(DIGESTS)
    print(f"recorded {sum(len(v) for v in runs.values())} digests of {len(runs)} golden runs for "
          f"{describe(machine())} from {commit[:10]} in {DIGESTS} ({len(sets)} machine(s) known)")


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:] != ["record"]:
        sys.exit("usage: python tests/golden/golden_runs.py record")
    with tempfile.TemporaryDirectory() as tmp:
        record(Path(tmp))

"""Data-parallel training: 2 CPU processes with gloo, started by torchrun or with its environment
variables, training the image GAN (mixup) and a regularized objective (ERM + R1, double backward).

Checked: every rank ends with the same parameters; rank 0 alone writes the run directory; a kill -9
and ``--resume`` with the same world size continue bit-identically; another world size is refused
with one line; a user mistake, a NaN on one rank and a SIGTERM to one rank stop both ranks together
with the single-process exit codes. Every run is tiny (DCGAN width 8 on 16 px digits, batch 16).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from cli_helpers import REPO, run_cli, subprocess_env
from conftest import assert_same
from conftest import make_tiny_config
from gan_mixup import distributed
from gan_mixup.cli import EXIT_INTERRUPTED, EXIT_NONFINITE, EXIT_USAGE
from gan_mixup.config import ConfigError
from gan_mixup.distributed import World
from gan_mixup.training.state import build_state, stream_seeds
from gan_mixup.training.parallel import rank_stream_seeds
from gan_mixup.training.state import make_data_parallel
from test_reliability import CheckpointWatch, assert_runs_identical, checkpoint_iteration, load

WORKER = REPO / "tests" / "training" / "ddp_worker.py"
ITERATIONS = 60
# The image GAN as small as it goes; checkpoints often, so a kill lands between two of them.
IMAGES = ["images", "--dataset", "digits", "--objective", "mixup", "--hidden", "8", "--batch-size", "16",
          "--iterations", str(ITERATIONS), "--checkpoint-every", "5", "--log-every", "5", "--snapshot-frames", "4",
          "--fixed-samples", "16", "--metric-samples", "0", "--no-progress"]
R1 = ["images", "--objective", "erm", "--regularizer", "r1:10", "--hidden", "8", "--batch-size", "16",
      "--iterations", "8", "--snapshot-frames", "2", "--fixed-samples", "16", "--metric-samples", "0",
      "--no-progress", "--no-render"]

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without torch.distributed")


def with_flag(args: list[str], flag: str, value: str) -> list[str]:
    """``args`` with ``flag``'s value replaced."""
    i = args.index(flag)
    return [*args[:i + 1], value, *args[i + 2:]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env(record: Path, watch: Path, **extra: str) -> dict[str, str]:
    record.mkdir(parents=True, exist_ok=True)
    return {**subprocess_env(), "DDP_TEST_RECORD": str(record), "DDP_TEST_WATCH": str(watch), **extra}


def start_ranks(args: list[Any], cwd: Path, env: dict[str, str], world_size: int = 2,
                module: bool = False) -> list[subprocess.Popen]:
    """The processes torchrun would start, with its environment variables: rank r of ``world_size``
    on this machine, each in its own session (so a test can signal or kill one)."""
    port = str(free_port())
    command = [sys.executable, "-m", "gan_mixup.cli"] if module else [sys.executable, str(WORKER)]
    procs = []
    for rank in range(world_size):
        rank_env = {**env, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size),
                    "LOCAL_WORLD_SIZE": str(world_size), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        with open(cwd / f"rank{rank}.log", "wb") as log:
            procs.append(subprocess.Popen([*command, *map(str, args)], cwd=cwd, env=rank_env, stdin=subprocess.DEVNULL,
                                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    return procs


def wait_all(procs: list[subprocess.Popen], timeout: float = 120) -> list[int]:
    try:
        return [proc.wait(timeout=timeout) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def logs(cwd: Path, world_size: int = 2) -> list[str]:
    return [(cwd / f"rank{rank}.log").read_text() for rank in range(world_size)]


def rank_state(record: Path, rank: int, run: int = 0) -> dict[str, Any]:
    return torch.load(record / f"rank{rank}_run{run}.pt", weights_only=True)


def rank_record(record: Path, rank: int) -> dict[str, Any]:
    return json.loads((record / f"rank{rank}.json").read_text())


# ----- one uninterrupted run with torchrun: the image GAN, then ERM + R1 ------------------------

@pytest.fixture(scope="module")
def torchrun_runs(tmp_path_factory):
    """``torchrun --standalone --nproc_per_node 2`` of the worker: the image mixup run (rendered,
    the reference of the kill test), then the ERM + R1 run, in one process group."""
    base = tmp_path_factory.mktemp("ddp")
    watch, record = base / "runs", base / "record"
    watch.mkdir()
    env = worker_env(record, watch, DDP_TEST_GRADCHECK="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(WORKER),
               *IMAGES, "--out", watch / "images", "--then", *R1, "--out", watch / "r1"]
    start = time.perf_counter()
    done = subprocess.run([str(c) for c in command], cwd=base, env=env, capture_output=True, text=True, timeout=300)
    print(f"torchrun of both runs: {time.perf_counter() - start:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    return {"base": base, "images": watch / "images", "r1": watch / "r1", "record": record, "output": done.stdout}


@pytest.mark.parametrize("run", [0, 1], ids=["images-mixup", "erm-r1"])
def test_every_rank_ends_with_the_same_parameters(torchrun_runs, run):
    rank0, rank1 = (rank_state(torchrun_runs["record"], rank, run) for rank in (0, 1))
    assert_same(rank0, rank1, "rank 0 vs rank 1")  # parameters and BatchNorm buffers, bit for bit
    checkpoint = load(torchrun_runs["images" if run == 0 else "r1"] / "checkpoint.pt")
    assert_same({k: checkpoint[k] for k in ("generator", "discriminator")}, rank0, "checkpoint vs rank 0")
    assert checkpoint["world_size"] == 2 and len(checkpoint["rank_rng"]) == 2
    assert_same(checkpoint["rank_rng"][0], checkpoint["rng"])
    assert not torch.equal(checkpoint["rank_rng"][0]["data"], checkpoint["rank_rng"][1]["data"]), \
        "each rank draws its own batches"


def test_gradients_averaged_over_ranks_are_the_whole_batch_gradient_even_through_r1(torchrun_runs):
    # Each rank's D on its half of one batch, ERM + R1 (double backward), all-reduced: the gradient of
    # the whole batch in one process, up to float rounding.
    for rank in (0, 1):
        assert rank_record(torchrun_runs["record"], rank)["gradcheck"] < 1e-5


def test_rank_zero_alone_writes_a_complete_run_directory(torchrun_runs):
    for rank in (0, 1):
        assert rank_record(torchrun_runs["record"], rank)["codes"] == [0, 0]
    assert rank_record(torchrun_runs["record"], 1)["writes"] == [], "rank 1 wrote under the runs folder"
    run = torchrun_runs["images"]
    names = {p.name for p in run.iterdir()}
    assert {"config.json", "metrics.jsonl", "checkpoint.pt", "snapshots", "training.gif"} <= names
    snapshots = sorted(p.name for p in (run / "snapshots").glob("it_*.npz"))
    assert snapshots[0] == "it_00000000.npz" and snapshots[-1] == f"it_{ITERATIONS:08d}.npz"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_iterations = [r["iteration"] for r in records if r["kind"] == "train"]
    assert train_iterations == list(range(5, ITERATIONS + 1, 5)), "each record once, in order"
    output = torchrun_runs["output"]
    assert output.count("trained 60 iterations") == 1 and "on 2 processes" in output, output


def test_leaving_the_process_group_ends_its_gloo_threads(torchrun_runs):
    # A group still held after destroy_process_group keeps gloo's threads into interpreter shutdown,
    # where one letting go of a collective's tensors aborts the process now and then.
    for rank in (0, 1):
        threads = rank_record(torchrun_runs["record"], rank)["threads_after_group"]
        if threads is None:
            pytest.skip("no /proc to list threads")
        assert not [name for name in threads if "gloo" in name], (rank, threads)


# ----- the CLI itself under torchrun: how every rank exits ---------------------------------------

TOY = ["toy", "--hidden", "16", "--batch-size", "32", "--snapshot-frames", "3", "--fixed-samples", "100",
       "--grid-size", "8", "--no-progress"]


def torchrun_cli(args: list[Any], cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "gan_mixup.cli", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=300)


def rank_deaths(output: str) -> list[str]:
    """torchrun's lines that say a rank died by a signal (or aborted). torchrun's own notice that it
    sends SIGTERM to the ranks still running once one has exited non-zero is left out: what counts
    is how each rank ended, which its summary gives."""
    return [line for line in output.splitlines() if any(word in line for word in ("SIGTERM", "SIGABRT", "Signal",
                                                                                 "terminate called"))
            and "closing signal SIGTERM" not in line]


def test_a_torchrun_run_of_the_cli_exits_0_on_every_rank_after_rendering(tmp_path):
    run = tmp_path / "run"
    done = torchrun_cli([*TOY, "--iterations", "20", "--out", run], tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0 and not rank_deaths(output), output
    assert "trained 20 iterations" in done.stdout and (run / "training.gif").is_file(), output


def test_a_refusal_under_torchrun_exits_2_on_every_rank_and_kills_none(tmp_path):
    # A single process's checkpoint resumed by 2: rank 0 refuses, rank 1 learns it from rank 0, and
    # each rank exits 2 by itself, none killed by torchrun on its way out; torchrun, as for any
    # failed job, exits 1 after its summary of the ranks' codes.
    single = tmp_path / "single"
    code, _, err = run_cli([*TOY, "--iterations", "2", "--no-render", "--out", single])
    assert code == 0, err
    done = torchrun_cli([*TOY, "--resume", single, "--iterations", "4", "--no-render"], tmp_path)
    output = done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("gan-mixup: error: ")]
    assert len(errors) == 1 and "trained by 1 process and this run has 2 processes" in errors[0], output
    assert done.returncode == 1 and not rank_deaths(output), output
    codes = [line.split(":", 1)[1].split()[0] for line in output.splitlines() if line.strip().startswith("exitcode")]
    assert codes == [str(EXIT_USAGE)] * 2, output


# ----- stopping together, then kill -9 and resume: one process group, several runs ------------

@pytest.fixture(scope="module")
def stops(torchrun_runs, tmp_path_factory):
    """Two ranks started with torchrun's variables run, in one process group:

    0. ``--resume`` of a single-process run: refused by rank 0 (exit 2 on both ranks);
    1. the image run with a NaN D loss on rank 1 alone at iteration 7 (exit 3 on both);
    2. the image run A, paced; SIGTERM to rank 1 alone after a checkpoint (exit 130 on both);
    3. ``--resume`` of A, paced; kill -9 of both ranks mid-run, after a later checkpoint.
    Then a second launch resumes A to the end. The group stays usable after each failed run,
    since every rank failed alike.
    """
    base = tmp_path_factory.mktemp("stops")
    watch, record = base / "runs", base / "record"
    watch.mkdir()
    single, run = base / "single", watch / "A"
    code, _, err = run_cli([*with_flag(R1, "--iterations", "2"), "--out", single])
    assert code == 0, err
    runs = [["images", "--resume", single, "--iterations", "3", "--no-progress", "--no-render"],
            [*IMAGES, "--no-render", "--out", watch / "nan"],
            [*IMAGES, "--no-render", "--out", run],
            [*IMAGES, "--no-render", "--out", run, "--resume"]]
    env = worker_env(record, watch, DDP_TEST_NAN="1:1:7", DDP_TEST_SLOW="2,3:0.02")
    procs = start_ranks([arg for i, args in enumerate(runs) for arg in ([*args] if i == 0 else ["--then", *args])],
                        base, env)
    watcher, deadline = CheckpointWatch(run / "checkpoint.pt"), time.monotonic() + 240
    signalled_at = killed_at = None
    while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        it = watcher.poll()
        if signalled_at is None and it is not None and it >= 10:
            procs[1].send_signal(signal.SIGTERM)  # rank 1 only: rank 0 must learn of it
            signalled_at = it
        elif signalled_at is not None and it is not None and it >= signalled_at + 10:
            time.sleep(random.uniform(0, 0.02))  # mid-iteration, mid-snapshot or mid-checkpoint
            for proc in procs:  # the whole job dies at once, as on a lost machine
                os.killpg(proc.pid, signal.SIGKILL)
            killed_at = it
            break
        time.sleep(0.003)
    codes = wait_all(procs)
    log = logs(base)
    assert killed_at is not None and codes == [-signal.SIGKILL] * 2, (codes, log)
    rank0 = log[0].split("--- run ")
    result = {"base": base, "run": run, "codes": [rank_record(record, rank)["codes"] for rank in (0, 1)],
              "rank0": {int(part.split("\n", 1)[0]): part.split("\n", 1)[1] for part in rank0[1:]},
              "rank1": log[1], "killed_at": killed_at, "after_kill": checkpoint_iteration(run / "checkpoint.pt"),
              "watch": watch}
    procs = start_ranks([*IMAGES, "--no-render", "--out", run, "--resume"], base, env)
    result["resumed"] = wait_all(procs)
    result["resumed_logs"] = logs(base)
    return result


def test_a_user_error_found_by_rank_0_ends_both_ranks_with_exit_2_and_one_line(stops):
    # A single process's checkpoint, resumed by 2 processes: rank 0 finds the mistake in the run
    # directory, rank 1 learns it from rank 0; both exit 2, rank 0 prints one line, rank 1 nothing.
    assert [codes[0] for codes in stops["codes"]] == [EXIT_USAGE, EXIT_USAGE]
    lines = stops["rank0"][0].splitlines()
    assert len(lines) == 1 and lines[0].startswith("gan-mixup: error: "), lines
    assert "trained by 1 process and this run has 2 processes" in lines[0] and "without torchrun" in lines[0]
    assert stops["rank1"] == "", "rank 1 printed something"


def test_a_nan_on_one_rank_stops_both_ranks_with_exit_3(stops):
    assert [codes[1] for codes in stops["codes"]] == [EXIT_NONFINITE, EXIT_NONFINITE]
    message = stops["rank0"][1]
    assert "the discriminator loss became nan at iteration 7" in message and "checkpoint of iteration 5" in message
    assert checkpoint_iteration(stops["watch"] / "nan" / "checkpoint.pt") == 5


def test_sigterm_to_one_rank_checkpoints_and_stops_both(stops):
    assert [codes[2] for codes in stops["codes"]] == [EXIT_INTERRUPTED, EXIT_INTERRUPTED]
    message = stops["rank0"][2]
    assert "SIGTERM at iteration " in message and "checkpoint saved" in message, message
    command = message.rstrip().splitlines()[-1].strip()
    assert command.startswith("torchrun --standalone --nproc_per_node 2 -m gan_mixup.cli images ") and \
        command.endswith(" --resume"), command


def test_kill_9_then_resume_with_the_same_world_size_is_bit_identical(stops, torchrun_runs):
    print(f"killed after checkpoint {stops['killed_at']}; on disk: {stops['after_kill']}")
    assert stops["after_kill"] < ITERATIONS, "the kill landed mid-run"
    assert stops["resumed"] == [0, 0], stops["resumed_logs"]
    assert_runs_identical(stops["run"], torchrun_runs["images"])


def test_resume_with_another_world_size_is_refused_with_one_line(torchrun_runs, tmp_path):
    # 2 processes' checkpoint, 1 process: the single-process CLI refuses.
    copy = tmp_path / "copy"
    shutil.copytree(torchrun_runs["r1"], copy)
    before = {p.name: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    code, _, err = run_cli(["images", "--resume", copy, "--iterations", "9", "--no-progress", "--no-render"])
    assert code == EXIT_USAGE and len(err.splitlines()) == 1, err
    assert "trained by 2 processes and this run has 1 process" in err and "--nproc_per_node 2" in err, err
    assert {p.name: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before, "nothing on disk changed"


# ----- in this process: what needs no second rank ----------------------------------------------------

def test_a_bad_flag_under_torchrun_is_printed_by_rank_0_only(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, lines in (("0", 1), ("1", 0)):
        monkeypatch.setenv("RANK", rank)
        code, out, err = run_cli(["images", "--batch-size", "many"])
        assert code == EXIT_USAGE and out == "" and len(err.splitlines()) == lines, (rank, err)


def test_the_global_batch_must_split_evenly_over_the_ranks():
    state = build_state(make_tiny_config(dataset="digits", hidden=8, batch_size=15, metric_samples=0, fixed_samples=16))
    with pytest.raises(ConfigError, match="--batch-size 15 is the global batch and must split evenly over 2 processes"):
        make_data_parallel(state, World(rank=0, world_size=2, local_rank=0))  # raises before any collective


def test_sync_batchnorm_needs_cuda():
    state = build_state(make_tiny_config(dataset="digits", hidden=8, batch_size=16, metric_samples=0, fixed_samples=16,
                                         sync_batchnorm=True))
    with pytest.raises(ConfigError, match="--sync-batchnorm needs CUDA"):
        make_data_parallel(state, World(rank=0, world_size=2, local_rank=0))


def test_ranks_draw_different_streams_and_a_single_process_keeps_its_own():
    assert [int(s) for s in rank_stream_seeds(0, 0)] != [int(s) for s in rank_stream_seeds(0, 1)]
    assert not set(map(int, rank_stream_seeds(0, 0))) & set(map(int, stream_seeds(0)))
    assert distributed.this_world() is distributed.SINGLE_PROCESS  # no process group: a world of one


def test_a_world_of_one_communicates_nothing():
    from gan_mixup.distributed import SINGLE_PROCESS, this_world

    world = this_world()
    assert world is SINGLE_PROCESS and world.alone and world.is_main
    D = torch.nn.Linear(2, 1)
    loss = D(torch.ones(3, 2)).mean()
    loss.backward()
    grad = D.weight.grad.clone()
    assert world.all_reduce_gradients(D, loss) is loss and torch.equal(D.weight.grad, grad)
    assert world.agree([3, 0, 1], torch.device("cpu")) == [3, 0, 1]
    assert world.gather_to_main({"a": 1}) == [{"a": 1}] and world.all_gather(7) == [7]
    assert world.main_decides(lambda: 42) == 42
    with distributed.process_group() as group:  # the CLI's block: a world of one, never None
        assert group is SINGLE_PROCESS

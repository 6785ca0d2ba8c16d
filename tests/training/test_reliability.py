"""Reliability: kill -9 and resume bit-identically, atomic checkpoints with a fallback, SIGINT/SIGTERM,
NaN/Inf handling, and never clobbering a run directory.

Real processes are started only where a real process is the point (SIGKILL, SIGINT, SIGTERM); the
rest runs in-process. Every training is tiny.
"""
from __future__ import annotations

import json
import math
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from cli_helpers import run_cli, subprocess_env, load_checkpoint_file as load, assert_state_dicts_equal
from conftest import assert_same
from gan_mixup.cli import EXIT_INTERRUPTED
from gan_mixup.config import RunConfig
from gan_mixup.training import NonFiniteError, train
from gan_mixup.training import loop as training_loop, state as training_state

SMALL = ["--snapshot-frames", "3", "--fixed-samples", "100", "--grid-size", "8", "--no-progress", "--no-render"]
TINY = ["--hidden", "8", *SMALL]
TINY_CONFIG = dict(hidden=8, snapshot_frames=3, fixed_samples=100, grid_size=8)




# ----- helpers ----------------------------------------------------------------------------------------



def start_cli(args: list[Any], cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "gan_mixup.cli", *map(str, args)], cwd=cwd,
                                env=subprocess_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)


def checkpoint_iteration(path: Path) -> int | None:
    try:
        return int(load(path)["iteration"])
    except Exception:  # not there yet
        return None


class CheckpointWatch:
    """Polls ``checkpoint.pt``, loading it only when the file was replaced."""

    def __init__(self, path: Path) -> None:
        self.path, self.key, self.iteration = path, None, None

    def poll(self) -> int | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self.key:
            self.key, self.iteration = key, checkpoint_iteration(self.path)
        return self.iteration


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def assert_runs_identical(a: Path, b: Path) -> None:
    """Weights, optimisers, RNGs (the whole checkpoint), every snapshot array, metrics.jsonl bytes."""
    ca, cb = load(a / "checkpoint.pt"), load(b / "checkpoint.pt")
    for part in ("generator", "discriminator", "opt_g", "opt_d", "rng"):
        assert_same(ca[part], cb[part], part)
    # Everything else too, except torch's global RNG state: training never draws from it (it uses its own
    # generators, saved under "rng"), and torch seeds it randomly per process, so A and B differ there.
    assert "torch_rng" in ca and "torch_rng" in cb
    assert_same({k: v for k, v in ca.items() if k != "torch_rng"}, {k: v for k, v in cb.items() if k != "torch_rng"})
    snaps_a = sorted(p.name for p in (a / "snapshots").glob("*.npz"))
    snaps_b = sorted(p.name for p in (b / "snapshots").glob("*.npz"))
    assert snaps_a == snaps_b and snaps_a
    for name in snaps_a:
        with np.load(a / "snapshots" / name) as x, np.load(b / "snapshots" / name) as y:
            assert x.files == y.files, name
            for key in x.files:
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{name}:{key}")
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()
    assert (a / "config.json").read_bytes() == (b / "config.json").read_bytes()


def toy_args(out: Path, iterations: int, extra: list[str]) -> list[Any]:
    return ["toy", "--out", out, "--iterations", iterations, "--checkpoint-every", 10, "--hidden", 16, *extra, *SMALL]


# If a run finishes before the test can kill or signal it (a fast, idle machine), the next config is
# slower; the test then still interrupts a run mid-way instead of silently testing nothing.
SLOWER = [(60, []), (60, ["--batch-size", "1024"]), (400, ["--batch-size", "1024"])]


def one_error_line(code: int, stderr: str, keyword: str) -> str:
    assert code == 2, f"exit code {code}, stderr {stderr!r}"
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("gan-mixup: error: ") and keyword.lower() in lines[0].lower(), lines[0]
    return lines[0]


def tiny_run(path: Path, iterations: int = 20, **changes: Any) -> RunConfig:
    config = RunConfig(**{**TINY_CONFIG, "iterations": iterations, "checkpoint_every": 10, **changes})
    train(config, path)
    return config


# ----- SIGKILL and resume ------------------------------------------------------------------------------

def test_sigkill_at_an_arbitrary_point_then_resume_is_bit_identical(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    # Kill after a random checkpoint plus a random delay: mid-iteration, mid-snapshot or mid-checkpoint-write.
    rng = random.Random()
    target, delay = rng.choice([10, 20, 30]), rng.uniform(0.0, 0.02)
    where = f"(kill after checkpoint {target} + {delay * 1000:.1f} ms)"
    for iterations, extra in SLOWER:
        shutil.rmtree(a, ignore_errors=True)
        proc = start_cli(toy_args(a, iterations, extra), tmp_path, tmp_path / "A.log")
        watch, killed_at = CheckpointWatch(a / "checkpoint.pt"), None
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            it = watch.poll()
            if it is not None and target <= it < iterations:
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
                killed_at = it
                break
            time.sleep(0.003)
        proc.wait(timeout=60)
        after = checkpoint_iteration(a / "checkpoint.pt")
        if proc.returncode == -signal.SIGKILL and killed_at is not None and after is not None and after < iterations:
            break
        assert proc.returncode in (0, -signal.SIGKILL), (tmp_path / "A.log").read_text()
    else:
        pytest.fail("every run finished before it could be killed")
    print(f"killed at checkpoint {killed_at}, on disk {after}, of {iterations} ({extra}) {where}")  # shown on failure
    assert 10 <= killed_at <= after < iterations, f"the kill must land mid-run {where}"

    # Resume A and run B uninterrupted, side by side.
    resume = start_cli(["toy", "--resume", a, "--no-render", "--no-progress"], tmp_path, tmp_path / "resume.log")
    fresh = start_cli(toy_args(b, iterations, extra), tmp_path, tmp_path / "B.log")
    assert resume.wait(timeout=300) == 0, (tmp_path / "resume.log").read_text() + where
    assert fresh.wait(timeout=300) == 0, (tmp_path / "B.log").read_text()
    assert checkpoint_iteration(a / "checkpoint.pt") == iterations
    try:
        assert_runs_identical(a, b)
    except AssertionError as err:
        raise AssertionError(f"{err} {where}") from err


# ----- SIGINT / SIGTERM -----------------------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_saves_a_checkpoint_and_prints_the_resume_command(signum, tmp_path):
    out = tmp_path / "run"
    log = tmp_path / "run.log"
    for iterations, extra in SLOWER:
        shutil.rmtree(out, ignore_errors=True)
        proc = start_cli(toy_args(out, iterations, extra), tmp_path, log)
        watch, signalled_at = CheckpointWatch(out / "checkpoint.pt"), None
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            it = watch.poll()
            if it is not None and 10 <= it < iterations:  # a checkpoint is on disk, the run goes on
                proc.send_signal(signum)
                signalled_at = it
                break
            time.sleep(0.003)
        proc.wait(timeout=120)
        after = checkpoint_iteration(out / "checkpoint.pt")
        if signalled_at is not None and after is not None and after < iterations:
            break  # the signal landed mid-run
        assert after == iterations, log.read_text()  # otherwise it reached the end first: go slower
    else:
        pytest.fail("every run finished before the signal could be sent")

    stderr = log.read_text()
    assert proc.returncode == EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr
    assert signal.Signals(signum).name in stderr
    assert f"at iteration {after};" in stderr, "the message names the iteration the checkpoint holds"
    command = stderr.splitlines()[-1].strip()
    assert command.startswith(f"gan-mixup toy --out {shlex.quote(str(out))}") and command.endswith(" --resume"), stderr
    assert "--no-render" in command and "--no-progress" in command, "the printed command keeps every flag"
    assert (out / "checkpoint.pt").is_file() and signalled_at <= after < iterations

    # The printed command completes the run (no GIF, to stay quick).
    argv = shlex.split(stderr.splitlines()[-1].strip())
    assert argv[:2] == ["gan-mixup", "toy"]
    code, _, err = run_cli([*argv[1:], "--no-render", "--no-progress"])
    assert code == 0, err
    assert checkpoint_iteration(out / "checkpoint.pt") == iterations
    # ... to exactly the weights of a run that was never interrupted.
    reference = train(RunConfig.load(out / "config.json"), tmp_path / "reference")
    final = load(out / "checkpoint.pt")
    assert_state_dicts_equal(final["generator"], reference.generator.state_dict())
    assert_state_dicts_equal(final["discriminator"], reference.discriminator.state_dict())


# ----- checkpoints --------------------------------------------------------------------------------------

def test_checkpoint_holds_models_optimisers_rngs_iteration_and_config(tmp_path):
    config = tiny_run(tmp_path / "run", iterations=20)
    ckpt = load(tmp_path / "run" / "checkpoint.pt")  # weights_only=True: plain data and tensors only
    assert ckpt["iteration"] == 20
    assert RunConfig.from_dict(ckpt["config"]) == config
    for part in ("generator", "discriminator"):
        assert ckpt[part] and all(isinstance(t, torch.Tensor) for t in ckpt[part].values())
    for part in ("opt_g", "opt_d"):
        assert ckpt[part]["state"] and ckpt[part]["param_groups"]
    assert set(ckpt["rng"]) == {"data", "noise", "objective"}
    assert all(isinstance(s, torch.Tensor) and s.dtype == torch.uint8 for s in ckpt["rng"].values())
    assert load(tmp_path / "run" / "checkpoint.prev.pt")["iteration"] == 10


def test_checkpoint_is_written_to_a_synced_temp_file_then_renamed(tmp_path, monkeypatch):
    events: list[tuple[str, ...]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src), str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    run = tmp_path / "run"
    tiny_run(run, iterations=20)
    monkeypatch.undo()

    ckpt, prev, tmp = str(run / "checkpoint.pt"), str(run / "checkpoint.prev.pt"), str(run / "checkpoint.pt.tmp")
    synced_tmp = [i for i, e in enumerate(events) if e == ("fsync", tmp)]
    renamed = [i for i, e in enumerate(events) if e == ("replace", tmp, ckpt)]
    kept = [i for i, e in enumerate(events) if e == ("replace", ckpt, prev)]
    assert len(synced_tmp) == len(renamed) == 2 and len(kept) == 1
    assert synced_tmp[0] < renamed[0] < synced_tmp[1] < kept[0] < renamed[1], "fsync the temp file, keep the old one, rename"
    assert ("fsync", str(run)) in events[renamed[1]:], "the directory entry is synced after the rename"
    assert not (run / "checkpoint.pt.tmp").exists()
    assert load(run / "checkpoint.pt")["iteration"] == 20 and load(run / "checkpoint.prev.pt")["iteration"] == 10


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    run = tmp_path / "run"
    tiny_run(run, iterations=30)  # checkpoint.pt at 30, checkpoint.prev.pt at 20
    data = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(data[: len(data) // 2])  # truncated mid-write

    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", 40, "--no-render", "--no-progress"])
    assert code == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("gan-mixup: warning:")]
    assert warnings and "checkpoint.pt" in warnings[0] and "Traceback" not in stderr
    assert any("checkpoint.prev.pt" in line for line in warnings)
    assert load(run / "checkpoint.pt")["iteration"] == 40

    # Resumed from iteration 20, it still ends exactly where an uninterrupted 40-iteration run does.
    reference = train(RunConfig(**TINY_CONFIG, iterations=40, checkpoint_every=10), tmp_path / "reference")
    final = load(run / "checkpoint.pt")
    assert_state_dicts_equal(final["generator"], reference.generator.state_dict())
    assert_state_dicts_equal(final["discriminator"], reference.discriminator.state_dict())

    def train_records(path: Path) -> list[str]:
        return [line for line in (path / "metrics.jsonl").read_text().splitlines() if '"kind": "train"' in line]

    assert train_records(run) == train_records(tmp_path / "reference")


def test_both_checkpoints_corrupt_is_one_line_and_exit_2(tmp_path):
    run = tmp_path / "run"
    tiny_run(run, iterations=20)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[: len(data) // 3])
    before = tree(run)
    code, _, stderr = run_cli(["toy", "--resume", run, "--no-render", "--no-progress"])
    one_error_line(code, stderr, "checkpoint")
    assert tree(run) == before, "a failed resume must not touch the run"


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # what an unsafe torch.load would run
        return (os.mkdir, (str(self.marker),))


def test_checkpoints_are_loaded_with_weights_only(tmp_path):
    run = tmp_path / "run"
    tiny_run(run, iterations=20)
    marker = tmp_path / "code-was-executed"
    torch.save({"version": 1, "iteration": 20, "payload": _Exploit(marker)}, run / "checkpoint.pt")
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", 30, "--no-render", "--no-progress"])
    assert not marker.exists(), "loading a checkpoint must never execute code from it"
    assert code == 0, stderr
    assert "warning" in stderr and "checkpoint.pt" in stderr
    assert load(run / "checkpoint.pt")["iteration"] == 30


# ----- resuming with another config ------------------------------------------------------------------------

@pytest.mark.parametrize("flags, fields", [
    (["--hidden", "16"], ["hidden"]),
    (["--objective", "erm"], ["objective"]),
    (["--dataset", "grid25"], ["dataset"]),
    (["--alpha", "0.5"], ["alpha"]),
    (["--seed", "1"], ["seed"]),
    (["--hidden", "16", "--objective", "erm", "--batch-size", "64"], ["hidden", "objective", "batch_size"]),
], ids=["hidden", "objective", "dataset", "alpha", "seed", "several"])
def test_resume_refuses_a_config_that_matters_and_lists_the_fields(flags, fields, tmp_path):
    run = tmp_path / "run"
    tiny_run(run, iterations=20)
    before = tree(run)
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", 30, *flags, "--no-render", "--no-progress"])
    line = one_error_line(code, stderr, fields[0])
    for field in fields:
        assert f"{field}:" in line, f"{field} is not listed in {line!r}"
    assert tree(run) == before, "a refused resume must not touch the run"


def test_resume_with_more_iterations_continues_to_the_new_length(tmp_path):
    run = tmp_path / "run"
    tiny_run(run, iterations=20)
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", 30, "--log-every", 5, "--no-render", "--no-progress"])
    assert code == 0, stderr
    assert load(run / "checkpoint.pt")["iteration"] == 30
    assert json.loads((run / "config.json").read_text())["iterations"] == 30
    assert (run / "snapshots" / "it_00000030.npz").is_file()
    iterations = [json.loads(line)["iteration"] for line in (run / "metrics.jsonl").read_text().splitlines()
                  if '"kind": "train"' in line]
    assert iterations == [10, 20, 25, 30]
    # More iterations change nothing about the first 20: the result is the 30-iteration run's.
    reference = train(RunConfig(**TINY_CONFIG, iterations=30), None)
    assert_state_dicts_equal(load(run / "checkpoint.pt")["generator"], reference.generator.state_dict())


def test_resume_to_fewer_iterations_than_the_checkpoint_is_refused(tmp_path):
    run = tmp_path / "run"
    tiny_run(run, iterations=20)
    before = tree(run)
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", 10, "--no-render", "--no-progress"])
    one_error_line(code, stderr, "iteration")
    assert tree(run) == before


# ----- NaN / Inf -------------------------------------------------------------------------------------------

class NaNAt:
    """Wraps an objective; its D (or G) loss becomes ``value`` (NaN or Inf) during the given generator iterations."""

    def __init__(self, inner: Any, bad: set[int], where: str, value: float = math.nan) -> None:
        self.inner, self.bad, self.where, self.value, self.current = inner, bad, where, value, 0
        self.name = inner.name
        self.batches_per_step = getattr(inner, "batches_per_step", 1)

    @property
    def last_stats(self):
        return self.inner.last_stats

    def begin_iteration(self, iteration: int, total: int) -> None:
        self.current = iteration + 1  # the iteration about to run

    def _poison(self, loss: torch.Tensor, where: str) -> torch.Tensor:
        return loss + self.value if where == self.where and self.current in self.bad else loss

    def discriminator_loss(self, D, real, fake):
        return self._poison(self.inner.discriminator_loss(D, real, fake), "discriminator")

    def generator_loss(self, D, fake, real=None):
        return self._poison(self.inner.generator_loss(D, fake, real), "generator")


def poison(monkeypatch, bad: set[int], where: str = "discriminator", value: float = math.nan) -> None:
    original = training_state.build_objective
    monkeypatch.setattr(training_state, "build_objective",
                        lambda config, generator=None: NaNAt(original(config, generator), bad, where, value))


def metrics(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("where", ["discriminator", "generator"])
def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(where, tmp_path, monkeypatch):
    run = tmp_path / "run"
    config = RunConfig(**TINY_CONFIG, iterations=40, checkpoint_every=10, snapshot_iterations=(22,))
    poison(monkeypatch, {25}, where)
    with pytest.raises(NonFiniteError) as info:
        train(config, run)
    assert info.value.iteration == 25
    assert "iteration 25" in str(info.value) and f"{where} loss" in str(info.value)

    ckpt = load(run / "checkpoint.pt")
    assert ckpt["iteration"] == 20
    assert all(torch.isfinite(t).all() for part in ("generator", "discriminator") for t in ckpt[part].values())
    snaps = sorted(p.name for p in (run / "snapshots").glob("it_*.npz"))
    assert "it_00000022.npz" in snaps and "it_00000040.npz" not in snaps
    records = metrics(run)
    assert records[-1]["kind"] == "event" and records[-1]["event"] == "nonfinite" and records[-1]["iteration"] == 25
    assert [r["iteration"] for r in records if r["kind"] == "train"] == [10, 20]

    # The kept checkpoint is good: resuming without the fault completes the run.
    monkeypatch.undo()
    train(config, run, resume=True)
    assert load(run / "checkpoint.pt")["iteration"] == 40
    assert not [r for r in metrics(run) if r["kind"] == "event"], "records after the checkpoint are dropped on resume"


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
def test_nonfinite_loss_in_the_cli_names_the_iteration_and_exits_non_zero(value, tmp_path, monkeypatch):
    poison(monkeypatch, {15}, value=value)
    run = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--out", run, "--iterations", 30, "--checkpoint-every", 10, *TINY])
    assert code not in (0, 2), "a diverged run is neither success nor a usage error"
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and "iteration 15" in lines[0] and str(value) in lines[0], lines
    assert load(run / "checkpoint.pt")["iteration"] == 10
    assert metrics(run)[-1]["event"] == "nonfinite"


def test_nonfinite_parameters_with_finite_losses_stop_with_an_event(tmp_path, monkeypatch):
    # A finite loss can still take a step to Inf weights (a huge lr overflows); the checkpoint's
    # parameter check catches that, and the run must record it like a non-finite loss.
    states = []
    original = training_loop.build_state
    monkeypatch.setattr(training_loop, "build_state", lambda config, *world: states.append(original(config, *world)) or states[-1])

    def blow_up(record):
        if record["kind"] == "train" and record["iteration"] == 20:
            with torch.no_grad():
                next(states[0].discriminator.parameters()).fill_(math.inf)

    run = tmp_path / "run"
    config = RunConfig(**TINY_CONFIG, iterations=30, checkpoint_every=10)
    with pytest.raises(NonFiniteError) as info:
        train(config, run, callbacks=[blow_up])
    assert info.value.iteration == 20 and "discriminator" in str(info.value)
    assert load(run / "checkpoint.pt")["iteration"] == 10, "the last good checkpoint is kept"
    last = metrics(run)[-1]
    assert (last["kind"], last["event"], last["iteration"]) == ("event", "nonfinite", 20)


def test_huge_learning_rate_with_skip_ends_cleanly(tmp_path):
    run = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--out", run, "--iterations", 30, "--checkpoint-every", 10, "--lr", "1e38",
                               "--on-nonfinite", "skip", *TINY])
    assert "Traceback" not in stderr and code != 2
    events = [r for r in metrics(run) if r["kind"] == "event"]
    assert any(r["event"] == "skipped" for r in events)
    if code == 0:  # every bad update was skipped: the weights stayed finite
        assert all(torch.isfinite(t).all() for t in load(run / "checkpoint.pt")["discriminator"].values())
    else:  # the weights overflowed anyway: stopped, with the event on record
        assert len(stderr.splitlines()) == 1 and "iteration" in stderr
        assert events[-1]["event"] == "nonfinite"


def test_huge_learning_rate_is_caught_as_nonfinite(tmp_path):
    run = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--out", run, "--iterations", 30, "--lr", "1e38", *TINY])
    assert code not in (0, 2) and "Traceback" not in stderr and "iteration" in stderr
    events = [r for r in metrics(run) if r["kind"] == "event"]
    assert events and events[-1]["event"] == "nonfinite"


def test_on_nonfinite_skip_skips_the_updates_and_records_them(tmp_path, monkeypatch):
    poison(monkeypatch, {25, 26})
    run = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--out", run, "--iterations", 40, "--on-nonfinite", "skip", "--d-steps", 3, *TINY])
    assert code == 0, stderr
    skipped = [r for r in metrics(run) if r["kind"] == "event"]
    assert {r["event"] for r in skipped} == {"skipped"}
    assert sorted(r["iteration"] for r in skipped) == [25] * 3 + [26] * 3  # every D step of both iterations
    assert all("discriminator" in r["message"] for r in skipped)
    ckpt = load(run / "checkpoint.pt")
    assert ckpt["iteration"] == 40
    assert all(torch.isfinite(t).all() for t in ckpt["discriminator"].values())


def test_skipped_generator_update_leaves_the_generator_unchanged(monkeypatch):
    config = RunConfig(**TINY_CONFIG, iterations=24, on_nonfinite="skip")
    before = train(config, None).generator.state_dict()
    poison(monkeypatch, {25}, "generator")
    after = train(config.replace(iterations=25), None).generator.state_dict()
    assert_state_dicts_equal(before, after)


# ----- the run directory is never clobbered ------------------------------------------------------------------

def test_existing_run_directory_is_refused_untouched_unless_overwrite(tmp_path):
    run = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--out", run, "--iterations", 10, *TINY])
    assert code == 0, stderr
    before = tree(run)
    code, _, stderr = run_cli(["toy", "--out", run, "--iterations", 20, *TINY])
    one_error_line(code, stderr, "--overwrite")
    assert tree(run) == before

    code, _, stderr = run_cli(["toy", "--out", run, "--iterations", 20, "--overwrite", *TINY])
    assert code == 0, stderr
    assert load(run / "checkpoint.pt")["iteration"] == 20
    assert json.loads((run / "config.json").read_text())["iterations"] == 20


def test_unwritable_output_under_a_file_is_one_line(tmp_path):
    blocker = tmp_path / "somefile"
    blocker.write_text("precious\n")
    code, _, stderr = run_cli(["toy", "--out", blocker / "run", "--iterations", 5, *TINY])
    one_error_line(code, stderr, "somefile")
    assert blocker.read_text() == "precious\n"



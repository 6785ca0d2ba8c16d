"""Hardening: the scoped denormal flush, NaN/Inf handling without host syncs, safe --overwrite,
metrics continuation, the run lock, resume without a checkpoint, time-based checkpoints,
collections, checkpoint fallbacks and the snapshot schedule (the CLI's own errors: tests/test_cli.py).

Every training is tiny (width 16, 12 iterations). Two real processes are started, each only where a
real process is the point (another process holding the lock; kill -9 before the first checkpoint).
"""
from __future__ import annotations

import importlib
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cli_helpers import run_cli, subprocess_env
from conftest import make_tiny_config, read_metrics_file
from gan_mixup.cli import EXIT_INTERRUPTED, EXIT_NONFINITE
from gan_mixup.config import RunConfig
from gan_mixup.errors import GanMixupError
from gan_mixup.objectives import (
    HingeGAN,
    LSGAN,
    WGANGP,
    MixupGAN,
    ObjectiveError,
    StandardGAN,
    logits_of,
)
from gan_mixup.rundir import (
    LOCK_FILE,
    MARKER_FILE,
    PAPER_ITERATIONS,
    RunLockedError,
    dense_schedule,
    load_checkpoint,
    locked,
    snapshot_schedule,
)
from gan_mixup.train import (
    NonFiniteError,
    build_state,
    check_nonfinite,
    denormals_flushed,
    nonfinite_parameters,
    train,
    train_step,
)
from toy_data import DATASETS, get_dataset, grid25, ring8

train_module = importlib.import_module("gan_mixup.train")  # `import gan_mixup.train` would give the function
experiments_module = importlib.import_module("gan_mixup.experiments")

# The tiny config as CLI flags (make_tiny_config's fields; its checkpoint_every 1000 is the toy default).
TINY = ["--hidden", "16", "--iterations", "12", "--batch-size", "32", "--d-steps", "2", "--snapshot-frames", "3",
        "--fixed-samples", "200", "--grid-size", "16", "--log-every", "2"]
QUIET = ["--no-render", "--no-progress"]


# ----- helpers -------------------------------------------------------------------------------------

def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes (to prove a refused command touched nothing)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(Path(path).rglob("*")) if p.is_file()}


def load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def one_error_line(code: int, stderr: str, *keywords: str) -> str:
    assert code == 2, f"exit code {code}, stderr {stderr!r}"
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("gan-mixup: error: "), lines[0]
    for keyword in keywords:
        assert keyword.lower() in lines[0].lower(), (keyword, lines[0])
    return lines[0]


def assert_state_dicts_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def clone_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def adam_state(optimizer: torch.optim.Optimizer) -> list[dict[str, torch.Tensor]]:
    """Every parameter's Adam state (step, exp_avg, exp_avg_sq), cloned."""
    return [{k: v.detach().clone() for k, v in optimizer.state[p].items()}
            for group in optimizer.param_groups for p in group["params"]]


def assert_adam_equal(a: list[dict[str, torch.Tensor]], b: list[dict[str, torch.Tensor]]) -> None:
    assert len(a) == len(b) and a
    for x, y in zip(a, b):
        assert x.keys() == y.keys() and {"step", "exp_avg", "exp_avg_sq"} <= set(x)
        for key in x:
            assert torch.equal(x[key], y[key]), key


def steps_of(optimizer: torch.optim.Optimizer) -> set[float]:
    return {float(optimizer.state[p]["step"]) for group in optimizer.param_groups for p in group["params"]}


def all_finite(state_dict: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in state_dict.values() if t.is_floating_point())


def poison_loss_calls(monkeypatch, where: str, bad_calls: set[int], seen: list | None = None) -> list:
    """Make ``build_objective`` return the run's objective with its ``<where>_loss`` turned NaN on the
    given calls (1-based, counted over the run). ``seen`` (returned) gets, per call, its number and
    the D/G weights and Adam state at the moment of the call, i.e. before that call's update."""
    seen = [] if seen is None else seen
    states: list[Any] = []
    original_state, original_objective = train_module.build_state, train_module.build_objective

    def build_state_(config):
        states.append(original_state(config))
        return states[-1]

    def build_objective_(config, generator=None):
        objective = original_objective(config, generator)
        inner = getattr(objective, f"{where}_loss")
        count = [0]

        def loss(D, *args, **kwargs):
            count[0] += 1
            if states:
                state = states[-1]
                seen.append((count[0], clone_state(state.discriminator), adam_state(state.opt_d),
                             clone_state(state.generator), adam_state(state.opt_g)))
            value = inner(D, *args, **kwargs)
            return value * float("nan") if count[0] in bad_calls else value

        setattr(objective, f"{where}_loss", loss)
        return objective

    monkeypatch.setattr(train_module, "build_state", build_state_)
    monkeypatch.setattr(train_module, "build_objective", build_objective_)
    return seen


def events(run: Path) -> list[dict[str, Any]]:
    return [r for r in read_metrics_file(run) if r["kind"] == "event"]


# ----- 1. flush_denormal is scoped to train() -------------------------------------------------------

@pytest.fixture
def keep_flush_denormal():
    before = denormals_flushed()
    yield
    torch.set_flush_denormal(before)


@pytest.mark.parametrize("before", [False, True], ids=["off-before", "on-before"])
def test_train_flushes_denormals_inside_and_restores_the_setting(before, keep_flush_denormal):
    assert torch.set_flush_denormal(before), "this CPU cannot flush denormals: the test means nothing here"
    assert denormals_flushed() is before
    during: list[bool] = []
    result = train(make_tiny_config(), None, callbacks=[lambda record: during.append(denormals_flushed())])
    assert result.iteration == 12
    assert len(during) == 6 and all(during), during  # every train record (2, 4, ..., 12) saw the flush on
    assert denormals_flushed() is before


def test_flush_denormal_false_leaves_it_off_during_training(keep_flush_denormal):
    torch.set_flush_denormal(False)
    during: list[bool] = []
    train(make_tiny_config(), None, flush_denormal=False, callbacks=[lambda record: during.append(denormals_flushed())])
    assert len(during) == 6 and not any(during)
    assert denormals_flushed() is False


def test_flush_denormal_is_restored_when_train_raises(tmp_path, keep_flush_denormal):
    torch.set_flush_denormal(False)

    def crash(record):
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        train(make_tiny_config(), tmp_path / "run", callbacks=[crash])
    assert denormals_flushed() is False
    assert not (tmp_path / "run" / LOCK_FILE).exists()


# ----- 2. NaN/Inf without a host sync per step ------------------------------------------------------

@pytest.mark.parametrize("where", ["discriminator", "generator"])
def test_train_step_skips_a_nan_update_on_the_device_and_check_nonfinite_reports_it(where):
    config = make_tiny_config(d_steps=1)
    state = build_state(config)
    inner = getattr(state.objective, f"{where}_loss")
    calls = [0]

    def poisoned(D, *args, **kwargs):
        calls[0] += 1
        value = inner(D, *args, **kwargs)
        return value * float("nan") if calls[0] == 3 else value

    setattr(state.objective, f"{where}_loss", poisoned)
    train_step(state)
    train_step(state)
    hit, other = (state.discriminator, state.opt_d), (state.generator, state.opt_g)
    if where == "generator":
        hit, other = other, hit
    weights, moments = clone_state(hit[0]), adam_state(hit[1])
    other_weights = clone_state(other[0])
    assert steps_of(hit[1]) == {2.0} and steps_of(other[1]) == {2.0}

    d_loss, g_loss = train_step(state)  # iteration 3: the poisoned update; no exception, no sync
    assert state.iteration == 3
    assert torch.isnan(d_loss if where == "discriminator" else g_loss)
    assert_state_dicts_equal(clone_state(hit[0]), weights)
    assert_adam_equal(adam_state(hit[1]), moments)  # step count and moments untouched
    assert steps_of(other[1]) == {3.0}, "the other network's update still happened"
    assert any(not torch.equal(a, b) for a, b in zip(clone_state(other[0]).values(), other_weights.values()))

    skipped = check_nonfinite(state, "skip")
    assert [(it, what) for it, what, _ in skipped] == [(3, f"{where} loss")]
    assert math.isnan(skipped[0][2])
    assert state.pending_losses == [] and check_nonfinite(state, "skip") == []

    train_step(state)  # training goes on: the next update is taken
    assert steps_of(hit[1]) == {3.0}
    assert any(not torch.equal(a, b) for a, b in zip(clone_state(hit[0]).values(), weights.values()))
    assert check_nonfinite(state, "stop") == []
    assert nonfinite_parameters(state) == []


def test_check_nonfinite_stop_raises_at_the_first_bad_iteration():
    state = build_state(make_tiny_config(d_steps=1))
    inner = state.objective.discriminator_loss
    calls = [0]

    def poisoned(D, real, fake):
        calls[0] += 1
        value = inner(D, real, fake)
        return value * float("nan") if calls[0] in (2, 4) else value

    state.objective.discriminator_loss = poisoned
    for _ in range(4):
        train_step(state)
    with pytest.raises(NonFiniteError) as info:
        check_nonfinite(state, "stop")
    assert info.value.iteration == 2
    assert info.value.checkpoint_iteration is None
    assert "iteration 2" in str(info.value) and "discriminator loss" in str(info.value)
    assert nonfinite_parameters(state) == [], "a skipped update leaves the weights finite"


def test_skip_run_records_the_skipped_update_and_leaves_d_and_adam_unchanged(tmp_path, monkeypatch):
    # d_steps 2: calls 9 and 10 are iteration 5's D steps; poison the second one only.
    seen = poison_loss_calls(monkeypatch, "discriminator", {10})
    run = tmp_path / "run"
    result = train(make_tiny_config(on_nonfinite="skip"), run)
    assert result.iteration == 12
    assert [(e["event"], e["iteration"]) for e in events(run)] == [("skipped", 5)]
    assert "discriminator" in events(run)[0]["message"]

    by_call = {call: (d, opt_d) for call, d, opt_d, _, _ in seen}
    assert len(by_call) == 24
    # Call 10 saw the weights after call 9's update; call 11 sees them after call 10's skipped one.
    assert_state_dicts_equal(by_call[11][0], by_call[10][0])
    assert_adam_equal(by_call[11][1], by_call[10][1])
    assert {float(s["step"]) for s in by_call[10][1]} == {9.0}
    # The updates around it were taken.
    assert any(not torch.equal(a, b) for a, b in zip(by_call[10][0].values(), by_call[9][0].values()))
    assert any(not torch.equal(a, b) for a, b in zip(by_call[12][0].values(), by_call[11][0].values()))
    final = load(run / "checkpoint.pt")
    assert final["iteration"] == 12 and all_finite(final["discriminator"]) and all_finite(final["generator"])
    assert {float(s["step"]) for s in final["opt_d"]["state"].values()} == {23.0}, "24 D updates, one skipped"


@pytest.mark.parametrize("bad_iteration, checkpoint_every, expected", [
    (8, 1000, None),  # no checkpoint before the bad iteration
    (8, 5, 5),
    (10, 5, 5),  # found at a checkpoint iteration: the bad iteration is not checkpointed
], ids=["no-checkpoint", "checkpoint-before", "found-at-checkpoint"])
def test_stop_run_raises_with_the_first_bad_iteration_and_the_checkpoint_on_disk(
        bad_iteration, checkpoint_every, expected, tmp_path, monkeypatch):
    poison_loss_calls(monkeypatch, "discriminator", {2 * bad_iteration - 1})
    run = tmp_path / "run"
    config = make_tiny_config(checkpoint_every=checkpoint_every, checkpoint_seconds=0)
    with pytest.raises(NonFiniteError) as info:
        train(config, run)
    assert info.value.iteration == bad_iteration
    assert info.value.checkpoint_iteration == expected
    last = read_metrics_file(run)[-1]
    assert (last["kind"], last["event"], last["iteration"]) == ("event", "nonfinite", bad_iteration)
    if expected is None:
        assert not (run / "checkpoint.pt").exists() and not (run / "checkpoint.prev.pt").exists()
    else:
        checkpoint = load(run / "checkpoint.pt")
        assert checkpoint["iteration"] == expected
        assert all_finite(checkpoint["discriminator"]) and all_finite(checkpoint["generator"])
    assert not (run / LOCK_FILE).exists()


def test_pending_checks_are_bounded_and_report_the_first_bad_iteration(tmp_path, monkeypatch):
    # No log, snapshot or checkpoint before iteration 10: only the queue bound forces a check.
    monkeypatch.setattr(train_module, "MAX_PENDING_CHECKS", 4)
    poison_loss_calls(monkeypatch, "discriminator", {3, 5})  # iterations 2 and 3
    seen_at: list[tuple[int, int]] = []
    states: list[Any] = []
    build = train_module.build_state
    monkeypatch.setattr(train_module, "build_state", lambda config: states.append(build(config)) or states[-1])

    def watch(record):
        if record["kind"] == "event":
            seen_at.append((record["iteration"], states[0].iteration))

    config = make_tiny_config(log_every=1000, snapshot_frames=0, checkpoint_seconds=0, on_nonfinite="skip")
    train(config, tmp_path / "skip", callbacks=[watch])
    assert seen_at == [(2, 4), (3, 4)], "the queue of 4 unchecked iterations is checked at iteration 4"

    states.clear()
    with pytest.raises(NonFiniteError) as info:
        train(config.replace(on_nonfinite="stop"), tmp_path / "stop")
    assert info.value.iteration == 2
    assert states[0].iteration == 4, "stopped where the bounded queue was checked"


# ----- 3. the CLI on a non-finite run ---------------------------------------------------------------

def test_huge_lr_goes_nonfinite_exit_3_without_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--out", run, *TINY, "--lr", "1e30", *QUIET])
    assert code == EXIT_NONFINITE, stderr
    assert [e["event"] for e in events(run)] == ["nonfinite"], "the run really went non-finite"
    lines = stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr
    assert lines[0].startswith("gan-mixup: stopped:")
    assert f"iteration {events(run)[0]['iteration']}" in lines[0]
    assert "No checkpoint was written yet" in lines[0]
    assert "--on-nonfinite skip" in lines[0]
    assert not (run / "checkpoint.pt").exists()


def test_nonfinite_message_names_the_kept_checkpoint(tmp_path, monkeypatch):
    poison_loss_calls(monkeypatch, "discriminator", {15})  # iteration 8
    run = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--out", run, *TINY, "--checkpoint-every", "5", *QUIET])
    assert code == EXIT_NONFINITE, stderr
    line, = stderr.splitlines()
    assert "iteration 8" in line and "The checkpoint of iteration 5" in line
    assert "No checkpoint" not in line and "--on-nonfinite skip" in line
    assert load(run / "checkpoint.pt")["iteration"] == 5


def fail_parameter_check(monkeypatch) -> None:
    """Every checkpoint finds non-finite weights (what a huge lr can do even with skip)."""
    monkeypatch.setattr(train_module, "nonfinite_parameters", lambda state: ["discriminator.0.weight"])


@pytest.mark.parametrize("flags", [["--on-nonfinite", "skip"], ["--on-nonfinite=skip"]], ids=["space", "equals"])
def test_nonfinite_hint_does_not_suggest_skip_when_the_user_passed_it(flags, tmp_path, monkeypatch):
    fail_parameter_check(monkeypatch)
    code, _, stderr = run_cli(["toy", "--out", tmp_path / "run", *TINY, *flags, *QUIET])
    assert code == EXIT_NONFINITE, stderr
    line, = stderr.splitlines()
    assert "non-finite parameters at iteration 12" in line and "No checkpoint was written yet" in line
    assert "try a lower --lr" in line
    assert "--on-nonfinite skip" not in line, line


def test_nonfinite_hint_does_not_suggest_skip_to_a_resumed_run_that_skips(tmp_path, monkeypatch):
    run = tmp_path / "run"
    code, _, stderr = run_cli(["toy", "--out", run, *TINY, "--on-nonfinite", "skip", *QUIET])
    assert code == 0, stderr
    fail_parameter_check(monkeypatch)
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "14", *QUIET])
    assert code == EXIT_NONFINITE, stderr
    line, = stderr.splitlines()
    assert "The checkpoint of iteration 12" in line
    assert "--on-nonfinite skip" not in line, "the run already skips (its config.json says so)"


def test_nonfinite_hint_suggests_skip_when_only_the_out_dir_is_called_skip(tmp_path, monkeypatch):
    fail_parameter_check(monkeypatch)
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run_cli(["toy", "--out", "skip", *TINY, *QUIET])
    assert code == EXIT_NONFINITE, stderr
    line, = stderr.splitlines()
    assert "--on-nonfinite skip" in line, "the user never passed --on-nonfinite; a folder name is no flag"


# ----- 4. --overwrite safety ------------------------------------------------------------------------

def test_overwrite_refuses_an_unmarked_folder_with_a_config(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"my": "own config"}\n')
    (folder / "data.csv").write_text("1,2,3\n")
    before = tree(folder)
    code, _, stderr = run_cli(["toy", "--out", folder, "--overwrite", *TINY, *QUIET])
    one_error_line(code, stderr, "refusing", MARKER_FILE)
    assert tree(folder) == before


@pytest.fixture
def marked_run(tmp_path) -> Path:
    run = tmp_path / "run"
    train(make_tiny_config(checkpoint_every=5), run)
    assert (run / MARKER_FILE).is_file()
    return run


def test_overwrite_refuses_the_current_directory(marked_run, monkeypatch):
    before = tree(marked_run)
    monkeypatch.chdir(marked_run)
    code, _, stderr = run_cli(["toy", "--out", ".", "--overwrite", *TINY, *QUIET])
    one_error_line(code, stderr, "current directory")
    assert tree(marked_run) == before


@pytest.mark.parametrize("out", ["..", "absolute"])
def test_overwrite_refuses_a_parent_of_the_current_directory(out, marked_run, monkeypatch):
    before = tree(marked_run)
    monkeypatch.chdir(marked_run / "snapshots")
    target = str(marked_run) if out == "absolute" else out
    code, _, stderr = run_cli(["toy", "--out", target, "--overwrite", *TINY, *QUIET])
    one_error_line(code, stderr, "parents")
    assert tree(marked_run) == before


def test_overwrite_removes_only_gan_mixups_files(marked_run):
    (marked_run / "notes.txt").write_text("my notes\n")
    (marked_run / "mine").mkdir()
    (marked_run / "mine" / "data.txt").write_text("keep me\n")
    assert (marked_run / "checkpoint.prev.pt").is_file() and (marked_run / "snapshots" / "it_00000012.npz").is_file()
    code, _, stderr = run_cli(["toy", "--out", marked_run, "--overwrite", *TINY, "--iterations", "8", *QUIET])
    assert code == 0, stderr
    assert (marked_run / "notes.txt").read_text() == "my notes\n"
    assert (marked_run / "mine" / "data.txt").read_text() == "keep me\n"
    assert load(marked_run / "checkpoint.pt")["iteration"] == 8
    assert not (marked_run / "checkpoint.prev.pt").exists(), "the old run's previous checkpoint is gone"
    assert not (marked_run / "snapshots" / "it_00000012.npz").exists(), "the old run's snapshots are gone"
    assert max(r["iteration"] for r in read_metrics_file(marked_run)) == 8
    assert (marked_run / MARKER_FILE).is_file() and not (marked_run / LOCK_FILE).exists()


# ----- 5. metrics.jsonl deleted or cut before --resume ----------------------------------------------

@pytest.mark.parametrize("damage", ["deleted", "cut-mid-line"])
def test_resume_continues_a_deleted_or_cut_metrics_file(damage, tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(iterations=20, checkpoint_every=10), run)
    path = run / "metrics.jsonl"
    data = path.read_bytes()
    kept = b""
    if damage == "deleted":
        path.unlink()
    else:
        cut = data.rindex(b"\n", 0, len(data) - 1) + 6  # 5 bytes into the last line
        assert data[cut - 1:cut] != b"\n"
        kept = data[:cut]
        path.write_bytes(kept)

    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "30", *QUIET])
    assert code == 0, stderr
    assert "Traceback" not in stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("gan-mixup: warning:")]
    assert len(warnings) == 1 and "metrics.jsonl" in warnings[0], stderr

    after = path.read_bytes()
    assert b"\x00" not in after
    assert after.startswith(kept)
    new_lines = after[len(kept):].decode().splitlines()
    if damage == "cut-mid-line":
        assert new_lines[0] == "", "the cut line is ended, and the next record starts on a line of its own"
        new_lines = new_lines[1:]
    new = [json.loads(line) for line in new_lines]  # every new record is strict JSON
    assert [r["iteration"] for r in new if r["kind"] == "train"] == [22, 24, 26, 28, 30]
    assert new[-1]["iteration"] == 30 and load(run / "checkpoint.pt")["iteration"] == 30


# ----- 6. the run lock ------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from gan_mixup.rundir import locked
with locked(Path(sys.argv[1])):
    print("ready", flush=True)
    time.sleep(120)
"""


def test_a_locked_run_is_refused_naming_the_holder_and_freed_by_its_death(tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(), run)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], cwd=tmp_path, env=subprocess_env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        before = tree(run)
        assert f"process {holder.pid} " in before[LOCK_FILE].decode()
        for flags in (["--resume", run, "--iterations", "16"], ["--out", run, "--overwrite", *TINY]):
            code, _, stderr = run_cli(["toy", *flags, *QUIET])
            one_error_line(code, stderr, f"process {holder.pid}", "in use")
            assert tree(run) == before
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert holder.returncode == -signal.SIGKILL
    assert (run / LOCK_FILE).exists(), "kill -9 left the lock file behind: the kernel lock is what counts"
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "16", *QUIET])
    assert code == 0, stderr
    assert load(run / "checkpoint.pt")["iteration"] == 16
    assert not (run / LOCK_FILE).exists()


def test_no_lock_file_remains_after_a_run(tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(), run)
    assert not (run / LOCK_FILE).exists()
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "14", *QUIET])
    assert code == 0, stderr
    assert not (run / LOCK_FILE).exists()
    code, _, stderr = run_cli(["toy", "--out", run, *TINY, *QUIET])  # refused: exists
    one_error_line(code, stderr, "--overwrite")
    assert not (run / LOCK_FILE).exists()


def test_nested_lock_in_one_process_is_refused(tmp_path):
    run = tmp_path / "run"
    with locked(run):
        assert (run / LOCK_FILE).is_file()
        with pytest.raises(RunLockedError) as info:
            with locked(run):
                pytest.fail("a second lock on the same run directory was granted")
        assert f"process {os.getpid()} " in str(info.value)
        assert isinstance(info.value, GanMixupError)
        with pytest.raises(RunLockedError):  # the refused attempt did not release the first lock
            with locked(run):
                pass
        with pytest.raises(RunLockedError):
            train(make_tiny_config(), run)
    assert not run.exists(), "a directory created by the lock that stayed empty is removed"
    with locked(run):  # free again
        pass


# ----- 7. a run killed before its first checkpoint resumes from iteration 0 ---------------------------

KILLED_BEFORE_CHECKPOINT = """
import sys, time
from gan_mixup.config import RunConfig
from gan_mixup.train import train

def hold(record):
    if record["kind"] == "train":
        print("ready", flush=True)
        time.sleep(120)

train(RunConfig.from_json(sys.argv[2]), sys.argv[1], callbacks=[hold])
"""


def test_resume_of_a_run_killed_before_its_first_checkpoint_is_bit_identical(tmp_path):
    run = tmp_path / "run"
    config = make_tiny_config(checkpoint_every=100000, checkpoint_seconds=0)
    child = subprocess.Popen([sys.executable, "-c", KILLED_BEFORE_CHECKPOINT, str(run), config.to_json()],
                             cwd=tmp_path, env=subprocess_env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert (run / "config.json").is_file() and (run / "snapshots" / "it_00000001.npz").is_file()
    assert not (run / "checkpoint.pt").exists() and not (run / "checkpoint.prev.pt").exists()

    code, _, stderr = run_cli(["toy", "--resume", run, *QUIET])
    assert code == 0, stderr
    final = load(run / "checkpoint.pt")
    assert final["iteration"] == 12
    reference = train(config, None)
    assert_state_dicts_equal(final["generator"], reference.generator.state_dict())
    assert_state_dicts_equal(final["discriminator"], reference.discriminator.state_dict())
    train_records = [r["iteration"] for r in read_metrics_file(run) if r["kind"] == "train"]
    assert train_records == [2, 4, 6, 8, 10, 12], "the killed run's records are not kept twice"
    assert not (run / LOCK_FILE).exists()


# ----- 8. time-based checkpoints --------------------------------------------------------------------

@pytest.mark.parametrize("seconds, expected", [
    (1e-9, [(k, k - 1) for k in range(2, 13, 2)]),  # every iteration is past 1 ns: a checkpoint each
    (0.0, [(k, None) for k in range(2, 13, 2)]),  # off: only the final one
    (3600.0, [(k, None) for k in range(2, 13, 2)]),  # an hour never passes in 12 iterations
], ids=["1ns", "off", "hour"])
def test_checkpoint_seconds(seconds, expected, tmp_path):
    run = tmp_path / "run"
    seen: list[tuple[int, int | None]] = []

    def watch(record):
        if record["kind"] == "train":
            on_disk = load_checkpoint(run)[0]["iteration"] if (run / "checkpoint.pt").exists() else None
            seen.append((record["iteration"], on_disk))

    result = train(make_tiny_config(checkpoint_every=10**9, checkpoint_seconds=seconds), run, callbacks=[watch])
    assert seen == expected
    assert load(run / "checkpoint.pt")["iteration"] == 12
    assert len(result.checkpoint_seconds) == (12 if seconds == 1e-9 else 1)
    if seconds == 1e-9:
        assert load(run / "checkpoint.prev.pt")["iteration"] == 11
    else:
        assert not (run / "checkpoint.prev.pt").exists()


# ----- 9. compare and figure5 -----------------------------------------------------------------------

@pytest.fixture
def no_collection_render(monkeypatch):
    """Rendering a collection takes seconds and is not what these tests are about."""
    monkeypatch.setattr(experiments_module, "render_run", lambda run_dir, **kw: {})
    monkeypatch.setattr(experiments_module, "render_comparison", lambda runs, out_dir, **kw: {})


def test_compare_resume_finishes_a_member_without_checkpoint_and_one_never_started(
        tmp_path, monkeypatch, no_collection_render):
    out = tmp_path / "cmp"
    flags = [*TINY, "--checkpoint-seconds", "0", "--no-progress"]
    real_train = experiments_module.train

    def ctrl_c_at_first_record(config, run_dir, **kwargs):
        def stop(record):
            if record["kind"] == "train":
                raise KeyboardInterrupt
        return real_train(config, run_dir, callbacks=[stop, *kwargs.pop("callbacks", ())], **kwargs)

    monkeypatch.setattr(experiments_module, "train", ctrl_c_at_first_record)
    code, _, stderr = run_cli(["compare", "--out", out, *flags])
    assert code == EXIT_INTERRUPTED, stderr
    assert (out / "erm" / "config.json").is_file() and not (out / "erm" / "checkpoint.pt").exists()
    assert not (out / "mixup").exists()

    monkeypatch.setattr(experiments_module, "train", real_train)
    code, _, stderr = run_cli(["compare", "--out", out, "--resume", *flags])
    assert code == 0, stderr
    for member in ("erm", "mixup"):
        assert load(out / member / "checkpoint.pt")["iteration"] == 12, member
        assert not (out / member / LOCK_FILE).exists()
    assert json.loads((out / "runs.json").read_text())["runs"] == {"erm": "erm", "mixup": "mixup"}
    # erm started again from 0: exactly the run that was never interrupted.
    reference = train(RunConfig.load(out / "erm" / "config.json"), None)
    assert_state_dicts_equal(load(out / "erm" / "checkpoint.pt")["generator"], reference.generator.state_dict())


def test_compare_overwrite_removes_the_old_members(tmp_path, no_collection_render):
    out = tmp_path / "cmp"
    code, _, stderr = run_cli(["compare", "--out", out, *TINY, "--no-progress"])
    assert code == 0, stderr
    assert (out / "erm" / "checkpoint.pt").is_file() and (out / "mixup" / "checkpoint.pt").is_file()
    (out / "notes.txt").write_text("mine\n")
    code, _, stderr = run_cli(["compare", "--out", out, "--objectives", "hinge", "--overwrite", *TINY, "--no-progress"])
    assert code == 0, stderr
    assert not (out / "erm").exists() and not (out / "mixup").exists()
    assert load(out / "hinge" / "checkpoint.pt")["iteration"] == 12
    assert json.loads((out / "runs.json").read_text())["runs"] == {"hinge": "hinge"}
    assert (out / "notes.txt").read_text() == "mine\n"


def test_figure5_resume_into_a_compare_directory_is_refused_untouched(tmp_path, no_collection_render):
    out = tmp_path / "cmp"
    code, _, stderr = run_cli(["compare", "--out", out, *TINY, "--no-progress"])
    assert code == 0, stderr
    before = tree(out)
    code, _, stderr = run_cli(["figure5", "--out", out, "--resume", "--iterations", "12", "--hidden", "16", "--no-progress"])
    one_error_line(code, stderr, "compare")
    assert tree(out) == before


# ----- 10. checkpoint fallbacks ---------------------------------------------------------------------

def test_empty_latest_checkpoint_falls_back_to_the_previous(tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(iterations=20, checkpoint_every=10), run)
    (run / "checkpoint.pt").write_bytes(b"")
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "24", *QUIET])
    assert code == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("gan-mixup: warning:")]
    assert any("checkpoint.pt" in w and "unreadable" in w for w in warnings), stderr
    assert any("previous checkpoint" in w and "checkpoint.prev.pt" in w for w in warnings), stderr
    assert "Traceback" not in stderr
    assert load(run / "checkpoint.pt")["iteration"] == 24
    # Resumed from iteration 10: the train records 12..20 were written again, once each.
    assert [r["iteration"] for r in read_metrics_file(run) if r["kind"] == "train"] == list(range(2, 25, 2))


@pytest.mark.parametrize("damage", ["empty", "garbage"])
def test_both_checkpoints_damaged_is_one_line(damage, tmp_path):
    run = tmp_path / "run"
    train(make_tiny_config(iterations=20, checkpoint_every=10), run)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (run / name).write_bytes(b"" if damage == "empty" else b"not a checkpoint\x00\xff" * 10)
    before = tree(run)
    code, _, stderr = run_cli(["toy", "--resume", run, "--iterations", "24", *QUIET])
    one_error_line(code, stderr, "checkpoint")
    assert tree(run) == before


# ----- 11. the snapshot schedule --------------------------------------------------------------------

def test_paper_schedule_sizes():
    dense = dense_schedule(20000, 200)
    assert len(dense) == len(set(dense)) == 200
    assert dense == sorted(dense) and dense[0] == 1 and dense[-1] == 20000
    full = snapshot_schedule(20000, 200)
    assert len(full) >= 200 and set(dense) <= set(full) and set(PAPER_ITERATIONS) <= set(full)


@settings(max_examples=300, deadline=None)
@given(iterations=st.integers(1, 10**6), frames=st.integers(0, 500))
def test_dense_schedule_property(iterations, frames):
    points = dense_schedule(iterations, frames)
    assert len(points) == min(frames, iterations)
    assert all(isinstance(p, int) for p in points)
    assert all(a < b for a, b in zip(points, points[1:]))
    assert all(1 <= p <= iterations for p in points)
    if frames >= 1:
        assert points[-1] == iterations
    if min(frames, iterations) >= 2:
        assert points[0] == 1
    schedule = snapshot_schedule(iterations, frames)
    assert schedule == sorted(set(schedule)) and schedule[-1] == iterations
    assert set(points) <= set(schedule) and {p for p in PAPER_ITERATIONS if p <= iterations} <= set(schedule)


# ----- 12. library errors ---------------------------------------------------------------------------

OBJECTIVE_FACTORIES = {
    "erm": lambda: StandardGAN(),
    "mixup": lambda: MixupGAN(generator=torch.Generator().manual_seed(0)),
    "wgan-gp": lambda: WGANGP(generator=torch.Generator().manual_seed(0)),
    "hinge": lambda: HingeGAN(),
    "lsgan": lambda: LSGAN(),
}


def test_logits_of_an_empty_batch_raises():
    with pytest.raises(ObjectiveError, match="empty") as info:
        logits_of(nn.Linear(2, 1), torch.zeros(0, 2))
    assert isinstance(info.value, GanMixupError)


@pytest.mark.parametrize("sizes", [(0, 0), (8, 0), (0, 8)], ids=["both-empty", "fake-empty", "real-empty"])
@pytest.mark.parametrize("name", list(OBJECTIVE_FACTORIES))
def test_discriminator_loss_on_an_empty_batch_raises(name, sizes):
    D = nn.Linear(2, 1)
    with pytest.raises(ObjectiveError):
        loss = OBJECTIVE_FACTORIES[name]().discriminator_loss(D, torch.randn(sizes[0], 2), torch.randn(sizes[1], 2))
        pytest.fail(f"{name} returned {loss} for real/fake batches of {sizes}")


@pytest.mark.parametrize("name", list(OBJECTIVE_FACTORIES))
def test_generator_loss_on_an_empty_batch_raises(name):
    with pytest.raises(ObjectiveError):
        OBJECTIVE_FACTORIES[name]().generator_loss(nn.Linear(2, 1), torch.zeros(0, 2), torch.randn(8, 2))


@pytest.mark.parametrize("make", [
    lambda: MixupGAN(alpha=True),
    lambda: MixupGAN(alpha=False),
    lambda: StandardGAN(generator_loss="minimax").generator_loss(nn.Linear(2, 1), torch.randn(8, 2), torch.randn(6, 2)),
    lambda: MixupGAN(generator_loss="minimax").generator_loss(nn.Linear(2, 1), torch.randn(8, 2), torch.randn(6, 2)),
], ids=["alpha-True", "alpha-False", "erm-minimax-sizes", "mixup-minimax-sizes"])
def test_objective_mistakes_raise_objective_error(make):
    with pytest.raises(ObjectiveError) as info:
        make()
    assert isinstance(info.value, GanMixupError)


# ----- 15. toy_data -------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{"n_modes": 2.5}, {"n_modes": 1e9}, {"n_modes": 0}, {"n_modes": float("inf")}],
                         ids=["fraction", "huge", "zero", "inf"])
def test_ring8_rejects_a_bad_mode_count(options):
    with pytest.raises(ValueError, match="n_modes"):
        ring8(**options)


@pytest.mark.parametrize("side", [2.5, 1e9, float("inf")], ids=["fraction", "huge", "inf"])
def test_grid25_rejects_a_bad_side(side):
    with pytest.raises(ValueError, match="side"):
        grid25(side=side)


def test_ring8_mode_count_is_honoured():
    modes = ring8(n_modes=3.0).modes
    assert modes.shape == (3, 2)
    assert torch.allclose(modes.norm(dim=1), torch.ones(3), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", list(DATASETS))
def test_samples_are_drawn_on_the_generators_device_cpu(name):
    dataset = get_dataset(name)
    x = dataset.sample(64, torch.Generator().manual_seed(0))
    assert x.shape == (64, 2) and x.dtype == torch.float32 and x.device.type == "cpu"
    y = dataset.sample(64, torch.Generator().manual_seed(0))
    assert torch.equal(x, y), "the generator alone drives the sampler"
    assert bool(torch.isfinite(x).all()) and 0 < float(x.abs().max()) < 2 * dataset.extent


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(DATASETS))
def test_samples_are_drawn_on_the_generators_device_cuda(name):
    dataset = get_dataset(name)
    x = dataset.sample(64, torch.Generator("cuda").manual_seed(0))
    assert x.shape == (64, 2) and x.dtype == torch.float32 and x.device.type == "cuda"
    assert torch.equal(x, dataset.sample(64, torch.Generator("cuda").manual_seed(0)))


def test_overwrite_accepts_a_run_of_the_version_before_markers(tmp_path):
    from gan_mixup.train import train

    run = tmp_path / "old"
    train(make_tiny_config(), run)
    (run / ".gan-mixup-run").unlink()  # as written before runs were marked
    (run / "notes.txt").write_text("mine")
    code, _, stderr = run_cli(["toy", "--out", run, *TINY, "--no-progress", "--no-render", "--overwrite"])
    assert code == 0, stderr
    assert (run / ".gan-mixup-run").is_file() and (run / "notes.txt").read_text() == "mine"
    # A folder with only a config.json (a project's) is still refused.
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text('{"dataset": "ring8"}')
    code, _, stderr = run_cli(["toy", "--out", project, *TINY, "--no-progress", "--no-render", "--overwrite"])
    assert code == 2 and "marker" in stderr and (project / "config.json").is_file()

"""training.step: NaN/Inf without a host sync per step (an update is skipped on the device, the
queue of losses checked at the next record), and what a run and the CLI do when it goes non-finite."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from cli_helpers import QUIET, TINY_FLAGS as TINY, assert_state_dicts_equal, load_checkpoint_file as load, run_cli
from conftest import make_tiny_config, read_metrics_file
from gan_mixup.cli import EXIT_NONFINITE
from gan_mixup.rundir import LOCK_FILE
from gan_mixup.training.outcomes import NonFiniteError
from gan_mixup.training.state import RunState, build_state
from gan_mixup.training.step import check_nonfinite, train_step
from gan_mixup.training.loop import train

from gan_mixup.training import loop as training_loop, schedule as training_schedule, state as training_state, step as training_step  # noqa: E402

# The tiny config as CLI flags (make_tiny_config's fields; its checkpoint_every 1000 is the toy default).


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
    original_state, original_objective = training_loop.build_state, training_state.build_objective

    def build_state_(config, *world):
        states.append(original_state(config, *world))
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

    monkeypatch.setattr(training_loop, "build_state", build_state_)
    monkeypatch.setattr(training_state, "build_objective", build_objective_)
    return seen


def events(run: Path) -> list[dict[str, Any]]:
    return [r for r in read_metrics_file(run) if r["kind"] == "event"]


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
    assert state.nonfinite_parameters() == []


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
    assert state.nonfinite_parameters() == [], "a skipped update leaves the weights finite"


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
    monkeypatch.setattr(training_schedule, "MAX_PENDING_CHECKS", 4)
    poison_loss_calls(monkeypatch, "discriminator", {3, 5})  # iterations 2 and 3
    seen_at: list[tuple[int, int]] = []
    states: list[Any] = []
    build = training_loop.build_state
    monkeypatch.setattr(training_loop, "build_state", lambda config, *world: states.append(build(config, *world)) or states[-1])

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
    monkeypatch.setattr(RunState, "nonfinite_parameters", lambda state: ["discriminator.0.weight"])


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


@pytest.mark.parametrize("g_step_batchnorm,g_step_batch,training_in_g_step", [("batch", 2 * 16, True), ("running", 16, False)])
def test_mixup_g_step_runs_a_batchnorm_d_on_real_and_fake_or_on_the_fakes_with_running_statistics(
        g_step_batchnorm, g_step_batch, training_in_g_step):
    state = build_state(make_tiny_config(dataset="digits", objective="mixup", hidden=8, batch_size=16, d_steps=1,
                                         g_step_batchnorm=g_step_batchnorm))
    D = state.discriminator
    norms = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
    seen: list[tuple[int, bool, bool]] = []  # (batch, BatchNorm in training mode, D's weights trainable)
    D.register_forward_pre_hook(lambda module, args: seen.append(
        (len(args[0]), all(m.training for m in norms), next(module.parameters()).requires_grad)))
    statistics: list[torch.Tensor] = []
    original_d_step = training_step._d_step

    def d_step_then_keep_statistics(*args: Any) -> torch.Tensor:
        loss = original_d_step(*args)
        statistics.append(torch.cat([torch.cat([m.running_mean, m.running_var]) for m in norms]).clone())
        return loss

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training_step, "_d_step", d_step_then_keep_statistics)
        train_step(state)
    d_step, g_step = seen
    assert d_step == (16, True, True)  # the mixed batch
    assert g_step == (g_step_batch, training_in_g_step, False)
    assert all(m.training for m in norms)  # the modes are restored
    after = torch.cat([torch.cat([m.running_mean, m.running_var]) for m in norms])
    # the running statistics move in the G step only when it normalises by its own batch
    assert torch.equal(after, statistics[0]) is (g_step_batchnorm == "running")


def test_g_step_batchnorm_is_an_image_flag_refused_on_toy_data(tmp_path):
    from gan_mixup.config import ConfigError, RunConfig

    assert RunConfig(dataset="digits", g_step_batchnorm="running").g_step_batchnorm == "running"
    with pytest.raises(ConfigError, match="g_step_batchnorm"):
        RunConfig(dataset="ring8", g_step_batchnorm="running")
    with pytest.raises(ConfigError, match="running"):
        RunConfig(dataset="digits", g_step_batchnorm="eval")
    code, _, err = run_cli(["images", "--dataset", "digits", "--g-step-batchnorm", "sometimes", "--out", tmp_path / "r"])
    assert code != 0 and "sometimes" in err and not (tmp_path / "r").exists()

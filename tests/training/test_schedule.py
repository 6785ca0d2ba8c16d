"""training.schedule: what an iteration records and its one decision (checkpoints by count and by
clock, stops, signals), the same on every rank."""
from __future__ import annotations


import pytest

from cli_helpers import load_checkpoint_file as load
from conftest import make_tiny_config
from gan_mixup.rundir import load_checkpoint
from gan_mixup.training.loop import train


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


# ----- the schedule itself ------------------------------------------------------------------------

def test_records_follow_the_iteration_number():
    from gan_mixup.training.schedule import MAX_PENDING_CHECKS, Schedule

    config = make_tiny_config(iterations=20, log_every=5, snapshot_frames=0)
    schedule = Schedule(config)
    assert [it for it in range(1, 21) if schedule.records(it).log] == [5, 10, 15, 20]
    assert schedule.records(5).check and not schedule.records(6).check
    assert schedule.records(6, pending_checks=MAX_PENDING_CHECKS).check, "a full queue of losses is checked"
    assert schedule.records(10).snapshot and schedule.records(10).metrics, "the paper's iteration 10 is a snapshot"


def test_one_decision_checkpoints_and_stops():
    from gan_mixup.training.schedule import Schedule

    schedule = Schedule(make_tiny_config(iterations=20, checkpoint_every=8, checkpoint_seconds=0))
    assert schedule.decide(8, None, False).checkpoint and schedule.decide(20, None, False).checkpoint
    plain = schedule.decide(9, None, False)
    assert not (plain.checkpoint or plain.stop) and plain.signal_name is None
    stop = schedule.decide(9, None, True)
    assert stop.stop and stop.checkpoint, "a callback's stop checkpoints first"
    signalled = schedule.decide(9, "SIGTERM", False)
    assert signalled.signal_name == "SIGTERM" and signalled.checkpoint and not signalled.stop


def test_a_callbacks_stop_ends_the_run_at_that_iteration_with_a_checkpoint(tmp_path):
    from gan_mixup.training import StopTraining

    def stop_at_snapshot_ten(record):
        if record["kind"] == "snapshot" and record["iteration"] == 10:
            raise StopTraining

    result = train(make_tiny_config(iterations=50, checkpoint_every=1000), tmp_path / "run", callbacks=[stop_at_snapshot_ten])
    assert result.stopped_early and result.iteration == 10
    assert load(tmp_path / "run" / "checkpoint.pt")["iteration"] == 10

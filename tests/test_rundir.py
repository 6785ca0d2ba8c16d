"""snapshots: the schedule, the on-disk snapshot format, atomic checkpoints and their fallbacks."""
from __future__ import annotations

import builtins

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_mixup.config import PAPER_ITERATIONS
from gan_mixup.rundir import (
    CHECKPOINT_FILE,
    PREVIOUS_CHECKPOINT_FILE,
    CheckpointError,
    Reference,
    Snapshot,
    list_snapshots,
    load_checkpoint,
    read_reference,
    read_snapshot,
    read_snapshots,
    save_checkpoint,
    snapshot_path,
    snapshot_schedule,
    write_reference,
    write_snapshot,
)

# ----- the schedule -----------------------------------------------------------------------------


def test_full_run_schedule_has_the_paper_iterations_and_about_frames_entries():
    schedule = snapshot_schedule(20000, frames=200)
    for it in PAPER_ITERATIONS:
        assert it in schedule
    assert schedule[0] == 1 and schedule[-1] == 20000
    assert schedule == sorted(set(schedule))
    # Log spacing rounds several early points onto the same integer, so a few fewer than 200.
    assert 150 <= len(schedule) <= 205
    # Dense at the start, sparse at the end: log-spaced.
    assert schedule[:10] == list(range(1, 11))
    assert schedule[-2] > 18000


def test_schedule_without_frames_is_the_paper_iterations_and_the_end():
    assert snapshot_schedule(20000, frames=0) == [10, 100, 1000, 10000, 20000]
    assert snapshot_schedule(500, frames=0) == [10, 100, 500]
    assert snapshot_schedule(5, frames=0) == [5]


def test_schedule_docstring_example():
    assert snapshot_schedule(1000, frames=5) == [1, 6, 10, 32, 100, 178, 1000]


def test_schedule_includes_extra_iterations():
    assert {7, 333}.issubset(snapshot_schedule(1000, frames=5, extra=[333, 7]))


@pytest.mark.parametrize("extra", [[0], [1001], [-3], [5, 2000]])
def test_schedule_refuses_extra_iterations_outside_the_run(extra):
    with pytest.raises(ValueError, match="outside the run"):
        snapshot_schedule(1000, frames=5, extra=extra)


def test_schedule_refuses_no_iterations():
    with pytest.raises(ValueError, match="iterations"):
        snapshot_schedule(0)


@settings(max_examples=80, deadline=None)
@given(iterations=st.integers(1, 30000), frames=st.integers(0, 300), data=st.data())
def test_schedule_properties(iterations, frames, data):
    extra = data.draw(st.lists(st.integers(1, iterations), max_size=5))
    schedule = snapshot_schedule(iterations, frames, extra)
    assert schedule == sorted(set(schedule))
    assert all(isinstance(it, int) for it in schedule)
    assert schedule[0] >= 1 and schedule[-1] == iterations
    assert set(extra) <= set(schedule)
    assert {it for it in PAPER_ITERATIONS if it <= iterations} <= set(schedule)
    if frames >= 2:
        assert 1 in schedule
    # About `frames` entries: never more than frames + the paper's + extra + the end, and the
    # log-spaced points collide only where consecutive integers run out (at most about half of them).
    assert len(schedule) <= frames + len(PAPER_ITERATIONS) + len(extra) + 1
    assert len(schedule) >= 0.45 * min(iterations, frames)  # worst case ~0.48, at frames ≈ iterations


# ----- snapshot files ---------------------------------------------------------------------------

def test_reference_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    ref = Reference(real=rng.normal(size=(50, 2)).astype(np.float32), modes=np.eye(2, dtype=np.float32),
                    extent=1.5, grid_axis=np.linspace(-1.5, 1.5, 16, dtype=np.float32), std=0.01)
    write_reference(tmp_path, ref)
    back = read_reference(tmp_path)
    np.testing.assert_array_equal(back.real, ref.real)
    np.testing.assert_array_equal(back.modes, ref.modes)
    np.testing.assert_array_equal(back.grid_axis, ref.grid_axis)
    assert back.extent == 1.5 and back.std == 0.01
    assert back.real.dtype == np.float32


def test_reference_without_std_round_trips_as_none(tmp_path):
    ref = Reference(real=np.zeros((3, 2), np.float32), modes=np.zeros((0, 2), np.float32), extent=1.75,
                    grid_axis=np.zeros(4, np.float32), std=None)
    write_reference(tmp_path, ref)
    back = read_reference(tmp_path)
    assert back.std is None and back.modes.shape == (0, 2)


def test_read_reference_of_a_non_run_directory_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a gan-mixup run directory"):
        read_reference(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a gan-mixup run directory"):
        list_snapshots(tmp_path)


def test_snapshot_round_trip_and_ordering(tmp_path):
    rng = np.random.default_rng(1)
    written = {}
    for it in (100, 0, 20000, 7):
        snap = Snapshot(it, rng.normal(size=(20, 2)).astype(np.float32), rng.random((8, 8)).astype(np.float32))
        write_snapshot(tmp_path, snap)
        written[it] = snap
    (tmp_path / "snapshots" / "notes.txt").write_text("ignored")
    (tmp_path / "snapshots" / "it_00000050.npz.tmp").write_bytes(b"half-written")
    paths = list_snapshots(tmp_path)
    assert [p.name for p in paths] == ["it_00000000.npz", "it_00000007.npz", "it_00000100.npz", "it_00020000.npz"]
    assert snapshot_path(tmp_path, 7) == paths[1]
    for snap in read_snapshots(tmp_path):
        np.testing.assert_array_equal(snap.fake, written[snap.iteration].fake)
        np.testing.assert_array_equal(snap.d_grid, written[snap.iteration].d_grid)
    assert read_snapshot(paths[2]).iteration == 100


# ----- checkpoints ------------------------------------------------------------------------------

def _state(step: int) -> dict:
    torch.manual_seed(step)
    return {"iteration": step, "weights": torch.randn(4, 3), "rng": torch.Generator().manual_seed(step).get_state(),
            "config": {"hidden": 16, "betas": [0.9, 0.999]}}


def _assert_state(loaded: dict, step: int) -> None:
    expected = _state(step)
    assert loaded["iteration"] == step
    torch.testing.assert_close(loaded["weights"], expected["weights"], rtol=0, atol=0)
    assert torch.equal(loaded["rng"], expected["rng"])
    assert loaded["config"] == expected["config"]


def test_checkpoint_round_trip_and_previous_kept(tmp_path):
    seconds = save_checkpoint(tmp_path, _state(1))
    assert seconds >= 0
    assert not (tmp_path / PREVIOUS_CHECKPOINT_FILE).exists()
    save_checkpoint(tmp_path, _state(2))
    state, warnings = load_checkpoint(tmp_path)
    _assert_state(state, 2)
    assert warnings == []
    previous = torch.load(tmp_path / PREVIOUS_CHECKPOINT_FILE, weights_only=True)
    _assert_state(previous, 1)
    assert not (tmp_path / (CHECKPOINT_FILE + ".tmp")).exists()


def test_a_leftover_temp_file_does_not_matter(tmp_path):
    save_checkpoint(tmp_path, _state(1))
    (tmp_path / (CHECKPOINT_FILE + ".tmp")).write_bytes(b"a crash left half a checkpoint here")
    state, warnings = load_checkpoint(tmp_path)
    _assert_state(state, 1)
    assert warnings == []
    save_checkpoint(tmp_path, _state(2))
    state, _ = load_checkpoint(tmp_path)
    _assert_state(state, 2)
    assert not (tmp_path / (CHECKPOINT_FILE + ".tmp")).exists()


def test_truncated_checkpoint_falls_back_to_the_previous_one_with_a_warning(tmp_path):
    save_checkpoint(tmp_path, _state(1))
    save_checkpoint(tmp_path, _state(2))
    latest = tmp_path / CHECKPOINT_FILE
    data = latest.read_bytes()
    latest.write_bytes(data[: len(data) // 2])
    state, warnings = load_checkpoint(tmp_path)
    _assert_state(state, 1)
    assert any("unreadable" in w and CHECKPOINT_FILE in w for w in warnings)
    assert any("previous" in w for w in warnings)


def test_missing_latest_checkpoint_uses_the_previous_one(tmp_path):
    save_checkpoint(tmp_path, _state(1))
    save_checkpoint(tmp_path, _state(2))
    (tmp_path / CHECKPOINT_FILE).unlink()
    state, warnings = load_checkpoint(tmp_path)
    _assert_state(state, 1)
    assert any("previous" in w for w in warnings)


def test_both_checkpoints_corrupt_is_a_checkpoint_error(tmp_path):
    save_checkpoint(tmp_path, _state(1))
    save_checkpoint(tmp_path, _state(2))
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"\x00" * 40)
    prev = tmp_path / PREVIOUS_CHECKPOINT_FILE
    prev.write_bytes(prev.read_bytes()[:100])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path)
    assert CHECKPOINT_FILE in str(err.value) and PREVIOUS_CHECKPOINT_FILE in str(err.value)


def test_no_checkpoint_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint.pt"):
        load_checkpoint(tmp_path)


def test_a_checkpoint_of_another_version_or_shape_is_refused(tmp_path):
    torch.save({"iteration": 3}, tmp_path / CHECKPOINT_FILE)  # no version
    torch.save([1, 2, 3], tmp_path / PREVIOUS_CHECKPOINT_FILE)
    with pytest.raises(CheckpointError, match="not a gan-mixup checkpoint"):
        load_checkpoint(tmp_path)


class _Payload:
    """Unpickling this creates a file: what a malicious checkpoint could do with full pickle."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def test_a_checkpoint_holding_an_arbitrary_object_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"version": 1, "iteration": 5, "payload": _Payload(str(marker))}, tmp_path / CHECKPOINT_FILE)
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(tmp_path)
    assert not marker.exists()  # weights_only=True never ran the payload


def test_locking_a_dangling_symlink_names_the_missing_target(tmp_path):
    from gan_mixup.rundir import RunDirectoryError, locked

    (tmp_path / "link").symlink_to(tmp_path / "gone")
    with pytest.raises(RunDirectoryError, match="symbolic link to .*gone"):
        with locked(tmp_path / "link"):
            pass
    assert not (tmp_path / "gone").exists()

"""training.recorder: a sink. It writes what it is given and passes it to the callbacks; a
callback's StopTraining is noted for the loop's decision, never raised through the loop."""
from __future__ import annotations

import json

from conftest import make_tiny_config
from gan_mixup.training import StopTraining
from gan_mixup.training.recorder import Recorder
from gan_mixup.training.state import build_state


def test_a_callbacks_stop_is_noted_and_every_callback_still_gets_the_record():
    seen: list[int] = []

    def stop(record):
        raise StopTraining

    recorder = Recorder(None, [stop, lambda record: seen.append(record["iteration"])])
    recorder.emit({"kind": "train", "iteration": 4})
    assert recorder.stop_requested and seen == [4]


def test_without_a_directory_nothing_is_written_and_no_checkpoint_taken(tmp_path):
    recorder = Recorder(None)
    state = build_state(make_tiny_config())
    recorder.snapshot(state)
    assert not recorder.checkpoints
    recorder.checkpoint(state.checkpoint(None), state.iteration)
    assert recorder.checkpoint_iteration is None and recorder.checkpoint_seconds == []


def test_records_are_strict_json_and_checkpoints_keep_the_metrics_offset(tmp_path):
    (tmp_path / "run").mkdir()
    state = build_state(make_tiny_config())
    with Recorder(tmp_path / "run") as recorder:
        recorder.emit({"kind": "train", "iteration": 1, "d_loss": float("nan")})
        recorder.checkpoint(state.checkpoint(None), state.iteration)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["d_loss"] is None
    assert recorder.checkpoint_iteration == 0 and len(recorder.checkpoint_seconds) == 1


def test_a_state_with_nonfinite_weights_refuses_its_checkpoint():
    import pytest
    import torch

    from gan_mixup.training import NonFiniteError

    state = build_state(make_tiny_config())
    with torch.no_grad():
        next(state.discriminator.parameters())[0].fill_(float("nan"))
    with pytest.raises(NonFiniteError, match="discriminator.0.weight") as caught:
        state.checkpoint(7)
    assert caught.value.checkpoint_iteration == 7

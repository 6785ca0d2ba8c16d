"""training.batched: the lockstep trainer runs train()'s schedule and recorder, so its members'
callbacks have train()'s contract (the sweep's own lockstep tests are in tests/test_sweep.py)."""
from __future__ import annotations

import json

from conftest import make_tiny_config
from gan_mixup.training import StopTraining
from gan_mixup.training.batched import train_batched


def test_a_members_stop_ends_that_member_alone_with_a_checkpoint(tmp_path):
    import torch

    def stop_at_six(record):
        if record["kind"] == "train" and record["iteration"] == 6:
            raise StopTraining

    configs = [make_tiny_config(objective="mixup", seed=s, iterations=12) for s in (0, 1)]
    dirs = [tmp_path / "a", tmp_path / "b"]
    assert train_batched(configs, dirs, callbacks=[[stop_at_six], []]) == ["done", "done"]
    stopped = torch.load(dirs[0] / "checkpoint.pt", map_location="cpu", weights_only=True)
    finished = torch.load(dirs[1] / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert stopped["iteration"] == 6 and finished["iteration"] == 12
    logged = [json.loads(line)["iteration"] for line in (dirs[0] / "metrics.jsonl").read_text().splitlines()
              if json.loads(line)["kind"] == "train"]
    assert max(logged) == 6

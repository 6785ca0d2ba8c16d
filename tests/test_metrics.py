"""evaluate_run: a run's metrics from its directory alone, through its modality."""
from __future__ import annotations

import pytest

from conftest import make_tiny_config
from gan_mixup.training import train


def test_metrics_leave_out_a_damaged_snapshot_with_a_warning(tmp_path, capsys):
    from gan_mixup.metrics import evaluate_run
    from gan_mixup.rundir import list_snapshots

    train(make_tiny_config(iterations=12), tmp_path / "run")
    files = list_snapshots(tmp_path / "run")
    files[2].write_bytes(files[2].read_bytes()[:50])  # cut short, as a crash mid-write would leave it
    from gan_mixup.errors import GanMixupWarning

    with pytest.warns(GanMixupWarning, match="damaged"):
        rows = evaluate_run(tmp_path / "run")
    assert len(rows) == len(files) - 1

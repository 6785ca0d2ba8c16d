"""The golden runs (tests/golden/golden_runs.py) train byte-identically to the digests recorded
from the commit named in tests/golden/digests.json: every "train" record, every snapshot array and
every final weight. Recorded on one CPU kind, thread count and torch build; elsewhere the test skips
and says so (re-record with ``python tests/golden/golden_runs.py record`` from that commit)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
import golden_runs  # noqa: E402

RECORDED = json.loads(golden_runs.DIGESTS.read_text())


def _skip_reason() -> str | None:
    here, there = golden_runs.machine(), RECORDED["machine"]
    differs = [f"{key} {there.get(key)!r} there, {here[key]!r} here" for key in here if here[key] != there.get(key)]
    if differs:
        return ("golden runs were recorded on another machine (" + "; ".join(differs) + "): bit-exact results hold "
                f"only there; re-record from commit {RECORDED['commit'][:10]} with `python tests/golden/golden_runs.py record`")
    return None


@pytest.mark.parametrize("name", sorted(RECORDED["runs"]))
def test_golden_run_trains_byte_identically(name, tmp_path):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    expected = RECORDED["runs"][name]
    got = golden_runs.train_and_digest(name, tmp_path)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    changed = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    assert not (missing or extra or changed), (
        f"{name}: {len(changed)} items changed (first: {changed[:5]}), missing {missing[:5]}, new {extra[:5]}")


def test_every_golden_run_is_recorded():
    assert sorted(RECORDED["runs"]) == sorted(golden_runs.golden_trainers())

"""The golden runs (tests/golden/golden_runs.py) train byte-identically to the digests recorded for
this machine's kind (CPU, vector extensions, threads, torch) in tests/golden/digests.json: every
"train" record, every snapshot array and every final weight. The file keeps one set per kind; on a
kind it does not know the test skips, naming the kinds it knows and how to record this one."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
import golden_runs  # noqa: E402

HERE = golden_runs.recorded_here()


def _skip_reason() -> str:
    known = "; ".join(f"{golden_runs.describe(kind['machine'])} from {kind['commit'][:10]}"
                      for kind in golden_runs.recorded_kinds()) or "none"
    return (f"no golden digests for this machine kind, {golden_runs.describe(golden_runs.machine())}; known: {known}. "
            "Bit-exact results hold only per kind: on a landed commit (where the known kinds pass) run "
            "`python tests/golden/golden_runs.py record`, which adds this kind's digests beside the others")


@pytest.mark.parametrize("name", sorted(golden_runs.golden_trainers()))
def test_golden_run_trains_byte_identically(name, tmp_path):
    if HERE is None:
        pytest.skip(_skip_reason())
    expected = HERE["runs"][name]
    got = golden_runs.train_and_digest(name, tmp_path)
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    changed = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    assert not (missing or extra or changed), (
        f"{name}: {len(changed)} items changed (first: {changed[:5]}), missing {missing[:5]}, new {extra[:5]}")


@pytest.mark.parametrize("kind", golden_runs.recorded_kinds(), ids=lambda kind: golden_runs.describe(kind["machine"]))
def test_every_golden_run_is_recorded_for_every_kind(kind):
    assert sorted(kind["runs"]) == sorted(golden_runs.golden_trainers())
    assert set(kind["machine"]) == set(golden_runs.machine())


def test_an_unknown_kind_skips_naming_the_known_kinds():
    reason = _skip_reason()
    for kind in golden_runs.recorded_kinds():
        assert kind["machine"]["cpu"] in reason and kind["commit"][:10] in reason
    assert golden_runs.machine()["cpu"] in reason
    assert "golden_runs.py record" in reason


def test_recording_adds_this_kind_beside_the_others(tmp_path, monkeypatch):
    other = {"machine": {**golden_runs.machine(), "cpu": "Some Other CPU"}, "commit": "f" * 40, "runs": {"x": {}}}
    digests = tmp_path / "digests.json"
    digests.write_text(golden_runs.json.dumps({"kinds": [other]}))
    monkeypatch.setattr(golden_runs, "DIGESTS", digests)
    monkeypatch.setattr(golden_runs, "train_and_digest", lambda name, out: {"item": name})
    golden_runs.record(tmp_path)
    assert golden_runs.recorded_kinds()[0] == other or golden_runs.recorded_kinds()[1] == other
    here = golden_runs.recorded_here()
    assert here["runs"] == {name: {"item": name} for name in golden_runs.golden_trainers()}
    golden_runs.record(tmp_path)  # recording again replaces this kind's set, not adds a second
    assert len(golden_runs.recorded_kinds()) == 2

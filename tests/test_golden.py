"""The golden runs (tests/golden/golden_runs.py) train byte-identically to the digests recorded for
this machine (CPU, vector extensions, threads, torch) in tests/golden/digests.json: every "train"
record, every snapshot array and every final weight. The file keeps one set per machine; on a
machine it does not know the test skips, naming the machines it knows and how to record this one."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
import golden_runs  # noqa: E402

HERE = golden_runs.recorded_here()


def _skip_reason() -> str:
    known = "; ".join(f"{golden_runs.describe(machine_set['machine'])} from {machine_set['commit'][:10]}"
                      for machine_set in golden_runs.machine_sets()) or "none"
    return (f"no golden digests for this machine, {golden_runs.describe(golden_runs.machine())}; known: {known}. "
            "Bit-exact results hold only per machine: on a landed commit (where the known machines pass) run "
            "`python tests/golden/golden_runs.py record`, which adds this machine's digests beside the others")


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


@pytest.mark.parametrize("machine_set", golden_runs.machine_sets(), ids=lambda s: golden_runs.describe(s["machine"]))
def test_every_golden_run_is_recorded_for_every_machine(machine_set):
    assert sorted(machine_set["runs"]) == sorted(golden_runs.golden_trainers())
    assert set(machine_set["machine"]) == set(golden_runs.machine())


def test_an_unknown_machine_skips_naming_the_known_machines():
    reason = _skip_reason()
    for machine_set in golden_runs.machine_sets():
        assert machine_set["machine"]["cpu"] in reason and machine_set["commit"][:10] in reason
    assert golden_runs.machine()["cpu"] in reason
    assert "golden_runs.py record" in reason


def test_recording_adds_this_machine_beside_the_others(tmp_path, monkeypatch):
    other = {"machine": {**golden_runs.machine(), "cpu": "Some Other CPU"}, "commit": "f" * 40, "runs": {"x": {}}}
    digests = tmp_path / "digests.json"
    digests.write_text(golden_runs.json.dumps({"kinds": [other]}))  # as earlier commits wrote it
    monkeypatch.setattr(golden_runs, "DIGESTS", digests)
    monkeypatch.setattr(golden_runs, "train_and_digest", lambda name, out: {"item": name})
    golden_runs.record(tmp_path)
    assert other in golden_runs.machine_sets()
    assert list(golden_runs.json.loads(digests.read_text())) == ["machine_sets"]
    here = golden_runs.recorded_here()
    assert here["runs"] == {name: {"item": name} for name in golden_runs.golden_trainers()}
    golden_runs.record(tmp_path)  # recording again replaces this machine's set, not adds a second
    assert len(golden_runs.machine_sets()) == 2

"""collection.py: a collection's manifest (runs.json) and marker name its directory type, and a
manifest of an earlier version, which named it under "kind", still loads everywhere it is read."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gan_mixup.collection import collection_dir_type, prepare_collection, read_manifest
from gan_mixup.rundir import MANIFEST_FILE, MARKER_FILE, RunDirectoryError, marker_dir_type
from gan_mixup.sweeps import SweepError, read_sweep
from gan_mixup.view.collect import collect_runs

FIGURE5_LABELS = ["ring8/ERM GAN", "ring8/mixup GAN (α = 0.2)"]


def test_a_new_collection_names_its_type_under_dir_type_and_in_its_marker(tmp_path: Path) -> None:
    out = tmp_path / "fig"
    prepare_collection(out, FIGURE5_LABELS, overwrite=False, resume=False, dir_type="figure5")
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest == {"dir_type": "figure5", "runs": {"ring8/ERM GAN": "ring8-erm", "ring8/mixup GAN (α = 0.2)": "ring8-mixup"}}
    assert json.loads((out / MARKER_FILE).read_text()) == {"gan_mixup": "figure5"}
    assert marker_dir_type(out) == collection_dir_type(out) == "figure5"


def _earlier(out: Path, dir_type: str, runs: dict[str, str], **more: object) -> Path:
    """A collection as an earlier version wrote it: the type under "kind"."""
    out.mkdir()
    (out / MARKER_FILE).write_text(json.dumps({"gan_mixup": dir_type}) + "\n")
    (out / MANIFEST_FILE).write_text(json.dumps({"kind": dir_type, "runs": runs, **more}))
    return out


def test_an_earlier_manifest_resumes_as_its_type_and_is_rewritten_under_the_new_key(tmp_path: Path) -> None:
    out = _earlier(tmp_path / "fig", "figure5", {"ring8/ERM GAN": "ring8-erm"})
    assert collection_dir_type(out) == "figure5"
    with pytest.raises(RunDirectoryError, match="cannot resume .* as a compare directory: it holds a figure5 collection"):
        prepare_collection(out, ["erm"], overwrite=False, resume=True, dir_type="compare")
    prepare_collection(out, FIGURE5_LABELS, overwrite=False, resume=True, dir_type="figure5")
    manifest = read_manifest(out)
    assert "kind" not in manifest and manifest["dir_type"] == "figure5"
    assert sorted(manifest["runs"]) == sorted(FIGURE5_LABELS)


def test_an_earlier_sweep_manifest_reads_as_a_sweep(tmp_path: Path) -> None:
    members = {"ring8-erm-seed0": {"dataset": "ring8", "setting": "erm", "seed": 0, "iterations": 10}}
    out = _earlier(tmp_path / "sweep", "sweep", {"ring8-erm-seed0": "ring8-erm-seed0"}, members=members)
    assert read_sweep(out) == members
    assert collect_runs([out]).dir_type == "sweep"
    compare = _earlier(tmp_path / "cmp", "compare", {"erm": "erm"})
    with pytest.raises(SweepError, match="is a compare directory, not a sweep"):
        read_sweep(compare)
    assert collect_runs([compare]).dir_type == "compare"

"""compare and figure5 as collections: resume finishes what is missing, --overwrite replaces the
old members, a figure5 resume refuses a compare directory."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from cli_helpers import TINY_FLAGS as TINY, assert_state_dicts_equal, load_checkpoint_file as load, one_error_line
from cli_helpers import run_cli
from gan_mixup.cli import EXIT_INTERRUPTED
from gan_mixup.config import RunConfig
from gan_mixup.rundir import (
    LOCK_FILE,
)
from gan_mixup.training.loop import train

experiments_module = importlib.import_module("gan_mixup.experiments")


# ----- helpers -------------------------------------------------------------------------------------

def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes (to prove a refused command touched nothing)."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(Path(path).rglob("*")) if p.is_file()}


# ----- 9. compare and figure5 -----------------------------------------------------------------------

@pytest.fixture
def no_collection_render(monkeypatch):
    """Rendering a collection takes seconds and is not what these tests are about."""
    monkeypatch.setattr(experiments_module, "render_run", lambda run_dir, **kw: {})
    monkeypatch.setattr(experiments_module, "render_comparison", lambda runs, out_dir, **kw: {})


def test_compare_resume_finishes_a_member_without_checkpoint_and_one_never_started(
        tmp_path, monkeypatch, no_collection_render):
    out = tmp_path / "cmp"
    flags = [*TINY, "--checkpoint-seconds", "0", "--no-progress"]
    real_train = experiments_module.train

    def ctrl_c_at_first_record(config, run_dir, **kwargs):
        def stop(record):
            if record["kind"] == "train":
                raise KeyboardInterrupt
        return real_train(config, run_dir, callbacks=[stop, *kwargs.pop("callbacks", ())], **kwargs)

    monkeypatch.setattr(experiments_module, "train", ctrl_c_at_first_record)
    code, _, stderr = run_cli(["compare", "--out", out, *flags])
    assert code == EXIT_INTERRUPTED, stderr
    assert (out / "erm" / "config.json").is_file() and not (out / "erm" / "checkpoint.pt").exists()
    assert not (out / "mixup").exists()

    monkeypatch.setattr(experiments_module, "train", real_train)
    code, _, stderr = run_cli(["compare", "--out", out, "--resume", *flags])
    assert code == 0, stderr
    for member in ("erm", "mixup"):
        assert load(out / member / "checkpoint.pt")["iteration"] == 12, member
        assert not (out / member / LOCK_FILE).exists()
    assert json.loads((out / "runs.json").read_text())["runs"] == {"erm": "erm", "mixup": "mixup"}
    # erm started again from 0: exactly the run that was never interrupted.
    reference = train(RunConfig.load(out / "erm" / "config.json"), None)
    assert_state_dicts_equal(load(out / "erm" / "checkpoint.pt")["generator"], reference.generator.state_dict())


def test_compare_overwrite_removes_the_old_members(tmp_path, no_collection_render):
    out = tmp_path / "cmp"
    code, _, stderr = run_cli(["compare", "--out", out, *TINY, "--no-progress"])
    assert code == 0, stderr
    assert (out / "erm" / "checkpoint.pt").is_file() and (out / "mixup" / "checkpoint.pt").is_file()
    (out / "notes.txt").write_text("mine\n")
    code, _, stderr = run_cli(["compare", "--out", out, "--objectives", "hinge", "--overwrite", *TINY, "--no-progress"])
    assert code == 0, stderr
    assert not (out / "erm").exists() and not (out / "mixup").exists()
    assert load(out / "hinge" / "checkpoint.pt")["iteration"] == 12
    assert json.loads((out / "runs.json").read_text())["runs"] == {"hinge": "hinge"}
    assert (out / "notes.txt").read_text() == "mine\n"


def test_figure5_resume_into_a_compare_directory_is_refused_untouched(tmp_path, no_collection_render):
    out = tmp_path / "cmp"
    code, _, stderr = run_cli(["compare", "--out", out, *TINY, "--no-progress"])
    assert code == 0, stderr
    before = tree(out)
    code, _, stderr = run_cli(["figure5", "--out", out, "--resume", "--iterations", "12", "--hidden", "16", "--no-progress"])
    one_error_line(code, stderr, "compare")
    assert tree(out) == before

"""``--fid-weights`` is checked at start-up: a file torch-fidelity cannot load, or an empty path, is one
``gan-mixup: error:`` line before any run folder is written."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cli_helpers import one_error_line, subprocess_env

RUN = ["--dataset", "digits", "--image-size", "16", "--hidden", "8", "--latent-dim", "8", "--batch-size", "16",
       "--iterations", "4", "--snapshot-frames", "2", "--fixed-samples", "16", "--metric-samples", "32",
       "--metric-frames", "2", "--no-progress"]


@pytest.fixture
def fidelity(tmp_path) -> Path:
    """A stand-in torch-fidelity package (the real one is an optional extra) whose extractor loads its
    weights file as the real one does, with ``torch.load``, and then ``load_state_dict``."""
    package = tmp_path / "site" / "torch_fidelity"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "feature_extractor_inceptionv3.py").write_text(textwrap.dedent("""
        import torch

        class FeatureExtractorInceptionV3(torch.nn.Module):
            def __init__(self, name, features_list, feature_extractor_weights_path=None):
                super().__init__()
                self.conv = torch.nn.Conv2d(3, 2, 1)
                self.load_state_dict(torch.load(feature_extractor_weights_path, weights_only=True))

            def forward(self, x):
                return (self.conv(x.float()).mean(dim=(2, 3)),)
    """))
    return tmp_path / "site"


def gan_mixup(args: list, site: Path) -> subprocess.CompletedProcess:
    env = subprocess_env()
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    return subprocess.run([sys.executable, "-m", "gan_mixup.cli", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("content", [b"garbage, not a torch file", "wrong-network"])
def test_fid_weights_torch_fidelity_cannot_load_are_refused_before_the_run_folder(tmp_path, fidelity, content):
    weights = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    if content == "wrong-network":
        import torch

        torch.save({"fc.weight": torch.zeros(2, 2)}, weights)
    else:
        weights.write_bytes(content)
    done = gan_mixup(["images", *RUN, "--no-render", "--out", tmp_path / "run", "--fid-weights", weights], fidelity)
    line = one_error_line(done.returncode, done.stderr, "InceptionV3 weights", str(weights))
    assert "weights-inception-2015-12-05-6726825d.pth" in line
    assert not (tmp_path / "run").exists()


def test_a_sweep_with_unloadable_fid_weights_is_refused_before_any_member(tmp_path, fidelity):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"garbage")
    done = gan_mixup(["sweep", *RUN, "--objectives", "erm,mixup", "--seeds", "0", "--workers", "1",
                      "--out", tmp_path / "sweep", "--fid-weights", weights], fidelity)
    one_error_line(done.returncode, done.stderr, "InceptionV3 weights")
    assert not (tmp_path / "sweep").exists()


def test_loadable_fid_weights_pass_the_start_up_check(tmp_path, fidelity):
    import torch

    weights = tmp_path / "w.pth"
    torch.save({f"conv.{k}": v for k, v in torch.nn.Conv2d(3, 2, 1).state_dict().items()}, weights)
    done = gan_mixup(["images", *RUN, "--no-render", "--iterations", "1", "--metric-frames", "1", "--out", tmp_path / "run",
                      "--fid-weights", weights], fidelity)
    assert done.returncode == 0, done.stderr
    assert '"fid"' in (tmp_path / "run" / "metrics.jsonl").read_text()


@pytest.mark.parametrize("command", ["images", "sweep"])
def test_an_empty_fid_weights_path_is_refused_not_ignored(tmp_path, fidelity, command):
    extra = ["--objectives", "erm", "--seeds", "0"] if command == "sweep" else []
    extra = [*extra, "--no-render"] if command == "images" else extra
    done = gan_mixup([command, *RUN, *extra, "--out", tmp_path / "run", "--fid-weights", ""], fidelity)
    one_error_line(done.returncode, done.stderr, "fid_weights", "empty")
    assert not (tmp_path / "run").exists()

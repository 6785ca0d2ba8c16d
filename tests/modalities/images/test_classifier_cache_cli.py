"""The classifier cache as the command line meets it: a cache that cannot be written or read is
one ``gan-mixup: warning:`` line, and training goes on."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import subprocess_env

# Small enough that the run's own files (its checkpoint ~70 KB) stay under the limit below.
SMALL = ["--image-size", "16", "--hidden", "4", "--latent-dim", "8", "--fixed-samples", "16", "--batch-size", "16",
         "--metric-samples", "64", "--metric-frames", "2", "--snapshot-frames", "3", "--no-progress"]
IMAGES = ["images", "--dataset", "digits", "--iterations", "10", *SMALL, "--no-render"]
LIMIT = 120 * 1024  # bytes, as `ulimit -f 120`: the run's files fit, no classifier (170 KB and up) does


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def gan_mixup(args: list[str], cache: Path, *, limit: bool = False) -> subprocess.CompletedProcess:
    env = {**subprocess_env(), "GAN_MIXUP_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "gan_mixup.cli", *args], env=env, capture_output=True, text=True,
                          timeout=300, preexec_fn=_limit_file_size if limit else None)


def warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning" in line.lower()]


def test_a_file_size_limit_on_the_classifier_cache_warns_in_one_line_and_trains_on(tmp_path):
    done = gan_mixup([*IMAGES, "--out", tmp_path / "run"], tmp_path / "cache", limit=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = warning_lines(done.stderr)
    assert len(lines) == 1 and lines[0].startswith("gan-mixup: warning: could not cache the classifier"), done.stderr
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert max(r["iteration"] for r in records) == 10
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # no half-written file left behind


def test_a_corrupt_classifier_cache_is_one_warning_line(tmp_path):
    first = gan_mixup([*IMAGES, "--out", tmp_path / "a"], tmp_path / "cache")
    assert first.returncode == 0 and warning_lines(first.stderr) == [], first.stderr
    (cached,) = (tmp_path / "cache").iterdir()
    cached.write_bytes(b"not a torch file")
    again = gan_mixup([*IMAGES, "--out", tmp_path / "b"], tmp_path / "cache")
    assert again.returncode == 0, again.stderr
    lines = warning_lines(again.stderr)
    assert len(lines) == 1 and lines[0].startswith("gan-mixup: warning: the cached classifier"), again.stderr
    assert "unreadable" in lines[0] and "UserWarning" not in again.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_every_member_of_an_mnist_sweep_trains_past_an_uncachable_classifier(tmp_path, workers):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_image_metrics import digits_mnist

    digits_mnist(tmp_path / "data")
    args = ["sweep", "--dataset", "mnist", "--data-root", tmp_path / "data", "--iterations", "6", *SMALL,
            "--objectives", "erm,mixup", "--seeds", "0", "--workers", workers, "--out", tmp_path / "sweep"]
    done = gan_mixup([str(a) for a in args], tmp_path / "cache", limit=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "RuntimeError" not in done.stderr
    members = sorted(p for p in (tmp_path / "sweep").iterdir() if (p / "metrics.jsonl").is_file())
    assert len(members) == 2
    for member in members:
        last = json.loads((member / "metrics.jsonl").read_text().splitlines()[-1])
        assert last["iteration"] == 6, member

"""A config file written for one modality is refused for another's dataset, both ways, in the library
and as one CLI line, before anything is written."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cli_helpers import one_error_line, subprocess_env
from gan_mixup import RunConfig
from gan_mixup.config import ConfigError, resolve


def config_file(tmp_path, dataset: str):
    path = tmp_path / f"{dataset}.json"
    path.write_text(RunConfig(dataset=dataset, hidden=8, iterations=2).to_json())
    return path


@pytest.mark.parametrize("written, trained", [("ring8", "digits"), ("grid25", "stacked-digits"), ("digits", "ring8")])
def test_resolve_refuses_a_config_file_of_another_modality(tmp_path, written, trained):
    with pytest.raises(ConfigError) as info:
        resolve(file=config_file(tmp_path, written), flags={"dataset": trained})
    message = str(info.value)
    assert "\n" not in message and repr(written) in message and repr(trained) in message


def test_a_config_file_of_the_same_modality_or_of_none_still_applies(tmp_path):
    assert resolve(file=config_file(tmp_path, "ring8"), flags={"dataset": "grid25"}).hidden == 8
    assert resolve(file=config_file(tmp_path, "digits"), flags={"dataset": "stacked-digits"}).hidden == 8
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"hidden": 8}))  # no dataset: the user's own choice for any
    assert resolve(file=plain, flags={"dataset": "digits"}).hidden == 8


def gan_mixup(args: list) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan_mixup.cli", *map(str, args)], env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", ["images", "sweep", "compare"])
def test_the_cli_refuses_a_toy_runs_config_for_digits_in_one_line(tmp_path, command):
    toy = gan_mixup(["toy", "--iterations", "2", "--hidden", "8", "--no-render", "--no-progress", "--out", tmp_path / "t"])
    assert toy.returncode == 0, toy.stderr
    extra = ["--no-render"] if command == "images" else []
    done = gan_mixup([command, "--config", tmp_path / "t" / "config.json", "--dataset", "digits", "--iterations", "2",
                      "--no-progress", *extra, "--out", tmp_path / "out"])
    one_error_line(done.returncode, done.stderr, "config.json", "ring8", "digits")
    assert not (tmp_path / "out").exists()

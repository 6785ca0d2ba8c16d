"""The run flags rendered from RunConfig's field declarations, and the config and run directory a
command line names, used without the CLI (``gan_mixup.config_flags``); the stop hints beside them."""
from __future__ import annotations

import argparse
from pathlib import Path
from types import SimpleNamespace

import pytest

from gan_mixup.config import SPECS, ConfigError
from gan_mixup.config_flags import (CommandLineError, build_run_flags, config_and_run_dir, config_from_args, flag_help,
                                    run_dir_of)
from gan_mixup.objectives import OBJECTIVES, objective_summaries
from gan_mixup.regularizers import REGULARIZERS, regularizer_summaries
from gan_mixup.resume_hints import interrupted_hint, nonfinite_hint


def parse(*argv: str, command: str = "toy") -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    build_run_flags(parser)
    args = parser.parse_args(list(argv))
    args.command, args.out, args.resume, args.overwrite = command, None, None, False
    return args


def test_any_parser_gets_the_run_flags_and_reads_them_back_into_a_config():
    args = parse("--alpha", "0.5", "--hidden", "64", "--regularizer", "r1:10")
    assert {name for name in SPECS if name in args} == {"alpha", "hidden", "regularizers"}  # only what was typed
    config = config_from_args(args)
    assert (config.alpha, config.hidden, config.regularizers) == (0.5, 64, ("r1:10",))
    assert config_from_args(parse(command="images")).dataset == "digits"  # the command's own dataset
    assert flag_help("iterations") == "generator iterations (toy 20000, images 2000; at most 1e+09)"


def test_a_run_directory_defaults_from_the_config_and_bad_directories_are_refused(tmp_path):
    config, run_dir = config_and_run_dir(parse("--objective", "erm"))
    assert run_dir == Path("runs/ring8-erm") and config.objective == "erm"
    with pytest.raises(CommandLineError, match="digits is a dataset of the images modality: train it with `gan-mixup images --dataset digits`"):
        config_and_run_dir(parse("--dataset", "digits"))
    resumed = parse()
    resumed.resume = str(tmp_path / "missing")
    with pytest.raises(CommandLineError, match="it does not exist"):
        config_and_run_dir(resumed)
    both = SimpleNamespace(out="a", resume="b", overwrite=False)
    with pytest.raises(CommandLineError, match="give the directory once") as err:
        run_dir_of(both)  # type: ignore[arg-type]
    assert isinstance(err.value, ConfigError)
    assert run_dir_of(SimpleNamespace(out=None, resume=None, overwrite=False)) is None  # type: ignore[arg-type]


def test_the_registries_describe_themselves_and_the_stop_hints_say_what_is_kept():
    assert list(objective_summaries()) == list(OBJECTIVES) and list(regularizer_summaries()) == list(REGULARIZERS)
    assert objective_summaries()["erm"].startswith("The standard (ERM) GAN")
    assert all(regularizer_summaries().values())
    stopped = SimpleNamespace(checkpoint_iteration=40, on_nonfinite="stop")
    assert nonfinite_hint(stopped) == ("The checkpoint of iteration 40 and the snapshots up to it are kept; "
                                       "try a lower --lr, or --on-nonfinite skip.")
    assert interrupted_hint(["render", "runs/a b"]).endswith("gan-mixup render 'runs/a b'")
    assert interrupted_hint(["objectives"]) == ""


def test_an_option_without_a_value_is_named_as_such(tmp_path):
    """``target=`` is an option left empty, whatever the option's kind, not a word that failed as a number."""
    from cli_helpers import TINY_FLAGS, one_error_line, run_cli

    for flag, option in [("--objective-option", "target="), ("--dataset-option", "n-modes= ")]:
        code, _, err = run_cli(["toy", "--objective", "manifold-mixup", flag, option, *TINY_FLAGS, "--out", tmp_path / "r"])
        line = one_error_line(code, err, option.split("=")[0], "no value")
        assert "number" not in line
        assert not (tmp_path / "r").exists()

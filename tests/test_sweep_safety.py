"""A sweep under hostile use (issue 32): results never lost row by row, one setting per config
across resumes, a column per setting axis, no collapse verdict without modes, whole-number axes,
damaged manifests, empty lists and files in the way, each refused in one line."""
from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys

import pytest

from cli_helpers import subprocess_env
from conftest import make_tiny_config
from gan_mixup.experiments import compare
from gan_mixup.rundir import RESULTS_FILE, load_checkpoint
from gan_mixup.sweeps.scorecard import collect_results, robustness, robustness_markdown, summarise, write_scorecard
from gan_mixup.sweeps import SweepError, SweepMember, run_sweep, sweep_members
from gan_mixup.training import TrainingInterrupted, train


def members(seeds=(0,), objectives=("erm",), axes=None, **overrides):
    base = make_tiny_config(**overrides)
    return sweep_members({("ring8", ""): base}, objectives=list(objectives), alphas=[], seeds=list(seeds), axes=axes)


def rows_of(out):
    with open(out / RESULTS_FILE, newline="") as f:
        return list(csv.DictReader(f))


def cli(*args):
    return subprocess.run([sys.executable, "-m", "gan_mixup.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=subprocess_env())


def one_line(done, *keywords):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("gan-mixup: error: "), done.stderr
    assert "Traceback" not in done.stderr
    for keyword in keywords:
        assert keyword in lines[0], (keyword, lines[0])
    return lines[0]


# ----- §1: rows of results.csv are never dropped ----------------------------------------------------

def test_a_cut_metrics_jsonl_never_drops_rows_of_results_csv(tmp_path):
    out = tmp_path / "s"
    run_sweep(members(), out, workers=1)
    before = (out / RESULTS_FILE).read_text()
    assert len(rows_of(out)) > 3
    records = out / "ring8-erm-seed0" / "metrics.jsonl"
    records.write_text("".join(records.read_text().splitlines(keepends=True)[:3]))
    with pytest.raises(SweepError, match=r"row\(s\).*ring8-erm-seed0.*metrics.jsonl"):
        write_scorecard(out)  # what a resume writes at its end: from the records
    assert (out / RESULTS_FILE).read_text() == before
    (out / RESULTS_FILE).unlink()  # the way out the message names: write it from what is left
    assert write_scorecard(out)["results"].is_file()


def test_rows_of_an_unfinished_run_may_be_written_again(tmp_path):
    # A resume drops the records written after a run's checkpoint: an unfinished run's rows may go.
    out = tmp_path / "s"
    run_sweep(members(), out, workers=1)
    rows = rows_of(out)
    for row in rows:
        row["status"] = "unfinished"
    rows.append({**rows[-1], "iteration": "99"})
    with open(out / RESULTS_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_scorecard(out)
    assert "99" not in {r["iteration"] for r in rows_of(out)}


def test_metrics_of_an_image_sweep_refuses_to_drop_rows_of_a_cut_member(tmp_path):
    out = tmp_path / "s"
    done = cli("sweep", "--dataset", "digits", "--iterations", "4", "--hidden", "8", "--metric-frames", "2",
               "--metric-samples", "64", "--snapshot-frames", "2", "--fixed-samples", "16", "--objectives", "erm",
               "--lr", "1e-4,1e-3", "--batch-size", "16", "--seeds", "0", "--workers", "1", "--no-progress", "--out", out)
    assert done.returncode == 0, done.stderr
    before = (out / RESULTS_FILE).read_text()
    member = out / "digits-erm-lr0.0001-seed0"
    kept = [r for r in rows_of(out) if r["run"] == member.name]
    assert len(kept) >= 3
    records = member / "metrics.jsonl"
    lines = records.read_text().splitlines(keepends=True)
    snapshot_lines = [i for i, line in enumerate(lines) if '"snapshot"' in line]
    records.write_text("".join(lines[:snapshot_lines[1]]))  # the first snapshot record only
    one_line(cli("metrics", out), "results.csv", member.name)
    assert (out / RESULTS_FILE).read_text() == before


# ----- §2: one setting per config, a column per axis, no collapse without modes -------------------

def test_resuming_with_a_subset_of_an_axis_joins_the_setting_it_was_trained_under(tmp_path):
    out = tmp_path / "s"
    run_sweep(members(axes={"lr": [1e-4, 1e-3]}), out, workers=1)
    again = run_sweep(members(seeds=(0, 1), axes={"lr": [1e-4]}), out, workers=1, resume=True)
    assert again.statuses == {"ring8-erm-lr0.0001-seed0": "skipped", "ring8-erm-lr0.0001-seed1": "done"}
    scored = {s.setting: s.seeds for s in summarise(collect_results(out))}
    assert scored == {"erm lr=0.0001": 2, "erm lr=0.001": 1}


def test_cli_resume_with_a_subset_of_an_axis_counts_each_run_once(tmp_path):
    out = tmp_path / "s"
    tiny = ["--objectives", "erm", "--iterations", "6", "--hidden", "8", "--snapshot-frames", "2", "--fixed-samples", "64",
            "--grid-size", "8", "--workers", "1", "--no-progress"]
    assert cli("sweep", *tiny, "--lr", "1e-4,1e-3", "--seeds", "0", "--out", out).returncode == 0
    again = cli("sweep", *tiny, "--lr", "1e-4", "--seeds", "0-1", "--resume", out)
    assert again.returncode == 0 and "runs: 1 done, 1 skipped" in again.stdout, again.stdout + again.stderr
    assert {r["setting"] for r in rows_of(out)} == {"erm lr=0.0001", "erm lr=0.001"}
    assert "| ring8 | erm lr=0.0001 | 2 |" in (out / "scorecard.md").read_text()


def test_going_from_no_lr_to_a_list_joins_the_first_setting(tmp_path):
    out = tmp_path / "s"
    default_lr = make_tiny_config().lr
    run_sweep(members(), out, workers=1)
    again = run_sweep(members(axes={"lr": [default_lr, default_lr / 10]}), out, workers=1, resume=True)
    assert again.statuses["ring8-erm-seed0"] == "skipped"
    assert len(again.statuses) == 2 and list(again.statuses.values()).count("done") == 1
    assert sorted(s.seeds for s in summarise(collect_results(out))) == [1, 1]
    assert len(json.loads((out / "runs.json").read_text())["members"]) == 2


def test_results_csv_has_a_column_for_the_regularizers_and_old_manifests_still_score(tmp_path):
    out = tmp_path / "s"
    run_sweep(members(objectives=("erm", "erm+r1:10")), out, workers=1)
    by_setting = {r["setting"]: (r["objective"], r["regularizers"]) for r in rows_of(out)}
    assert by_setting == {"erm": ("erm", ""), "erm+r1:10": ("erm", "r1:10")}
    manifest = json.loads((out / "runs.json").read_text())
    for info in manifest["members"].values():  # a manifest of the version before the column
        del info["regularizers"]
    (out / "runs.json").write_text(json.dumps(manifest))
    assert {r["setting"]: r["regularizers"] for r in collect_results(out)} == {"erm": "", "erm+r1:10": "r1:10"}
    write_scorecard(out)


def test_robustness_without_modes_gives_no_collapse_verdict_and_runs_can_train():
    rows = [{"dataset": "folder", "setting": f"erm lr={lr}", "run": f"r{lr}", "iteration": 10, "modes_total": None,
             "modes_covered": None, "precision": 0.9, "recall": 0.9, "frechet": 10.0, "status": "finished"}
            for lr in (1, 2)]
    (spread,) = robustness(rows)
    assert (spread.runs, spread.trains, spread.collapsed, spread.diverged) == (2, 2, None, 0)
    assert "| folder | erm | 2 | 2 | 2/2 | – | 0/2 |" in robustness_markdown([spread])


def test_whole_number_axes_refuse_fractions():
    with pytest.raises(SweepError, match="whole numbers, got 1.7"):
        members(axes={"d_steps": [1.7, 2]})
    with pytest.raises(SweepError, match="--batch-size takes whole numbers"):
        members(axes={"batch_size": [16.5]})
    assert [m.config.d_steps for m in members(axes={"d_steps": [2.0, 3]})] == [2, 3]


def test_two_members_with_one_name_are_refused_before_anything_is_written(tmp_path):
    (first,) = members()
    other = SweepMember(name=first.name, dataset="ring8", setting="erm lr=0.5", config=first.config.replace(lr=0.5))
    with pytest.raises(SweepError, match=f"two members are named {first.name} with different settings.*lr"):
        run_sweep([first, other], tmp_path / "s", workers=1)
    assert not (tmp_path / "s").exists()


# ----- §3: signals, damaged manifests, empty compare -------------------------------------------

def test_sigusr2_checkpoints_and_stops_like_sigterm(tmp_path):
    def time_limit(record):
        if record.get("kind") == "train" and record["iteration"] == 6:
            signal.raise_signal(signal.SIGUSR2)

    def unanswered(*_):
        raise AssertionError("SIGUSR2 reached the process, not the training loop")

    previous = signal.signal(signal.SIGUSR2, unanswered)  # (its default action would end pytest)
    try:
        with pytest.raises(TrainingInterrupted) as stop:
            train(make_tiny_config(), tmp_path / "r", handle_signals=True, callbacks=[time_limit])
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert stop.value.signal_name == "SIGUSR2" and stop.value.iteration == 6
    assert load_checkpoint(tmp_path / "r")[0]["iteration"] == 6


@pytest.mark.parametrize("damage, keyword", [
    (lambda m: m.update(members=list(m["members"])), "list"),
    (lambda m: m["members"].update({"ring8-erm-seed0": 5}), "5"),
    (lambda m: m["members"]["ring8-erm-seed0"].pop("iterations"), "iterations"),
])
def test_a_damaged_manifest_is_one_line_in_metrics_and_resume(tmp_path, damage, keyword):
    out = tmp_path / "s"
    run_sweep(members(), out, workers=1)
    manifest = json.loads((out / "runs.json").read_text())
    damage(manifest)
    (out / "runs.json").write_text(json.dumps(manifest))
    one_line(cli("metrics", out), "runs.json", keyword)
    one_line(cli("sweep", "--objectives", "erm", "--seeds", "0", "--iterations", "12", "--hidden", "16",
                 "--no-progress", "--resume", out), "runs.json", keyword)


def test_compare_of_nothing_is_refused_before_anything_is_written(tmp_path):
    from gan_mixup.experiments import CompareError

    with pytest.raises(CompareError, match="at least one config"):
        compare({}, tmp_path / "c")
    assert not (tmp_path / "c").exists()


# ----- §4: messages ------------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["--lr", "--beta1", "--d-steps", "--batch-size"])
def test_an_axis_of_empty_items_is_refused(tmp_path, flag):
    one_line(cli("sweep", flag, ",", "--seeds", "0", "--iterations", "4", "--out", tmp_path / "s"), flag)
    assert not (tmp_path / "s").exists()


def test_results_csv_as_a_directory_is_named_as_itself(tmp_path):
    out = tmp_path / "s"
    run_sweep(members(), out, workers=1)
    (out / RESULTS_FILE).unlink()
    (out / RESULTS_FILE).mkdir()
    line = one_line(cli("metrics", out), "results.csv", "directory")
    assert "results.csv.tmp" not in line


def test_an_image_sweep_without_metrics_says_so(tmp_path):
    out = tmp_path / "s"
    done = cli("sweep", "--dataset", "digits", "--iterations", "3", "--hidden", "8", "--metric-samples", "0",
               "--snapshot-frames", "2", "--fixed-samples", "16", "--batch-size", "16", "--objectives", "erm",
               "--seeds", "0", "--workers", "1", "--no-progress", "--out", out)
    assert done.returncode == 0, done.stderr
    scorecard = (out / "scorecard.md").read_text()
    assert "No member has recorded a snapshot yet" not in scorecard and "--metric-samples 0" in scorecard


def test_a_workers_warnings_reach_the_caller_in_one_line_each_named_after_its_member(tmp_path):
    # A member resumed in a worker process from a damaged checkpoint falls back to the previous one
    # and warns; the warning reaches the sweep's CLI as its own would, not as Python's two-line default.
    out = tmp_path / "sweep"
    flags = ["sweep", "--dataset", "ring8", "--objectives", "erm,mixup", "--seeds", "0", "--hidden", "16",
             "--batch-size", "32", "--snapshot-frames", "3", "--no-progress", "--workers", "2",
             "--checkpoint-every", "3", "--out", str(out)]
    env = subprocess_env()
    first = subprocess.run([sys.executable, "-m", "gan_mixup.cli", *flags, "--iterations", "12"], capture_output=True,
                           text=True, env=env)
    assert first.returncode == 0, first.stderr
    (out / "ring8-erm-seed0" / "checkpoint.pt").write_text("damaged")
    (out / "results.csv").unlink()  # its iteration-12 row goes with the fallback's retraining; not the point here
    again = subprocess.run([sys.executable, "-m", "gan_mixup.cli", *flags, "--iterations", "24", "--resume"],
                           capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr
    lines = again.stderr.splitlines()
    assert [line.split(": ")[:3] for line in lines] == [["gan-mixup", "warning", "ring8-erm-seed0"]] * 2, again.stderr
    assert "checkpoint.pt is unreadable" in lines[0] and "resuming from the previous checkpoint" in lines[1]

"""The real-digit study's scripts. benchmarks/study_real_best.py: the Stacked MNIST stage trains ERM, mixup
α = 0.2 and the best other arm, chosen by the rule the protocol fixed (most runs that train over both Ds, then
the lower median final Fréchet distance), mechanically, refusing an unfinished stage. benchmarks/stacked_mnist_modes.py:
the published 26,000-sample count of modes, one row per arm."""
from __future__ import annotations

import shutil
import subprocess
import sys

from cli_helpers import REPO, run_cli, subprocess_env
from gan_mixup.sweeps.scorecard import RESULT_COLUMNS, read_results, write_results_csv

SCRIPT = REPO / "benchmarks" / "study_real_best.py"
# arm -> (objective, regularizers, preset, alpha), as results.csv records them
ARMS = {"erm": ("erm", "", "", None), "mixup α=0.2": ("mixup", "", "", 0.2), "mixup α=1": ("mixup", "", "", 1.0),
        "mixup[paper-code] α=0.2": ("mixup", "", "paper-code", 0.2), "erm+r1:10": ("erm", "r1:10", "", None),
        "wgan-gp": ("wgan-gp", "", "", None)}


def results(path, frechet, drop=None):
    """A study-like results.csv: each arm at 2 learning rates x 1 seed, one last snapshot each; ``frechet``:
    arm -> its two runs' final Fréchet distances (≤ 250 with recall 0.8 trains on mnist-5k)."""
    rows = []
    for arm, (objective, regularizers, preset, alpha) in ARMS.items():
        for lr, value in zip((0.001, 0.0002), frechet.get(arm, (400.0, 400.0))):
            if (arm, lr) == drop:
                continue
            rows.append({"dataset": "mnist-5k", "setting": f"{arm} lr={lr}", "objective": objective,
                         "regularizers": regularizers, "preset": preset, "alpha": alpha, "lr": lr, "seed": 0,
                         "iteration": 3000, "modes_covered": 10, "modes_total": 10, "frechet": value, "recall": 0.8,
                         "precision": 0.5, "status": "finished", "run": f"mnist-5k-{arm}-lr{lr}-seed0"})
    return write_results_csv([{k: r.get(k) for k in RESULT_COLUMNS} for r in rows], path)


def script(name, *arguments):
    """Run ``benchmarks/NAME`` with ``arguments`` as the Makefile does."""
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / name), *map(str, arguments)],
                          capture_output=True, text=True, env=subprocess_env(), cwd=REPO)


def best(*paths, flags=True):
    """The script on ``paths``, each made by ``results`` (2 runs an arm): every arm complete."""
    return script(SCRIPT.name, *paths, *(["--flags"] if flags else []), "--runs", 2 * len(paths))


def test_most_runs_that_train_win_over_both_ds_and_erm_and_mixup_are_left_out(tmp_path):
    # ERM and mixup α=0.2 train everywhere but are not candidates; R1 trains 3 of 4 runs over the two Ds,
    # paper-code 2 of 4 with the lowest distances, WGAN-GP 3 of 4 but farther: R1.
    bn = results(tmp_path / "bn.csv", {"erm": (10, 10), "mixup α=0.2": (10, 10), "erm+r1:10": (100, 300),
                                        "mixup[paper-code] α=0.2": (20, 20), "wgan-gp": (200, 240)})
    sn = results(tmp_path / "sn.csv", {"erm": (10, 10), "mixup α=0.2": (10, 10), "erm+r1:10": (100, 100),
                                        "wgan-gp": (200, 600)})
    out = best(bn, sn)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["--objectives", "erm+r1:10"]
    table = best(bn, sn, flags=False).stdout
    assert table.index("| erm+r1:10 | 4 | 3 |") < table.index("| wgan-gp | 4 | 3 |") < table.index("| mixup[paper-code]")
    assert "| erm |" not in table and "| mixup α=0.2 |" not in table


def test_ties_on_trains_go_to_the_lower_median_and_an_arm_with_alpha_and_preset_gets_both_flags(tmp_path):
    bn = results(tmp_path / "bn.csv", {"mixup[paper-code] α=0.2": (20, 30), "erm+r1:10": (100, 100),
                                        "mixup α=1": (30, 40)})
    out = best(bn)
    assert out.stdout.split() == ["--objectives", "mixup", "--preset", "paper-code", "--alpha", "0.2"]


def test_a_run_stopped_on_a_nonfinite_loss_counts_as_infinitely_far_whatever_its_last_snapshot_said(tmp_path):
    # R1 and paper-code tie on trains (one run of each: R1's other is too far, paper-code's other stopped on NaN
    # after its last snapshot). That snapshot is the nearest of all, but the run counts as infinitely far: R1.
    path = results(tmp_path / "bn.csv", {"erm+r1:10": (100, 300), "mixup[paper-code] α=0.2": (20, 20)})
    rows = [{**row, "status": "diverged"} if row["run"] == "mnist-5k-mixup[paper-code] α=0.2-lr0.001-seed0" else row
            for row in read_results(path)]
    assert any(row["status"] == "diverged" for row in rows)
    write_results_csv(rows, path)
    table = best(path, flags=False).stdout
    assert best(path).stdout.split() == ["--objectives", "erm+r1:10"]
    assert "| mixup[paper-code] α=0.2 | 2 | 1 | inf |" in table


def test_an_unfinished_stage_is_refused_in_one_line(tmp_path):
    bn = results(tmp_path / "bn.csv", {}, drop=("wgan-gp", 0.001))
    out = best(bn)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "unequal numbers of finished runs" in out.stderr


def test_reports_of_an_earlier_stage_are_refused_though_every_arm_has_as_many_runs(tmp_path):
    # After stage 2 every arm has 16 finished runs over the two Ds: equal, and not the protocol's 24.
    bn, sn = results(tmp_path / "bn.csv", {}), results(tmp_path / "sn.csv", {})
    assert best(bn, sn).returncode == 0
    out = script(SCRIPT.name, bn, sn, "--flags")
    assert out.returncode == 2 and out.stdout == "" and out.stderr.count("\n") == 1
    assert "each arm has 4 finished runs, not the protocol's 24" in out.stderr


def test_stacked_mnist_modes_scores_each_arm_of_a_sweep_apart(tmp_path):
    # The study's Stacked MNIST stage scores ERM and a regularised ERM side by side: one row each, not one "erm".
    sweep = tmp_path / "stacked"
    code, _, err = run_cli(["sweep", "--dataset", "stacked-mnist-5k", "--objectives", "erm,erm+r1:10", "--iterations", 4,
                            "--hidden", 8, "--image-size", 32, "--seeds", 0, "--metric-frames", 1, "--metric-samples", 100,
                            "--no-progress", "--out", sweep])
    assert code == 0, err
    out = script("stacked_mnist_modes.py", sweep, "--out", tmp_path / "report", "--samples", 300)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "report" / "protocol.md").read_text()
    assert "300 samples" in table and "| erm | 1" in table and "| erm+r1:10 | 1" in table
    assert "D with BatchNorm" in table.splitlines()[0]
    assert {line.split(",")[1] for line in (tmp_path / "report" / "protocol.csv").read_text().splitlines()[1:]} == {
        "erm", "erm+r1:10"}
    assert (tmp_path / "report" / "samples.png").stat().st_size > 1000

    # A member that stopped on a non-finite loss has no final generator: marked, and out of the mean.
    with open(sweep / "stacked-mnist-5k-erm_r1_10-seed0" / "metrics.jsonl", "a") as f:
        f.write('{"kind": "event", "iteration": 4, "event": "nonfinite", "message": "the D loss became nan"}\n')
    out = script("stacked_mnist_modes.py", sweep, "--out", tmp_path / "report", "--samples", 300)
    assert out.returncode == 0, out.stderr
    assert "| erm+r1:10 | – | – | 0 (+1 diverged) |" in (tmp_path / "report" / "protocol.md").read_text()
    assert ",diverged," in (tmp_path / "report" / "protocol.csv").read_text()
    # An unfinished sweep (a member not trained yet) is refused: its checkpoints are from part of the way.
    shutil.rmtree(sweep / "stacked-mnist-5k-erm-seed0")
    out = script("stacked_mnist_modes.py", sweep, "--out", tmp_path / "again", "--samples", 300)
    assert out.returncode == 2 and "1 of the sweep's 2 runs have not finished" in out.stderr
    assert not (tmp_path / "again").exists()


def test_before_the_study_is_reported_it_says_what_comes_first(tmp_path):
    out = best(tmp_path / "bn.csv", tmp_path / "sn.csv")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "make study-real-report" in out.stderr


def test_the_summary_page_reads_each_ds_results_by_the_library_reports(tmp_path):
    # The 8x8 study's committed results as if they were one D of the real study: its paired numbers are
    # the ones samples/study-images/README.md quotes (mixup loses 8 of 12 to ERM, WGAN-GP wins all 12).
    (tmp_path / "sn").mkdir()
    (tmp_path / "sn" / "results.csv").write_bytes((REPO / "samples" / "study-images" / "results.csv").read_bytes())
    out = script("study_real_summary.py", tmp_path / "sn", "--out", tmp_path / "summary.md")
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "summary.md").read_text()
    assert "48 runs: 4 arms × 6 hyperparameter settings × 2 seeds, every one finished." in page
    assert "| mixup α=0.2 | 0/12 | 1/12: 0 / 1 / 0 | – | 105 [72–173] | 4 / 8 / 0; sign p 0.388 (Holm 0.388)" in page
    assert "| wgan-gp | 1/12 | 0/12: 0 / 0 / 0 | – | 27.9 [17.7–34.6] | 12 / 0 / 0; sign p 0.000488" in page
    assert "| sn | wgan-gp | 0 / 12 / 0;" in page  # mixup against each other arm, from mixup's side
    assert "**Primary comparison** (mixup α = 0.2 against ERM, SN-D, final Fréchet distance, 12 pairs): 4 / 8 / 0" in page


def test_a_summary_of_a_partial_study_says_what_is_missing_in_its_first_lines(tmp_path):
    (tmp_path / "bn").mkdir()
    results(tmp_path / "bn" / "results.csv", {}, drop=("wgan-gp", 0.001))
    out = script("study_real_summary.py", tmp_path / "bn")
    assert out.returncode == 0, out.stderr
    assert "11 runs: 6 arms × 2 hyperparameter settings × 1 seeds; **not the whole grid: 1 missing**" in out.stdout


def test_a_summary_counts_the_runs_stopped_on_a_nonfinite_loss_apart_from_the_finished(tmp_path):
    (tmp_path / "bn").mkdir()
    path = results(tmp_path / "bn" / "results.csv", {})
    write_results_csv([{**row, "status": "diverged"} if row["run"] == "mnist-5k-wgan-gp-lr0.001-seed0" else row
                       for row in read_results(path)], path)
    out = script("study_real_summary.py", tmp_path / "bn")
    assert out.returncode == 0, out.stderr
    assert ("12 runs: 6 arms × 2 hyperparameter settings × 1 seeds, every one finished or stopped on a non-finite "
            "loss (1).") in out.stdout

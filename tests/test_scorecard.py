"""The scorecard: columns of the registered metrics, and tables at the paper's iterations (issue 26)."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from gan_mixup.errors import GanMixupWarning
from gan_mixup.metric_registry import METRICS, Metric
from gan_mixup.modalities import REGISTRY
from gan_mixup.modalities.images.spec import SPEC as IMAGES
from gan_mixup.sweeps.scorecard import (
    RESULT_COLUMNS,
    RESULT_HEAD,
    result_columns,
    scorecard_markdown,
    summarise,
    table_iterations,
)


def toy_run(name, covered, status="finished", iterations=(10, 100, 1000, 2000), dataset="ring8", setting="s"):
    return [{"dataset": dataset, "setting": setting, "run": name, "iteration": it, "modes_covered": c, "modes_total": 8,
             "sliced_wasserstein": 0.1, "outside_frame": 0.0, "status": status} for it, c in zip(iterations, covered)]


def image_run(name, frechet):
    return [{"dataset": "digits", "setting": "erm", "run": name, "iteration": it, "modes_covered": 10, "modes_total": 10,
             "frechet": f, "precision": 0.8, "status": "finished"} for it, f in zip((10, 1000), frechet)]


def scorecard(rows):
    return scorecard_markdown(summarise(rows), {it: summarise(rows, at=it) for it in table_iterations(rows)})


def test_results_columns_are_the_registered_metrics_in_order_between_the_fixed_ones():
    assert RESULT_COLUMNS == result_columns()
    assert RESULT_COLUMNS[:len(RESULT_HEAD)][-1] == "iteration" and RESULT_COLUMNS[-8:] == (
        "d_grad_real", "d_grad_fake", "d_grad_mixed", "calibration_gap", "calibration_slope_fake", "calibration_slope_real",
        "status", "run")
    metrics = RESULT_COLUMNS[len(RESULT_HEAD):-8]
    # the columns earlier versions wrote, in their order: points first, then what images add
    assert metrics[:8] == ("modes_covered", "modes_total", "modes_near", "high_quality", "kl_modes", "sliced_wasserstein",
                           "mean_mode_distance", "outside_frame")
    assert metrics[8:] == ("frechet_digits", "frechet", "precision", "recall", "density", "coverage", "classifier_accuracy")


def test_a_registered_modality_brings_its_registered_metrics(monkeypatch):
    wiggles = replace(IMAGES, name="wiggles", datasets=("sine",), distance_metric="wiggle_error")
    monkeypatch.setitem(REGISTRY, "wiggles", wiggles)
    monkeypatch.setitem(METRICS, "wiggle_error", Metric("wiggle_error", "wiggle error", "lower", ("wiggles",), "{:.1f}"))
    assert result_columns()[-3:] == ("wiggle_error", "status", "run")
    rows = [{"dataset": "sine", "setting": "s", "run": "a", "iteration": 5, "wiggle_error": 2.25, "status": "finished"}]
    text = scorecard(rows)
    assert "| wiggle error |" in text and "| 2.2 |" in text
    assert "sliced W." not in text and "Fréchet" not in text  # only the modalities in the table


def test_each_modality_shows_only_its_columns_and_a_mixed_sweep_both():
    toy, images = scorecard(toy_run("a", [8, 8, 8, 8])), scorecard(image_run("b", [5.0, 2.0]))
    assert "| sliced W. |" in toy and "Fréchet" not in toy
    assert "| Fréchet | precision | recall | density | coverage |" in images and "sliced W." not in images
    both = scorecard(toy_run("a", [8, 8, 8, 8]) + image_run("b", [5.0, 2.0]))
    assert "| sliced W. | Fréchet |" in both


def test_scorecard_has_a_table_at_each_paper_iteration_the_runs_went_through():
    rows = toy_run("a", [8, 8, 8, 5]) + toy_run("b", [1, 3, 8, 8])  # collapsed by the end / late
    assert table_iterations(rows) == [1000]  # 10,000 and 20,000 not reached
    text = scorecard(rows)
    last, at_1000 = text.split("## At iteration 1,000")
    assert "| ring8 | s | 2 | 2000 | 6 [5–8] / 8 |" in last  # the last snapshot's table comes first
    assert "| ring8 | s | 2 | 1000 | 8 / 8 |" in at_1000  # both covered every mode at 1,000
    assert "10,000" not in text


def test_a_run_is_scored_at_an_iteration_as_it_stood_then():
    rows = (toy_run("late", [8, 8, 8, 8], status="diverged")  # stopped on NaN after 2,000
            + toy_run("cut", [8, 8, 8], status="unfinished", iterations=(10, 100, 1000))  # interrupted after 1,000
            + toy_run("short", [8, 8], iterations=(10, 100)))  # never reached 1,000
    (end,) = summarise(rows)
    assert (end.seeds, end.unfinished, end.diverged) == (2, 1, 0.5)
    (then,) = summarise(rows, at=1000)
    assert (then.seeds, then.unfinished, then.diverged, then.iterations) == (2, 0, 0.0, 1000)
    assert then.final["modes_covered"] == [8.0, 8.0]
    (diverged_there,) = summarise(toy_run("late", [8, 8, 8, 8], status="diverged"), at=2000)
    assert diverged_there.diverged == 1.0


@pytest.mark.parametrize("ends, expected", [((1000,), []), ((1000, 20000), [1000, 10000]), ((20000,), [1000, 10000])])
def test_table_iterations_leave_out_what_the_last_snapshot_table_already_shows(ends, expected):
    rows = []
    for k, end in enumerate(ends):
        rows += toy_run(f"r{k}", [8] * 6, iterations=tuple(it for it in (10, 100, 1000, 10000, 20000) if it <= end))
    assert table_iterations(rows) == expected


def test_scorecard_fractions_on_hand_made_rows():
    def run(name, covered, outside=0.0, status="finished"):
        return [{"dataset": "ring8", "setting": "s", "run": name, "iteration": it, "modes_covered": c, "modes_total": 8,
                 "outside_frame": outside, "status": status} for it, c in zip((10, 100, 1000), covered)]

    rows = run("a", [8, 8, 8]) + run("b", [2, 8, 8]) + run("c", [8, 8, 3]) + run("d", [0, 0, 0], outside=0.9)
    (summary,) = summarise(rows)
    assert summary.seeds == 4
    assert summary.collapsed == 0.5  # c and d end with fewer than 8
    assert summary.diverged == 0.25  # d left the frame
    assert summary.stable == 0.5 and sorted(summary.stable_from) == [10, 100]  # a from 10, b from 100 (≤ 500)


def test_scorecard_leaves_unfinished_runs_out_and_counts_them():
    from gan_mixup.sweeps.scorecard import scorecard_markdown

    def run(name, covered, status):
        return [{"dataset": "ring8", "setting": "s", "run": name, "iteration": it, "modes_covered": c, "modes_total": 8,
                 "outside_frame": 0.0, "status": status} for it, c in zip((10, 100, 1000), covered)]

    rows = run("a", [8, 8, 8], "finished") + run("b", [8, 8, 6], "finished") + run("c", [0, 1, 1], "unfinished")[:2]
    (summary,) = summarise(rows)
    assert (summary.seeds, summary.unfinished, summary.iterations) == (2, 1, 1000)
    assert sorted(summary.final["modes_covered"]) == [6.0, 8.0] and summary.collapsed == 0.5
    assert "| ring8 | s | 2 (+1 unfinished) | 1000 | 7 [6–8] / 8 |" in scorecard_markdown([summary])
    (only_unfinished,) = summarise(run("c", [0, 1, 1], "unfinished"))
    assert "| ring8 | s | 0 (+1 unfinished) |" in scorecard_markdown([only_unfinished])


def test_robustness_counts_each_objective_over_its_settings_with_the_fixed_thresholds():
    from gan_mixup.sweeps.scorecard import TRAINS_PRECISION, robustness, robustness_markdown

    def row(setting, seed, precision, recall, covered, status="finished"):
        return {"dataset": "digits", "setting": setting, "run": f"{setting}-{seed}", "iteration": 1000, "modes_total": 10,
                "modes_covered": covered, "precision": precision, "recall": recall, "frechet": 1.0 + seed, "status": status}

    rows = [row("erm lr=0.001", 0, 0.9, 0.8, 10), row("erm lr=0.001", 1, TRAINS_PRECISION - 0.01, 0.8, 10),
            row("erm lr=0.0002", 0, 0.9, 0.9, 7), row("erm lr=0.0002", 1, 0.9, 0.9, 10, status="diverged"),
            row("mixup α=0.2 lr=0.001", 0, 0.9, 0.9, 10), row("mixup α=0.2 lr=0.001", 1, 0.9, 0.9, 10, status="unfinished"),
            row("hinge", 0, 0.9, 0.9, 10)]  # one setting only: no spread to report
    spreads = {s.arm: s for s in robustness(rows)}
    assert set(spreads) == {"erm"}  # mixup: one setting once its unfinished run is left out
    erm = spreads["erm"]
    assert (erm.settings, erm.runs, erm.trains, erm.collapsed, erm.diverged) == (2, 4, 1, 1, 1)
    # the run stopped on NaN has no final value: its last snapshot was taken before it diverged
    assert erm.final["frechet"][:3] == [1.0, 2.0, 1.0] and math.isnan(erm.final["frechet"][3])
    assert "| digits | erm | 2 | 4 | 1/4 | 1/4 | 1/4 |" in robustness_markdown(list(spreads.values()))
    # every arm's outcomes, one setting or more (the study's summary): hinge and mixup too
    assert [(s.arm, s.runs, s.trains) for s in robustness(rows, min_settings=1)] == [
        ("erm", 4, 1), ("mixup α=0.2", 1, 1), ("hinge", 1, 1)]


def test_robustness_keeps_each_arm_apart_and_a_results_csv_alone_gets_it(tmp_path):
    from gan_mixup.sweeps.scorecard import RESULT_COLUMNS, robustness, stability_report_from_csv, write_results_csv

    arms = ("mixup α=0.2", "mixup α=1", "mixup[paper-code] α=0.2", "erm+r1:10")
    rows = [{"dataset": "digits", "setting": f"{arm} lr={lr}", "run": f"{arm}-{lr}", "iteration": 100, "seed": 0,
             "modes_total": 10, "modes_covered": 10, "precision": 0.9, "recall": 0.9, "frechet": 5.0 + k,
             "status": "finished"} for k, arm in enumerate(arms) for lr in (0.001, 0.0002)]
    spreads = robustness(rows)
    assert [(s.arm, s.settings, s.runs) for s in spreads] == [(arm, 2, 2) for arm in arms]
    csv = write_results_csv([{key: r.get(key) for key in RESULT_COLUMNS} for r in rows], tmp_path / "results.csv")
    written = stability_report_from_csv(csv)
    table = written["robustness"].read_text()
    assert "| digits | mixup[paper-code] α=0.2 | 2 | 2 | 2/2 |" in table and written["robustness_png"].is_file()


def test_real_digits_train_by_the_pilot_thresholds_other_datasets_by_precision_and_recall():
    from gan_mixup.sweeps.scorecard import TRAINS_RULES, robustness, robustness_markdown

    rule = TRAINS_RULES["mnist-5k"]

    def row(dataset, setting, seed, frechet, recall, precision=0.3):
        return {"dataset": dataset, "setting": setting, "run": f"{dataset}-{setting}-{seed}", "iteration": 3000,
                "modes_total": 10, "modes_covered": 10, "precision": precision, "recall": recall, "frechet": frechet,
                "status": "finished"}

    rows = []
    for dataset in ("mnist-5k", "digits"):
        rows += [row(dataset, "erm lr=0.001", 0, rule.frechet - 1, rule.recall + 0.01),  # trains on mnist-5k only
                 row(dataset, "erm lr=0.001", 1, rule.frechet + 1, rule.recall + 0.01),  # too far from the data
                 row(dataset, "erm lr=0.0002", 0, rule.frechet - 1, rule.recall - 0.01),  # too little recall
                 row(dataset, "erm lr=0.0002", 1, 10.0, 0.9, precision=0.9)]  # trains on both
    spreads = {s.dataset: s for s in robustness(rows)}
    assert (spreads["mnist-5k"].trains, spreads["digits"].trains) == (2, 1)
    assert "On mnist-5k, *trains* asks recall ≥ 0.5 and Fréchet ≤ 250 instead" in robustness_markdown(list(spreads.values()))


def test_a_second_writer_of_a_folders_reports_waits_for_the_first(tmp_path):
    import threading

    from gan_mixup.rundir import REPORT_LOCK_FILE, locked
    from gan_mixup.sweeps.scorecard import RESULT_COLUMNS, stability_report_from_csv, write_results_csv

    rows = [{"dataset": "digits", "setting": f"{arm} lr={lr}", "run": f"{arm}-{lr}", "iteration": 100, "seed": 0,
             "modes_total": 10, "modes_covered": 10, "frechet": 5.0, "status": "finished"}
            for arm in ("erm", "mixup α=0.2") for lr in (0.001, 0.0002)]
    csv = write_results_csv([{key: r.get(key) for key in RESULT_COLUMNS} for r in rows], tmp_path / "results.csv")
    outcome = []
    writer = threading.Thread(target=lambda: outcome.append(stability_report_from_csv(csv)))
    with pytest.warns(GanMixupWarning, match="the reports of .* are being written by process"):
        with locked(tmp_path, lock_file=REPORT_LOCK_FILE):  # as `gan-mixup metrics` in another process holds it
            writer.start()
            writer.join(1.0)
            assert writer.is_alive() and not (tmp_path / "survival.md").exists()  # waiting, not refused
        writer.join(60)
    assert outcome and outcome[0]["survival"].is_file() and outcome[0]["paired"].is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no lock left behind

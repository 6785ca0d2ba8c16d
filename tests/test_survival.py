"""Kaplan–Meier survival over a sweep's runs (gan_mixup.sweeps.survival), against curves computed by hand."""
import math

import pytest

from gan_mixup.sweeps.survival import FailureRule, RunOutcome, arm_of, kaplan_meier, run_outcome, survival_curves


def _run(name, setting, points, *, status="finished", total=10):
    """Rows of one run: ``points`` is (iteration, modes covered[, outside_frame])."""
    return [{"dataset": "mnist-5k", "setting": setting, "seed": 0, "run": name, "iteration": p[0], "modes_covered": p[1],
             "modes_total": total, "status": status, **({"outside_frame": p[2]} if len(p) > 2 else {})} for p in points]


def test_three_runs_by_hand():
    # a: all 10 modes, then 4 from iteration 200 on: fails at 200 (collapsed).
    # b: all 10 modes to its last snapshot at 300: censored at 300.
    # c: all 10 modes, then stopped on NaN with its last snapshot at 100: fails at 100 (diverged).
    # By hand: at 100, 3 at risk, 1 fails: S = 2/3; at 200, 2 at risk (a, b), 1 fails: S = 2/3 * 1/2 = 1/3.
    # Median: the first event time with S <= 1/2: 200.
    rows = (_run("a", "erm lr=0.001", [(0, 10), (100, 10), (200, 4), (300, 4)])
            + _run("b", "erm lr=0.0002", [(0, 10), (100, 10), (200, 10), (300, 10)])
            + _run("c", "erm lr=0.001", [(0, 10), (100, 10)], status="diverged"))
    (curve,) = survival_curves(rows, FailureRule())
    assert curve.arm == "erm" and curve.runs == 3 and curve.failures == 2
    assert curve.times == [100, 200]
    assert curve.survival == pytest.approx([2 / 3, 1 / 3], abs=1e-12)
    assert curve.at_risk == [3, 2]
    assert curve.median == 200
    causes = {o.run: (o.iteration, o.failed, o.cause) for o in curve.outcomes}
    assert causes == {"a": (200, True, "collapsed"), "b": (300, False, ""), "c": (100, True, "diverged")}


def test_censoring_at_an_event_time_keeps_the_run_at_risk():
    # a fails at 100; b is censored at 100 (interrupted there); c fails at 200.
    # At 100: 3 at risk (b too), S = 2/3; at 200: 1 at risk, S = 0. Median 200.
    times, survival, at_risk = kaplan_meier([RunOutcome("a", 100, True), RunOutcome("b", 100, False),
                                             RunOutcome("c", 200, True)])
    assert (times, at_risk) == ([100, 200], [3, 1])
    assert survival == pytest.approx([2 / 3, 0.0], abs=1e-12)


def test_a_run_that_recovers_has_not_failed():
    rows = _run("r", "mixup α=0.2", [(0, 10), (100, 3), (200, 10)])
    assert run_outcome(rows, FailureRule()) == RunOutcome("r", 200, False)


def test_a_run_that_never_had_its_modes_failed_at_its_first_judged_snapshot():
    rows = _run("r", "mixup α=0.2", [(0, 1), (100, 8), (200, 9)])
    assert run_outcome(rows, FailureRule()) == RunOutcome("r", 0, True, "untrained")
    assert run_outcome(rows, FailureRule(grace=100)) == RunOutcome("r", 100, True, "untrained")
    # 8 of 10 is enough at 80 %: it had its modes from 100 on, so it is alive at its end
    assert run_outcome(rows, FailureRule(collapse_fraction=0.8)) == RunOutcome("r", 200, False)


def test_toy_divergence_by_the_frame_before_it_ever_had_its_modes():
    # Never all modes within 10σ, samples leave the frame at 300 and stay out: failed at 300, diverged.
    rows = [{"dataset": "ring8", "setting": "erm[paper-code]", "run": "e", "iteration": i, "modes_near": m,
             "modes_total": 8, "outside_frame": out, "status": "finished"}
            for i, m, out in [(0, 0, 0.0), (100, 3, 0.0), (300, 0, 0.9), (1000, 0, 1.0)]]
    assert run_outcome(rows, FailureRule("modes_near")) == RunOutcome("e", 300, True, "diverged")
    # the status of a run that stopped on NaN holds at its last snapshot only
    rows = [{**row, "outside_frame": 0.0, "status": "diverged", "modes_near": 8} for row in rows]
    assert run_outcome(rows, FailureRule("modes_near")) == RunOutcome("e", 1000, True, "diverged")


def test_divergence_alone_ignores_modes():
    rows = _run("a", "erm", [(0, 10), (100, 2)])
    assert run_outcome(rows, FailureRule(collapse_metric="")) == RunOutcome("a", 100, False)


def test_arms_group_over_hyperparameters_not_over_alpha_or_preset():
    assert arm_of("mixup[paper-code] α=0.2 lr=0.001 β1=0.5 dsteps=2 batch=64") == "mixup[paper-code] α=0.2"
    rows = (_run("a", "mixup α=0.2 lr=0.001", [(0, 10), (10, 10)]) + _run("b", "mixup α=1 lr=0.001", [(0, 10), (10, 2)])
            + _run("c", "mixup α=0.2 lr=0.0002", [(0, 10), (10, 10)]))
    curves = {c.arm: c for c in survival_curves(rows)}
    assert set(curves) == {"mixup α=0.2", "mixup α=1"}
    assert curves["mixup α=0.2"].runs == 2 and curves["mixup α=0.2"].median is None
    assert curves["mixup α=1"].median == 10 and math.isclose(curves["mixup α=1"].survival[-1], 0.0)


def test_the_report_from_a_results_csv_alone(tmp_path):
    """`gan-mixup metrics RESULTS_CSV` writes survival.md, survival.png and paired.md beside it from the file alone;
    a CSV that is no sweep's results gets one line."""
    import csv
    import subprocess
    import sys

    from tests.cli_helpers import one_error_line, subprocess_env

    rows = (_run("erm-0", "erm", [(0, 10), (100, 10), (200, 3)]) + _run("mix-0", "mixup α=0.2", [(0, 10), (200, 10)])
            + _run("erm-1", "erm", [(0, 10), (200, 10)]) + _run("mix-1", "mixup α=0.2", [(0, 10), (200, 10)]))
    for row in rows:
        row.update(seed=int(row["run"][-1]), frechet=40.0 if row["run"].startswith("erm") else 30.0)
    results = tmp_path / "results.csv"
    with open(results, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    cli = [sys.executable, "-m", "gan_mixup.cli", "metrics"]
    done = subprocess.run([*cli, str(results)], capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    survival = (tmp_path / "survival.md").read_text()
    assert "| mnist-5k | erm | 2 | 1/2 | 0 / 1 / 0 | 200 | 50% (to 200) |" in survival
    assert "| mnist-5k | mixup α=0.2 | 2 | 0/2 | 0 / 0 / 0 | – | 100% (to 200) |" in survival
    assert (tmp_path / "survival.png").stat().st_size > 0
    paired = (tmp_path / "paired.md").read_text()
    assert "| mnist-5k | mixup α=0.2 | erm | Fréchet | 2 | 2 / 0 / 0 | -10 | 0.5 | 0.5 |" in paired
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    done = subprocess.run([*cli, str(bad)], capture_output=True, text=True, env=subprocess_env(), timeout=120)
    one_error_line(done.returncode, done.stderr, "no sweep's results.csv", "setting")


@pytest.mark.parametrize("damage, words", [
    ("cut", ("line 3", "cut short")),          # the last row ends mid-way, as a copy stopped part way
    ("extra", ("line 2", "more cells")),        # a row with cells past the header's columns
    ("no-rows", ("no rows",)),                  # the header alone: nothing to report
    ("not-utf8", ("not UTF-8",)),               # a binary file named results.csv
])
def test_a_damaged_results_csv_gets_one_line_and_no_report(tmp_path, damage, words):
    """`gan-mixup metrics RESULTS_CSV` reads the file alone: a damaged one is named, line and cause, and
    no survival.md or paired.md is written from a part of it."""
    import subprocess
    import sys

    from tests.cli_helpers import one_error_line, subprocess_env

    header = "dataset,setting,seed,iteration,modes_covered,modes_total,status,run\n"
    rows = ["mnist-5k,erm,0,0,10,10,finished,erm-0\n", "mnist-5k,erm,0,100,10,10,finished,erm-0\n"]
    text = {"cut": header + rows[0] + rows[1][:20], "extra": header + rows[0].rstrip("\n") + ",x,y\n" + rows[1],
            "no-rows": header}.get(damage)
    results = tmp_path / "results.csv"
    if damage == "not-utf8":
        results.write_bytes(b"\x00\xff\xfe garbage\n\x01")
    else:
        results.write_text(text)
    done = subprocess.run([sys.executable, "-m", "gan_mixup.cli", "metrics", str(results)], capture_output=True,
                          text=True, env=subprocess_env(), timeout=120)
    one_error_line(done.returncode, done.stderr, "results.csv", *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]

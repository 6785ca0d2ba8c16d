"""The calibration probe per arm over training (gan_mixup.sweeps.calibration, calibration.md / calibration.png of
the stability report), against answers computed by hand."""
import csv
import math

import pytest

from gan_mixup.sweeps.calibration import arm_calibrations, calibration_markdown, pooled_calibration, run_gaps
from gan_mixup.sweeps.scorecard import stability_report_from_csv, write_stability_report
from gan_mixup.sweeps.survival import FailureRule

TOY = {"ring8": "sliced_wasserstein"}


def _run(name, setting, gaps, *, distance, modes=None, dataset="ring8", objective=None):
    """Rows of one toy run: ``gaps`` maps iteration -> calibration gap (None: no gap in that row); its last
    row gets ``distance``; ``modes`` maps iteration -> modes within 10σ (default all 8)."""
    rows = []
    for it, gap in gaps.items():
        row = {"dataset": dataset, "setting": setting, "seed": 0, "run": name, "iteration": it, "modes_total": 8,
               "modes_near": (modes or {}).get(it, 8), "status": "finished", "sliced_wasserstein": 9.0}
        if objective:
            row["objective"] = objective
        if gap is not None:
            row["calibration_gap"] = gap
        rows.append(row)
    rows[-1]["sliced_wasserstein"] = distance
    return rows


def test_quartiles_over_runs_at_each_iteration_by_hand():
    # Five runs of one arm at iteration 100 with gaps 0.1, 0.2, 0.3, 0.4, 0.5: median 0.3, quartiles 0.2 and 0.4
    # (linear interpolation between order statistics: positions 1 and 3 of 0..4). At 0 all are 0.27.
    # A sixth run has NaN at 100 and no gap column at 200: skipped there, counted at 0.
    rows = []
    for k, gap in enumerate([0.1, 0.2, 0.3, 0.4, 0.5]):
        rows += _run(f"r{k}", "mixup α=0.2 lr=0.001", {0: 0.27, 100: gap}, distance=1.0)
    rows += _run("r5", "mixup α=0.2 lr=0.0002", {0: 0.27, 100: math.nan, 200: None}, distance=1.0)
    (arm,) = arm_calibrations(rows, TOY, FailureRule("modes_near"))
    assert arm.arm == "mixup α=0.2" and arm.probability and len(arm.runs) == 6
    assert arm.iterations == (0, 100)  # 200 has no finite gap in any run
    assert arm.counted == (6, 5)
    assert arm.median == pytest.approx((0.27, 0.3), abs=1e-12)
    assert arm.lower == pytest.approx((0.27, 0.2), abs=1e-12)
    assert arm.upper == pytest.approx((0.27, 0.4), abs=1e-12)


def test_per_run_mean_gap_skips_iteration_zero_and_nan_and_takes_the_last_snapshot():
    rows = _run("a", "erm", {0: 0.9, 10: 0.2, 100: math.nan, 1000: 0.4}, distance=0.5)
    rows += _run("b", "erm", {0: 0.27, 10: 0.3, 100: 0.1}, distance=0.7, modes={100: 2})  # collapses at 100
    rows += _run("c", "erm", {0: 0.27, 10: None}, distance=0.9)  # no gap after iteration 0
    gaps = {g.run: g for g in run_gaps(rows, TOY, FailureRule("modes_near"))}
    assert gaps["a"].mean_gap == pytest.approx(0.3) and gaps["a"].last_gap == pytest.approx(0.4)
    assert not gaps["a"].failed and gaps["a"].final_distance == 0.5
    assert gaps["b"].mean_gap == pytest.approx(0.2) and gaps["b"].failed
    assert math.isnan(gaps["c"].mean_gap) and math.isnan(gaps["c"].last_gap)
    (arm,) = arm_calibrations(rows, TOY, FailureRule("modes_near"))
    assert arm.failed == 1
    assert arm.median_mean_gap == pytest.approx(0.25)  # the median of 0.3 and 0.2; c has none
    assert arm.median_last_gap == pytest.approx(0.25)  # of 0.4 and 0.1
    assert arm.median_final_distance == pytest.approx(0.7)
    assert math.isnan(arm.rho)  # two runs with a mean gap: too few to rank


def test_a_run_stopped_on_a_nonfinite_loss_has_no_final_gap_or_distance_but_keeps_its_mean_gap():
    # Its last snapshot was taken before it diverged: those numbers describe an earlier generator.
    rows = [{**row, "status": "diverged"} for row in _run("d", "erm", {0: 0.27, 10: 0.2, 100: 0.4}, distance=0.5)]
    (gap,) = run_gaps(rows, TOY, FailureRule("modes_near"))
    assert gap.mean_gap == pytest.approx(0.3) and gap.failed
    assert math.isnan(gap.last_gap) and math.isnan(gap.final_distance)


def test_a_monotone_relation_gives_rho_one_and_failed_runs_are_compared():
    # Four erm runs and four mixup runs; the final distance rises with the mean gap in every run (not linearly):
    # ρ = +1 within each arm and pooled. The two erm runs with the largest gaps collapse (fail).
    rows = []
    for k, gap in enumerate([0.30, 0.32, 0.36, 0.40]):
        rows += _run(f"erm-{k}", "erm lr=0.001", {0: 0.27, 10: gap, 20: gap}, distance=gap ** 3,
                     modes={20: 1} if k >= 2 else None)
    for k, gap in enumerate([0.10, 0.12, 0.15, 0.21]):
        rows += _run(f"mix-{k}", "mixup α=0.2 lr=0.001", {0: 0.27, 10: gap, 20: gap}, distance=gap ** 3)
    arms = arm_calibrations(rows, TOY, FailureRule("modes_near"))
    assert [a.arm for a in arms] == ["erm", "mixup α=0.2"]
    assert [a.rho for a in arms] == pytest.approx([1.0, 1.0])
    assert [a.failed for a in arms] == [2, 0]
    (pooled,) = pooled_calibration(arms)
    assert pooled.distance_metric == "sliced_wasserstein" and pooled.runs == 8
    assert pooled.rho == pytest.approx(1.0) and pooled.rho_p < 1e-6
    assert (pooled.failed, pooled.not_failed) == (2, 6)
    assert pooled.failed_median_gap == pytest.approx(0.38)
    # The two failed runs have the two largest gaps of eight: U = 12 of 12, exact two-sided p = 2 / C(8, 2) = 1/14.
    assert pooled.mannwhitney_p == pytest.approx(1 / 14)
    text = calibration_markdown(arms, [pooled])
    assert "| ring8 | erm | P(real) | 4 | 2/4 | 0.340 | 0.340 | 0.03971 | +1.00 |" in text
    assert "| ring8 | sliced_wasserstein | 8 | +1.00 |" in text
    assert "| 0.380 (2) | 0.180 (6) | 0.0714 |" in text


def test_non_probability_ds_are_marked_from_the_registry():
    # wgan-gp's critic and r3gan's relativistic logit are no probability of "real"; erm with R1 (its setting names
    # only the regularizer) and cutmix's D are. Arms with no gap in any row get no entry.
    rows = (_run("w", "wgan-gp", {0: 0.27, 10: 0.3}, distance=1.0, objective="wgan-gp")
            + _run("r", "r3gan", {0: 0.27, 10: 0.3}, distance=1.0)
            + _run("e", "r1:10", {0: 0.27, 10: 0.3}, distance=1.0)
            + _run("c", "cutmix", {0: 0.27, 10: 0.3}, distance=1.0)
            + _run("h", "hinge", {0: None, 10: math.nan}, distance=1.0))
    arms = arm_calibrations(rows, TOY)
    assert {a.arm: a.probability for a in arms} == {"wgan-gp": False, "r3gan": False, "r1:10": True, "cutmix": True}
    text = calibration_markdown(arms, pooled_calibration(arms))
    assert "| ring8 | wgan-gp | † score |" in text and "| ring8 | r1:10 | P(real) |" in text
    assert "compare them with care" in text


def test_rows_without_the_probe_write_no_calibration_files(tmp_path):
    rows = [{k: v for k, v in row.items() if k != "calibration_gap"}
            for name in ("a", "b") for row in _run(name, "erm", {0: 0.27, 10: 0.3}, distance=1.0)]
    outputs = write_stability_report(rows, tmp_path)
    assert "calibration" not in outputs and "calibration_png" not in outputs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["survival.md", "survival.png"]
    # NaN gaps alone count as none
    nan_rows = [{**row, "calibration_gap": math.nan} for row in rows]
    write_stability_report(nan_rows, tmp_path)
    assert not (tmp_path / "calibration.md").exists()


def test_the_report_from_a_results_csv_alone(tmp_path):
    """``stability_report_from_csv`` (``gan-mixup metrics RESULTS_CSV``) writes calibration.md and calibration.png
    beside a results.csv whose rows carry the probe's columns."""
    rows = []
    for k, gap in enumerate([0.30, 0.33, 0.36, 0.39]):
        rows += _run(f"erm-{k}", "erm", {0: 0.27, 100: gap}, distance=gap * 2, objective="erm")
        rows += _run(f"mix-{k}", "mixup α=0.2", {0: 0.27, 100: gap - 0.15}, distance=gap, objective="mixup")
    for row in rows:
        row["seed"] = int(row["run"][-1])
    columns = list(dict.fromkeys(key for row in rows for key in row))
    results = tmp_path / "results.csv"
    with open(results, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    outputs = stability_report_from_csv(results)
    assert outputs["calibration"] == tmp_path / "calibration.md"
    text = outputs["calibration"].read_text()
    assert "| ring8 | erm | P(real) | 4 | 0/4 | 0.345 | 0.345 |" in text
    assert "| ring8 | mixup α=0.2 | P(real) | 4 | 0/4 | 0.195 | 0.195 |" in text
    png = outputs["calibration_png"]
    assert png == tmp_path / "calibration.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size < 150_000
    assert {"survival.md", "survival.png", "paired.md", "calibration.md", "calibration.png"} <= {p.name for p in tmp_path.iterdir()}


def test_probability_objectives_are_read_off_the_terms_without_touching_the_global_rng():
    import torch

    from gan_mixup.objectives import probability_objectives

    state = torch.random.get_rng_state()
    assert probability_objectives() == ["erm", "mixup", "manifold-mixup", "cutmix"]
    assert torch.equal(torch.random.get_rng_state(), state)

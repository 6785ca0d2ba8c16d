"""The calibration probe per arm over training: does an arm's D stay nearer the line λ, and does that go
with stability?

From ``collect_results`` (or ``read_results``) rows carrying ``calibration_gap`` (the mean over the probe's
λ grid of |σ(D(λ·real + (1−λ)·fake)) − λ|, ``gan_mixup.probes``): per dataset x arm (``survival.arm_of``),
the gap's median and quartiles over the arm's runs at each snapshot iteration; per run its mean gap over
its snapshots after iteration 0, its last snapshot's gap, whether it failed (``survival.run_outcome``) and
its final distance to the data; per arm the medians of those and the within-arm Spearman correlation of
mean gap against final distance; per dataset the same correlation over all runs, with its p-value, and a
Mann–Whitney test of the mean gap of failed against not-failed runs (``scipy.stats``, as
``gan_mixup.sweeps.paired`` uses it).

Example:
    >>> rows = [{"dataset": "ring8", "setting": s, "run": f"{s}-{k}", "iteration": it, "calibration_gap": gap,
    ...          "sliced_wasserstein": 0.1 * (k + 1)}
    ...         for s, base in (("erm", 0.3), ("mixup α=0.2", 0.2)) for k in range(2) for it, gap in ((0, 0.27), (100, base))]
    >>> arms = arm_calibrations(rows, {"ring8": "sliced_wasserstein"})
    >>> [(a.arm, a.iterations, a.median) for a in arms]
    [('erm', (0, 100), (0.27, 0.3)), ('mixup α=0.2', (0, 100), (0.27, 0.2))]
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from gan_mixup.sweeps.survival import FailureRule, arm_of, default_rule, run_outcome
from gan_mixup.verdicts import as_float, final_value

GAP = "calibration_gap"
# Fewer runs than this give no rank correlation (with three, ρ takes only four values).
MIN_RANK_RUNS = 4


@dataclass(frozen=True)
class RunGap:
    """One run's calibration gap and how it ended."""

    dataset: str
    arm: str
    run: str
    mean_gap: float  # mean of its finite gaps after iteration 0 (nan: none)
    last_gap: float  # its last snapshot's gap (nan where that snapshot has none, or it stopped on a non-finite loss)
    failed: bool  # by ``survival.run_outcome`` with the report's rule
    final_distance: float  # its last snapshot's distance to the data (the modality's ``distance_metric``; nan as last_gap)


@dataclass(frozen=True)
class ArmCalibration:
    """One dataset x arm: the gap over training (median and quartiles over its runs at each iteration
    where some run has a finite gap), and per-run summaries with their medians."""

    dataset: str
    arm: str
    probability: bool  # D's output is the logit of P(real) (``objectives.probability_objectives``)
    distance_metric: str  # the dataset's distance to the data (``frechet``, ``sliced_wasserstein``)
    iterations: tuple[int, ...]
    median: tuple[float, ...]
    lower: tuple[float, ...]  # first quartile
    upper: tuple[float, ...]  # third quartile
    counted: tuple[int, ...]  # runs with a finite gap at each iteration
    runs: tuple[RunGap, ...]
    median_mean_gap: float
    median_last_gap: float
    failed: int
    median_final_distance: float
    rho: float  # Spearman ρ of mean gap against final distance over the arm's runs (nan: < 4 runs, or constant)


@dataclass(frozen=True)
class PooledCalibration:
    """One dataset over all its runs: does a smaller mean gap go with a smaller final distance, and with
    not failing?"""

    dataset: str
    distance_metric: str
    runs: int  # runs with a finite mean gap and final distance (those the correlation ranks)
    rho: float
    rho_p: float  # two-sided, ``scipy.stats.spearmanr`` (its t approximation)
    failed: int  # runs with a finite mean gap, failed or not (those the Mann–Whitney test compares)
    not_failed: int
    failed_median_gap: float
    not_failed_median_gap: float
    mannwhitney_p: float  # two-sided ``scipy.stats.mannwhitneyu``; nan unless both groups have runs


def has_calibration(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Some row carries a finite calibration gap (results written before the probe have none)."""
    return any(math.isfinite(as_float(row.get(GAP))) for row in rows)


def objective_of(row: Mapping[str, Any]) -> str:
    """A row's objective: its ``objective`` column, else its setting's first name (``erm+r1:10[paper-code]
    α=0.2`` -> ``erm``; a regularizer alone, ``r1:10``, is the standard GAN with it)."""
    from gan_mixup.objectives import OBJECTIVES

    if row.get("objective"):
        return str(row["objective"])
    name = str(row.get("setting", "")).split(" ")[0].split("[")[0].split("+")[0]
    return name if name in OBJECTIVES else "erm"


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman's ρ of ``x`` against ``y`` and its two-sided p-value (``scipy.stats.spearmanr``);
    ``(nan, nan)`` with fewer than ``MIN_RANK_RUNS`` pairs or when either side is constant.

    Example:
        >>> spearman([1, 2, 3, 4], [10, 20, 30, 45])[0]
        1.0
    """
    from scipy.stats import spearmanr

    if len(x) < MIN_RANK_RUNS or len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan, math.nan
    result = spearmanr(x, y)
    return float(result.statistic), float(result.pvalue)


def _median(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


def run_gaps(rows: Sequence[Mapping[str, Any]], distance: Mapping[str, str],
             rule: FailureRule | None = None) -> list[RunGap]:
    """One ``RunGap`` per run of ``rows``; ``distance``: each dataset's distance metric (``frechet``,
    ``sliced_wasserstein``); ``rule``: when a run failed (default ``survival.default_rule``)."""
    rule = rule or default_rule(rows)
    runs: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        key = (str(row["dataset"]), arm_of(row["setting"]), str(row["run"]))
        runs.setdefault(key, []).append(row)
    out = []
    for (dataset, arm, name), run in runs.items():
        ordered = sorted(run, key=lambda row: row["iteration"])
        later = [as_float(row.get(GAP)) for row in ordered if row["iteration"] > 0]
        last = ordered[-1]
        out.append(RunGap(dataset, arm, name, _mean(later), final_value(last, GAP),
                          run_outcome(ordered, rule).failed, final_value(last, distance.get(dataset, ""))))
    return out


def _mean(values: Sequence[float]) -> float:
    """The mean of the finite ``values``; nan when there are none."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def arm_calibrations(rows: Sequence[Mapping[str, Any]], distance: Mapping[str, str],
                     rule: FailureRule | None = None) -> list[ArmCalibration]:
    """Per dataset x arm (in the order the rows first give them) the gap over training and its run
    summaries; an arm none of whose rows has a finite gap is left out. ``distance`` and ``rule``: as
    ``run_gaps``."""
    from gan_mixup.objectives import probability_objectives

    probabilities = set(probability_objectives())
    gaps = run_gaps(rows, distance, rule)
    by_arm: dict[tuple[str, str], dict[int, list[float]]] = {}
    objective: dict[tuple[str, str], str] = {}
    for row in rows:
        key = (str(row["dataset"]), arm_of(row["setting"]))
        objective.setdefault(key, objective_of(row))
        gap = as_float(row.get(GAP))
        if math.isfinite(gap):
            by_arm.setdefault(key, {}).setdefault(int(row["iteration"]), []).append(gap)
    arms = []
    for (dataset, arm), at in by_arm.items():
        iterations = tuple(sorted(at))
        quartiles = [np.percentile(at[it], (25, 50, 75)) for it in iterations]
        runs = tuple(g for g in gaps if (g.dataset, g.arm) == (dataset, arm))
        ranked = [(g.mean_gap, g.final_distance) for g in runs if math.isfinite(g.mean_gap) and math.isfinite(g.final_distance)]
        arms.append(ArmCalibration(
            dataset=dataset, arm=arm, probability=objective[(dataset, arm)] in probabilities,
            distance_metric=distance.get(dataset, ""), iterations=iterations,
            median=tuple(float(q[1]) for q in quartiles), lower=tuple(float(q[0]) for q in quartiles),
            upper=tuple(float(q[2]) for q in quartiles), counted=tuple(len(at[it]) for it in iterations), runs=runs,
            median_mean_gap=_median([g.mean_gap for g in runs]), median_last_gap=_median([g.last_gap for g in runs]),
            failed=sum(g.failed for g in runs), median_final_distance=_median([g.final_distance for g in runs]),
            rho=spearman([x for x, _ in ranked], [y for _, y in ranked])[0]))
    return arms


def pooled_calibration(arms: Sequence[ArmCalibration]) -> list[PooledCalibration]:
    """Per dataset, over the runs of all its arms: Spearman ρ of mean gap against final distance (runs
    with both finite) and the Mann–Whitney test of the mean gap of failed against not-failed runs."""
    from scipy.stats import mannwhitneyu

    out = []
    for dataset in dict.fromkeys(a.dataset for a in arms):
        runs = [g for a in arms if a.dataset == dataset for g in a.runs if math.isfinite(g.mean_gap)]
        ranked = [g for g in runs if math.isfinite(g.final_distance)]
        rho, p = spearman([g.mean_gap for g in ranked], [g.final_distance for g in ranked])
        failed = [g.mean_gap for g in runs if g.failed]
        alive = [g.mean_gap for g in runs if not g.failed]
        mw = math.nan
        if failed and alive:
            with warnings.catch_warnings():  # identical samples: scipy warns and gives p = 1, which stands
                warnings.simplefilter("ignore", RuntimeWarning)
                mw = float(mannwhitneyu(failed, alive, alternative="two-sided").pvalue)
        metric = next(a.distance_metric for a in arms if a.dataset == dataset)
        out.append(PooledCalibration(dataset, metric, len(ranked), rho, p, len(failed), len(alive),
                                     _median(failed), _median(alive), mw))
    return out


def _num(value: float, fmt: str = "{:.3f}") -> str:
    return fmt.format(value) if math.isfinite(value) else "–"


def calibration_markdown(arms: Sequence[ArmCalibration], pooled: Sequence[PooledCalibration]) -> str:
    """``calibration.md``: the per-arm table, the per-dataset tests, and how to read them (which arms'
    σ(D) is no probability, marked †)."""
    lines = ["# Calibration probe per arm",
             "",
             "The calibration gap is the mean over λ = 0, 0.1, ..., 1 of |mean σ(D(λ·real + (1−λ)·fake)) − λ|: D's distance "
             "from the line λ that mixup's target draws (0 on the line; about 0.27 for a D that answers ½ everywhere; 0.5 for "
             "one that says \"fake\" everywhere). Per arm (a setting less its hyperparameter axes, over every setting and "
             "seed): *mean gap*, each run's mean over its snapshots after iteration 0, then the median over the arm's runs; "
             "*final gap*, the median of each run's gap at its last snapshot; *failed*, as in survival.md; *final distance*, "
             "the median of each run's distance to the data at its last snapshot (the dataset's *distance* below: Fréchet for "
             "images, sliced Wasserstein for toy data); *ρ*, Spearman's rank correlation of a "
             "run's mean gap against its final distance within the arm (– : fewer than 4 runs, or constant). "
             "calibration.png draws the gap's median and quartiles over training per arm.",
             "",
             "σ(D) is D's probability of \"real\" only where D's output is the logit of that probability: objectives whose D "
             "loss is BCE on D's own logit (`objectives.probability_objectives()`: erm, mixup and the mixing family, with any "
             "regularizer such as R1, DiffAugment or bCR). For a critic (wgan-gp), a hinge margin, a least-squares "
             "regression or a relativistic difference (r3gan) σ only squashes a score that is no probability: the gap "
             "mixes the curve's shape with the output's scale. Such arms are marked †; compare them with care.",
             "",
             "| dataset | arm | D | runs | failed | mean gap | final gap | final distance | ρ (gap, distance) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for a in arms:
        lines.append(f"| {a.dataset} | {a.arm} | {'P(real)' if a.probability else '† score'} | {len(a.runs)} | "
                     f"{a.failed}/{len(a.runs)} | {_num(a.median_mean_gap)} | {_num(a.median_last_gap)} | "
                     f"{_num(a.median_final_distance, '{:.4g}')} | {_num(a.rho, '{:+.2f}')} |")
    lines += ["", "## Over all runs of a dataset", "",
              "*ρ*: Spearman's rank correlation of mean gap against final distance over every run with both finite "
              "(`scipy.stats.spearmanr`, two-sided p from its t approximation; positive: runs nearer the line end nearer "
              "the data). *Mann–Whitney*: the mean gap of failed against not-failed runs (`scipy.stats.mannwhitneyu`, "
              "two-sided; – unless both groups have runs). Arms of different objectives are pooled here, † ones too.",
              "",
              "| dataset | distance | runs ranked | ρ | p | failed: median mean gap | not failed: median mean gap | Mann–Whitney p |",
              "|---|---|---|---|---|---|---|---|"]
    for p in pooled:
        lines.append(f"| {p.dataset} | {p.distance_metric} | {p.runs} | {_num(p.rho, '{:+.2f}')} | {_num(p.rho_p, '{:.3g}')} | "
                     f"{_num(p.failed_median_gap)} ({p.failed}) | {_num(p.not_failed_median_gap)} ({p.not_failed}) | "
                     f"{_num(p.mannwhitney_p, '{:.3g}')} |")
    return "\n".join(lines) + "\n"

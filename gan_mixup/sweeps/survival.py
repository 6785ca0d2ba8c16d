"""How long a sweep's runs survive: Kaplan–Meier curves of the fraction of runs not yet failed
(diverged or collapsed) against iteration, per arm (objective, preset and α, over every
hyperparameter setting and seed), and the median time to failure.

A run *fails* at the first snapshot from which every later snapshot it recorded is failed
(``FailureRule``): diverged (stopped on a non-finite loss, or most samples outside the frame) or
collapsed (fewer modes than the rule asks) after it had all of them once; a run that never had them
fails where it diverged, or else at its first judged snapshot (it never trained). A run that is not
failed at its last snapshot is *censored* there: it survived as far as it was watched, whether it
finished or was interrupted.

Example:
    >>> rows = [{"dataset": "ring8", "setting": "erm", "run": "a", "iteration": 0, "modes_covered": 8, "modes_total": 8},
    ...         {"dataset": "ring8", "setting": "erm", "run": "a", "iteration": 100, "modes_covered": 2, "modes_total": 8},
    ...         {"dataset": "ring8", "setting": "erm", "run": "b", "iteration": 0, "modes_covered": 8, "modes_total": 8},
    ...         {"dataset": "ring8", "setting": "erm", "run": "b", "iteration": 200, "modes_covered": 8, "modes_total": 8}]
    >>> curve = survival_curves(rows)[0]
    >>> curve.times, curve.survival, curve.median
    ([100], [0.5], 100)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from gan_mixup.sweeps.plan import HYPERPARAMETER_AXES
from gan_mixup.verdicts import DIVERGED_OUTSIDE, as_float


@dataclass(frozen=True)
class FailureRule:
    """When a snapshot counts as failed: diverged, or fewer than ``collapse_fraction`` of the run's
    modes by ``collapse_metric`` (``modes_covered``: high-quality coverage; ``modes_near``: the toy's
    within-10σ count). Snapshots before iteration ``grace`` are not judged (what G draws before it
    has learned anything is no collapse); ``collapse_metric=""`` judges divergence alone."""

    collapse_metric: str = "modes_covered"
    collapse_fraction: float = 1.0
    grace: int = 0

    def diverged(self, row: dict[str, Any], *, last: bool) -> bool:
        """``row`` (a ``collect_results`` row) is diverged; ``last``: it is its run's last snapshot, where a
        run stopped on a non-finite loss is diverged (its status holds for the run, not each row)."""
        return (last and row.get("status") == "diverged") or as_float(row.get("outside_frame")) > DIVERGED_OUTSIDE

    def collapsed(self, row: dict[str, Any]) -> bool:
        """``row`` has fewer than ``collapse_fraction`` of its modes by ``collapse_metric``."""
        if not self.collapse_metric:
            return False
        total = as_float(row.get("modes_total"))
        modes = as_float(row.get(self.collapse_metric))
        return math.isfinite(total) and total > 0 and math.isfinite(modes) and modes < self.collapse_fraction * total


def default_rule(rows: Iterable[dict[str, Any]]) -> FailureRule:
    """The rule a report uses unless told: toy rows (with ``modes_near``) collapse below all modes within
    10σ, since almost no toy run covers every mode at the strict 3σ; image rows below all modes covered."""
    return FailureRule("modes_near" if any(row.get("modes_near") is not None for row in rows) else "modes_covered")


@dataclass(frozen=True)
class RunOutcome:
    """One run's time to failure: ``iteration`` it failed at, or was censored at (``failed`` False), and
    why: ``diverged``, ``collapsed`` (lost modes it had), ``untrained`` (never had them), or ``""``."""

    run: str
    iteration: int
    failed: bool
    cause: str = ""


def run_outcome(run: Sequence[dict[str, Any]], rule: FailureRule) -> RunOutcome:
    """The outcome of one run's rows (any order): failed at the start of its final stretch of diverged
    snapshots, or of collapsed ones after it had all its modes once; failed at its first judged snapshot
    when it never had them (and never diverged); else censored at its last snapshot.

    Example:
        >>> run = [{"run": "r", "iteration": i, "modes_covered": m, "modes_total": 8}
        ...        for i, m in [(0, 1), (10, 8), (20, 3), (30, 8), (40, 2), (50, 2)]]
        >>> run_outcome(run, FailureRule())
        RunOutcome(run='r', iteration=40, failed=True, cause='collapsed')
    """
    ordered = sorted(run, key=lambda row: row["iteration"])
    judged = [row for row in ordered if row["iteration"] >= rule.grace] or ordered[-1:]
    name = str(ordered[-1].get("run", ""))
    since, cause, alive_once, collapsed = None, "", False, False
    for i, row in enumerate(judged):
        collapsed = rule.collapsed(row)
        diverged = rule.diverged(row, last=i == len(judged) - 1)
        if diverged or (collapsed and alive_once):
            if since is None:
                since, cause = row["iteration"], ""
            cause = cause or ("diverged" if diverged else "")  # the stretch ends diverged if any of it is
        else:
            since = None
            alive_once = alive_once or not collapsed
    if since is not None:
        return RunOutcome(name, int(since), True, cause or "collapsed")
    if collapsed:  # never had every mode, never diverged: it never trained
        return RunOutcome(name, int(judged[0]["iteration"]), True, "untrained")
    return RunOutcome(name, int(ordered[-1]["iteration"]), False)


def kaplan_meier(outcomes: Sequence[RunOutcome]) -> tuple[list[int], list[float], list[int]]:
    """The Kaplan–Meier estimate: the event iterations, the fraction surviving just after each, and
    the runs at risk there. At a tie a censored run counts as at risk (censoring after the events).

    Example:
        >>> kaplan_meier([RunOutcome("a", 10, True), RunOutcome("b", 20, False), RunOutcome("c", 30, True)])
        ([10, 30], [0.6666666666666667, 0.0], [3, 1])
    """
    times = sorted({o.iteration for o in outcomes if o.failed})
    survival, at_risk, s = [], [], 1.0
    for t in times:
        n = sum(1 for o in outcomes if o.iteration >= t)
        d = sum(1 for o in outcomes if o.failed and o.iteration == t)
        s *= 1.0 - d / n
        survival.append(s)
        at_risk.append(n)
    return times, survival, at_risk


def median_time(times: Sequence[int], survival: Sequence[float]) -> int | None:
    """The first event iteration where the survival fraction falls to 0.5 or below; None if it never does."""
    return next((t for t, s in zip(times, survival) if s <= 0.5), None)


def arm_of(setting: str) -> str:
    """A setting's name less its hyperparameter axes (lr, β1, D steps, batch): the objective with its
    regularizers, preset and α, the unit the survival curves and paired tests compare.

    Example:
        >>> arm_of("mixup[paper-code] α=0.2 lr=0.001 β1=0.5")
        'mixup[paper-code] α=0.2'
    """
    return " ".join(token for token in str(setting).split(" ") if not _is_hyperparameter(token))


def hyperparameters_of(setting: str) -> str:
    """A setting's hyperparameter axes, what ``arm_of`` leaves out ("" for a setting without any).

    Example:
        >>> hyperparameters_of("mixup[paper-code] α=0.2 lr=0.001 β1=0.5")
        'lr=0.001 β1=0.5'
    """
    return " ".join(token for token in str(setting).split(" ") if _is_hyperparameter(token))


_HYPERPARAMETER_PREFIXES = tuple(f"{label}=" for label in HYPERPARAMETER_AXES.values())


def _is_hyperparameter(token: str) -> bool:
    return token.startswith(_HYPERPARAMETER_PREFIXES)


@dataclass
class SurvivalCurve:
    """One arm's Kaplan–Meier curve over its runs (every hyperparameter setting and seed)."""

    dataset: str
    arm: str
    runs: int
    failures: int
    times: list[int]  # event iterations
    survival: list[float]  # fraction not yet failed just after each event
    at_risk: list[int]
    median: int | None  # median iteration to failure; None: half the runs never failed while watched
    last: int  # the last iteration any run was watched to
    outcomes: list[RunOutcome]


def survival_curves(rows: Sequence[dict[str, Any]], rule: FailureRule | None = None) -> list[SurvivalCurve]:
    """Kaplan–Meier curves per dataset x arm (``arm_of``) from ``collect_results`` rows (or
    ``read_results`` rows of a results.csv), with ``rule`` (default ``default_rule``)."""
    rule = rule or default_rule(rows)
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        groups.setdefault((str(row["dataset"]), arm_of(row["setting"])), {}).setdefault(str(row["run"]), []).append(row)
    curves = []
    for (dataset, arm), runs in groups.items():
        outcomes = [run_outcome(run, rule) for run in runs.values()]
        times, survival, at_risk = kaplan_meier(outcomes)
        curves.append(SurvivalCurve(dataset, arm, len(outcomes), sum(o.failed for o in outcomes), times, survival,
                                    at_risk, median_time(times, survival),
                                    max(int(row["iteration"]) for run in runs.values() for row in run), outcomes))
    return curves


def survival_markdown(curves: Sequence[SurvivalCurve], rule: FailureRule) -> str:
    """The median time to failure per arm, with the fraction surviving at a few iterations."""
    collapse = (f"or fewer than {rule.collapse_fraction:.0%} of the modes by `{rule.collapse_metric}`"
                if rule.collapse_metric else "(divergence alone)")
    lines = ["# Survival", "",
             "Kaplan–Meier over each arm's runs (every hyperparameter setting and seed). A run fails at the first snapshot "
             f"from which every later one is diverged (NaN/Inf, or over {DIVERGED_OUTSIDE:.0%} of the samples outside the "
             f"frame) {collapse}" + (f", judged from iteration {rule.grace:,}" if rule.grace else "") + "; a run alive at its "
             "last snapshot is censored there. *median*: the iteration by which half the runs had failed (– : never, "
             "while watched).", "",
             "| dataset | arm | runs | failed | of which diverged / collapsed / never trained | median iterations to failure "
             "| surviving at the end |",
             "|---|---|---|---|---|---|---|"]
    for c in curves:
        end = c.survival[-1] if c.survival else 1.0
        causes = " / ".join(str(sum(o.cause == k for o in c.outcomes)) for k in ("diverged", "collapsed", "untrained"))
        lines.append(f"| {c.dataset} | {c.arm} | {c.runs} | {c.failures}/{c.runs} | {causes} | "
                     f"{'–' if c.median is None else f'{c.median:,}'} | {end:.0%} (to {c.last:,}) |")
    return "\n".join(lines) + "\n"

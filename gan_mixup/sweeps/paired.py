"""Paired comparisons of a sweep's arms: each arm against a baseline (ERM) run by run on the same
dataset, hyperparameters and seed, at the runs' last snapshots: wins, losses and ties on a final
metric (a distance to the data, lower is better; modes, higher is better), a two-sided sign test
(``scipy.stats.binomtest`` on wins against losses) and a Wilcoxon signed-rank test on the
differences (``scipy.stats.wilcoxon``).

A run that diverged, or has no value of the metric, loses to one that has a value; two such runs
tie. Ties are left out of both tests, as the sign test has it.

Example:
    >>> rows = [{"dataset": "d", "setting": s, "seed": seed, "run": f"{s}{seed}", "iteration": 10, "frechet": f}
    ...         for s, seed, f in [("erm", 0, 9.0), ("erm", 1, 8.0), ("mixup", 0, 5.0), ("mixup", 1, 6.0)]]
    >>> c = compare_arms(rows, "mixup", "erm", metric="frechet")
    >>> c.wins, c.losses, c.ties, c.sign_p
    (2, 0, 0, 0.5)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from gan_mixup.errors import GanMixupError
from gan_mixup.metric_registry import METRICS
from gan_mixup.sweeps.survival import arm_of
from gan_mixup.verdicts import as_float, has_diverged


class PairingError(GanMixupError, ValueError):
    """Arms that cannot be paired: unknown, or no baseline to name."""


@dataclass
class PairedComparison:
    """One arm against another on one metric, over the runs the two share a pairing key with."""

    dataset: str
    arm: str
    baseline: str
    metric: str
    pairs: int
    wins: int  # the arm's run is better than its baseline pair
    losses: int
    ties: int
    sign_p: float  # two-sided binomial test of wins against losses (nan: no untied pair)
    wilcoxon_p: float  # two-sided Wilcoxon signed-rank test of the finite differences (nan: too few)
    median_difference: float  # median of arm - baseline over the pairs where both have a value
    sign_holm: float = math.nan  # sign_p adjusted (Holm) over the comparisons of one table's dataset and metric
    wilcoxon_holm: float = math.nan  # wilcoxon_p adjusted the same way


def last_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run's last snapshot row (runs that a ``status`` calls ``unfinished`` left out)."""
    last: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("status") == "unfinished":
            continue
        if row["run"] not in last or row["iteration"] > last[row["run"]]["iteration"]:
            last[row["run"]] = row
    return list(last.values())


def pairing_key(row: dict[str, Any]) -> tuple[str, str, str]:
    """What two paired runs share: dataset, the setting's hyperparameter axes, seed.

    Example:
        >>> pairing_key({"dataset": "mnist-5k", "setting": "mixup α=0.2 lr=0.001 β1=0", "seed": 3})
        ('mnist-5k', 'lr=0.001 β1=0', '3')
    """
    arm = arm_of(row["setting"]).split(" ")
    axes = " ".join(token for token in str(row["setting"]).split(" ") if token not in arm)
    return str(row["dataset"]), axes, str(row["seed"])


def better(metric: str) -> int:
    """+1 when a higher value of ``metric`` is better, -1 when lower is (as registered; a metric registered
    with no direction, or not at all, is a distance unless its name says modes)."""
    if metric in METRICS and METRICS[metric].better is not None:
        return 1 if METRICS[metric].better == "higher" else -1
    return 1 if metric.startswith("modes") else -1


def _value(row: dict[str, Any], metric: str) -> float:
    """The run's final value, nan when it diverged (its last numbers describe no generator worth ranking)."""
    return math.nan if has_diverged(row) else as_float(row.get(metric))


def sign_test(wins: int, losses: int) -> float:
    """Two-sided sign test: the binomial probability, under p = 1/2, of a split at least as uneven.

    Example:
        >>> round(sign_test(5, 1), 4)  # 2 * (1 + 6) / 2**6
        0.2188
    """
    from scipy.stats import binomtest

    return float(binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else math.nan


def wilcoxon_test(differences: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value of ``differences`` (zeros dropped); nan with none non-zero."""
    from scipy.stats import wilcoxon

    nonzero = [d for d in differences if d != 0]
    if not nonzero:
        return math.nan
    return float(wilcoxon(nonzero).pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``pvalues`` (one family of tests), in their order; nan stays nan
    and is not counted in the family.

    Example:
        >>> [round(p, 4) for p in holm([0.01, 0.04, 0.03])]  # 0.01 x 3, then max(0.03 x 2, 0.03), then max(0.04 x 1, 0.06)
        [0.03, 0.06, 0.06]
    """
    order = sorted((p, i) for i, p in enumerate(pvalues) if math.isfinite(p))
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        adjusted[i] = running
    return adjusted


def compare_arms(rows: Sequence[dict[str, Any]], arm: str, baseline: str, *, metric: str,
                 dataset: str | None = None) -> PairedComparison:
    """``arm`` against ``baseline`` (``arm_of`` names) on ``metric`` at the runs' last snapshots, over
    the pairing keys (``pairing_key``) both have runs at; ``dataset`` picks one when the rows hold several."""
    import numpy as np

    ends = [r for r in last_rows(rows) if dataset is None or str(r["dataset"]) == dataset]
    mine = {pairing_key(r): r for r in ends if arm_of(r["setting"]) == arm}
    theirs = {pairing_key(r): r for r in ends if arm_of(r["setting"]) == baseline}
    known = {arm_of(r["setting"]) for r in ends}
    for name in (arm, baseline):
        if name not in known:
            raise PairingError(f"no run of {name!r} to pair (arms: {', '.join(sorted(known))})")
    sign = better(metric)
    wins = losses = ties = 0
    differences = []
    keys = sorted(mine.keys() & theirs.keys())
    for key in keys:
        a, b = _value(mine[key], metric), _value(theirs[key], metric)
        if math.isfinite(a) and math.isfinite(b):
            differences.append(a - b)
            wins += sign * (a - b) > 0
            losses += sign * (a - b) < 0
            ties += a == b
        elif math.isfinite(a) or math.isfinite(b):
            wins += math.isfinite(a)
            losses += math.isfinite(b)
        else:
            ties += 1
    return PairedComparison(dataset or (keys[0][0] if keys else ""), arm, baseline, metric, len(keys), wins, losses, ties,
                            sign_test(wins, losses), wilcoxon_test(differences),
                            float(np.median(differences)) if differences else math.nan)


def baseline_arm(rows: Sequence[dict[str, Any]]) -> str:
    """The arm whose objective is plain ERM (``erm``, with a preset or not, no regularizer); ``PairingError``
    when there is none or more than one."""
    arms = sorted({arm_of(r["setting"]) for r in rows})
    found = [a for a in arms if a.split(" ")[0].split("[")[0] == "erm"]
    if len(found) != 1:
        raise PairingError(f"name the baseline: {'no' if not found else 'several'} ERM arm(s) among {', '.join(arms)}")
    return found[0]


def against_baseline(rows: Sequence[dict[str, Any]], metrics: Sequence[str], baseline: str | None = None
                     ) -> list[PairedComparison]:
    """Every other arm against ``baseline`` (default ``baseline_arm``) on each of ``metrics``, per dataset."""
    out = []
    for dataset in sorted({str(r["dataset"]) for r in rows}):
        here = [r for r in rows if str(r["dataset"]) == dataset]
        base = baseline or baseline_arm(here)
        arms = [a for a in dict.fromkeys(arm_of(r["setting"]) for r in here) if a != base]
        out += [compare_arms(here, arm, base, metric=m, dataset=dataset) for arm in arms for m in metrics
                if any(r.get(m) is not None for r in here)]
    return out


def all_pairs(rows: Sequence[dict[str, Any]], metrics: Sequence[str], arm: str | None = None) -> list[PairedComparison]:
    """Each arm against each other (every unordered pair once), or with ``arm`` that one against each other."""
    out = []
    for dataset in sorted({str(r["dataset"]) for r in rows}):
        here = [r for r in rows if str(r["dataset"]) == dataset]
        arms = list(dict.fromkeys(arm_of(r["setting"]) for r in here))
        pairs = ([(arm, other) for other in arms if other != arm] if arm is not None
                 else [(a, b) for i, a in enumerate(arms) for b in arms[i + 1:]])
        out += [compare_arms(here, a, b, metric=m, dataset=dataset) for a, b in pairs for m in metrics
                if any(r.get(m) is not None for r in here)]
    return out


def with_holm(comparisons: Sequence[PairedComparison]) -> list[PairedComparison]:
    """``comparisons`` with ``sign_holm`` and ``wilcoxon_holm`` set: each test's p-values adjusted by Holm
    within each family of one dataset and one metric (e.g. every arm against ERM on the Fréchet distance)."""
    from dataclasses import replace

    out = list(comparisons)
    families: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(out):
        families.setdefault((c.dataset, c.metric), []).append(i)
    for members in families.values():
        signs = holm([out[i].sign_p for i in members])
        wilcoxons = holm([out[i].wilcoxon_p for i in members])
        for i, sign, wilcoxon in zip(members, signs, wilcoxons):
            out[i] = replace(out[i], sign_holm=sign, wilcoxon_holm=wilcoxon)
    return out


def paired_markdown(comparisons: Sequence[PairedComparison], title: str = "# Paired comparisons") -> str:
    """A table of ``comparisons``: pairs, wins/losses/ties, the median difference, both p-values and each
    one's Holm-adjusted value within each dataset and metric (``with_holm``)."""
    comparisons = with_holm(comparisons)
    lines = [title, "",
             "Each arm's run against the other arm's run on the same dataset, hyperparameters and seed, at their last "
             "snapshots. *win*: better on the metric (lower distance, more modes); a diverged run, or one without a "
             "value, loses to one with a value. Sign test: two-sided binomial on wins against losses (ties left out); "
             "Wilcoxon: two-sided signed-rank test of the differences where both have a value (– : too few). *Holm*: the "
             "test's p adjusted (Holm) over this table's comparisons of the same dataset and metric.", "",
             "| dataset | arm | against | metric | pairs | wins / losses / ties | median difference | sign test p | Holm | "
             "Wilcoxon p | Holm |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        header = METRICS[c.metric].header if c.metric in METRICS else c.metric
        lines.append(f"| {c.dataset} | {c.arm} | {c.baseline} | {header} | {c.pairs} | {c.wins} / {c.losses} / {c.ties} | "
                     f"{_g(c.median_difference)} | {_g(c.sign_p)} | {_g(c.sign_holm)} | {_g(c.wilcoxon_p)} | "
                     f"{_g(c.wilcoxon_holm)} |")
    return "\n".join(lines) + "\n"


def _g(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "–"

"""The real-digit study in one page: per discriminator, each arm's outcomes from the study's reports, all
computed from the committed ``results.csv`` files by the library's own report functions, so every
number the README quotes has a file and a command behind it.

    python benchmarks/study_real_summary.py samples/study-real/bn samples/study-real/sn --out samples/study-real/summary.md

Each folder holds one D's ``results.csv`` (``make study-real-report``); its name labels the D. Per D and
arm: runs that *train* (the study's rule), runs that failed in the survival sense and why, the median
iteration to failure, the final Fréchet distance (median and quartiles), each arm against ERM on the
same setting and seed (final Fréchet and classes covered: wins / losses / ties, the sign test's and
Wilcoxon's p with their Holm-adjusted values over the arms), and the calibration probe's final gap.
Then mixup α = 0.2 against every other arm on the final Fréchet distance, and the protocol's primary
comparison (mixup α = 0.2 against ERM with SN-D) on a line of its own.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gan_mixup.errors import GanMixupError  # noqa: E402
from gan_mixup.rundir import write_text_atomic  # noqa: E402
from gan_mixup.sweeps.calibration import arm_calibrations, has_calibration  # noqa: E402
from gan_mixup.sweeps.paired import PairedComparison, PairingError, against_baseline, all_pairs, with_holm  # noqa: E402
from gan_mixup.sweeps.scorecard import read_results, robustness  # noqa: E402
from gan_mixup.sweeps.survival import arm_of, default_rule, hyperparameters_of, survival_curves  # noqa: E402

BASELINE = "erm"
MIXUP = "mixup α=0.2"
PRIMARY_D = "sn"  # the protocol's primary comparison: mixup α = 0.2 against ERM with SN-D, final Fréchet


def _g(value: float, fmt: str = "{:.3g}") -> str:
    return fmt.format(value) if math.isfinite(value) else "–"


def _quartiles(values: Sequence[float]) -> str:
    finite = sorted(v for v in values if math.isfinite(v))
    if not finite:
        return "–"
    if len(finite) < 2:
        return _g(finite[0])
    q1, q2, q3 = statistics.quantiles(finite, n=4, method="inclusive")
    return f"{_g(q2)} [{_g(q1)}–{_g(q3)}]"


def _versus(c: PairedComparison | None) -> str:
    if c is None:
        return "–"
    return (f"{c.wins} / {c.losses} / {c.ties}; sign p {_g(c.sign_p)} (Holm {_g(c.sign_holm)}), "
            f"Wilcoxon p {_g(c.wilcoxon_p)} (Holm {_g(c.wilcoxon_holm)})")


def extent(rows: Sequence[dict[str, Any]]) -> str:
    """What the page stands on: the runs, as arms x hyperparameter settings x seeds, and any that are missing or
    unfinished (a page made before the study is whole says so in its first lines)."""
    runs: dict[str, dict[str, Any]] = {}
    for row in rows:
        runs[str(row["run"])] = row  # any row: the status and setting are the run's
    arms = {arm_of(r["setting"]) for r in runs.values()}
    settings = {hyperparameters_of(r["setting"]) for r in runs.values()}
    seeds = {str(r["seed"]) for r in runs.values()}
    unfinished = sum(r.get("status") == "unfinished" for r in runs.values())
    stopped = sum(r.get("status") == "diverged" for r in runs.values())
    missing = len(arms) * len(settings) * len(seeds) - len(runs)
    gaps = [f"{n} {what}" for n, what in ((missing, "missing"), (unfinished, "unfinished, left out but for survival"))
            if n]
    whole = ", every one finished" + (f" or stopped on a non-finite loss ({stopped})" if stopped else "")
    return (f"{len(runs)} runs: {len(arms)} arms × {len(settings)} hyperparameter settings × {len(seeds)} seeds"
            + (f"; **not the whole grid: {', '.join(gaps)}**" if gaps else whole) + ".")


def d_summary(label: str, rows: Sequence[dict[str, Any]]) -> tuple[list[str], dict[str, PairedComparison]]:
    """The markdown table of one D, and mixup α = 0.2's comparisons against ERM by metric (for the primary line)."""
    rule = default_rule(rows)
    spreads = {s.arm: s for s in robustness(rows, min_settings=1)}
    curves = {c.arm: c for c in survival_curves(rows, rule)}
    try:
        against = with_holm(against_baseline(rows, ["frechet", "modes_covered"], BASELINE))
    except PairingError:
        against = []
    versus = {(c.arm, c.metric): c for c in against}
    gaps = {}
    if has_calibration(rows):
        gaps = {a.arm: a.median_last_gap for a in arm_calibrations(rows, {str(rows[0]["dataset"]): "frechet"}, rule)}
    lines = [f"## {label}", "", extent(rows), "",
             "| arm | trains | failed: diverged / collapsed / never trained | median iterations to failure | "
             "final Fréchet, median [quartiles] | against ERM, final Fréchet: wins / losses / ties | "
             "against ERM, classes covered | final calibration gap |",
             "|---|---|---|---|---|---|---|---|"]
    for arm, curve in curves.items():
        spread = spreads.get(arm)
        causes = [o.cause for o in curve.outcomes if o.failed]
        failed = (f"{curve.failures}/{curve.runs}: {causes.count('diverged')} / {causes.count('collapsed')} / "
                  f"{causes.count('untrained')}")
        lines.append(f"| {arm} | {f'{spread.trains}/{spread.runs}' if spread else '–'} | {failed} | "
                     f"{'–' if curve.median is None else f'{curve.median:,}'} | "
                     f"{_quartiles(spread.final['frechet']) if spread else '–'} | "
                     f"{'(baseline)' if arm == BASELINE else _versus(versus.get((arm, 'frechet')))} | "
                     f"{'(baseline)' if arm == BASELINE else _versus(versus.get((arm, 'modes_covered')))} | "
                     f"{_g(gaps.get(arm, math.nan), '{:.3f}')} |")
    mixup = {metric: c for (arm, metric), c in versus.items() if arm == MIXUP}
    return lines, mixup


def mixup_table(labelled: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> list[str]:
    """Mixup α = 0.2 against every other arm, per D, on the final Fréchet distance."""
    lines = ["## Mixup α = 0.2 against each other arm (final Fréchet distance, same setting and seed)", "",
             "Holm over this D's comparisons of mixup α = 0.2.", "",
             "| D | against | wins / losses / ties; tests |", "|---|---|---|"]
    for label, rows in labelled:
        try:
            comparisons = with_holm(all_pairs(rows, ["frechet"], arm=MIXUP))
        except PairingError:
            continue
        for c in comparisons:
            lines.append(f"| {label} | {c.baseline if c.arm == MIXUP else c.arm} | {_versus(c)} |")
    return lines


def summary(folders: Sequence[Path]) -> str:
    labelled = [(folder.name, read_results(folder / "results.csv")) for folder in folders]
    out = ["# The real-digit study: the numbers", "",
           "Made by `python benchmarks/study_real_summary.py " + " ".join(str(f) for f in folders) +
           " --out ...` from each D's `results.csv`. *trains*: the study's rule (all 10 classes, Fréchet ≤ 250, "
           "recall ≥ 0.5, not diverged); *failed*: the survival rule (diverged, or lost a class for good, or never "
           "had all 10); *final Fréchet*: over the runs with a final value (a run stopped on NaN/Inf has none: its last "
           "snapshot was taken before it diverged); Holm-adjusted p over the arms against ERM of one D and metric.", ""]
    primary = None
    for label, rows in labelled:
        lines, mixup = d_summary(label, rows)
        out += lines + [""]
        if label == PRIMARY_D:
            primary = mixup.get("frechet")
    out += mixup_table(labelled) + [""]
    if primary is not None:
        out += [f"**Primary comparison** (mixup α = 0.2 against ERM, SN-D, final Fréchet distance, {primary.pairs} "
                f"pairs): {_versus(primary)}; median difference {_g(primary.median_difference)}.", ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="each D's report folder, holding its results.csv")
    parser.add_argument("--out", type=Path, help="write the page here too (else print it only)")
    args = parser.parse_args()
    try:
        text = summary(args.folders)
    except (GanMixupError, OSError) as e:
        print(f"study_real_summary: error: {e}", file=sys.stderr)
        sys.exit(2)
    if args.out:  # written, not shown: a stage's log stays free of results the protocol reads only at the end
        write_text_atomic(args.out, text)
        print(f"summary: {args.out}")
    else:
        print(text)


if __name__ == "__main__":
    main()

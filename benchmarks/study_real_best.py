"""The real-digit study's "best other arm" for its Stacked MNIST stage, by the rule the protocol fixed
before any result was read (docs/evidence.md, "Real digits: the pre-registered stability study",
stage 5): of the arms other than ERM and mixup α = 0.2, the one with the most runs that *train*
over both discriminators' sweeps (every hyperparameter setting and seed, at the last snapshot;
``scorecard.robustness`` with the study's ``TRAINS_RULES``), ties broken by the lower median final
Fréchet distance over those runs (a run without one, diverged, counts as infinitely far), then by
name.

    python benchmarks/study_real_best.py samples/study-real/bn/results.csv samples/study-real/sn/results.csv
    python benchmarks/study_real_best.py ... --flags   # the arm's `gan-mixup sweep` flags alone (for make)

Only finished runs count (as everywhere in the reports); it refuses, exit 2, while the arms have
unequal numbers of them (a stage not finished: the ranking would favour the arms that ran more), or
fewer than the protocol's 24 each (``--runs``: 2 Ds x 4 settings x 3 seeds), as in a report made
after stage 2, whose arms are all equal.
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
from gan_mixup.sweeps.paired import last_rows  # noqa: E402
from gan_mixup.sweeps.scorecard import ArmSpread, read_results, robustness  # noqa: E402
from gan_mixup.sweeps.survival import arm_of  # noqa: E402

EXCLUDED = ("erm", "mixup α=0.2")  # stage 5 trains these two in any case
PROTOCOL_RUNS = 24  # each arm's runs over both Ds: 4 settings x 3 seeds x 2


def ranked_arms(results: Sequence[Path], runs: int = PROTOCOL_RUNS) -> list[tuple[ArmSpread, float]]:
    """Every arm of the sweeps' ``results`` but the ``EXCLUDED``, best first, each with its median final
    Fréchet distance; the runs of all the files pooled (run names are made unique per file), ``runs``
    finished ones per arm."""
    rows: list[dict[str, Any]] = []
    for k, path in enumerate(results):
        for row in read_results(path):
            rows.append({**row, "run": f"{k}/{row['run']}"})
    counts: dict[str, int] = {}
    for row in last_rows(rows):
        counts[arm_of(row["setting"])] = counts.get(arm_of(row["setting"]), 0) + 1
    numbers = set(counts.values())
    if len(numbers) > 1:
        raise GanMixupError("the arms have unequal numbers of finished runs (" +
                            ", ".join(f"{arm}: {n}" for arm, n in counts.items()) + "): finish the stage first")
    if numbers and numbers != {runs}:
        raise GanMixupError(f"each arm has {numbers.pop()} finished runs, not the protocol's {runs}: "
                            "finish the study and remake its reports first")
    spreads = [s for s in robustness(rows, min_settings=1) if s.arm not in EXCLUDED]
    if not spreads:
        raise GanMixupError(f"no arm other than {' and '.join(EXCLUDED)} in {', '.join(map(str, results))}")
    scored = [(s, statistics.median(v if math.isfinite(v) else math.inf for v in s.final[s.distance_metric]))
              for s in spreads]
    return sorted(scored, key=lambda item: (-item[0].trains, item[1], item[0].arm))


def arm_flags(results: Sequence[Path], arm: str) -> list[str]:
    """The ``gan-mixup sweep`` flags that train ``arm`` (its objective with regularizers, preset, α)."""
    for path in results:
        for row in read_results(path):
            if arm_of(row["setting"]) == arm:
                spec = "+".join(p for p in (row["objective"], row.get("regularizers", "")) if p)
                flags = ["--objectives", spec]
                if row.get("preset"):
                    flags += ["--preset", str(row["preset"])]
                if "α=" in arm:
                    flags += ["--alpha", f"{float(row['alpha']):g}"]
                return flags
    raise GanMixupError(f"no run of the arm {arm!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="the study's results.csv files (BN-D, SN-D)")
    parser.add_argument("--flags", action="store_true", help="print the best arm's sweep flags alone")
    parser.add_argument("--runs", type=int, default=PROTOCOL_RUNS,
                        help=f"finished runs each arm must have over the files (default {PROTOCOL_RUNS}, the protocol's)")
    args = parser.parse_args()
    missing = [str(path) for path in args.results if not path.is_file()]
    if missing:
        print(f"study_real_best: error: no {', '.join(missing)}: the whole study's reports come first "
              "(make study-real, then make study-real-report)", file=sys.stderr)
        sys.exit(2)
    try:
        ranked = ranked_arms(args.results, args.runs)
        best = ranked[0][0]
        flags = arm_flags(args.results, best.arm)
    except (GanMixupError, OSError) as e:
        print(f"study_real_best: error: {e}", file=sys.stderr)
        sys.exit(2)
    if args.flags:
        print(" ".join(flags))
        return
    print("| arm | runs | trains | median final Fréchet |\n|---|---|---|---|")
    for spread, median in ranked:
        print(f"| {spread.arm} | {spread.runs} | {spread.trains} | {median:.4g} |")
    print(f"\nbest other arm: {best.arm} ({' '.join(flags)})")


if __name__ == "__main__":
    main()

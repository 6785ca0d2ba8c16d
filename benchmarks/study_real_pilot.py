"""The real-digit study's pilot, summarised: ERM's Fréchet distance, recall and precision against
iteration for each D (BatchNorm, spectral norm) and pilot seed, beside real against real at the same
sample size, from the pilot sweeps' records alone (``results.csv`` is written from them).

    python benchmarks/study_real_pilot.py runs/study-real-pilot-bn runs/study-real-pilot-sn --out samples/study-real/pilot

writes ``pilot.csv`` (one row per D x run x metric snapshot), ``real.csv`` (real against real, per run),
``curve.png`` (the curves, log-scaled iterations) and ``pilot.md`` (each run's values at a few
iterations, the real ceiling, and the last snapshot's values the protocol's thresholds come from).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gan_mixup.rundir import write_csv, write_text_atomic  # noqa: E402
from gan_mixup.sweeps.scorecard import collect_results  # noqa: E402

METRICS = ("frechet", "precision", "recall", "coverage", "modes_covered", "kl_modes")
REAL = ("real_frechet", "real_precision", "real_recall", "real_coverage", "real_modes_covered", "real_kl_modes")


def real_ceiling(run_dir: Path) -> dict[str, float]:
    """Real against real at the run's metric sample size, as training recorded it (iteration 0)."""
    with open(run_dir / "metrics.jsonl", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record.get("kind") == "snapshot" and "real_frechet" in record:
                return {key: record[key] for key in REAL if key in record}
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweeps", nargs="+", type=Path, help="the pilot's sweep directories (…-bn, …-sn)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, reals = [], []
    for sweep in args.sweeps:
        d = "SN-D" if sweep.name.endswith("-sn") else "BN-D"
        for row in collect_results(sweep):
            rows.append({"d": d, "run": row["run"], "seed": row["seed"], "iteration": row["iteration"],
                         **{k: row.get(k) for k in METRICS}})
        for run_dir in sorted(p for p in sweep.iterdir() if (p / "metrics.jsonl").is_file()):
            reals.append({"d": d, "run": run_dir.name, **real_ceiling(run_dir)})
    write_csv(args.out / "pilot.csv", ("d", "run", "seed", "iteration", *METRICS), rows)
    write_csv(args.out / "real.csv", ("d", "run", *REAL), reals)
    plot(rows, reals, args.out / "curve.png")
    write_text_atomic(args.out / "pilot.md", table(rows, reals))
    print(table(rows, reals))


def plot(rows: list[dict], reals: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.4), dpi=100)
    axes = fig.subplots(1, 3)
    runs = list(dict.fromkeys((r["d"], r["run"]) for r in rows))
    for k, (d, run) in enumerate(runs):
        mine = sorted((r for r in rows if (r["d"], r["run"]) == (d, run)), key=lambda r: r["iteration"])
        style = "-" if d == "BN-D" else "--"
        for ax, metric in zip(axes, ("frechet", "recall", "precision")):
            xs = [max(r["iteration"], 1) for r in mine if r.get(metric) is not None]
            ax.plot(xs, [r[metric] for r in mine if r.get(metric) is not None], style, color=f"C{k}", lw=1.3,
                    label=f"{d} seed {mine[0]['seed']}")
    for ax, metric, title in zip(axes, ("frechet", "recall", "precision"), ("Fréchet distance", "recall", "precision")):
        level = [r[f"real_{metric}"] for r in reals if r.get(f"real_{metric}") is not None]
        if level:
            ax.axhline(sum(level) / len(level), color="black", lw=0.8, ls=":", label="real vs real")
        ax.set_xscale("log")
        if metric == "frechet":
            ax.set_yscale("log")
        ax.set_title(f"ERM pilot: {title}", fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)


def table(rows: list[dict], reals: list[dict]) -> str:
    lines = ["# The real-digit study's pilot (ERM, seeds 100-101, lr 2e-4, β1 0.5)", "",
             "Fréchet distance / recall / precision at each metric snapshot from 300 on (1,000 samples, digit-classifier "
             "features).", "", "| D | run | iteration | Fréchet | recall | precision | coverage | classes | KL(classes) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["d"], r["run"], r["iteration"])):
        if r["iteration"] >= 300:
            lines.append(f"| {r['d']} | {r['run']} | {r['iteration']} | {_f(r['frechet'], '.1f')} | {_f(r['recall'], '.2f')} | "
                         f"{_f(r['precision'], '.2f')} | {_f(r['coverage'], '.2f')} | {_f(r['modes_covered'], '.0f')} | "
                         f"{_f(r['kl_modes'], '.3f')} |")
    lines += ["", "Real against real (a second real sample of the same size, recorded at iteration 0):", "",
              "| D | run | Fréchet | recall | precision | coverage |", "|---|---|---|---|---|---|"]
    for r in reals:
        lines.append(f"| {r['d']} | {r['run']} | {_f(r.get('real_frechet'), '.1f')} | {_f(r.get('real_recall'), '.2f')} | "
                     f"{_f(r.get('real_precision'), '.2f')} | {_f(r.get('real_coverage'), '.2f')} |")
    return "\n".join(lines) + "\n"


def _f(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) and math.isfinite(value) else "–"


if __name__ == "__main__":
    main()

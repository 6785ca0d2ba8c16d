"""A sweep's results and its stability scorecard, from the member run directories alone.

``collect_results`` reads one row per member x snapshot iteration (``results.csv``, columns
``result_columns()``: the registered metrics, ``gan_mixup.metric_registry``); ``summarise`` scores each dataset x
setting over its seeds, at each run's last snapshot or as the runs stood at one iteration;
``robustness`` scores each objective over its hyperparameter settings; ``write_scorecard`` writes
``results.csv``, ``scorecard.md`` (a table at the last snapshot, then one at each of the paper's
iterations 1,000, 10,000 and 20,000 that the runs went through), ``scorecard.png`` and
``gradients.png`` (drawn by ``gan_mixup.render``), the robustness report, and the stability report
(``write_stability_report``: survival curves, the calibration probe per arm and paired tests, also from
a ``results.csv`` alone through ``read_results``).

Example:
    >>> from gan_mixup.sweeps.scorecard import collect_results, summarise
    >>> summaries = summarise(collect_results("runs/sweep"))  # doctest: +SKIP
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from gan_mixup.errors import GanMixupError
from gan_mixup.metric_registry import METRICS
from gan_mixup.metrics import evaluate_run, recorded_snapshot_metrics
from gan_mixup.modalities import REGISTRY, ModalitySpec, UnknownDatasetError, measuring_of, modality_named, modality_of
from gan_mixup.rundir import (
    CALIBRATION_MD_FILE,
    CALIBRATION_PNG_FILE,
    GRADIENTS_PNG_FILE,
    PAPER_ITERATIONS,
    RESULTS_FILE,
    ROBUSTNESS_MD_FILE,
    ROBUSTNESS_PNG_FILE,
    PAIRED_MD_FILE,
    SCORECARD_MD_FILE,
    SCORECARD_PNG_FILE,
    SURVIVAL_MD_FILE,
    SURVIVAL_PNG_FILE,
    read_reference,
    report_locked,
    write_csv,
    write_text_atomic,
)
from gan_mixup.sweeps.directory import SweepError, iter_member_dirs, member_status, read_sweep
from gan_mixup.verdicts import DIVERGED_OUTSIDE, as_float as _float, covered_since, final_value, has_diverged


# Diverged: at the end, more than this share of the samples lie outside the data's frame (or the run
# stopped on a non-finite loss). Stable: every snapshot from some iteration T <= STABLE_BY x the run
# length to the end covers all modes.
STABLE_BY = 0.5


# results.csv: the member's place in the sweep, the iteration, the registered metrics (``Metric.results``,
# in registration order: the built-in ones end with D's gradient norms), status and run.
# Every axis a setting is made of has a column of its own (``regularizers``: the objective spec's
# ``+r1:10+gp`` part, ``+``-joined; empty for none), so that grouping by ``objective`` never mixes them.
SETTING_AXES = ("objective", "regularizers", "preset", "alpha", "latent_dim", "lr", "beta1", "d_steps", "batch_size")
RESULT_HEAD = ("dataset", "setting", *SETTING_AXES, "seed", "iteration")
RESULT_TAIL = ("status", "run")
# D's gradient norms: the scorecard's last columns, after the verdicts.
GRADIENT_METRICS = ("d_grad_real", "d_grad_fake", "d_grad_mixed")
# The paper's iterations that get a scorecard table of their own (besides each run's last snapshot).
TABLE_ITERATIONS = tuple(it for it in PAPER_ITERATIONS if it >= 1_000)


def result_columns() -> tuple[str, ...]:
    """The columns of ``results.csv``: ``RESULT_HEAD``, the registered metrics, ``RESULT_TAIL``."""
    return RESULT_HEAD + tuple(m.name for m in METRICS.values() if m.results) + RESULT_TAIL


RESULT_COLUMNS = result_columns()


def collect_results(out_dir: str | Path, *, recompute: bool = False) -> list[dict[str, Any]]:
    """One row per member x snapshot iteration (``RESULT_COLUMNS``), from each member's
    ``metrics.jsonl`` (the metrics training recorded at its snapshots), or with ``recompute`` from
    its snapshot files (``evaluate_run``: toy runs get this version's metrics, image runs keep
    their records); members not started yet have no rows."""
    out_dir = Path(out_dir)
    columns = result_columns()
    rows = []
    for name, info in read_sweep(out_dir).items():
        run_dir = out_dir / name
        if recompute and (run_dir / "snapshots").is_dir():
            snapshots = evaluate_run(run_dir)
        else:
            snapshots = recorded_snapshot_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
        if not snapshots:
            continue
        total = _modes_total(run_dir, snapshots)
        status = member_status(run_dir, info["iterations"])
        place = {key: info.get(key) for key in ("dataset", "setting", *SETTING_AXES, "seed")}
        if "regularizers" not in info:  # a member described without them (docs/runs.md): its setting's spec names them
            place["regularizers"] = _regularizers_of(str(info.get("setting", "")))
        for record in snapshots:
            row = dict(place)
            row.update({key: record.get(key) for key in columns if key in record})
            row.update(iteration=record["iteration"], modes_total=total, status=status, run=name)
            rows.append(row)
    return rows


def _regularizers_of(setting: str) -> str:
    """``erm+r1:10+gp[paper-code] α=0.2`` -> ``r1:10+gp``: the regularizers a setting's name gives."""
    from gan_mixup.objectives import OBJECTIVES

    name, *regularizers = setting.split(" ")[0].split("[")[0].split("+")
    if name and name not in OBJECTIVES:  # a regularizer alone means the standard GAN with it
        regularizers = [name, *regularizers]
    return "+".join(regularizers)


def _modes_total(run_dir: Path, snapshots: list[dict[str, Any]]) -> int | None:
    """All the modes a run can cover: the toy data's mode count, or for images what the real data
    covers at the same sample size (recorded at iteration 0)."""
    try:
        reference = read_reference(run_dir)
        modality = modality_named(reference.modality)
    except GanMixupError:
        return None
    return measuring_of(modality).modes_total(reference, snapshots)


def write_results_csv(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """``rows`` (of ``collect_results``) as ``results.csv``: one row per run x snapshot iteration."""
    return write_csv(path, result_columns(), rows)


@dataclass
class SettingSummary:
    """One scorecard row: a dataset x setting over its seeds, at each run's last snapshot."""

    dataset: str
    setting: str
    arm: str  # the setting less its hyperparameter axes (``survival.arm_of``)
    hyperparameters: str  # those axes ("lr=0.001 β1=0"), "" for a sweep without any
    seeds: int  # the runs scored: finished or diverged
    iterations: int
    modes_total: int | None
    # metric -> one value per seed (``verdicts.final_value``: nan for one stopped on a non-finite loss)
    final: dict[str, list[float]]
    collapsed: float
    diverged: float
    stable: float
    stable_from: list[int]  # per stable seed: the iteration from which all modes stay covered
    curves: dict[str, tuple[np.ndarray, np.ndarray]]  # metric -> (iterations, values of shape (seeds, T))
    unfinished: int = 0  # runs left out of every number above: interrupted before their last iteration


def score_metrics() -> tuple[str, ...]:
    """The metrics a ``SettingSummary`` keeps: the scorecard's (and their older names), D's gradient norms."""
    return tuple(dict.fromkeys([*(key for m in METRICS.values() if m.scorecard for key in (m.name, *m.older)),
                                *GRADIENT_METRICS]))


SCORE_METRICS = score_metrics()


def summarise(rows: Sequence[dict[str, Any]], *, at: int | None = None) -> list[SettingSummary]:
    """Group ``collect_results`` rows by dataset x setting and score each group over its seeds.

    collapsed: fewer than all modes at the end. diverged: stopped on a non-finite loss, or more than
    ``DIVERGED_OUTSIDE`` of the samples outside the data's frame at the end. stable: all modes
    covered at every snapshot from some iteration T ≤ ``STABLE_BY`` x the run's length to the end.
    Runs whose rows say ``status`` ``unfinished`` (interrupted before their last iteration) are left
    out of the scores, whose "end" would otherwise mix iterations, and counted in ``unfinished``.

    With ``at``, every run as it stood at iteration ``at``: the runs with a snapshot there (finished
    or not), their rows up to it, ``at`` being "the end" (a run that diverged later had not yet).
    """
    from gan_mixup.sweeps.survival import arm_of, hyperparameters_of

    if at is not None:
        rows = _as_of(rows, at)
    metrics = score_metrics()
    groups: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["setting"]), {}).setdefault(row["run"], []).append(row)
    summaries = []
    for (dataset, setting), every in groups.items():
        every = {name: sorted(r, key=lambda row: row["iteration"]) for name, r in every.items()}
        runs = {name: run for name, run in every.items() if run[-1].get("status") != "unfinished"}
        lasts = [r[-1] for r in runs.values()]
        total = next(iter(every.values()))[-1].get("modes_total")
        iterations = max(r[-1]["iteration"] for r in (runs or every).values())
        final = {k: [final_value(last, k) for last in lasts] for k in metrics if any(last.get(k) is not None for last in lasts)}
        collapsed = diverged = 0
        stable_from = []
        for run in runs.values():
            last = run[-1]
            covered = _float(last.get("modes_covered"))
            if total is not None and not covered >= total:
                collapsed += 1
            if has_diverged(last):
                diverged += 1
            since = covered_since(run, total)
            if since is not None and since <= STABLE_BY * last["iteration"] and last.get("status") != "diverged":
                stable_from.append(since)
        scored = len(runs) or math.nan
        summaries.append(SettingSummary(
            dataset=dataset, setting=setting, arm=arm_of(setting), hyperparameters=hyperparameters_of(setting),
            seeds=len(runs), iterations=iterations, modes_total=total, final=final,
            collapsed=collapsed / scored, diverged=diverged / scored, stable=len(stable_from) / scored,
            stable_from=stable_from, curves=_curves(list(runs.values())) if runs else {},
            unfinished=len(every) - len(runs)))
    return summaries


def _as_of(rows: Sequence[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    """The rows up to iteration ``at`` of the runs that snapshotted it, as ``summarise`` scores them:
    finished there, unless ``at`` is where the run stopped on a non-finite loss."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        runs.setdefault(row["run"], []).append(row)
    out = []
    for run in runs.values():
        if not any(row["iteration"] == at for row in run):
            continue
        last = max(row["iteration"] for row in run)
        diverged_here = last == at and run[0].get("status") == "diverged"
        out += [{**row, "status": "diverged" if diverged_here else "finished"} for row in run if row["iteration"] <= at]
    return out


def table_iterations(rows: Sequence[dict[str, Any]]) -> list[int]:
    """The iterations of ``TABLE_ITERATIONS`` (the paper's 1,000, 10,000, 20,000) that some run
    snapshotted and some run of those went beyond: where a table adds to the last snapshot's."""
    last: dict[str, int] = {}
    reached: dict[int, set[str]] = {}
    for row in rows:
        last[row["run"]] = max(last.get(row["run"], row["iteration"]), row["iteration"])
        reached.setdefault(row["iteration"], set()).add(row["run"])
    return [it for it in TABLE_ITERATIONS if any(last[run] > it for run in reached.get(it, ()))]


def _curves(runs: list[list[dict[str, Any]]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metric, the values of every seed at the iterations all seeds snapshotted."""
    common = sorted(set.intersection(*(set(r["iteration"] for r in run) for run in runs)))
    out = {}
    for metric in ("modes_covered", "modes_near", "d_grad_real", "d_grad_fake", "d_grad_mixed", "kl_modes"):
        values = np.array([[_float(row.get(metric)) for row in run if row["iteration"] in common] for run in runs])
        if values.size and np.isfinite(values).any():
            out[metric] = (np.array(common), values)
    return out


# When a run "trains", fixed before the image study's runs were looked at (docs/evidence.md): at its
# last snapshot it covers every mode (digit class), and, where the domain classifier's features give
# them, at least this precision and recall (Kynkäänniemi et al. 2019, k = 3); toy runs: every mode
# within 10σ. Diverged runs never train.
TRAINS_PRECISION = 0.5


TRAINS_RECALL = 0.5


@dataclass(frozen=True)
class TrainsRule:
    """What an image run needs at its last snapshot, besides every mode and no divergence, to *train*:
    each threshold that is not None (precision and recall at least, the Fréchet distance at most)."""

    precision: float | None = TRAINS_PRECISION
    recall: float | None = TRAINS_RECALL
    frechet: float | None = None

    def passes(self, row: Mapping[str, Any]) -> bool:
        return ((self.precision is None or _float(row.get("precision")) >= self.precision)
                and (self.recall is None or _float(row.get("recall")) >= self.recall)
                and (self.frechet is None or _float(row.get("frechet")) <= self.frechet))

    def describe(self) -> str:
        parts = [f"precision ≥ {self.precision:g}" if self.precision is not None else "",
                 f"recall ≥ {self.recall:g}" if self.recall is not None else "",
                 f"Fréchet ≤ {self.frechet:g}" if self.frechet is not None else ""]
        return " and ".join(p for p in parts if p)


# The real-digit study's rule, fixed from its pilot on seeds the study does not use (docs/evidence.md,
# "Real digits: the pre-registered stability study"): real against real passes it by a wide margin and a
# decent ERM run passes it; every other dataset keeps the 8x8 study's precision and recall.
TRAINS_RULES: dict[str, TrainsRule] = {"mnist-5k": TrainsRule(precision=None, recall=0.5, frechet=250.0)}


def trains_rule(dataset: str) -> TrainsRule:
    """The *trains* rule of ``dataset``'s image runs: ``TRAINS_RULES``' entry, else precision and recall ≥ 0.5."""
    return TRAINS_RULES.get(dataset, TrainsRule())


@dataclass
class ArmSpread:
    """One arm's outcomes over every hyperparameter setting and seed of a sweep (the robustness
    view of Lucic et al. 2018): how often it trains, collapses or diverges. An arm is a setting less
    its hyperparameter axes (``survival.arm_of``: the objective with its regularizers, preset and α),
    the unit the survival curves and paired tests compare too."""

    dataset: str
    arm: str  # erm, mixup α=0.2, mixup[paper-code] α=0.2, erm+r1:10, ...
    settings: int  # hyperparameter settings (lr, β1, D steps, batch) of this arm
    runs: int  # finished runs over those settings and seeds
    trains: int
    collapsed: int | None  # None: no run's data has modes (label-free images), so none can collapse
    diverged: int
    distance_metric: str  # frechet (images) or sliced_wasserstein (toy)
    # metric -> one value per run (``verdicts.final_value``: nan for one stopped on a non-finite loss)
    final: dict[str, list[float]]


def robustness(rows: Sequence[dict[str, Any]], *, min_settings: int = 2) -> list[ArmSpread]:
    """Group ``collect_results`` rows by dataset x arm (``survival.arm_of``) across hyperparameter
    settings; unfinished runs are left out. Only arms trained at ``min_settings`` or more settings
    are reported (a spread over hyperparameters needs two; 1 gives every arm's outcomes)."""
    from gan_mixup.sweeps.survival import arm_of

    last: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("status") != "unfinished" and (row["run"] not in last or row["iteration"] > last[row["run"]]["iteration"]):
            last[row["run"]] = row
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in last.values():
        groups.setdefault((row["dataset"], arm_of(row["setting"])), []).append(row)
    spreads = []
    for (dataset, arm), runs in groups.items():
        settings = len({r["setting"] for r in runs})
        if settings < min_settings:
            continue
        distance = _modality_of(dataset, runs).distance_metric
        trains = collapsed = diverged = with_modes = 0
        for r in runs:
            total = _float(r.get("modes_total"))
            has_modes = math.isfinite(total) and total > 0  # label-free data: no mode, no collapse verdict
            with_modes += has_modes
            is_diverged = has_diverged(r)
            covered = _float(r.get("modes_covered")) >= total if has_modes else True
            if r.get("precision") is not None:
                good = covered and trains_rule(dataset).passes(r)
            else:
                good = has_modes and _float(r.get("modes_near")) >= total
            diverged += is_diverged
            collapsed += not covered and not is_diverged
            trains += good and not is_diverged
        final = {k: [final_value(r, k) for r in runs] for k in (distance, "modes_covered", "precision", "recall")}
        spreads.append(ArmSpread(dataset, arm, settings, len(runs), trains, collapsed if with_modes else None,
                                       diverged, distance, final))
    return spreads


def robustness_markdown(spreads: Sequence[ArmSpread]) -> str:
    lines = ["# Robustness over hyperparameters", "",
             "Each arm's runs (the objective with its regularizers, preset and α) at their last snapshot, over every "
             "hyperparameter setting (learning rate, β1, D steps, batch size) and seed; unfinished runs left out. *trains*: every mode covered and, for images, precision ≥ "
             f"{TRAINS_PRECISION:g} and recall ≥ {TRAINS_RECALL:g} (toy: every mode within 10σ), not diverged; *collapsed*: "
             "fewer than all modes covered (– where the data has no modes, as a label-free folder; such runs train on "
             "precision and recall alone); *diverged*: stopped on NaN/Inf (toy: or most samples outside the frame). "
             "Median [min–max] over the runs (a run stopped on NaN/Inf is left out, as in the box plots: its last "
             "snapshot was taken before it diverged; it counts under *diverged*)."
             + "".join(f" On {name}, *trains* asks {rule.describe()} instead (fixed from a pilot)."
                       for name, rule in TRAINS_RULES.items() if any(s.dataset == name for s in spreads)), "",
             "| dataset | arm | settings | runs | trains | collapsed | diverged | distance | modes covered | precision | recall |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in spreads:
        name = METRICS[s.distance_metric].header + " " if s.distance_metric in METRICS else ""
        lines.append(f"| {s.dataset} | {s.arm} | {s.settings} | {s.runs} | {s.trains}/{s.runs} | "
                     f"{'–' if s.collapsed is None else f'{s.collapsed}/{s.runs}'} | "
                     f"{s.diverged}/{s.runs} | {name}{_range(s.final.get(s.distance_metric), '{:.3g}')} | "
                     f"{_range(s.final.get('modes_covered'), '{:.0f}')} | {_range(s.final.get('precision'), '{:.2f}')} | "
                     f"{_range(s.final.get('recall'), '{:.2f}')} |")
    return "\n".join(lines) + "\n"


def write_scorecard(out_dir: str | Path, *, recompute: bool = False) -> dict[str, Path]:
    """(Re)write ``results.csv``, ``scorecard.md``, ``scorecard.png`` and ``gradients.png`` of a
    sweep directory from its members' records alone (``recompute``: toy metrics from the snapshot
    files, see ``collect_results``).

    Refused (``SweepError``, every file left as it is) when ``results.csv`` holds runs, or rows of
    runs, that the members' records give no more (a member folder deleted, its ``metrics.jsonl``
    deleted or cut): the old results are the only copy left. Delete ``results.csv`` to write it
    from what is there."""
    out_dir = Path(out_dir)
    with report_locked(out_dir):
        rows = collect_results(out_dir, recompute=recompute)
        _refuse_to_lose_runs(out_dir / RESULTS_FILE, rows)
        outputs = {"results": write_results_csv(rows, out_dir / RESULTS_FILE)}
        summaries = summarise(rows)
        md = out_dir / SCORECARD_MD_FILE
        write_text_atomic(md, scorecard_markdown(summaries, {it: summarise(rows, at=it) for it in table_iterations(rows)},
                                                 empty=None if rows else _why_no_rows(out_dir)))
        outputs["scorecard"] = md
        scored = [s for s in summaries if s.seeds]
        if scored:
            from gan_mixup.render import plot_gradient_norms, plot_mode_bands

            outputs["scorecard_png"] = plot_mode_bands(scored, out_dir / SCORECARD_PNG_FILE)
            if any("d_grad_fake" in s.curves for s in scored):
                outputs["gradients_png"] = plot_gradient_norms(scored, out_dir / GRADIENTS_PNG_FILE)
        outputs.update(write_stability_report(rows, out_dir))
    return outputs


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a sweep's ``results.csv`` as ``collect_results`` gives them (numbers as numbers, empty
    cells left out), so the reports below can be remade from that file alone, without the member runs.

    Example:
        >>> rows = read_results("samples/scorecard-full/results.csv")  # doctest: +SKIP
    """
    import csv

    text = ("dataset", "setting", "objective", "regularizers", "preset", "status", "run")
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        try:
            # Read whole before any report is written, so a damaged file writes none from its first part.
            lines = f.readlines()
        except UnicodeDecodeError:
            raise SweepError(f"{path} is not UTF-8 text, so no sweep's results.csv") from None
    if lines and not lines[-1].endswith("\n"):  # every row the sweep writes ends its line
        raise SweepError(f"{path}, line {len(lines)}: the file is cut short in this line: "
                         "write it again with `gan-mixup metrics SWEEP_DIR`")
    reader = csv.DictReader(lines)
    missing = [key for key in ("dataset", "setting", "seed", "iteration", "status", "run") if key not in (reader.fieldnames or ())]
    if missing:
        raise SweepError(f"{path} is no sweep's results.csv: no column {', '.join(missing)}")
    for raw in reader:
        line = reader.line_num
        if None in raw:  # DictReader's key for the cells past the header's columns
            raise SweepError(f"{path}, line {line}: more cells than the header's {len(reader.fieldnames)} columns; "
                             "the file is damaged: write it again with `gan-mixup metrics SWEEP_DIR`")
        if any(cell is None for cell in raw.values()):  # DictReader's value for the columns a row lacks
            raise SweepError(f"{path}, line {line}: fewer cells than the header's {len(reader.fieldnames)} columns; "
                             "the file is cut short or damaged: write it again with `gan-mixup metrics SWEEP_DIR`")
        row: dict[str, Any] = {}
        for key, cell in raw.items():
            if key in text:
                row[key] = cell
            elif cell != "":
                try:
                    number = float(cell)
                except ValueError:
                    raise SweepError(f"{path}, line {line}: {key} is {cell!r}, not a number") from None
                row[key] = int(number) if key in ("iteration", "seed") else number
        rows.append(row)
    if not rows:
        raise SweepError(f"{path} has a header and no rows: no run to report on")
    return rows


def stability_report_from_csv(path: str | Path) -> dict[str, Path]:
    """``write_stability_report`` from a sweep's ``results.csv`` alone, written beside it
    (``gan-mixup metrics RESULTS_CSV``)."""
    path = Path(path)
    with report_locked(path.parent):
        return write_stability_report(read_results(path), path.parent)


def write_stability_report(rows: Sequence[dict[str, Any]], out_dir: str | Path) -> dict[str, Path]:
    """Write the robustness report (``robustness.md``, ``robustness.png``: each arm's outcomes and final
    values over its hyperparameter settings and seeds, where an arm has two or more settings), the
    survival report (``survival.md``, ``survival.png``: Kaplan–Meier curves per arm and the median
    time to failure, ``gan_mixup.sweeps.survival``), where the rows carry the calibration probe
    ``calibration.md`` and ``calibration.png`` (its gap per arm over training, and against each run's
    outcome, ``gan_mixup.sweeps.calibration``) and, where two arms share seeds and settings,
    ``paired.md`` (each arm against ERM, and each against each other when there are more than two,
    ``gan_mixup.sweeps.paired``) from ``collect_results`` or ``read_results`` rows."""
    from gan_mixup.render import plot_calibration, plot_survival
    from gan_mixup.sweeps.calibration import arm_calibrations, calibration_markdown, has_calibration, pooled_calibration
    from gan_mixup.sweeps.paired import PairingError, against_baseline, all_pairs, paired_markdown
    from gan_mixup.sweeps.survival import arm_of, default_rule, survival_curves, survival_markdown

    out_dir = Path(out_dir)
    if not rows:
        return {}
    outputs = {}
    spreads = robustness(rows)
    if spreads:  # some arm was trained at several hyperparameter settings
        from gan_mixup.render import plot_robustness

        outputs["robustness"] = out_dir / ROBUSTNESS_MD_FILE
        write_text_atomic(outputs["robustness"], robustness_markdown(spreads))
        outputs["robustness_png"] = plot_robustness(spreads, out_dir / ROBUSTNESS_PNG_FILE)
    rule = default_rule(rows)
    curves = survival_curves(rows, rule)
    outputs["survival"] = out_dir / SURVIVAL_MD_FILE
    write_text_atomic(outputs["survival"], survival_markdown(curves, rule))
    outputs["survival_png"] = plot_survival(curves, out_dir / SURVIVAL_PNG_FILE)
    datasets = sorted({str(r["dataset"]) for r in rows})
    distance_of = {d: _modality_of(d, rows).distance_metric for d in datasets}
    if has_calibration(rows):  # results written before the probe have no gap: no calibration report
        calibrated = arm_calibrations(rows, distance_of, rule)
        outputs["calibration"] = out_dir / CALIBRATION_MD_FILE
        write_text_atomic(outputs["calibration"], calibration_markdown(calibrated, pooled_calibration(calibrated)))
        outputs["calibration_png"] = plot_calibration(calibrated, out_dir / CALIBRATION_PNG_FILE)
    arms = {arm_of(r["setting"]) for r in rows}
    if len(arms) < 2:
        return outputs
    distance = [distance_of[d] for d in datasets]
    modes = ["modes_covered", *(["modes_near"] if any(r.get("modes_near") is not None for r in rows) else [])]
    metrics = list(dict.fromkeys([*distance, *modes]))
    try:
        against = against_baseline(rows, metrics)
    except PairingError:  # no single ERM arm: every pair instead
        against = []
    bases = {c.baseline for c in against}
    others = [c for c in all_pairs(rows, metrics) if c.arm not in bases and c.baseline not in bases]
    text = paired_markdown(against, "# Paired comparisons: each arm against ERM") if against else ""
    if others:
        text += ("\n" if text else "") + paired_markdown(others, "# Each arm against each other")
    outputs["paired"] = out_dir / PAIRED_MD_FILE
    write_text_atomic(outputs["paired"], text)
    return outputs


def _refuse_to_lose_runs(results: Path, rows: Sequence[dict[str, Any]]) -> None:
    """``SweepError`` when ``results`` holds a run, or a row (run x iteration) of a run it called
    finished or diverged, that ``rows`` no longer give: a member folder deleted, or its
    ``metrics.jsonl`` cut (for image runs the two files are the only copies of the metrics). Rows of
    an unfinished run may go: a resume drops the records written after its checkpoint and writes
    them again."""
    import csv

    try:
        with open(results, newline="", encoding="utf-8") as f:
            old = [(row.get("run"), str(row.get("iteration")), row.get("status")) for row in csv.DictReader(f)]
    except (OSError, ValueError, csv.Error):
        return  # none yet, or unreadable: nothing in it to keep
    lost_whole = {run for run, _, _ in old if run} - {row["run"] for row in rows}
    before = {(run, it) for run, it, status in old if run and (status != "unfinished" or run in lost_whole)}
    now = {(row["run"], str(row["iteration"])) for row in rows}
    runs_now = {run for run, _ in now}
    lost_runs = sorted({run for run, _ in before} - runs_now)
    lost_rows: dict[str, list[str]] = {}
    for run, iteration in sorted(before - now):
        if run in runs_now:
            lost_rows.setdefault(run, []).append(iteration)
    keep = f"restore them, or delete {results.name} to write it from what is left"
    if lost_runs:
        more = f" and {len(lost_runs) - 3} more" if len(lost_runs) > 3 else ""
        raise SweepError(f"kept {results} as it is: it holds {len(lost_runs)} run(s) of which the members' records give "
                         f"nothing now ({', '.join(lost_runs[:3])}{more}: folder or metrics.jsonl gone); {keep}")
    if lost_rows:
        run, iterations = next(iter(lost_rows.items()))
        count = sum(len(its) for its in lost_rows.values())
        more = f", and rows of {len(lost_rows) - 1} more run(s)" if len(lost_rows) > 1 else ""
        shown = ", ".join(sorted(iterations, key=lambda it: int(it) if it.isdigit() else 0)[:5])
        raise SweepError(f"kept {results} as it is: it holds {count} row(s) that the members' records no longer give "
                         f"({run} at iteration(s) {shown}{more}: metrics.jsonl cut short?); {keep}")


def _why_no_rows(out_dir: Path) -> str:
    """What the scorecard says when no member gave a row: none has snapshotted yet, or their
    snapshots carry no metrics (image runs with ``metric_samples`` 0 record none)."""
    snapshotted = sum(1 for run_dir in iter_member_dirs(out_dir) if any((run_dir / "snapshots").glob("it_*.npz")))
    if not snapshotted:
        return "No member has recorded a snapshot yet."
    return (f"{snapshotted} member(s) have snapshots, but no metrics were recorded at them (trained with "
            "--metric-samples 0?), so there is nothing to score; train with --metric-samples above 0 to get a scorecard.")


def scorecard_markdown(summaries: Sequence[SettingSummary],
                       by_iteration: Mapping[int, Sequence[SettingSummary]] | None = None, *,
                       empty: str | None = None) -> str:
    """The scorecard in Markdown: a table of the median [min–max] over seeds at each run's last
    snapshot, then one per iteration of ``by_iteration`` (``summarise(rows, at=iteration)``).

    The metric columns are the registered metrics (``Metric.scorecard``) that the modalities of the
    datasets in the table compute: modes, high quality, KL and sliced W. for points; modes, KL,
    Fréchet, precision, recall, density and coverage for images."""
    if not summaries:
        return f"# Stability scorecard\n\n{empty or 'No member has recorded a snapshot yet.'}\n"
    lines = ["# Stability scorecard", "",
             "Median [min–max] over seeds at each run's last snapshot (a run stopped on NaN/Inf is left out: its last "
             "snapshot was taken before it diverged). *collapsed*: fewer than all modes at the end; "
             f"*diverged*: stopped on NaN/Inf or over {DIVERGED_OUTSIDE:.0%} of the samples outside the data's frame; "
             f"*stable*: all modes covered at every snapshot from some iteration ≤ {STABLE_BY:g}x the run's length to the end "
             "(median of that iteration in brackets). Modes: a sample within 3σ of a mode is high quality; a mode is covered "
             "when ≥ 1% of the samples are its high-quality samples; *within 10σ* counts the modes with ≥ 1% of the samples "
             "within 10σ (reached, if not hit exactly). ‖∇D‖: mean norm of the gradient of D's logit with respect "
             "to its input at real, fake and mixed (λ ~ U(0, 1)) points. *calib. gap*: mean over λ = 0, 0.1, ..., 1 of "
             "|mean σ(D(λ·real + (1−λ)·fake)) − λ|, D's distance from the line mixup's target draws (the calibration "
             "probe); *slope λ=0* / *λ=1*: that curve's slope over its first and last step. Runs interrupted before their last iteration "
             "are left out of every column and counted beside the seeds (*+k unfinished*)."
             + (" Below, the same at the paper's iterations the runs reached, each run as it stood then."
                if by_iteration else ""), ""]
    lines += _table(summaries)
    for iteration, at in (by_iteration or {}).items():
        lines += ["", f"## At iteration {iteration:,}", "",
                  f"The runs that reached iteration {iteration:,}, scored there (that iteration is their end).", ""]
        lines += _table(at) if at else ["No run reached it."]
    return "\n".join(lines) + "\n"


def _table(summaries: Sequence[SettingSummary]) -> list[str]:
    modalities = _modalities_in(summaries)
    columns = [m for m in METRICS.values() if m.scorecard and any(m.computed_by(name) for name in modalities)]
    header = ["dataset", "setting", "seeds", "iterations", *(c.header_for(modalities) for c in columns),
              "collapsed", "diverged", "stable", *(METRICS[k].header for k in GRADIENT_METRICS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        total = f" / {s.modes_total}" if s.modes_total else ""
        seeds = str(s.seeds) + (f" (+{s.unfinished} unfinished)" if s.unfinished else "")
        cells = [s.dataset, s.setting, seeds, str(s.iterations)]
        for column in columns:
            values = next((s.final[k] for k in (column.name, *column.older) if s.final.get(k)), None)
            cells.append(_range(values, column.fmt) + (total if column.of_total else ""))
        stable = f"{s.stable:.0%}" + (f" ({int(np.median(s.stable_from))})" if s.stable_from else "") if s.seeds else "–"
        cells += [f"{s.collapsed:.0%}" if s.seeds else "–", f"{s.diverged:.0%}" if s.seeds else "–", stable,
                  *(_range(s.final.get(k), METRICS[k].fmt) for k in GRADIENT_METRICS)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _modalities_in(summaries: Sequence[SettingSummary]) -> list[str]:
    """The names of the modalities of the datasets in ``summaries``, in registry order."""
    present = {_modality_of(s.dataset, [s.final]) for s in summaries}
    return [name for name, modality in REGISTRY.items() if modality in present]


def _modality_of(dataset: str, recorded: Sequence[Mapping[str, Any]]) -> ModalitySpec:
    """The modality of ``dataset``; for a name no modality serves now (a dataset registered by the
    code that trained it), the first whose distance metric the ``recorded`` rows hold."""
    try:
        return modality_of(dataset)
    except UnknownDatasetError:
        for modality in REGISTRY.values():
            if any(row.get(modality.distance_metric) is not None for row in recorded):
                return modality
        return next(iter(REGISTRY.values()))


def _range(values: Iterable[float] | None, fmt: str) -> str:
    finite = [v for v in (values or []) if math.isfinite(v)]
    if not finite:
        return "–"
    lo, mid, hi = min(finite), float(np.median(finite)), max(finite)
    return fmt.format(mid) if lo == hi else f"{fmt.format(mid)} [{fmt.format(lo)}–{fmt.format(hi)}]"

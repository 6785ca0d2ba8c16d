"""Every metric a snapshot records, registered once: its name, how it reads, which way is better,
how it prints, and which modalities compute it.

``results.csv`` (its metric columns, in registration order), ``scorecard.md`` (its metric columns),
the ``gan-mixup metrics`` table, TensorBoard (a layout of the metrics by direction) and the viewer's
curves (order and titles) all read ``METRICS``; none names a metric of its own. The computing code
stays in each modality's metrics module; a metric of a snapshot's samples alone may instead carry
its ``compute`` function, which the modality's metric code calls with the rest (the toy modality:
``(fake, real) -> float`` on ``(N, 2)`` arrays; images: ``(N, C, H, W)`` float tensors in [-1, 1]).

This module imports nothing of the package, so modalities, the scorecard and the viewer can all read it.

Example:
    >>> import numpy as np
    >>> metric = register_metric(Metric("origin_distance", "mean distance to the origin", better="lower",
    ...                                 modalities=("toy",), fmt="{:.3f}",
    ...                                 compute=lambda fake, real: float(np.linalg.norm(fake, axis=1).mean())))
    >>> "origin_distance" in METRICS and metric.header
    'mean distance to the origin'
    >>> _ = METRICS.pop("origin_distance")
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

HIGHER, LOWER = "higher", "lower"


class MetricError(ValueError):
    """A metric that cannot be registered: no name, an unknown direction, or a format that fails."""


@dataclass(frozen=True)
class Metric:
    """One metric. ``name`` is its key in ``metrics.jsonl`` snapshot records and its ``results.csv``
    column; ``label`` its title in the viewer and TensorBoard; ``header`` (default ``label``) its
    column in tables.

    Example:
        >>> Metric("kl_modes", "KL(modes)", better="lower").cell(0.123456)
        '0.12'
    """

    name: str
    label: str
    better: str | None = None  # "higher" or "lower" is better; None: neither (a count, a diagnostic)
    modalities: tuple[str, ...] = ()  # the modalities that compute it (their ``name``); () for every one
    fmt: str = "{:.2f}"  # a scorecard cell (median and range over seeds)
    header: str = ""  # its column in scorecard.md and the metrics table ('' = label)
    headers: Mapping[str, str] = field(default_factory=dict)  # a header per modality, over ``header``
    older: tuple[str, ...] = ()  # names earlier versions recorded it under, read where it is missing
    of_total: bool = False  # scorecard cells read "value / modes_total"
    results: bool = True  # a results.csv column
    scorecard: bool = True  # a scorecard.md column
    table: bool = True  # a column of the `gan-mixup metrics` table
    compute: Callable[[Any, Any], float] | None = None  # (fake, real) -> value; see the module's docstring

    def __post_init__(self) -> None:
        if not self.name or not self.label:
            raise MetricError("a metric needs a name and a label")
        if self.better not in (HIGHER, LOWER, None):
            raise MetricError(f"metric {self.name}: better must be {HIGHER!r}, {LOWER!r} or None, not {self.better!r}")
        try:
            self.fmt.format(1.5)
        except (ValueError, IndexError, KeyError) as err:
            raise MetricError(f"metric {self.name}: format {self.fmt!r} does not print a number ({err})") from None
        if not self.header:
            object.__setattr__(self, "header", self.label)

    def computed_by(self, modality: str) -> bool:
        """Whether the modality named ``modality`` records this metric."""
        return not self.modalities or modality in self.modalities

    def header_for(self, modalities: Iterable[str]) -> str:
        """The column header in a table of these modalities: the first one's own, else ``header``."""
        return next((self.headers[m] for m in modalities if m in self.headers), self.header)

    def key_in(self, rows: Iterable[Mapping[str, Any]]) -> str | None:
        """The name (``name``, else an ``older`` one) under which some of ``rows`` record this metric."""
        rows = list(rows)
        return next((key for key in (self.name, *self.older) if any(key in row for row in rows)), None)

    def cell(self, value: Any) -> str:
        """One value as the scorecard prints it: ``fmt``, '–' for none."""
        return "–" if value is None else self.fmt.format(value)


METRICS: dict[str, Metric] = {}  # name -> metric, in registration order (results.csv's column order)


def register_metric(metric: Metric) -> Metric:
    """Add ``metric`` to ``METRICS`` (replacing one of the same name, in its place) and return it."""
    METRICS[metric.name] = metric
    return metric


def metrics_of(modality: str) -> list[Metric]:
    """The registered metrics the modality named ``modality`` records, in registration order."""
    return [m for m in METRICS.values() if m.computed_by(modality)]


def computed_metrics(modality: str, fake: Any, real: Any) -> dict[str, float]:
    """The values of the metrics registered with a ``compute`` function for ``modality``."""
    return {m.name: float(m.compute(fake, real)) for m in metrics_of(modality) if m.compute is not None}


_MODES = {"toy": "modes covered (3σ)"}
# The built-in metrics, in results.csv's order: the toy modality's, what images add, D's gradients,
# D's calibration.
for _metric in (
    Metric("modes_covered", "modes covered", HIGHER, ("toy", "images"), "{:.0f}", headers=_MODES, of_total=True),
    Metric("modes_total", "modes in the data", None, ("toy", "images"), "{:.0f}", scorecard=False, table=False),
    Metric("modes_near", "modes within 10σ", HIGHER, ("toy",), "{:.0f}", header="within 10σ", table=False),
    Metric("high_quality", "high quality", HIGHER, ("toy",)),
    Metric("kl_modes", "KL(modes)", LOWER, ("toy", "images")),
    Metric("sliced_wasserstein", "sliced Wasserstein", LOWER, ("toy",), "{:.3f}", header="sliced W."),
    Metric("mean_mode_distance", "mean distance to the nearest mode", LOWER, ("toy",), scorecard=False, table=False),
    Metric("outside_frame", "outside the frame", LOWER, ("toy",), scorecard=False, table=False),
    # frechet_digits: on digit datasets the same value as frechet, under the name earlier runs hold it by (docs/runs.md)
    Metric("frechet_digits", "Fréchet distance (digits)", LOWER, ("images",), "{:.3g}", scorecard=False, table=False),
    Metric("frechet", "Fréchet distance", LOWER, ("images",), "{:.3g}", header="Fréchet", older=("frechet_digits",)),
    Metric("precision", "precision", HIGHER, ("images",)),
    Metric("recall", "recall", HIGHER, ("images",)),
    Metric("density", "density", HIGHER, ("images",)),
    Metric("coverage", "coverage", HIGHER, ("images",)),
    Metric("classifier_accuracy", "classifier accuracy", HIGHER, ("images",), scorecard=False, table=False),
    # Inception FID/KID: `inception_fid`'s, recorded by none of today's runs but shown where a record has them
    Metric("fid", "FID", LOWER, ("images",), "{:.3g}", results=False, scorecard=False),
    Metric("kid", "KID", LOWER, ("images",), "{:.3g}", results=False, scorecard=False),
    # D's gradient norms: a table of their own at the scorecard's right end (not a metric column)
    Metric("d_grad_real", "‖∇D‖ at real", None, (), "{:.3g}", header="‖∇D‖ real", scorecard=False),
    Metric("d_grad_fake", "‖∇D‖ at fake", None, (), "{:.3g}", header="‖∇D‖ fake", scorecard=False),
    Metric("d_grad_mixed", "‖∇D‖ at mixed", None, (), "{:.3g}", header="‖∇D‖ mixed", scorecard=False),
    # The calibration probe (gan_mixup.probes): σ(D) along real-fake segments against the line λ
    Metric("calibration_gap", "calibration gap |σ(D) − λ|", LOWER, (), "{:.3f}", header="calib. gap"),
    Metric("calibration_slope_fake", "calibration slope at λ = 0 (fake end)", None, (), "{:.2f}", header="slope λ=0"),
    Metric("calibration_slope_real", "calibration slope at λ = 1 (real end)", None, (), "{:.2f}", header="slope λ=1"),
):
    register_metric(_metric)

"""The scorecard's rules for one run's rows, shared by the scorecard and the viewer's events:
diverged (stopped on a non-finite loss, or most samples outside the frame), all modes covered
from some iteration on, and what a run's last row says of where it ended.

Example:
    >>> has_diverged({"status": "finished", "outside_frame": 0.7})
    True
    >>> covered_since([{"iteration": 10, "modes_covered": 7}, {"iteration": 20, "modes_covered": 8}], 8)
    20
    >>> final_value({"status": "diverged", "frechet": 140.0}, "frechet")
    nan
"""
from __future__ import annotations

import math
from typing import Any

DIVERGED_OUTSIDE = 0.5  # a run whose samples lie mostly outside the frame has left the data: diverged


def has_diverged(last: dict[str, Any]) -> bool:
    """A run's last row says it diverged: stopped on a non-finite loss, or most samples outside the frame."""
    return last.get("status") == "diverged" or as_float(last.get("outside_frame")) > DIVERGED_OUTSIDE


def final_value(last: dict[str, Any], metric: str) -> float:
    """``metric`` of a run's last row as the value it ended at: nan for a run stopped on a non-finite
    loss, whose last snapshot was taken before it diverged and so measures an earlier generator
    (a run with most samples outside the frame keeps its value: that is measured where it ended)."""
    return math.nan if last.get("status") == "diverged" else as_float(last.get(metric))


def as_float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and value is not None else math.nan


def covered_since(run: list[dict[str, Any]], total: int | None) -> int | None:
    """The first iteration from which every snapshot covers all ``total`` modes; None if the last does not."""
    if total is None:
        return None
    since = None
    for row in run:
        if as_float(row.get("modes_covered")) >= total:
            since = row["iteration"] if since is None else since
        else:
            since = None
    return since

"""What every regularizer module shares: the error they raise and the check of a numeric option."""
from __future__ import annotations

import math
from typing import Any

from gan_mixup.errors import GanMixupError


class RegularizerError(GanMixupError, ValueError):
    """A bad regularizer spec or value, or a regularizer the objective cannot take."""


def checked_number(owner: str, key: str, value: Any, *, low: float, high: float = math.inf, low_open: bool = False) -> float:
    """``value`` as a float in ``[low, high]`` (``(low, high]`` when ``low_open``), else RegularizerError."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"in ({low:g}, {high:g}]" if math.isfinite(high) else (f"> {low:g}" if low_open else f">= {low:g}")
        raise RegularizerError(f"{owner} {key} must be a finite number {bound}, got {value!r}")
    return float(value)

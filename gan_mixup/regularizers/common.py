"""What every regularizer module shares: the error they raise and the check of a numeric option."""
from __future__ import annotations

import math
from typing import Any

from gan_mixup.errors import GanMixupError
from gan_mixup.objectives.base import checked_number as checked_option


class RegularizerError(GanMixupError, ValueError):
    """A bad regularizer spec or value, or a regularizer the objective cannot take."""


def checked_number(owner: str, key: str, value: Any, *, low: float, high: float = math.inf, low_open: bool = False) -> float:
    """``value`` as a float in ``[low, high]`` (``(low, high]`` when ``low_open``), else RegularizerError."""
    return checked_option(owner, key, value, low=low, high=high, low_open=low_open, error=RegularizerError)

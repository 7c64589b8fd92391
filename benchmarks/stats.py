"""Percentiles, Jain's fairness index and small formatting helpers."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; NaN when there are none."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def jain(values: Sequence[float]) -> float:
    """Jain's fairness index: 1.0 when every share is equal, 1/n when one takes all."""
    if not values:
        return math.nan
    total = sum(values)
    squares = sum(v * v for v in values)
    if squares == 0:
        return math.nan
    return total * total / (len(values) * squares)


def ratio(numerator: float | None, denominator: float | None) -> float:
    if numerator is None or denominator is None or denominator == 0:
        return math.nan
    if math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator


def fmt(value: float | int | None, unit: str = "", digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int):
        return f"{value}{unit}"
    if abs(value) >= 100:
        digits = min(digits, 1) if abs(value) < 1000 else 0
    return f"{value:.{digits}f}{unit}"

"""Helpers the benchmarks share."""

from __future__ import annotations

import numpy as np


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values``, in their unit, rounded to 3 decimals (NaN when there are none)."""
    return round(float(np.percentile(values, q)), 3) if values else float("nan")

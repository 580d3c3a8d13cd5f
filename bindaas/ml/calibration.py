"""Calibration: does a predicted 20% risk come true one time in five? Calibration slope and intercept (logistic
recalibration, Van Calster et al. 2016: slope 1 and intercept 0 are perfect; slope < 1 means predictions too
extreme), expected calibration error over ten equal-width bins, and the reliability diagram's points; and the
logistic recalibration a site may fit on a slice of its own data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _fit_logistic(y: np.ndarray, z: np.ndarray, *, slope_fixed: bool) -> tuple[float, float]:
    """Maximum-likelihood (intercept, slope) of P(y) = sigmoid(a + b z); with ``slope_fixed`` b stays 1 (the offset
    model whose intercept is 'calibration in the large'). A quasi-Newton search on the log-likelihood: a plain
    Newton step diverges when many predictions sit at 0 or 1, as an overconfident model's do."""
    from scipy.optimize import minimize

    def loss(theta: np.ndarray) -> float:
        a, b = (theta[0], 1.0) if slope_fixed else theta
        eta = a + b * z
        return float(np.sum(np.logaddexp(0, eta) - y * eta))

    found = minimize(loss, np.array([0.0] if slope_fixed else [0.0, 1.0]), method="BFGS")
    return (float(found.x[0]), 1.0) if slope_fixed else (float(found.x[0]), float(found.x[1]))


def calibration(y: np.ndarray, p: np.ndarray, *, bins: int = 10) -> dict[str, Any]:
    """Slope, intercept (calibration in the large), ECE and the reliability diagram of predictions ``p``."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    z = _logit(p)
    _, slope = _fit_logistic(y, z, slope_fixed=False)
    intercept, _ = _fit_logistic(y, z, slope_fixed=True)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    points, ece = [], 0.0
    for k in range(bins):
        inside = which == k
        if inside.any():
            mean_p, observed = float(p[inside].mean()), float(y[inside].mean())
            ece += inside.mean() * abs(mean_p - observed)
            points.append({"predicted": round(mean_p, 4), "observed": round(observed, 4), "n": int(inside.sum())})
    return {"slope": round(slope, 4), "intercept": round(intercept, 4), "ece": round(float(ece), 4),
            "mean_predicted": round(float(p.mean()), 4), "observed_rate": round(float(y.mean()), 4),
            "reliability": points}


@dataclass(frozen=True)
class Recalibration:
    """p' = sigmoid(a + b logit(p)), fitted on a slice of the target site's data."""

    intercept: float
    slope: float

    @classmethod
    def fit(cls, y: np.ndarray, p: np.ndarray) -> "Recalibration":
        a, b = _fit_logistic(np.asarray(y, dtype=float), _logit(np.asarray(p, dtype=float)), slope_fixed=False)
        return cls(a, b)

    def apply(self, p: np.ndarray) -> np.ndarray:
        return _sigmoid(self.intercept + self.slope * _logit(np.asarray(p, dtype=float)))

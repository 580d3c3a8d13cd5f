"""Calibration is reported beside discrimination, and external validation keeps recalibration apart."""

from __future__ import annotations

import numpy as np

from bindaas.ml.calibration import Recalibration, calibration
from bindaas.ml.evaluate import external_validation


def test_a_calibrated_predictor_has_slope_one_and_intercept_zero_and_an_overconfident_one_does_not():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, 20_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    honest = calibration(y, p)
    assert abs(honest["slope"] - 1) < 0.05 and abs(honest["intercept"]) < 0.05 and honest["ece"] < 0.02
    logit = np.log(p / (1 - p))
    extreme = 1 / (1 + np.exp(-(2 * logit + 1)))  # too extreme and shifted
    bad = calibration(y, extreme)
    assert abs(bad["slope"] - 0.5) < 0.05 and bad["ece"] > 0.1
    fixed = Recalibration.fit(y, extreme).apply(extreme)
    assert calibration(y, fixed)["ece"] < 0.02


def test_external_validation_reports_untouched_and_recalibrated_figures_apart(tmp_path):
    result = external_validation("uci-cleveland", ["uci-hungary"], models=("logreg",), resamples=50,
                                 plots=tmp_path)
    site = result["tests"]["uci-hungary"]
    assert site["n"] == 293 and result["train_n"] == 304
    logreg = site["models"]["logreg"]
    assert 0.5 < logreg["untouched"]["auroc"] <= 1 and {"slope", "intercept", "ece"} <= set(logreg["untouched"]["calibration"])
    assert set(logreg["on_the_rest"]) == {"untouched", "recalibrated"}
    assert logreg["on_the_rest"]["recalibrated"]["calibration"]["ece"] < logreg["on_the_rest"]["untouched"]["calibration"]["ece"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reliability-external-uci-cleveland-to-uci-hungary.png",
                                                         "roc-external-uci-cleveland-to-uci-hungary.png"]

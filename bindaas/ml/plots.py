"""Pictures a clinician reads: ROC curves, reliability diagrams, and one prediction's contributions, as PNG bytes
(matplotlib, no display needed)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def _figure(width: float = 5.2, height: float = 4.4) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=110)


def _png(figure: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def roc_png(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, title: str) -> bytes:
    """One ROC curve per model, with its AUROC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    figure, axes = _figure()
    for kind, (y, p) in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        axes.plot(fpr, tpr, label=f"{kind} (AUROC {roc_auc_score(y, p):.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="1 − specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1))
    axes.set_title(f"ROC\n{title}", fontsize=9)
    axes.legend(loc="lower right", fontsize=8)
    return _png(figure)


def reliability_png(curves: dict[str, tuple[np.ndarray, np.ndarray]], *, title: str) -> bytes:
    """Observed against predicted risk in ten bins per model; the diagonal is perfect calibration."""
    from bindaas.ml.calibration import calibration

    figure, axes = _figure()
    for kind, (y, p) in curves.items():
        c = calibration(y, p)
        points = c["reliability"]
        axes.plot([q["predicted"] for q in points], [q["observed"] for q in points], marker="o", markersize=3,
                  label=f"{kind} (slope {c['slope']:.2f}, ECE {c['ece']:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="predicted risk (10 bins)", ylabel="observed rate", xlim=(0, 1), ylim=(0, 1))
    axes.set_title(f"Calibration\n{title}", fontsize=9)
    axes.legend(loc="upper left", fontsize=8)
    return _png(figure)


def contributions_png(prediction: dict[str, Any]) -> bytes:
    """One prediction's top contributions (occlusion: how much the risk falls when the value is taken away)."""
    contributions = list(reversed(prediction["top_contributions"]))
    figure, axes = _figure(5.6, 0.5 + 0.45 * max(3, len(contributions)))
    values = [c["contribution"] for c in contributions]
    labels = [f"{c['feature']} = {c['value']:g}" for c in contributions]
    axes.barh(labels, values, color=["#b2182b" if v > 0 else "#2166ac" for v in values])
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set(xlabel="change in risk this value causes (occlusion)")
    axes.set_title(f"Risk {prediction['probability']:.1%} ({prediction['task']}, model {prediction['model_id'][:10]}…)",
                   fontsize=9)
    return _png(figure)

"""The population a model applies to, declared when it is trained and enforced when it predicts.

As established risk calculators state who they are for, each model records the population of its training set
(ages, sexes, every feature's observed range and how often it was missing) in its configuration, which is hashed
into the model id registered on chain. A prediction is refused, in words, for a patient outside that population,
when a required feature is missing, or when a value is not physiologically plausible (usually a wrong unit);
optional features are imputed and named; values inside plausibility but outside what training saw, and features
missing where training almost never saw them missing, come back as an out-of-distribution warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bindaas.errors import InvalidInput
from bindaas.fhir.features import PLAUSIBLE, FeatureSpec

RARELY_MISSING = 0.01  # a feature missing in under 1% of training records: its absence is itself unusual


def describe_population(X: np.ndarray, spec: FeatureSpec, *, dataset: str) -> dict[str, Any]:
    """Who the training rows ``X`` (features of ``spec``) are: the statement a model is registered with."""
    features = {}
    for i, name in enumerate(spec.names):
        column = X[:, i]
        seen = column[~np.isnan(column)]
        features[name] = {"missing_rate": round(float(np.isnan(column).mean()), 4)} | ({
            "min": round(float(seen.min()), 4), "max": round(float(seen.max()), 4),
            "p01": round(float(np.percentile(seen, 1)), 4), "p99": round(float(np.percentile(seen, 99)), 4),
        } if len(seen) else {})
    out: dict[str, Any] = {"dataset": dataset, "n": int(len(X)), "required": list(spec.required),
                           "features": features}
    if "age" in spec.names:
        ages = X[:, spec.names.index("age")]
        ages = ages[~np.isnan(ages)]
        out["age"] = [int(np.floor(ages.min())), int(np.ceil(ages.max()))]
    if "male" in spec.names:
        males = X[:, spec.names.index("male")]
        out["sexes"] = sorted({"male" if v == 1 else "female" for v in males[~np.isnan(males)]})
    return out


def population_sentence(population: dict[str, Any]) -> str:
    """'Framingham adults aged 32–70, female and male' and the like."""
    parts = [f"{population.get('dataset', 'training')} patients"]
    if "age" in population:
        parts.append(f"aged {population['age'][0]}–{population['age'][1]}")
    if "sexes" in population:
        parts.append(" and ".join(population["sexes"]))
    return ", ".join(parts) + f" (n = {population.get('n')})"


@dataclass
class Applicability:
    """What a prediction must say about where it stands: imputed features and out-of-distribution warnings."""

    imputed: list[str] = field(default_factory=list)
    unusual: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, population: dict[str, Any] | None) -> dict[str, Any]:
        warning = None
        if self.unusual:
            warning = ("out of distribution: " + "; ".join(u["reason"] for u in self.unusual)
                       + ". Treat this risk with caution.")
        return {"applies_to": population_sentence(population) if population else None, "imputed": self.imputed,
                "out_of_distribution": {"warning": warning, "features": [u["feature"] for u in self.unusual]}
                if warning else None}


def _refuse(detail: str, **extensions: Any) -> InvalidInput:
    return InvalidInput(detail, field="bundle", extensions=extensions)


def check_applicability(x: np.ndarray, spec: FeatureSpec, population: dict[str, Any] | None,
                        units: dict[str, str] | None = None) -> Applicability:
    """Refuse (InvalidInput, with the reason in words) a feature vector the model must not score; else say what
    was imputed and what looks unusual. ``units`` names, per feature, a unit the bundle used that was not
    understood (the value is then missing)."""
    names = spec.names
    units = units or {}
    missing = [n for i, n in enumerate(names) if np.isnan(x[i])]
    required_missing = [n for n in spec.required if n in missing]
    if required_missing:
        hints = [f"{n} (unit {units[n]!r} not understood)" for n in required_missing if n in units]
        raise _refuse(f"the {spec.task} model needs {', '.join(required_missing)}, which the bundle does not give"
                      + (f"; {'; '.join(hints)}" if hints else ""), missing_required=required_missing)
    for i, name in enumerate(names):
        if name in PLAUSIBLE and not np.isnan(x[i]):
            low, high, unit = PLAUSIBLE[name]
            if not low <= x[i] <= high:
                raise _refuse(f"{name} {x[i]:g} {unit} is not a plausible value ({low:g}–{high:g} {unit}): check the "
                              "value and its unit", implausible=[name])
    if population:
        if "age" in population and not np.isnan(x[names.index("age")]):
            age, (low, high) = x[names.index("age")], population["age"]
            if not low <= age <= high:
                raise _refuse(f"age {age:.0f} is outside the {low}–{high} years this model was trained on "
                              f"({population_sentence(population)})", outside_population=["age"])
        if "sexes" in population and "male" in names and not np.isnan(x[names.index("male")]):
            sex = "male" if x[names.index("male")] == 1 else "female"
            if sex not in population["sexes"]:
                raise _refuse(f"sex {sex}: this model was trained on {' and '.join(population['sexes'])} patients only",
                              outside_population=["male"])
    found = Applicability(imputed=missing)
    for i, name in enumerate(names):
        seen = (population or {}).get("features", {}).get(name)
        if not seen:
            continue
        if np.isnan(x[i]):
            if seen["missing_rate"] < RARELY_MISSING:
                found.unusual.append({"feature": name, "reason": f"{name} is missing, as in only "
                                      f"{100 * seen['missing_rate']:.1f}% of the training records"})
        elif "p01" in seen and not seen["p01"] <= x[i] <= seen["p99"] and name not in ("male",):
            found.unusual.append({"feature": name, "reason": f"{name} {x[i]:g} lies outside the 1st–99th "
                                  f"percentile of training ({seen['p01']:g}–{seen['p99']:g})"})
    return found

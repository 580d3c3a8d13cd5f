"""Validation of submitted FHIR R4 Bundles.

Two validators, configurable (``BINDAAS_FHIR_VALIDATION``): HL7's official R4 JSON Schema compiled with
``jsonschema-rs`` (structure and types, ~0.5 ms per 250 KB bundle), and the ``fhir.resources`` R4B models (a
maintained FHIR library, ~1.3-26 ms per bundle). ``fhir.resources`` 8 defaults to R5, which refuses R4 bundles;
its R4B models accept them. Every error names the field as a path into the envelope, e.g.
``bundle.entry[3].resource.birthDate``.
"""

from __future__ import annotations

import json
import threading
from functools import cache
from importlib import resources
from typing import Any, Literal

import jsonschema_rs

from bindaas.errors import InvalidFhir, PayloadTooLarge

Mode = Literal["schema", "models", "both"]


@cache
def _schema() -> dict[str, Any]:
    return json.loads(resources.files("bindaas.fhir").joinpath("fhir.r4.schema.json").read_text())


_build_lock = threading.Lock()


@cache
def _validator(definition: str) -> Any:
    # Compiling takes ~80 ms under the GIL; without the lock every request thread of a cold server compiles its
    # own copy at once (40 threads: seconds of CPU).
    with _build_lock:
        return _compiled(definition)


@cache
def _compiled(definition: str) -> Any:
    schema = _schema()
    if definition == "root":
        return jsonschema_rs.validator_for(schema)
    return jsonschema_rs.validator_for({"$ref": f"#/definitions/{definition}", "definitions": schema["definitions"]})


def warm_up(mode: Mode) -> None:
    """Compile the schema validator (and import the models) before the first request needs them."""
    if mode in ("schema", "both"):
        _validator("root")
    if mode in ("models", "both"):
        from fhir.resources.R4B.bundle import Bundle  # noqa: F401


def _path(prefix: str, parts: Any) -> str:
    out = prefix
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _first_error(validator: Any, instance: Any, prefix: str) -> tuple[str, str] | None:
    for error in validator.iter_errors(instance):
        return _path(prefix, error.instance_path), error.message[:300]
    return None


def _schema_errors(bundle: dict[str, Any]) -> tuple[str, str] | None:
    """Locate the first schema error. The root schema wraps resources in a 147-way oneOf that only says 'no
    match', so entries are checked against their own resource type's definition to name the field."""
    if _validator("root").is_valid(bundle):
        return None
    entries = bundle.get("entry")
    if isinstance(entries, list):
        for i, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            rtype = resource.get("resourceType")
            if not isinstance(rtype, str) or rtype not in _schema()["definitions"]:
                return f"bundle.entry[{i}].resource.resourceType", f"unknown FHIR R4 resource type {rtype!r}"
            found = _first_error(_validator(rtype), resource, f"bundle.entry[{i}].resource")
            if found:
                return found
        shell = {**bundle, "entry": [{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
                                     for e in entries]}
    else:
        shell = bundle
    return _first_error(_validator("Bundle"), shell, "bundle") or ("bundle", "does not match the FHIR R4 schema")


def _model_errors(bundle: dict[str, Any]) -> tuple[str, str] | None:
    from fhir.resources.R4B.bundle import Bundle  # heavy import, only when the models are used
    from pydantic import ValidationError

    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        first = exc.errors()[0]
        return _path("bundle", first["loc"]), first["msg"]
    return None


def validate_bundle(bundle: Any, *, mode: Mode = "both", max_entries: int = 5_000) -> None:
    """Raise InvalidFhir (naming the field) unless ``bundle`` is a valid FHIR R4 Bundle."""
    if not isinstance(bundle, dict):
        raise InvalidFhir("bundle must be a JSON object (a FHIR R4 Bundle)", field="bundle")
    if bundle.get("resourceType") != "Bundle":
        raise InvalidFhir(f"resourceType must be 'Bundle', got {bundle.get('resourceType')!r}",
                          field="bundle.resourceType")
    entries = bundle.get("entry", [])
    if isinstance(entries, list) and len(entries) > max_entries:
        raise PayloadTooLarge(f"bundle has {len(entries)} entries; at most {max_entries} are accepted",
                              field="bundle.entry")
    checks = {"schema": [_schema_errors], "models": [_model_errors], "both": [_schema_errors, _model_errors]}[mode]
    for check in checks:
        found = check(bundle)
        if found:
            field, message = found
            raise InvalidFhir(f"{field}: {message}", field=field)


def resource_problem(resource: dict[str, Any]) -> str | None:
    """The first way ``resource`` breaks HL7's R4 JSON Schema for its type ('path: message'), or None."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or rtype not in _schema()["definitions"]:
        return f"resourceType: unknown FHIR R4 resource type {rtype!r}"
    found = _first_error(_validator(rtype), resource, rtype)
    return f"{found[0]}: {found[1]}" if found else None

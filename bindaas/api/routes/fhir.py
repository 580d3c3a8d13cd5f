"""A FHIR R4 read and search API (``/fhir``), over the records the caller may read: CapabilityStatement, read by
id, and ``searchset`` Bundles with paging for Patient, Observation, Condition, MedicationRequest, ImagingStudy and
RiskAssessment. Errors are OperationOutcomes. Authentication is our bearer token (SMART's is not implemented)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from bindaas import __version__
from bindaas.api.auth import CallerDep
from bindaas.api.deps import ServicesDep
from bindaas.api.fhir_source import Found, readable_resources, subject_id
from bindaas.api.risk_answers import risk_for_patient
from bindaas.errors import InvalidInput, NotFound

router = APIRouter(prefix="/fhir", tags=["fhir"])
FHIR_JSON = "application/fhir+json"
FHIR_OK = {"response_class": Response,
           "responses": {200: {"content": {FHIR_JSON: {"schema": {"type": "object"}}}, "description": "FHIR JSON"}}}
PAGE = 50
# type -> search parameters it takes (besides _count and _offset)
SEARCHABLE: dict[str, tuple[str, ...]] = {
    "Patient": ("_id",), "Observation": ("patient", "subject", "code", "date"),
    "Condition": ("patient", "subject", "code"), "MedicationRequest": ("patient", "subject"),
    "ImagingStudy": ("patient", "subject"), "RiskAssessment": ("patient", "subject"),
}


def fhir_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def capability_statement(request: Request) -> JSONResponse:
    """The CapabilityStatement (FHIR 4.0.1) of this server: what it reads, searches and exports."""
    base = str(request.base_url).rstrip("/") + "/fhir"
    return fhir_response({
        "resourceType": "CapabilityStatement", "status": "active", "date": date.today().isoformat(),
        "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"],
        "software": {"name": "BinDaaS", "version": __version__},
        "implementation": {"description": "Blockchain-anchored, signed FHIR R4 records", "url": base},
        "rest": [{"mode": "server", "security": {"description": "Authorization: Bearer <token from POST "
                                                 "/auth/token>; only records the caller may read are visible"},
                  "resource": [{"type": rtype, "interaction": [{"code": "read"}, {"code": "search-type"}],
                                "searchParam": [{"name": name, "type": _param_type(name)} for name in params]}
                               for rtype, params in SEARCHABLE.items()],
                  "operation": [{"name": "export", "definition":
                                 "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"}]}],
    })


def _param_type(name: str) -> str:
    return {"patient": "reference", "subject": "reference", "code": "token", "date": "date"}.get(name, "token")


def _codes(resource: dict[str, Any]) -> set[tuple[str, str]]:
    concept = resource.get("code") or {}
    found = {(c.get("system", ""), c.get("code", "")) for c in concept.get("coding", []) if isinstance(c, dict)}
    for component in resource.get("component", []) or []:
        found |= {(c.get("system", ""), c.get("code", "")) for c in (component.get("code") or {}).get("coding", [])}
    return found


def _date_matches(resource: dict[str, Any], expression: str) -> bool:
    value = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start") or ""
    prefix = expression[:2] if expression[:2] in ("eq", "ne", "gt", "lt", "ge", "le") else "eq"
    wanted = expression[2:] if expression[:2] == prefix else expression
    if not value:
        return False
    have = value[:len(wanted)]
    return {"eq": have == wanted, "ne": have != wanted, "gt": have > wanted, "lt": have < wanted,
            "ge": have >= wanted, "le": have <= wanted}[prefix]


def _matches(found: Found, params: dict[str, str]) -> bool:
    resource = found.resource
    for name, value in params.items():
        if name in ("patient", "subject"):
            wanted = value.rsplit("/", 1)[-1]
            if wanted not in (subject_id(resource), found.patient_key):
                return False
        elif name == "_id" and resource.get("id") != value:
            return False
        elif name == "code":
            options = value.split(",")
            have = _codes(resource)
            if not any((tuple(o.split("|", 1)) in have) if "|" in o else any(c == o for _, c in have)
                       for o in options):
                return False
        elif name == "date" and not _date_matches(resource, value):
            return False
    return True


def _search_params(rtype: str, request: Request) -> tuple[dict[str, str], int, int]:
    allowed = SEARCHABLE[rtype]
    params: dict[str, str] = {}
    for name, value in request.query_params.items():
        if name in ("_count", "_offset", "_format"):
            continue
        if name not in allowed:
            raise InvalidInput(f"{rtype} cannot be searched by {name!r}; it takes {', '.join(allowed)}, _count and "
                               "_offset", field=name)
        if name == "date" and not (value[2:] if value[:2].isalpha() else value)[:4].isdigit():
            raise InvalidInput(f"date must be a FHIR date with an optional prefix (ge2020-01-01), got {value!r}",
                               field="date")
        params[name] = value
    try:
        count = min(int(request.query_params.get("_count", PAGE)), 500)
        offset = int(request.query_params.get("_offset", 0))
    except ValueError:
        raise InvalidInput("_count and _offset must be whole numbers", field="_count") from None
    if count < 1 or offset < 0:
        raise InvalidInput("_count must be at least 1 and _offset not negative", field="_count")
    return params, count, offset


def _type(rtype: str) -> str:
    if rtype not in SEARCHABLE:
        raise NotFound(f"this server does not serve {rtype!r}; it serves {', '.join(SEARCHABLE)}",
                       field="resourceType")
    return rtype


def _all_of(rtype: str, caller: Any, services: Any, params: dict[str, str]) -> list[Found]:
    if rtype == "RiskAssessment":
        return risk_for_patient(caller, services, params.get("patient") or params.get("subject"))
    return [f for f in readable_resources(caller, services, action="read") if f.resource["resourceType"] == rtype
            and _matches(f, params)]


@router.get("/{resource_type}", **FHIR_OK)
def search(resource_type: str, request: Request, services: ServicesDep, caller: CallerDep) -> JSONResponse:
    """Search one resource type over the records the caller may read; a ``searchset`` Bundle, paged."""
    rtype = _type(resource_type)
    params, count, offset = _search_params(rtype, request)
    matched = _all_of(rtype, caller, services, params)
    base = str(request.base_url).rstrip("/") + "/fhir"
    query = "&".join(f"{k}={v}" for k, v in params.items())

    def link(relation: str, at: int) -> dict[str, str]:
        return {"relation": relation, "url": f"{base}/{rtype}?{query + '&' if query else ''}_count={count}&_offset={at}"}

    links = [link("self", offset)]
    if offset + count < len(matched):
        links.append(link("next", offset + count))
    if offset > 0:
        links.append(link("previous", max(0, offset - count)))
    page = matched[offset:offset + count]
    return fhir_response({"resourceType": "Bundle", "type": "searchset", "total": len(matched), "link": links,
                          "entry": [{"fullUrl": f"{base}/{rtype}/{f.resource.get('id')}", "resource": f.resource,
                                     "search": {"mode": "match"}} for f in page]})


@router.get("/{resource_type}/{resource_id}", **FHIR_OK)
def read(resource_type: str, resource_id: str, services: ServicesDep, caller: CallerDep) -> JSONResponse:
    """One resource by id, from a record the caller may read (404 otherwise, as for a missing one)."""
    rtype = _type(resource_type)
    for found in _all_of(rtype, caller, services, {}):
        if found.resource.get("id") == resource_id:
            return fhir_response(found.resource)
    raise NotFound(f"no {rtype}/{resource_id} that you may see", field="id")

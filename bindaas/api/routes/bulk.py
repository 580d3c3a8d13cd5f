"""FHIR Bulk Data export (the Bulk Data Access IG's patient-level ``$export``) for a consented reader: kick-off
answers 202 with ``Content-Location``; polling answers 202 with ``X-Progress`` until the manifest is ready (200);
the files are NDJSON, one per resource type, and need the same token. Jobs and files are the requester's only."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from bindaas.access.signin import Caller
from bindaas.api.auth import CallerDep
from bindaas.api.deps import ServicesDep
from bindaas.api.fhir_source import readable_resources, subject_id
from bindaas.api.services import Services
from bindaas.errors import InvalidInput, NotFound

router = APIRouter(prefix="/fhir", tags=["fhir"])


def _folder(services: Services, job: str) -> Path:
    return services.settings.data_dir / "exports" / job


def _run(services: Services, caller: Caller, patient: str, types: set[str] | None, folder: Path, request_url: str,
         base: str) -> None:
    """Write one NDJSON file per resource type, then the manifest (its presence means the job is done)."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    files: dict[str, Any] = {}
    try:
        # Every resource of the patient's records: a record is the patient's when its patient key or the Patient
        # it holds is the one asked for (so practitioners and organisations in it come along, as in the record).
        readable = list(readable_resources(caller, services, action="export"))
        theirs = {f.record_id for f in readable
                  if patient == f.patient_key or (f.resource["resourceType"] == "Patient" and subject_id(f.resource) == patient)}
        for found in (f for f in readable if f.record_id in theirs):
            resource = found.resource
            rtype = resource["resourceType"]
            if types and rtype not in types:
                continue
            if rtype not in files:
                files[rtype] = open(folder / f"{rtype}.ndjson", "w")  # noqa: SIM115 (closed below)
            files[rtype].write(json.dumps(resource, separators=(",", ":")) + "\n")
        errors: list[dict[str, Any]] = []
    except Exception as exc:  # the manifest reports it instead of leaving the job running forever
        errors = [{"type": "OperationOutcome", "message": f"{type(exc).__name__}: {exc}"}]
    finally:
        for handle in files.values():
            handle.close()
    manifest = {"transactionTime": started, "request": request_url, "requiresAccessToken": True,
                "output": [{"type": t, "url": f"{base}/fhir/bulk-files/{folder.name}/{t}.ndjson"} for t in sorted(files)],
                "error": errors, "owner": caller.key_id}
    (folder / "manifest.json").write_text(json.dumps(manifest))


@router.get("/Patient/{patient}/$export", status_code=202, response_class=Response,
            responses={202: {"description": "accepted; poll Content-Location"}})
def kick_off(patient: str, request: Request, services: ServicesDep, caller: CallerDep) -> Response:
    """Start exporting everything the caller may read about ``patient`` (a FHIR Patient id or a key id)."""
    output_format = request.query_params.get("_outputFormat", "application/fhir+ndjson")
    if output_format not in ("application/fhir+ndjson", "application/ndjson", "ndjson"):
        raise InvalidInput(f"_outputFormat {output_format!r} is not supported; use application/fhir+ndjson",
                           field="_outputFormat")
    types = set(request.query_params["_type"].split(",")) if request.query_params.get("_type") else None
    job = uuid.uuid4().hex
    folder = _folder(services, job)
    folder.mkdir(parents=True)
    (folder / "owner").write_text(caller.key_id)
    base = str(request.base_url).rstrip("/")
    threading.Thread(target=_run, args=(services, caller, patient, types, folder, str(request.url), base),
                     name=f"bindaas-export-{job[:8]}", daemon=True).start()
    return Response(status_code=202, headers={"Content-Location": f"{base}/fhir/bulk-status/{job}"})


def _job(services: Services, caller: Caller, job: str) -> Path:
    folder = _folder(services, job) if len(job) == 32 and job.isalnum() else None
    if folder is None or not folder.is_dir() or (folder / "owner").read_text() != caller.key_id:
        raise NotFound(f"no export job {job} of yours", field="job")
    return folder


@router.get("/bulk-status/{job}", responses={202: {"description": "in progress (X-Progress)"}})
def status(job: str, services: ServicesDep, caller: CallerDep) -> Response:
    """202 while the export runs; then 200 and the manifest."""
    folder = _job(services, caller, job)
    manifest = folder / "manifest.json"
    if not manifest.exists():
        return Response(status_code=202, headers={"X-Progress": "in progress", "Retry-After": "1"})
    body = json.loads(manifest.read_text())
    body.pop("owner", None)
    return JSONResponse(body)


@router.delete("/bulk-status/{job}", status_code=202, response_class=Response)
def cancel(job: str, services: ServicesDep, caller: CallerDep) -> Response:
    """Delete a finished export's files (a running one finishes first)."""
    folder = _job(services, caller, job)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return Response(status_code=202)


@router.get("/bulk-files/{job}/{name}", response_class=FileResponse,
            responses={200: {"content": {"application/fhir+ndjson": {}}, "description": "one resource a line"}})
def file(job: str, name: str, services: ServicesDep, caller: CallerDep) -> FileResponse:
    """One NDJSON file of a finished export."""
    folder = _job(services, caller, job)
    path = folder / name
    if not name.endswith(".ndjson") or "/" in name or not path.is_file():
        raise NotFound(f"no file {name} in export {job}", field="name")
    return FileResponse(path, media_type="application/fhir+ndjson")

"""The DICOM objects of imaging records: stored sealed, accepted only when their SHA3-256 is one the record's
signed bundle lists (an ImagingStudy instance's ``urn:bindaas:fhir:dicom-object-sha3-256`` extension), and checked
again by verification, so a changed byte of a stored image fails the check ``imaging_objects``."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bindaas.crypto.sealing import DecryptionFailed, KemPrivateKey, unseal
from bindaas.errors import InvalidInput, NotFound, RecordDamaged
from bindaas.imaging.dicom_fhir import OBJECT_HASH_URL
from bindaas.ledger.payload import SERVICE_READER, seal_payload
from bindaas.store import repository
from bindaas.store.models import DicomObjectRow, RecordRow


def object_hashes(bundle: dict[str, Any]) -> list[str]:
    """The SHA3-256 of every DICOM object the bundle's ImagingStudies list, in order."""
    found = []
    for entry in bundle.get("entry", []) or []:
        resource = entry.get("resource", {}) if isinstance(entry, dict) else {}
        if resource.get("resourceType") != "ImagingStudy":
            continue
        for series in resource.get("series", []) or []:
            for instance in series.get("instance", []) or []:
                for extension in instance.get("extension", []) or []:
                    if extension.get("url") == OBJECT_HASH_URL and isinstance(extension.get("valueString"), str):
                        found.append(extension["valueString"])
    return found


def _binding(record_id: str, sha3: str) -> str:
    return f"{record_id}:dicom:{sha3}"  # associated data: a sealed object opens only as this record's this object


def store_object(sessions: sessionmaker[Session], *, record: RecordRow, bundle: dict[str, Any], sha3: str,
                 data: bytes, service_public_key: bytes) -> bool:
    """Seal and store one DICOM object of ``record``; InvalidInput unless ``data`` hashes to ``sha3`` and the
    signed bundle lists it. Returns whether it was new (sending it again changes nothing)."""
    if hashlib.sha3_256(data).hexdigest() != sha3:
        raise InvalidInput(f"the body's SHA3-256 is {hashlib.sha3_256(data).hexdigest()}, not {sha3}", field="sha3")
    if sha3 not in object_hashes(bundle):
        raise NotFound(f"record {record.id} lists no DICOM object {sha3}", field="sha3")
    payload, wrapped = seal_payload(data, record_id=_binding(record.id, sha3), service_public_key=service_public_key)
    with sessions() as session:
        return repository.insert_dicom_object(session, row=DicomObjectRow(record_id=record.id, sha3=sha3,
                                                                          payload=payload, service_key=wrapped))


def open_object(row: DicomObjectRow, service_key: KemPrivateKey) -> bytes:
    """The DICOM bytes; RecordDamaged when the stored copy or its wrapped key was altered."""
    binding = _binding(row.record_id, row.sha3)
    try:
        data_key = service_key.unwrap(bytes(row.service_key), record_id=binding, reader=SERVICE_READER)
        return unseal(bytes(row.payload), data_key, record_id=binding)
    except DecryptionFailed as exc:
        raise RecordDamaged(f"stored DICOM object {row.sha3} of {row.record_id} does not decrypt",
                            field="sha3") from exc


def objects_problem(bundle: dict[str, Any], rows: list[DicomObjectRow], service_key: KemPrivateKey) -> str | None:
    """Why the stored objects do not match what the signed bundle lists (None when they all do)."""
    listed = object_hashes(bundle)
    stored = {row.sha3: row for row in rows}
    missing = [h for h in listed if h not in stored]
    if missing:
        return f"{len(missing)} of {len(listed)} DICOM objects the record lists are not stored (e.g. {missing[0]})"
    for sha3 in listed:
        try:
            data = open_object(stored[sha3], service_key)
        except RecordDamaged:
            return f"stored DICOM object {sha3} does not decrypt: it was changed"
        if hashlib.sha3_256(data).hexdigest() != sha3:
            return f"stored DICOM object {sha3} no longer hashes to the SHA3-256 the signed record lists"
    return None


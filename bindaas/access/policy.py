"""Who may read a record: its patient, and clinicians or authorities the patient has consented to (checked on
chain at read time). Authorities that endorsed a record are not readers by that alone. Auditors and authorities
see metadata and verification reports, not content, without consent."""

from __future__ import annotations

from bindaas.access.audit import AuditLog
from bindaas.access.signin import Caller
from bindaas.chain.access import AccessChain
from bindaas.errors import NotFound
from bindaas.store.models import RecordRow

READER_ROLES = ("clinician", "authority")
OVERSIGHT_ROLES = ("auditor", "authority")


def read_refusal(caller: Caller, patient: str, access: AccessChain) -> str | None:
    """None when ``caller`` may read ``patient``'s records now, else why not."""
    if caller.key_id == patient:
        return None
    if caller.role not in READER_ROLES:
        return f"a {caller.role} reads only their own records"
    consent = access.consent(patient, caller.key_id)
    if consent.changed_block == 0:
        return f"patient {patient} has not consented to reads by {caller.key_id}"
    if not consent.granted:
        return f"patient {patient} revoked consent for {caller.key_id} (block {consent.changed_block})"
    if not consent.signature_valid:
        return f"the consent on chain for {caller.key_id} does not carry a valid patient signature"
    if not consent.allows():
        return f"consent of patient {patient} for {caller.key_id} expired at {consent.not_after} (unix time)"
    return None


_NOBODY = "0x" + "00" * 32


def unseen(record_id: str) -> NotFound:
    """The one answer for a record that does not exist and for one the caller may not know exists."""
    return NotFound(f"no record {record_id} that you may see", field="record_id")


def authorize_record(caller: Caller, *, row: RecordRow | None, record_id: str, action: str, content: bool,
                     access: AccessChain, audit: AuditLog) -> RecordRow:
    """``row`` if ``caller`` may see it (its content when ``content``; oversight roles see metadata of any), else
    NotFound, audited. A missing record and a refused one get the same answer and cost the same chain read and
    audit write, so neither the status, the text nor the time tells a caller that a record exists or whose it is."""
    if row is not None and not content and caller.role in OVERSIGHT_ROLES:
        return row
    if row is None and caller.role in OVERSIGHT_ROLES and not content:
        raise unseen(record_id)  # they may list every record anyway
    if row is None:
        read_refusal(caller, _NOBODY, access)  # the chain read a refusal costs, so the time tells nothing
        patient, refusal = None, "no such record"
    else:
        patient, refusal = row.patient_id, read_refusal(caller, row.patient_id, access)
        if refusal is None:
            return row
    audit.record(action=action, agent=caller.key_id, role=caller.role, patient=patient, record=record_id,
                 success=False, detail=f"refused: {refusal}")
    raise unseen(record_id)

"""Who may read a record: its patient, and clinicians or authorities the patient has consented to (checked on
chain at read time). Authorities that endorsed a record are not readers by that alone. Auditors and authorities
see metadata and verification reports, not content, without consent."""

from __future__ import annotations

from bindaas.access.audit import AuditLog
from bindaas.access.signin import Caller
from bindaas.chain.access import AccessChain
from bindaas.errors import Forbidden

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


def authorize_read(caller: Caller, *, patient: str, record: str | None, action: str, access: AccessChain,
                   audit: AuditLog) -> None:
    """Raise Forbidden (after auditing the refusal) unless ``caller`` may read ``patient``'s record."""
    refusal = read_refusal(caller, patient, access)
    if refusal is not None:
        audit.record(action=action, agent=caller.key_id, role=caller.role, patient=patient, record=record,
                     success=False, detail=f"refused: {refusal}")
        raise Forbidden(refusal, field="record_id" if record else "patient")


def authorize_metadata(caller: Caller, *, patient: str, record: str, access: AccessChain, audit: AuditLog) -> None:
    """Status and verification: oversight roles always; others as for reading."""
    if caller.role not in OVERSIGHT_ROLES:
        authorize_read(caller, patient=patient, record=record, action="read", access=access, audit=audit)

"""A record deleted or edited straight in the database does not go unnoticed: the auditors' check names the
batch, the leaf and the record id, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from bindaas.demo import signed_envelopes
from bindaas.store import repository
from bindaas.store.models import record_bodies_table, records_table
from tests.helpers import rewrite_payload


@pytest.fixture
def anchored(service, framingham_bundles):
    envelopes = signed_envelopes(framingham_bundles[:4], service.chain, service.authorities)
    ids = [r["id"] for r in service.client.submit_bulk(envelopes)]
    service.client.wait_anchored(ids, timeout_s=30)
    return ids


def _check(service) -> dict:
    return service.enroll("auditor").client.verify_audit_log()


def _edit(service, *statements) -> None:
    with service.services.sessions() as session:
        for statement in statements:
            session.execute(statement)
        session.commit()


def test_an_untouched_store_is_complete(service, anchored):
    report = _check(service)
    assert (report["verdict"], report["anchored_records"], report["record_problems"]) == ("valid", 4, [])


def test_a_deleted_record_is_named_by_batch_leaf_and_id(service, anchored):
    victim = anchored[2]
    assert service.client.status(victim)["status"] == "anchored"
    _edit(service, *(delete(table).where(table.c.id == victim) for table in (record_bodies_table, records_table)))
    report = _check(service)
    assert report["verdict"] == "invalid"
    [problem] = report["record_problems"]
    assert problem["record_id"] == victim and problem["problem"].startswith("deleted")
    assert problem["batch"].startswith("0x") and problem["leaf_index"] is not None


def test_an_edited_acceptance_block_and_edited_content_are_named(service, anchored):
    with service.services.sessions() as session:
        repository.update_record(session, record_id=anchored[0], values={"accepted_block": 1})
        session.commit()
    rewrite_payload(service.services, anchored[1], lambda text: text.replace('"final"', '"Final"', 1))
    named = {p["record_id"]: p["problem"] for p in _check(service)["record_problems"]}
    assert set(named) == {anchored[0], anchored[1]}
    assert "acceptance block" in named[anchored[0]] and "content" in named[anchored[1]]

"""A large bulk request or import slice is anchored as batches of its own, each record written once with its proof:
the records anchor, verify and pass the auditors' completeness check like any others, and a group holding a
record already stored still stores the rest. A streamed import fills whole batches, whatever lines it refuses on
the way. A drain (tests, the CLI) waits for the background anchorer's pass, so no root is sent twice. (Smaller
groups wait to share a batch: test_record_roundtrip.)"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import httpx
import pytest

from bindaas.config import Settings
from bindaas.demo import signed_envelopes
from bindaas.ledger.anchorer import as_utc, sealed
from bindaas.store import repository
from bindaas.store.database import make_engine, make_sessionmaker
from bindaas.store.models import NewRecord

BATCH = 4  # groups of at least one record (a quarter batch) are sealed as they are stored


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url, batch_size=BATCH, batch_max_delay_s=0.2,
                    anchor_retry_s=0.2)


def _anchors(service, ids: list[str]) -> list[dict]:
    service.client.wait_anchored(ids, timeout_s=30)
    return [service.client.status(rid)["anchor"] for rid in ids]


def test_a_large_group_is_anchored_in_even_batches_of_its_own_and_every_record_verifies(service, framingham_bundles):
    envelopes = signed_envelopes(framingham_bundles[:6], service.chain, service.authorities)
    ids = [r["id"] for r in service.client.submit_bulk(envelopes)]
    anchors = _anchors(service, ids)
    # Six records and batches of at most four: two batches of three, in submission order, leaves 0..2.
    assert [a["leaf_index"] for a in anchors] == [0, 1, 2, 0, 1, 2]
    assert [a["batch_size"] for a in anchors] == [3] * 6
    assert len({a["root"] for a in anchors[:3]}) == 1 and anchors[0]["root"] != anchors[3]["root"]
    assert all(service.client.verify(rid)["verdict"] == "valid" for rid in ids)
    report = service.enroll("auditor").client.verify_audit_log()
    assert (report["verdict"], report["anchored_records"], report["record_problems"]) == ("valid", 6, [])


def test_a_group_holding_a_stored_record_still_stores_and_anchors_the_rest(service, framingham_bundles):
    envelopes = signed_envelopes(framingham_bundles[:4], service.chain, service.authorities)
    first = service.client.submit_bulk(envelopes[:1])
    again = service.client.submit_bulk(envelopes)
    assert again[0]["id"] == first[0]["id"]
    assert [r["created"] for r in again] == [False, True, True, True]
    ids = [r["id"] for r in again]
    _anchors(service, ids)
    assert all(service.client.verify(rid)["verdict"] == "valid" for rid in ids)


def test_the_same_envelope_twice_in_one_group_is_one_record(service, framingham_bundles):
    envelopes = signed_envelopes(framingham_bundles[:2], service.chain, service.authorities)
    results = service.client.submit_bulk([envelopes[0], envelopes[1], envelopes[0]])
    assert results[0]["id"] == results[2]["id"]
    assert [r["created"] for r in results] == [True, True, False]
    anchors = _anchors(service, [results[0]["id"], results[1]["id"]])
    assert [a["batch_size"] for a in anchors] == [2, 2]


def test_a_drain_beside_the_background_anchorer_sends_each_root_once(service, framingham_bundles, monkeypatch):
    sent: list[bytes] = []
    send = service.chain.anchor_batch

    def slow_send(root: bytes, count: int):
        sent.append(root)
        time.sleep(0.3)  # a node slow to answer: the moment a second pass would have sent the same root too
        return send(root, count)

    monkeypatch.setattr(service.chain, "anchor_batch", slow_send)
    ids = [r["id"] for r in service.client.submit_bulk(signed_envelopes(framingham_bundles[:4], service.chain,
                                                            service.authorities))]
    with ThreadPoolExecutor(2) as pool:  # stored already claimed, and the background loop woken to send it
        for drained in [pool.submit(service.services.anchorer.drain) for _ in range(2)]:
            drained.result()
    assert len({a["root"] for a in _anchors(service, ids)}) == 1
    assert len(sent) == 1


def test_a_streamed_import_fills_whole_batches_around_the_lines_it_refuses(service, framingham_bundles):
    lines = [e.model_dump_json().encode() for e in signed_envelopes(framingham_bundles[:9], service.chain,
                                                                   service.authorities)]
    lines.insert(2, b'{"not": "an envelope"}')
    headers = {"authorization": service.client.http.headers["authorization"], "content-type": "application/x-ndjson"}
    answer = httpx.post(f"{service.url}/records/import", content=b"\n".join(lines), headers=headers, timeout=60)
    results = [json.loads(line) for line in answer.text.splitlines()]
    assert results.pop()["summary"] == {"lines": 10, "accepted": 9, "created": 9, "refused": 1}
    assert [r["line"] for r in results] == list(range(1, 11)) and "problem" in results[2]
    ids = [r["id"] for r in results if "id" in r]
    anchors = _anchors(service, ids)
    # Nine records, batches of four: the refused third line does not leave a short batch behind it.
    assert [a["batch_size"] for a in anchors] == [4] * 8 + [1]
    assert len({a["root"] for a in anchors}) == 3
    assert all(service.client.verify(rid)["verdict"] == "valid" for rid in ids)


def test_rows_the_drivers_insert_stores_read_back_as_rows_the_orm_stores(tmp_path, database_url):
    """Claimed groups and plain groups alike hand the driver their parameters themselves (SQLite): what they store
    must read back exactly as what the ORM stores for the same record (times, blobs, JSON), besides the batch, leaf
    and proof; and a plain group holding a stored id stores the rest and names only those."""
    engine = make_engine(database_url or f"sqlite:///{tmp_path / 'store.db'}")
    sessions = make_sessionmaker(engine)

    def record(tag: int) -> NewRecord:
        return NewRecord(id=f"0x{tag:064x}", patient_id=f"0x{tag % 10 + 7:064x}", payload=bytes([tag % 10]) * 900,
                         service_key=b"\x00k" * 40, salt=bytes(range(32)), owner_public_key=b"\x01" * 1952,
                         owner_signature=b"\x02" * 3309, endorsements=[{"key_id": "0xab", "authority": "0xcd",
                                                                        "signature": "c2ln"}] * 3,
                         chain_id=31337, registry_address="0x" + "e" * 40, accepted_block=41 + tag % 10,
                         accepted_at=datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=timezone.utc))

    claimed, grouped, by_orm = ([record(i) for i in range(3)], [record(i) for i in range(10, 13)],
                                [record(i) for i in range(20, 23)])
    root, proofs = sealed(claimed)
    with sessions() as session:
        assert repository.insert_claimed(session, rows=claimed, root=root, proofs=proofs) is not None
        assert repository.insert_records(session, rows=grouped[:1]) == grouped[:1]
        assert repository.insert_records(session, rows=grouped) == grouped[1:]  # the first is stored already
        for row in by_orm:
            assert repository.insert_record(session, row=row.to_row())[1]
    with sessions() as session:
        for leaf, (a, b, c) in enumerate(zip(claimed, grouped, by_orm)):
            stored_a, stored_b, stored_c = (repository.get_record(session, record_id=r.id) for r in (a, b, c))
            assert (stored_a.leaf_index, stored_a.proof, stored_a.batch_id is not None) == (leaf, proofs[leaf], True)
            assert (stored_b.leaf_index, stored_b.proof, stored_b.batch_id) == (None, None, None)
            for column in ("patient_id", "payload", "service_key", "salt", "owner_public_key", "owner_signature",
                           "endorsements", "chain_id", "registry_address", "accepted_at", "accepted_block",
                           "status"):
                assert getattr(stored_a, column) == getattr(stored_b, column) == getattr(stored_c, column), column
            assert as_utc(stored_a.accepted_at) == a.accepted_at
    engine.dispose()

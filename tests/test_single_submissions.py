"""Single submissions that arrive together are checked together, and each still hears its own outcome: accepted
and stored, the same record again, or its own problem naming its field."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import httpx

from bindaas.crypto.mldsa import PrivateKey
from bindaas.demo import signed_envelope, signed_envelopes
from bindaas.ledger.envelope import Envelope, build_envelope, endorse
from bindaas.store import repository


def _tampered(envelope: Envelope) -> Envelope:
    signature = bytearray(base64.b64decode(envelope.owner.signature))
    signature[100] ^= 1
    owner = envelope.owner.model_copy(update={"signature": base64.b64encode(bytes(signature)).decode()})
    return envelope.model_copy(update={"owner": owner})


def _unenrolled(service, bundle: dict) -> Envelope:
    envelope = build_envelope(bundle, owner=PrivateKey.generate(), chain_id=service.chain.chain_id,
                              registry=service.chain.deployment.registry)
    for authority in service.authorities:
        envelope = endorse(envelope, authority_key=authority.key, authority=authority.address)
    return envelope


def _stored(service, record_ids: list[str]) -> bool:
    with service.services.sessions() as session:
        return all(repository.get_record(session, record_id=record_id) is not None for record_id in record_ids)


def test_submissions_sent_together_each_hear_their_own_outcome(service, framingham_bundles):
    good = signed_envelopes(framingham_bundles[:6], service.chain, service.authorities)
    bodies = [e.model_dump_json().encode() for e in good] + [
        good[0].model_dump_json().encode(),  # the same envelope again
        _tampered(signed_envelope(framingham_bundles[6], service.chain, service.authorities)).model_dump_json().encode(),
        _unenrolled(service, framingham_bundles[7]).model_dump_json().encode(),
        b'{"bundle": ',
    ]
    headers = {"authorization": f"Bearer {service.client.token}", "content-type": "application/json"}
    start = threading.Barrier(len(bodies))

    def post(body: bytes) -> httpx.Response:
        with httpx.Client(base_url=service.url, headers=headers, timeout=60) as http:
            start.wait()
            return http.post("/records", content=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(post, bodies))

    accepted = [a.json() for a in answers[:6]]
    assert [a.status_code for a in answers[:7]] == [202] * 7
    assert all(a["created"] for a in accepted[1:])
    again = answers[6].json()  # sent alongside its first copy: one of the two created it, the other found it
    assert again["id"] == accepted[0]["id"] and again["created"] != accepted[0]["created"]
    assert answers[7].status_code == 422
    assert answers[7].json()["type"] == "urn:bindaas:problem:signature-invalid"
    assert answers[7].json()["field"] == "owner.signature"
    assert answers[8].status_code == 422 and answers[8].json()["field"] == "owner.public_key"
    assert answers[9].status_code == 400  # not JSON at all
    assert answers[9].headers["content-type"].startswith("application/problem+json")
    assert _stored(service, [record["id"] for record in accepted])


@contextmanager
def _held(intake, envelope: Envelope) -> Iterator[Future]:
    """Keeps the intake thread busy with ``envelope``'s submission until the block ends, so that what the block
    submits queues behind it and is taken as one group; yields that first submission's future."""
    held, release = threading.Event(), threading.Event()

    def first() -> Envelope:
        held.set()
        release.wait(30)
        return envelope

    future = intake.submit(first)
    assert held.wait(30)
    try:
        yield future
    finally:
        release.set()


def test_a_submission_that_breaks_the_checks_fails_alone(service, framingham_bundles):
    """An error no check anticipated (here a bundle value JSON cannot hold) fails its own submission; the others
    queued with it are accepted and stored."""
    good = signed_envelopes(framingham_bundles[:3], service.chain, service.authorities)
    broken = good[2].model_copy(update={"bundle": {**good[2].bundle, "note": {1, 2}}})
    intake = service.services.intake
    with _held(intake, good[0]) as first:
        futures = [first, intake.submit(lambda: good[1]), intake.submit(lambda: broken)]

    stored = [futures[0].result(60), futures[1].result(60)]
    assert all(accepted.created for accepted in stored)
    assert "Unsupported type: 'set'" in str(futures[2].exception(60))
    assert _stored(service, [accepted.record.id for accepted in stored])


def test_a_submission_given_up_while_queued_is_not_stored(service, framingham_bundles):
    """A submitter may give up (its request cancelled) while its submission waits for the intake thread: it is
    then neither checked nor stored, and the submissions queued with it are not disturbed."""
    good = signed_envelopes(framingham_bundles[:3], service.chain, service.authorities)
    intake = service.services.intake
    with _held(intake, good[0]) as first:
        futures = [first, intake.submit(lambda: good[1]), intake.submit(lambda: good[2])]
        assert futures[1].cancel()

    assert futures[0].result(60).created and futures[2].result(60).created
    assert futures[1].cancelled()
    assert _stored(service, [futures[0].result().record.id, futures[2].result().record.id])
    assert not _stored(service, ["0x" + good[1].digest().hex()])

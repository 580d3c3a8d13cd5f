"""Sign-in with an ML-DSA-65 key: single-use challenges bound to the server, short-lived tokens, revoked keys."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import select, update

from bindaas.api.routes.signin import SIGN_IN_FAILED
from bindaas.chain.access import AccessChain
from bindaas.chain.client import ChainClient, connect
from bindaas.crypto.mldsa import AUTH_CONTEXT, PrivateKey, b64
from bindaas.store.models import AuditRow, ChallengeRow


def _challenge(service, key_id: str) -> dict:
    return service.client.http.post("/auth/challenge", json={"key_id": key_id}).json()


def _answer(service, key: PrivateKey, challenge: dict, *, key_id: str | None = None):
    signature = key.sign(base64.b64decode(challenge["challenge"]), context=AUTH_CONTEXT)
    return service.client.http.post("/auth/token", json={"key_id": key_id or key.public_key().key_id,
                                                         "nonce": challenge["nonce"], "signature": b64(signature)})


def test_signed_challenge_gives_a_token_with_the_role_from_the_chain(service):
    clinician = service.enroll("clinician")
    challenge = _challenge(service, clinician.key_id)
    assert challenge["audience"] == service.services.tokens.audience
    response = _answer(service, clinician.key, challenge)
    assert response.status_code == 200, response.text
    assert (response.json()["role"], response.json()["token_type"]) == ("clinician", "Bearer")
    authority = service.client.sign_in()
    assert authority["role"] == "authority"


def _last_failure(service) -> str:
    """The reason the last failed sign-in was refused, as the audit log keeps it."""
    with service.services.sessions() as session:
        row = session.scalars(select(AuditRow).where(AuditRow.action == "sign-in")
                              .order_by(AuditRow.seq.desc()).limit(1)).one()
    return json.loads(row.event_json)["outcomeDesc"]


def test_replayed_challenge_is_refused(service):
    clinician = service.enroll("clinician")
    challenge = _challenge(service, clinician.key_id)
    assert _answer(service, clinician.key, challenge).status_code == 200
    replay = _answer(service, clinician.key, challenge)
    assert replay.status_code == 401 and replay.json()["detail"] == SIGN_IN_FAILED
    assert "already used" in _last_failure(service)


def test_expired_challenge_is_refused(service):
    clinician = service.enroll("clinician")
    challenge = _challenge(service, clinician.key_id)
    with service.services.sessions() as session:  # let its two minutes pass
        session.execute(update(ChallengeRow).where(ChallengeRow.nonce == challenge["nonce"])
                        .values(expires_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))
        session.commit()
    response = _answer(service, clinician.key, challenge)
    assert response.status_code == 401 and response.json()["detail"] == SIGN_IN_FAILED
    assert "expired" in _last_failure(service)


def test_challenge_answered_by_another_key_is_refused(service):
    clinician, impostor = service.enroll("clinician"), PrivateKey.generate()
    response = _answer(service, impostor, _challenge(service, clinician.key_id), key_id=clinician.key_id)
    assert response.status_code == 401 and response.json()["field"] == "signature"
    unknown = _answer(service, impostor, _challenge(service, impostor.public_key().key_id))
    assert unknown.status_code == 401 and unknown.json()["detail"] == SIGN_IN_FAILED
    assert "not enrolled" in _last_failure(service)  # the reason is audited, not told to the caller


def test_expired_and_forged_tokens_are_refused(service):
    clinician = service.enroll("clinician")
    old, _ = service.services.tokens.mint(key_id=clinician.key_id, role="clinician", now=time.time() - 10_000)
    response = service.client.http.get("/authorities", headers={"authorization": f"Bearer {old}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    good = clinician.client.token
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    response = service.client.http.get("/authorities", headers={"authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_token_of_a_revoked_key_is_refused(service):
    clinician = service.enroll("clinician")
    assert clinician.client.authorities()["authorities"]
    service.client.revoke_identity(clinician.key_id)
    response = clinician.client.http.get("/authorities")
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    again = _answer(service, clinician.key, _challenge(service, clinician.key_id))
    assert again.status_code == 401


def test_a_key_revoked_by_another_client_of_the_node_is_refused_within_a_poll(service, chain_url):
    """Callers are remembered between requests; a revocation the server did not send itself ends that as soon as
    the registry watcher sees the event (Settings.registry_poll_s)."""
    if chain_url is None:
        pytest.skip("the in-process EVM has no other clients")
    clinician = service.enroll("clinician")
    assert clinician.client.http.get("/authorities").status_code == 200
    elsewhere = AccessChain(ChainClient(connect(chain_url), service.chain.deployment))
    elsewhere.revoke(clinician.key_id)
    deadline = time.monotonic() + 5
    while (response := clinician.client.http.get("/authorities")).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_roles_are_checked(service):
    clinician = service.enroll("clinician")
    response = clinician.client.http.post("/identities", json={"role": "patient", "public_key": "AA",
                                                                "kem_public_key": "AA"})
    assert response.status_code == 403 and response.json()["type"] == "urn:bindaas:problem:forbidden"
    assert clinician.client.http.post("/models/train", json={}).status_code == 403

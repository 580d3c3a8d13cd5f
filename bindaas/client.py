"""Python client for the BinDaaS REST API. With a key it signs in by itself (challenge, ML-DSA-65 signature,
token) and signs in again when the token expires; it also signs consent changes and opens encrypted exports on
the caller's side, so private keys never leave it."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx

from bindaas.chain.access import ConsentStatement
from bindaas.crypto.digest import record_digest
from bindaas.crypto.mldsa import AUTH_CONTEXT, CONSENT_CONTEXT, PrivateKey, b64
from bindaas.crypto.sealing import KemPrivateKey, unseal
from bindaas.ledger.envelope import Envelope

# A patient's first consent change, on a chain that checks ML-DSA-65 itself, first registers and proves the patient's
# key there: five transactions one after another, each waiting for its block (on Hardhat, about 11 s on this
# machine, and more when it is busy). Later changes send one.
CONSENT_TIMEOUT_S = 120.0


class ApiError(Exception):
    """The API answered with an RFC 9457 problem; ``problem`` holds its body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('title')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


class BindaasClient:
    """A thin, typed wrapper over the HTTP API, signed in as ``key`` when one is given."""

    def __init__(self, base_url: str, *, key: PrivateKey | None = None, kem_key: KemPrivateKey | None = None,
                 timeout_s: float = 30.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s)
        self.key = key
        self.kem_key = kem_key
        self.token: str | None = None
        self.role: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "BindaasClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def key_id(self) -> str:
        assert self.key is not None, "this client has no key"
        return self.key.public_key().key_id

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase, "detail": response.text[:500]}
            raise ApiError(response.status_code, problem)
        return response.json()

    def sign_in(self) -> dict[str, Any]:
        """The handshake: ask for a challenge, sign it, exchange it for an access token."""
        assert self.key is not None, "sign_in needs a key"
        challenge = self._json(self.http.post("/auth/challenge", json={"key_id": self.key_id}))
        signature = self.key.sign(base64.b64decode(challenge["challenge"]), context=AUTH_CONTEXT)
        answer = self._json(self.http.post("/auth/token", json={"key_id": self.key_id, "nonce": challenge["nonce"],
                                                                 "signature": b64(signature)}))
        self.token, self.role = answer["access_token"], answer["role"]
        self.http.headers["authorization"] = f"Bearer {self.token}"  # raw ``self.http`` calls carry it too
        return answer

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send a request with the access token (signing in first, and again once if the token has expired)."""
        if self.key is not None and self.token is None:
            self.sign_in()
        response = self.http.request(method, path, **kwargs)
        if response.status_code == 401 and self.key is not None and "expired" in response.text:
            self.sign_in()
            response = self.http.request(method, path, **kwargs)
        return self._json(response)

    # ------------------------------------------------------------------ records

    def submit(self, envelope: Envelope) -> dict[str, Any]:
        """POST the envelope; returns the record id, digest and status."""
        return self.request("POST", "/records", content=envelope.model_dump_json(),
                            headers={"content-type": "application/json"})

    def submit_bulk(self, envelopes: list[Envelope]) -> list[dict[str, Any]]:
        """POST the envelopes in one ``/records/bulk`` request; returns each one's result (record id and status, or
        the problem that refused it), in order."""
        body = {"envelopes": [e.model_dump(mode="json") for e in envelopes]}
        return self.request("POST", "/records/bulk", json=body)["results"]

    def record(self, record_id: str) -> dict[str, Any]:
        return self.request("GET", f"/records/{record_id}")

    def status(self, record_id: str) -> dict[str, Any]:
        return self.request("GET", f"/records/{record_id}/status")

    def verify(self, record_id: str) -> dict[str, Any]:
        return self.request("GET", f"/records/{record_id}/verify")

    def upload_object(self, record_id: str, data: bytes) -> dict[str, Any]:
        """Upload one DICOM object of an imaging record (its SHA3-256 must be listed in the record's bundle)."""
        import hashlib

        return self.request("PUT", f"/records/{record_id}/objects/{hashlib.sha3_256(data).hexdigest()}",
                            content=data, headers={"content-type": "application/dicom"})

    def receipt(self, record_id: str) -> dict[str, Any]:
        """The record's receipt (docs/spec.md): with the bundle, verifiable against the chain alone."""
        return self.request("GET", f"/records/{record_id}/receipt")

    def export(self, record_id: str) -> dict[str, Any]:
        """The encrypted export, opened here with this client's ML-KEM key; the digest is checked against the
        record id before the bundle is returned (``bundle`` in the result)."""
        assert self.kem_key is not None, "export needs the reader's ML-KEM key"
        exported = self.request("GET", f"/records/{record_id}/export")
        rid = exported["id"]
        data_key = self.kem_key.unwrap(base64.b64decode(exported["wrapped_key"]), record_id=rid,
                                       reader=self.key_id)
        plaintext = unseal(base64.b64decode(exported["payload"]), data_key, record_id=rid)
        if "0x" + record_digest(plaintext, bytes.fromhex(exported["salt"])).hex() != rid:
            raise ValueError(f"exported payload of {rid} does not hash to its id")
        return {**exported, "bundle": json.loads(plaintext)}

    def authorities(self) -> dict[str, Any]:
        return self.request("GET", "/authorities")

    def health(self) -> dict[str, Any]:
        return self._json(self.http.get("/health"))

    def wait_anchored(self, record_ids: list[str], *, timeout_s: float = 60.0) -> None:
        """Block until every record is anchored; raises TimeoutError naming how many are still waiting."""
        deadline = time.monotonic() + timeout_s
        waiting = list(record_ids)
        while waiting:
            waiting = [rid for rid in waiting if self.status(rid)["status"] != "anchored"]
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} records not anchored after {timeout_s} s")
            if waiting:
                time.sleep(0.1)

    # ------------------------------------------------------------------ identities, consents, audit

    def enroll(self, *, role: str, public_key: bytes, kem_public_key: bytes) -> dict[str, Any]:
        """Enrol a key with a role (the caller must be an authority)."""
        return self.request("POST", "/identities", json={"role": role, "public_key": b64(public_key),
                                                         "kem_public_key": b64(kem_public_key)})

    def enroll_many(self, *, role: str, keys: list[tuple[bytes, bytes]]) -> list[str]:
        """Enrol (ML-DSA-65, ML-KEM-768) public key pairs with one role, 256 per request; returns their key ids."""
        enrolled: list[str] = []
        for start in range(0, len(keys), 256):
            chunk = [{"public_key": b64(s), "kem_public_key": b64(k)} for s, k in keys[start:start + 256]]
            enrolled += self.request("POST", "/identities/bulk", json={"role": role, "identities": chunk})["enrolled"]
        return enrolled

    def revoke_identity(self, key_id: str) -> dict[str, Any]:
        return self.request("POST", f"/identities/{key_id}/revoke")

    def set_consent(self, grantee: str, *, granted: bool = True, not_after: int = 0) -> dict[str, Any]:
        """As a patient: sign and send a grant (or revocation) of ``grantee``'s read access."""
        assert self.key is not None, "consents are signed with the patient's key"
        info = self.request("GET", "/consents/nonce")
        statement = ConsentStatement(info["chain_id"], info["contract"].lower(), self.key_id, grantee.lower(),
                                     granted, not_after, info["nonce"])
        signature = self.key.sign(statement.message(), context=CONSENT_CONTEXT)
        return self.request("POST", "/consents", json={"grantee": grantee, "granted": granted,
                                                       "not_after": not_after, "nonce": info["nonce"],
                                                       "signature": b64(signature)},
                            timeout=max(self.http.timeout.read or 0, CONSENT_TIMEOUT_S))

    def consents(self, patient: str | None = None) -> dict[str, Any]:
        return self.request("GET", "/consents", params={"patient": patient} if patient else None)

    def access_log(self, patient: str, *, verify: bool = False) -> dict[str, Any]:
        return self.request("GET", f"/patients/{patient}/access-log", params={"verify": str(verify).lower()})

    def verify_audit_log(self) -> dict[str, Any]:
        return self.request("GET", "/audit/verify")

"""Sign-in with a lattice key: the server issues a single-use challenge bound to itself, the caller's key id and
an expiry; the caller signs it with ML-DSA-65; the server checks the signature against the key the chain
published for that key id and returns a short-lived access token carrying the role the chain gives the key."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete
from sqlalchemy.orm import Session

from bindaas.access.tokens import Claims, TokenIssuer
from bindaas.chain.access import AccessChain, Identity
from bindaas.chain.client import ChainClient
from bindaas.crypto.canonical import canonical_json
from bindaas.crypto.mldsa import AUTH_CONTEXT, PublicKey
from bindaas.errors import BindaasError, Unauthorized
from bindaas.store.models import ChallengeRow

_CHALLENGE_TAG = b"BINDAAS/auth/v1\x00"


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the chain says now."""

    key_id: str
    role: str  # authority | clinician | patient | auditor
    identity: Identity | None  # the enrolment (with its ML-KEM key) if the key is enrolled

    @property
    def kem_key(self) -> bytes | None:
        return self.identity.kem_key if self.identity else None


def challenge_message(*, audience: str, key_id: str, nonce: str, expires_at: int) -> bytes:
    """The bytes a caller signs to sign in."""
    return _CHALLENGE_TAG + canonical_json({"aud": audience, "exp": expires_at, "key_id": key_id, "nonce": nonce})


def issue_challenge(session: Session, *, key_id: str, audience: str, ttl_s: int) -> tuple[str, int, bytes]:
    """Store a fresh challenge for ``key_id``; returns (nonce, expiry as unix seconds, message to sign)."""
    now = datetime.now(timezone.utc)
    session.execute(delete(ChallengeRow).where(ChallengeRow.expires_at < now))  # keep the table small
    nonce = os.urandom(32).hex()
    expires = now + timedelta(seconds=ttl_s)
    session.add(ChallengeRow(nonce=nonce, key_id=key_id, expires_at=expires))
    session.commit()
    exp = int(expires.timestamp())
    return nonce, exp, challenge_message(audience=audience, key_id=key_id, nonce=nonce, expires_at=exp)


def consume_challenge(session: Session, *, nonce: str, key_id: str) -> int:
    """Use up the challenge ``nonce`` for ``key_id``; returns its expiry. A challenge works once: deleting it is
    the claim, so two concurrent answers cannot both succeed."""
    row = session.get(ChallengeRow, nonce)
    used = session.execute(delete(ChallengeRow).where(ChallengeRow.nonce == nonce, ChallengeRow.key_id == key_id))
    session.commit()
    if row is None or used.rowcount != 1:
        raise Unauthorized("unknown or already used challenge; ask for a new one", field="nonce")
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=timezone.utc)
    if expires < datetime.now(timezone.utc):
        raise Unauthorized("challenge expired; ask for a new one", field="nonce")
    return int(expires.timestamp())


def resolve_caller(key_id: str, *, chain: ChainClient, access: AccessChain) -> Caller:
    """The caller's role now: an authority if the authority registry holds the key as valid, else the role of its
    active enrolment. Raises Unauthorized for unknown or revoked keys."""
    key_id = key_id.lower()
    identity = access.identity(key_id)
    head = chain.head_for_acceptance()
    if chain.key_status(key_id, at_block=head).valid_at(head):
        return Caller(key_id, "authority", identity if identity and identity.active else None)
    if identity is None:
        raise Unauthorized(f"key {key_id} is not enrolled", field="key_id")
    if not identity.active or identity.role == "authority":  # an authority identity outlives no registry key
        raise Unauthorized(f"key {key_id} has been revoked", field="key_id")
    return Caller(key_id, identity.role, identity)


class KnownCallers:
    """Callers already resolved, kept for as long as the registry view they were resolved against
    (``ChainClient.view_epoch``): a caller's role comes from the registries alone, so while no registry event
    has been seen since, resolving it again would give the same answer. ``known`` never touches the chain, so
    the event loop may ask it; a miss is resolved off the loop with ``resolve``."""

    _LIMIT = 65_536  # distinct callers kept; past that the map starts afresh

    def __init__(self, chain: ChainClient, access: AccessChain) -> None:
        self.chain, self.access = chain, access
        self._known: dict[str, tuple[tuple[int, int], Caller]] = {}

    def known(self, key_id: str) -> Caller | None:
        """The caller behind ``key_id`` if resolved against the current registry view, else None."""
        entry = self._known.get(key_id.lower())
        epoch = self.chain.view_epoch()
        return entry[1] if entry is not None and epoch is not None and entry[0] == epoch else None

    def resolve(self, key_id: str) -> Caller:
        """``resolve_caller``, remembered while the registry view stays as it was (the epoch is read first: a
        registry event during the reads leaves the entry stale, never wrong)."""
        epoch = self.chain.view_epoch()
        caller = resolve_caller(key_id, chain=self.chain, access=self.access)
        if epoch is not None:
            if len(self._known) >= self._LIMIT:
                self._known = {}
            self._known[caller.key_id] = (epoch, caller)
        return caller


def signing_key_of(key_id: str, caller: Caller, chain: ChainClient) -> PublicKey:
    if caller.role == "authority":
        return PublicKey(chain.public_key(key_id))
    assert caller.identity is not None
    return PublicKey(caller.identity.signing_key)


def sign_in(session: Session, *, key_id: str, nonce: str, signature: bytes, chain: ChainClient,
            access: AccessChain, tokens: TokenIssuer) -> tuple[str, Claims]:
    """Check the signed challenge and mint a token; raises Unauthorized on any failure (the challenge is spent)."""
    key_id = key_id.lower()
    expires_at = consume_challenge(session, nonce=nonce, key_id=key_id)
    caller = resolve_caller(key_id, chain=chain, access=access)
    message = challenge_message(audience=tokens.audience, key_id=key_id, nonce=nonce, expires_at=expires_at)
    try:
        signing_key_of(key_id, caller, chain).verify(signature, message, context=AUTH_CONTEXT, field="signature")
    except BindaasError as exc:
        raise Unauthorized(f"challenge signature does not verify: {exc.detail}", field="signature") from exc
    return tokens.mint(key_id=key_id, role=caller.role)

"""Sign-in: a challenge to sign with the caller's ML-DSA-65 key, exchanged for a short-lived access token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from bindaas.access.signin import issue_challenge, sign_in
from bindaas.api.deps import ServicesDep
from bindaas.crypto.mldsa import AUTH_CONTEXT, b64, unb64
from bindaas.errors import Unauthorized

router = APIRouter(prefix="/auth", tags=["auth"])
KEY_ID = r"^0x[0-9a-fA-F]{64}$"


class ChallengeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(pattern=KEY_ID, description="keccak256 of the caller's ML-DSA-65 public key")


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id: str = Field(pattern=KEY_ID)
    nonce: str = Field(pattern=r"^[0-9a-f]{64}$", description="the challenge's nonce")
    signature: str = Field(description="base64 ML-DSA-65 signature of the challenge, context 'bindaas/auth/v1'")


@router.post("/challenge")
def challenge(request: ChallengeRequest, services: ServicesDep) -> dict[str, Any]:
    """A single-use challenge bound to this service, the key id and an expiry. Sign ``challenge`` (base64 of the
    exact bytes) with ML-DSA-65 under the context ``bindaas/auth/v1``."""
    with services.sessions() as session:
        nonce, expires_at, message = issue_challenge(session, key_id=request.key_id.lower(),
                                                     audience=services.tokens.audience,
                                                     ttl_s=services.settings.challenge_ttl_s)
    return {"nonce": nonce, "challenge": b64(message), "context": AUTH_CONTEXT.decode(),
            "audience": services.tokens.audience, "expires_at": expires_at}


@router.post("/token")
def token(request: TokenRequest, services: ServicesDep) -> dict[str, Any]:
    """An access token for the key that signed the challenge, with the role the chain gives it now."""
    key_id = request.key_id.lower()
    try:
        with services.sessions() as session:
            access_token, claims = sign_in(session, key_id=key_id, nonce=request.nonce,
                                           signature=unb64(request.signature, field="signature"),
                                           chain=services.chain, access=services.access, tokens=services.tokens)
    except Unauthorized as exc:
        services.audit.record(action="sign-in", agent=key_id, success=False, detail=f"refused: {exc.detail}")
        raise
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": claims.expires_at - claims.issued_at,
            "expires_at": claims.expires_at, "key_id": key_id, "role": claims.role}

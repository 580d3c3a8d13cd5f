"""Sign-in: a challenge to sign with the caller's ML-DSA-65 key, exchanged for a short-lived access token."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from bindaas.access.signin import issue_challenge, sign_in
from bindaas.api.deps import ServicesDep
from bindaas.crypto.mldsa import AUTH_CONTEXT, b64, unb64
from bindaas.errors import InvalidKey, RateLimited, Unauthorized
from bindaas.observability import metrics

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


SIGN_IN_FAILED = ("sign-in failed: the challenge, the key or the signature was not accepted; ask for a new "
                  "challenge and sign it with an enrolled, active key")


def _address(http: Request) -> str:
    return http.client.host if http.client else "unknown"


@router.post("/challenge", responses={429: {"description": "too many challenges for this key id or address; "
                                            "see Retry-After"}})
def challenge(request: ChallengeRequest, http: Request, services: ServicesDep) -> dict[str, Any]:
    """A single-use challenge bound to this service, the key id and an expiry. Sign ``challenge`` (base64 of the
    exact bytes) with ML-DSA-65 under the context ``bindaas/auth/v1``. Rate-limited per key id and address."""
    wait = services.signin_limits.challenge(key_id=request.key_id.lower(), address=_address(http))
    if wait:
        metrics.rate_limited.labels("/auth/challenge").inc()
        raise RateLimited(f"too many sign-in challenges; try again in {int(wait)} s", retry_after=wait,
                          field="key_id")
    with services.sessions() as session:
        nonce, expires_at, message = issue_challenge(session, key_id=request.key_id.lower(),
                                                     audience=services.tokens.audience,
                                                     ttl_s=services.settings.challenge_ttl_s)
    return {"nonce": nonce, "challenge": b64(message), "context": AUTH_CONTEXT.decode(),
            "audience": services.tokens.audience, "expires_at": expires_at}


@router.post("/token", responses={429: {"description": "too many failed sign-ins; see Retry-After"}})
def token(request: TokenRequest, http: Request, services: ServicesDep) -> dict[str, Any]:
    """An access token for the key that signed the challenge, with the role the chain gives it now. Every failure
    gets the same answer (whether the key is unknown, revoked or the signature wrong is not told), and failures are
    rate-limited per key id, per address and in all."""
    key_id, address = request.key_id.lower(), _address(http)
    limits = services.signin_limits
    wait = limits.failure_blocked(key_id=key_id, address=address)
    if wait:
        metrics.rate_limited.labels("/auth/token").inc()
        raise RateLimited(f"too many failed sign-ins; try again in {int(wait)} s", retry_after=wait, field="key_id")
    try:
        with services.sessions() as session:
            access_token, claims = sign_in(session, key_id=key_id, nonce=request.nonce,
                                           signature=unb64(request.signature, field="signature"),
                                           chain=services.chain, access=services.access, tokens=services.tokens)
    except (Unauthorized, InvalidKey) as exc:
        metrics.signin_failures.inc()
        unaudited = limits.failed(key_id=key_id, address=address)
        if unaudited is not None:  # past the total limit a failure is counted, and told with the next one audited
            more = f" ({unaudited} more failed sign-ins before this one were not logged one by one)" if unaudited else ""
            services.audit.record(action="sign-in", agent=key_id, success=False, detail=f"refused: {exc.detail}{more}")
        raise Unauthorized(SIGN_IN_FAILED, field="signature") from None
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": claims.expires_at - claims.issued_at,
            "expires_at": claims.expires_at, "key_id": key_id, "role": claims.role}

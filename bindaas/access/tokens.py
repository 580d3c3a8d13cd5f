"""Short-lived bearer tokens: ``v1.<claims>.<HMAC-SHA256>``, both parts base64url. Stateless, so any worker that
shares the secret accepts them; whether the key behind a token is still active is checked on every request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from bindaas.errors import Unauthorized


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Claims:
    key_id: str
    role: str
    audience: str
    issued_at: int
    expires_at: int


class TokenIssuer:
    """Mints and checks access tokens for one audience."""

    def __init__(self, secret: bytes, *, audience: str, ttl_s: int) -> None:
        self._secret = secret
        self.audience = audience
        self.ttl_s = ttl_s

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())

    def mint(self, *, key_id: str, role: str, now: float | None = None) -> tuple[str, Claims]:
        issued = int(now if now is not None else time.time())
        claims = Claims(key_id, role, self.audience, issued, issued + self.ttl_s)
        body = "v1." + _b64(json.dumps({"sub": key_id, "role": role, "aud": self.audience, "iat": issued,
                                         "exp": claims.expires_at}, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}", claims

    def check(self, token: str, *, now: float | None = None) -> Claims:
        """The token's claims; raises Unauthorized when it is malformed, forged, for another audience or expired."""
        parts = token.split(".")
        # A header may carry any byte; the MAC comparison takes ASCII only, so anything else is malformed here.
        if not token.isascii() or len(parts) != 3 or parts[0] != "v1":
            raise Unauthorized("malformed access token", field="Authorization")
        body = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._mac(body), parts[2]):
            raise Unauthorized("access token signature is invalid", field="Authorization")
        try:
            data = json.loads(_unb64(parts[1]))
            claims = Claims(data["sub"], data["role"], data["aud"], int(data["iat"]), int(data["exp"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise Unauthorized("malformed access token", field="Authorization") from exc
        if claims.audience != self.audience:
            raise Unauthorized("access token is for another service", field="Authorization")
        if (now if now is not None else time.time()) >= claims.expires_at:
            raise Unauthorized("access token expired; sign in again", field="Authorization")
        return claims

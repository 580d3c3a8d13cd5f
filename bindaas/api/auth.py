"""The caller of a request: a bearer token checked on every request, and the role checks routes make."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bindaas.access.signin import Caller, resolve_caller
from bindaas.api.deps import ServicesDep
from bindaas.errors import Forbidden, Unauthorized


# Declared so the OpenAPI document (and its /docs page) shows the bearer scheme; the checks are ours.
bearer = HTTPBearer(auto_error=False, description="an access token from POST /auth/token")


def authenticated(services: ServicesDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    """The caller named by ``Authorization: Bearer <token>``; refused (401) when the token is missing, forged or
    expired, or the key behind it has been revoked since it was issued."""
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("this endpoint needs an access token: sign in at POST /auth/challenge and "
                           "POST /auth/token, then send 'Authorization: Bearer <token>'", field="Authorization")
    claims = services.tokens.check(credentials.credentials.strip())
    return resolve_caller(claims.key_id, chain=services.chain, access=services.access)


CallerDep = Annotated[Caller, Depends(authenticated)]


def require_role(caller: Caller, *roles: str, doing: str) -> None:
    """Raise Forbidden unless ``caller`` has one of ``roles``."""
    if caller.role not in roles:
        raise Forbidden(f"a {caller.role} may not {doing}; allowed roles: {', '.join(roles)}", field="Authorization")

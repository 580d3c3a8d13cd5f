"""The caller of a request: a bearer token checked on every request, and the role checks routes make."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bindaas.access.signin import Caller, resolve_caller
from bindaas.api.deps import ServicesDep
from bindaas.errors import Forbidden, Unauthorized


def authenticated(request: Request, services: ServicesDep) -> Caller:
    """The caller named by ``Authorization: Bearer <token>``; refused (401) when the token is missing, forged or
    expired, or the key behind it has been revoked since it was issued."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("this endpoint needs an access token: sign in at POST /auth/challenge and "
                           "POST /auth/token, then send 'Authorization: Bearer <token>'", field="Authorization")
    claims = services.tokens.check(token.strip())
    return resolve_caller(claims.key_id, chain=services.chain, access=services.access)


CallerDep = Annotated[Caller, Depends(authenticated)]


def require_role(caller: Caller, *roles: str, doing: str) -> None:
    """Raise Forbidden unless ``caller`` has one of ``roles``."""
    if caller.role not in roles:
        raise Forbidden(f"a {caller.role} may not {doing}; allowed roles: {', '.join(roles)}", field="Authorization")

"""The caller of a request: a bearer token checked on every request, and the role checks routes make."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from bindaas.access.signin import Caller
from bindaas.access.tokens import Claims
from bindaas.api.deps import ServicesDep
from bindaas.api.services import Services
from bindaas.errors import Forbidden, Unauthorized


# Declared so the OpenAPI document (and its /docs page) shows the bearer scheme; the checks are ours.
bearer = HTTPBearer(auto_error=False, description="an access token from POST /auth/token")


def _claims(services: Services, credentials: HTTPAuthorizationCredentials | None) -> Claims:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("this endpoint needs an access token: sign in at POST /auth/challenge and "
                           "POST /auth/token, then send 'Authorization: Bearer <token>'", field="Authorization")
    return services.tokens.check(credentials.credentials.strip())


def caller_of(services: Services, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    """The caller named by ``Authorization: Bearer <token>``; refused (401) when the token is missing, forged or
    expired, or the key behind it has been revoked since it was issued. May read the chain: not on the loop."""
    key_id = _claims(services, credentials).key_id
    return services.callers.known(key_id) or services.callers.resolve(key_id)


async def authenticated(services: ServicesDep,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    """``caller_of`` as a dependency. The token (an HMAC) is checked on the event loop, and so is the caller when
    it is known for the current registry view; resolving one may read the chain, so that goes to a worker thread.
    As a sync dependency it sent every request there, a hop that cost the loop more than the rest of the route."""
    key_id = _claims(services, credentials).key_id
    return services.callers.known(key_id) or await run_in_threadpool(services.callers.resolve, key_id)


CallerDep = Annotated[Caller, Depends(authenticated)]


def require_role(caller: Caller, *roles: str, doing: str) -> None:
    """Raise Forbidden unless ``caller`` has one of ``roles``."""
    if caller.role not in roles:
        raise Forbidden(f"a {caller.role} may not {doing}; allowed roles: {', '.join(roles)}", field="Authorization")

"""What every route module shares: the app's parts as dependencies, the guard, error shapes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer

from authgate.core.tokens import AccessClaims
from authgate.errors import NoCredentials
from authgate.service import Service
from authgate.web.bodies import ErrorOut
from authgate.web.cookies import Transport
from authgate.web.pools import WorkPool
from authgate.web.throttle import Throttle
from authgate.web.transport import Carrier, Wire

# Declares the Bearer scheme in OpenAPI with /sign-in as its password flow, so Swagger's
# Authorize button works. auto_error=False: authgate answers 401 in its own shape.
bearer = OAuth2PasswordBearer(tokenUrl="sign-in", auto_error=False)

Responses = dict[int | str, dict[str, object]]
ERROR: dict[str, object] = {"model": ErrorOut}
BODY_FAILURES: Responses = {413: ERROR, 422: ERROR}  # over 1 MiB; malformed or mistyped
TOKEN_FAILURES: Responses = {**BODY_FAILURES, 401: ERROR, 429: ERROR}
HASHING_FAILURES: Responses = {**TOKEN_FAILURES, 503: ERROR}  # the hashing queue is full
GUARD_FAILURES: Responses = {401: ERROR}
CSRF_FAILURES: Responses = {403: ERROR}  # cookie transport: cross-origin, or no CSRF token
TransportQuery = Annotated[
    Transport,
    Query(
        description="`body` (default): the tokens in the JSON answer. `cookie`, for "
        "browsers: the tokens in httpOnly cookies and only `expires_in` in the answer; "
        "later requests authenticated by the cookies send the X-CSRF-Token header, set to "
        "the value of the (script-readable) CSRF cookie."
    ),
]


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def wire(request: Request) -> Wire:
    found: Wire = request.app.state.wire
    return found


def _app_state(name: str) -> Any:  # a FastAPI Depends marker
    """A dependency answering the app's part `name` (set on app.state by web/app.py)."""

    def part(request: Request) -> object:
        return getattr(request.app.state, name)

    return Depends(part)


def authenticate(request: Request) -> tuple[AccessClaims, Carrier]:
    """The guard: a verified, unrevoked access token and what carried it, or a 401.

    The token comes from the Authorization header or, when none is sent, from the
    access-token cookie; an unsafe request so authenticated must pass the CSRF checks (403).
    Runs on the event loop.
    """
    transport = wire(request)
    found = transport.presented(request)
    if found is None:
        raise NoCredentials
    token, carrier = found
    claims = service(request).read(token)
    transport.admit(request, carrier, claims.session_id)
    return claims, carrier


async def access_claims(
    request: Request,
    _declared: Annotated[str | None, Depends(bearer)],  # the scheme, for OpenAPI only
) -> AccessClaims:
    """The guard as a dependency: the claims of `authenticate`."""
    return authenticate(request)[0]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


Claims = Annotated[AccessClaims, Depends(access_claims)]
Svc = Annotated[Service, Depends(service)]
Transports = Annotated[Wire, Depends(wire)]
Throttles = Annotated[Throttle, _app_state("throttle")]
Hashing = Annotated[WorkPool, _app_state("hashing")]  # password hashing
Database = Annotated[WorkPool, _app_state("database")]

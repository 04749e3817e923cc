"""POST /token: a refresh token traded for new tokens (rotation), from the body or a cookie."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from authgate.service import Service, SignedIn
from authgate.web.bodies import CookieTokenOut, RefreshRequest, TokenOut
from authgate.web.routes.deps import (
    CSRF_FAILURES,
    TOKEN_FAILURES,
    Database,
    Svc,
    Throttles,
    TransportQuery,
    Transports,
    client_ip,
)
from authgate.web.transport import RefreshCredential, Wire

router = APIRouter()


@router.post(
    "/token",
    response_model=TokenOut | CookieTokenOut,
    responses={**TOKEN_FAILURES, **CSRF_FAILURES},
)
async def refresh(
    request: Request,
    svc: Svc,
    db: Database,
    throttle: Throttles,
    wire: Transports,
    transport: TransportQuery = "body",
    body: RefreshRequest | None = None,
) -> JSONResponse:
    """Trade a refresh token for a new access token and a new refresh token (rotation).

    With no refresh token in the body, the refresh-token cookie's is used (with the CSRF
    token), and the answer is in cookie transport.
    """
    credential = wire.refresh_credential(request, body.value if body else None, transport)
    ip = client_ip(request)
    await throttle.hit("token", ip)
    result = await db.run(rotate, svc, wire, credential, ip=ip)
    return wire.signed_in(result, credential.transport)


def rotate(svc: Service, wire: Wire, credential: RefreshCredential, *, ip: str) -> SignedIn:
    """Rotate; a cookie's refresh token only with the CSRF token of its own session.

    Checked before rotating: a refused request must not spend the browser's token.
    """
    if credential.csrf_token is not None:
        wire.check_refresh_session(credential, svc.session_of(credential.token))
    return svc.refresh(credential.token, ip=ip)

"""Sessions: sign out (this one or all), list them, end one."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from authgate.core.store import SessionId, UserId
from authgate.errors import InvalidToken
from authgate.web.bodies import ErrorOut, SessionOut, SignOutRequest
from authgate.web.routes.deps import (
    BODY_FAILURES,
    CSRF_FAILURES,
    GUARD_FAILURES,
    Call,
    Database,
    Svc,
    Transports,
    authenticate,
    bearer,
    direct,
    json,
)

router = APIRouter()
NO_CONTENT = Response(status_code=204)


@router.post(
    "/sign-out", status_code=204, responses={**GUARD_FAILURES, **BODY_FAILURES, **CSRF_FAILURES}
)
async def sign_out(
    request: Request,
    svc: Svc,
    db: Database,
    wire: Transports,
    _declared: Annotated[str | None, Depends(bearer)],  # the scheme, for OpenAPI only
    body: SignOutRequest | None = None,
) -> Response:
    """End this session, named by the Bearer token, the refresh token, or both.

    With neither, a browser's access-token cookie names it (with the CSRF token), and the
    answer clears the cookies.
    """
    refresh_token = body.value if body else None
    if refresh_token is None:
        # The Bearer token, or a browser's cookie (with the CSRF token); else 401.
        claims, carrier = authenticate(request.scope, svc, wire)
        await db.run(svc.sign_out, SessionId(claims.session_id))
        return wire.signed_out(carrier)
    found = wire.presented(request)
    if found is not None and found[1] == "header":
        with contextlib.suppress(InvalidToken):  # the refresh token still names the session
            await db.run(svc.sign_out, SessionId(svc.read(found[0]).session_id))
    await db.run(svc.sign_out_by_refresh_token, refresh_token)
    return Response(status_code=204)


@direct(
    router.post, "/sign-out-all", status_code=204, responses={**GUARD_FAILURES, **CSRF_FAILURES}
)
async def sign_out_all(call: Call) -> Response:
    """End every session of the signed-in user."""
    await call.database.run(call.service.sign_out_everywhere, UserId(call.claims.subject))
    return NO_CONTENT


@direct(router.get, "/sessions", response_model=list[SessionOut], responses=GUARD_FAILURES)
async def list_sessions(call: Call) -> Response:
    """The signed-in user's live sessions, most recently used first."""
    claims = call.claims
    live = await call.database.run(call.service.live_sessions, UserId(claims.subject))
    return json(
        [
            SessionOut(
                id=s.id,
                created_at=s.created_at,
                last_used_at=s.last_used_at,
                ip=s.ip,
                user_agent=s.user_agent,
                current=s.id == claims.session_id,
            )
            for s in live
        ],
        SessionOut,
    )


@direct(
    router.delete,
    "/sessions/{session_id}",
    status_code=204,
    responses={**GUARD_FAILURES, **CSRF_FAILURES, 404: {"model": ErrorOut}},
)
async def end_session(call: Call) -> Response:
    """End one of the signed-in user's sessions, e.g. on a lost laptop; another session
    than this one needs a recent sign-in."""
    session_id = SessionId(call.path["session_id"])
    if session_id != call.claims.session_id:
        call.service.check_recent_sign_in(call.claims)  # a stolen token must not evict
    await call.database.run(call.service.end_session, UserId(call.claims.subject), session_id)
    return NO_CONTENT

"""The address (DESIGN §8): verify it, change it, undo a change that was not yours."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from authgate.core.store import UserId
from authgate.web.bodies import AcceptedOut, EmailChangeIn, LinkIn, VerifyRequest
from authgate.web.page import landing_page
from authgate.web.routes.deps import (
    BODY_FAILURES,
    CSRF_FAILURES,
    ERROR,
    GUARD_FAILURES,
    Claims,
    Database,
    LinkQuery,
    Svc,
    Throttles,
    Transports,
    authenticate,
    client_ip,
    throttle_mail,
)

router = APIRouter()
VERIFY_ANSWER = "if an account not yet verified has this address, a link is on its way"
NO_CONTENT = 204


@router.post(
    "/email/verify/request",
    status_code=202,
    response_model=AcceptedOut,
    responses={**GUARD_FAILURES, **BODY_FAILURES, **CSRF_FAILURES, 429: ERROR, 503: ERROR},
)
async def request_verification(
    request: Request,
    svc: Svc,
    db: Database,
    wire: Transports,
    throttle: Throttles,
    background: BackgroundTasks,
    body: VerifyRequest | None = None,
) -> JSONResponse:
    """(Re)send the verification mail: to the signed-in user (Bearer), or, for someone
    AUTHGATE_REQUIRE_VERIFIED_EMAIL keeps from signing in, to `{"email"}` (answered the same
    whether or not an account has it)."""
    ip = client_ip(request)
    if body is not None and body.email is not None:
        svc.check_address(body.email)  # 422 for what is not an address: its form, no lookup
        await throttle_mail(throttle, ip, svc.account_key(body.email))
        background.add_task(db.run, svc.request_verification_by_email, body.email)
        return JSONResponse({"detail": VERIFY_ANSWER}, status_code=202)
    claims, _ = authenticate(request.scope, svc, wire)
    await throttle_mail(throttle, ip, svc.account_key(claims.email))
    sent = await db.run(svc.request_verification, UserId(claims.subject))
    detail = "a verification link is on its way" if sent else "the address is verified already"
    return JSONResponse({"detail": detail}, status_code=202)


@router.get("/email/verify", response_class=HTMLResponse)
async def verify_email_page(token: LinkQuery = None) -> Response:
    """The page a verification link opens: a button that confirms. It consumes nothing."""
    return landing_page()


@router.post("/email/verify", status_code=204, responses={**BODY_FAILURES, 400: ERROR})
async def verify_email(body: LinkIn, svc: Svc, db: Database) -> Response:
    """Mark the address verified with the token of a verification link."""
    await db.run(svc.verify_email, body.token)
    return Response(status_code=NO_CONTENT)


@router.post(
    "/email/change",
    status_code=202,
    response_model=AcceptedOut,
    responses={
        **GUARD_FAILURES,
        **BODY_FAILURES,
        **CSRF_FAILURES,
        409: ERROR,
        429: ERROR,
        503: ERROR,
    },
)
async def change_email(
    body: EmailChangeIn,
    request: Request,
    claims: Claims,
    svc: Svc,
    db: Database,
    throttle: Throttles,
) -> JSONResponse:
    """Mail a confirmation link to the new address and a notice to the current one; the
    address changes when the link is used. Needs a recent sign-in."""
    svc.check_recent_sign_in(claims)
    await throttle_mail(throttle, client_ip(request), svc.account_key(body.new_email))
    await db.run(svc.request_email_change, UserId(claims.subject), body.new_email)
    return JSONResponse(
        {"detail": "confirm the new address with the link sent to it"}, status_code=202
    )


@router.get("/email/change/confirm", response_class=HTMLResponse)
async def confirm_email_change_page(token: LinkQuery = None) -> Response:
    """The page a confirmation link opens: a button that confirms. It consumes nothing."""
    return landing_page()


@router.post(
    "/email/change/confirm", status_code=204, responses={**BODY_FAILURES, 400: ERROR, 409: ERROR}
)
async def confirm_email_change(body: LinkIn, svc: Svc, db: Database) -> Response:
    """Switch to the new address with the token of its confirmation link."""
    await db.run(svc.confirm_email_change, body.token)
    return Response(status_code=NO_CONTENT)


@router.get("/email/change/revert", response_class=HTMLResponse)
async def revert_email_change_page(token: LinkQuery = None) -> Response:
    """The page of a "this wasn't me" link: a button that secures the account."""
    return landing_page()


@router.post(
    "/email/change/revert",
    status_code=204,
    responses={**BODY_FAILURES, 400: ERROR, 409: ERROR, 429: ERROR},
)
async def revert_email_change(
    body: LinkIn, request: Request, svc: Svc, db: Database, throttle: Throttles
) -> Response:
    """Undo an address change: the old address back, everyone signed out, and a link to
    set a new password sent to the old address."""
    await throttle.hit("mail_ip", client_ip(request))
    await db.run(svc.revert_email_change, body.token)
    return Response(status_code=NO_CONTENT)

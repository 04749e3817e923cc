"""Passwords (DESIGN §8): forgotten (a link by mail), reset from the link, changed."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from authgate.web.bodies import AcceptedOut, EmailIn, PasswordChangeIn, ResetIn
from authgate.web.page import landing_page
from authgate.web.routes.deps import (
    BODY_FAILURES,
    CSRF_FAILURES,
    ERROR,
    GUARD_FAILURES,
    Claims,
    Database,
    Hashing,
    LinkQuery,
    Svc,
    Throttles,
    client_ip,
    throttle_mail,
)

router = APIRouter()
FORGOT_ANSWER = "if an account has this address, a link to reset its password is on its way"


@router.post(
    "/password/forgot",
    status_code=202,
    response_model=AcceptedOut,
    responses={**BODY_FAILURES, 429: ERROR, 503: ERROR},
)
async def forgot_password(
    body: EmailIn,
    request: Request,
    svc: Svc,
    db: Database,
    throttle: Throttles,
    background: BackgroundTasks,
) -> JSONResponse:
    """Mail a reset link if an account has this address.

    The answer is the same, and comes as soon, whether or not it does: the account is
    looked up after the answer is sent. The throttle counts the address whether or not an
    account has it.
    """
    svc.check_address(body.email)  # 422 for what is not an address: its form, no lookup
    await throttle_mail(throttle, client_ip(request), svc.account_key(body.email))
    background.add_task(db.run, svc.forgot_password, body.email)
    return JSONResponse({"detail": FORGOT_ANSWER}, status_code=202)


@router.get("/password/reset", response_class=HTMLResponse)
async def reset_password_page(token: LinkQuery = None) -> Response:
    """The page a reset link opens: a form for the new password. It consumes nothing."""
    return landing_page()


@router.post(
    "/password/reset",
    status_code=204,
    responses={**BODY_FAILURES, 400: ERROR, 503: ERROR},
)
async def reset_password(body: ResetIn, svc: Svc, pool: Hashing) -> Response:
    """Set a new password with a reset link's token; every session of the account ends."""
    await pool.run(svc.reset_password, body.token, body.password)
    return Response(status_code=204)


@router.post(
    "/password/change",
    status_code=204,
    responses={**GUARD_FAILURES, **BODY_FAILURES, **CSRF_FAILURES, 429: ERROR, 503: ERROR},
)
async def change_password(
    body: PasswordChangeIn, claims: Claims, svc: Svc, pool: Hashing, throttle: Throttles
) -> Response:
    """Change the password, knowing the current one, after a recent sign-in.

    Wrong current passwords count as failed sign-ins of the account: a stolen access token
    is no way to guess the password.
    """
    svc.check_recent_sign_in(claims)
    account = svc.account_key(claims.email)
    await throttle.hit("sign_in_account", account)
    await pool.run(
        svc.change_own_password,
        claims,
        body.current_password,
        body.new_password,
        sign_out_others=body.sign_out_others,
    )
    await throttle.refund("sign_in_account", account)
    return Response(status_code=204)

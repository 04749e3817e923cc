"""Second factors (DESIGN §9): an authenticator app, recovery codes, and the second step of
a sign-in."""

from __future__ import annotations

import functools

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from authgate.core.store import UserId
from authgate.errors import FullAuthenticationRequired
from authgate.web.bodies import (
    CodeIn,
    CookieTokenOut,
    EnrolmentOut,
    FactorsOut,
    MfaIn,
    ReauthenticateIn,
    RecoveryCodesOut,
    TokenOut,
)
from authgate.web.pacing import Pacer
from authgate.web.routes.deps import (
    BODY_FAILURES,
    CSRF_FAILURES,
    ERROR,
    GUARD_FAILURES,
    HASHING_FAILURES,
    Claims,
    Database,
    Hashing,
    Svc,
    Throttles,
    TransportQuery,
    Transports,
    client_ip,
    end_replaced_session,
)

router = APIRouter()
STEP_UP: dict[int | str, dict[str, object]] = {**GUARD_FAILURES, **CSRF_FAILURES}


@router.post(
    "/sign-in/mfa",
    response_model=TokenOut | CookieTokenOut,
    responses={**HASHING_FAILURES, **CSRF_FAILURES},
)
async def sign_in_mfa(
    body: MfaIn,
    request: Request,
    svc: Svc,
    db: Database,
    throttle: Throttles,
    wire: Transports,
    transport: TransportQuery = "body",
) -> JSONResponse:
    """Finish a sign-in that answered 401 `mfa_required`: its mfa_token and one code, or a
    passkey's answer to POST /passkeys/authenticate/options."""
    if [body.code, body.recovery_code, body.passkey].count(None) != 2:
        raise RequestValidationError(
            [
                {
                    "loc": ("body",),
                    "msg": "send one of code, recovery_code or passkey",
                    "type": "value_error",
                }
            ]
        )
    wire.admit_new_cookies(request, transport)
    ip = client_ip(request)
    await throttle.hit("sign_in_ip", ip)
    account = await db.run(svc.mfa_subject, body.mfa_token)
    await throttle.hit("sign_in_account", account)  # wrong codes count as failed sign-ins
    pacer: Pacer = request.app.state.pacer
    user_agent = request.headers.get("user-agent")
    check = (
        functools.partial(
            svc.sign_in_mfa,
            body.mfa_token,
            code=body.code,
            recovery_code=body.recovery_code,
            ip=ip,
            user_agent=user_agent,
        )
        if body.passkey is None
        else functools.partial(
            svc.sign_in_mfa_passkey, body.mfa_token, body.passkey, ip=ip, user_agent=user_agent
        )
    )
    result = await pacer.check(db, check)
    await throttle.refund("sign_in_account", account)
    await end_replaced_session(request, transport, wire=wire, svc=svc, db=db)
    return wire.signed_in(result, transport)


@router.post(
    "/reauthenticate",
    response_model=TokenOut | CookieTokenOut,
    responses={**GUARD_FAILURES, **BODY_FAILURES, **CSRF_FAILURES, 429: ERROR, 503: ERROR},
)
async def reauthenticate(
    body: ReauthenticateIn,
    request: Request,
    claims: Claims,
    svc: Svc,
    pool: Hashing,
    throttle: Throttles,
    wire: Transports,
) -> JSONResponse:
    """Prove again who you are, as fully as a sign-in: the password, with a code (or a
    recovery code) too when the account has a second factor, or a passkey's answer alone.
    The same session goes on, its `auth_time` now, with a new access token and a new refresh
    token (the old one is spent). One factor of an account with two: 401
    `full_authentication_required`, with the account's `methods`."""
    if not body.sends_one_proof():
        raise RequestValidationError(
            [
                {
                    "loc": ("body",),
                    "msg": "send the password (with a code or a recovery_code), or a passkey",
                    "type": "value_error",
                }
            ]
        )
    account = svc.account_key(claims.email)
    await throttle.hit("sign_in_account", account)  # a stolen token cannot guess on
    pacer: Pacer = request.app.state.pacer
    check = functools.partial(
        svc.reauthenticate,
        claims,
        password=body.password,
        code=body.code,
        recovery_code=body.recovery_code,
        passkey=body.passkey,
    )
    try:
        result = await pacer.check(pool, check)
    except FullAuthenticationRequired:  # refused before any check: no guess to count
        await throttle.refund("sign_in_account", account)
        raise
    await throttle.refund("sign_in_account", account)
    found = wire.presented(request)
    return wire.reauthenticated(result, found[1] if found else None)


@router.get("/mfa", response_model=FactorsOut, responses=GUARD_FAILURES)
async def second_factors(claims: Claims, svc: Svc, db: Database) -> FactorsOut:
    """The second factors of the signed-in account: whether an authenticator app is set up
    (confirmed), and how many of its recovery codes are unused."""
    methods, codes_left = await db.run(svc.second_factors, UserId(claims.subject))
    return FactorsOut(totp="totp" in methods, recovery_codes_left=codes_left)


@router.post(
    "/mfa/totp", response_model=EnrolmentOut, responses={**STEP_UP, 409: ERROR, 503: ERROR}
)
async def enrol_totp(claims: Claims, svc: Svc, db: Database) -> EnrolmentOut:
    """Start setting up an authenticator app (needs a recent sign-in): its secret, as text,
    as an `otpauth://` URI and as a QR code. It counts once a code from it is confirmed."""
    svc.check_recent_sign_in(claims)
    enrolment = await db.run(svc.enrol_totp, UserId(claims.subject))
    return EnrolmentOut(
        secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_svg=enrolment.qr_svg
    )


@router.post(
    "/mfa/totp/confirm",
    response_model=RecoveryCodesOut,
    responses={**GUARD_FAILURES, **BODY_FAILURES, **CSRF_FAILURES, 400: ERROR, 429: ERROR},
)
async def confirm_totp(
    body: CodeIn, claims: Claims, svc: Svc, db: Database, throttle: Throttles
) -> RecoveryCodesOut:
    """Activate the authenticator app with a code it shows now; the answer holds the ten
    recovery codes, shown this once."""
    account = svc.account_key(claims.email)
    await throttle.hit("sign_in_account", account)
    codes = await db.run(svc.confirm_totp, UserId(claims.subject), body.code)
    await throttle.refund("sign_in_account", account)
    return RecoveryCodesOut(recovery_codes=codes)


@router.delete("/mfa/totp", status_code=204, responses={**STEP_UP, 404: ERROR})
async def remove_totp(claims: Claims, svc: Svc, db: Database) -> Response:
    """Remove the authenticator app and its recovery codes (needs a recent sign-in)."""
    svc.check_recent_sign_in(claims)
    await db.run(svc.remove_totp, UserId(claims.subject))
    return Response(status_code=204)


@router.post(
    "/mfa/recovery-codes", response_model=RecoveryCodesOut, responses={**STEP_UP, 404: ERROR}
)
async def new_recovery_codes(claims: Claims, svc: Svc, db: Database) -> RecoveryCodesOut:
    """A new set of ten recovery codes; the old set stops working (needs a recent sign-in)."""
    svc.check_recent_sign_in(claims)
    codes = await db.run(svc.new_recovery_codes, UserId(claims.subject))
    return RecoveryCodesOut(recovery_codes=codes)

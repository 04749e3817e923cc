"""Accounts: sign up, sign in (JSON or the OAuth2 password form), and who is signed in."""

from __future__ import annotations

import functools
import json as jsonlib

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from authgate.core.store import UserId
from authgate.errors import MfaRequired, Overloaded
from authgate.web.bodies import CookieTokenOut, Credentials, MeOut, TokenOut, UserOut
from authgate.web.pacing import Pacer
from authgate.web.routes.deps import (
    BODY_FAILURES,
    CSRF_FAILURES,
    ERROR,
    GUARD_FAILURES,
    HASHING_FAILURES,
    Call,
    Claims,
    Database,
    Hashing,
    Svc,
    Throttles,
    TransportQuery,
    Transports,
    client_ip,
    direct,
    end_replaced_session,
    json,
)

router = APIRouter()

# /sign-in reads its body itself (JSON or form), so OpenAPI is told both shapes.
SIGN_IN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": Credentials.model_json_schema()},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string", "description": "the e-mail"},
                        "password": {"type": "string"},
                        "grant_type": {"type": "string", "enum": ["password"]},
                    },
                }
            },
        },
    }
}


@router.post(
    "/sign-up",
    status_code=201,
    response_model=UserOut,
    responses={**BODY_FAILURES, 409: ERROR, 429: ERROR, 503: ERROR},
)
async def sign_up(
    body: Credentials, request: Request, svc: Svc, pool: Hashing, throttle: Throttles
) -> UserOut:
    """Create a user. The e-mail is compared case-insensitively."""
    ip = client_ip(request)
    await throttle.hit("sign_up", ip)
    user = await pool.run(svc.sign_up, body.email, body.password, ip=ip)
    return UserOut(id=user.id, email=user.email, created_at=user.created_at)


@router.post(
    "/sign-in",
    response_model=TokenOut | CookieTokenOut,
    responses={**HASHING_FAILURES, **CSRF_FAILURES},
    openapi_extra=SIGN_IN_BODY,
)
async def sign_in(
    request: Request,
    svc: Svc,
    pool: Hashing,
    db: Database,
    throttle: Throttles,
    wire: Transports,
    transport: TransportQuery = "body",
) -> JSONResponse:
    """Check the credentials and start a session. JSON, or the OAuth2 password form. In
    cookie transport, the session the browser's cookies held ends: the new one replaces it."""
    wire.admit_new_cookies(request, transport)  # login CSRF: no page elsewhere signs a browser in
    credentials = await read_credentials(request)
    ip = client_ip(request)
    account = svc.account_key(credentials.email)
    await throttle.hit("sign_in_ip", ip)
    # Counted before the check: counted after a failure, concurrent guesses would all pass
    # the limit before the first one failed. Given back below when it is no failure.
    await throttle.hit("sign_in_account", account)
    pacer: Pacer = request.app.state.pacer
    check = functools.partial(
        svc.sign_in,
        credentials.email,
        credentials.password,
        ip=ip,
        user_agent=request.headers.get("user-agent"),
    )
    try:
        result = await pacer.check(pool, check)
    except (Overloaded, MfaRequired):  # refused before any check; or the password was right
        await throttle.refund("sign_in_account", account)
        raise
    await throttle.refund("sign_in_account", account)
    await end_replaced_session(request, transport, wire=wire, svc=svc, db=db)
    return wire.signed_in(result, transport)


@direct(router.get, "/me", response_model=MeOut, responses=GUARD_FAILURES)
async def me(call: Call) -> Response:
    """The signed-in user."""
    user = await call.database.run(call.service.user, UserId(call.claims.subject))
    return json(
        MeOut(
            id=user.id,
            email=user.email,
            created_at=user.created_at,
            email_verified=user.email_verified,
        )
    )


@router.delete("/me", status_code=204, responses={**GUARD_FAILURES, **CSRF_FAILURES})
async def delete_me(
    request: Request, claims: Claims, svc: Svc, db: Database, wire: Transports
) -> Response:
    """Delete the account and end every session, after a recent sign-in."""
    svc.check_recent_sign_in(claims)
    await db.run(svc.delete_account, UserId(claims.subject))
    found = wire.presented(request)
    return wire.signed_out(found[1] if found else None)  # a browser's cookies go too


async def read_credentials(request: Request) -> Credentials:
    """Credentials from a JSON body, or from the OAuth2 password form (username, password)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: object
    if media_type == "application/x-www-form-urlencoded":
        form = await request.form()
        data = {"email": form.get("username"), "password": form.get("password")}
    else:
        try:
            data = jsonlib.loads(await request.body())
        except (ValueError, RecursionError):
            raise RequestValidationError(
                [{"loc": ("body",), "msg": "the body is not valid JSON", "type": "json_invalid"}]
            ) from None
    try:
        return Credentials.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None

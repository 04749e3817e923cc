"""Passkeys (DESIGN §9): register one while signed in, list, rename, delete, and sign in with
one. The ceremonies' options are WebAuthn's JSON forms (`PublicKeyCredential.
parseCreationOptionsFromJSON()` reads them); the answers are the credentials' JSON forms."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from authgate.core.passkeys import StoredPasskey
from authgate.core.store import UserId
from authgate.web.bodies import (
    CookieTokenOut,
    PasskeyIn,
    PasskeyNameIn,
    PasskeyOut,
    PasskeySignInIn,
    TokenOut,
)
from authgate.web.errors import NO_STORE
from authgate.web.routes.deps import (
    BODY_FAILURES,
    CSRF_FAILURES,
    ERROR,
    GUARD_FAILURES,
    Claims,
    Database,
    Svc,
    Throttles,
    TransportQuery,
    Transports,
    client_ip,
    end_replaced_session,
)

router = APIRouter()
STEP_UP: dict[int | str, dict[str, object]] = {**GUARD_FAILURES, **CSRF_FAILURES}
OPTIONS: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}}}
}
PasskeyId = Annotated[str, Path(description="The id GET /passkeys lists.")]


def _out(passkey: StoredPasskey) -> PasskeyOut:
    return PasskeyOut(
        id=passkey.id,
        name=passkey.name,
        created_at=passkey.created_at,
        last_used_at=passkey.last_used_at,
        synced=passkey.backup_eligible,
        backed_up=passkey.backup_state,
    )


@router.post("/passkeys/register/options", responses={**OPTIONS, **STEP_UP, 503: ERROR})
async def registration_options(claims: Claims, svc: Svc, db: Database) -> JSONResponse:
    """Options for `navigator.credentials.create()` (needs a recent sign-in): a challenge of
    this account's, good for one answer within 5 minutes, to POST /passkeys."""
    svc.check_recent_sign_in(claims)
    options = await db.run(svc.passkey_registration_options, UserId(claims.subject))
    return JSONResponse(options, headers=NO_STORE)


@router.post(
    "/passkeys",
    status_code=201,
    response_model=PasskeyOut,
    responses={**GUARD_FAILURES, **BODY_FAILURES, **CSRF_FAILURES, 400: ERROR, 503: ERROR},
)
async def register_passkey(body: PasskeyIn, claims: Claims, svc: Svc, db: Database) -> PasskeyOut:
    """Add the passkey `navigator.credentials.create()` made with the registration options;
    400 `invalid_passkey` when it does not verify."""
    passkey = await db.run(
        svc.register_passkey, UserId(claims.subject), body.credential, name=body.name
    )
    return _out(passkey)


@router.get("/passkeys", response_model=list[PasskeyOut], responses=GUARD_FAILURES)
async def list_passkeys(claims: Claims, svc: Svc, db: Database) -> list[PasskeyOut]:
    """The signed-in account's passkeys, oldest first."""
    return [_out(p) for p in await db.run(svc.passkeys, UserId(claims.subject))]


@router.patch(
    "/passkeys/{passkey_id}",
    response_model=PasskeyOut,
    responses={**GUARD_FAILURES, **BODY_FAILURES, **CSRF_FAILURES, 404: ERROR},
)
async def rename_passkey(
    passkey_id: PasskeyId, body: PasskeyNameIn, claims: Claims, svc: Svc, db: Database
) -> PasskeyOut:
    """Rename one of the account's passkeys."""
    renamed = await db.run(svc.rename_passkey, UserId(claims.subject), passkey_id, body.name)
    return _out(renamed)


@router.delete("/passkeys/{passkey_id}", status_code=204, responses={**STEP_UP, 404: ERROR})
async def remove_passkey(passkey_id: PasskeyId, claims: Claims, svc: Svc, db: Database) -> Response:
    """Delete one of the account's passkeys (needs a recent sign-in)."""
    svc.check_recent_sign_in(claims)
    await db.run(svc.remove_passkey, UserId(claims.subject), passkey_id)
    return Response(status_code=204)


@router.post("/passkeys/authenticate/options", responses={**OPTIONS, 429: ERROR, 503: ERROR})
async def authentication_options(
    request: Request, svc: Svc, db: Database, throttle: Throttles
) -> JSONResponse:
    """Options for `navigator.credentials.get()` naming no account: the browser offers the
    passkeys it holds for this site, and the authenticator must verify the person. The
    answer goes to POST /sign-in/passkey, or to POST /sign-in/mfa as `passkey`."""
    # Each one is a stored challenge, and the signed-out page asks for one on every load
    # (passkey autofill): a rule of its own, so loads spend no sign-in attempts.
    await throttle.hit("passkey_options", client_ip(request))
    options = await db.run(svc.passkey_sign_in_options)
    return JSONResponse(options, headers=NO_STORE)


@router.post(
    "/sign-in/passkey",
    response_model=TokenOut | CookieTokenOut,
    responses={**BODY_FAILURES, **CSRF_FAILURES, 401: ERROR, 403: ERROR, 429: ERROR, 503: ERROR},
)
async def sign_in_passkey(
    body: PasskeySignInIn,
    request: Request,
    svc: Svc,
    db: Database,
    throttle: Throttles,
    wire: Transports,
    transport: TransportQuery = "body",
) -> JSONResponse:
    """Sign in with no password: a passkey's answer to the authentication options. 401
    `invalid_credentials` whatever the reason (the audit log keeps it)."""
    wire.admit_new_cookies(request, transport)  # login CSRF, as at /sign-in
    ip = client_ip(request)
    await throttle.hit("sign_in_ip", ip)
    result = await db.run(
        svc.sign_in_passkey,
        body.credential,
        ip=ip,
        user_agent=request.headers.get("user-agent"),
    )
    await end_replaced_session(request, transport, wire=wire, svc=svc, db=db)
    return wire.signed_in(result, transport)

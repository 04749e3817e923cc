"""The HTTP routes of DESIGN.md §2: parse, call the service, shape the response.

Why one module of about 400 lines: the routes are registered in the order of DESIGN.md
§2, which is the order of the published OpenAPI document; split by noun (accounts,
sessions, discovery) when the routes of §8 and §9 arrive, keeping that order.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import OAuth2PasswordBearer
from pydantic import ValidationError

from authgate.core.store import SessionId, UserId
from authgate.core.tokens import AccessClaims
from authgate.errors import InvalidToken, NoCredentials, Overloaded
from authgate.metrics import CONTENT_TYPE_LATEST
from authgate.service import Service, SignedIn
from authgate.web.bodies import (
    CookieTokenOut,
    Credentials,
    ErrorOut,
    RefreshRequest,
    SessionOut,
    SignOutRequest,
    TokenOut,
    UserOut,
)
from authgate.web.cookies import Cookies, Transport
from authgate.web.csrf import SAFE_METHODS, Csrf, check_same_origin
from authgate.web.pacing import Pacer
from authgate.web.pools import WorkPool
from authgate.web.throttle import Throttle
from authgate.web.transport import presented

router = APIRouter()

# Declares the Bearer scheme in OpenAPI with /sign-in as its password flow, so Swagger's
# Authorize button works. auto_error=False: authgate answers 401 in its own shape.
bearer = OAuth2PasswordBearer(tokenUrl="sign-in", auto_error=False)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1
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


async def access_claims(
    request: Request,
    _declared: Annotated[str | None, Depends(bearer)],  # the scheme, for OpenAPI only
) -> AccessClaims:
    """The guard: a verified, unrevoked access token, or a 401. Runs on the event loop.

    The token comes from the Authorization header or, when none is sent, from the
    access-token cookie; an unsafe request so authenticated must pass the CSRF checks (403).
    """
    svc: Service = request.app.state.service
    found = presented(request.scope["headers"], cookies(request).access)
    if found is None:
        raise NoCredentials
    token, carrier = found
    claims = svc.read(token)
    if carrier == "cookie" and request.method not in SAFE_METHODS:
        csrf(request).check(request, claims.session_id)
    return claims


def cookies(request: Request) -> Cookies:
    found: Cookies = request.app.state.cookies
    return found


def csrf(request: Request) -> Csrf:
    found: Csrf = request.app.state.csrf
    return found


def hashing(request: Request) -> WorkPool:
    pool: WorkPool = request.app.state.hashing
    return pool


def database(request: Request) -> WorkPool:
    pool: WorkPool = request.app.state.database
    return pool


Claims = Annotated[AccessClaims, Depends(access_claims)]
Svc = Annotated[Service, Depends(service)]
Hashing = Annotated[WorkPool, Depends(hashing)]
Database = Annotated[WorkPool, Depends(database)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def token_response(request: Request, result: SignedIn, transport: Transport) -> JSONResponse:
    if transport == "cookie":
        response = JSONResponse({"expires_in": result.expires_in}, headers=NO_STORE)
        token = csrf(request).token_for(result.session.id)
        cookies(request).set_session(response, result, csrf_token=token)
        return response
    body = {
        "access_token": result.access_token,
        "token_type": "Bearer",
        "expires_in": result.expires_in,
        "refresh_token": result.refresh_token,
    }
    return JSONResponse(body, headers=NO_STORE)


@router.post(
    "/sign-up",
    status_code=201,
    response_model=UserOut,
    responses={**BODY_FAILURES, 409: ERROR, 429: ERROR, 503: ERROR},
)
async def sign_up(body: Credentials, request: Request, svc: Svc, pool: Hashing) -> UserOut:
    """Create a user. The e-mail is compared case-insensitively."""
    ip = client_ip(request)
    await request.app.state.throttle.hit("sign_up", ip)
    user = await pool.run(svc.sign_up, body.email, body.password, ip=ip)
    return UserOut(id=user.id, email=user.email, created_at=user.created_at)


@router.post(
    "/sign-in",
    response_model=TokenOut | CookieTokenOut,
    responses={**HASHING_FAILURES, **CSRF_FAILURES},
    openapi_extra={
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
    },
)
async def sign_in(
    request: Request, svc: Svc, pool: Hashing, transport: TransportQuery = "body"
) -> JSONResponse:
    """Check the credentials and start a session. JSON, or the OAuth2 password form."""
    if transport == "cookie":
        check_same_origin(request)  # login CSRF: no page elsewhere signs a browser in
    credentials = await read_credentials(request)
    ip = client_ip(request)
    throttle: Throttle = request.app.state.throttle
    pacer: Pacer = request.app.state.pacer
    account = svc.account_key(credentials.email)
    await throttle.hit("sign_in_ip", ip)
    # Counted before the check: counted after a failure, concurrent guesses would all pass
    # the limit before the first one failed. Given back below when it is no failure.
    await throttle.hit("sign_in_account", account)
    user_agent = request.headers.get("user-agent")
    try:
        result = await pacer.check(
            pool,
            functools.partial(
                svc.sign_in, credentials.email, credentials.password, ip=ip, user_agent=user_agent
            ),
        )
    except Overloaded:  # refused before any check
        await throttle.refund("sign_in_account", account)
        raise
    await throttle.refund("sign_in_account", account)
    return token_response(request, result, transport)


@router.post(
    "/token",
    response_model=TokenOut | CookieTokenOut,
    responses={**TOKEN_FAILURES, **CSRF_FAILURES},
)
async def refresh(
    request: Request,
    svc: Svc,
    db: Database,
    transport: TransportQuery = "body",
    body: RefreshRequest | None = None,
) -> JSONResponse:
    """Trade a refresh token for a new access token and a new refresh token (rotation).

    With no refresh token in the body, the refresh-token cookie's is used (with the CSRF
    token), and the answer is in cookie transport.
    """
    presented = body.value if body else None
    sent_csrf = None
    if presented is None:
        presented = cookies(request).refresh_token(request)
        if presented is None:
            raise RequestValidationError(
                [{"loc": ("body", "refresh_token"), "msg": "Field required", "type": "missing"}]
            )
        sent_csrf = csrf(request).check_submitted(request)
        transport = "cookie"  # a cookie's token is answered in cookies, never to script
    elif transport == "cookie":
        check_same_origin(request)
    ip = client_ip(request)
    await request.app.state.throttle.hit("token", ip)
    result = await db.run(rotate, svc, csrf(request), presented, sent_csrf=sent_csrf, ip=ip)
    return token_response(request, result, transport)


def rotate(
    svc: Service, csrf: Csrf, refresh_token: str, *, sent_csrf: str | None, ip: str
) -> SignedIn:
    """Rotate; a cookie's refresh token only with the CSRF token of its own session.

    Checked before rotating: a refused request must not spend the browser's token.
    """
    if sent_csrf is not None:
        session_id = svc.session_of(refresh_token)
        if session_id is not None:
            csrf.check_session(sent_csrf, session_id)
    return svc.refresh(refresh_token, ip=ip)


@router.get(
    "/test",
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "OK"},
        **GUARD_FAILURES,
    },
)
async def test(claims: Claims) -> PlainTextResponse:
    """The tutorial's protected example.

    Served by web/tutorial_route.py at the ASGI layer for speed; this route is its documented form.
    """
    return PlainTextResponse("Token Verified, Authorizing User...")


@router.get("/me", response_model=UserOut, responses=GUARD_FAILURES)
async def me(claims: Claims, svc: Svc, db: Database) -> UserOut:
    """The signed-in user."""
    user = await db.run(svc.user, UserId(claims.subject))
    return UserOut(id=user.id, email=user.email, created_at=user.created_at)


@router.post(
    "/sign-out", status_code=204, responses={**GUARD_FAILURES, **BODY_FAILURES, **CSRF_FAILURES}
)
async def sign_out(
    request: Request,
    svc: Svc,
    db: Database,
    token: Annotated[str | None, Depends(bearer)],
    body: SignOutRequest | None = None,
) -> Response:
    """End this session, named by the Bearer token, the refresh token, or both.

    With neither, a browser's access-token cookie names it (with the CSRF token), and the
    answer clears the cookies.
    """
    refresh_token = body.value if body else None
    if token is None and refresh_token is None:
        claims = await access_claims(request, None)  # the cookie, or 401
        await db.run(svc.sign_out, SessionId(claims.session_id))
        response = Response(status_code=204)
        cookies(request).clear(response)
        return response
    session_id = None
    if token is not None:
        try:
            session_id = svc.read(token).session_id
        except InvalidToken:
            if refresh_token is None:
                raise
    if session_id is not None:
        await db.run(svc.sign_out, SessionId(session_id))
    if refresh_token is not None:
        await db.run(svc.sign_out_by_refresh_token, refresh_token)
    return Response(status_code=204)


@router.post("/sign-out-all", status_code=204, responses={**GUARD_FAILURES, **CSRF_FAILURES})
async def sign_out_all(claims: Claims, svc: Svc, db: Database) -> Response:
    """End every session of the signed-in user."""
    await db.run(svc.sign_out_everywhere, UserId(claims.subject))
    return Response(status_code=204)


@router.get("/sessions", response_model=list[SessionOut], responses=GUARD_FAILURES)
async def list_sessions(claims: Claims, svc: Svc, db: Database) -> list[SessionOut]:
    """The signed-in user's live sessions, most recently used first."""
    live = await db.run(svc.live_sessions, UserId(claims.subject))
    return [
        SessionOut(
            id=s.id,
            created_at=s.created_at,
            last_used_at=s.last_used_at,
            ip=s.ip,
            user_agent=s.user_agent,
            current=s.id == claims.session_id,
        )
        for s in live
    ]


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    responses={**GUARD_FAILURES, **CSRF_FAILURES, 404: {"model": ErrorOut}},
)
async def end_session(session_id: str, claims: Claims, svc: Svc, db: Database) -> Response:
    """End one of the signed-in user's sessions, e.g. on a lost laptop."""
    await db.run(svc.end_session, UserId(claims.subject), SessionId(session_id))
    return Response(status_code=204)


@router.get("/.well-known/jwks.json", responses={304: {"description": "Not Modified"}})
def jwks(svc: Svc, request: Request) -> Response:
    """The public signing keys (RFC 7517), with an ETag for cheap revalidation."""
    body = json.dumps(svc.jwks(), separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"Cache-Control": "public, max-age=300", "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/metrics", include_in_schema=False)
def metrics(svc: Svc) -> Response:
    """Prometheus metrics of this process (keep the route internal at the load balancer)."""
    return Response(svc.metrics(), media_type=CONTENT_TYPE_LATEST)


@router.get("/.well-known/openid-configuration")
def openid_configuration(svc: Svc) -> JSONResponse:
    """Discovery: where the keys and the token endpoint are (OpenID Connect Discovery 1.0)."""
    return JSONResponse(
        svc.discovery(),
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"model": ErrorOut}})
async def ready(svc: Svc, db: Database) -> JSONResponse:
    """Readiness: the database answers. `warnings` names weaknesses of the configuration."""
    try:
        await db.run(svc.check_ready)
    except Exception:  # any driver error means "not ready"; the probe must not 500
        return JSONResponse({"error": "not_ready", "detail": "the database is unreachable"}, 503)
    return JSONResponse({"status": "ready", "warnings": list(svc.warnings)})


async def read_credentials(request: Request) -> Credentials:
    """Credentials from a JSON body, or from the OAuth2 password form (username, password)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: object
    if media_type == "application/x-www-form-urlencoded":
        form = await request.form()
        data = {"email": form.get("username"), "password": form.get("password")}
    else:
        try:
            data = json.loads(await request.body())
        except (ValueError, RecursionError):
            raise RequestValidationError(
                [{"loc": ("body",), "msg": "the body is not valid JSON", "type": "json_invalid"}]
            ) from None
    try:
        return Credentials.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None

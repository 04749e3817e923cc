"""The one table from authgate errors to HTTP responses: `{"error": code, "detail": text}`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from authgate.errors import (
    AuthgateError,
    EmailNotVerified,
    EmailTaken,
    EnrolmentRequired,
    FactorExists,
    FullAuthenticationRequired,
    InvalidCode,
    InvalidCredentials,
    InvalidEmail,
    InvalidGrant,
    InvalidLink,
    InvalidMfaToken,
    InvalidPasskey,
    InvalidToken,
    MfaRequired,
    NoCredentials,
    Overloaded,
    PasswordRejected,
    StaleAuthentication,
    Throttled,
    UnknownFactor,
    UnknownPasskey,
    UnknownSession,
    UnknownUser,
)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1, §5.2
STATUS: dict[type[AuthgateError], int] = {
    NoCredentials: 401,
    InvalidToken: 401,
    InvalidGrant: 401,
    InvalidCredentials: 401,
    StaleAuthentication: 401,
    MfaRequired: 401,
    FullAuthenticationRequired: 401,
    InvalidMfaToken: 401,
    InvalidCode: 400,
    FactorExists: 409,
    EnrolmentRequired: 403,
    UnknownFactor: 404,
    InvalidPasskey: 400,
    UnknownPasskey: 404,
    EmailNotVerified: 403,
    InvalidLink: 400,
    EmailTaken: 409,
    InvalidEmail: 422,
    PasswordRejected: 422,
    UnknownSession: 404,
    UnknownUser: 404,
    Throttled: 429,
    Overloaded: 503,
}


class CsrfRefused(Exception):
    """An unsafe cookie-transport request failed the CSRF checks of web/csrf.py.

    An HTTP matter only (the core knows no cookies), so it lives here rather than in
    authgate.errors. 403, as RFC 9110 §15.5.4 and every CSRF middleware answer it.
    """

    code = "csrf_failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


HTTP_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _status(exc: AuthgateError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _headers(exc: AuthgateError) -> dict[str, str] | None:
    if isinstance(exc, NoCredentials):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, InvalidToken):
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if isinstance(exc, StaleAuthentication):  # RFC 9470 §3; as authgate.verifier.bearer says it
        challenge = 'Bearer error="insufficient_user_authentication", error_description='
        if exc.max_age is None:
            methods = " and ".join(exc.missing_amr)
            return {"WWW-Authenticate": f'{challenge}"Authentication with {methods} is required"'}
        return {
            "WWW-Authenticate": f'{challenge}"A more recent authentication is required", '
            f"max_age={exc.max_age}"
        }
    if isinstance(exc, Throttled | Overloaded):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, InvalidGrant | InvalidCredentials | InvalidMfaToken):
        return NO_STORE
    return None


def authgate_error_response(exc: AuthgateError) -> JSONResponse:
    """The one answer to an authgate error: status, `{"error", "detail"}` and headers."""
    if isinstance(exc, MfaRequired):  # DESIGN §9: the challenge travels in the 401's body
        body = {
            "error": exc.code,
            "detail": exc.detail,
            "mfa_token": exc.mfa_token,
            "methods": list(exc.methods),
        }
        return JSONResponse(body, status_code=401, headers=NO_STORE)
    if isinstance(exc, FullAuthenticationRequired):  # what else to send, as the sign-in says it
        body = {"error": exc.code, "detail": exc.detail, "methods": list(exc.methods)}
        return JSONResponse(body, status_code=401, headers=NO_STORE)
    return error_response(_status(exc), exc.code, exc.detail, _headers(exc))


def answer_for(exc: AuthgateError | CsrfRefused) -> JSONResponse:
    """The answer to an authgate error or a CSRF refusal, wherever it is raised."""
    if isinstance(exc, CsrfRefused):
        return error_response(403, exc.code, exc.detail)
    return authgate_error_response(exc)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    problems = []
    for error in exc.errors()[:5]:
        if error.get("type") == "json_invalid":
            problems.append("the body is not valid JSON")
            continue
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 - registered for this type only
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
        # FastAPI's answer to a body json.loads cannot read (bad UTF-8, too deep, a huge
        # number): the same 422 as any other malformed JSON.
        return error_response(422, "invalid_request", "the body is not valid JSON")
    code = HTTP_CODES.get(exc.status_code, "invalid_request")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


def unexpected_error(
    headers: Mapping[str, str],
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """The answer to an exception nothing else handled: a 500 that says nothing about it.

    The traceback goes to the server's log (uvicorn logs what the app re-raises), never
    to the client: no stack, query, key or token leaves in the body.
    """

    async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        detail = "the server met an unexpected error; it is in the server's log"
        return error_response(500, "server_error", detail, dict(headers))

    return _on_unexpected


def install_error_handlers(
    app: FastAPI, *, refused: Callable[[Request, AuthgateError | CsrfRefused], None]
) -> None:
    """Answer errors in their one shape; `refused` hears of each authgate error or CSRF
    refusal a route raised, before it is answered (to log the refusals among them)."""

    async def on_authgate_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AuthgateError | CsrfRefused)  # noqa: S101 - registered for these
        refused(request, exc)
        return answer_for(exc)

    app.add_exception_handler(AuthgateError, on_authgate_error)
    app.add_exception_handler(CsrfRefused, on_authgate_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)

"""Credentials on the wire: where a request's tokens are, and how the answer carries new ones.

An access token comes from the `Authorization: Bearer …` header (scheme case-insensitive)
or, only when no Authorization header is sent at all, from the browser's access-token
cookie (web/cookies.py): another scheme is refused, never completed by the cookie. The
guard (web/guarded.py) reads it here; the verifier's framework adapters read the header
alone (verifier/bearer.py).

`Wire` holds every decision that depends on the transport (JSON body or cookies), so the
route handlers read the same for both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request, cookie_parser
from starlette.responses import JSONResponse, Response

from authgate.core.store import SessionId
from authgate.service import SignedIn
from authgate.web.cookies import Cookies, Transport
from authgate.web.csrf import Csrf, check_same_origin

Carrier = Literal["header", "cookie"]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


def presented(headers: Iterable[tuple[bytes, bytes]], cookie: str) -> tuple[str, Carrier] | None:
    """The token and what carried it, or None when the request presents none.

    Only when no Authorization header is sent at all is the cookie looked for: a Bearer
    request pays one comparison per header more, nothing else.

    A request authenticated by the cookie is one a browser may send on its own: unsafe
    methods so authenticated must pass the CSRF checks.
    """
    cookie_header = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return (token.strip(), "header") if scheme.lower() == "bearer" else None
        if name == b"cookie":
            cookie_header = value
    if cookie_header is None:
        return None
    from_cookie = cookie_parser(cookie_header.decode("latin-1")).get(cookie)
    return (from_cookie, "cookie") if from_cookie else None


@dataclass(frozen=True, slots=True)
class RefreshCredential:
    """The refresh token a POST /token presents, the transport of its answer, and, when a
    cookie carried it, the CSRF token sent with it (to be checked against its session)."""

    token: str
    transport: Transport
    csrf_token: str | None = None


class Wire:
    """The transport decisions of the routes: the JSON body, or cookies with CSRF checks."""

    __slots__ = ("cookies", "csrf")

    def __init__(self, cookies: Cookies, csrf: Csrf) -> None:
        self.cookies = cookies
        self.csrf = csrf

    def presented(self, request: Request) -> tuple[str, Carrier] | None:
        """The access token of `request` and what carried it (header or cookie), or None."""
        return presented(request.scope["headers"], self.cookies.access)

    def admit_new_cookies(self, request: Request, transport: Transport) -> None:
        """A request whose answer sets our cookies must come from our own origin.

        Raises:
            CsrfRefused: cross-origin, e.g. a page elsewhere signing the browser in (login CSRF).
        """
        if transport == "cookie":
            check_same_origin(request)

    def refresh_credential(
        self, request: Request, sent: str | None, transport: Transport
    ) -> RefreshCredential:
        """The refresh token of the body or, with none there, of the refresh-token cookie.

        A cookie's token is answered in cookies, never to script, and needs the CSRF token.

        Raises:
            RequestValidationError: neither the body nor the cookie holds one (422).
            CsrfRefused: a cross-origin request, or no CSRF token with the cookie.
        """
        if sent is not None:
            self.admit_new_cookies(request, transport)
            return RefreshCredential(sent, transport)
        from_cookie = self.cookies.refresh_token(request)
        if from_cookie is None:
            raise RequestValidationError(
                [{"loc": ("body", "refresh_token"), "msg": "Field required", "type": "missing"}]
            )
        return RefreshCredential(from_cookie, "cookie", self.csrf.check_submitted(request))

    def check_refresh_session(self, credential: RefreshCredential, session_id: str | None) -> None:
        """A cookie's refresh token only with the CSRF token of its own session.

        Raises:
            CsrfRefused: the CSRF token belongs to another session.
        """
        if credential.csrf_token is not None and session_id is not None:
            self.csrf.check_session(credential.csrf_token, session_id)

    def signed_in(self, result: SignedIn, transport: Transport) -> JSONResponse:
        """The answer that hands a session to the client: tokens in the body, or cookies."""
        if transport == "cookie":
            response = JSONResponse({"expires_in": result.expires_in}, headers=NO_STORE)
            token = self.csrf.token_for(SessionId(result.session.id))
            self.cookies.set_session(response, result, csrf_token=token)
            return response
        body = {
            "access_token": result.access_token,
            "token_type": "Bearer",
            "expires_in": result.expires_in,
            "refresh_token": result.refresh_token,
        }
        return JSONResponse(body, headers=NO_STORE)

    def reauthenticated(self, result: SignedIn, carrier: Carrier | None) -> JSONResponse:
        """The session's new tokens, where the client keeps them: cookies for a request the
        access-token cookie authenticated, else the JSON body (as a sign-in answers)."""
        return self.signed_in(result, "cookie" if carrier == "cookie" else "body")

    def replaced_refresh_token(self, request: Request, transport: Transport) -> str | None:
        """The refresh token of the session a browser signing in again replaces: its
        refresh-token cookie, which the sign-in routes receive too (web/cookies.py)."""
        return self.cookies.refresh_token(request) if transport == "cookie" else None

    def signed_out(self, carrier: Carrier | None) -> Response:
        """204; a session that cookies carried also has them cleared."""
        response = Response(status_code=204)
        if carrier == "cookie":
            self.cookies.clear(response)
        return response

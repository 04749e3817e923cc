"""GET /test answered at the ASGI layer: no routing, no dependency injection, no thread hop.

The guard is the hot path of every protected route. Through FastAPI's router and
dependency injection, GET /test measured about 5,600 req/s on this project's 2-core
machine; answered here, with the same guard and the same answers, about 20,000
(bench/http). The FastAPI route in routes.py stays as the documented contract.
"""

from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.core.guard import Guard
from authgate.errors import InvalidToken, NoCredentials
from authgate.web.errors import authgate_error_response

TEST_PATH = "/test"
TEST_BODY = b"Token Verified, Authorizing User..."
_OK_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(TEST_BODY)).encode()),
    ],
}
_OK_BODY = {"type": "http.response.body", "body": TEST_BODY}


def presented_token(headers: list[tuple[bytes, bytes]], cookie: str) -> str | None:
    """The token of an `Authorization: Bearer …` header (scheme case-insensitive), or None.

    Only when no Authorization header is sent at all, the access-token cookie named
    `cookie`: a Bearer request pays one comparison per header more, nothing else.
    """
    cookie_header = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
        if name == b"cookie":
            cookie_header = value
    if cookie_header is None:
        return None
    return cookie_parser(cookie_header.decode("latin-1")).get(cookie) or None


class FastGuardedRoutes:
    """Answers GET /test itself and hands every other request to the app.

    A safe method, so a request authenticated by the access-token cookie needs no CSRF token.
    """

    def __init__(self, app: ASGIApp, *, guard: Guard, access_cookie: str) -> None:
        self.app = app
        self.guard = guard
        self.access_cookie = access_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != TEST_PATH or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        token = presented_token(scope["headers"], self.access_cookie)
        try:
            if token is None:
                raise NoCredentials
            self.guard.read(token)
        except (NoCredentials, InvalidToken) as exc:
            await authgate_error_response(exc)(scope, receive, send)
            return
        await send(_OK_START)
        await send(_OK_BODY)

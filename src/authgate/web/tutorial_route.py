"""GET /test answered at the ASGI layer: no routing, no dependency injection, no thread hop.

The guard is the hot path of every protected route. Through FastAPI's router and
dependency injection, GET /test measured about 5,600 req/s on this project's 2-core
machine; answered here, with the same guard and the same answers, about 29,000 (wrk -c64
against `authgate serve`; bench/http has the side-by-side figures). The FastAPI route in
web/routes/tutorial.py stays as the documented contract.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.core.guard import Guard
from authgate.errors import InvalidToken, NoCredentials
from authgate.web.errors import authgate_error_response
from authgate.web.transport import presented_token

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

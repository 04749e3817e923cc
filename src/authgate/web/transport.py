"""Credentials on the wire: where a request's access token is, read once for every route.

A token comes from the `Authorization: Bearer …` header (scheme case-insensitive) or, only
when no Authorization header is sent at all, from the browser's access-token cookie
(web/cookies.py): another scheme is refused, never completed by the cookie. GET /test's
ASGI fast path (web/tutorial_route.py) and the FastAPI guard (web/routes.py) both read it
here; the verifier's framework adapters read the header alone (verifier/bearer.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from starlette.requests import cookie_parser

Carrier = Literal["header", "cookie"]


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


def presented_token(headers: Iterable[tuple[bytes, bytes]], cookie: str) -> str | None:
    """The token of `presented`, whatever carried it (GET /test is safe: no CSRF check)."""
    found = presented(headers, cookie)
    return None if found is None else found[0]

"""Security headers on every response: a floor under what each page sets for itself.

The account page, the mail-link page and /docs answer with their own Content-Security-
Policy and the headers beside it (web/page.py, web/docs.py). Everything else (the JSON
API, its errors, the schema, the assets) gets this floor, so that no response of the
origin can be sniffed as another type, framed, made to load anything from elsewhere, or
leak its URL in a Referer:

- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`;
- `Content-Security-Policy`: nothing from another origin, no plugin, no `<base>`, no
  framing (`frame-ancestors 'none'`);
- `Strict-Transport-Security` for a year, subdomains included, when browsers reach
  authgate over https (`AUTHGATE_PUBLIC_URL`, else the issuer): never on http://localhost,
  where it would bind the developer's browser to https for every local port.

A header the response already has is left as it is. The floor is added once per response
at the ASGI layer (one list of byte pairs, no parsing).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# 'self' rather than 'none': a same-origin document (a JSON answer opened in a tab) may
# still fetch from authgate and use WebAuthn, as the browser tests' blank page does.
API_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=31536000; includeSubDomains"  # a year; no preload: that is the domain's call
FLOOR = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": API_CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
}


def floor_headers(public_base: str) -> dict[str, str]:
    """The headers every response carries at least, for browsers reaching `public_base`."""
    try:
        https = urlsplit(public_base).scheme == "https"
    except ValueError:
        https = False
    return {**FLOOR, "Strict-Transport-Security": HSTS} if https else dict(FLOOR)


class SecurityHeaders:
    """The ASGI layer that adds `headers` to every HTTP response lacking them."""

    def __init__(self, app: ASGIApp, *, headers: dict[str, str]) -> None:
        self.app = app
        self.floor = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        floor = self.floor

        async def send_with_floor(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_floor(message.get("headers", ()), floor)
            await send(message)

        await self.app(scope, receive, send_with_floor)


def _with_floor(
    headers: Iterable[tuple[bytes, bytes]], floor: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    headers = list(headers)
    present = {name.lower() for name, _ in headers}
    headers.extend(pair for pair in floor if pair[0] not in present)
    return headers

"""CSRF defence for the cookie transport: same-origin requests, and a session-bound token.

A browser attaches cookies to requests that other sites make it send, so every unsafe
request in the cookie transport passes two checks:

1. **Same origin** (Fetch Metadata, as Go 1.25's `http.CrossOriginProtection`): the
   browser names the request's initiator in `Sec-Fetch-Site`; anything but `same-origin`
   or `none` (typed by the user) is refused, and browsers too old to send it are held to
   `Origin` matching `Host`. This also covers sign-in in cookie mode, where no session
   and so no token exists yet: without it a page elsewhere could sign the victim's
   browser into the attacker's account (login CSRF).
2. **A signed double-submit token** on every unsafe request that a cookie authenticates
   (OWASP's recommended variant): the page reads the non-httpOnly CSRF cookie and sends
   its value back in `X-CSRF-Token`. Another site can neither read our cookie nor send a
   custom header here (authgate answers no CORS preflight), so only our own pages can.

Chosen over a bare required custom header, which rests on CORS alone: the token is
HMAC(server key, session id), so a token taken from the attacker's own session, or planted
as a cookie from a sibling subdomain, does not fit the victim's session and is refused. It
stays the same across refreshes, so two tabs never race on a changing value. Requests with
an `Authorization: Bearer` header need none of this: a browser never adds that by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

from authgate.service import Service
from authgate.web.errors import CsrfRefused

HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_ORIGIN = frozenset({"same-origin", "none"})


class Csrf:
    """Issues and checks the CSRF tokens of cookie-authenticated requests."""

    __slots__ = ("_key", "cookie")

    def __init__(self, key: bytes, *, cookie: str) -> None:
        self._key = key
        self.cookie = cookie

    def token_for(self, session_id: str) -> str:
        mac = hmac.new(self._key, b"csrf\x00" + session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def check(self, request: Request, session_id: str) -> None:
        """Refuse an unsafe request authenticated by a cookie without this session's token.

        Raises:
            CsrfRefused: cross-origin, or the token is missing, mismatched or another's.
        """
        self.check_session(self.check_submitted(request), session_id)

    def check_submitted(self, request: Request) -> str:
        """The X-CSRF-Token sent, once it came from our origin and matches the CSRF cookie.

        Raises:
            CsrfRefused: cross-origin, or the header is missing or does not match the cookie.
        """
        check_same_origin(request)
        sent = request.headers.get(HEADER)
        if not sent:
            raise CsrfRefused(
                f"a request authenticated by cookie needs the {HEADER} header, "
                f"set to the value of the {self.cookie} cookie"
            )
        cookie = request.cookies.get(self.cookie)
        if cookie is None or not _equal(sent, cookie):
            raise CsrfRefused(f"the {HEADER} header does not match the {self.cookie} cookie")
        return sent

    def check_session(self, sent: str, session_id: str) -> None:
        """Raises: CsrfRefused: `sent` is not the token of this session."""
        if not _equal(sent, self.token_for(session_id)):
            raise CsrfRefused("the CSRF token belongs to another session")


def check_same_origin(request: Request) -> None:
    """Refuse a request that a page on another origin made the browser send.

    Raises:
        CsrfRefused: Sec-Fetch-Site names another origin, or Origin does not match Host.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site in SAME_ORIGIN:
            return
        raise CsrfRefused(f"a {site} request; the cookie transport serves this origin only")
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or one that sends neither: the token check remains
        return
    try:
        host = urlsplit(origin).netloc
    except ValueError:
        host = None
    if not host or host != request.headers.get("host"):
        raise CsrfRefused("a cross-origin request; the cookie transport serves this origin only")


def csrf_key(service: Service) -> bytes:
    """The HMAC key of CSRF tokens, the same in every process (stored like the other secrets)."""
    return service.parts.server_key("csrf")


def _equal(a: str, b: str) -> bool:
    # Bytes: compare_digest refuses str with non-ASCII characters, and a header may hold them.
    return hmac.compare_digest(a.encode(), b.encode())

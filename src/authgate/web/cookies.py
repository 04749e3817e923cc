"""The cookie transport: tokens in httpOnly cookies for browsers, instead of the JSON body.

A browser client asks for it per request with `?transport=cookie` on /sign-in and /token
(as Directus asks with `"mode": "cookie"`); /token and the guarded routes then read the
tokens from the cookies, and the JSON answer carries no token. Script on the page cannot
read an httpOnly cookie, so an XSS bug cannot walk away with the tokens. Cookies are sent
by the browser on its own, so every unsafe request they authenticate also needs the CSRF
token (web/csrf.py).
"""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from authgate.service import SignedIn
from authgate.settings import SameSite

Transport = Literal["body", "cookie"]
# The refresh-token cookie goes to /token, which rotates it, and to the sign-in routes
# (/sign-in, /sign-in/mfa, /sign-in/passkey), where a browser signing in again ends the
# session it replaces (ASVS V7.2.4): one cookie per path, the same token in both.
REFRESH_PATHS = ("/token", "/sign-in")


class Cookies:
    """Names and attributes of the access, refresh and CSRF cookies, fixed from the settings.

    With `secure`, the names carry the `__Host-` and `__Secure-` prefixes: a browser
    refuses such a cookie unless it is Secure (and, for `__Host-`, on Path=/ without a
    Domain), so a page on a sibling subdomain or on plain http cannot plant one of ours
    (RFC 6265bis §4.1.3). Without `secure` (http://localhost only) the prefixes would be
    refused, so the names are plain.
    """

    __slots__ = ("access", "csrf", "refresh", "same_site", "secure")

    def __init__(self, *, secure: bool, same_site: SameSite) -> None:
        host, secure_only = ("__Host-", "__Secure-") if secure else ("", "")
        self.access = f"{host}authgate_access"
        self.refresh = f"{secure_only}authgate_refresh"
        self.csrf = f"{host}authgate_csrf"
        self.secure = secure
        self.same_site = same_site

    def access_token(self, request: Request) -> str | None:
        return request.cookies.get(self.access) or None

    def refresh_token(self, request: Request) -> str | None:
        return request.cookies.get(self.refresh) or None

    def set_session(self, response: Response, result: SignedIn, *, csrf_token: str) -> None:
        """Hand a signed-in session to the browser: both tokens httpOnly, the CSRF token not."""
        session_left = result.session.expires_at - result.claims.issued_at
        session_seconds = max(0, int(session_left.total_seconds()))
        response.set_cookie(
            self.access,
            result.access_token,
            max_age=result.expires_in,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite=self.same_site,
        )
        # Strict whatever the setting: only the page's own fetch sends it, never a link.
        for path in REFRESH_PATHS:
            response.set_cookie(
                self.refresh,
                result.refresh_token,
                max_age=session_seconds,
                path=path,
                secure=self.secure,
                httponly=True,
                samesite="strict",
            )
        # Readable by the page's script, which copies it into the X-CSRF-Token header.
        response.set_cookie(
            self.csrf,
            csrf_token,
            max_age=session_seconds,
            path="/",
            secure=self.secure,
            httponly=False,
            samesite=self.same_site,
        )

    def clear(self, response: Response) -> None:
        """Tell the browser to drop every cookie of ours (same name, path and attributes)."""
        for name, path, httponly, same_site in (
            (self.access, "/", True, self.same_site),
            *((self.refresh, path, True, "strict") for path in REFRESH_PATHS),
            (self.csrf, "/", False, self.same_site),
        ):
            response.delete_cookie(
                name, path=path, secure=self.secure, httponly=httponly, samesite=same_site
            )

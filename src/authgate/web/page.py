"""The account page at GET /: plain HTML, JS and CSS shipped in the package, no build step.

It signs in with the cookie transport, so its script never sees a token. The
Content-Security-Policy lets the page load only these same-origin files (no inline script
or style, no other origin), and Trusted Types close the string-to-HTML sinks, so a
markup injection has nothing to run.
"""

from __future__ import annotations

import functools
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

page = APIRouter(include_in_schema=False)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors, for browsers that predate it
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",  # revalidate, so a new release's page is seen at once
}


@functools.cache
def _asset(name: str) -> bytes:
    return (files("authgate.web") / "static" / name).read_bytes()


def _answer(name: str, media_type: str) -> Response:
    return Response(_asset(name), media_type=media_type, headers=HEADERS)


LANDING_HEADERS = {**HEADERS, "Cache-Control": "no-store"}  # the URL carries a link's token


def landing_page() -> Response:
    """The page every mailed link opens: a button (or a form) whose POST spends the token.

    The same page for every link and every token, valid or not: opening it reads nothing
    and changes nothing, so a mail scanner that follows links consumes no token.
    """
    return Response(
        _asset("link.html"), media_type="text/html; charset=utf-8", headers=LANDING_HEADERS
    )


@page.get("/link.js")
def link_script() -> Response:
    return _answer("link.js", "text/javascript; charset=utf-8")


@page.get("/")
def account_page() -> Response:
    """Sign up, sign in, see the account and its sessions, sign out."""
    return _answer("account.html", "text/html; charset=utf-8")


@page.get("/account.js")
def account_script() -> Response:
    return _answer("account.js", "text/javascript; charset=utf-8")


@page.get("/account.css")
def account_style() -> Response:
    return _answer("account.css", "text/css; charset=utf-8")

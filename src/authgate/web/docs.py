"""GET /docs: Swagger UI for the OpenAPI schema, every file of it served by authgate.

FastAPI's own docs page loads Swagger UI from a CDN, on the origin of the session cookies:
that script could read the CSRF cookie and act as the user, and with no internet the page
stays blank. Here the Swagger UI build comes from the fastapi-offline package (its files
only, not its app factory, whose page starts Swagger UI with an inline script) and the
start script from authgate's own static folder. The Content-Security-Policy then allows
no other origin and no inline script. Swagger UI writes markdown through innerHTML, so
Trusted Types, which the account page enforces, are not required here.

The build's URLs carry the package's version, so browsers may keep them for a year: an
upgrade changes the URLs. Only the files named in ASSETS are served, whatever the path.
"""

from __future__ import annotations

import functools
from importlib.metadata import version
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from authgate.web.page import HEADERS

docs = APIRouter(include_in_schema=False)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # Swagger UI's icons are data: URLs in its stylesheet
        "connect-src 'self'",  # the schema, and the calls "Try it out" makes
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {**HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY}
BUILD_VERSION = version("fastapi-offline")
BUILD_PATH = f"/docs/assets/{BUILD_VERSION}"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}


@functools.cache
def _asset(name: str) -> bytes:
    return (files("fastapi_offline") / "static" / name).read_bytes()


@functools.cache
def _own(name: str) -> bytes:
    return (files("authgate.web") / "static" / name).read_bytes()


@docs.get("/docs")
def docs_page() -> Response:
    """Swagger UI: its Authorize button signs in at /sign-in with the password flow."""
    html = _own("docs.html").replace(b"ASSETS/", BUILD_PATH.encode() + b"/")
    return Response(html, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@docs.get("/docs/docs.js")
def docs_script() -> Response:
    return Response(
        _own("docs.js"), media_type="text/javascript; charset=utf-8", headers=PAGE_HEADERS
    )


@docs.get("/docs/assets/{build}/{name}")
def docs_asset(build: str, name: str) -> Response:
    media_type = ASSETS.get(name)
    if build != BUILD_VERSION or media_type is None:
        raise HTTPException(404)  # as any unknown path: a file outside ASSETS is never read
    return Response(_asset(name), media_type=media_type, headers=ASSET_HEADERS)

"""GET /docs: Swagger UI from authgate's own paths, under a strict Content-Security-Policy.

FastAPI's default page loads Swagger UI from a CDN, onto the origin of the session
cookies, and is blank without internet. These tests read the page as a browser would:
every script and stylesheet it names must be a same-origin path that authgate answers.
tests/browser/test_docs_page.py renders it in Chromium with the network cut off.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from .helpers import is_error_body

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # no database is involved

MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class Resources(HTMLParser):
    """The URLs of the scripts, stylesheets and icons a page loads, and any inline code."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self._in_script = True
            if found.get("src"):
                self.urls.append(str(found["src"]))
        elif tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))
        elif tag == "style":
            self.inline.append("<style>")
        if "style" in found or any(name.startswith("on") for name in found):
            self.inline.append(f"<{tag}> attribute")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data.strip()[:80])


def same_origin(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and url.startswith("/")


def page_resources(client: TestClient) -> Resources:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    return Resources(response.text)


def test_docs_load_scripts_and_styles_only_from_authgates_own_paths(client: TestClient) -> None:
    resources = page_resources(client)

    assert [url for url in resources.urls if not same_origin(url)] == []
    assert any(url.endswith(".js") for url in resources.urls)
    assert any(url.endswith(".css") for url in resources.urls)
    assert resources.inline == []  # the CSP allows no inline script or style


def test_docs_carry_a_strict_content_security_policy(client: TestClient) -> None:
    response = client.get("/docs")

    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers.get("Content-Security-Policy", "").split(";")
        if directive.strip()
    }
    assert policy.get("default-src") == ["'none'"]
    assert policy.get("script-src") == ["'self'"]
    assert policy.get("style-src") == ["'self'"]
    assert policy.get("img-src") == ["'self'", "data:"]
    assert policy.get("connect-src") == ["'self'"]
    assert policy.get("base-uri") == ["'none'"]
    assert policy.get("form-action") == ["'self'"]
    assert policy.get("frame-ancestors") == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_every_file_the_docs_name_answers_with_its_media_type(client: TestClient) -> None:
    urls = page_resources(client).urls
    assert urls

    for url in urls:
        response = client.get(url)
        suffix = url[url.rindex(".") :]
        assert response.status_code == 200, url
        assert response.headers["Content-Type"].startswith(MEDIA_TYPES[suffix]), url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.content, url


def test_swagger_ui_files_are_versioned_and_cached_for_good(client: TestClient) -> None:
    """Their URLs name the build, so a browser may keep them: an upgrade changes the URL."""
    bundle = next(url for url in page_resources(client).urls if "swagger-ui-bundle" in url)

    cache_control = client.get(bundle).headers["Cache-Control"]

    assert "immutable" in cache_control
    assert "max-age=31536000" in cache_control


def test_the_docs_still_read_the_openapi_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json")

    assert schema.status_code == 200
    assert "/sign-in" in schema.json()["paths"]


def test_redoc_is_not_served(client: TestClient) -> None:
    """FastAPI's /redoc loads its script from a CDN too; authgate offers only /docs."""
    response = client.get("/redoc")

    assert response.status_code == 404
    assert is_error_body(response.json())


ESCAPES = [
    "..%2F..%2F__init__.py",
    "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fweb%2fdocs.py",
    "%2e%2e",
    "..",
    "../../__init__.py",
    "....//....//etc/passwd",
    "%252e%252e%252f__init__.py",
    "swagger-ui.css/..%2F..%2F__init__.py",
    "swagger-ui.css%00.py",
    "redoc.standalone.js",  # in the package that ships the build, but not named by /docs
    "__init__.py",
    "SWAGGER-UI.CSS",
    "/etc/passwd",
]


@pytest.mark.parametrize("escape", ESCAPES)
def test_a_path_out_of_the_assets_folder_is_404_never_a_file(
    client: TestClient, escape: str
) -> None:
    stylesheet = next(url for url in page_resources(client).urls if url.endswith(".css"))
    assert same_origin(stylesheet)
    folder = stylesheet.rsplit("/", 1)[0]

    response = client.get(f"{folder}/{escape}")

    assert response.status_code == 404, response.text[:200]
    assert is_error_body(response.json())


def test_a_file_of_another_build_is_404(client: TestClient) -> None:
    """A stale URL is refused rather than answered with other bytes under an immutable cache."""
    stylesheet = next(url for url in page_resources(client).urls if url.endswith(".css"))
    assert same_origin(stylesheet)
    folder, name = stylesheet.rsplit("/", 1)
    parent = folder.rsplit("/", 1)[0]

    for build in ["0.0.0", "..%2F..", "%2e%2e"]:
        response = client.get(f"{parent}/{build}/{name}")
        assert response.status_code == 404, build
        assert is_error_body(response.json())

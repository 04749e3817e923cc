"""GET /docs in headless Chromium, against a real `authgate serve`, with no way out.

Every request for a host other than the test server is aborted (and recorded), as on a
machine with no internet: the page must still render Swagger UI from authgate's own files,
under its Content-Security-Policy without a single violation, and its Authorize button
and "Try it out" must work.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from helpers import PASSWORD
from servers import Server

with contextlib.suppress(ImportError):
    from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Route, expect

# Recorded in the page before any of its scripts run, so none can escape it.
RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """authgate with its default token lifetime, so a token outlives a slow click."""
    with Server(tmp_path_factory.mktemp("docs")) as running:
        yield running


class Offline:
    """A page whose requests may reach only the test server; the rest are aborted."""

    def __init__(self, context: BrowserContext, server: Server) -> None:
        self.origin = urlsplit(server.url).netloc
        self.blocked: list[str] = []
        self.console: list[str] = []
        context.route("**/*", self._only_the_server)
        context.add_init_script(RECORD_VIOLATIONS)
        self.page = context.new_page()
        self.page.on("console", self._record)

    def _only_the_server(self, route: Route) -> None:
        if urlsplit(route.request.url).netloc == self.origin:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    def _record(self, message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.violations")
        return found + [text for text in self.console if "Content Security Policy" in text]


@pytest.fixture
def offline(context: BrowserContext, server: Server) -> Offline:
    return Offline(context, server)


@pytest.fixture
def docs(offline: Offline) -> Page:
    offline.page.goto("/docs")
    return offline.page


def test_docs_render_every_operation_with_no_other_host_and_no_csp_violation(
    docs: Page, offline: Offline
) -> None:
    sign_in = docs.locator(".opblock-post").filter(has=docs.get_by_text("/sign-in", exact=True))
    expect(sign_in).to_be_visible()
    expect(docs.locator(".opblock")).not_to_have_count(0)
    expect(docs.get_by_role("button", name="Authorize")).to_be_visible()

    sign_in.locator(".opblock-summary").click()  # the body schema, examples, responses
    expect(sign_in.locator(".responses-table").first).to_be_visible()

    assert offline.blocked == []
    assert offline.violations() == []


def test_authorize_signs_in_with_the_password_and_try_it_out_calls_me(
    docs: Page, offline: Offline, server: Server
) -> None:
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    created = httpx.post(f"{server.url}/sign-up", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201

    docs.get_by_role("button", name="Authorize").click()
    dialog = docs.locator(".modal-ux")
    dialog.locator("#oauth_username").fill(email)
    dialog.locator("#oauth_password").fill(PASSWORD)
    with docs.expect_response(lambda r: urlsplit(r.url).path == "/sign-in") as answer:
        dialog.get_by_role("button", name="Apply given OAuth2 credentials").click()
    assert answer.value.status == 200
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.get_by_role("button", name="Close").click()

    me = docs.locator(".opblock-get").filter(has=docs.get_by_text("/me", exact=True))
    me.locator(".opblock-summary").click()
    me.get_by_role("button", name="Try it out").click()
    with docs.expect_response(lambda r: urlsplit(r.url).path == "/me") as called:
        me.get_by_role("button", name="Execute").click()

    assert called.value.status == 200
    expect(me.locator(".live-responses-table")).to_contain_text(email)
    assert offline.blocked == []
    assert offline.violations() == []

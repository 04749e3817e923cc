"""A real `authgate serve` for browsers, Debian's headless Chromium driven by Playwright, and
a page on another origin for the CSRF attempts.

Playwright's own browser builds are never downloaded: it drives the system's `chromium`.
Without chromium or playwright these tests skip, unless AUTHGATE_REQUIRE_SERVICES is set
(CI sets it): then they fail, as tests/services.py does for PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import NoReturn

import pytest

from helpers import THROTTLES
from servers import Server, static_page
from services import REQUIRE_ENV

from . import ACCESS_TOKEN_TTL, Watch

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
except ImportError:  # the test extra installs it
    sync_playwright = None

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def missing(what: str) -> NoReturn:
    """Skip for lack of `what`, or fail when the services are required."""
    message = (
        f"{what} not found; install the Debian package chromium and playwright "
        "(pip install -e '.[test]')"
    )
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{message} ({REQUIRE_ENV} is set)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if sync_playwright is None:
        missing("playwright")
    executable = shutil.which("chromium")
    if executable is None:
        missing("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: Browser) -> Iterator[Server]:
    """authgate on http://127.0.0.1, so its cookies go without Secure (localhost only)."""
    settings = {
        "AUTHGATE_COOKIE_SECURE": "false",
        "AUTHGATE_ACCESS_TOKEN_TTL": str(ACCESS_TOKEN_TTL),
        **THROTTLES,
    }
    with Server(tmp_path_factory.mktemp("browser"), settings) as running:
        yield running


@pytest.fixture
def context(chromium: Browser, server: Server) -> Iterator[BrowserContext]:
    """A fresh browser profile: no cookies, no storage."""
    context = chromium.new_context(base_url=server.url)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def watch(context: BrowserContext) -> Iterator[Watch]:
    """The context's pages, watched: a CSP or Trusted Types complaint or an uncaught error
    on any of them fails the test."""
    watched = Watch(context)
    yield watched
    assert watched.problems == []


@pytest.fixture
def page(context: BrowserContext, watch: Watch) -> Page:
    """The account page, under the watch."""
    page = context.new_page()
    page.goto("/")
    return page


@pytest.fixture(scope="module")
def other_origin(server: Server) -> Iterator[str]:
    """A site on another port of 127.0.0.1: another origin, but the same site, so the
    browser does send authgate's SameSite=Lax cookies with its requests. The strictest
    case: SameSite alone does not stop it, the CSRF checks must.
    """
    page = ATTACKER_PAGE.replace("TARGET", server.url).encode()
    with static_page(page, host="127.0.0.1") as url:
        yield url


# What a hostile page would try: plain forms (no header can be added to them) and a script
# that reads the CSRF cookie (cookies ignore ports, so it can) and tries to send it along.
ATTACKER_PAGE = """<!doctype html>
<title>You won a prize</title>
<form id="sign-out" method="post" action="TARGET/sign-out"><button>Claim</button></form>
<form id="refresh" method="post" action="TARGET/token"><button>Claim</button></form>
<form id="sign-in" method="post" action="TARGET/sign-in?transport=cookie">
  <input name="username"><input name="password"><button>Claim</button>
</form>
<script>
  window.csrfFromCookie = () => (document.cookie.match(/authgate_csrf=([^;]+)/) || [])[1];
  window.sendWithHeader = async (path) => {
    try {
      const response = await fetch("TARGET" + path, {
        method: "POST", credentials: "include", headers: {"X-CSRF-Token": csrfFromCookie()},
      });
      return "answered " + response.status;
    } catch (error) {
      return "blocked";
    }
  };
  window.sendNoCors = async (path) => {
    await fetch("TARGET" + path, {
      method: "POST", mode: "no-cors", credentials: "include",
      headers: {"X-CSRF-Token": csrfFromCookie()},
    });
    return "sent";
  };
</script>
"""

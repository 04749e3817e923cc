"""The account page in a real headless Chromium, against a real `authgate serve`; and the
Watch that fails a test on any page's complaint (conftest's `watch` and `page`)."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

with contextlib.suppress(ImportError):  # without playwright, `chromium` skips (or fails)
    from playwright.sync_api import BrowserContext, ConsoleMessage, Request, WebError

ACCESS_TOKEN_TTL = 3  # seconds: short, so the page's silent refresh shows within a test

# Runs in every page before its own scripts: a violation (Trusted Types ones included)
# becomes a console error, which the Watch below collects from every page of the context.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
});
"""
# What Chromium itself logs for a refused load, inline code or string-to-code sink.
COMPLAINTS = ("CSP violation", "Content Security Policy", "Trusted Type", "TrustedHTML")


class Watch:
    """Every CSP or Trusted Types complaint and every uncaught error of a context's pages,
    and every request they made."""

    def __init__(self, context: BrowserContext) -> None:
        self.problems: list[str] = []
        self.requests: list[tuple[str, str]] = []
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("console", self._console)
        context.on("weberror", self._error)
        context.on("request", self._request)

    def _console(self, message: ConsoleMessage) -> None:
        if any(complaint in message.text for complaint in COMPLAINTS):
            self.problems.append(message.text)

    def _error(self, error: WebError) -> None:
        self.problems.append(f"uncaught: {error.error}")

    def _request(self, request: Request) -> None:
        self.requests.append((request.method, urlsplit(request.url).path))

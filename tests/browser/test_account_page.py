"""The account page at GET /, driven in headless Chromium against a real `authgate serve`.

The server runs with 3-second access tokens, so the page's silent refresh happens within a
test, and on http://127.0.0.1 with cookies that are not Secure (AUTHGATE_COOKIE_SECURE=false,
for localhost only). Hostile requests come from a page on another port of 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from helpers import PASSWORD, bearer
from servers import Server

from . import ACCESS_TOKEN_TTL

# Without playwright, conftest's `chromium` fixture skips (or fails) every test here.
with contextlib.suppress(ImportError):
    from playwright.sync_api import BrowserContext, Page, Response, expect

ACCESS = "authgate_access"
REFRESH = "authgate_refresh"
CSRF = "authgate_csrf"


class Traffic:
    """Every answer a page received: (method, path, status), in order."""

    def __init__(self, page: Page) -> None:
        self.answers: list[tuple[str, str, int]] = []
        page.on("response", self._record)

    def _record(self, response: Response) -> None:
        self.answers.append((response.request.method, urlsplit(response.url).path, response.status))

    def count(self, method: str, path: str, status: int) -> int:
        return self.answers.count((method, path, status))


def cookies(context: BrowserContext) -> dict[str, str]:
    """The context's cookies by name, as the browser keeps them (httpOnly ones included)."""
    return {cookie["name"]: cookie["value"] for cookie in context.cookies()}


def sign_up(page: Page, email: str) -> None:
    form = page.locator("#sign-up-form")
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page.locator("#status")).to_have_text("Account created. You can sign in now.")


def sign_in(page: Page, email: str) -> None:
    form = page.locator("#sign-in-form")
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#me-email")).to_have_text(email)


def reload(page: Page) -> None:
    """Click Reload and wait for the last answer it leads to (the session list)."""
    with page.expect_response(lambda r: urlsplit(r.url).path == "/sessions"):
        page.get_by_role("button", name="Reload").click()


def wait_for_a_refresh(page: Page) -> None:
    """Until the page's timer has traded the refresh cookie once more."""
    with page.expect_response(lambda r: urlsplit(r.url).path == "/token" and r.ok):
        pass


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """The account page, not under conftest's watch: tests here provoke the policy's and
    Trusted Types' refusals on purpose."""
    page = context.new_page()
    page.goto("/")
    return page


@pytest.fixture
def email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


@pytest.fixture
def signed_in(page: Page, email: str) -> Page:
    """The page, after signing up and signing in through its own forms."""
    sign_up(page, email)
    sign_in(page, email)
    return page


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    """A client outside the browser, for a second session and for checking effects."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


# -- the flow ---------------------------------------------------------------------


def test_signing_up_and_in_shows_the_account_and_this_browsers_session(
    signed_in: Page, email: str
) -> None:
    expect(signed_in.locator("#me-id")).not_to_be_empty()
    expect(signed_in.locator("#sessions tr")).to_have_count(1)
    expect(signed_in.locator("#sessions tr")).to_contain_text("this browser")


def test_the_page_lists_another_session_and_ends_it(
    signed_in: Page, email: str, http: httpx.Client
) -> None:
    other = http.post("/sign-in", json={"email": email, "password": PASSWORD}).json()
    reload(signed_in)
    expect(signed_in.locator("#sessions tr")).to_have_count(2)

    signed_in.locator("#sessions").get_by_role("button", name="End").click()

    expect(signed_in.locator("#status")).to_have_text("That session has ended.")
    expect(signed_in.locator("#sessions tr")).to_have_count(1)
    assert http.get("/me", headers=bearer(other["access_token"])).status_code == 401


def test_the_page_refreshes_silently_and_keeps_working_past_the_token_lifetime(
    signed_in: Page, context: BrowserContext, email: str
) -> None:
    traffic = Traffic(signed_in)
    first = cookies(context)[ACCESS]

    signed_in.wait_for_timeout(ACCESS_TOKEN_TTL * 2.5 * 1000)
    reload(signed_in)

    expect(signed_in.locator("#me-email")).to_have_text(email)
    expect(signed_in.locator("#sessions tr")).to_have_count(1)
    assert traffic.count("POST", "/token", 200) >= 2
    assert [answer for answer in traffic.answers if answer[2] >= 400] == []
    assert cookies(context)[ACCESS] != first


def test_the_page_refreshes_once_after_a_401_and_retries(
    signed_in: Page, context: BrowserContext, email: str
) -> None:
    wait_for_a_refresh(signed_in)  # the timer's next turn is seconds away now
    context.clear_cookies(name=ACCESS)
    traffic = Traffic(signed_in)

    reload(signed_in)

    assert traffic.answers == [
        ("GET", "/me", 401),
        ("POST", "/token", 200),
        ("GET", "/me", 200),
        ("GET", "/sessions", 200),
    ]


def test_the_page_stays_signed_in_across_a_reload(signed_in: Page, email: str) -> None:
    signed_in.reload()

    expect(signed_in.locator("#me-email")).to_have_text(email)


def test_signing_out_clears_the_cookies_and_ends_the_session(
    signed_in: Page, context: BrowserContext, http: httpx.Client
) -> None:
    access = cookies(context)[ACCESS]

    signed_in.get_by_role("button", name="Sign out").click()

    expect(signed_in.locator("#status")).to_have_text("Signed out.")
    expect(signed_in.locator("#signed-out")).to_be_visible()
    assert cookies(context) == {}
    assert http.get("/me", headers=bearer(access)).status_code == 401


# -- nothing for a script to steal -------------------------------------------------


def test_no_token_is_readable_by_the_pages_script(signed_in: Page, context: BrowserContext) -> None:
    wait_for_a_refresh(signed_in)
    kept = {cookie["name"]: cookie for cookie in context.cookies()}

    readable = signed_in.evaluate("document.cookie")
    stored = signed_in.evaluate("localStorage.length + sessionStorage.length")

    assert kept[ACCESS]["httpOnly"]
    assert kept[REFRESH]["httpOnly"]
    assert kept[ACCESS]["value"] not in readable
    assert kept[REFRESH]["value"] not in readable
    assert readable == f"{CSRF}={kept[CSRF]['value']}"
    assert stored == 0
    assert kept[ACCESS]["value"] not in signed_in.content()


INJECTIONS = [
    pytest.param(
        'document.body.insertAdjacentHTML("beforeend", "<img src=x onerror=pwned=1>")',
        id="html-from-a-string",
    ),
    pytest.param(
        'document.createElement("img").setAttribute("onerror", "window.pwned = 1")',
        id="inline-event-handler",
    ),
    pytest.param(
        'document.createElement("script").textContent = "window.pwned = 1"', id="inline-script"
    ),
    pytest.param(
        'document.createElement("script").src = "data:text/javascript,window.pwned=1"',
        id="script-url",
    ),
]


@pytest.mark.parametrize("injection", INJECTIONS)
def test_trusted_types_refuse_code_and_markup_from_strings(signed_in: Page, injection: str) -> None:
    outcome = signed_in.evaluate(
        f"() => {{ try {{ {injection}; return 'allowed'; }} catch (e) {{ return e.name; }} }}"
    )

    assert outcome == "TypeError"
    assert signed_in.evaluate("window.pwned") is None


def test_the_content_security_policy_is_enforced_on_the_page(signed_in: Page) -> None:
    """Even an image from our own origin is refused: the page loads only its own files."""
    violated = signed_in.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener(
                "securitypolicyviolation", (e) => resolve(e.effectiveDirective), {once: true}
            );
            const image = document.createElement("img");
            image.src = "/nothing-here.png";
            document.body.append(image);
        })"""
    )

    assert violated == "img-src"


# -- CSRF from another origin ---------------------------------------------------------


@pytest.mark.parametrize("form", ["sign-out", "refresh"])
def test_a_form_on_another_origin_is_refused_and_changes_nothing(
    signed_in: Page, context: BrowserContext, other_origin: str, email: str, form: str
) -> None:
    attacker = context.new_page()
    attacker.goto(other_origin)
    target = {"sign-out": "/sign-out", "refresh": "/token"}[form]

    with attacker.expect_response(lambda r: urlsplit(r.url).path == target) as answer:
        attacker.locator(f"#{form} button").click()

    assert answer.value.status == 403
    assert answer.value.json()["error"] == "csrf_failed"
    reload(signed_in)
    expect(signed_in.locator("#sessions tr")).to_have_count(1)
    expect(signed_in.locator("#status")).to_have_text("Signed in.")  # no error since


def test_a_script_on_another_origin_cannot_send_the_csrf_token(
    signed_in: Page, context: BrowserContext, other_origin: str
) -> None:
    """Cookies ignore ports, so it can read the token; it still cannot send it here."""
    attacker = context.new_page()
    attacker.goto(other_origin)

    assert attacker.evaluate("csrfFromCookie()") == cookies(context)[CSRF]
    assert attacker.evaluate("sendWithHeader('/sign-out')") == "blocked"  # CORS preflight
    with attacker.expect_response(lambda r: urlsplit(r.url).path == "/sign-out") as answer:
        attacker.evaluate("sendNoCors('/sign-out')")  # no-cors drops the custom header
    assert answer.value.status == 403
    assert context.request.get("/me").status == 200


def test_a_login_form_on_another_origin_cannot_sign_the_browser_in(
    context: BrowserContext, other_origin: str, email: str, http: httpx.Client
) -> None:
    """Login CSRF: the attacker's own account, pushed into the victim's browser."""
    http.post("/sign-up", json={"email": email, "password": PASSWORD})
    attacker = context.new_page()
    attacker.goto(other_origin)
    attacker.locator("#sign-in input[name=username]").fill(email)
    attacker.locator("#sign-in input[name=password]").fill(PASSWORD)

    with attacker.expect_response(lambda r: urlsplit(r.url).path == "/sign-in") as answer:
        attacker.locator("#sign-in button").click()

    assert answer.value.status == 403
    assert cookies(context) == {}


def test_our_own_script_without_the_csrf_header_is_refused(signed_in: Page, email: str) -> None:
    status = signed_in.evaluate("fetch('/sign-out', {method: 'POST'}).then(r => r.status)")

    assert status == 403
    reload(signed_in)
    expect(signed_in.locator("#me-email")).to_have_text(email)

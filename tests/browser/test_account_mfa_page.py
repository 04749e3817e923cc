"""Two-step sign-in on the account page, in headless Chromium against a real `authgate serve`.

The test is the authenticator app: it computes codes with pyotp from the key the page shows,
as a person would type that key into an app. The page sets the app up, shows the recovery
codes once, signs in with the password and then a code or a recovery code, and asks who
you are in place when a change needs a recent sign-in. Every page runs under the strict
Content-Security-Policy with Trusted Types; a violation or an uncaught error fails the test.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from helpers import PASSWORD, THROTTLES
from servers import Server

from . import Watch

with contextlib.suppress(ImportError):  # without playwright, `chromium` skips (or fails)
    from playwright.sync_api import Browser, BrowserContext, Page, Response, Route, expect

STEP = 30  # seconds of a TOTP step (RFC 6238), as core/totp.py has it
REAUTH_MAX_AGE = 3  # seconds; a token's auth_time is whole seconds, so a little room
STALE = (REAUTH_MAX_AGE + 1.5) * 1000  # milliseconds to wait until a sign-in is too old
SVG = "http://www.w3.org/2000/svg"


class Authenticator:
    """An authenticator app holding one key: a code of a step never used before, within
    the one step of drift these servers allow (`serving`), so that a test waits for the
    clock only when both steps in reach are used. The web tests (tests/web/test_mfa.py)
    hold the default window of one step on a frozen clock."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last_step = -1

    def code(self) -> str:
        while True:
            now = time.time()
            current = int(now) // STEP
            step = max(current, self.last_step + 1)
            if step <= current + 1:
                break
            time.sleep(STEP - now % STEP + 0.1)  # both steps in reach are used: the next
        self.last_step = step
        return self.totp.at(step * STEP)

    def wrong_code(self) -> str:
        return self.totp.at(time.time() - 10 * STEP)


def serving(folder: Path, **settings: str) -> Server:
    """authgate on http://127.0.0.1, so its cookies go without Secure (localhost only)."""
    page_settings = {"AUTHGATE_COOKIE_SECURE": "false", "AUTHGATE_TOTP_DRIFT_STEPS": "1"}
    return Server(folder, {**page_settings, **THROTTLES, **settings})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: Browser) -> Iterator[Server]:
    """conftest's `context` opens this one: the defaults (a recent sign-in is 5 minutes)."""
    with serving(tmp_path_factory.mktemp("mfa-page")) as running:
        yield running


@pytest.fixture(scope="module")
def stale_server(tmp_path_factory: pytest.TempPathFactory, chromium: Browser) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("mfa-stale-page")
    with serving(folder, AUTHGATE_REAUTH_MAX_AGE=str(REAUTH_MAX_AGE)) as running:
        yield running


@pytest.fixture
def stale_page(chromium: Browser, stale_server: Server) -> Iterator[Page]:
    context = chromium.new_context(base_url=stale_server.url)
    context.set_default_timeout(15_000)
    watched = Watch(context)
    page = context.new_page()
    page.goto("/")
    yield page
    context.close()
    assert watched.problems == []


def fresh_address() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


def path_of(response: Response) -> str:
    return "/" + response.url.split("/", 3)[3].split("?")[0]


def refresh_tokens(page: Page) -> set[str]:
    """The refresh tokens the browser holds (one cookie for /token, one for the sign-in
    routes, the same token in both)."""
    return {c["value"] for c in page.context.cookies() if c["name"] == "authgate_refresh"}


# -- the page, as a person uses it ---------------------------------------------------------


def sign_up_and_in(page: Page, email: str) -> None:
    form = page.locator("#sign-up-form")
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page.locator("#status")).to_have_text("Account created. You can sign in now.")
    submit_password(page, email)
    expect(page.locator("#me-email")).to_have_text(email)


def submit_password(page: Page, email: str) -> None:
    form = page.locator("#sign-in-form")
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.locator("#status")).to_have_text("Signed out.")


def second_step(page: Page, *, code: str | None = None, recovery_code: str | None = None) -> None:
    step = page.locator("#mfa-form")
    if recovery_code is not None:
        step.get_by_role("button", name="Use a recovery code instead").click()
        step.get_by_label("Recovery code").fill(recovery_code)
    else:
        step.get_by_label("Code from your authenticator app").fill(code or "")
    step.get_by_role("button", name="Continue").click()


def set_up_the_app(page: Page) -> tuple[Authenticator, list[str]]:
    """Set up an authenticator app from the page: the app, and the recovery codes shown."""
    page.get_by_role("button", name="Set up an authenticator app").click()
    return confirm_the_app(page)


def confirm_the_app(page: Page) -> tuple[Authenticator, list[str]]:
    key = page.locator("#totp-secret")
    expect(key).to_have_text(re.compile(r"^[A-Z2-7]{4}( [A-Z2-7]{4})+$"))
    app = Authenticator(key.inner_text().replace(" ", ""))
    form = page.locator("#totp-form")
    form.get_by_label("Code the app shows now").fill(app.code())
    form.get_by_role("button", name="Turn on two-step sign-in").click()
    return app, shown_recovery_codes(page)


def shown_recovery_codes(page: Page) -> list[str]:
    codes = page.locator("#recovery-list li")
    expect(codes).to_have_count(10)
    shown = codes.all_inner_texts()
    page.get_by_role("button", name="I have kept them").click()
    expect(page.locator("#recovery-codes")).to_be_hidden()
    expect(codes).to_have_count(0)  # not left in the page either
    return shown


# -- set up, then sign in with a code or a recovery code --------------------------------


def test_the_app_is_set_up_from_the_key_the_page_shows_and_its_qr_code_is_the_servers(
    page: Page,
) -> None:
    email = fresh_address()
    sign_up_and_in(page, email)
    expect(page.locator("#two-step-state")).to_have_text("Off: a sign-in needs only your password.")

    with page.expect_response(lambda r: path_of(r) == "/mfa/totp") as started:
        page.get_by_role("button", name="Set up an authenticator app").click()
    enrolment = started.value.json()
    expect(page.locator("#totp-secret")).to_have_text(
        " ".join(re.findall(".{1,4}", enrolment["secret"]))
    )
    picture = page.locator("#totp-qr > svg")
    expect(picture).to_have_count(1)
    assert picture.evaluate("svg => svg.namespaceURI") == SVG
    drawn = re.search(r' d="([^"]+)"', enrolment["qr_svg"])
    assert drawn is not None
    assert picture.locator("path").get_attribute("d") == drawn.group(1)
    box = picture.bounding_box()
    assert box is not None
    assert box["width"] > 100  # drawn at the server's size

    _, codes = confirm_the_app(page)

    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){5}", code) for code in codes)
    expect(page.locator("#status")).to_have_text(
        "Two-step sign-in is on. Keep your recovery codes now: they are not shown again."
    )
    expect(page.locator("#two-step-state")).to_have_text(
        "On: a sign-in needs your password and a code from your authenticator app. "
        "10 recovery codes left."
    )
    expect(page.get_by_role("button", name="Set up an authenticator app")).to_be_hidden()
    expect(page.get_by_role("button", name="Remove the authenticator app")).to_be_visible()
    expect(page.locator("#totp-secret")).to_be_empty()
    expect(page.locator("#totp-qr > *")).to_have_count(0)


def test_sign_in_asks_for_a_code_or_a_recovery_code_after_the_password(
    page: Page, context: BrowserContext, server: Server
) -> None:
    email = fresh_address()
    sign_up_and_in(page, email)
    app, codes = set_up_the_app(page)
    sign_out(page)

    submit_password(page, email)
    step = page.locator("#mfa-form")
    expect(step).to_be_visible()
    expect(page.locator("#sign-in-form")).to_be_hidden()
    expect(step.get_by_label("Code from your authenticator app")).to_be_focused()
    # The mfa_token lives in a variable of the script only: not in storage, URL or cookie.
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    assert page.url == f"{server.url}/"
    assert context.cookies() == []

    second_step(page, code=app.wrong_code())
    expect(page.locator("#status")).to_have_text(
        "That code is not right. Type the one the app shows now."
    )
    expect(step).to_be_visible()
    code = app.code()  # may wait for a fresh step: outside the wait for the answer
    with page.expect_response(lambda r: path_of(r) == "/sign-in/mfa") as finished:
        second_step(page, code=code)
    assert finished.value.status == 200
    assert finished.value.url.endswith("/sign-in/mfa?transport=cookie")
    expect(page.locator("#me-email")).to_have_text(email)
    expect(step).to_be_hidden()
    assert {"authgate_access", "authgate_refresh"} <= {c["name"] for c in context.cookies()}
    sign_out(page)

    submit_password(page, email)
    second_step(page, recovery_code=codes[0])
    expect(page.locator("#me-email")).to_have_text(email)
    expect(page.locator("#two-step-state")).to_contain_text("9 recovery codes left.")
    sign_out(page)

    submit_password(page, email)
    second_step(page, recovery_code=codes[0])  # used already
    expect(page.locator("#status")).to_have_text(
        "That recovery code is not right, or it was used already."
    )
    expect(page.locator("#signed-in")).to_be_hidden()
    step.get_by_label("Recovery code").fill(codes[1].upper().replace("-", " "))  # as typed
    step.get_by_role("button", name="Continue").click()
    expect(page.locator("#me-email")).to_have_text(email)
    expect(page.locator("#two-step-state")).to_contain_text("8 recovery codes left.")


def test_starting_again_drops_the_second_step(page: Page, context: BrowserContext) -> None:
    email = fresh_address()
    sign_up_and_in(page, email)
    app, _ = set_up_the_app(page)
    sign_out(page)

    submit_password(page, email)
    page.get_by_role("button", name="Start again").click()

    expect(page.locator("#mfa-form")).to_be_hidden()
    expect(page.locator("#sign-in-form").get_by_label("Password")).to_be_focused()
    expect(page.locator("#sign-in-form").get_by_label("E-mail")).to_have_value(email)
    submit_password(page, email)
    second_step(page, code=app.code())
    expect(page.locator("#me-email")).to_have_text(email)


def test_the_page_draws_only_the_drawing_of_a_hostile_qr_code(page: Page) -> None:
    """Were the server's SVG ever someone else's, the page copies paths, never a script,
    a handler, a link or foreign markup (and Trusted Types would refuse those anyway)."""
    hostile = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" onload="window.ran=1">'
        "<script>window.ran = 2</script>"
        '<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">'
        '<img src="x" onerror="window.ran=3"/></div></foreignObject>'
        '<a href="javascript:window.ran=4"><rect width="10" height="10"/></a>'
        '<path d="M0 0h10" stroke="#000" onclick="window.ran=5" style="fill:red"/>'
        "</svg>"
    )

    def swap(route: Route) -> None:
        answer = route.fetch()
        route.fulfill(response=answer, json={**answer.json(), "qr_svg": hostile})

    sign_up_and_in(page, fresh_address())
    page.route("**/mfa/totp", swap)
    page.get_by_role("button", name="Set up an authenticator app").click()

    picture = page.locator("#totp-qr")
    expect(picture.locator("path")).to_have_count(1)
    assert picture.evaluate("e => e.innerHTML") == (
        '<svg width="40" height="40"><path d="M0 0h10" stroke="#000"></path></svg>'
    )
    picture.locator("path").dispatch_event("click")
    assert page.evaluate("() => window.ran") is None


# -- confirming who you are, in place ------------------------------------------------


def test_a_stale_sign_in_is_confirmed_in_place_then_the_change_goes_on(
    stale_page: Page,
) -> None:
    """The dialog asks as fully as a sign-in (ASVS V7.5.1): the password alone while the
    account has no second factor, then the password and a code (or a recovery code)
    together; each confirmation hands the browser a new refresh token (ASVS V7.2.4)."""
    page, email = stale_page, fresh_address()
    answers: list[tuple[str, int]] = []
    page.on("response", lambda r: answers.append((f"{r.request.method} {path_of(r)}", r.status)))
    sign_up_and_in(page, email)
    page.wait_for_timeout(STALE)
    dialog = page.locator("#reauth")
    refresh_before = refresh_tokens(page)

    answers.clear()
    page.get_by_role("button", name="Set up an authenticator app").click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Your password")).to_be_focused()
    expect(dialog.get_by_label("Code from your authenticator app")).to_be_hidden()
    expect(dialog.get_by_role("button", name="Use a recovery code instead")).to_be_hidden()
    dialog.get_by_label("Your password").fill("not the password")
    dialog.get_by_role("button", name="Continue").click()
    expect(page.locator("#reauth-error")).to_have_text("That password is not right.")
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_role("button", name="Continue").click()
    expect(dialog).to_be_hidden()
    app, first_codes = confirm_the_app(page)
    assert [a for a in answers if a[0] != "GET /mfa"][:4] == [
        ("POST /mfa/totp", 401),
        ("POST /reauthenticate", 401),
        ("POST /reauthenticate", 200),
        ("POST /mfa/totp", 200),  # the same request, once more
    ]
    renewed = refresh_tokens(page)
    assert len(renewed) == 1
    assert not renewed & refresh_before

    page.wait_for_timeout(STALE)
    page.get_by_role("button", name="New recovery codes").click()
    expect(dialog.get_by_label("Your password")).to_be_focused()
    expect(dialog.get_by_label("Code from your authenticator app")).to_be_visible()
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_label("Code from your authenticator app").fill(app.wrong_code())
    dialog.get_by_role("button", name="Continue").click()
    expect(page.locator("#reauth-error")).to_have_text("That password or code is not right.")
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_label("Code from your authenticator app").fill(app.code())
    dialog.get_by_role("button", name="Continue").click()
    new_codes = shown_recovery_codes(page)
    assert not set(new_codes) & set(first_codes)
    expect(page.locator("#status")).to_have_text(
        "Here are new recovery codes; the old ones no longer work."
    )

    page.wait_for_timeout(STALE)
    answers.clear()
    page.get_by_role("button", name="Remove the authenticator app").click()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#status")).to_have_text(
        "Nothing was changed: it needs you to confirm it is you."
    )
    expect(page.locator("#two-step-state")).to_contain_text("On:")
    assert ("DELETE /mfa/totp", 401) in answers
    assert not [a for a in answers if a[0] == "POST /reauthenticate" or a[1] == 204]

    page.get_by_role("button", name="Remove the authenticator app").click()
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_role("button", name="Use a recovery code instead").click()
    expect(dialog.get_by_label("Recovery code")).to_be_focused()
    dialog.get_by_label("Recovery code").fill(new_codes[0])
    dialog.get_by_role("button", name="Continue").click()
    expect(page.locator("#status")).to_have_text(
        "The authenticator app is removed: a sign-in needs only your password now."
    )
    expect(page.locator("#two-step-state")).to_have_text("Off: a sign-in needs only your password.")
    expect(page.locator("#me-email")).to_have_text(email)  # the same session all along
    expect(page.locator("#sessions tr")).to_have_count(1)

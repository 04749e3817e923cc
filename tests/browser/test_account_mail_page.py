"""Accounts by e-mail from the browser: the account page at / and the page every mailed
link opens, in headless Chromium, against a real `authgate serve` that delivers its mail to
a real SMTP server (tests/smtp.py).

Every link is read from a delivered mail and opened in the browser, as a person would.
Every page of every test runs under the strict Content-Security-Policy with Trusted Types;
a violation, a Trusted Types refusal or an uncaught error on any page fails the test.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from helpers import PASSWORD, THROTTLES, bearer
from servers import Server
from services import free_port
from smtp import Mailbox, links_in

from . import Watch

with contextlib.suppress(ImportError):  # without playwright, `chromium` skips (or fails)
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        Locator,
        Page,
        Response,
        expect,
    )

NEW_PASSWORD = "a brand new passphrase"
WAIT = 30  # seconds for a mail to arrive; delivery retries every second

# Subjects of the mails (core/mail_templates), enough of each to tell them apart.
VERIFY = "Confirm your e-mail address"
RESET = "Reset your"
PASSWORD_CHANGED = "password changed"
CONFIRM_CHANGE = "Confirm your new e-mail address"
CHANGE_REQUESTED = "asked to change its e-mail address"
ADDRESS_CHANGED = "e-mail address of your"
DELETED = "account was deleted"


@contextlib.contextmanager
def serving(folder: Path, inbox: Mailbox, **settings: str) -> Iterator[Server]:
    """authgate on http://127.0.0.1 (cookies without Secure), mailing links to itself."""
    port = free_port()
    environment = {
        "AUTHGATE_COOKIE_SECURE": "false",
        "AUTHGATE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "AUTHGATE_SMTP_URL": inbox.url,
        "AUTHGATE_MAIL_RETRY_DELAY": "1",
        **THROTTLES,
        **settings,
    }
    with Server(folder, environment, port=port) as running:
        yield running


@pytest.fixture(scope="module")
def inbox() -> Iterator[Mailbox]:
    """One SMTP server for the module; each test mails its own fresh addresses."""
    box = Mailbox().start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, chromium: Browser, inbox: Mailbox
) -> Iterator[Server]:
    """conftest's `context` opens this one: the defaults, plus mail."""
    with serving(tmp_path_factory.mktemp("mail-page"), inbox) as running:
        yield running


@pytest.fixture(scope="module")
def strict_server(
    tmp_path_factory: pytest.TempPathFactory, chromium: Browser, inbox: Mailbox
) -> Iterator[Server]:
    """Sign-in only with a confirmed address, and changes only within 1 s of a sign-in."""
    folder = tmp_path_factory.mktemp("strict-page")
    settings = {"AUTHGATE_REQUIRE_VERIFIED_EMAIL": "true", "AUTHGATE_REAUTH_MAX_AGE": "1"}
    with serving(folder, inbox, **settings) as running:
        yield running


@pytest.fixture
def strict_context(chromium: Browser, strict_server: Server) -> Iterator[BrowserContext]:
    context = chromium.new_context(base_url=strict_server.url)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def strict_page(strict_context: BrowserContext) -> Iterator[Page]:
    watched = Watch(strict_context)
    page = strict_context.new_page()
    page.goto("/")
    yield page
    assert watched.problems == []


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def fresh_address() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


# -- mail ---------------------------------------------------------------------------


def mails(inbox: Mailbox, to: str, subject: str, *, count: int = 1) -> list[EmailMessage]:
    """The mails to `to` whose subject has `subject`, once at least `count` have come."""
    deadline = time.monotonic() + WAIT
    while True:
        found = [mail for mail in inbox.to(to) if subject in str(mail["Subject"])]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} mail(s) {subject!r} to {to}; got {len(found)}")
        time.sleep(0.05)


def link_in(mail: EmailMessage, path: str) -> str:
    """The one link of a mail to `path` (its text and HTML bodies carry the same)."""
    (link,) = [link for link in links_in(mail) if urlsplit(link).path == path]
    return link


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def every_link(inbox: Mailbox, *addresses: str) -> list[str]:
    return list(
        dict.fromkeys(link for to in addresses for m in inbox.to(to) for link in links_in(m))
    )


# -- the account page ---------------------------------------------------------------


def sign_up(page: Page, email: str) -> None:
    form = page.locator("#sign-up-form")
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page.locator("#status")).to_have_text("Account created. You can sign in now.")


def submit_sign_in(page: Page, email: str, password: str) -> None:
    form = page.locator("#sign-in-form")
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    submit_sign_in(page, email, password)
    expect(page.locator("#me-email")).to_have_text(email)


def shows_the_answer(page: Page, button: Locator) -> None:
    """Press a button whose request the server accepts (202): the page shows its detail."""
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        button.click()
    assert answer.value.status == 202
    detail: str = answer.value.json()["detail"]
    expect(page.locator("#status")).to_have_text(f"{detail[0].upper()}{detail[1:]}.")


def open_link(context: BrowserContext, link: str) -> Page:
    """The link opened in a new tab, its page ready for the button."""
    landing = context.new_page()
    landing.goto(link)
    expect(landing.locator("#link-form")).to_be_visible()
    return landing


def press(landing: Page, button: str, done: str) -> None:
    landing.get_by_role("button", name=button).click()
    expect(landing.locator("#status")).to_have_text(done)
    expect(landing.locator("#link-form")).to_be_hidden()


# -- the watch itself -------------------------------------------------------------------


def test_the_watch_sees_what_the_policy_and_trusted_types_refuse(context: BrowserContext) -> None:
    watched = Watch(context)
    page = context.new_page()
    page.goto("/")

    page.evaluate(
        """() => {
            const image = document.createElement("img");
            image.src = "/nothing-here.png";
            document.body.append(image);
            try { document.body.insertAdjacentHTML("beforeend", "<b>markup</b>"); } catch {}
        }"""
    )

    expected = {  # Chromium's own words, then the page's event, for each refusal
        "TrustedHTML",
        "violates the following Content Security Policy directive",
        "CSP violation: require-trusted-types-for",
        "CSP violation: img-src",
    }
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if all(any(part in seen for seen in watched.problems) for part in expected):
            break
        page.wait_for_timeout(50)
    else:
        raise AssertionError(f"the watch missed some of {expected}: {watched.problems}")


# -- sign up, confirm, forget, reset --------------------------------------------------


def test_a_new_account_confirms_its_address_then_resets_a_forgotten_password(
    page: Page, context: BrowserContext, inbox: Mailbox, server: Server
) -> None:
    email = fresh_address()
    sign_up(page, email)
    sign_in(page, email)
    expect(page.locator("#me-verified")).to_have_text("Not yet: open the link we mailed you")
    expect(page.get_by_role("button", name="Send the verification mail again")).to_be_visible()

    (verification,) = mails(inbox, email, VERIFY)
    landing = open_link(context, link_in(verification, "/email/verify"))
    expect(landing.get_by_role("heading", level=1)).to_have_text("Confirm your e-mail address")
    press(landing, "Confirm my address", "Your address is confirmed. Thank you!")
    landing.close()

    page.get_by_role("button", name="Reload").click()
    expect(page.locator("#me-verified")).to_have_text("Yes")
    expect(page.get_by_role("button", name="Send the verification mail again")).to_be_hidden()

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#status")).to_have_text("Signed out.")
    forgot = page.locator("#forgot-form")
    forgot.get_by_label("E-mail").fill(email)
    shows_the_answer(page, forgot.get_by_role("button", name="Send me a reset link"))

    (reset,) = mails(inbox, email, RESET)
    landing = open_link(context, link_in(reset, "/password/reset"))
    new_password = landing.get_by_label("New password")
    expect(new_password).to_have_attribute("autocomplete", "new-password")
    new_password.fill(NEW_PASSWORD)
    press(landing, "Set my new password", "Your password is set. Sign in with it now.")
    landing.get_by_role("link", name="Sign in").click()
    expect(landing).to_have_url(f"{server.url}/")

    submit_sign_in(landing, email, PASSWORD)
    expect(landing.locator("#status")).to_have_text("The e-mail or password is incorrect.")
    sign_in(landing, email, NEW_PASSWORD)
    expect(landing.locator("#me-verified")).to_have_text("Yes")


def test_the_password_forms_come_with_what_password_managers_and_screen_readers_need(
    page: Page, context: BrowserContext, inbox: Mailbox, http: httpx.Client
) -> None:
    email = fresh_address()
    assert http.post("/sign-up", json={"email": email, "password": PASSWORD}).status_code == 201
    assert http.post("/password/forgot", json={"email": email}).status_code == 202
    landing = open_link(context, link_in(mails(inbox, email, RESET)[0], "/password/reset"))
    sign_in(page, email)

    expect(page.get_by_label("Current password")).to_have_attribute(
        "autocomplete", "current-password"
    )
    expect(page.get_by_label("New password")).to_have_attribute("autocomplete", "new-password")
    expect(page.get_by_label("Sign out my other sessions")).to_be_checked()
    expect(page.get_by_label("New e-mail address")).to_have_attribute("type", "email")
    expect(landing.get_by_label("New password")).to_have_attribute("required", "")
    expect(landing.get_by_role("link", name="Go to your account")).to_have_attribute("href", "/")


# -- changes while signed in ----------------------------------------------------------


def test_the_page_changes_the_password_and_the_address_then_deletes_the_account(
    page: Page, context: BrowserContext, inbox: Mailbox, http: httpx.Client
) -> None:
    email, new_email = fresh_address(), fresh_address()
    sign_up(page, email)
    sign_in(page, email)
    other = http.post("/sign-in", json={"email": email, "password": PASSWORD}).json()

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#status")).to_have_text(
        "Your password is changed, and your other sessions are signed out."
    )
    assert http.get("/me", headers=bearer(other["access_token"])).status_code == 401
    expect(page.locator("#sessions tr")).to_have_count(1)
    mails(inbox, email, PASSWORD_CHANGED)
    assert http.post("/sign-in", json={"email": email, "password": PASSWORD}).status_code == 401

    page.get_by_label("New e-mail address").fill(new_email)
    shows_the_answer(page, page.get_by_role("button", name="Change e-mail"))
    (requested,) = mails(inbox, email, CHANGE_REQUESTED)
    link_in(requested, "/email/change/revert")  # "this wasn't me", before the change
    (confirmation,) = mails(inbox, new_email, CONFIRM_CHANGE)
    landing = open_link(context, link_in(confirmation, "/email/change/confirm"))
    press(
        landing,
        "Confirm my new address",
        "Your new address is confirmed. Sign in with it from now on.",
    )
    (changed,) = mails(inbox, email, ADDRESS_CHANGED)
    revert = open_link(context, link_in(changed, "/email/change/revert"))
    expect(revert.get_by_role("heading", level=1)).to_have_text("This wasn't me")
    expect(revert.get_by_role("button", name="Secure my account")).to_be_visible()
    page.get_by_role("button", name="Reload").click()
    expect(page.locator("#me-email")).to_have_text(new_email)

    page.get_by_role("button", name="Delete my account", exact=True).click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#delete-confirm")).to_be_hidden()
    page.get_by_role("button", name="Delete my account", exact=True).click()
    page.get_by_role("button", name="Yes, delete my account").click()
    expect(page.locator("#status")).to_have_text(
        "Your account is deleted, and every session of it has ended."
    )
    expect(page.locator("#signed-out")).to_be_visible()
    assert context.cookies() == []
    mails(inbox, new_email, DELETED)
    gone = http.post("/sign-in", json={"email": new_email, "password": NEW_PASSWORD})
    assert gone.status_code == 401


def test_a_wrong_current_password_changes_nothing_and_keeps_the_session(
    page: Page, http: httpx.Client
) -> None:
    email = fresh_address()
    sign_up(page, email)
    sign_in(page, email)

    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()

    expect(page.locator("#status")).to_have_text("The current password is not right.")
    expect(page.locator("#me-email")).to_have_text(email)
    assert http.post("/sign-in", json={"email": email, "password": PASSWORD}).status_code == 200


# -- mail scanners ----------------------------------------------------------------------


def open_every_link(context: BrowserContext, watch: Watch, links: list[str]) -> None:
    """Each link loaded in the browser and left alone, as a scanner (or a curious person)
    would: nothing but GETs may leave the pages."""
    for link in links:
        opened = context.new_page()
        opened.goto(link)
        account_page = urlsplit(link).path in {"", "/"}  # the footer's, /#forgot-password
        expect(opened.locator("#signed-out" if account_page else "#link-form")).to_be_visible()
        opened.close()
    # The account page's passkey autofill fetches a sign-in challenge; it touches no link.
    autofill = ("POST", "/passkeys/authenticate/options")
    assert {method for method, path in watch.requests if (method, path) != autofill} == {"GET"}


def spend(http: httpx.Client, link: str, **extra: str) -> int:
    """The button's POST, outside the browser: 204 if no opening consumed the token."""
    return http.post(urlsplit(link).path, json={"token": token_of(link), **extra}).status_code


def test_opening_every_link_of_every_mail_in_the_browser_consumes_nothing(
    context: BrowserContext, watch: Watch, inbox: Mailbox, http: httpx.Client
) -> None:
    """In rounds, since spending some links sends the others: after each round of opening
    every link of every mail so far, the new tokens are spent, and each POST must work."""
    email, new_email = fresh_address(), fresh_address()
    assert http.post("/sign-up", json={"email": email, "password": PASSWORD}).status_code == 201
    tokens = http.post("/sign-in", json={"email": email, "password": PASSWORD}).json()
    changing = http.post(
        "/email/change", headers=bearer(tokens["access_token"]), json={"new_email": new_email}
    )
    assert changing.status_code == 202
    assert http.post("/password/forgot", json={"email": email}).status_code == 202
    verify = link_in(mails(inbox, email, VERIFY)[0], "/email/verify")
    reset = link_in(mails(inbox, email, RESET)[0], "/password/reset")
    confirm = link_in(mails(inbox, new_email, CONFIRM_CHANGE)[0], "/email/change/confirm")
    mails(inbox, email, CHANGE_REQUESTED)

    open_every_link(context, watch, every_link(inbox, email, new_email))
    assert spend(http, verify) == 204
    assert spend(http, reset, password=NEW_PASSWORD) == 204
    assert spend(http, confirm) == 204

    mails(inbox, email, PASSWORD_CHANGED)
    revert = link_in(mails(inbox, email, ADDRESS_CHANGED)[0], "/email/change/revert")
    open_every_link(context, watch, every_link(inbox, email, new_email))
    assert spend(http, revert) == 204  # the old address back; a reset link sent to it

    second_reset = link_in(mails(inbox, email, RESET, count=2)[1], "/password/reset")
    open_every_link(context, watch, every_link(inbox, email, new_email))
    assert spend(http, second_reset, password=PASSWORD) == 204
    assert http.post("/sign-in", json={"email": email, "password": PASSWORD}).status_code == 200


def test_a_spent_link_says_so_and_offers_a_new_one(
    context: BrowserContext, watch: Watch, inbox: Mailbox, http: httpx.Client
) -> None:
    email = fresh_address()
    assert http.post("/sign-up", json={"email": email, "password": PASSWORD}).status_code == 201
    assert http.post("/password/forgot", json={"email": email}).status_code == 202
    link = link_in(mails(inbox, email, RESET)[0], "/password/reset")
    assert spend(http, link, password=NEW_PASSWORD) == 204

    landing = open_link(context, link)
    landing.get_by_label("New password").fill("yet another passphrase")
    landing.get_by_role("button", name="Set my new password").click()

    expect(landing.locator("#status")).to_have_text(
        "This link is invalid, already used or expired. "
        "You can ask for a new link on your account page."
    )
    expect(landing.get_by_role("link", name="Ask for a new link")).to_have_attribute(
        "href", "/#forgot-password"
    )


def test_the_notices_forgot_password_link_lands_in_the_form(
    context: BrowserContext, watch: Watch
) -> None:
    """A password-changed notice links to /#forgot-password (core/account_mail.py)."""
    page = context.new_page()
    page.goto("/#forgot-password")

    expect(page.locator("#forgot-form").get_by_label("E-mail")).to_be_focused()


def test_a_link_without_its_token_shows_no_button(context: BrowserContext, watch: Watch) -> None:
    landing = context.new_page()
    landing.goto("/email/verify")

    expect(landing.locator("#status")).to_have_text(
        "This link is incomplete. Open it again from the mail, whole."
    )
    expect(landing.locator("#link-form")).to_be_hidden()


# -- a confirmed address first, a recent sign-in for changes ------------------------------


def test_an_unconfirmed_address_is_told_so_at_sign_in_and_can_have_the_link_again(
    strict_page: Page, strict_context: BrowserContext, inbox: Mailbox
) -> None:
    page, email = strict_page, fresh_address()
    sign_up(page, email)

    submit_sign_in(page, email, PASSWORD)
    expect(page.locator("#status")).to_have_text(
        "Please confirm your e-mail address before you sign in."
    )
    shows_the_answer(page, page.get_by_role("button", name="Send the link again"))

    second = mails(inbox, email, VERIFY, count=2)[1]
    landing = open_link(strict_context, link_in(second, "/email/verify"))
    press(landing, "Confirm my address", "Your address is confirmed. Thank you!")
    sign_in(page, email)
    expect(page.locator("#unverified")).to_be_hidden()


def change_password(page: Page) -> None:
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()


def change_email(page: Page) -> None:
    page.get_by_label("New e-mail address").fill(fresh_address())
    page.get_by_role("button", name="Change e-mail").click()


def delete_account(page: Page) -> None:
    page.get_by_role("button", name="Delete my account", exact=True).click()
    page.get_by_role("button", name="Yes, delete my account").click()


STALE_CHANGES = [
    pytest.param(change_password, "/password/change", id="change-password"),
    pytest.param(change_email, "/email/change", id="change-email"),
    pytest.param(delete_account, "/me", id="delete-account"),
]


@pytest.mark.parametrize(("change", "route"), STALE_CHANGES)
def test_a_change_after_an_old_sign_in_asks_who_you_are_and_changes_nothing_if_not_told(
    strict_page: Page,
    strict_server: Server,
    inbox: Mailbox,
    change: Callable[[Page], None],
    route: str,
) -> None:
    page, email = strict_page, fresh_address()
    with httpx.Client(base_url=strict_server.url, timeout=30) as http:
        assert http.post("/sign-up", json={"email": email, "password": PASSWORD}).status_code == 201
        assert spend(http, link_in(mails(inbox, email, VERIFY)[0], "/email/verify")) == 204
        sign_in(page, email)
        page.wait_for_timeout(2_500)  # past AUTHGATE_REAUTH_MAX_AGE=1
        answers: list[tuple[str, str, int]] = []

        def record(response: Response) -> None:
            answers.append((response.request.method, urlsplit(response.url).path, response.status))

        page.on("response", record)
        change(page)
        dialog = page.locator("#reauth")  # tests/browser/test_account_mfa_page.py goes on
        expect(dialog.get_by_label("Your password")).to_be_focused()
        dialog.get_by_role("button", name="Cancel").click()

        expect(page.locator("#status")).to_have_text(
            "Nothing was changed: it needs you to confirm it is you."
        )
        expect(dialog).to_be_hidden()
        expect(page.locator("#me-email")).to_have_text(email)  # still signed in
        paths = {route, "/token", "/reauthenticate"}
        assert [answer for answer in answers if answer[1] in paths] == [
            ("DELETE" if route == "/me" else "POST", route, 401)
        ]
        signing_in = http.post("/sign-in", json={"email": email, "password": PASSWORD})
        assert signing_in.status_code == 200  # the password, the address, the account: unchanged

"""Passkeys made and used by headless Chromium's own WebAuthn stack, with its virtual
authenticator over CDP (a platform authenticator with resident keys and user verification),
against a real `authgate serve` on http://localhost (a secure context, and a domain, as an
RP id must be). The page runs `navigator.credentials.create()` and `.get()` with the options
the API hands out; the test posts the answers to the API, as the account page would.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from helpers import PASSWORD, THROTTLES, bearer
from servers import Server, static_page
from services import free_port

with contextlib.suppress(ImportError):  # without playwright, `chromium` skips (or fails)
    from playwright.sync_api import Browser, BrowserContext, Page, expect

# navigator.credentials.create()/get() with the API's JSON options: base64url to bytes on
# the way in, bytes to base64url on the way out (the JSON forms of WebAuthn L3). `change`
# edits the request options first, as a hostile page could.
CEREMONY = """
async ({kind, options, change}) => {
  const bytes = (text) => {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(b64 + "===".slice((b64.length + 3) % 4)), (c) => c.charCodeAt(0));
  };
  const text = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const described = (list) => (list || []).map((c) => ({...c, id: bytes(c.id)}));
  const publicKey = {...options, ...(change || {}), challenge: bytes(options.challenge)};
  if (kind === "create") {
    publicKey.user = {...options.user, id: bytes(options.user.id)};
    publicKey.excludeCredentials = described(options.excludeCredentials);
    const made = await navigator.credentials.create({publicKey});
    return {
      id: made.id, rawId: text(made.rawId), type: made.type,
      authenticatorAttachment: made.authenticatorAttachment,
      clientExtensionResults: made.getClientExtensionResults(),
      response: {
        clientDataJSON: text(made.response.clientDataJSON),
        attestationObject: text(made.response.attestationObject),
        transports: made.response.getTransports(),
      },
    };
  }
  publicKey.allowCredentials = described(publicKey.allowCredentials);
  const used = await navigator.credentials.get({publicKey});
  return {
    id: used.id, rawId: text(used.rawId), type: used.type,
    authenticatorAttachment: used.authenticatorAttachment,
    clientExtensionResults: used.getClientExtensionResults(),
    response: {
      clientDataJSON: text(used.response.clientDataJSON),
      authenticatorData: text(used.response.authenticatorData),
      signature: text(used.response.signature),
      userHandle: used.response.userHandle ? text(used.response.userHandle) : null,
    },
  };
}
"""

AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, chromium: Browser
) -> Iterator[Server]:
    """authgate whose public URL is http://localhost:PORT: the RP id is `localhost`. A test
    may parametrize it indirectly with more settings (another server then)."""
    port = free_port()
    settings = {
        "AUTHGATE_COOKIE_SECURE": "false",
        "AUTHGATE_PUBLIC_URL": f"http://localhost:{port}",
        **THROTTLES,
        **getattr(request, "param", {}),
    }
    with Server(tmp_path_factory.mktemp("passkeys"), settings, port=port) as running:
        yield running


@pytest.fixture(scope="module")
def lookalike() -> Iterator[str]:
    """Another origin with the same host, so the same RP id: a page that could ask the
    browser for authgate's passkeys (WebAuthn binds them to the RP id, not the port)."""
    page = b"<!doctype html><title>Sign in</title><p>Welcome back"
    with static_page(page, host="localhost") as url:
        yield f"{url}/"


@pytest.fixture
def context(chromium: Browser, server: Server) -> Iterator[BrowserContext]:
    context = chromium.new_context(base_url=f"http://localhost:{server.port}")
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page of authgate's origin; not the account page, whose passkey autofill keeps a
    request waiting that the ceremonies here would run into. Its tests go to / first."""
    page = context.new_page()
    page.goto("/health")
    return page


@pytest.fixture
def authenticator(context: BrowserContext, page: Page) -> Iterator[Authenticator]:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    yield Authenticator(cdp, added["authenticatorId"])
    cdp.send("WebAuthn.disable")


class Authenticator:
    """Chromium's virtual authenticator of the page's tab."""

    def __init__(self, cdp: Any, authenticator_id: str) -> None:
        self.cdp = cdp
        self.id = authenticator_id

    def verifies_the_user(self, verified: bool) -> None:
        self.cdp.send(
            "WebAuthn.setUserVerified", {"authenticatorId": self.id, "isUserVerified": verified}
        )

    def simulates_presence(self, enabled: bool) -> None:
        """Off: a request waits for a touch that never comes (no one picks a passkey)."""
        self.cdp.send(
            "WebAuthn.setAutomaticPresenceSimulation",
            {"authenticatorId": self.id, "enabled": enabled},
        )

    def credentials(self) -> list[dict[str, Any]]:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        return list(found["credentials"])


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


_accounts = iter(range(1_000_000))


def new_account(http: httpx.Client) -> tuple[str, dict[str, str]]:
    """A fresh account, signed in: its address and Bearer header."""
    email = f"passkey{next(_accounts)}@example.com"
    assert http.post("/sign-up", json={"email": email, "password": PASSWORD}).status_code == 201
    tokens = http.post("/sign-in", json={"email": email, "password": PASSWORD}).json()
    return email, bearer(tokens["access_token"])


def ceremony(
    page: Page, kind: str, options: dict[str, Any], change: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = page.evaluate(
        CEREMONY, {"kind": kind, "options": options, "change": change}
    )
    return answer


def add_passkey(page: Page, http: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    options = http.post("/passkeys/register/options", headers=headers)
    assert options.status_code == 200, options.text
    credential = ceremony(page, "create", options.json())
    added = http.post("/passkeys", headers=headers, json={"credential": credential, "name": "Tab"})
    assert added.status_code == 201, added.text
    body: dict[str, Any] = added.json()
    return body


def assertion(page: Page, http: httpx.Client, change: dict[str, Any] | None = None) -> Any:
    options = http.post("/passkeys/authenticate/options")
    assert options.status_code == 200, options.text
    return ceremony(page, "get", options.json(), change)


def amr_of(access_token: str) -> list[str]:
    """The token's `amr` claim, read without verifying (the server verified it already)."""
    payload = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return list(claims["amr"])


def test_chromium_registers_manages_and_signs_in_with_a_passkey(
    page: Page, authenticator: Authenticator, http: httpx.Client
) -> None:
    email, headers = new_account(http)
    added = add_passkey(page, http, headers)
    [stored] = authenticator.credentials()
    assert stored["isResidentCredential"] is True
    assert http.get("/passkeys", headers=headers).json() == [added]
    renamed = http.patch(f"/passkeys/{added['id']}", headers=headers, json={"name": "Desk"})
    assert renamed.json()["name"] == "Desk"

    signed_in = http.post("/sign-in/passkey", json={"credential": assertion(page, http)})
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()
    assert amr_of(tokens["access_token"]) == ["hwk", "user", "mfa"]
    me = http.get("/me", headers=bearer(tokens["access_token"]))
    assert me.json()["email"] == email

    assert http.delete(f"/passkeys/{added['id']}", headers=headers).status_code == 204
    assert http.get("/passkeys", headers=headers).json() == []
    # The authenticator still holds the credential; authgate no longer accepts it.
    refused = http.post("/sign-in/passkey", json={"credential": assertion(page, http)})
    assert refused.status_code == 401


def test_a_chromium_passkey_is_the_second_factor_after_a_password(
    page: Page, authenticator: Authenticator, http: httpx.Client
) -> None:
    email, headers = new_account(http)
    add_passkey(page, http, headers)
    challenge = http.post("/sign-in", json={"email": email, "password": PASSWORD})
    assert challenge.status_code == 401
    assert challenge.json()["methods"] == ["passkey"]
    done = http.post(
        "/sign-in/mfa",
        json={"mfa_token": challenge.json()["mfa_token"], "passkey": assertion(page, http)},
    )
    assert done.status_code == 200, done.text
    assert amr_of(done.json()["access_token"]) == ["pwd", "hwk", "mfa"]


def test_a_synced_chromium_passkey_signs_in_as_a_software_key(
    context: BrowserContext, page: Page, http: httpx.Client
) -> None:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    synced = {**AUTHENTICATOR, "defaultBackupEligibility": True, "defaultBackupState": True}
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": synced})
    _, headers = new_account(http)
    added = add_passkey(page, http, headers)
    assert (added["synced"], added["backed_up"]) == (True, True)
    signed_in = http.post("/sign-in/passkey", json={"credential": assertion(page, http)})
    assert amr_of(signed_in.json()["access_token"]) == ["swk", "user", "mfa"]


# -- what Chromium really sends, replayed and misused ------------------------------


def test_a_captured_assertion_is_refused_when_replayed(
    page: Page, authenticator: Authenticator, http: httpx.Client
) -> None:
    _, headers = new_account(http)
    add_passkey(page, http, headers)
    captured = assertion(page, http)
    assert http.post("/sign-in/passkey", json={"credential": captured}).status_code == 200
    again = http.post("/sign-in/passkey", json={"credential": captured})
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_credentials"


def test_an_assertion_made_on_another_origin_is_refused(
    page: Page, authenticator: Authenticator, http: httpx.Client, lookalike: str
) -> None:
    """The browser lets a page on localhost:OTHER use the RP id `localhost`; its answer
    names that origin, which is not one of authgate's."""
    _, headers = new_account(http)
    add_passkey(page, http, headers)
    options = http.post("/passkeys/authenticate/options").json()
    page.goto(lookalike)
    phished = ceremony(page, "get", options)
    answer = http.post("/sign-in/passkey", json={"credential": phished})
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_credentials"


def test_without_user_verification_a_passkey_is_only_a_second_factor(
    page: Page, authenticator: Authenticator, http: httpx.Client
) -> None:
    email, headers = new_account(http)
    add_passkey(page, http, headers)
    authenticator.verifies_the_user(False)
    unverified = {"userVerification": "discouraged"}  # what a hostile page could ask for
    refused = http.post("/sign-in/passkey", json={"credential": assertion(page, http, unverified)})
    assert refused.status_code == 401
    challenge = http.post("/sign-in", json={"email": email, "password": PASSWORD}).json()
    done = http.post(
        "/sign-in/mfa",
        json={"mfa_token": challenge["mfa_token"], "passkey": assertion(page, http, unverified)},
    )
    assert done.status_code == 200, done.text


def test_another_accounts_passkey_is_refused_as_a_second_factor(
    page: Page, authenticator: Authenticator, http: httpx.Client
) -> None:
    ada, ada_headers = new_account(http)
    add_passkey(page, http, ada_headers)
    _, grace_headers = new_account(http)
    graces = add_passkey(page, http, grace_headers)
    assert len(authenticator.credentials()) == 2
    grace_credential = next(
        c["credentialId"]
        for c in authenticator.credentials()
        if base64.b64decode(c["userHandle"]).decode() != _user_id(http, ada_headers)
    )
    challenge = http.post("/sign-in", json={"email": ada, "password": PASSWORD}).json()
    only_graces = {"allowCredentials": [{"type": "public-key", "id": _b64url(grace_credential)}]}
    answer = http.post(
        "/sign-in/mfa",
        json={"mfa_token": challenge["mfa_token"], "passkey": assertion(page, http, only_graces)},
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_credentials"
    assert graces["name"] == "Tab"


def _user_id(http: httpx.Client, headers: dict[str, str]) -> str:
    user_id: str = http.get("/me", headers=headers).json()["id"]
    return user_id


def _b64url(standard: str) -> str:
    """CDP gives credential ids in standard base64; WebAuthn's JSON forms use base64url."""
    return standard.replace("+", "-").replace("/", "_").rstrip("=")


# -- the account page -------------------------------------------------------------------


@pytest.fixture
def problems(context: BrowserContext) -> Iterator[list[str]]:
    """CSP and Trusted Types complaints and uncaught errors of the context's pages: none."""
    found: list[str] = []
    complaints = ("Content Security Policy", "Trusted Type", "TrustedHTML")
    context.on(
        "console",
        lambda m: found.append(m.text) if any(c in m.text for c in complaints) else None,
    )
    context.on("weberror", lambda error: found.append(f"uncaught: {error.error}"))
    yield found
    assert found == []


def sign_up_and_in_on_the_page(page: Page, email: str) -> None:
    form = page.locator("#sign-up-form")
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign up").click()
    expect(page.locator("#status")).to_have_text("Account created. You can sign in now.")
    sign_in_on_the_page(page, email)


def sign_in_on_the_page(page: Page, email: str) -> None:
    form = page.locator("#sign-in-form")
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()


def sign_out_on_the_page(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#status")).to_have_text("Signed out.")


def test_the_account_page_adds_a_passkey_and_signs_in_with_it(
    page: Page, authenticator: Authenticator, problems: list[str]
) -> None:
    page.goto("/")
    email = f"page{next(_accounts)}@example.com"
    sign_up_and_in_on_the_page(page, email)
    expect(page.locator("#me-email")).to_have_text(email)

    page.get_by_label("Name for the new passkey").fill("Laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("#status")).to_have_text(
        "The passkey is added: you can sign in with it now."
    )
    names = page.locator("#passkey-list").get_by_label("Passkey name")
    expect(names).to_have_value("Laptop")
    names.fill("Work laptop")
    page.locator("#passkey-list").get_by_role("button", name="Rename").click()
    expect(page.locator("#status")).to_have_text("The passkey is renamed.")
    expect(names).to_have_value("Work laptop")

    sign_out_on_the_page(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#status")).to_have_text("Signed in.")
    expect(page.locator("#me-email")).to_have_text(email)
    expect(page.locator("#passkey-list li")).to_have_count(1)
    expect(page.locator("#passkey-list")).to_contain_text("last used")

    # With a password, the passkey is the second step.
    sign_out_on_the_page(page)
    sign_in_on_the_page(page, email)
    mfa_form = page.locator("#mfa-form")
    expect(mfa_form.get_by_label("Code from your authenticator app")).to_be_hidden()
    mfa_form.get_by_role("button", name="Use your passkey").click()
    expect(page.locator("#status")).to_have_text("Signed in.")
    expect(page.locator("#me-email")).to_have_text(email)

    page.locator("#passkey-list").get_by_role("button", name="Remove").click()
    expect(page.locator("#status")).to_have_text("The passkey is removed.")
    expect(page.locator("#passkey-list li")).to_have_count(0)


@pytest.mark.parametrize("server", [{"AUTHGATE_REAUTH_MAX_AGE": "3"}], indirect=True)
def test_the_account_page_confirms_a_stale_sign_in_with_the_passkey_alone(
    page: Page, authenticator: Authenticator, problems: list[str]
) -> None:
    """ASVS V7.5.1: an account with a passkey and no authenticator app confirms who it is
    with the passkey, which verifies the person; the password alone would not do."""
    page.goto("/")
    email = f"page{next(_accounts)}@example.com"
    sign_up_and_in_on_the_page(page, email)
    page.get_by_label("Name for the new passkey").fill("Laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("#passkey-list li")).to_have_count(1)
    page.wait_for_timeout(4_500)  # past AUTHGATE_REAUTH_MAX_AGE

    page.locator("#passkey-list").get_by_role("button", name="Remove").click()
    dialog = page.locator("#reauth")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Your password")).to_be_hidden()
    expect(dialog.get_by_role("button", name="Use your passkey")).to_be_focused()
    with page.expect_response(lambda r: r.url.endswith("/reauthenticate")) as confirmed:
        dialog.get_by_role("button", name="Use your passkey").click()
    assert confirmed.value.status == 200
    expect(page.locator("#status")).to_have_text("The passkey is removed.")
    expect(page.locator("#passkey-list li")).to_have_count(0)
    expect(page.locator("#me-email")).to_have_text(email)


def test_the_account_page_says_so_when_no_passkey_signs_in(
    page: Page, authenticator: Authenticator, problems: list[str]
) -> None:
    """The authenticator holds no passkey for this site: the browser refuses, the page says."""
    page.goto("/")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#status")).to_have_text("No passkey was used.")
    expect(page.locator("#signed-out")).to_be_visible()


def autofill_state(page: Page) -> Any:
    return page.evaluate("document.body.dataset.passkeyAutofill")


def test_the_button_signs_in_after_stopping_the_waiting_passkey_autofill(
    page: Page, authenticator: Authenticator, http: httpx.Client, problems: list[str]
) -> None:
    """With no one to pick a passkey, the autofill's request waits; the button stops it."""
    email, headers = new_account(http)
    add_passkey(page, http, headers)
    authenticator.simulates_presence(False)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/")

    email_field = page.locator("#sign-in-form").get_by_label("E-mail")
    expect(email_field).to_have_attribute("autocomplete", "username webauthn")
    expect(page.locator("body")).to_have_attribute("data-passkey-autofill", "waiting")
    authenticator.simulates_presence(True)
    page.get_by_role("button", name="Sign in with a passkey").click()

    expect(page.locator("#status")).to_have_text("Signed in.")
    expect(page.locator("#me-email")).to_have_text(email)
    assert autofill_state(page) == "stopped"
    assert errors == []


def test_picking_a_passkey_from_the_autofill_signs_in(
    page: Page, authenticator: Authenticator, http: httpx.Client, problems: list[str]
) -> None:
    """Chromium's virtual authenticator answers the autofill's request at once, as if the
    person had picked its passkey from the e-mail field's list."""
    email, headers = new_account(http)
    add_passkey(page, http, headers)
    with page.expect_response(lambda r: urlsplit(r.url).path == "/sign-in/passkey") as answer:
        page.goto("/")
    assert answer.value.status == 200
    expect(page.locator("#status")).to_have_text("Signed in.")
    expect(page.locator("#me-email")).to_have_text(email)
    assert autofill_state(page) == "used"


def test_signing_in_with_a_password_stops_the_passkey_autofill(
    page: Page, authenticator: Authenticator, http: httpx.Client, problems: list[str]
) -> None:
    email, _ = new_account(http)
    authenticator.simulates_presence(False)
    page.goto("/")
    expect(page.locator("body")).to_have_attribute("data-passkey-autofill", "waiting")
    sign_in_on_the_page(page, email)
    expect(page.locator("#me-email")).to_have_text(email)
    assert autofill_state(page) == "stopped"

"""ASVS 5.0 V6 (Authentication): what authgate's design does that no other test shows on its
own. Each test names the requirement it proves; the rows of docs/asvs.md cite them.

Through the real app (in-process ASGI, a real database per test, a frozen clock), on both
databases: composition, expiry, default accounts, hints, resets against second factors, a
lost authenticator, recovery codes at rest, where one-time secrets come from, passkey
challenges, and the password fields of the pages.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import random
import re
from html.parser import HTMLParser

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from authgate.core import totp
from authgate.core.clock import FrozenClock
from authgate.core.links import new_link_token
from authgate.service import Service
from authgate.settings import Settings
from authgate.storage.tables import metadata, recovery_codes
from helpers import PASSWORD, bearer, mailed_token, sign_up_and_in

EMAIL = "ada@example.com"
CREDENTIALS = {"email": EMAIL, "password": PASSWORD}
NEW_PASSWORD = "a new and different passphrase"


def service_of(client: TestClient) -> Service:
    assert isinstance(client.app, FastAPI)
    service: Service = client.app.state.service
    return service


def code_at(secret: str, clock: FrozenClock, *, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock(), counter_offset=steps)


def enrolled(client: TestClient, clock: FrozenClock) -> tuple[str, list[str]]:
    """Ada, with a confirmed authenticator app: its secret and the ten recovery codes."""
    headers = bearer(sign_up_and_in(client)["access_token"])
    secret = client.post("/mfa/totp", headers=headers).json()["secret"]
    confirmed = client.post(
        "/mfa/totp/confirm", headers=headers, json={"code": code_at(secret, clock)}
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(30)  # the confirming code's step is used up
    codes: list[str] = confirmed.json()["recovery_codes"]
    return secret, codes


def mfa_token(client: TestClient, password: str = PASSWORD) -> str:
    """The second step a right password leads to, for an account with a second factor."""
    answer = client.post("/sign-in", json={"email": EMAIL, "password": password})
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "mfa_required"
    assert "access_token" not in answer.json()
    token: str = answer.json()["mfa_token"]
    return token


# -- V6.2.5: passwords of any composition ---------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("qzxwvjkpmrtl", id="lower-case-letters-only"),
        pytest.param("QZXWVJKPMRTL", id="upper-case-letters-only"),
        pytest.param("73920581647305", id="digits-only"),
        pytest.param("!@#$%^&*()_+-=~", id="symbols-only"),
        pytest.param("плотник окно", id="cyrillic-and-a-space"),
        pytest.param("🦊🌵🎲🛶🪁🧭🫖🪐", id="emoji-only"),
    ],
)
def test_a_password_of_any_composition_signs_up_and_in(client: TestClient, password: str) -> None:
    """No rule asks for upper case, lower case, digits or symbols, or forbids any of them."""
    signed_up = client.post("/sign-up", json={"email": EMAIL, "password": password})
    assert signed_up.status_code == 201, signed_up.text
    signed_in = client.post("/sign-in", json={"email": EMAIL, "password": password})
    assert signed_in.status_code == 200, signed_in.text


# -- V6.2.10: no periodic rotation ---------------------------------------------------


def test_a_password_never_expires(client: TestClient, clock: FrozenClock) -> None:
    sign_up_and_in(client)
    clock.advance(days=10 * 366)

    answer = client.post("/sign-in", json=CREDENTIALS)

    assert answer.status_code == 200, answer.text
    # Nor can an operator make passwords expire: no setting speaks of their age.
    ageing = [
        f.name
        for f in dataclasses.fields(Settings)
        if "password" in f.name and re.search(r"age|expir|rotat|ttl|lifetime", f.name)
    ]
    assert ageing == []


# -- V6.3.2: no default accounts -----------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("admin@example.com", "admin"),
        ("admin@example.com", "password"),
        ("root@example.com", "changeme"),
        ("test@example.com", "test"),
    ],
)
def test_a_new_installation_has_no_account(client: TestClient, email: str, password: str) -> None:
    assert service_of(client).list_users(limit=100) == []
    answer = client.post("/sign-in", json={"email": email, "password": password})
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_credentials"


# -- V6.4.2: no password hints, no secret questions ---------------------------------------


def _property_names(node: object) -> set[str]:
    """Every property and parameter name anywhere in an OpenAPI document."""
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            found |= set(node["properties"])
        if node.get("in") in ("query", "path", "header", "cookie") and "name" in node:
            found.add(str(node["name"]))
        for value in node.values():
            found |= _property_names(value)
    elif isinstance(node, list):
        for item in node:
            found |= _property_names(item)
    return found


def test_no_password_hint_or_secret_question_is_asked_for_or_kept(client: TestClient) -> None:
    assert isinstance(client.app, FastAPI)
    asked = _property_names(client.app.openapi())
    assert {"email", "password", "new_password", "recovery_code"} <= asked  # the walk works
    kept = {table.name for table in metadata.tables.values()} | {
        column.name for table in metadata.tables.values() for column in table.columns
    }
    assert {"users", "password_hash"} <= kept
    knowledge = re.compile(r"hint|question|answer|reminder|memorable", re.IGNORECASE)
    assert sorted(name for name in asked | kept if knowledge.search(name)) == []


# -- V6.4.3, V6.3.6: a reset by mail signs no one in and leaves the second factor ----------


def test_a_password_reset_signs_no_one_in_and_the_second_factor_still_guards_the_account(
    client: TestClient, clock: FrozenClock
) -> None:
    secret, _ = enrolled(client, clock)
    assert client.post("/password/forgot", json={"email": EMAIL}).status_code == 202
    token = mailed_token(service_of(client), "reset_password")

    reset = client.post("/password/reset", json={"token": token, "password": NEW_PASSWORD})

    assert reset.status_code == 204
    assert reset.content == b""  # no token: the mailbox alone opens no session
    assert "set-cookie" not in reset.headers
    second_step = mfa_token(client, NEW_PASSWORD)
    without = client.post("/sign-in/mfa", json={"mfa_token": second_step, "code": "000000"})
    assert without.status_code == 401
    done = client.post(
        "/sign-in/mfa", json={"mfa_token": second_step, "code": code_at(secret, clock)}
    )
    assert done.status_code == 200, done.text
    assert service_of(client).read(done.json()["access_token"]).amr == ("pwd", "otp", "mfa")


# -- V6.4.4: a lost factor is replaced only by proving as much as enrolment did -----------


def test_a_lost_authenticator_app_is_replaced_after_a_sign_in_with_a_recovery_code(
    client: TestClient, clock: FrozenClock
) -> None:
    lost, codes = enrolled(client, clock)
    clock.advance(3600)  # the phone is gone; every earlier sign-in is too old for changes

    recovered = client.post(
        "/sign-in/mfa", json={"mfa_token": mfa_token(client), "recovery_code": codes[0]}
    )
    assert recovered.status_code == 200, recovered.text
    headers = bearer(recovered.json()["access_token"])
    assert client.delete("/mfa/totp", headers=headers).status_code == 204
    started = client.post("/mfa/totp", headers=headers)
    assert started.status_code == 200, started.text
    replacement = started.json()["secret"]
    assert replacement != lost
    confirmed = client.post(
        "/mfa/totp/confirm", headers=headers, json={"code": code_at(replacement, clock)}
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(30)

    second_step = mfa_token(client)
    old = client.post("/sign-in/mfa", json={"mfa_token": second_step, "code": code_at(lost, clock)})
    assert old.status_code == 401
    new = client.post(
        "/sign-in/mfa", json={"mfa_token": second_step, "code": code_at(replacement, clock)}
    )
    assert new.status_code == 200, new.text


# -- V6.5.2, V6.5.4: recovery codes: 120 bits, kept as keyed hashes only ------------------

RECOVERY_CODE = re.compile(r"[a-z2-7]{4}(-[a-z2-7]{4}){5}")  # 24 base32 characters: 120 bits


def test_recovery_codes_carry_120_bits_and_only_keyed_hashes_of_them_are_stored(
    client: TestClient, clock: FrozenClock
) -> None:
    _, codes = enrolled(client, clock)
    assert len(set(codes)) == 10
    assert all(RECOVERY_CODE.fullmatch(code) for code in codes), codes

    with service_of(client).parts.engine.connect() as connection:
        stored = [row.code_hash for row in connection.execute(select(recovery_codes))]

    assert len(stored) == 10
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in stored)
    typed = {code.replace("-", "") for code in codes} | set(codes)
    plain_hashes = {hashlib.sha256(code.encode()).hexdigest() for code in typed}
    assert not set(stored) & (typed | plain_hashes)  # an HMAC under a server key, not a hash


# -- V6.5.3, V6.4.1: one-time secrets come from the operating system's CSPRNG --------------


def test_one_time_secrets_are_drawn_from_the_operating_systems_random_source(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the OS source (os.urandom, behind `secrets`) made to answer zeros, every secret
    comes out all zeros: none is drawn from a predictable generator such as `random`'s."""
    user = service.sign_up(EMAIL, PASSWORD)
    monkeypatch.setattr(random, "_urandom", lambda size: bytes(size))  # what secrets calls

    assert totp.new_secret() == "A" * 32  # the TOTP seed: 160 bits of base32
    assert totp.new_recovery_codes()[0] == "aaaa-aaaa-aaaa-aaaa-aaaa-aaaa"
    assert new_link_token() == "A" * 43  # verification and reset links
    assert service.parts.factors.challenge(user) == "A" * 43  # the mfa_token
    assert service.passkey_sign_in_options()["challenge"] == "A" * 43


# -- V6.7.2: passkey challenges ------------------------------------------------------------


def test_passkey_challenges_are_256_random_bits_and_never_repeat(client: TestClient) -> None:
    challenges = [
        client.post("/passkeys/authenticate/options").json()["challenge"] for _ in range(20)
    ]
    raw = [base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)) for c in challenges]
    assert {len(value) for value in raw} == {32}  # at least 64 bits asked for; 256 given
    assert len(set(raw)) == len(raw)


# -- V6.2.6, V6.2.7, V6.2.9: the password fields of the pages ------------------------------


class Inputs(HTMLParser):
    """The attributes of every <input> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "input":
            self.found.append({name: value or "" for name, value in attrs})


def password_fields(html: str) -> list[dict[str, str]]:
    parser = Inputs()
    parser.feed(html)
    return [
        field
        for field in parser.found
        if "password" in field.get("name", "") or field.get("type") == "password"
    ]


# Each page that asks for a password, with the script it runs.
PAGES = [
    pytest.param("/", "/account.js", id="account-page"),
    pytest.param("/password/reset", "/link.js", id="reset-page"),
]


@pytest.mark.parametrize(("page", "script"), PAGES)
def test_password_fields_are_masked_and_filled_by_password_managers(
    client: TestClient, page: str, script: str
) -> None:
    fields = password_fields(client.get(page).text)
    assert fields, f"{page} has no password field"
    for field in fields:
        assert field.get("type") == "password", field
        assert field.get("autocomplete") in ("current-password", "new-password"), field
        assert int(field.get("maxlength", "1024")) >= 1024, field  # 64 and far more fit


@pytest.mark.parametrize(("page", "script"), PAGES)
def test_nothing_stops_pasting_into_the_password_fields(
    client: TestClient, page: str, script: str
) -> None:
    code = client.get(page).text + client.get(script).text
    blocking = re.compile(
        r"""addEventListener\(\s*["'](paste|copy|cut|drop|contextmenu)["']"""
        r"|\bon(paste|copy|cut|drop|contextmenu)\b",
        re.IGNORECASE,
    )
    assert blocking.search(code) is None

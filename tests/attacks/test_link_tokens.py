"""Hostile and stale link tokens: every one is refused with 400 `invalid_link`, and none
changes the account. One row per way a link can be wrong (DESIGN.md §8)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.service import Service
from helpers import PASSWORD, bearer, mailed_token, sign_up_and_in

EMAIL = "ada@example.com"
NEW_PASSWORD = "a brand new passphrase"
# Each route that spends a link, and a body for it around a token.
SPENDERS: dict[str, Callable[[str], dict[str, str]]] = {
    "/email/verify": lambda t: {"token": t},
    "/password/reset": lambda t: {"token": t, "password": NEW_PASSWORD},
    "/email/change/confirm": lambda t: {"token": t},
    "/email/change/revert": lambda t: {"token": t},
}
KIND_OF = {
    "/email/verify": "verify_email",
    "/password/reset": "reset_password",
    "/email/change/confirm": "confirm_email_change",
    "/email/change/revert": "email_change_requested",
}


def service_of(client: TestClient) -> Service:
    assert isinstance(client.app, FastAPI)
    service: Service = client.app.state.service
    return service


@pytest.fixture
def mailed(client: TestClient) -> dict[str, str]:
    """A user with one outstanding link of every purpose; returns the route → token map."""
    tokens = sign_up_and_in(client)
    client.post("/password/forgot", json={"email": EMAIL})
    client.post(
        "/email/change",
        headers=bearer(tokens["access_token"]),
        json={"new_email": "ada@example.org"},
    )
    service = service_of(client)
    return {route: mailed_token(service, kind) for route, kind in KIND_OF.items()}


def assert_invalid_link(client: TestClient, route: str, token: str) -> None:
    response = client.post(route, json=SPENDERS[route](token))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_link"


def assert_account_unchanged(client: TestClient) -> None:
    signed_in = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
    assert signed_in.status_code == 200
    me = client.get("/me", headers=bearer(signed_in.json()["access_token"])).json()
    assert me["email"] == EMAIL
    assert me["email_verified"] is False


ELSEWHERE = [
    pytest.param(route, other, id=f"{KIND_OF[route]}-at-{other}")
    for route in SPENDERS
    for other in SPENDERS
    if route != other
]


@pytest.mark.parametrize(("route", "other"), ELSEWHERE)
def test_a_link_works_for_its_own_purpose_only(
    client: TestClient, mailed: dict[str, str], route: str, other: str
) -> None:
    assert_invalid_link(client, other, mailed[route])
    assert_account_unchanged(client)


@pytest.mark.parametrize("route", SPENDERS)
def test_a_link_works_once(client: TestClient, mailed: dict[str, str], route: str) -> None:
    first = client.post(route, json=SPENDERS[route](mailed[route]))
    assert first.status_code == 204, first.text
    assert_invalid_link(client, route, mailed[route])


@pytest.mark.parametrize(
    ("route", "lifetime"),
    [
        ("/email/verify", timedelta(days=1)),
        ("/password/reset", timedelta(hours=1)),
        ("/email/change/confirm", timedelta(days=1)),
        ("/email/change/revert", timedelta(days=7)),
    ],
)
def test_a_link_expires(
    client: TestClient, mailed: dict[str, str], clock: FrozenClock, route: str, lifetime: timedelta
) -> None:
    clock.advance(lifetime.total_seconds())
    assert_invalid_link(client, route, mailed[route])
    assert_account_unchanged(client)


def unknown(token: str) -> str:
    return ("B" if token[0] != "B" else "C") + token[1:]


def truncated(token: str) -> str:
    return token[:-1]


def extended(token: str) -> str:
    return token + "A"


def padded(token: str) -> str:
    return token + "="


def not_ascii(token: str) -> str:
    return token[:-1] + "é"


def with_nul(token: str) -> str:
    return token[:-1] + "\x00"


def percent_encoded(token: str) -> str:
    return (
        token.replace("-", "%2D").replace("_", "%5F")
        if "-" in token or "_" in token
        else "%41" + token[1:]
    )


def the_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


FORGERIES = [
    pytest.param(unknown, id="unknown"),
    pytest.param(truncated, id="truncated"),
    pytest.param(extended, id="extended"),
    pytest.param(padded, id="padded"),
    pytest.param(not_ascii, id="not-ascii"),
    pytest.param(with_nul, id="nul-byte"),
    pytest.param(percent_encoded, id="percent-encoded"),
    pytest.param(the_hash, id="stored-hash-as-token"),
    pytest.param(lambda t: "", id="empty"),
    pytest.param(lambda t: t.upper(), id="case-changed"),
]


# A forged token is hashed before the store sees it, and the store then finds no row as
# any missing hash is not found: the other tests of this file cover both databases.
@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("route", SPENDERS)
@pytest.mark.parametrize("forge", FORGERIES)
def test_forged_link_tokens_are_refused(
    client: TestClient, mailed: dict[str, str], route: str, forge: Callable[[str], str]
) -> None:
    forged = forge(mailed[route])
    assert forged != mailed[route]
    assert_invalid_link(client, route, forged)
    assert_account_unchanged(client)


@pytest.mark.parametrize("backend", ["sqlite"])  # refused by validation, before any store
@pytest.mark.parametrize("route", SPENDERS)
@pytest.mark.parametrize("token", [None, 43, ["x"], {"a": 1}, True])
def test_link_tokens_of_the_wrong_type_are_422(
    client: TestClient, route: str, token: object
) -> None:
    body: dict[str, object] = {**SPENDERS[route]("x"), "token": token}
    response = client.post(route, json=body)
    assert response.status_code == 422


def test_a_reset_link_dies_when_the_password_changes(
    client: TestClient, clock: FrozenClock
) -> None:
    tokens = sign_up_and_in(client)
    client.post("/password/forgot", json={"email": EMAIL})
    first = mailed_token(service_of(client), "reset_password")
    clock.advance(1)  # the outbox lists the newest first
    client.post("/password/forgot", json={"email": EMAIL})
    second = mailed_token(service_of(client), "reset_password")
    assert first != second
    client.post(
        "/password/change",
        headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    for token in (first, second):
        assert_invalid_link(client, "/password/reset", token)


def test_a_reset_voids_the_other_reset_links(client: TestClient, clock: FrozenClock) -> None:
    sign_up_and_in(client)
    client.post("/password/forgot", json={"email": EMAIL})
    first = mailed_token(service_of(client), "reset_password")
    clock.advance(1)  # the outbox lists the newest first
    client.post("/password/forgot", json={"email": EMAIL})
    second = mailed_token(service_of(client), "reset_password")
    used = client.post("/password/reset", json={"token": second, "password": NEW_PASSWORD})
    assert used.status_code == 204
    assert_invalid_link(client, "/password/reset", first)


def test_a_verify_link_for_an_old_address_does_not_verify_the_new_one(
    client: TestClient,
) -> None:
    tokens = sign_up_and_in(client)
    service = service_of(client)
    verify_old = mailed_token(service, "verify_email")
    client.post(
        "/email/change",
        headers=bearer(tokens["access_token"]),
        json={"new_email": "ada@example.org"},
    )
    # Confirming the new address voids every link about the old one.
    confirm = mailed_token(service, "confirm_email_change")
    client.post("/email/change/confirm", json={"token": confirm})
    assert_invalid_link(client, "/email/verify", verify_old)  # voided by the change

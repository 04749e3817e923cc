"""POST /reauthenticate (DESIGN §9): prove again who you are, in the same session, to pass
the routes that need a recent sign-in (RFC 9470).

As fully as a sign-in (ASVS V7.5.1): the password alone only for an account without a
second factor; with one, the password and a code together, or a passkey that verified the
person (tests/web/test_passkeys.py). The session goes on with a new refresh token, and the
one it had is spent (ASVS V7.2.4; the cookie transport: tests/web/test_cookies.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import httpx2
import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.store import SessionId
from authgate.service import Service
from helpers import PASSWORD, bearer, sign_up_and_in


def service_of(client: TestClient) -> Service:
    assert isinstance(client.app, FastAPI)
    service: Service = client.app.state.service
    return service


def stale(client: TestClient, clock: FrozenClock) -> dict[str, str]:
    tokens = sign_up_and_in(client)
    clock.advance(600)
    refreshed: dict[str, str] = client.post(
        "/token", json={"refresh_token": tokens["refresh_token"]}
    ).json()
    refused = client.post("/mfa/totp", headers=bearer(refreshed["access_token"]))
    assert refused.status_code == 401
    assert refused.json()["error"] == "insufficient_user_authentication"
    return refreshed


def with_the_app(client: TestClient, clock: FrozenClock) -> tuple[str, list[str], dict[str, str]]:
    """A stale session of an account with an authenticator app: its secret, its recovery
    codes, and the session's tokens."""
    tokens = sign_up_and_in(client)
    headers = bearer(tokens["access_token"])
    secret = client.post("/mfa/totp", headers=headers).json()["secret"]
    confirmed = client.post(
        "/mfa/totp/confirm", headers=headers, json={"code": pyotp.TOTP(secret).at(clock())}
    )
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(600)  # past the confirming code's step, and the sign-in is stale
    return secret, confirmed.json()["recovery_codes"], tokens


def reauthenticate(
    client: TestClient, tokens: Mapping[str, str], body: Mapping[str, object]
) -> httpx2.Response:
    return client.post("/reauthenticate", headers=bearer(tokens["access_token"]), json=body)


def absolute_end(service: Service, access_token: str) -> datetime:
    session = service.parts.store.get_session(SessionId(service.read(access_token).session_id))
    assert session is not None
    return session.expires_at


def test_without_a_second_factor_the_password_alone_gives_fresh_tokens_of_the_same_session(
    client: TestClient, clock: FrozenClock
) -> None:
    tokens = stale(client, clock)
    answer = reauthenticate(client, tokens, {"password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert answer.headers["cache-control"] == "no-store"
    service = service_of(client)
    old, new = service.read(tokens["access_token"]), service.read(answer.json()["access_token"])
    assert new.session_id == old.session_id
    assert new.auth_time == clock().replace(microsecond=0)
    assert new.amr == ("pwd",)
    assert (
        client.post("/mfa/totp", headers=bearer(answer.json()["access_token"])).status_code == 200
    )
    # The new refresh token goes on in the same session, and keeps the fresh auth_time.
    refreshed = client.post("/token", json={"refresh_token": answer.json()["refresh_token"]})
    assert refreshed.status_code == 200
    assert service.read(refreshed.json()["access_token"]).auth_time == new.auth_time
    assert service.read(refreshed.json()["access_token"]).session_id == old.session_id


def test_re_authentication_replaces_the_refresh_token_and_spends_the_old_one(
    client: TestClient, clock: FrozenClock
) -> None:
    """V7.2.4: a new session token, the old one terminated. The old one presented after the
    grace window is reuse of a rotated token: refused, and the session revoked with it."""
    tokens = stale(client, clock)
    service = service_of(client)
    ends_at = absolute_end(service, tokens["access_token"])
    answer = reauthenticate(client, tokens, {"password": PASSWORD}).json()
    assert answer["refresh_token"] != tokens["refresh_token"]
    renewed = client.post("/token", json={"refresh_token": answer["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    assert absolute_end(service, renewed.json()["access_token"]) == ends_at

    clock.advance(11)  # past the 10-second grace window
    old = client.post("/token", json={"refresh_token": tokens["refresh_token"]})

    assert old.status_code == 401
    assert old.json()["error"] == "invalid_grant"
    assert "refresh_token_reused" in [e.kind for e in service.audit_events(limit=5)[0]]
    latest = renewed.json()["refresh_token"]
    assert client.post("/token", json={"refresh_token": latest}).status_code == 401


def test_the_replaced_refresh_token_is_refused_inside_the_grace_window_too(
    client: TestClient, clock: FrozenClock
) -> None:
    """A retry inside the window gets a rotation's successor again; the replaced token has
    none to get (the server never saw it at /reauthenticate), so it is reuse at once."""
    tokens = stale(client, clock)
    answer = reauthenticate(client, tokens, {"password": PASSWORD}).json()

    old = client.post("/token", json={"refresh_token": tokens["refresh_token"]})

    assert old.status_code == 401
    assert old.json()["error"] == "invalid_grant"
    new = client.post("/token", json={"refresh_token": answer["refresh_token"]})
    assert new.status_code == 401  # reuse revokes the session, as after a rotation


@pytest.mark.parametrize("sent", ["password", "code", "recovery_code"])
def test_full_re_authentication_refuses_one_factor_of_an_account_with_two(
    client: TestClient, clock: FrozenClock, sent: str
) -> None:
    """V7.5.1: the password alone, or a code alone, proves one of the account's two
    factors: 401 `full_authentication_required`, and nothing changes (no code is spent,
    the session's sign-in stays stale, its refresh token goes on)."""
    secret, recovery_codes, tokens = with_the_app(client, clock)
    code = pyotp.TOTP(secret).at(clock())
    part = {"password": PASSWORD, "code": code, "recovery_code": recovery_codes[0]}[sent]

    answer = reauthenticate(client, tokens, {sent: part})

    assert answer.status_code == 401
    assert answer.json()["error"] == "full_authentication_required"
    assert answer.json()["methods"] == ["totp", "recovery_code"]
    headers = bearer(tokens["access_token"])
    assert client.post("/mfa/recovery-codes", headers=headers).status_code == 401  # still stale
    assert client.post("/token", json={"refresh_token": tokens["refresh_token"]}).status_code == 200
    both = {"password": PASSWORD, sent: part} if sent != "password" else {sent: part, "code": code}
    assert reauthenticate(client, tokens, both).status_code == 200  # the code was not spent


@pytest.mark.parametrize("second", ["code", "recovery_code"])
def test_full_re_authentication_with_the_password_and_a_code_of_an_account_with_two(
    client: TestClient, clock: FrozenClock, second: str
) -> None:
    """V7.5.1: both factors in one request open the sensitive routes again; the code is
    used up, as at a sign-in."""
    secret, recovery_codes, tokens = with_the_app(client, clock)
    code = pyotp.TOTP(secret).at(clock()) if second == "code" else recovery_codes[0]

    answer = reauthenticate(client, tokens, {"password": PASSWORD, second: code})

    assert answer.status_code == 200, answer.text
    fresh = answer.json()["access_token"]
    assert service_of(client).read(fresh).amr == ("pwd", "otp", "mfa")
    assert client.post("/mfa/recovery-codes", headers=bearer(fresh)).status_code == 200
    again = reauthenticate(client, tokens, {"password": PASSWORD, second: code})
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_credentials"


@pytest.mark.parametrize("wrong", ["password", "code"])
def test_a_wrong_part_beside_a_right_one_is_a_failed_sign_in(
    client: TestClient, clock: FrozenClock, wrong: str
) -> None:
    secret, _, tokens = with_the_app(client, clock)
    right = {"password": PASSWORD, "code": pyotp.TOTP(secret).at(clock())}

    answer = reauthenticate(client, tokens, {**right, wrong: "000000 not it"})

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_credentials"
    kinds = [e.kind for e in service_of(client).audit_events(limit=5)[0]]
    assert "reauthentication_failed" in kinds
    if wrong == "password":  # checked first: the code is not spent by a wrong password
        assert reauthenticate(client, tokens, right).status_code == 200


def test_a_wrong_password_is_401_and_counts_as_a_failed_sign_in(
    client: TestClient, clock: FrozenClock
) -> None:
    tokens = stale(client, clock)
    answer = reauthenticate(client, tokens, {"password": "not it"})
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_credentials"
    kinds = [e.kind for e in service_of(client).audit_events(limit=5)[0]]
    assert "reauthentication_failed" in kinds
    # Nothing changed: the session's refresh token goes on.
    assert client.post("/token", json={"refresh_token": tokens["refresh_token"]}).status_code == 200


def test_a_code_alone_does_not_re_authenticate_an_account_without_a_second_factor(
    client: TestClient, clock: FrozenClock
) -> None:
    tokens = stale(client, clock)
    answer = reauthenticate(client, tokens, {"code": "123456"})
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_credentials"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"code": "123456", "recovery_code": "abc"}, id="two-codes"),
        pytest.param({"password": PASSWORD, "passkey": {"id": "x"}}, id="passkey-and-password"),
        pytest.param({"code": "123456", "passkey": {"id": "x"}}, id="passkey-and-code"),
        pytest.param({"password": 5}, id="mistyped"),
    ],
)
def test_a_body_of_no_or_mixed_proofs_is_a_422(client: TestClient, body: dict[str, object]) -> None:
    tokens = sign_up_and_in(client)
    answer = reauthenticate(client, tokens, body)
    assert answer.status_code == 422


def test_without_a_token_it_is_401(client: TestClient) -> None:
    assert client.post("/reauthenticate", json={"password": PASSWORD}).status_code == 401


def test_a_signed_out_session_cannot_be_reauthenticated(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    client.post("/sign-out", headers=bearer(tokens["access_token"]))
    answer = reauthenticate(client, tokens, {"password": PASSWORD})
    assert answer.status_code == 401

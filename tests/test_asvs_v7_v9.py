"""ASVS 5.0 V7 (session management) claims that no other test proved on its own.

Each runs the real app on a real SQLite file: where refresh tokens come from (V7.2.2,
V7.2.3), that re-authenticating does not move a session's end (V7.3.2), that the other
sessions can be ended right after a second factor changed (V7.4.3), and that nothing but a
sign-in starts a session (V7.6.2).
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.store import UserId
from authgate.service import Service
from helpers import PASSWORD, bearer, filled_from, mailed_token, sign_up_and_in

EMAIL = "ada@example.com"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """What these tests check does not depend on the database: SQLite only."""
    return str(request.param)


@pytest.fixture
def database_url(database_url: str, tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh SQLite file, filled from the run's migrated template with its signing key."""
    return filled_from(sqlite_template, database_url, tmp_path)


def service_of(client: TestClient) -> Service:
    assert isinstance(client.app, FastAPI)
    service: Service = client.app.state.service
    return service


def refresh(client: TestClient, refresh_token: str) -> dict[str, str]:
    response = client.post("/token", json={"refresh_token": refresh_token})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def test_refresh_tokens_are_256_bits_straight_from_the_csprng(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """V7.2.3: each refresh token is exactly 32 bytes that `secrets` (os.urandom) produced,
    and no two are alike; V7.2.2: a new one for every sign-in and every refresh."""
    drawn: list[bytes] = []
    real = secrets.token_bytes

    def recording(nbytes: int | None = None) -> bytes:
        value = real(nbytes)
        drawn.append(value)
        return value

    monkeypatch.setattr(secrets, "token_bytes", recording)
    first = sign_up_and_in(client)
    tokens = [first["refresh_token"], refresh(client, first["refresh_token"])["refresh_token"]]
    for _ in range(10):
        signed_in = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
        tokens.append(signed_in.json()["refresh_token"])

    for token in tokens:
        raw = base64.urlsafe_b64decode(token + "=")
        assert len(token) == 43
        assert len(raw) == 32
        assert raw in drawn, "a refresh token that did not come from secrets.token_bytes"
    assert len(set(tokens)) == len(tokens)


def test_re_authenticating_does_not_move_the_absolute_end_of_a_session(
    client: TestClient, clock: FrozenClock
) -> None:
    """V7.3.2: 30 days after the sign-in the session ends, however recently the person
    refreshed and proved who they are again."""
    tokens = sign_up_and_in(client)
    for _ in range(4):  # day 24, refreshed every 6 days: never idle for 7
        clock.advance(days=6)
        tokens = refresh(client, tokens["refresh_token"])
    clock.advance(days=5, hours=23)  # 29 days and 23 hours after the sign-in
    tokens = refresh(client, tokens["refresh_token"])
    again = client.post(
        "/reauthenticate", headers=bearer(tokens["access_token"]), json={"password": PASSWORD}
    )
    assert again.status_code == 200, again.text

    clock.advance(hours=1, seconds=1)
    late = client.post("/token", json={"refresh_token": again.json()["refresh_token"]})

    assert late.status_code == 401
    assert late.json()["error"] == "invalid_grant"


def test_after_setting_up_a_second_factor_the_other_sessions_can_be_ended(
    client: TestClient, clock: FrozenClock
) -> None:
    """V7.4.3: right after the change (whose recent sign-in is still fresh), the session
    list ends the account's other sessions; their tokens stop at once, this one goes on."""
    this = sign_up_and_in(client)
    other = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()
    headers = bearer(this["access_token"])
    secret = client.post("/mfa/totp", headers=headers).json()["secret"]
    code = pyotp.TOTP(secret).at(clock())
    assert client.post("/mfa/totp/confirm", headers=headers, json={"code": code}).status_code == 200

    listed = client.get("/sessions", headers=headers).json()
    others = [session["id"] for session in listed if not session["current"]]
    assert len(others) == 1
    ended = client.delete(f"/sessions/{others[0]}", headers=headers)

    assert ended.status_code == 204
    assert client.get("/me", headers=bearer(other["access_token"])).status_code == 401
    assert client.post("/token", json={"refresh_token": other["refresh_token"]}).status_code == 401
    assert client.get("/me", headers=headers).status_code == 200


def test_only_a_sign_in_starts_a_session(client: TestClient) -> None:
    """V7.6.2: signing up, following the verification link and resetting the password
    hand out no token, set no cookie and start no session; a sign-in starts exactly one."""
    service = service_of(client)
    signed_up = client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    assert signed_up.status_code == 201
    user = UserId(signed_up.json()["id"])
    verify = {"token": mailed_token(service, "verify_email")}
    verified = client.post("/email/verify", json=verify)
    assert client.post("/password/forgot", json={"email": EMAIL}).status_code == 202
    reset = {"token": mailed_token(service, "reset_password"), "password": NEW_PASSWORD}
    was_reset = client.post("/password/reset", json=reset)

    for answer in (signed_up, verified, was_reset):
        assert answer.status_code in (201, 204), answer.text
        assert "set-cookie" not in answer.headers
        assert "token" not in answer.text
    assert list(service.live_sessions(user)) == []
    events, _ = service.audit_events(user_id=user)
    assert "sign_in" not in [event.kind for event in events]

    client.post("/sign-in", json={"email": EMAIL, "password": NEW_PASSWORD}).raise_for_status()

    assert len(service.live_sessions(user)) == 1
    events, _ = service.audit_events(user_id=user)
    assert [event.kind for event in events].count("sign_in") == 1

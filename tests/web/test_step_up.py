"""Every sensitive route needs a recent sign-in (DESIGN §8, §9; RFC 9470): one table.

A token whose session signed in longer ago than AUTHGATE_REAUTH_MAX_AGE gets 401
`insufficient_user_authentication` with `max_age`, and changes nothing; after
POST /reauthenticate the same route goes through."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from helpers import PASSWORD, bearer, sign_up_and_in

NEW_PASSWORD = "a brand new passphrase"


def other_session(client: TestClient) -> str:
    other = client.post("/sign-in", json={"email": "ada@example.com", "password": PASSWORD})
    sessions = client.get("/sessions", headers=bearer(other.json()["access_token"])).json()
    (found,) = [s["id"] for s in sessions if s["current"]]
    return str(found)


# (method, path or a function of the client giving it, body, status once fresh)
SENSITIVE: list[tuple[str, str | Callable[[TestClient], str], object, int]] = [
    ("POST", "/password/change", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, 204),
    ("POST", "/email/change", {"new_email": "ada@example.org"}, 202),
    ("DELETE", "/me", None, 204),
    ("POST", "/mfa/totp", None, 200),
    ("DELETE", "/mfa/totp", None, 404),  # none set up: past the step-up check
    ("POST", "/mfa/recovery-codes", None, 404),
    ("DELETE", lambda c: f"/sessions/{other_session(c)}", None, 204),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "fresh_status"),
    SENSITIVE,
    ids=[f"{m} {p if isinstance(p, str) else '/sessions/{other}'}" for m, p, _, _ in SENSITIVE],
)
def test_a_sensitive_route_needs_a_recent_sign_in(
    client: TestClient,
    clock: FrozenClock,
    method: str,
    path: str | Callable[[TestClient], str],
    body: object,
    fresh_status: int,
) -> None:
    tokens = sign_up_and_in(client)
    target = path if isinstance(path, str) else path(client)
    clock.advance(301)
    refreshed = client.post("/token", json={"refresh_token": tokens["refresh_token"]}).json()
    headers = bearer(refreshed["access_token"])

    refused = client.request(method, target, headers=headers, json=body)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "insufficient_user_authentication"
    challenge = refused.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="insufficient_user_authentication"')
    assert "max_age=300" in challenge
    assert client.get("/me", headers=headers).json()["email"] == "ada@example.com"

    again = client.post("/reauthenticate", headers=headers, json={"password": PASSWORD})
    assert again.status_code == 200
    fresh = bearer(again.json()["access_token"])
    assert client.request(method, target, headers=fresh, json=body).status_code == fresh_status


def test_ending_this_very_session_needs_no_recent_sign_in(
    client: TestClient, clock: FrozenClock
) -> None:
    tokens = sign_up_and_in(client)
    clock.advance(301)
    refreshed = client.post("/token", json={"refresh_token": tokens["refresh_token"]}).json()
    headers = bearer(refreshed["access_token"])
    (mine,) = [s["id"] for s in client.get("/sessions", headers=headers).json() if s["current"]]
    assert client.delete(f"/sessions/{mine}", headers=headers).status_code == 204

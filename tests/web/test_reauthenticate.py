"""POST /reauthenticate (DESIGN §9): prove again who you are, in the same session, to pass
the routes that need a recent sign-in (RFC 9470)."""

from __future__ import annotations

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.service import Service
from helpers import PASSWORD, bearer, sign_up_and_in


def service_of(client: TestClient) -> Service:
    assert isinstance(client.app, FastAPI)
    service: Service = client.app.state.service
    return service


def stale(client: TestClient, clock: FrozenClock) -> dict[str, str]:
    tokens = sign_up_and_in(client)
    clock.advance(600)
    refreshed = client.post("/token", json={"refresh_token": tokens["refresh_token"]}).json()
    refused = client.post("/mfa/totp", headers=bearer(refreshed["access_token"]))
    assert refused.status_code == 401
    assert refused.json()["error"] == "insufficient_user_authentication"
    return refreshed


def test_the_password_again_gives_a_fresh_token_of_the_same_session(
    client: TestClient, clock: FrozenClock
) -> None:
    tokens = stale(client, clock)
    answer = client.post(
        "/reauthenticate", headers=bearer(tokens["access_token"]), json={"password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    assert "refresh_token" not in answer.json()
    assert answer.headers["cache-control"] == "no-store"
    service = service_of(client)
    old, new = service.read(tokens["access_token"]), service.read(answer.json()["access_token"])
    assert new.session_id == old.session_id
    assert new.auth_time == clock().replace(microsecond=0)
    assert new.amr == ("pwd",)
    assert (
        client.post("/mfa/totp", headers=bearer(answer.json()["access_token"])).status_code == 200
    )
    # The session's refresh token goes on, and keeps the fresh auth_time.
    refreshed = client.post("/token", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    assert service.read(refreshed.json()["access_token"]).auth_time == new.auth_time


def test_a_code_of_the_authenticator_app_works_too(client: TestClient, clock: FrozenClock) -> None:
    tokens = sign_up_and_in(client)
    headers = bearer(tokens["access_token"])
    secret = client.post("/mfa/totp", headers=headers).json()["secret"]
    client.post("/mfa/totp/confirm", headers=headers, json={"code": pyotp.TOTP(secret).at(clock())})
    clock.advance(600)
    code = pyotp.TOTP(secret).at(clock())
    answer = client.post("/reauthenticate", headers=headers, json={"code": code})
    assert answer.status_code == 200, answer.text
    assert service_of(client).read(answer.json()["access_token"]).amr == ("otp",)
    again = client.post("/reauthenticate", headers=headers, json={"code": code})
    assert again.status_code == 401  # the code was used


def test_a_wrong_password_is_401_and_counts_as_a_failed_sign_in(
    client: TestClient, clock: FrozenClock
) -> None:
    tokens = stale(client, clock)
    answer = client.post(
        "/reauthenticate", headers=bearer(tokens["access_token"]), json={"password": "not it"}
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_credentials"
    kinds = [e.kind for e in service_of(client).audit_events(limit=5)[0]]
    assert "reauthentication_failed" in kinds


@pytest.mark.parametrize("body", [{}, {"password": PASSWORD, "code": "123456"}, {"password": 5}])
def test_one_proof_exactly_or_422(client: TestClient, body: dict[str, object]) -> None:
    tokens = sign_up_and_in(client)
    answer = client.post("/reauthenticate", headers=bearer(tokens["access_token"]), json=body)
    assert answer.status_code == 422


def test_without_a_token_it_is_401(client: TestClient) -> None:
    assert client.post("/reauthenticate", json={"password": PASSWORD}).status_code == 401


def test_a_signed_out_session_cannot_be_reauthenticated(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    client.post("/sign-out", headers=bearer(tokens["access_token"]))
    answer = client.post(
        "/reauthenticate", headers=bearer(tokens["access_token"]), json={"password": PASSWORD}
    )
    assert answer.status_code == 401

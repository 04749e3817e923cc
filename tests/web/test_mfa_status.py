"""GET /mfa: what the signed-in account has set up, as the account page asks for it."""

from __future__ import annotations

import pyotp
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from helpers import PASSWORD, bearer, sign_up_and_in

CREDENTIALS = {"email": "ada@example.com", "password": PASSWORD}


def factors(client: TestClient, access_token: str) -> dict[str, object]:
    answer = client.get("/mfa", headers=bearer(access_token))
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_the_answer_follows_the_authenticator_app_and_its_recovery_codes(
    client: TestClient, clock: FrozenClock
) -> None:
    access = sign_up_and_in(client)["access_token"]
    assert factors(client, access) == {"totp": False, "recovery_codes_left": 0}

    secret = client.post("/mfa/totp", headers=bearer(access)).json()["secret"]
    assert factors(client, access) == {"totp": False, "recovery_codes_left": 0}  # not confirmed

    confirmed = client.post(
        "/mfa/totp/confirm", headers=bearer(access), json={"code": pyotp.TOTP(secret).at(clock())}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert factors(client, access) == {"totp": True, "recovery_codes_left": 10}

    challenge = client.post("/sign-in", json=CREDENTIALS).json()
    used = client.post(
        "/sign-in/mfa",
        json={
            "mfa_token": challenge["mfa_token"],
            "recovery_code": confirmed.json()["recovery_codes"][0],
        },
    )
    assert used.status_code == 200, used.text
    assert factors(client, access) == {"totp": True, "recovery_codes_left": 9}

    assert client.delete("/mfa/totp", headers=bearer(access)).status_code == 204
    assert factors(client, access) == {"totp": False, "recovery_codes_left": 0}


def test_it_needs_a_signed_in_account(client: TestClient) -> None:
    answer = client.get("/mfa")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/mfa", headers=bearer("not-a-token")).status_code == 401

"""AUTHGATE_MFA=required (DESIGN §6, §9): an account without a second factor may only set
one up; every other guarded route answers 403 until it signs in with one."""

from __future__ import annotations

from collections.abc import Iterator

import pyotp
import pytest
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import GENEROUS_THROTTLES, PASSWORD, bearer, sign_up_and_in

CREDENTIALS = {"email": "ada@example.com", "password": PASSWORD}


@pytest.fixture
def required(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    strict = Settings(database_url=settings.database_url, mfa="required", **GENEROUS_THROTTLES)
    with TestClient(create_app(strict, clock=clock, preset=FAST_FOR_TESTS)) as client:
        yield client


def test_without_a_factor_only_enrolment_is_open(required: TestClient) -> None:
    headers = bearer(sign_up_and_in(required)["access_token"])
    for method, path in [("GET", "/test"), ("GET", "/sessions"), ("POST", "/email/change")]:
        answer = required.request(method, path, headers=headers, json={"new_email": "a@b.org"})
        assert answer.status_code == 403, path
        assert answer.json()["error"] == "mfa_enrolment_required"
    assert required.get("/me", headers=headers).status_code == 200
    assert required.post("/mfa/totp", headers=headers).status_code == 200


def test_after_enrolment_a_sign_in_with_the_factor_opens_everything(
    required: TestClient, clock: FrozenClock
) -> None:
    headers = bearer(sign_up_and_in(required)["access_token"])
    secret = required.post("/mfa/totp", headers=headers).json()["secret"]
    confirmed = required.post(
        "/mfa/totp/confirm", headers=headers, json={"code": pyotp.TOTP(secret).at(clock())}
    )
    assert confirmed.status_code == 200
    assert required.get("/test", headers=headers).status_code == 403  # this session: no mfa
    clock.advance(30)
    token = required.post("/sign-in", json=CREDENTIALS).json()["mfa_token"]
    done = required.post(
        "/sign-in/mfa", json={"mfa_token": token, "code": pyotp.TOTP(secret).at(clock())}
    )
    assert done.status_code == 200
    assert required.get("/test", headers=bearer(done.json()["access_token"])).status_code == 200


def test_confirming_a_two_factor_session_keeps_it_open(
    required: TestClient, clock: FrozenClock
) -> None:
    headers = bearer(sign_up_and_in(required)["access_token"])
    secret = required.post("/mfa/totp", headers=headers).json()["secret"]
    code = pyotp.TOTP(secret).at(clock())
    required.post("/mfa/totp/confirm", headers=headers, json={"code": code})
    clock.advance(30)
    token = required.post("/sign-in", json=CREDENTIALS).json()["mfa_token"]
    done = required.post(
        "/sign-in/mfa", json={"mfa_token": token, "code": pyotp.TOTP(secret).at(clock())}
    ).json()
    clock.advance(600)  # stale: a sensitive route asks again who you are
    stale = bearer(done["access_token"])
    assert required.post("/mfa/recovery-codes", headers=stale).status_code == 401
    both = {"password": PASSWORD, "code": pyotp.TOTP(secret).at(clock())}
    fresh = required.post("/reauthenticate", headers=stale, json=both)
    assert fresh.status_code == 200
    headers = bearer(fresh.json()["access_token"])
    assert required.get("/test", headers=headers).status_code == 200  # still a two-factor session
    assert required.post("/mfa/recovery-codes", headers=headers).status_code == 200


def test_optional_by_default(client: TestClient) -> None:
    headers = bearer(sign_up_and_in(client)["access_token"])
    assert client.get("/test", headers=headers).status_code == 200


def test_a_bad_policy_is_refused_by_name() -> None:
    from authgate.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="AUTHGATE_MFA"):
        Settings.from_env({"AUTHGATE_MFA": "sometimes"}, env_file=None)

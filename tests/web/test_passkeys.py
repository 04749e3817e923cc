"""Passkeys through the real app (DESIGN.md §9), on a frozen clock, with a software
authenticator (tests/authenticators.py) whose answers py_webauthn verifies like a browser's:
registration, management, passwordless sign-in, the passkey as a second factor, and the
forgery and replay tables. Chromium's own authenticator: tests/browser/test_passkeys.py."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import httpx2
import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authenticators import SoftAuthenticator, b64url, unb64url
from authgate.core.clock import FrozenClock
from authgate.service import Service
from helpers import PASSWORD, bearer, sign_up_and_in

ORIGIN = "http://localhost:8000"  # the default issuer's origin: the RP id is localhost
EMAIL = "ada@example.com"
OTHER = "grace@example.com"
STALE = 301  # seconds: past both the 5-minute challenges and AUTHGATE_REAUTH_MAX_AGE
SPENT = "unknown, used or expired challenge"  # why a challenge is refused
UV = "User verification is required"  # py_webauthn's words


def service_of(client: TestClient) -> Service:
    assert isinstance(client.app, FastAPI)
    service: Service = client.app.state.service
    return service


@dataclass
class Account:
    client: TestClient
    clock: FrozenClock
    headers: dict[str, str]
    device: SoftAuthenticator

    def registration_options(self) -> dict[str, object]:
        answer = self.client.post("/passkeys/register/options", headers=self.headers)
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        options: dict[str, object] = answer.json()
        return options

    def register(self, credential: dict[str, object], name: str = "Laptop") -> httpx2.Response:
        return self.client.post(
            "/passkeys", headers=self.headers, json={"credential": credential, "name": name}
        )

    def add_passkey(self, name: str = "Laptop") -> dict[str, object]:
        answer = self.register(self.device.create(self.registration_options()), name)
        assert answer.status_code == 201, answer.text
        body: dict[str, object] = answer.json()
        return body


def account(
    client: TestClient, clock: FrozenClock, email: str = EMAIL, *, synced: bool = False
) -> Account:
    tokens = sign_up_and_in(client, email)
    device = SoftAuthenticator(ORIGIN, synced=synced)
    return Account(client, clock, bearer(tokens["access_token"]), device)


def sign_in_options(client: TestClient) -> dict[str, object]:
    answer = client.post("/passkeys/authenticate/options")
    assert answer.status_code == 200, answer.text
    options: dict[str, object] = answer.json()
    return options


def sign_in(client: TestClient, credential: dict[str, object]) -> httpx2.Response:
    return client.post("/sign-in/passkey", json={"credential": credential})


def mfa_token(client: TestClient, email: str = EMAIL) -> tuple[str, list[str]]:
    answer = client.post("/sign-in", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 401, answer.text
    return answer.json()["mfa_token"], answer.json()["methods"]


@pytest.fixture
def ada(client: TestClient, clock: FrozenClock) -> Account:
    """An account with one device-bound passkey."""
    ada = account(client, clock)
    ada.add_passkey()
    return ada


# -- registering and managing -------------------------------------------------


def test_registration_options_ask_for_a_discoverable_verified_credential(
    client: TestClient, clock: FrozenClock
) -> None:
    ada = account(client, clock)
    options = ada.registration_options()
    assert options["rp"] == {"id": "localhost", "name": "localhost"}
    user = options["user"]
    assert isinstance(user, dict)
    assert user["name"] == EMAIL
    assert unb64url(user["id"]) == service_of(client).find_user(EMAIL).id.encode()
    assert options["authenticatorSelection"] == {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    }
    assert len(unb64url(str(options["challenge"]))) == 32


def test_a_registered_passkey_is_listed_and_mailed_about(
    client: TestClient, clock: FrozenClock
) -> None:
    ada = account(client, clock)
    added = ada.add_passkey("Work laptop")
    assert set(added) >= {"id", "name", "created_at"}
    assert added["name"] == "Work laptop"
    listed = client.get("/passkeys", headers=ada.headers)
    assert listed.status_code == 200
    assert listed.json() == [added]
    assert added["synced"] is False
    letters = [service_of(client).open_mail(e) for e in service_of(client).outbox()]
    assert any(letter and "a passkey was added" in letter.text for letter in letters)


def test_registering_needs_a_recent_sign_in(client: TestClient, clock: FrozenClock) -> None:
    ada = account(client, clock)
    clock.advance(STALE)
    answer = client.post("/passkeys/register/options", headers=ada.headers)
    assert answer.status_code == 401
    assert 'error="insufficient_user_authentication"' in answer.headers["www-authenticate"]


def test_a_passkey_is_renamed(ada: Account) -> None:
    [passkey] = ada.client.get("/passkeys", headers=ada.headers).json()
    renamed = ada.client.patch(
        f"/passkeys/{passkey['id']}", headers=ada.headers, json={"name": "  Phone  "}
    )
    assert renamed.status_code == 200
    assert renamed.json() == {**passkey, "name": "Phone"}
    assert ada.client.get("/passkeys", headers=ada.headers).json()[0]["name"] == "Phone"


@pytest.mark.parametrize("name", ["", "x" * 65, 7, None])
def test_a_bad_name_is_refused(ada: Account, name: object) -> None:
    [passkey] = ada.client.get("/passkeys", headers=ada.headers).json()
    answer = ada.client.patch(
        f"/passkeys/{passkey['id']}", headers=ada.headers, json={"name": name}
    )
    assert answer.status_code == 422


def test_a_deleted_passkey_no_longer_signs_in(ada: Account) -> None:
    [passkey] = ada.client.get("/passkeys", headers=ada.headers).json()
    deleted = ada.client.delete(f"/passkeys/{passkey['id']}", headers=ada.headers)
    assert deleted.status_code == 204
    assert ada.client.get("/passkeys", headers=ada.headers).json() == []
    answer = sign_in(ada.client, ada.device.get(sign_in_options(ada.client)))
    assert answer.status_code == 401
    again = ada.client.delete(f"/passkeys/{passkey['id']}", headers=ada.headers)
    assert again.status_code == 404
    # Without a passkey the password alone signs in again.
    answer = ada.client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
    assert answer.status_code == 200


def test_deleting_needs_a_recent_sign_in(ada: Account) -> None:
    [passkey] = ada.client.get("/passkeys", headers=ada.headers).json()
    ada.clock.advance(STALE)
    answer = ada.client.delete(f"/passkeys/{passkey['id']}", headers=ada.headers)
    assert answer.status_code == 401
    assert "max_age=300" in answer.headers["www-authenticate"]


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_another_accounts_passkey_is_not_found(ada: Account, method: str) -> None:
    [passkey] = ada.client.get("/passkeys", headers=ada.headers).json()
    grace = account(ada.client, ada.clock, OTHER)
    answer = ada.client.request(
        method, f"/passkeys/{passkey['id']}", headers=grace.headers, json={"name": "mine"}
    )
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
    assert ada.client.get("/passkeys", headers=grace.headers).json() == []
    assert ada.client.get("/passkeys", headers=ada.headers).json() == [passkey]


def test_passkey_routes_need_a_token(client: TestClient) -> None:
    assert client.get("/passkeys").status_code == 401
    assert client.post("/passkeys/register/options").status_code == 401


# -- registration forgeries -----------------------------------------------------


def from_another_origin(ada: Account) -> dict[str, object]:
    return ada.device.create(ada.registration_options(), origin="https://evil.example")


def for_another_rp_id(ada: Account) -> dict[str, object]:
    return ada.device.create(ada.registration_options(), rp_id="evil.example")


def without_user_verification(ada: Account) -> dict[str, object]:
    return ada.device.create(ada.registration_options(), user_verified=False)


def made_in_a_cross_origin_frame(ada: Account) -> dict[str, object]:
    return ada.device.create(ada.registration_options(), cross_origin=True)


def an_assertion_instead(ada: Account) -> dict[str, object]:
    return ada.device.create(ada.registration_options(), client_type="webauthn.get")


def challenge_used_already(ada: Account) -> dict[str, object]:
    options = ada.registration_options()
    assert ada.register(ada.device.create(options)).status_code == 201
    return ada.device.create(options)


def challenge_expired(ada: Account) -> dict[str, object]:
    options = ada.registration_options()
    ada.clock.advance(STALE)
    return ada.device.create(options)


def challenge_never_issued(ada: Account) -> dict[str, object]:
    options = {**ada.registration_options(), "challenge": b64url(secrets.token_bytes(32))}
    return ada.device.create(options)


def challenge_of_another_account(ada: Account) -> dict[str, object]:
    grace = account(ada.client, ada.clock, OTHER)
    return ada.device.create(grace.registration_options())


def challenge_for_signing_in(ada: Account) -> dict[str, object]:
    options = sign_in_options(ada.client)
    user = {"id": b64url(b"someone"), "name": "x", "displayName": "x"}
    return ada.device.create({**options, "rp": {"id": "localhost"}, "user": user})


def the_same_credential_twice(ada: Account) -> dict[str, object]:
    ada.add_passkey()
    registered = ada.device.credentials[-1]
    return ada.device.create(ada.registration_options(), credential=registered)


def not_webauthn_at_all(ada: Account) -> dict[str, object]:
    ada.registration_options()
    return {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"x": "%%"}}


REGISTRATION_FORGERIES = [
    pytest.param(from_another_origin, "client data origin", id="wrong-origin"),
    pytest.param(for_another_rp_id, "RP ID", id="wrong-rp-id"),
    pytest.param(without_user_verification, UV, id="user-verification-off"),
    pytest.param(made_in_a_cross_origin_frame, "frame of another site", id="cross-origin-frame"),
    pytest.param(an_assertion_instead, "client data type", id="wrong-client-data-type"),
    pytest.param(challenge_used_already, SPENT, id="challenge-replayed"),
    pytest.param(challenge_expired, SPENT, id="challenge-stale"),
    pytest.param(challenge_never_issued, SPENT, id="challenge-unknown"),
    pytest.param(challenge_of_another_account, SPENT, id="challenge-of-another-account"),
    pytest.param(challenge_for_signing_in, SPENT, id="challenge-of-another-purpose"),
    pytest.param(
        the_same_credential_twice, "registered already", id="credential-registered-already"
    ),
    pytest.param(not_webauthn_at_all, "malformed", id="junk"),
]


# The verdict is py_webauthn's and core/passkeys.py's: one database is enough, and
# tests/storage/test_passkey_store.py holds both to the store's part (counters, challenges).
@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(("forge", "why"), REGISTRATION_FORGERIES)
def test_a_forged_registration_is_refused(
    client: TestClient,
    clock: FrozenClock,
    forge: Callable[[Account], dict[str, object]],
    why: str,
) -> None:
    ada = account(client, clock)
    credential = forge(ada)
    known = client.get("/passkeys", headers=ada.headers).json()
    answer = ada.register(credential)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_passkey"
    assert why in answer.json()["detail"]
    assert client.get("/passkeys", headers=ada.headers).json() == known


@pytest.mark.parametrize("credential", ["text", 7, ["a"], None])
def test_a_credential_that_is_not_an_object_is_a_422(
    client: TestClient, clock: FrozenClock, credential: object
) -> None:
    ada = account(client, clock)
    answer = client.post("/passkeys", headers=ada.headers, json={"credential": credential})
    assert answer.status_code == 422


# -- signing in ---------------------------------------------------------------


def test_sign_in_options_name_no_account_and_need_user_verification(client: TestClient) -> None:
    options = sign_in_options(client)
    assert options["rpId"] == "localhost"
    assert options["allowCredentials"] == []
    assert options["userVerification"] == "required"


def test_a_passkey_signs_in_without_a_password(ada: Account) -> None:
    answer = sign_in(ada.client, ada.device.get(sign_in_options(ada.client)))
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert answer.headers["cache-control"] == "no-store"
    claims = service_of(ada.client).read(tokens["access_token"])
    assert claims.email == EMAIL
    assert claims.amr == ("hwk", "user", "mfa")
    assert claims.auth_time == ada.clock()
    refreshed = ada.client.post("/token", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    [listed] = ada.client.get("/passkeys", headers=ada.headers).json()
    assert listed["last_used_at"] is not None


def test_a_synced_passkey_signs_in_as_a_software_key(
    client: TestClient, clock: FrozenClock
) -> None:
    grace = account(client, clock, OTHER, synced=True)
    added = grace.add_passkey()
    assert (added["synced"], added["backed_up"]) == (True, True)
    answer = sign_in(client, grace.device.get(sign_in_options(client)))
    claims = service_of(client).read(answer.json()["access_token"])
    assert claims.amr == ("swk", "user", "mfa")


def test_a_passkey_sign_in_sets_cookies_for_browsers(ada: Account) -> None:
    answer = ada.client.post(
        "/sign-in/passkey?transport=cookie",
        json={"credential": ada.device.get(sign_in_options(ada.client))},
        headers={"Origin": "http://testserver"},
    )
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"expires_in"}
    cookies = " ".join(answer.headers.get_list("set-cookie"))
    assert "authgate_access" in cookies
    assert "HttpOnly" in cookies


def test_a_disabled_account_cannot_sign_in_with_its_passkey(ada: Account) -> None:
    service = service_of(ada.client)
    service.disable_user(service.find_user(EMAIL).id)
    answer = sign_in(ada.client, ada.device.get(sign_in_options(ada.client)))
    assert answer.status_code == 401


# -- sign-in forgeries ----------------------------------------------------------


def replayed(ada: Account) -> dict[str, object]:
    answer = ada.device.get(sign_in_options(ada.client))
    assert sign_in(ada.client, answer).status_code == 200
    return answer


def stale_challenge(ada: Account) -> dict[str, object]:
    options = sign_in_options(ada.client)
    ada.clock.advance(STALE)
    return ada.device.get(options)


def unknown_challenge(ada: Account) -> dict[str, object]:
    return ada.device.get({"rpId": "localhost", "challenge": b64url(secrets.token_bytes(32))})


def registration_challenge(ada: Account) -> dict[str, object]:
    options = ada.registration_options()
    return ada.device.get({"rpId": "localhost", "challenge": options["challenge"]})


def wrong_origin(ada: Account) -> dict[str, object]:
    return ada.device.get(sign_in_options(ada.client), origin="https://evil.example")


def wrong_rp_id(ada: Account) -> dict[str, object]:
    return ada.device.get(sign_in_options(ada.client), rp_id="evil.example")


def in_a_cross_origin_frame(ada: Account) -> dict[str, object]:
    return ada.device.get(sign_in_options(ada.client), cross_origin=True)


def client_data_edited(ada: Account) -> dict[str, object]:
    """Origin and challenge still right: only the signature can tell."""
    answer = ada.device.get(sign_in_options(ada.client))
    response = dict(answer["response"])  # type: ignore[call-overload]
    data = json.loads(unb64url(response["clientDataJSON"]))
    response["clientDataJSON"] = b64url(json.dumps({**data, "extra": 1}).encode())
    return {**answer, "response": response}


def authenticator_data_edited(ada: Account) -> dict[str, object]:
    answer = ada.device.get(sign_in_options(ada.client))
    response = dict(answer["response"])  # type: ignore[call-overload]
    data = bytearray(unb64url(response["authenticatorData"]))
    data[-1] ^= 0x40  # a higher counter than the one signed
    response["authenticatorData"] = b64url(bytes(data))
    return {**answer, "response": response}


def user_verification_off(ada: Account) -> dict[str, object]:
    return ada.device.get(sign_in_options(ada.client), user_verified=False)


def counter_went_backwards(ada: Account) -> dict[str, object]:
    good = ada.device.get(sign_in_options(ada.client), counter=9)
    assert sign_in(ada.client, good).status_code == 200
    return ada.device.get(sign_in_options(ada.client), counter=4)


def counter_stood_still(ada: Account) -> dict[str, object]:
    good = ada.device.get(sign_in_options(ada.client), counter=9)
    assert sign_in(ada.client, good).status_code == 200
    return ada.device.get(sign_in_options(ada.client), counter=9)


def backup_eligibility_changed(ada: Account) -> dict[str, object]:
    return ada.device.get(sign_in_options(ada.client), synced=True)


def unknown_passkey(ada: Account) -> dict[str, object]:
    stranger = SoftAuthenticator(ORIGIN)
    stranger.create({"rp": {"id": "localhost"}, "user": {"id": b64url(b"x")}, "challenge": "AA"})
    return stranger.get(sign_in_options(ada.client))


def user_handle_of_another_account(ada: Account) -> dict[str, object]:
    answer = ada.device.get(sign_in_options(ada.client))
    response = {**answer["response"], "userHandle": b64url(b"someone else")}  # type: ignore[dict-item]
    return {**answer, "response": response}


def junk(ada: Account) -> dict[str, object]:
    sign_in_options(ada.client)
    garbage = base64.urlsafe_b64encode(b"\xff" * 40).decode()
    return {
        "id": "AAAA",
        "rawId": "AAAA",
        "type": "public-key",
        "response": {
            "clientDataJSON": garbage,
            "authenticatorData": garbage,
            "signature": "%%%",
            "userHandle": "%%%",
        },
    }


SIGN_IN_FORGERIES = [
    pytest.param(replayed, SPENT, id="assertion-replayed"),
    pytest.param(stale_challenge, SPENT, id="challenge-stale"),
    pytest.param(unknown_challenge, SPENT, id="challenge-unknown"),
    pytest.param(registration_challenge, SPENT, id="challenge-of-another-purpose"),
    pytest.param(wrong_origin, "client data origin", id="wrong-origin"),
    pytest.param(wrong_rp_id, "RP ID", id="wrong-rp-id"),
    pytest.param(in_a_cross_origin_frame, "frame of another site", id="cross-origin-frame"),
    pytest.param(client_data_edited, "signature", id="client-data-tampered"),
    pytest.param(authenticator_data_edited, "signature", id="authenticator-data-tampered"),
    pytest.param(user_verification_off, UV, id="user-verification-off"),
    pytest.param(counter_went_backwards, "sign count", id="counter-backwards"),
    pytest.param(counter_stood_still, "sign count", id="counter-repeated"),
    pytest.param(backup_eligibility_changed, "backup eligibility", id="backup-eligibility-changed"),
    pytest.param(unknown_passkey, "not registered", id="unknown-passkey"),
    pytest.param(user_handle_of_another_account, "names another account", id="user-handle-swapped"),
    pytest.param(junk, "malformed", id="junk"),
]


# The verdict is py_webauthn's and core/passkeys.py's: one database is enough, and
# tests/storage/test_passkey_store.py holds both to the store's part (counters, challenges).
@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(("forge", "why"), SIGN_IN_FORGERIES)
def test_a_forged_passkey_sign_in_is_refused(
    ada: Account, forge: Callable[[Account], dict[str, object]], why: str
) -> None:
    answer = sign_in(ada.client, forge(ada))
    assert answer.status_code == 401, answer.text
    # Every refusal answers alike; the audit log says why.
    assert answer.json() == {
        "error": "invalid_credentials",
        "detail": "the passkey could not be verified",
    }
    assert answer.headers["cache-control"] == "no-store"
    events, _ = service_of(ada.client).audit_events(limit=20)
    failed = next(e for e in events if e.kind == "sign_in_failed")
    assert failed.detail is not None
    assert why in failed.detail["reason"]


# -- the second factor ----------------------------------------------------------


def test_a_passkey_makes_a_password_sign_in_need_it(ada: Account) -> None:
    token, methods = mfa_token(ada.client)
    assert methods == ["passkey"]
    answer = ada.client.post(
        "/sign-in/mfa",
        json={"mfa_token": token, "passkey": ada.device.get(sign_in_options(ada.client))},
    )
    assert answer.status_code == 200, answer.text
    claims = service_of(ada.client).read(answer.json()["access_token"])
    assert claims.amr == ("pwd", "hwk", "mfa")


def test_a_second_factor_passkey_need_not_verify_the_person(ada: Account) -> None:
    """The password is the other factor: the key's possession is enough here."""
    token, _ = mfa_token(ada.client)
    credential = ada.device.get(sign_in_options(ada.client), user_verified=False)
    answer = ada.client.post("/sign-in/mfa", json={"mfa_token": token, "passkey": credential})
    assert answer.status_code == 200, answer.text


def test_another_accounts_passkey_is_no_second_factor(ada: Account) -> None:
    grace = account(ada.client, ada.clock, OTHER)
    grace.add_passkey()
    token, _ = mfa_token(ada.client)
    theirs = grace.device.get(sign_in_options(ada.client))
    refused = ada.client.post("/sign-in/mfa", json={"mfa_token": token, "passkey": theirs})
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_credentials"
    # The token survives one wrong factor: the account's own passkey still completes it.
    mine = ada.device.get(sign_in_options(ada.client))
    done = ada.client.post("/sign-in/mfa", json={"mfa_token": token, "passkey": mine})
    assert done.status_code == 200


def test_an_mfa_token_finished_by_a_passkey_is_spent(ada: Account) -> None:
    token, _ = mfa_token(ada.client)
    first = ada.device.get(sign_in_options(ada.client))
    assert (
        ada.client.post("/sign-in/mfa", json={"mfa_token": token, "passkey": first}).status_code
        == 200
    )
    second = ada.device.get(sign_in_options(ada.client))
    again = ada.client.post("/sign-in/mfa", json={"mfa_token": token, "passkey": second})
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_mfa_token"


def test_a_passkey_and_a_code_together_are_a_422(ada: Account) -> None:
    token, _ = mfa_token(ada.client)
    credential = ada.device.get(sign_in_options(ada.client))
    answer = ada.client.post(
        "/sign-in/mfa", json={"mfa_token": token, "passkey": credential, "code": "123456"}
    )
    assert answer.status_code == 422


def test_an_account_with_an_app_and_a_passkey_offers_both(ada: Account) -> None:
    started = ada.client.post("/mfa/totp", headers=ada.headers).json()
    code = pyotp.TOTP(started["secret"]).at(ada.clock())
    confirmed = ada.client.post("/mfa/totp/confirm", headers=ada.headers, json={"code": code})
    assert confirmed.status_code == 200
    _, methods = mfa_token(ada.client)
    assert methods == ["totp", "recovery_code", "passkey"]


def test_an_operator_reset_removes_the_passkeys(ada: Account) -> None:
    service = service_of(ada.client)
    assert service.reset_second_factors(service.find_user(EMAIL).id)
    assert ada.client.get("/passkeys", headers=ada.headers).json() == []
    answer = ada.client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
    assert answer.status_code == 200


# -- proving again who one is ----------------------------------------------------


def test_a_passkey_answer_reauthenticates_a_stale_session(ada: Account) -> None:
    """V7.5.1: a passkey that verified the person is a full re-authentication by itself."""
    ada.clock.advance(600)
    refused = ada.client.post("/mfa/totp", headers=ada.headers)
    assert refused.json()["error"] == "insufficient_user_authentication"
    answer = ada.client.post(
        "/reauthenticate",
        headers=ada.headers,
        json={"passkey": ada.device.get(sign_in_options(ada.client))},
    )
    assert answer.status_code == 200, answer.text
    assert "refresh_token" in answer.json()
    fresh = bearer(answer.json()["access_token"])
    # The session began with the password; the passkey and its person are the latest proof.
    amr = service_of(ada.client).read(answer.json()["access_token"]).amr
    assert amr == ("pwd", "hwk", "user", "mfa")
    assert ada.client.post("/mfa/totp", headers=fresh).status_code == 200


def test_a_passkey_answer_without_user_verification_does_not_reauthenticate(
    ada: Account,
) -> None:
    """Possessing the key is one factor: alone it needs the person verified, as a
    passwordless sign-in does."""
    ada.clock.advance(600)
    answer = ada.client.post(
        "/reauthenticate",
        headers=ada.headers,
        json={"passkey": ada.device.get(sign_in_options(ada.client), user_verified=False)},
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_credentials"
    assert ada.client.post("/mfa/totp", headers=ada.headers).status_code == 401


def test_the_password_alone_does_not_reauthenticate_an_account_with_a_passkey(
    ada: Account,
) -> None:
    ada.clock.advance(600)
    answer = ada.client.post("/reauthenticate", headers=ada.headers, json={"password": PASSWORD})
    assert answer.status_code == 401
    assert answer.json()["error"] == "full_authentication_required"
    assert answer.json()["methods"] == ["passkey"]


def test_another_accounts_passkey_does_not_reauthenticate(
    client: TestClient, clock: FrozenClock
) -> None:
    mallory = account(client, clock, "mallory@example.com")
    mallory.add_passkey()
    ada = account(client, clock)
    answer = client.post(
        "/reauthenticate",
        headers=ada.headers,
        json={"passkey": mallory.device.get(sign_in_options(client))},
    )
    assert answer.status_code == 401

"""The routes of DESIGN.md §8 through the real app: every status of the contract.

Mail is read from the outbox (no SMTP server is set): what a developer sees with
`authgate mail show`. Delivery itself is tested in tests/mail.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.tokens import issue_access_token, read_access_token
from authgate.service import Service
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import GENEROUS_THROTTLES, PASSWORD, bearer, mailed_token, sign_up_and_in

EMAIL = "ada@example.com"
NEW_PASSWORD = "a brand new passphrase"
STALE = 'Bearer error="insufficient_user_authentication"'


def service_of(client: TestClient) -> Service:
    app = client.app
    assert isinstance(app, FastAPI)
    service: Service = app.state.service
    return service


def kinds(service: Service) -> list[tuple[str, str]]:
    return [(e.kind, e.recipient) for e in service.outbox()]


# -- verification ------------------------------------------------------------


def test_sign_up_stores_a_verification_mail_with_the_account(client: TestClient) -> None:
    response = client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 201
    assert kinds(service_of(client)) == [("verify_email", EMAIL)]


def test_verify_link_marks_the_address_verified_once(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    token = mailed_token(service_of(client), "verify_email")
    assert client.post("/email/verify", json={"token": token}).status_code == 204
    me = client.get("/me", headers=bearer(tokens["access_token"])).json()
    assert me["email_verified"] is True
    again = client.post("/email/verify", json={"token": token})
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_link"


def test_access_tokens_say_whether_the_address_is_verified(
    client: TestClient, settings: Settings
) -> None:
    service = service_of(client)
    first = sign_up_and_in(client)
    assert (
        client.post(
            "/email/verify", json={"token": mailed_token(service, "verify_email")}
        ).status_code
        == 204
    )
    second = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()
    claims = [service.read(t["access_token"]) for t in (first, second)]
    assert [c.email_verified for c in claims] == [False, True]
    assert all(c.auth_time is not None for c in claims)
    refreshed = client.post("/token", json={"refresh_token": first["refresh_token"]}).json()
    assert service.read(refreshed["access_token"]).email_verified is True


def test_verification_can_be_requested_again_while_signed_in(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    response = client.post("/email/verify/request", headers=bearer(tokens["access_token"]))
    assert response.status_code == 202
    assert kinds(service_of(client)).count(("verify_email", EMAIL)) == 2


def test_verification_request_without_a_token_or_address_is_401(client: TestClient) -> None:
    assert client.post("/email/verify/request").status_code == 401


@pytest.mark.parametrize("address", [EMAIL, "nobody@example.com"])
def test_verification_by_address_answers_alike_for_unknown_addresses(
    client: TestClient, address: str
) -> None:
    client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    response = client.post("/email/verify/request", json={"email": address})
    assert response.status_code == 202
    assert response.json() == {
        "detail": "if an account not yet verified has this address, a link is on its way"
    }
    expected = 2 if address == EMAIL else 1
    assert kinds(service_of(client)).count(("verify_email", EMAIL)) == expected


def test_the_link_pages_are_served_for_any_token_and_read_nothing(client: TestClient) -> None:
    for path in ("/email/verify", "/password/reset", "/email/change/confirm"):
        for query in ("", "?token=x", "?token=" + "A" * 43):
            page = client.get(path + query)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-store"
            assert page.headers["referrer-policy"] == "no-referrer"
            assert "script-src 'self'" in page.headers["content-security-policy"]


# -- required verification ------------------------------------------------------


@pytest.fixture
def strict(settings: Settings, clock: FrozenClock) -> TestClient:
    strict_settings = Settings(
        database_url=settings.database_url, require_verified_email=True, **GENEROUS_THROTTLES
    )
    with TestClient(create_app(strict_settings, clock=clock, preset=FAST_FOR_TESTS)) as client:
        yield client


def test_unverified_sign_in_is_403_only_after_the_right_password(strict: TestClient) -> None:
    strict.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    wrong = strict.post("/sign-in", json={"email": EMAIL, "password": "wrong " + PASSWORD})
    assert wrong.status_code == 401
    refused = strict.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
    assert refused.status_code == 403
    assert refused.json()["error"] == "email_not_verified"
    assert "/email/verify/request" in refused.json()["detail"]
    token = mailed_token(service_of(strict), "verify_email")
    assert strict.post("/email/verify", json={"token": token}).status_code == 204
    assert strict.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).status_code == 200


# -- forgotten passwords ---------------------------------------------------------


def test_forgot_answers_the_same_for_known_and_unknown_addresses(client: TestClient) -> None:
    client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    known = client.post("/password/forgot", json={"email": EMAIL})
    unknown = client.post("/password/forgot", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known.headers.get("content-length") == unknown.headers.get("content-length")
    assert kinds(service_of(client)).count(("reset_password", EMAIL)) == 1
    assert all(to == EMAIL for _, to in kinds(service_of(client)))


@pytest.mark.parametrize("body", [{}, {"email": 3}, {"email": "not an address"}, []])
def test_forgot_refuses_malformed_bodies_with_422(client: TestClient, body: object) -> None:
    response = client.post("/password/forgot", json=body)
    assert response.status_code == 422


def test_reset_sets_the_password_and_ends_every_session(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    client.post("/password/forgot", json={"email": EMAIL})
    token = mailed_token(service_of(client), "reset_password")
    response = client.post("/password/reset", json={"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 204
    assert client.get("/me", headers=bearer(tokens["access_token"])).status_code == 401
    assert client.post("/token", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    old = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
    assert old.status_code == 401
    new = client.post("/sign-in", json={"email": EMAIL, "password": NEW_PASSWORD})
    assert new.status_code == 200
    assert ("password_changed", EMAIL) in kinds(service_of(client))


def test_reset_with_a_weak_password_is_422_and_keeps_the_link(client: TestClient) -> None:
    sign_up_and_in(client)
    client.post("/password/forgot", json={"email": EMAIL})
    token = mailed_token(service_of(client), "reset_password")
    weak = client.post("/password/reset", json={"token": token, "password": "password"})
    assert weak.status_code == 422
    assert weak.json()["error"] == "password_rejected"
    ok = client.post("/password/reset", json={"token": token, "password": NEW_PASSWORD})
    assert ok.status_code == 204


def test_a_password_change_voids_outstanding_reset_links(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    client.post("/password/forgot", json={"email": EMAIL})
    token = mailed_token(service_of(client), "reset_password")
    change = client.post(
        "/password/change",
        headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert change.status_code == 204
    late = client.post("/password/reset", json={"token": token, "password": "yet another one!"})
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_link"


# -- changing the password -----------------------------------------------------


def test_change_password_needs_the_current_one(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    response = client.post(
        "/password/change",
        headers=bearer(tokens["access_token"]),
        json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_credentials"
    assert client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).status_code == 200


def test_change_password_ends_other_sessions_but_keeps_this_one(client: TestClient) -> None:
    this = sign_up_and_in(client)
    other = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()
    response = client.post(
        "/password/change",
        headers=bearer(this["access_token"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 204
    assert client.get("/me", headers=bearer(this["access_token"])).status_code == 200
    assert client.get("/me", headers=bearer(other["access_token"])).status_code == 401
    assert client.post("/token", json={"refresh_token": this["refresh_token"]}).status_code == 200


def test_change_password_can_keep_other_sessions(client: TestClient) -> None:
    this = sign_up_and_in(client)
    other = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()
    client.post(
        "/password/change",
        headers=bearer(this["access_token"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "sign_out_others": False},
    )
    assert client.get("/me", headers=bearer(other["access_token"])).status_code == 200


def test_change_password_refuses_a_weak_one_with_422(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    response = client.post(
        "/password/change",
        headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert response.status_code == 422


def test_sensitive_routes_need_a_recent_sign_in(client: TestClient, clock: FrozenClock) -> None:
    tokens = sign_up_and_in(client)
    clock.advance(301)
    # Refreshed, the token is new but the sign-in is as old as it was.
    fresh = client.post("/token", json={"refresh_token": tokens["refresh_token"]}).json()
    headers = bearer(fresh["access_token"])
    for method, path, body in [
        ("POST", "/password/change", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        ("POST", "/email/change", {"new_email": "ada@example.org"}),
        ("DELETE", "/me", None),
    ]:
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code == 401, path
        assert response.json()["error"] == "insufficient_user_authentication"
        assert response.headers["WWW-Authenticate"].startswith(STALE)
        assert "max_age=300" in response.headers["WWW-Authenticate"]
    assert service_of(client).user(service_of(client).read(fresh["access_token"]).subject)


# -- changing the address ------------------------------------------------------


def test_change_email_confirms_the_new_address_and_tells_the_old(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    response = client.post(
        "/email/change",
        headers=bearer(tokens["access_token"]),
        json={"new_email": "ada@example.org"},
    )
    assert response.status_code == 202
    service = service_of(client)
    assert ("confirm_email_change", "ada@example.org") in kinds(service)
    assert ("email_change_requested", EMAIL) in kinds(service)
    token = mailed_token(service, "confirm_email_change")
    assert client.post("/email/change/confirm", json={"token": token}).status_code == 204
    me = client.get("/me", headers=bearer(tokens["access_token"])).json()
    assert me["email"] == "ada@example.org"
    assert me["email_verified"] is True
    assert {to for kind, to in kinds(service) if kind == "email_changed"} == {
        EMAIL,
        "ada@example.org",
    }
    again = client.post("/email/change/confirm", json={"token": token})
    assert again.status_code == 400


@pytest.mark.parametrize("taken", ["bob@example.com", "BOB@example.com"])
def test_change_email_to_a_taken_address_is_409(client: TestClient, taken: str) -> None:
    client.post("/sign-up", json={"email": "bob@example.com", "password": PASSWORD})
    tokens = sign_up_and_in(client)
    response = client.post(
        "/email/change", headers=bearer(tokens["access_token"]), json={"new_email": taken}
    )
    assert response.status_code == 409


def test_confirming_an_address_taken_meanwhile_is_409(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    client.post(
        "/email/change",
        headers=bearer(tokens["access_token"]),
        json={"new_email": "ada@example.org"},
    )
    client.post("/sign-up", json={"email": "ada@example.org", "password": PASSWORD})
    token = mailed_token(service_of(client), "confirm_email_change")
    assert client.post("/email/change/confirm", json={"token": token}).status_code == 409
    me = client.get("/me", headers=bearer(tokens["access_token"])).json()
    assert me["email"] == EMAIL


@pytest.mark.parametrize("new_email", ["not an address", EMAIL, EMAIL.upper()])
def test_change_email_to_an_invalid_or_the_same_address_is_422(
    client: TestClient, new_email: str
) -> None:
    tokens = sign_up_and_in(client)
    response = client.post(
        "/email/change", headers=bearer(tokens["access_token"]), json={"new_email": new_email}
    )
    assert response.status_code == 422


def test_this_wasnt_me_restores_the_address_and_locks_out_the_intruder(
    client: TestClient,
) -> None:
    tokens = sign_up_and_in(client)
    headers = bearer(tokens["access_token"])
    client.post("/email/change", headers=headers, json={"new_email": "mallory@example.org"})
    service = service_of(client)
    client.post(
        "/email/change/confirm", json={"token": mailed_token(service, "confirm_email_change")}
    )
    revert = mailed_token(service, "email_changed", to=EMAIL)
    assert client.post("/email/change/revert", json={"token": revert}).status_code == 204
    assert client.get("/me", headers=headers).status_code == 401
    assert client.post("/token", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    # The old password no longer works; the owner sets a new one from the mailed link.
    assert client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).status_code == 401
    reset = mailed_token(service, "reset_password", to=EMAIL)
    assert (
        client.post("/password/reset", json={"token": reset, "password": NEW_PASSWORD}).status_code
        == 204
    )
    signed_in = client.post("/sign-in", json={"email": EMAIL, "password": NEW_PASSWORD})
    assert signed_in.status_code == 200


# -- deleting the account ------------------------------------------------------


def test_delete_me_ends_every_session_and_frees_the_address(client: TestClient) -> None:
    tokens = sign_up_and_in(client)
    other = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()
    assert client.delete("/me", headers=bearer(tokens["access_token"])).status_code == 204
    for token in (tokens, other):
        assert client.get("/me", headers=bearer(token["access_token"])).status_code == 401
        assert (
            client.post("/token", json={"refresh_token": token["refresh_token"]}).status_code == 401
        )
    assert client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).status_code == 401
    assert ("account_deleted", EMAIL) in kinds(service_of(client))
    again = client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    assert again.status_code == 201


def test_delete_me_without_a_token_is_401(client: TestClient) -> None:
    assert client.delete("/me").status_code == 401


def test_a_deleted_account_is_purged_after_its_tokens_expired(
    client: TestClient, clock: FrozenClock
) -> None:
    tokens = sign_up_and_in(client)
    service = service_of(client)
    user_id = service.read(tokens["access_token"]).subject
    client.delete("/me", headers=bearer(tokens["access_token"]))
    clock.advance(minutes=30)
    service.parts.catch_up()
    with service.parts.engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM users WHERE id = :id"), {"id": user_id})
        assert left.scalar() == 0


# -- reading tokens ----------------------------------------------------------


def test_old_tokens_without_the_new_claims_are_still_read(
    service: Service, clock: FrozenClock
) -> None:

    token, _ = issue_access_token(
        subject="u",
        email=EMAIL,
        session_id="s",
        keys=service.parts.keys,
        issuer=service.settings.issuer,
        audience=service.settings.audience,
        now=clock(),
        ttl=timedelta(minutes=5),
    )
    claims = read_access_token(
        token,
        keys=service.parts.keys,
        issuer=service.settings.issuer,
        audience=service.settings.audience,
        now=clock(),
    )
    assert claims.email_verified is False
    assert claims.auth_time is None

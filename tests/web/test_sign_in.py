"""POST /sign-in: tokens for good credentials, one answer for every bad one, throttles."""

from __future__ import annotations

from datetime import timedelta

import bcrypt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.settings import Settings
from helpers import PASSWORD, bearer, sign_up_and_in

from .helpers import RETRY_AFTER_SECONDS, FromIp, MakeClient, jwt_claims, jwt_header

EMAIL = "ada@example.com"
WRONG = "not the right passphrase"


@pytest.fixture
def ada(client: TestClient) -> dict[str, str]:
    """Ada's sign-up response body."""
    response = client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 201
    body: dict[str, str] = response.json()
    return body


def sign_up(client: TestClient, email: str = EMAIL) -> None:
    assert client.post("/sign-up", json={"email": email, "password": PASSWORD}).status_code == 201


def sign_in(client: TestClient, email: str = EMAIL, password: str = PASSWORD) -> int:
    return client.post("/sign-in", json={"email": email, "password": password}).status_code


@pytest.mark.usefixtures("ada")
def test_sign_in_answers_200_with_a_bearer_token_pair(client: TestClient) -> None:
    response = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"]
    assert body["refresh_token"]


@pytest.mark.usefixtures("ada")
def test_sign_in_forbids_caching_the_tokens(client: TestClient) -> None:
    response = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})

    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.usefixtures("ada")
def test_sign_in_accepts_the_oauth2_password_form(client: TestClient) -> None:
    response = client.post("/sign-in", data={"username": EMAIL, "password": PASSWORD})

    assert response.status_code == 200
    assert client.get("/test", headers=bearer(response.json()["access_token"])).status_code == 200


@pytest.mark.usefixtures("ada")
def test_sign_in_issues_an_access_token_that_passes_the_guard(client: TestClient) -> None:
    token = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()

    assert client.get("/test", headers=bearer(token["access_token"])).status_code == 200


@pytest.mark.usefixtures("ada")
def test_sign_in_answers_an_unknown_email_and_a_wrong_password_identically(
    client: TestClient,
) -> None:
    unknown = client.post("/sign-in", json={"email": "nobody@example.com", "password": PASSWORD})
    wrong = client.post("/sign-in", json={"email": EMAIL, "password": WRONG})

    assert (unknown.status_code, unknown.json()) == (wrong.status_code, wrong.json())
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "invalid_credentials"


BAD_CREDENTIALS = [
    pytest.param(EMAIL, WRONG, id="wrong-password"),
    pytest.param(EMAIL, PASSWORD.upper(), id="password-in-another-case"),
    pytest.param(EMAIL, PASSWORD + " ", id="password-with-trailing-space"),
    pytest.param("nobody@example.com", PASSWORD, id="unknown-email"),
    pytest.param("not an email", PASSWORD, id="invalid-email"),
    pytest.param("a" * 400 + "@example.com", PASSWORD, id="email-too-long-to-exist"),
    pytest.param(EMAIL, "", id="empty-password"),
    pytest.param(EMAIL, "x" * 1025, id="password-1025-chars"),
    pytest.param(
        EMAIL, PASSWORD + "x" * (1025 - len(PASSWORD)), id="right-password-padded-to-1025"
    ),
]


@pytest.mark.usefixtures("ada")
@pytest.mark.parametrize(("email", "password"), BAD_CREDENTIALS)
def test_sign_in_refuses_bad_credentials_with_401_invalid_credentials(
    client: TestClient, email: str, password: str
) -> None:
    response = client.post("/sign-in", json={"email": email, "password": password})

    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_credentials",
        "detail": "the e-mail or password is incorrect",
    }


@pytest.mark.usefixtures("ada")
@pytest.mark.parametrize("email", ["ADA@EXAMPLE.COM", "Ada@Example.Com", "ada@EXAMPLE.com"])
def test_sign_in_compares_the_email_case_insensitively(client: TestClient, email: str) -> None:
    assert sign_in(client, email) == 200


@pytest.mark.parametrize(
    "password",
    [pytest.param("x" * 1024, id="ascii"), pytest.param("é" * 1024, id="two-byte-chars")],
)
def test_sign_in_accepts_a_password_of_1024_characters(client: TestClient, password: str) -> None:
    body = sign_up_and_in(client, EMAIL, password)

    assert body["access_token"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": EMAIL}, id="password-missing"),
        pytest.param({"password": PASSWORD}, id="email-missing"),
        pytest.param({"email": EMAIL, "password": 12345678}, id="password-number"),
        pytest.param({"email": [EMAIL], "password": PASSWORD}, id="email-list"),
        pytest.param({"email": None, "password": PASSWORD}, id="email-null"),
    ],
)
def test_sign_in_refuses_missing_or_wrong_typed_fields_with_422(
    client: TestClient, body: dict[str, object]
) -> None:
    assert client.post("/sign-in", json=body).status_code == 422


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"email": "ada@example.com", ', id="malformed-json"),
        pytest.param(b"[" * 100_000, id="deeply-nested"),
        pytest.param(
            b'{"email": "ada@example.com", "password": "\\ud800xxxxxxxx"}', id="surrogate"
        ),
    ],
)
def test_sign_in_answers_unreadable_json_with_a_client_error(
    client: TestClient, content: bytes
) -> None:
    response = client.post(
        "/sign-in", content=content, headers={"Content-Type": "application/json"}
    )

    assert 400 <= response.status_code < 500


# -- throttles ---------------------------------------------------------------


def test_sign_in_is_refused_with_429_after_too_many_failures_for_the_account(
    make_client: MakeClient,
) -> None:
    strict = make_client(throttle_sign_in_account="3/minute")
    sign_up(strict)

    assert [sign_in(strict, password=WRONG) for _ in range(4)] == [401, 401, 401, 429]


def test_sign_in_throttle_refuses_even_the_right_password(
    make_client: MakeClient,
) -> None:
    strict = make_client(throttle_sign_in_account="3/minute")
    sign_up(strict)
    for _ in range(3):
        sign_in(strict, password=WRONG)

    response = strict.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 429
    assert response.json()["error"] == "too_many_requests"


def test_sign_in_throttle_says_when_to_retry_in_whole_seconds(
    make_client: MakeClient,
) -> None:
    strict = make_client(throttle_sign_in_account="1/minute")
    sign_up(strict)
    sign_in(strict, password=WRONG)

    response = strict.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 429
    assert RETRY_AFTER_SECONDS.fullmatch(response.headers["Retry-After"])
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_sign_in_throttle_treats_an_unknown_email_like_a_known_one(
    make_client: MakeClient,
) -> None:
    """Otherwise a 429 that only real accounts get would reveal which accounts exist."""
    strict = make_client(throttle_sign_in_account="2/minute")

    statuses = [sign_in(strict, "nobody@example.com", WRONG) for _ in range(3)]

    assert statuses == [401, 401, 429]


def test_sign_in_throttle_counts_failures_under_any_case_of_the_email(
    make_client: MakeClient,
) -> None:
    strict = make_client(throttle_sign_in_account="2/minute")
    sign_up(strict)
    sign_in(strict, "ADA@example.com", WRONG)
    sign_in(strict, "ada@EXAMPLE.COM", WRONG)

    assert sign_in(strict) == 429


def test_sign_in_throttle_does_not_count_successful_sign_ins(
    make_client: MakeClient,
) -> None:
    strict = make_client(throttle_sign_in_account="2/minute")
    sign_up(strict)

    assert [sign_in(strict) for _ in range(4)] == [200, 200, 200, 200]


def test_sign_in_throttle_of_one_account_leaves_other_accounts_alone(
    make_client: MakeClient,
) -> None:
    strict = make_client(throttle_sign_in_account="2/minute")
    sign_up(strict)
    sign_up(strict, "bob@example.com")
    for _ in range(3):
        sign_in(strict, password=WRONG)

    assert sign_in(strict, "bob@example.com") == 200


def test_sign_in_is_throttled_per_ip(make_client: MakeClient) -> None:
    strict = make_client(throttle_sign_in_ip="3/minute")
    sign_up(strict)

    assert [sign_in(strict) for _ in range(4)] == [200, 200, 200, 429]


def test_sign_in_ip_throttle_says_when_to_retry(
    make_client: MakeClient,
) -> None:
    strict = make_client(throttle_sign_in_ip="1/minute")
    sign_up(strict)
    sign_in(strict)

    response = strict.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 429
    assert RETRY_AFTER_SECONDS.fullmatch(response.headers["Retry-After"])


def test_sign_in_ip_throttle_leaves_other_ips_alone(
    make_client: MakeClient, from_ip: FromIp
) -> None:
    strict = make_client(throttle_sign_in_ip="1/minute", ip="192.0.2.1")
    sign_up(strict)
    sign_in(strict)
    sign_in(strict)

    assert sign_in(from_ip(strict, "192.0.2.2")) == 200


# -- the access token --------------------------------------------------------


@pytest.fixture
def access_token(client: TestClient, ada: dict[str, str]) -> str:
    response = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
    token: str = response.json()["access_token"]
    return token


def test_access_token_subject_is_the_id_sign_up_returned(
    access_token: str, ada: dict[str, str]
) -> None:
    assert jwt_claims(access_token)["sub"] == ada["id"]


def test_access_token_session_is_the_current_session(client: TestClient, access_token: str) -> None:
    sessions = client.get("/sessions", headers=bearer(access_token)).json()

    assert jwt_claims(access_token)["sid"] == next(s["id"] for s in sessions if s["current"])


def test_access_token_names_the_configured_issuer_and_audience(
    access_token: str, settings: Settings
) -> None:
    claims = jwt_claims(access_token)

    assert (claims["iss"], claims["aud"]) == (settings.issuer, settings.audience)


def test_access_token_carries_the_email(access_token: str) -> None:
    assert jwt_claims(access_token)["email"] == EMAIL


def test_access_token_lives_900_seconds_from_now(access_token: str, clock: FrozenClock) -> None:
    claims = jwt_claims(access_token)

    assert claims["iat"] == int(clock().timestamp())
    assert claims["exp"] - claims["iat"] == 900


def test_access_token_header_has_the_rfc_9068_type_and_names_its_key(access_token: str) -> None:
    header = jwt_header(access_token)

    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"]


def test_access_tokens_have_unique_ids(client: TestClient, ada: dict[str, str]) -> None:
    first = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()
    second = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()

    assert jwt_claims(first["access_token"])["jti"] != jwt_claims(second["access_token"])["jti"]


def test_access_token_lifetime_follows_the_setting(make_client: MakeClient) -> None:
    short = make_client(access_token_ttl=timedelta(seconds=60))

    body = sign_up_and_in(short)

    assert body["expires_in"] == 60
    claims = jwt_claims(body["access_token"])
    assert claims["exp"] - claims["iat"] == 60


# -- legacy bcrypt hashes ----------------------------------------------------

LEGACY = "old@example.com"
BCRYPT_PREFIXES = [
    pytest.param("$2b$", id="2b"),
    pytest.param("$2a$", id="2a"),
    pytest.param("$2y$", id="2y"),
]


def add_bcrypt_user(app: FastAPI, prefix: str) -> None:
    """Store a user as the Node tutorial did: a bcrypt hash, under `prefix`."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    app.state.service.parts.accounts.add(LEGACY, prefix + hashed.removeprefix("$2b$"))


@pytest.mark.parametrize("prefix", BCRYPT_PREFIXES)
def test_sign_in_accepts_a_legacy_bcrypt_hash(
    app: FastAPI, client: TestClient, prefix: str
) -> None:
    add_bcrypt_user(app, prefix)

    assert sign_in(client, LEGACY) == 200


@pytest.mark.parametrize("prefix", BCRYPT_PREFIXES)
def test_sign_in_rehashes_a_legacy_bcrypt_hash_to_argon2id(
    app: FastAPI, client: TestClient, prefix: str
) -> None:
    add_bcrypt_user(app, prefix)

    sign_in(client, LEGACY)

    assert app.state.service.parts.store.user_by_email(LEGACY).password_hash.startswith(
        "$argon2id$"
    )


def test_sign_in_keeps_a_legacy_hash_after_a_wrong_password(
    app: FastAPI, client: TestClient
) -> None:
    add_bcrypt_user(app, "$2b$")

    sign_in(client, LEGACY, WRONG)

    assert app.state.service.parts.store.user_by_email(LEGACY).password_hash.startswith("$2b$")


def test_sign_in_still_accepts_the_password_after_the_rehash(
    app: FastAPI, client: TestClient
) -> None:
    add_bcrypt_user(app, "$2b$")
    sign_in(client, LEGACY)

    assert sign_in(client, LEGACY) == 200


def test_sign_in_refuses_a_1025_char_password_that_bcrypt_would_truncate_to_the_right_one(
    app: FastAPI, client: TestClient
) -> None:
    """bcrypt reads 72 bytes; the length limit must hold before any hash is consulted."""
    password = "p" * 72
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    app.state.service.parts.accounts.add(LEGACY, hashed)

    assert sign_in(client, LEGACY, password + "x" * (1025 - 72)) == 401


def test_sign_in_refuses_a_wrong_password_against_a_legacy_hash(
    app: FastAPI, client: TestClient
) -> None:
    add_bcrypt_user(app, "$2b$")

    assert sign_in(client, LEGACY, WRONG) == 401

"""POST /sign-out and POST /sign-out-all: 204, and the ended sessions' tokens stop at once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from helpers import INVALID_TOKEN, PASSWORD, assert_refused_as_invalid_token, bearer, sign_up_and_in

EMAIL = "ada@example.com"


@pytest.fixture
def phone(client: TestClient) -> dict[str, str]:
    """Ada's first session."""
    return sign_up_and_in(client, EMAIL)


@pytest.fixture
def laptop(client: TestClient, phone: dict[str, str]) -> dict[str, str]:
    """Ada's second session."""
    response = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
    body: dict[str, str] = response.json()
    return body


def refresh_status(client: TestClient, signed_in: dict[str, str]) -> int:
    return client.post("/token", json={"refresh_token": signed_in["refresh_token"]}).status_code


# -- /sign-out ---------------------------------------------------------------


def test_sign_out_with_a_bearer_token_answers_204(
    client: TestClient, phone: dict[str, str]
) -> None:
    response = client.post("/sign-out", headers=bearer(phone["access_token"]))

    assert response.status_code == 204
    assert response.content == b""


def test_sign_out_refuses_the_access_token_on_the_next_request(
    client: TestClient, phone: dict[str, str]
) -> None:
    client.post("/sign-out", headers=bearer(phone["access_token"]))

    response = client.get("/test", headers=bearer(phone["access_token"]))

    assert_refused_as_invalid_token(response)


def test_sign_out_with_a_bearer_token_ends_the_sessions_refresh_token(
    client: TestClient, phone: dict[str, str]
) -> None:
    client.post("/sign-out", headers=bearer(phone["access_token"]))

    assert refresh_status(client, phone) == 401


def test_sign_out_with_only_a_refresh_token_answers_204(
    client: TestClient, phone: dict[str, str]
) -> None:
    response = client.post("/sign-out", json={"refresh_token": phone["refresh_token"]})

    assert response.status_code == 204


def test_sign_out_with_only_a_refresh_token_ends_that_refresh_token(
    client: TestClient, phone: dict[str, str]
) -> None:
    client.post("/sign-out", json={"refresh_token": phone["refresh_token"]})

    assert refresh_status(client, phone) == 401


def test_sign_out_with_only_a_refresh_token_refuses_the_sessions_access_token(
    client: TestClient, phone: dict[str, str]
) -> None:
    client.post("/sign-out", json={"refresh_token": phone["refresh_token"]})

    response = client.get("/test", headers=bearer(phone["access_token"]))

    assert response.status_code == 401


def test_sign_out_accepts_the_tutorials_token_key(
    client: TestClient, phone: dict[str, str]
) -> None:
    assert client.post("/sign-out", json={"token": phone["refresh_token"]}).status_code == 204
    assert refresh_status(client, phone) == 401


def test_sign_out_with_both_credentials_ends_the_session(
    client: TestClient, phone: dict[str, str]
) -> None:
    response = client.post(
        "/sign-out",
        headers=bearer(phone["access_token"]),
        json={"refresh_token": phone["refresh_token"]},
    )

    assert response.status_code == 204
    assert refresh_status(client, phone) == 401


@pytest.mark.parametrize(
    "refresh_token",
    [
        pytest.param("A" * 43, id="well-formed-unknown"),
        pytest.param("junk", id="junk"),
        pytest.param("", id="empty"),
    ],
)
def test_sign_out_with_an_unknown_refresh_token_answers_204(
    client: TestClient, refresh_token: str
) -> None:
    response = client.post("/sign-out", json={"refresh_token": refresh_token})

    assert response.status_code == 204


@pytest.mark.parametrize("kind", ["access-token", "long-junk"])
def test_sign_out_with_an_over_long_refresh_token_answers_204_or_401(
    client: TestClient, phone: dict[str, str], kind: str
) -> None:
    """The contract allows 204 or 401 for a token that is not a refresh token; not 422."""
    presented = phone["access_token"] if kind == "access-token" else "x" * 600

    response = client.post("/sign-out", json={"refresh_token": presented})

    assert response.status_code in {204, 401}


def test_sign_out_twice_with_the_same_refresh_token_answers_204(
    client: TestClient, phone: dict[str, str]
) -> None:
    client.post("/sign-out", json={"refresh_token": phone["refresh_token"]})

    response = client.post("/sign-out", json={"refresh_token": phone["refresh_token"]})

    assert response.status_code == 204


@pytest.mark.parametrize(
    "request_args",
    [
        pytest.param({}, id="no-body"),
        pytest.param({"json": {}}, id="empty-object"),
        pytest.param({"json": {"refresh_token": None}}, id="null-token"),
        pytest.param({"headers": {"Authorization": "Basic YWRhOnBhc3N3b3Jk"}}, id="basic-scheme"),
    ],
)
def test_sign_out_without_credentials_answers_401(
    client: TestClient, request_args: dict[str, object]
) -> None:
    response = client.post("/sign-out", **request_args)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_sign_out_with_an_invalid_bearer_token_and_no_refresh_token_answers_401(
    client: TestClient,
) -> None:
    response = client.post("/sign-out", headers=bearer("garbage"))

    assert_refused_as_invalid_token(response)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000, id="deeply-nested"),
        pytest.param(b'{"refresh_token": ', id="malformed"),
        pytest.param(b'{"refresh_token": "\\ud800"}', id="lone-surrogate"),
        pytest.param(b'{"refresh_token": 42}', id="number"),
    ],
)
def test_sign_out_answers_unreadable_bodies_with_a_client_error(
    client: TestClient, phone: dict[str, str], body: bytes
) -> None:
    response = client.post(
        "/sign-out",
        content=body,
        headers={**bearer(phone["access_token"]), "Content-Type": "application/json"},
    )

    assert 400 <= response.status_code < 500


def test_sign_out_leaves_the_users_other_session_working(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    client.post("/sign-out", headers=bearer(phone["access_token"]))

    assert client.get("/test", headers=bearer(laptop["access_token"])).status_code == 200
    assert refresh_status(client, laptop) == 200


# -- /sign-out-all -----------------------------------------------------------


def test_sign_out_all_answers_204(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    response = client.post("/sign-out-all", headers=bearer(phone["access_token"]))

    assert response.status_code == 204


@pytest.mark.parametrize("session", ["phone", "laptop"])
def test_sign_out_all_refuses_every_sessions_access_token(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str], session: str
) -> None:
    client.post("/sign-out-all", headers=bearer(phone["access_token"]))
    signed_in = {"phone": phone, "laptop": laptop}[session]

    response = client.get("/test", headers=bearer(signed_in["access_token"]))

    assert_refused_as_invalid_token(response)


@pytest.mark.parametrize("session", ["phone", "laptop"])
def test_sign_out_all_ends_every_sessions_refresh_token(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str], session: str
) -> None:
    client.post("/sign-out-all", headers=bearer(phone["access_token"]))

    assert refresh_status(client, {"phone": phone, "laptop": laptop}[session]) == 401


def test_sign_out_all_leaves_other_users_alone(client: TestClient, phone: dict[str, str]) -> None:
    bob = sign_up_and_in(client, "bob@example.com")

    client.post("/sign-out-all", headers=bearer(phone["access_token"]))

    assert client.get("/test", headers=bearer(bob["access_token"])).status_code == 200


def test_sign_out_all_lets_the_user_sign_in_again(
    client: TestClient, phone: dict[str, str]
) -> None:
    client.post("/sign-out-all", headers=bearer(phone["access_token"]))

    fresh = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD}).json()

    assert client.get("/test", headers=bearer(fresh["access_token"])).status_code == 200


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        pytest.param({}, "Bearer", id="no-token"),
        pytest.param(bearer("garbage"), INVALID_TOKEN, id="garbage-token"),
    ],
)
def test_sign_out_all_without_a_valid_token_answers_401(
    client: TestClient, headers: dict[str, str], challenge: str
) -> None:
    response = client.post("/sign-out-all", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge


def test_sign_out_all_refuses_a_refresh_token_alone(
    client: TestClient, phone: dict[str, str]
) -> None:
    response = client.post("/sign-out-all", json={"refresh_token": phone["refresh_token"]})

    assert response.status_code == 401
    assert refresh_status(client, phone) == 200

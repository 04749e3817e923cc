"""The Bearer guard on GET /test and GET /me: 200 for a good token, RFC 6750 401s otherwise."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import PASSWORD, assert_refused_as_invalid_token, bearer, sign_up_and_in

from .helpers import MakeClient

GUARDED = ["/test", "/me"]


@pytest.fixture
def token(client: TestClient) -> str:
    """A fresh access token for ada@example.com."""
    return sign_up_and_in(client)["access_token"]


def test_guard_lets_a_valid_token_through_to_the_tutorial_text(
    client: TestClient, token: str
) -> None:
    response = client.get("/test", headers=bearer(token))

    assert response.status_code == 200
    assert response.text == "Token Verified, Authorizing User..."


def test_guard_accepts_the_scheme_name_in_any_case(client: TestClient, token: str) -> None:
    """RFC 7235 §2.1: the auth-scheme is case-insensitive."""
    response = client.get("/test", headers={"Authorization": f"bearer {token}"})

    assert response.status_code == 200


def test_me_returns_the_user_sign_up_created(client: TestClient) -> None:
    created = client.post("/sign-up", json={"email": "ada@example.com", "password": PASSWORD})
    signed_in = client.post("/sign-in", json={"email": "ada@example.com", "password": PASSWORD})

    response = client.get("/me", headers=bearer(signed_in.json()["access_token"]))

    assert response.status_code == 200
    assert response.json() == {**created.json(), "email_verified": False}


def test_me_answers_for_the_token_holder_not_another_user(client: TestClient) -> None:
    sign_up_and_in(client, "ada@example.com")
    bob = sign_up_and_in(client, "bob@example.com")

    response = client.get("/me", headers=bearer(bob["access_token"]))

    assert response.json()["email"] == "bob@example.com"


# -- no credentials: 401 with a bare Bearer challenge -------------------------

NO_BEARER = [
    pytest.param({}, id="no-authorization"),
    pytest.param({"Authorization": ""}, id="empty-authorization"),
    pytest.param({"Authorization": "Basic YWRhOnBhc3N3b3Jk"}, id="basic-scheme"),
    pytest.param({"Authorization": "Token abc"}, id="other-scheme"),
]


@pytest.mark.parametrize("headers", NO_BEARER)
def test_guard_answers_a_request_without_a_bearer_token_with_401(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/test", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_guard_answers_a_bearer_scheme_without_a_token_with_401(client: TestClient) -> None:
    response = client.get("/test", headers={"Authorization": "Bearer "})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", GUARDED)
def test_guard_challenges_a_request_without_credentials_with_no_error_code(
    client: TestClient, path: str
) -> None:
    """RFC 6750 §3.1: no error attribute when the request carried no credentials."""
    response = client.get(path)

    assert response.headers["WWW-Authenticate"] == "Bearer"


# -- invalid tokens: 401 with error="invalid_token" ---------------------------


@dataclasses.dataclass(frozen=True)
class Scene:
    """What a forgery may draw on: the sign-in response, the clock, the settings."""

    signed_in: dict[str, str]
    clock: FrozenClock
    settings: Settings
    tmp_path: Path

    @property
    def token(self) -> str:
        return self.signed_in["access_token"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def garbage(scene: Scene) -> str:
    return "garbage"


def three_empty_segments(scene: Scene) -> str:
    return ".."


def payload_edited_after_signing(scene: Scene) -> str:
    header, payload, signature = scene.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


def signature_removed(scene: Scene) -> str:
    header, payload, _ = scene.token.split(".")
    return f"{header}.{payload}."


def alg_none(scene: Scene) -> str:
    _, payload, _ = scene.token.split(".")
    header = b64(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    return f"{header}.{payload}."


def expired_beyond_leeway(scene: Scene) -> str:
    scene.clock.advance(900 + 10 + 1)
    return scene.token


def signed_by_another_server(scene: Scene) -> str:
    other = dataclasses.replace(
        scene.settings, database_url=f"sqlite:///{scene.tmp_path / 'other.db'}"
    )
    with TestClient(create_app(other, clock=scene.clock, preset=FAST_FOR_TESTS)) as elsewhere:
        return sign_up_and_in(elsewhere)["access_token"]


def refresh_token_presented_as_access(scene: Scene) -> str:
    return scene.signed_in["refresh_token"]


FORGERIES = [
    pytest.param(garbage, id="garbage"),
    pytest.param(three_empty_segments, id="empty-segments"),
    pytest.param(payload_edited_after_signing, id="tampered-payload"),
    pytest.param(signature_removed, id="signature-removed"),
    pytest.param(alg_none, id="alg-none"),
    pytest.param(expired_beyond_leeway, id="expired"),
    pytest.param(signed_by_another_server, id="unknown-kid"),
    pytest.param(refresh_token_presented_as_access, id="refresh-token"),
]


# /test carries the whole table; /me, which shares the guard, a sample of it.
GUARD_CASES = [
    *(pytest.param("/test", *row.values, id=f"/test-{row.id}") for row in FORGERIES),
    *(
        pytest.param("/me", *row.values, id=f"/me-{row.id}")
        for row in FORGERIES
        if row.id in {"garbage", "tampered-payload", "expired"}
    ),
]


@pytest.mark.parametrize(("path", "forge"), GUARD_CASES)
def test_guard_refuses_an_invalid_token_with_401_invalid_token(
    client: TestClient,
    clock: FrozenClock,
    settings: Settings,
    tmp_path: Path,
    path: str,
    forge: Callable[[Scene], str],
) -> None:
    presented = forge(Scene(sign_up_and_in(client), clock, settings, tmp_path))

    response = client.get(path, headers=bearer(presented))

    assert_refused_as_invalid_token(response)
    assert response.json()["error"] == "invalid_token"


def test_guard_still_accepts_a_token_just_past_expiry_within_the_leeway(
    client: TestClient, token: str, clock: FrozenClock
) -> None:
    clock.advance(900 + 5)

    assert client.get("/test", headers=bearer(token)).status_code == 200


def test_guard_refuses_a_token_from_another_issuer(token: str, make_client: MakeClient) -> None:
    """Same keys (same database), another `iss` setting: the token is not for this server."""
    elsewhere = make_client(issuer="https://elsewhere.example")

    response = elsewhere.get("/test", headers=bearer(token))

    assert_refused_as_invalid_token(response)


def test_guard_refuses_a_token_for_another_audience(token: str, make_client: MakeClient) -> None:
    elsewhere = make_client(audience="another-api")

    response = elsewhere.get("/test", headers=bearer(token))

    assert_refused_as_invalid_token(response)

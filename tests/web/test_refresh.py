"""POST /token: rotation, the grace window, reuse detection and invalid_grant."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from helpers import PASSWORD, assert_refused_as_invalid_token, bearer, sign_up_and_in

from .helpers import RETRY_AFTER_SECONDS, MakeClient, jwt_claims

DAY = 24 * 3600
GRACE = 10


def rotate(client: TestClient, refresh_token: str) -> dict[str, str]:
    """Trade `refresh_token` at /token; return the 200 body."""
    response = client.post("/token", json={"refresh_token": refresh_token})
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


@pytest.fixture
def signed_in(client: TestClient) -> dict[str, str]:
    return sign_up_and_in(client)


def test_refresh_answers_200_with_a_new_token_pair(
    client: TestClient, signed_in: dict[str, str]
) -> None:
    response = client.post("/token", json={"refresh_token": signed_in["refresh_token"]})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)


def test_refresh_rotates_the_refresh_token(client: TestClient, signed_in: dict[str, str]) -> None:
    rotated = rotate(client, signed_in["refresh_token"])

    assert rotated["refresh_token"] != signed_in["refresh_token"]


def test_refresh_issues_an_access_token_that_passes_the_guard(
    client: TestClient, signed_in: dict[str, str], clock: FrozenClock
) -> None:
    clock.advance(60)

    rotated = rotate(client, signed_in["refresh_token"])

    assert rotated["access_token"] != signed_in["access_token"]
    assert client.get("/test", headers=bearer(rotated["access_token"])).status_code == 200


def test_refresh_successor_can_be_rotated_in_turn(
    client: TestClient, signed_in: dict[str, str]
) -> None:
    second = rotate(client, signed_in["refresh_token"])

    response = client.post("/token", json={"refresh_token": second["refresh_token"]})

    assert response.status_code == 200


def test_refresh_accepts_the_tutorials_token_key(
    client: TestClient, signed_in: dict[str, str]
) -> None:
    response = client.post("/token", json={"token": signed_in["refresh_token"]})

    assert response.status_code == 200
    assert response.json()["refresh_token"] != signed_in["refresh_token"]


def test_refresh_forbids_caching_the_tokens(client: TestClient, signed_in: dict[str, str]) -> None:
    response = client.post("/token", json={"refresh_token": signed_in["refresh_token"]})

    assert response.headers["Cache-Control"] == "no-store"


def test_refresh_keeps_the_session_of_the_refresh_token(
    client: TestClient, signed_in: dict[str, str]
) -> None:
    rotated = rotate(client, signed_in["refresh_token"])

    assert (
        jwt_claims(rotated["access_token"])["sid"] == jwt_claims(signed_in["access_token"])["sid"]
    )


def test_refresh_takes_identity_from_the_session_not_the_body(client: TestClient) -> None:
    """The tutorial read the e-mail from the request body; authgate ignores such fields."""
    ada = sign_up_and_in(client, "ada@example.com")
    bob = sign_up_and_in(client, "bob@example.com")
    bob_claims = jwt_claims(bob["access_token"])

    response = client.post(
        "/token",
        json={
            "refresh_token": ada["refresh_token"],
            "email": "bob@example.com",
            "sub": bob_claims["sub"],
            "sid": bob_claims["sid"],
        },
    )

    claims = jwt_claims(response.json()["access_token"])
    ada_claims = jwt_claims(ada["access_token"])
    assert (claims["sub"], claims["email"], claims["sid"]) == (
        ada_claims["sub"],
        "ada@example.com",
        ada_claims["sid"],
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty-object"),
        pytest.param({"refresh": "x" * 43}, id="misspelt-field"),
        pytest.param({"refresh_token": None}, id="null"),
        pytest.param({"refresh_token": 12345}, id="number"),
        pytest.param({"refresh_token": ["x" * 43]}, id="list"),
        pytest.param({"email": "ada@example.com"}, id="email-only"),
    ],
)
def test_refresh_refuses_a_missing_or_wrong_typed_field_with_422(
    client: TestClient, body: dict[str, object]
) -> None:
    response = client.post("/token", json=body)

    assert response.status_code == 422
    assert set(response.json()) == {"error", "detail"}


def test_refresh_refuses_malformed_json_with_422(client: TestClient) -> None:
    response = client.post(
        "/token", content=b'{"refresh_token": ', headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422


# -- invalid_grant -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scene:
    client: TestClient
    signed_in: dict[str, str]
    clock: FrozenClock


def unknown(scene: Scene) -> str:
    return "A" * 43  # the shape of a real refresh token, but never issued


def junk(scene: Scene) -> str:
    return "junk"


def long_junk(scene: Scene) -> str:
    return "x" * 600


def empty(scene: Scene) -> str:
    return ""


def with_a_character_changed(scene: Scene) -> str:
    token = scene.signed_in["refresh_token"]
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def past_the_absolute_lifetime(scene: Scene) -> str:
    scene.clock.advance(30 * DAY + 1)
    return scene.signed_in["refresh_token"]


def idle_too_long(scene: Scene) -> str:
    scene.clock.advance(7 * DAY + 1)
    return scene.signed_in["refresh_token"]


def already_rotated(scene: Scene) -> str:
    rotate(scene.client, scene.signed_in["refresh_token"])
    scene.clock.advance(GRACE + 1)
    return scene.signed_in["refresh_token"]


def signed_out(scene: Scene) -> str:
    scene.client.post("/sign-out", headers=bearer(scene.signed_in["access_token"]))
    return scene.signed_in["refresh_token"]


def an_access_token(scene: Scene) -> str:
    return scene.signed_in["access_token"]


REFUSED_GRANTS = [
    pytest.param(unknown, id="unknown"),
    pytest.param(junk, id="junk"),
    pytest.param(long_junk, id="long-junk"),
    pytest.param(empty, id="empty"),
    pytest.param(with_a_character_changed, id="altered"),
    pytest.param(past_the_absolute_lifetime, id="expired"),
    pytest.param(idle_too_long, id="idle-timeout"),
    pytest.param(already_rotated, id="reused"),
    pytest.param(signed_out, id="signed-out"),
    pytest.param(an_access_token, id="access-token"),
]


@pytest.mark.parametrize("spoil", REFUSED_GRANTS)
def test_refresh_refuses_a_bad_refresh_token_with_401_invalid_grant(
    client: TestClient,
    signed_in: dict[str, str],
    clock: FrozenClock,
    spoil: Callable[[Scene], str],
) -> None:
    presented = spoil(Scene(client, signed_in, clock))

    response = client.post("/token", json={"refresh_token": presented})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_grant"


def test_refresh_works_until_the_idle_timeout(
    client: TestClient, signed_in: dict[str, str], clock: FrozenClock
) -> None:
    clock.advance(7 * DAY - 60)

    assert client.post("/token", json={"refresh_token": signed_in["refresh_token"]}).is_success


def test_refresh_ends_at_the_absolute_lifetime_even_when_recently_used(
    make_client: MakeClient, clock: FrozenClock
) -> None:
    """A session refreshed a minute ago still ends 30 days after sign-in."""
    lax = make_client(session_idle_timeout=timedelta(days=60))
    token = sign_up_and_in(lax)["refresh_token"]
    clock.advance(30 * DAY - 60)
    token = rotate(lax, token)["refresh_token"]
    clock.advance(61)

    assert lax.post("/token", json={"refresh_token": token}).status_code == 401


# -- reuse detection and the grace window --------------------------------------


@pytest.fixture
def rotated(client: TestClient, signed_in: dict[str, str]) -> dict[str, str]:
    """The body of the first rotation of `signed_in`'s refresh token."""
    return rotate(client, signed_in["refresh_token"])


def reuse_after_grace(client: TestClient, clock: FrozenClock, old_refresh_token: str) -> int:
    clock.advance(GRACE + 1)
    return client.post("/token", json={"refresh_token": old_refresh_token}).status_code


def test_refresh_reuse_after_the_grace_window_is_refused(
    client: TestClient, clock: FrozenClock, signed_in: dict[str, str], rotated: dict[str, str]
) -> None:
    assert reuse_after_grace(client, clock, signed_in["refresh_token"]) == 401


def test_refresh_reuse_after_the_grace_window_revokes_the_successor(
    client: TestClient, clock: FrozenClock, signed_in: dict[str, str], rotated: dict[str, str]
) -> None:
    reuse_after_grace(client, clock, signed_in["refresh_token"])

    response = client.post("/token", json={"refresh_token": rotated["refresh_token"]})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("which", ["signed_in", "rotated"])
def test_refresh_reuse_after_the_grace_window_revokes_the_sessions_access_tokens(
    client: TestClient,
    clock: FrozenClock,
    signed_in: dict[str, str],
    rotated: dict[str, str],
    which: str,
) -> None:
    access_token = {"signed_in": signed_in, "rotated": rotated}[which]["access_token"]
    reuse_after_grace(client, clock, signed_in["refresh_token"])

    response = client.get("/test", headers=bearer(access_token))

    assert_refused_as_invalid_token(response)


def test_refresh_reuse_leaves_the_users_other_sessions_alone(
    client: TestClient, clock: FrozenClock, signed_in: dict[str, str], rotated: dict[str, str]
) -> None:
    laptop = client.post("/sign-in", json={"email": "ada@example.com", "password": PASSWORD})
    reuse_after_grace(client, clock, signed_in["refresh_token"])

    response = client.post("/token", json={"refresh_token": laptop.json()["refresh_token"]})

    assert response.status_code == 200


def test_refresh_retry_inside_the_grace_window_returns_the_same_successor(
    client: TestClient, clock: FrozenClock, signed_in: dict[str, str], rotated: dict[str, str]
) -> None:
    clock.advance(GRACE - 1)

    retried = rotate(client, signed_in["refresh_token"])

    assert retried["refresh_token"] == rotated["refresh_token"]


def test_refresh_retry_inside_the_grace_window_keeps_the_session_alive(
    client: TestClient, clock: FrozenClock, signed_in: dict[str, str], rotated: dict[str, str]
) -> None:
    clock.advance(GRACE - 1)
    rotate(client, signed_in["refresh_token"])

    response = client.post("/token", json={"refresh_token": rotated["refresh_token"]})

    assert response.status_code == 200


def test_refresh_reuse_with_the_grace_window_disabled_is_refused_at_once(
    make_client: MakeClient,
) -> None:
    strict = make_client(refresh_reuse_grace=timedelta(0))
    first = sign_up_and_in(strict)["refresh_token"]
    rotate(strict, first)

    assert strict.post("/token", json={"refresh_token": first}).status_code == 401


# -- throttle ------------------------------------------------------------------


def test_refresh_is_throttled_per_ip_with_429_and_retry_after(make_client: MakeClient) -> None:
    strict = make_client(throttle_token="2/minute")
    token = sign_up_and_in(strict)["refresh_token"]
    token = rotate(strict, token)["refresh_token"]
    token = rotate(strict, token)["refresh_token"]

    response = strict.post("/token", json={"refresh_token": token})

    assert response.status_code == 429
    assert RETRY_AFTER_SECONDS.fullmatch(response.headers["Retry-After"])

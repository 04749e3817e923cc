"""GET /sessions and DELETE /sessions/{id}: a user's live sessions, and ending one of them."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from helpers import INVALID_TOKEN, PASSWORD, assert_refused_as_invalid_token, bearer, sign_up_and_in

from .helpers import jwt_claims

EMAIL = "ada@example.com"
FIELDS = {"id", "created_at", "last_used_at", "ip", "user_agent", "current"}


def session_id(signed_in: dict[str, str]) -> str:
    sid: str = jwt_claims(signed_in["access_token"])["sid"]
    return sid


@pytest.fixture
def phone(client: TestClient) -> dict[str, str]:
    """Ada's first session, started from a phone."""
    client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    response = client.post(
        "/sign-in",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"User-Agent": "Phone/1.0"},
    )
    body: dict[str, str] = response.json()
    return body


@pytest.fixture
def laptop(client: TestClient, clock: FrozenClock, phone: dict[str, str]) -> dict[str, str]:
    """Ada's second session, started a minute later from a laptop."""
    clock.advance(60)
    response = client.post(
        "/sign-in",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"User-Agent": "Laptop/2.0"},
    )
    body: dict[str, str] = response.json()
    return body


def sessions(client: TestClient, signed_in: dict[str, str]) -> list[dict[str, object]]:
    response = client.get("/sessions", headers=bearer(signed_in["access_token"]))
    assert response.status_code == 200
    listed: list[dict[str, object]] = response.json()
    return listed


def test_sessions_lists_each_live_session_with_its_details(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    listed = sessions(client, phone)

    assert [set(s) for s in listed] == [FIELDS, FIELDS]
    assert {s["id"] for s in listed} == {session_id(phone), session_id(laptop)}


def test_sessions_marks_exactly_the_callers_session_as_current(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    listed = sessions(client, laptop)

    assert [s["id"] for s in listed if s["current"]] == [session_id(laptop)]


def test_sessions_reports_the_user_agent_and_ip_of_each_sign_in(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    listed = sessions(client, phone)

    assert {(s["user_agent"], s["ip"]) for s in listed} == {
        ("Phone/1.0", "testclient"),
        ("Laptop/2.0", "testclient"),
    }


def test_sessions_reports_when_each_session_started(
    client: TestClient, clock: FrozenClock, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    by_agent = {s["user_agent"]: s for s in sessions(client, phone)}

    started = datetime.fromisoformat(str(by_agent["Laptop/2.0"]["created_at"]))
    assert started == clock()
    assert datetime.fromisoformat(str(by_agent["Phone/1.0"]["created_at"])) < started


def test_sessions_moves_last_used_forward_on_refresh(
    client: TestClient, clock: FrozenClock, phone: dict[str, str]
) -> None:
    clock.advance(3600)
    rotated = client.post("/token", json={"refresh_token": phone["refresh_token"]}).json()

    (listed,) = sessions(client, rotated)

    assert datetime.fromisoformat(str(listed["last_used_at"])) == clock()
    assert datetime.fromisoformat(str(listed["created_at"])) < clock()


def test_sessions_lists_only_the_callers_own_sessions(
    client: TestClient, phone: dict[str, str]
) -> None:
    bob = sign_up_and_in(client, "bob@example.com")

    assert [s["id"] for s in sessions(client, bob)] == [session_id(bob)]


def test_sessions_omits_a_signed_out_session(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    client.post("/sign-out", headers=bearer(phone["access_token"]))

    assert [s["id"] for s in sessions(client, laptop)] == [session_id(laptop)]


# -- DELETE /sessions/{id} ---------------------------------------------------


def end(client: TestClient, caller: dict[str, str], target: str) -> int:
    return client.delete(f"/sessions/{target}", headers=bearer(caller["access_token"])).status_code


def test_deleting_my_other_session_answers_204(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    assert end(client, laptop, session_id(phone)) == 204


def test_deleting_a_session_removes_it_from_the_list(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    end(client, laptop, session_id(phone))

    assert [s["id"] for s in sessions(client, laptop)] == [session_id(laptop)]


def test_deleting_a_session_refuses_its_access_token_on_the_next_request(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    end(client, laptop, session_id(phone))

    response = client.get("/test", headers=bearer(phone["access_token"]))

    assert_refused_as_invalid_token(response)


def test_deleting_a_session_ends_its_refresh_token(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    end(client, laptop, session_id(phone))

    response = client.post("/token", json={"refresh_token": phone["refresh_token"]})

    assert response.status_code == 401


def test_deleting_a_session_leaves_the_callers_session_working(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    end(client, laptop, session_id(phone))

    assert client.get("/test", headers=bearer(laptop["access_token"])).status_code == 200


def test_deleting_an_already_ended_session_answers_404(
    client: TestClient, phone: dict[str, str], laptop: dict[str, str]
) -> None:
    end(client, laptop, session_id(phone))

    assert end(client, laptop, session_id(phone)) == 404


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("00000000-0000-0000-0000-000000000000", id="unknown-uuid"),
        pytest.param("not-a-session", id="junk"),
    ],
)
def test_deleting_an_unknown_session_answers_404(
    client: TestClient, phone: dict[str, str], target: str
) -> None:
    response = client.delete(f"/sessions/{target}", headers=bearer(phone["access_token"]))

    assert response.status_code == 404
    assert set(response.json()) == {"error", "detail"}


def test_deleting_another_users_session_answers_404(
    client: TestClient, phone: dict[str, str]
) -> None:
    bob = sign_up_and_in(client, "bob@example.com")

    assert end(client, phone, session_id(bob)) == 404


def test_deleting_another_users_session_leaves_it_working(
    client: TestClient, phone: dict[str, str]
) -> None:
    bob = sign_up_and_in(client, "bob@example.com")

    end(client, phone, session_id(bob))

    assert client.get("/test", headers=bearer(bob["access_token"])).status_code == 200
    assert client.post("/token", json={"refresh_token": bob["refresh_token"]}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/sessions", id="list"),
        pytest.param("DELETE", "/sessions/00000000-0000-0000-0000-000000000000", id="delete"),
    ],
)
@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        pytest.param({}, "Bearer", id="no-token"),
        pytest.param(bearer("garbage"), INVALID_TOKEN, id="garbage-token"),
    ],
)
def test_sessions_routes_need_a_valid_bearer_token(
    client: TestClient, method: str, path: str, headers: dict[str, str], challenge: str
) -> None:
    response = client.request(method, path, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge

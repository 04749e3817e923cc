"""Throttles counted in Redis: every app on it shares the limits; a Redis outage fails closed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from helpers import PASSWORD, sign_up_and_in
from services import Redis, free_port

from .helpers import RETRY_AFTER_SECONDS, MakeClient


def failed_sign_in(client: TestClient, email: str = "ada@example.com") -> int:
    body = {"email": email, "password": "not the password"}
    return client.post("/sign-in", json=body).status_code


def test_two_apps_on_one_redis_share_the_account_throttle(
    make_client: MakeClient, redis_server: Redis
) -> None:
    redis_server.flush()
    a = make_client(redis_url=redis_server.url, throttle_sign_in_account="4/minute")
    b = make_client(redis_url=redis_server.url, throttle_sign_in_account="4/minute")
    sign_up_and_in(a)

    statuses = [failed_sign_in(client) for client in (a, b, a, b)]
    assert statuses == [401] * 4

    for client in (a, b):
        refused = client.post("/sign-in", json={"email": "ada@example.com", "password": PASSWORD})
        assert refused.status_code == 429
        assert RETRY_AFTER_SECONDS.fullmatch(refused.headers["Retry-After"])


def test_apps_counting_in_memory_do_not_share(make_client: MakeClient) -> None:
    """The contrast that makes the test above mean something."""
    a = make_client(throttle_sign_in_account="2/minute")
    b = make_client(throttle_sign_in_account="2/minute")
    sign_up_and_in(a)

    assert [failed_sign_in(client) for client in (a, a, b, b)] == [401] * 4


def test_an_unreachable_redis_refuses_sign_in_with_503_and_leaves_the_guard_alone(
    make_client: MakeClient, client: TestClient
) -> None:
    tokens = sign_up_and_in(client)
    down = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")

    response = down.post("/sign-in", json={"email": "ada@example.com", "password": PASSWORD})

    assert response.status_code == 503
    assert response.json()["error"] == "overloaded"
    assert RETRY_AFTER_SECONDS.fullmatch(response.headers["Retry-After"])
    guarded = down.get("/test", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert guarded.status_code == 200

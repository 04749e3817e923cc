"""Two authgate instances on one PostgreSQL and one Redis, as behind a load balancer.

Real `authgate serve` processes on two ports. The catch-up poll is set to a minute, so a
revocation that reaches the other instance within a second got there by Redis pub/sub or
by PostgreSQL LISTEN/NOTIFY, not by polling.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from helpers import PASSWORD, new_postgres_database
from servers import Server
from services import Redis

pytestmark = pytest.mark.postgresql  # each pair of instances shares a PostgreSQL database

SLOW_POLL = "60"


def instances(
    tmp_path: Path, request: pytest.FixtureRequest, *, redis: Redis | None, **extra: str
) -> Iterator[tuple[Server, Server]]:
    settings = {
        "AUTHGATE_DATABASE_URL": new_postgres_database(request),
        "AUTHGATE_REVOCATION_POLL_INTERVAL": SLOW_POLL,
        "AUTHGATE_THROTTLE_SIGN_IN_IP": "1000/minute",
        "AUTHGATE_THROTTLE_SIGN_UP": "1000/minute",
        "AUTHGATE_THROTTLE_TOKEN": "10000/minute",
        **extra,
    }
    if redis is not None:
        redis.flush()
        settings["AUTHGATE_REDIS_URL"] = redis.url
    a = Server(tmp_path / "a", settings)
    b = Server(tmp_path / "b", settings)
    with a, b:
        yield a, b


@pytest.fixture(params=["redis", "listen-notify"])
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: Redis
) -> Iterator[tuple[Server, Server]]:
    """Instances A and B, announcing revocations through Redis or through PostgreSQL."""
    redis = redis_server if request.param == "redis" else None
    yield from instances(tmp_path, request, redis=redis)


@pytest.fixture
def redis_pair(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: Redis
) -> Iterator[tuple[Server, Server]]:
    yield from instances(tmp_path, request, redis=redis_server)


def sign_in(server: Server, email: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(f"{server.url}/sign-in", json={"email": email, "password": password})


def sign_up_and_in(server: Server, email: str) -> dict[str, str]:
    created = httpx.post(f"{server.url}/sign-up", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    response = sign_in(server, email)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def guarded(server: Server, token: str, client: httpx.Client | None = None) -> int:
    get = client.get if client is not None else httpx.get
    return get(f"{server.url}/test", headers={"Authorization": f"Bearer {token}"}).status_code


def seconds_until_refused(server: Server, token: str, *, limit: float = 5.0) -> float:
    """Ask `server` again and again until it refuses `token`; return how long that took."""
    start = time.perf_counter()
    with httpx.Client() as client:
        while guarded(server, token, client) != 401:
            if time.perf_counter() - start > limit:
                return float("inf")
        return time.perf_counter() - start


def test_sign_out_on_one_instance_is_refused_by_the_other_within_a_second(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    delays = []
    for n in range(5):
        tokens = sign_up_and_in(a, f"user{n}@example.com")
        assert guarded(b, tokens["access_token"]) == 200
        signed_out = httpx.post(
            f"{a.url}/sign-out", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert signed_out.status_code == 204
        delays.append(seconds_until_refused(b, tokens["access_token"]))

    assert max(delays) < 1.0, delays


def test_a_user_disabled_from_the_command_line_is_refused_by_both_instances(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    tokens = sign_up_and_in(b, "ada@example.com")
    assert guarded(a, tokens["access_token"]) == 200

    a.command("users", "disable", "ada@example.com")

    assert seconds_until_refused(a, tokens["access_token"]) < 1.0
    assert seconds_until_refused(b, tokens["access_token"]) < 1.0


def test_sessions_ended_from_the_command_line_are_refused_by_both_instances(
    pair: tuple[Server, Server],
) -> None:
    """`users sign-out` ends one user's sessions, then `sessions end-all` everyone's."""
    a, b = pair
    ada = sign_up_and_in(b, "ada@example.com")
    grace = sign_up_and_in(a, "grace@example.com")

    assert "ended 1 session(s)" in a.command("users", "sign-out", "ada@example.com").stdout

    assert seconds_until_refused(a, ada["access_token"]) < 1.0
    assert seconds_until_refused(b, ada["access_token"]) < 1.0
    assert guarded(a, grace["access_token"]) == 200
    assert guarded(b, grace["access_token"]) == 200

    assert "ended 1 session(s)" in b.command("sessions", "end-all", "--yes").stdout

    assert seconds_until_refused(a, grace["access_token"]) < 1.0
    assert seconds_until_refused(b, grace["access_token"]) < 1.0


def test_a_session_ended_by_the_session_limit_is_refused_by_the_other_instance_within_a_second(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pair = instances(tmp_path, request, redis=None, AUTHGATE_MAX_SESSIONS_PER_USER="1")
    a, b = next(pair)
    try:
        first = sign_up_and_in(a, "ada@example.com")
        assert guarded(b, first["access_token"]) == 200

        assert sign_in(a, "ada@example.com").status_code == 200

        assert seconds_until_refused(b, first["access_token"]) < 1.0
    finally:
        pair.close()


def test_failed_sign_ins_spread_over_both_instances_trigger_the_account_throttle(
    redis_pair: tuple[Server, Server],
) -> None:
    """The default is five failures a minute per account, counted in Redis by both."""
    a, b = redis_pair
    sign_up_and_in(a, "ada@example.com")

    failures = [sign_in(server, "ada@example.com", "wrong password!") for server in (a, b) * 3]
    statuses = [r.status_code for r in failures]

    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    for server in (a, b):  # the right password is refused too, on either instance
        refused = sign_in(server, "ada@example.com")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1


def test_a_refresh_race_split_over_both_instances_yields_one_successor_per_session(
    pair: tuple[Server, Server],
) -> None:
    """20 sessions, each refreshed by 6 clients at once, half on A and half on B."""
    a, b = pair
    sessions = [sign_up_and_in(a, f"racer{n}@example.com") for n in range(20)]

    def refresh(job: tuple[int, Server]) -> tuple[int, int, str | None]:
        n, server = job
        response = httpx.post(
            f"{server.url}/token", json={"refresh_token": sessions[n]["refresh_token"]}
        )
        return n, response.status_code, response.json().get("refresh_token")

    jobs = [(n, server) for n in range(len(sessions)) for server in (a, b, a, b, a, b)]
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(refresh, jobs))

    for n in range(len(sessions)):
        answers = [(status, token) for m, status, token in results if m == n]
        assert {status for status, _ in answers} == {200}  # retries inside the grace window
        successors = {token for _, token in answers}
        assert len(successors) == 1  # one successor, not a branch per instance
        (successor,) = successors
        assert successor is not None
        moved_on = httpx.post(f"{b.url}/token", json={"refresh_token": successor})
        assert moved_on.status_code == 200


def test_without_a_grace_window_exactly_one_of_the_racers_wins(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: Redis
) -> None:
    pair = instances(tmp_path, request, redis=redis_server, AUTHGATE_REFRESH_REUSE_GRACE="0")
    a, b = next(pair)
    try:
        sessions = [sign_up_and_in(a, f"racer{n}@example.com") for n in range(10)]

        def refresh(job: tuple[int, Server]) -> tuple[int, int]:
            n, server = job
            token = sessions[n]["refresh_token"]
            response = httpx.post(f"{server.url}/token", json={"refresh_token": token})
            return n, response.status_code

        jobs = [(n, server) for n in range(len(sessions)) for server in (a, b, a, b)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(refresh, jobs))

        for n in range(len(sessions)):
            statuses = sorted(status for m, status in results if m == n)
            assert statuses.count(200) == 1, statuses
            assert set(statuses) == {200, 401}
    finally:
        pair.close()

"""Concurrent guesses at one account against real `authgate serve` processes (DESIGN.md §4).

Fifty sign-ins for one account leave 127.0.0.1 at the same instant, forty-nine wrong and
the last right. However they interleave, no more passwords are checked than the per-account
limit allows (its default, 5/minute): each attempt is counted before its password is
checked, not after it failed. Counted in memory by one worker, and in Redis by two.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from helpers import PASSWORD
from servers import Server
from services import Redis

from . import http_client, query

EMAIL = "ada@example.com"
WRONG = "not the password, but as long"
LIMIT = 5  # AUTHGATE_THROTTLE_SIGN_IN_ACCOUNT's default, left as it is
GUESSES = 50
RETRY_AFTER_SECONDS = re.compile(r"[1-9][0-9]*")
OTHER_THROTTLES = {
    "AUTHGATE_THROTTLE_SIGN_UP": "1000/minute",
    "AUTHGATE_THROTTLE_SIGN_IN_IP": "1000/minute",  # every guess comes from 127.0.0.1
}


@pytest.fixture(
    params=["memory-one-worker", pytest.param("redis-two-workers", marks=pytest.mark.redis)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    settings = dict(OTHER_THROTTLES)
    workers = 1
    if request.param == "redis-two-workers":
        redis: Redis = request.getfixturevalue("redis_server")
        redis.flush()
        settings["AUTHGATE_REDIS_URL"] = redis.url
        workers = 2
    with Server(tmp_path_factory.mktemp("race"), settings, workers=workers) as running:
        with http_client(running.url) as http:
            created = http.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
            assert created.status_code == 201, created.text
        yield running


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run every call on its own thread, released together by a barrier; answers in order."""
    barrier = threading.Barrier(len(calls))

    def released(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(released, calls))


def guesses(server: Server) -> list[httpx.Response]:
    """GUESSES - 1 wrong passwords and then the right one, all sent at once."""
    passwords = [WRONG] * (GUESSES - 1) + [PASSWORD]
    clients = [http_client(server.url) for _ in passwords]
    try:
        for client in clients:  # connected before the barrier, so the guesses race
            assert client.get("/health").status_code == 200

        def guess(client: httpx.Client, password: str) -> Callable[[], httpx.Response]:
            return lambda: client.post("/sign-in", json={"email": EMAIL, "password": password})

        return at_once([guess(c, p) for c, p in zip(clients, passwords, strict=True)])
    finally:
        for client in clients:
            client.close()


def failed_checks(server: Server) -> int:
    rows = query(
        server.folder / "authgate.db",
        "SELECT count(*) FROM audit_events WHERE kind = 'sign_in_failed'",
    )
    count: int = rows[0][0]
    return count


def test_concurrent_guesses_at_one_account_check_no_more_passwords_than_the_limit(
    server: Server,
) -> None:
    """The right password, sent last, gets in only if it was counted within the limit."""
    answers = guesses(server)

    statuses = Counter(answer.status_code for answer in answers)
    failed = failed_checks(server)
    assert failed <= LIMIT, f"{failed} wrong passwords checked; answers {statuses}"
    assert set(statuses) <= {200, 401, 429}, statuses
    assert statuses[401] == failed
    checked = statuses[401] + statuses[200]  # a password was checked: refused or let in
    assert checked <= LIMIT, statuses
    assert statuses[429] == GUESSES - checked, statuses
    assert answers[-1].status_code in {200, 429}, answers[-1].text
    for answer in answers:
        if answer.status_code == 429:
            assert RETRY_AFTER_SECONDS.fullmatch(answer.headers["Retry-After"])

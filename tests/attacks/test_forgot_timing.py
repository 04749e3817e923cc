"""POST /password/forgot takes as long for an address with an account as for one without
(DESIGN.md §8: the same answer and the same work either way).

The route answers before it looks the address up: the lookup, the link and the letter
happen after the answer is sent. Measured against a real server, as an attacker would
measure it, with the two kinds taking turns (forward, then backward) and a pause after each
request so that the work behind a known address's answer is done before the next one.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authgate.service import Service
from authgate.settings import Settings
from helpers import PASSWORD, THROTTLES
from servers import Server

pytestmark = pytest.mark.e2e

KNOWN = "ada@example.com"
UNKNOWN = "nobody@example.com"
WARM_UP = 5
ROUNDS = 40  # of each kind; even, so each order comes up as often
PAUSE = 0.03  # seconds after each request: the known address's mail is queued meanwhile
TOLERANCE = 1.15  # slowest median / fastest median


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder: Path = tmp_path_factory.mktemp("forgot-timing")
    with Server(folder, settings=THROTTLES) as running:
        httpx.post(f"{running.url}/sign-up", json={"email": KNOWN, "password": PASSWORD})
        yield running


def forgot_seconds(client: httpx.Client, email: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.post("/password/forgot", json={"email": email})
    seconds = time.perf_counter() - started
    time.sleep(PAUSE)
    return seconds, response


def test_forgot_takes_as_long_with_and_without_an_account(server: Server) -> None:
    kinds = {"account": KNOWN, "no-account": UNKNOWN}
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    answers: dict[str, set[tuple[int, bytes]]] = {kind: set() for kind in kinds}
    with httpx.Client(base_url=server.url) as client:
        for _ in range(WARM_UP):
            for email in kinds.values():
                forgot_seconds(client, email)
        for round_ in range(ROUNDS):
            for kind in list(kinds) if round_ % 2 == 0 else reversed(list(kinds)):
                taken, response = forgot_seconds(client, kinds[kind])
                seconds[kind].append(taken)
                answers[kind].add((response.status_code, response.content))

    assert answers["account"] == answers["no-account"]
    assert {status for status, _ in answers["account"]} == {202}
    medians = {kind: statistics.median(taken) for kind, taken in seconds.items()}
    described = ", ".join(f"{kind}: {median * 1000:.2f} ms" for kind, median in medians.items())
    print(f"POST /password/forgot medians: {described}")  # shown with pytest -s
    assert max(medians.values()) / min(medians.values()) < TOLERANCE, described
    # Mail was queued for the account only: a reset link per request for it.
    service = Service(Settings(database_url=server.env["AUTHGATE_DATABASE_URL"]))
    try:
        queued = [(e.kind, e.recipient) for e in service.outbox(limit=1000)]
    finally:
        service.close()
    assert queued.count(("reset_password", KNOWN)) == WARM_UP + ROUNDS
    assert all(recipient == KNOWN for _, recipient in queued)

"""Two `authgate serve` instances on one PostgreSQL database, one SMTP server: each
message is delivered exactly once, whichever instance queued it and whichever sends it."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, select

from authgate.storage.engine import database_url as engine_url
from authgate.storage.tables import outbox
from helpers import PASSWORD, THROTTLES, new_postgres_database
from servers import Server
from smtp import Mailbox

from . import MAIL_FROM, PUBLIC_URL, WAIT, message_ids

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql]

ACCOUNTS = 40
BACKLOG_WAIT = 120.0


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    return new_postgres_database(request)


@pytest.fixture
def database(database_url: str) -> Iterator[Engine]:
    engine = create_engine(engine_url(database_url))
    yield engine
    engine.dispose()


def settings(database_url: str, mailbox: Mailbox) -> dict[str, str]:
    return {
        "AUTHGATE_DATABASE_URL": database_url,
        "AUTHGATE_SMTP_URL": mailbox.url,
        "AUTHGATE_MAIL_FROM": MAIL_FROM,
        "AUTHGATE_PUBLIC_URL": PUBLIC_URL,
        "AUTHGATE_MAIL_RETRY_DELAY": "1",
        "AUTHGATE_MAIL_MAX_ATTEMPTS": "20",  # the SMTP server is down a while at first
        **THROTTLES,
    }


def states(database: Engine) -> Counter[tuple[str, bool]]:
    """How many envelopes are in each state, split by whether they were tried."""
    with database.connect() as conn:
        rows = conn.execute(select(outbox.c.state, outbox.c.attempts)).all()
    return Counter((state, attempts > 0) for state, attempts in rows)


def wait_for_states(
    database: Engine, expected: dict[tuple[str, bool], int], *, timeout: float = WAIT
) -> None:
    deadline = time.monotonic() + timeout
    while (found := states(database)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"the outbox never reached {expected}: it holds {found}")
        time.sleep(0.1)


def test_two_instances_deliver_every_mail_exactly_once(
    tmp_path: Path, database_url: str, database: Engine, mailbox: Mailbox
) -> None:
    """Sign-ups alternate between the instances while the SMTP server is down; when it is
    back, both senders reach for the same backlog at once."""
    mailbox.stop()
    emails = [f"user{n}@example.com" for n in range(ACCOUNTS)]
    config = settings(database_url, mailbox)
    with Server(tmp_path / "a", config) as a, Server(tmp_path / "b", config) as b:

        def sign_up(job: tuple[Server, str]) -> int:
            server, email = job
            answer = httpx.post(
                f"{server.url}/sign-up", json={"email": email, "password": PASSWORD}, timeout=60
            )
            return answer.status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(sign_up, zip(itertools.cycle((a, b)), emails)))
        assert statuses == [201] * ACCOUNTS
        wait_for_states(database, {("pending", True): ACCOUNTS})  # each tried, none sent

        mailbox.start()  # on the same port
        # Each envelope's next attempt is up to its latest backoff away (1, 2, 4, … s).
        mailbox.wait_for(ACCOUNTS, timeout=BACKLOG_WAIT)
        wait_for_states(database, {("sent", True): ACCOUNTS})

    ids = message_ids(mailbox.messages)
    assert len(ids) == len(set(ids)) == ACCOUNTS
    assert sorted(str(m["To"]) for m in mailbox.messages) == sorted(emails)
    assert mailbox.attempts == ACCOUNTS  # no message was even offered twice

"""Mail is committed with the change it announces: a sign-up acknowledged by a server
that is then SIGKILLed still gets its verification mail from the next server, and its
link works."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from helpers import PASSWORD, THROTTLES
from servers import Server
from smtp import Mailbox, text_of

from . import MAIL_FROM, PUBLIC_URL, WAIT

pytestmark = pytest.mark.e2e

EMAIL = "ada@example.com"
VERIFY_LINK = re.compile(re.escape(PUBLIC_URL) + r"/email/verify\?token=([A-Za-z0-9_-]{43})")


def outbox_rows(folder: Path) -> list[tuple[str, int]]:
    """(state, attempts) of each envelope, read from the server's SQLite file."""
    database = folder / "authgate.db"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return db.execute("SELECT state, attempts FROM outbox").fetchall()


def test_a_sign_up_acknowledged_before_a_kill_9_gets_its_mail_and_its_link_works(
    tmp_path: Path,
) -> None:
    mailbox = Mailbox()  # not listening yet: the first server cannot deliver
    settings = {
        "AUTHGATE_SMTP_URL": mailbox.url,
        "AUTHGATE_MAIL_FROM": MAIL_FROM,
        "AUTHGATE_PUBLIC_URL": PUBLIC_URL,
        "AUTHGATE_MAIL_RETRY_DELAY": "1",
        **THROTTLES,
    }
    folder = tmp_path / "server"
    first = Server(folder, settings).start()
    try:
        answer = httpx.post(
            f"{first.url}/sign-up", json={"email": EMAIL, "password": PASSWORD}, timeout=60
        )
        assert answer.status_code == 201
        # Killed once its sender has tried and failed: a claim in flight would hold the
        # mail for a lease (tests/mail/test_delivery.py covers that case).
        deadline = time.monotonic() + WAIT
        while not ((rows := outbox_rows(folder)) and rows[0][0] == "pending" and rows[0][1]):
            assert time.monotonic() < deadline, f"the first server never tried: {rows}"
            time.sleep(0.05)
    finally:
        first.kill()

    mailbox.start()
    try:
        with Server(folder, settings) as second:
            (message,) = mailbox.wait_for(1, timeout=WAIT)
            (token,) = set(VERIFY_LINK.findall(text_of(message)))
            verified = httpx.post(f"{second.url}/email/verify", json={"token": token})
            assert verified.status_code == 204
    finally:
        mailbox.stop()
    assert message["To"] == EMAIL
    assert outbox_rows(folder) == [("sent", 2)]

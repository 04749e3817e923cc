"""The sender of one app, in process, against a real SMTP server: what arrives, what is
retried, what is given up, and what the outbox keeps afterwards.

The clock is frozen, so a retry is due only when a test moves the clock past it: each test
sees exactly the attempts it arranges.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from authgate.core.clock import FrozenClock
from authgate.core.letters import Envelope, Letter, pack
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.store import Mailing
from authgate.service import Service
from authgate.settings import Secret, Settings
from authgate.storage.tables import outbox
from authgate.web.app import create_app
from authgate.web.sender import LEASE, MAX_BACKOFF, backoff
from helpers import PASSWORD
from smtp import Mailbox, html_of, text_of

from . import MAIL_DOMAIN, MAIL_FROM, PUBLIC_URL, message_ids, only_mail, wait_for_mail

EMAIL = "ada@example.com"
VERIFY_LINK = re.compile(re.escape(PUBLIC_URL) + r"/email/verify\?token=([A-Za-z0-9_-]{43})")
TRY_LATER = "451 4.3.0 try again later"
NO_SUCH_USER = "550 5.1.1 no such user"


def service_of(app: FastAPI) -> Service:
    service: Service = app.state.service
    return service


def sign_up(client: TestClient, email: str = EMAIL, **headers: str) -> None:
    answer = client.post("/sign-up", json={"email": email, "password": PASSWORD}, headers=headers)
    assert answer.status_code == 201, answer.text


def mail_metrics(client: TestClient) -> dict[str, float]:
    """authgate_mail_total by outcome, from GET /metrics."""
    text = client.get("/metrics").text
    found = re.findall(r'^authgate_mail_total\{outcome="(\w+)"\} (\S+)$', text, re.MULTILINE)
    return {outcome: float(count) for outcome, count in found}


def counted(sent: int = 0, retried: int = 0, dead: int = 0) -> dict[str, float]:
    return {"sent": sent, "retried": retried, "dead": dead}


def sent_or_refused(envelope: Envelope) -> bool:
    return envelope.state == "sent" or envelope.last_error is not None


def put_back_after(attempts: int) -> Callable[[Envelope], bool]:
    return lambda e: e.state == "pending" and e.attempts == attempts


def letter_to(address: str) -> Letter:
    return Letter("verify_email", address, "Confirm", "Hello", "<p>Hello</p>")


# -- what arrives ---------------------------------------------------------------------


def test_the_verification_mail_arrives_with_its_headers_and_the_public_link(
    app: FastAPI, client: TestClient, mailbox: Mailbox
) -> None:
    """The link starts with AUTHGATE_PUBLIC_URL even when the request named another host."""
    sign_up(client, Host="evil.example")

    (message,) = mailbox.wait_for(1)

    envelope = only_mail(service_of(app))
    assert message["From"] == MAIL_FROM
    assert message["To"] == EMAIL
    assert message["Subject"] == envelope.subject != ""
    assert message["Message-ID"] == f"<{envelope.id}@{MAIL_DOMAIN}>"
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = text_of(message), html_of(message)
    assert "evil.example" not in text + html
    (token,) = set(VERIFY_LINK.findall(text))
    assert set(VERIFY_LINK.findall(html)) == {token}
    assert client.post("/email/verify", json={"token": token}).status_code == 204


def test_a_delivered_mail_is_marked_sent_and_its_body_erased(
    app: FastAPI, client: TestClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    service = service_of(app)
    sign_up(client)
    mailbox.wait_for(1)

    sent = wait_for_mail(service, only_mail(service).id, lambda e: e.state == "sent", what="sent")

    assert (sent.attempts, sent.sent_at, sent.last_error) == (1, clock(), None)
    assert sent.body is None
    assert service.open_mail(sent) is None
    assert mail_metrics(client) == counted(sent=1)


# -- retries --------------------------------------------------------------------------


def test_a_refusal_to_try_later_is_retried_with_the_same_message_id(
    app: FastAPI, client: TestClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    service = service_of(app)
    mailbox.refusal = TRY_LATER
    sign_up(client)
    envelope_id = only_mail(service).id
    refused = wait_for_mail(service, envelope_id, put_back_after(1), what="put back")
    assert "451" in str(refused.last_error)
    assert refused.next_attempt_at == clock() + timedelta(seconds=1)  # the first delay

    mailbox.refusal = None
    clock.advance(seconds=1)
    mailbox.wait_for(1)

    sent = wait_for_mail(service, envelope_id, lambda e: e.state == "sent", what="sent")
    assert sent.attempts == 2
    assert (mailbox.attempts, message_ids(mailbox.messages)) == (
        2,
        [f"<{envelope_id}@{MAIL_DOMAIN}>"],
    )
    assert mail_metrics(client) == counted(sent=1, retried=1)


def test_mail_queued_while_the_smtp_server_is_down_goes_out_when_it_is_back(
    app: FastAPI, client: TestClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    service = service_of(app)
    mailbox.stop()
    sign_up(client)
    envelope_id = only_mail(service).id
    down = wait_for_mail(service, envelope_id, lambda e: e.last_error is not None, what="tried")
    assert (down.state, down.attempts) == ("pending", 1)

    mailbox.start()  # on the same port
    clock.advance(seconds=1)

    (message,) = mailbox.wait_for(1)
    assert message["To"] == EMAIL
    sent = wait_for_mail(service, envelope_id, lambda e: e.state == "sent", what="sent")
    assert sent.attempts == 2


def test_a_mail_refused_on_every_attempt_is_dead_and_can_be_retried(
    app: FastAPI, client: TestClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    """Three attempts (the settings' maximum), 1 s then 2 s apart; then an operator's retry."""
    service = service_of(app)
    mailbox.refusal = TRY_LATER
    sign_up(client)
    envelope_id = only_mail(service).id
    for attempt, delay in ((1, 1), (2, 2)):
        waiting = wait_for_mail(
            service, envelope_id, put_back_after(attempt), what=f"put back after {attempt}"
        )
        assert waiting.next_attempt_at == clock() + timedelta(seconds=delay)
        clock.advance(seconds=delay)

    dead = wait_for_mail(service, envelope_id, lambda e: e.state == "dead", what="given up")

    assert dead.attempts == 3
    assert "451" in str(dead.last_error)
    assert mailbox.attempts == 3
    assert mail_metrics(client) == counted(retried=2, dead=1)

    mailbox.refusal = None
    assert service.retry_mail(envelope_id)
    (message,) = mailbox.wait_for(1)
    assert message["Message-ID"] == f"<{envelope_id}@{MAIL_DOMAIN}>"
    sent = wait_for_mail(service, envelope_id, lambda e: e.state == "sent", what="sent")
    assert sent.attempts == 1  # the retry started the count afresh


def test_a_permanent_refusal_is_dead_at_once(
    app: FastAPI, client: TestClient, mailbox: Mailbox, clock: FrozenClock
) -> None:
    service = service_of(app)
    mailbox.refusal = NO_SUCH_USER
    sign_up(client)

    dead = wait_for_mail(service, only_mail(service).id, lambda e: e.state == "dead", what="dead")

    assert dead.attempts == 1
    assert "550 5.1.1" in str(dead.last_error)
    assert (mailbox.attempts, mailbox.messages) == (1, [])
    assert mail_metrics(client) == counted(dead=1)


def test_a_hang_up_mid_batch_sends_the_rest_over_a_new_connection_untried(
    settings: Settings, clock: FrozenClock
) -> None:
    """A 421 and a closed connection fail that message only; the rest of its batch goes
    back to the outbox without counting an attempt, and leaves at once."""
    mailbox = HangsUpOnce().start()
    try:
        app = create_app(
            dataclasses.replace(settings, smtp_url=Secret(mailbox.url)),
            clock=clock,
            preset=FAST_FOR_TESTS,
        )
        service = service_of(app)
        letters = [
            pack(letter_to(f"u{n}@example.com"), now=clock(), key_encryption_key=None)
            for n in range(3)
        ]
        service.parts.store.add_mailing(Mailing((), letters))

        with TestClient(app) as client:
            delivered = mailbox.wait_for(2)
            settled = [
                wait_for_mail(service, e.id, sent_or_refused, what="sent or refused")
                for e in letters
            ]
            assert mail_metrics(client) == counted(sent=2, retried=1)
            (refused,) = [e for e in settled if e.state == "pending"]
            assert "421" in str(refused.last_error)
            assert {m["To"] for m in delivered} == {e.recipient for e in settled} - {
                refused.recipient
            }
            assert [e.attempts for e in settled] == [1, 1, 1]  # the two sent, tried once

            clock.advance(seconds=1)
            assert len(mailbox.wait_for(3)) == 3
            wait_for_mail(service, refused.id, lambda e: e.state == "sent", what="sent")
            assert sorted(message_ids(mailbox.messages)) == sorted(
                f"<{e.id}@{MAIL_DOMAIN}>" for e in letters
            )
    finally:
        mailbox.stop()


class HangsUpOnce(Mailbox):
    """Answers the first message with 421 and closes the connection, as a relay does
    before a restart; accepts everything after that."""

    hung_up = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.hung_up:
            self.hung_up = True
            with self._lock:
                self.attempts += 1
            server.loop.call_soon(server.transport.close)  # after the answer is written
            return "421 4.3.2 closing for a restart"
        return await super().handle_DATA(server, session, envelope)


# -- sealed bodies, bodies that cannot be opened ----------------------------------------


def test_a_sealed_body_is_stored_encrypted_and_still_delivered(
    settings: Settings, clock: FrozenClock, mailbox: Mailbox
) -> None:
    kek = Secret(secrets.token_urlsafe(32))
    app = create_app(
        dataclasses.replace(settings, key_encryption_key=kek), clock=clock, preset=FAST_FOR_TESTS
    )
    service = service_of(app)
    mailbox.stop()  # the mail waits in the outbox, where the test can read it
    with TestClient(app) as client:
        sign_up(client)
        envelope = only_mail(service)
        letter = service.open_mail(envelope)
        assert letter is not None
        (token,) = set(VERIFY_LINK.findall(letter.text))
        with service.parts.store.engine.connect() as conn:
            stored = conn.execute(select(outbox.c.body, outbox.c.sealed)).one()
        assert stored.sealed is True
        assert token.encode() not in bytes(stored.body)

        wait_for_mail(service, envelope.id, put_back_after(1), what="put back")
        mailbox.start()
        clock.advance(seconds=1)
        (message,) = mailbox.wait_for(1)

    assert VERIFY_LINK.findall(text_of(message)) == [token]


def test_a_body_that_cannot_be_opened_is_dead_and_the_rest_of_the_batch_goes_out(
    app: FastAPI, clock: FrozenClock, mailbox: Mailbox
) -> None:
    """Sealed with a key this server does not have: given up, first in its batch."""
    service = service_of(app)
    other_kek = secrets.token_urlsafe(32)
    sealed = pack(letter_to("sealed@example.com"), now=clock(), key_encryption_key=other_kek)
    sealed = dataclasses.replace(sealed, next_attempt_at=clock() - timedelta(minutes=1))
    plain = [
        pack(letter_to(f"plain{n}@example.com"), now=clock(), key_encryption_key=None)
        for n in (1, 2)
    ]
    service.parts.store.add_mailing(Mailing((), [sealed, *plain]))

    with TestClient(app) as client:
        delivered = mailbox.wait_for(2)
        dead = wait_for_mail(service, sealed.id, lambda e: e.state == "dead", what="dead")
        for envelope in plain:
            wait_for_mail(service, envelope.id, lambda e: e.state == "sent", what="sent")
        assert mail_metrics(client) == counted(sent=2, dead=1)

    assert {m["To"] for m in delivered} == {"plain1@example.com", "plain2@example.com"}
    assert str(dead.last_error).startswith("cannot open")
    assert dead.attempts == 1


# -- leases -----------------------------------------------------------------------------


def test_mail_claimed_by_a_sender_that_died_is_delivered_once_its_lease_ran_out(
    app: FastAPI, clock: FrozenClock, mailbox: Mailbox
) -> None:
    service = service_of(app)
    crashed = clock() - LEASE - timedelta(seconds=1)  # its lease ended a second ago
    envelope = pack(letter_to(EMAIL), now=crashed, key_encryption_key=None)
    service.parts.store.add_mailing(Mailing((), [envelope]))
    (claimed,) = service.parts.outbox.claim(now=crashed, lease=LEASE, limit=10)
    assert claimed[0].id == envelope.id

    with TestClient(app):
        (message,) = mailbox.wait_for(1)
        sent = wait_for_mail(service, envelope.id, lambda e: e.state == "sent", what="sent")

    assert message["Message-ID"] == f"<{envelope.id}@{MAIL_DOMAIN}>"
    assert sent.attempts == 2


def test_mail_whose_senders_keep_dying_is_given_up_unsent(
    app: FastAPI, clock: FrozenClock, mailbox: Mailbox
) -> None:
    """Claimed as often as the settings allow, each claim lapsing: not tried once more."""
    service = service_of(app)
    beat = LEASE + timedelta(seconds=1)  # a claim a beat later finds the last one lapsed
    envelope = pack(letter_to(EMAIL), now=clock() - 3 * beat, key_encryption_key=None)
    service.parts.store.add_mailing(Mailing((), [envelope]))
    for beats_ago in (3, 2, 1):  # as many claims as the settings allow attempts
        claimed = service.parts.outbox.claim(now=clock() - beats_ago * beat, lease=LEASE, limit=9)
        assert [e.id for e, _ in claimed] == [envelope.id]

    with TestClient(app) as client:
        dead = wait_for_mail(service, envelope.id, lambda e: e.state == "dead", what="dead")
        assert mail_metrics(client) == counted(dead=1)

    assert dead.last_error == "its sender stopped while delivering it"
    assert mailbox.attempts == 0


# -- backoff ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        pytest.param(1, timedelta(seconds=30), id="first"),
        pytest.param(3, timedelta(seconds=120), id="doubled"),
        pytest.param(11, MAX_BACKOFF, id="capped"),
        pytest.param(100, MAX_BACKOFF, id="no-overflow"),
        pytest.param(10_000, MAX_BACKOFF, id="far-past-the-cap"),
    ],
)
def test_retries_back_off_exponentially_up_to_a_cap(attempts: int, expected: timedelta) -> None:
    assert backoff(timedelta(seconds=30), attempts) == expected

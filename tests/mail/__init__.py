"""Mail delivery through the outbox: a real SMTP server (tests/smtp.py) receives what the
sender sends, in process and from real `authgate serve` processes.

The shared pieces live here: the settings every test starts from and ways to wait for
the outbox to reach a state (a failure names what never came).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.message import EmailMessage

from authgate.core.letters import Envelope
from authgate.service import Service

PUBLIC_URL = "https://accounts.example.com"
MAIL_FROM = "Example Accounts <accounts@mail.example.com>"
MAIL_DOMAIN = "mail.example.com"
WAIT = 30.0  # seconds before a wait gives up: a guard against hangs, not a measurement


def wait_for_mail(
    service: Service,
    envelope_id: str,
    until: Callable[[Envelope], bool],
    *,
    what: str,
) -> Envelope:
    """The envelope once `until` holds for it, polling the outbox."""
    deadline = time.monotonic() + WAIT
    while True:
        envelope = service.find_mail(envelope_id)
        if until(envelope):
            return envelope
        if time.monotonic() > deadline:
            raise AssertionError(
                f"mail {envelope_id} never {what}: it is {envelope.state} after "
                f"{envelope.attempts} attempt(s), last error {envelope.last_error!r}"
            )
        time.sleep(0.02)


def only_mail(service: Service, kind: str = "verify_email") -> Envelope:
    """The one envelope of `kind` in the outbox."""
    (envelope,) = [e for e in service.outbox(limit=500) if e.kind == kind]
    return envelope


def message_ids(messages: list[EmailMessage]) -> list[str]:
    return [str(m["Message-ID"]) for m in messages]

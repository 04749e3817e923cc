"""The server's mail sender: takes due letters from the outbox and delivers them over SMTP.

A background task of each server process (web/app.py) when AUTHGATE_SMTP_URL is set.
Claims are atomic (storage/outbox.py), so processes and instances never send one message
at the same time. A failure is retried with exponential backoff up to
AUTHGATE_MAIL_MAX_ATTEMPTS; an SMTP 5xx answer (the address does not exist, the message is
refused) is final at once. Every attempt of a message carries the same Message-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from authgate.core.clock import Clock
from authgate.core.letters import Envelope, message_id, unpack
from authgate.metrics import Metrics
from authgate.storage.outbox import SqlOutbox
from authgate.web.pools import WorkPool

if TYPE_CHECKING:
    from aiosmtplib import SMTP

logger = logging.getLogger("authgate.mail")

# A claim must never lapse while its sender lives, or a second sender would send the same
# message: the lease covers connecting, one message and recording it, each bounded, and a
# batch stops (giving the rest back) when another message might not fit in what is left.
SMTP_TIMEOUT = 15.0  # seconds per SMTP command
CONNECT_TIME = 6 * SMTP_TIMEOUT  # connect, EHLO, STARTTLS, EHLO, AUTH and its challenge
SEND_TIME = 5 * SMTP_TIMEOUT  # MAIL, RCPT, DATA, the message, RSET after a refusal
SETTLE_TIME = 15.0  # seconds to record an outcome
LEASE = timedelta(seconds=CONNECT_TIME + SEND_TIME + SETTLE_TIME)
BATCH = 20
POLL = 1.0  # seconds between looks at the outbox when nothing woke the sender
MAX_BACKOFF = timedelta(hours=6)
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})

Claimed = Sequence[tuple[Envelope, str]]


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where mail goes, parsed from AUTHGATE_SMTP_URL (checked by Settings)."""

    host: str
    port: int
    implicit_tls: bool  # smtps://
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if implicit else 587),
            implicit_tls=implicit,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def __repr__(self) -> str:  # never the password
        tls = "implicit" if self.implicit_tls else "starttls"
        return f"SmtpServer({self.host}:{self.port}, tls={tls})"


class Sender:
    """Delivers the outbox, batch by batch, until cancelled."""

    def __init__(
        self,
        outbox: SqlOutbox,
        *,
        server: SmtpServer,
        mail_from: str,
        key_encryption_key: str | None,
        clock: Clock,
        metrics: Metrics,
        database: WorkPool,
        max_attempts: int,
        retry_delay: timedelta,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.outbox = outbox
        self.server = server
        self.mail_from = mail_from
        self._kek = key_encryption_key
        self.clock = clock
        self.metrics = metrics
        self.database = database
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.tls_context = tls_context or ssl.create_default_context()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Look at the outbox now (called from any thread when mail was queued)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the server stopped: nothing to wake
                loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            lease_ends = loop.time() + LEASE.total_seconds()
            try:
                claimed = await self.database.run(
                    self.outbox.claim, now=self.clock(), lease=LEASE, limit=BATCH
                )
            except Exception:
                logger.exception("could not read the outbox")
                claimed = []
            if claimed:
                try:
                    await self.deliver(claimed, lease_ends=lease_ends)
                except Exception:  # a bug must not stop the mail for good; the lease lapses
                    logger.exception("mail delivery failed")
                    await asyncio.sleep(POLL)
                continue  # more may be due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL)

    async def deliver(self, claimed: Claimed, *, lease_ends: float) -> None:
        """Send one batch over one SMTP connection, and settle each message.

        `lease_ends` is the event loop's time when the claim lapses. What there is no time
        or connection left for goes back to the outbox untried, for the next batch.
        """
        import aiosmtplib  # first use only: an idle server without SMTP never imports it

        loop = asyncio.get_running_loop()
        smtp = aiosmtplib.SMTP(
            hostname=self.server.host,
            port=self.server.port,
            use_tls=self.server.implicit_tls,
            # STARTTLS: required, except towards this machine (a local relay or test server).
            start_tls=None if self.server.host in LOOPBACK else not self.server.implicit_tls,
            tls_context=self.tls_context,
            timeout=SMTP_TIMEOUT,
        )
        under_way = -1  # the message being sent
        try:
            if not await self._connect(smtp, claimed):
                return
            for under_way, (envelope, claim) in enumerate(claimed):
                if not smtp.is_connected or loop.time() + SEND_TIME + SETTLE_TIME > lease_ends:
                    # The server hung up (a 421, a dropped connection) or time runs short.
                    await self._release(claimed[under_way:])
                    break
                await self._send(smtp, envelope, claim)
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                if smtp.is_connected:
                    await smtp.quit()
        except asyncio.CancelledError:  # the server is stopping
            smtp.close()
            # The message under way may have gone out: its lease decides. The rest go
            # back now, so that the next process need not wait for their leases.
            await self._release(claimed[under_way + 1 :])
            raise
        finally:
            smtp.close()

    async def _connect(self, smtp: SMTP, claimed: Claimed) -> bool:
        """Connect and log in; on failure, settle the whole batch as failed."""
        import aiosmtplib

        try:
            async with asyncio.timeout(CONNECT_TIME):
                await smtp.connect()
                if self.server.username is not None:
                    await smtp.login(self.server.username, self.server.password or "")
        except (aiosmtplib.SMTPException, OSError) as exc:
            smtp.close()
            # The server, not the message: never final (a refused login is for the operator
            # to fix, and the mail should still go out then).
            for envelope, claim in claimed:
                await self._failed(envelope, claim, _reason(exc), final=False)
            return False
        return True

    async def _send(self, smtp: SMTP, envelope: Envelope, claim: str) -> None:
        import aiosmtplib

        if envelope.attempts > self.max_attempts:
            # Claimed again and again after a lapsed lease: it stops its sender somehow.
            error = "its sender stopped while delivering it"
            await self._failed(envelope, claim, error, final=True)
            return
        try:
            message = self._message(envelope)
        except Exception as exc:  # a sealed body without its KEK, a broken body
            await self._failed(envelope, claim, f"cannot open: {_reason(exc)}", final=True)
            return
        if message is None:  # delivered already (body erased): nothing to send
            await self._settle(self.outbox.delivered, envelope.id, claim, now=self.clock())
            return
        try:
            async with asyncio.timeout(SEND_TIME):
                await smtp.send_message(message)
        except ValueError as exc:  # an address or header that cannot be put on the wire
            await self._failed(envelope, claim, f"cannot send: {_reason(exc)}", final=True)
            return
        except (aiosmtplib.SMTPException, OSError) as exc:
            if isinstance(exc, TimeoutError):
                smtp.close()  # an answer may still come: the connection is out of step
            await self._failed(envelope, claim, _reason(exc), final=_is_final(exc))
            return
        self.metrics.mail.labels("sent").inc()
        logger.info("sent %s mail %s", envelope.kind, envelope.id)
        await self._settle(self.outbox.delivered, envelope.id, claim, now=self.clock())

    def _message(self, envelope: Envelope) -> EmailMessage | None:
        letter = unpack(envelope, key_encryption_key=self._kek)
        if letter is None:
            return None
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = letter.recipient
        message["Subject"] = letter.subject
        message["Date"] = format_datetime(envelope.created_at)
        message["Message-ID"] = message_id(envelope.id, sender=self.mail_from)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        message.set_content(letter.text)
        message.add_alternative(letter.html, subtype="html")
        return message

    async def _failed(self, envelope: Envelope, claim: str, error: str, *, final: bool) -> None:
        attempts = envelope.attempts  # the claim counted this attempt
        if final or attempts >= self.max_attempts:
            retry_at = None
            self.metrics.mail.labels("dead").inc()
            logger.warning(
                "gave up %s mail %s after %d attempt(s): %s",
                envelope.kind,
                envelope.id,
                attempts,
                error,
            )
        else:
            delay = backoff(self.retry_delay, attempts)
            retry_at = self.clock() + delay
            self.metrics.mail.labels("retried").inc()
            logger.info(
                "mail %s failed (%s); retrying in %d s",
                envelope.id,
                error,
                int(delay.total_seconds()),
            )
        await self._settle(self.outbox.failed, envelope.id, claim, error=error, retry_at=retry_at)

    async def _release(self, claimed: Claimed) -> None:
        if claimed:
            claim = claimed[0][1]  # one batch, one claim
            await self._settle(self.outbox.release, claim, [e.id for e, _ in claimed])

    async def _settle(self, settle: Callable[..., object], *args: object, **kwargs: object) -> None:
        try:
            await self.database.run(settle, *args, **kwargs)
        except Exception:  # the claim lapses and the message is tried again
            logger.exception("could not record a mail delivery outcome")


def backoff(first: timedelta, attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: `first`, doubled each time, capped."""
    doubled = first.total_seconds() * 2.0 ** min(attempts - 1, 64)  # no overflow
    return timedelta(seconds=min(doubled, MAX_BACKOFF.total_seconds()))


def _is_final(exc: BaseException) -> bool:
    """An SMTP 5xx answer: retrying the same message cannot help."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return 500 <= code < 600
    recipients = getattr(exc, "recipients", None)  # SMTPRecipientsRefused
    if recipients:
        return all(500 <= getattr(r, "code", 0) < 600 for r in recipients)
    return False


def _reason(exc: BaseException) -> str:
    """What went wrong, as an operator reads it: `SMTPDataError: 550 5.1.1 no such user`."""
    code, message = getattr(exc, "code", None), getattr(exc, "message", None)
    detail = f"{code} {message}" if isinstance(code, int) and message else str(exc)
    return f"{type(exc).__name__}: {detail}"[:500]

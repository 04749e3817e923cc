"""The outbox and the link tokens in SQL: written with the change they announce, then
claimed by one sender at a time (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one
writer), delivered, retried with backoff, or given up as dead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, and_, delete, func, insert, or_, select, update

from authgate.core.letters import Envelope, State
from authgate.core.links import LinkToken, Purpose
from authgate.core.store import Mailing, UserId
from authgate.storage.tables import link_tokens, outbox

if TYPE_CHECKING:  # storage/sql.py imports this module's mailing functions
    from authgate.storage.sql import SqlStore

MAX_ERROR = 512


def write_mailing(conn: Connection, mailing: Mailing) -> None:
    """Store a mailing's links and envelopes inside the caller's transaction."""
    if mailing.links:
        conn.execute(
            insert(link_tokens),
            [
                {
                    "token_hash": link.token_hash,
                    "user_id": link.user_id,
                    "purpose": link.purpose.value,
                    "email": link.email,
                    "created_at": link.created_at,
                    "expires_at": link.expires_at,
                }
                for link in mailing.links
            ],
        )
    if mailing.envelopes:
        conn.execute(
            insert(outbox),
            [
                {
                    "id": envelope.id,
                    "created_at": envelope.created_at,
                    "kind": envelope.kind,
                    "recipient": envelope.recipient,
                    "subject": envelope.subject,
                    "body": envelope.body,
                    "sealed": envelope.sealed,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": envelope.next_attempt_at or envelope.created_at,
                }
                for envelope in mailing.envelopes
            ],
        )


def spend_link(
    conn: Connection, token_hash: str, purpose: Purpose, *, now: datetime
) -> LinkToken | None:
    """Mark a usable link used, inside the caller's transaction; None if it was not usable.

    A conditional update: of two concurrent presses of one button, exactly one spends it.
    """
    row = conn.execute(
        update(link_tokens)
        .where(
            link_tokens.c.token_hash == token_hash,
            link_tokens.c.purpose == purpose.value,
            link_tokens.c.used_at.is_(None),
            link_tokens.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(*link_tokens.c)
    ).first()
    return link_token(row) if row else None


def void_links(conn: Connection, user_id: UserId, *purposes: Purpose) -> None:
    """Delete the user's links of these purposes, used or not."""
    conn.execute(
        delete(link_tokens).where(
            link_tokens.c.user_id == user_id,
            link_tokens.c.purpose.in_([p.value for p in purposes]),
        )
    )


def link_token(row: Row[Any]) -> LinkToken:
    return LinkToken(
        token_hash=row.token_hash,
        user_id=UserId(row.user_id),
        purpose=Purpose(row.purpose),
        email=row.email,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


class SqlOutbox:
    """The sender's and the operator's view of the outbox table."""

    def __init__(self, store: SqlStore) -> None:  # its transactions and write lock
        self._store = store

    def claim(
        self, *, now: datetime, lease: timedelta, limit: int
    ) -> Sequence[tuple[Envelope, str]]:
        """Take up to `limit` due envelopes for one sender; return them with the claim id.

        Due: pending with its next attempt now or past, or claimed by a sender whose lease
        ran out (it died mid-send). Each claim counts as an attempt, so a message that
        crashes its sender cannot be retried forever.
        """
        claim = str(uuid.uuid4())
        due = (
            select(outbox.c.id)
            .where(
                or_(
                    and_(outbox.c.state == "pending", outbox.c.next_attempt_at <= now),
                    and_(outbox.c.state == "sending", outbox.c.claimed_until < now),
                )
            )
            .order_by(outbox.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders nothing
        )
        with self._store.writing() as conn:
            ids = list(conn.execute(due).scalars())
            if not ids:
                return []
            rows = conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(
                    state="sending",
                    claim=claim,
                    claimed_until=now + lease,
                    attempts=outbox.c.attempts + 1,
                )
                .returning(*outbox.c)
            ).all()
        rows = sorted(rows, key=lambda row: row.next_attempt_at)  # the longest due first
        return [(envelope(row), claim) for row in rows]

    def delivered(self, envelope_id: str, claim: str, *, now: datetime) -> bool:
        """Mark sent and erase the body (it may hold a live link). False if the claim was lost."""
        return self._settle(
            envelope_id, claim, state="sent", sent_at=now, body=None, last_error=None
        )

    def failed(
        self, envelope_id: str, claim: str, *, error: str, retry_at: datetime | None
    ) -> bool:
        """Put back for another attempt at `retry_at`, or give up (dead) when it is None."""
        if retry_at is None:
            return self._settle(envelope_id, claim, state="dead", last_error=error[:MAX_ERROR])
        return self._settle(
            envelope_id,
            claim,
            state="pending",
            next_attempt_at=retry_at,
            last_error=error[:MAX_ERROR],
        )

    def release(self, claim: str, envelope_ids: Sequence[str]) -> int:
        """Give claimed envelopes back untried: due again at once, the claim not counted as
        an attempt (the SMTP server hung up mid-batch, the lease runs short, the server
        stops). Returns how many were still held by `claim`."""
        with self._store.writing() as conn:
            result = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id.in_(envelope_ids),
                    outbox.c.claim == claim,
                    outbox.c.state == "sending",
                )
                .values(
                    state="pending",
                    claim=None,
                    claimed_until=None,
                    attempts=outbox.c.attempts - 1,
                )
            )
        return int(result.rowcount)

    def _settle(self, envelope_id: str, claim: str, **values: object) -> bool:
        with self._store.writing() as conn:
            result = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == envelope_id,
                    outbox.c.claim == claim,
                    outbox.c.state == "sending",
                )
                .values(claim=None, claimed_until=None, **values)
            )
        return bool(result.rowcount == 1)

    def list(self, *, state: State | None = None, limit: int = 50) -> Sequence[Envelope]:
        """The newest envelopes first, of one state or all."""
        query = select(outbox).order_by(outbox.c.created_at.desc(), outbox.c.id).limit(limit)
        if state is not None:
            query = query.where(outbox.c.state == state)
        with self._store.reading() as conn:
            return [envelope(row) for row in conn.execute(query)]

    def get(self, envelope_id: str) -> Envelope | None:
        with self._store.reading() as conn:
            row = conn.execute(select(outbox).where(outbox.c.id == envelope_id)).first()
        return envelope(row) if row else None

    def find(self, prefix: str) -> Sequence[Envelope]:
        """Envelopes whose id starts with `prefix` (the CLI shows short ids)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = select(outbox).where(outbox.c.id.like(escaped + "%", escape="\\")).limit(2)
        with self._store.reading() as conn:
            return [envelope(row) for row in conn.execute(query)]

    def retry(self, envelope_id: str, *, now: datetime) -> bool:
        """Send a dead or pending envelope again from now, with fresh attempts."""
        with self._store.writing() as conn:
            result = conn.execute(
                update(outbox)
                .where(
                    outbox.c.id == envelope_id,
                    outbox.c.state.in_(("dead", "pending")),
                    outbox.c.body.is_not(None),
                )
                .values(state="pending", attempts=0, next_attempt_at=now, last_error=None)
            )
        return bool(result.rowcount == 1)

    def counts(self) -> dict[str, int]:
        """How many envelopes are in each state."""
        query = select(outbox.c.state, func.count()).group_by(outbox.c.state)
        with self._store.reading() as conn:
            return {state: count for state, count in conn.execute(query)}


def envelope(row: Row[Any]) -> Envelope:
    return Envelope(
        id=row.id,
        kind=row.kind,
        recipient=row.recipient,
        subject=row.subject,
        body=row.body,
        sealed=row.sealed,
        created_at=row.created_at,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )

"""What one authgate process tells the others: sessions ended, users' tokens dead, new keys.

An Announcement is the message; a Fanout is how it travels (storage/notify.py holds the
Redis and PostgreSQL transports). Messages are hints, never the record: the database holds
every revocation before one is sent, and each process's catch-up poll heals a lost message.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from authgate.core.store import SessionId, UserId

# NOTIFY payloads stop at 8000 bytes; an entry is about 60, so chunks stay well under.
CHUNK = 64
# An announced instant further ahead than this is refused: revocations happen now.
FUTURE_SLACK = timedelta(seconds=60)

Mode = Literal["redis", "postgresql", "poll"]


class Announcement:
    """Revoked sessions, users' valid-after instants and whether the keys changed."""

    __slots__ = ("keys", "sessions", "users")

    def __init__(
        self,
        sessions: Sequence[tuple[SessionId, datetime]] = (),
        users: Sequence[tuple[UserId, datetime]] = (),
        *,
        keys: bool = False,
    ) -> None:
        self.sessions = sessions
        self.users = users
        self.keys = keys

    def encode(self) -> list[str]:
        """JSON messages, each small enough for NOTIFY."""
        entries = [("s", k, t) for k, t in self.sessions] + [("u", k, t) for k, t in self.users]
        messages = []
        for start in range(0, max(len(entries), 1), CHUNK):
            chunk = entries[start : start + CHUNK]
            body: dict[str, object] = {
                "s": [[k, t.timestamp()] for kind, k, t in chunk if kind == "s"],
                "u": [[k, t.timestamp()] for kind, k, t in chunk if kind == "u"],
            }
            if self.keys:
                body["k"] = 1
            messages.append(json.dumps(body, separators=(",", ":")))
        return messages

    @classmethod
    def decode(cls, message: str | bytes, *, now: datetime) -> Announcement:
        """Parse a message; anything malformed or implausible is dropped, not raised."""
        try:
            body = json.loads(message)
        except ValueError:
            return cls()
        if not isinstance(body, dict):
            return cls()
        latest = now + FUTURE_SLACK
        return cls(
            [(SessionId(k), t) for k, t in _entries(body.get("s"), latest)],
            [(UserId(k), t) for k, t in _entries(body.get("u"), latest)],
            keys=body.get("k") == 1,
        )


def _entries(raw: object, latest: datetime) -> Iterable[tuple[str, datetime]]:
    if not isinstance(raw, list):
        return
    for entry in raw:
        match entry:
            case [str(key), int(stamp) | float(stamp)] if len(key) <= 64 and math.isfinite(stamp):
                try:
                    at = datetime.fromtimestamp(stamp, UTC)
                except (OverflowError, OSError, ValueError):
                    continue
                if at <= latest:
                    yield key, at


Deliver = Callable[[Announcement], None]


class Fanout(Protocol):
    mode: Mode

    def publish(self, announcement: Announcement) -> None:
        """Send to every process, this one included; never raises (the poll heals a loss)."""

    async def listen(self, deliver: Deliver, *, connected: Callable[[], None]) -> None:
        """Call `deliver` for each message until cancelled, reconnecting as needed.

        `connected` is called on every (re)connection, so the caller can catch up on what
        was sent while no connection was open.
        """


class NoFanout:
    """SQLite alone: nothing to send; the catch-up poll is the only path between processes."""

    mode: Mode = "poll"

    def publish(self, announcement: Announcement) -> None:
        return None

    async def listen(self, deliver: Deliver, *, connected: Callable[[], None]) -> None:
        await asyncio.Event().wait()

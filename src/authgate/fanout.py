"""Tell every authgate process at once: a session ended, a user's tokens died, keys rotated.

Three modes, picked from the settings:

- Redis pub/sub when AUTHGATE_REDIS_URL is set;
- PostgreSQL LISTEN/NOTIFY when the database is PostgreSQL and there is no Redis;
- none on SQLite alone: processes learn from the catch-up poll only.

Messages are hints, never the record: the database already holds every revocation when one
is sent, and the catch-up poll (every AUTHGATE_REVOCATION_POLL_INTERVAL) heals a message
lost to a dropped connection. A listener that reconnects asks for a catch-up at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from authgate.core.store import SessionId, UserId

if TYPE_CHECKING:
    from authgate.storage.sql import SqlStore

logger = logging.getLogger("authgate")

CHANNEL = "authgate_revocations"
# NOTIFY payloads stop at 8000 bytes; an entry is about 60, so chunks stay well under.
CHUNK = 64
# An announced instant further ahead than this is refused: revocations happen now.
FUTURE_SLACK = timedelta(seconds=60)
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)

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


class RedisFanout:
    """Redis pub/sub (redis-py): one publish per message, one subscriber per process."""

    mode: Mode = "redis"

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def publish(self, announcement: Announcement) -> None:
        try:
            for message in announcement.encode():
                self._client.publish(CHANNEL, message)
        except Exception as exc:  # Redis down: the database has it; the poll delivers it
            logger.warning("could not announce a revocation through Redis: %s", type(exc).__name__)

    async def listen(self, deliver: Deliver, *, connected: Callable[[], None]) -> None:
        import redis.asyncio

        async def session() -> None:
            client = redis.asyncio.Redis.from_url(self.url, socket_connect_timeout=2)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    connected()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            deliver(Announcement.decode(message["data"], now=_now()))
            finally:
                await client.aclose()

        await _forever(session, what="Redis")

    def close(self) -> None:
        self._client.close()


class PostgresFanout:
    """PostgreSQL LISTEN/NOTIFY (psycopg 3): no other service needed."""

    mode: Mode = "postgresql"

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        url = store.engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)

    def publish(self, announcement: Announcement) -> None:
        try:
            for message in announcement.encode():
                self.store.notify(CHANNEL, message)
        except Exception as exc:
            logger.warning("could not announce a revocation by NOTIFY: %s", type(exc).__name__)

    async def listen(self, deliver: Deliver, *, connected: Callable[[], None]) -> None:
        import psycopg

        async def session() -> None:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=5
            )
            async with conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                connected()
                async for notice in conn.notifies():
                    deliver(Announcement.decode(notice.payload, now=_now()))

        await _forever(session, what="PostgreSQL LISTEN")


def open_fanout(redis_url: str | None, store: SqlStore) -> Fanout:
    if redis_url:
        return RedisFanout(redis_url)
    if store.engine.dialect.name == "postgresql":
        return PostgresFanout(store)
    return NoFanout()


async def _forever(session: Callable[[], Awaitable[None]], *, what: str) -> None:
    """Run `session` again whenever its connection drops, backing off while it keeps failing."""
    failures = 0
    while True:
        try:
            await session()
            failures = 0
            await asyncio.sleep(RECONNECT_DELAYS[0])  # the server closed it; open another
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
            failures += 1
            logger.warning(
                "%s listener: %s; reconnecting in %.1f s", what, type(exc).__name__, delay
            )
            await asyncio.sleep(delay)


def _now() -> datetime:
    return datetime.now(UTC)

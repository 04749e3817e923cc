"""Tell every authgate process at once, through Redis pub/sub or PostgreSQL LISTEN/NOTIFY.

Three modes, picked from the settings:

- Redis pub/sub when AUTHGATE_REDIS_URL is set;
- PostgreSQL LISTEN/NOTIFY when the database is PostgreSQL and there is no Redis;
- none on SQLite alone: processes learn from the catch-up poll only.

A listener that reconnects asks for a catch-up at once. redis-py, psycopg and SQLAlchemy
are imported only where their transport is used, so the verifier's revocation feed
(Redis) loads no database library.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from authgate.core.announcements import Announcement, Deliver, Fanout, Mode, NoFanout
from authgate.core.clock import Clock, utc_now

if TYPE_CHECKING:
    from authgate.storage.sql import SqlStore

logger = logging.getLogger("authgate")

CHANNEL = "authgate_revocations"
RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


class RedisFanout:
    """Redis pub/sub (redis-py): one publish per message, one subscriber per process."""

    mode: Mode = "redis"

    def __init__(self, url: str, *, clock: Clock = utc_now) -> None:
        import redis

        self.url = url
        self.clock = clock
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
                            deliver(Announcement.decode(message["data"], now=self.clock()))
            finally:
                await client.aclose()

        await _forever(session, what="Redis")

    def close(self) -> None:
        self._client.close()


class PostgresFanout:
    """PostgreSQL LISTEN/NOTIFY (psycopg 3): no other service needed."""

    mode: Mode = "postgresql"

    def __init__(self, store: SqlStore, *, clock: Clock = utc_now) -> None:
        self.store = store
        self.clock = clock
        url = store.engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)

    def publish(self, announcement: Announcement) -> None:
        try:
            for message in announcement.encode():
                from sqlalchemy import text

                with self.store.engine.connect() as conn, conn.begin():
                    # Delivered to every listener when this transaction commits.
                    conn.execute(
                        text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": CHANNEL, "payload": message},
                    )
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
                    deliver(Announcement.decode(notice.payload, now=self.clock()))

        await _forever(session, what="PostgreSQL LISTEN")


def open_fanout(redis_url: str | None, store: SqlStore, *, clock: Clock = utc_now) -> Fanout:
    if redis_url:
        return RedisFanout(redis_url, clock=clock)
    from authgate.storage.engine import dialect_of

    if dialect_of(store.engine) == "postgresql":
        return PostgresFanout(store, clock=clock)
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

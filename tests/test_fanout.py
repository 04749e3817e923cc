"""Announcements between processes: the message format, and real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from authgate.core.announcements import Announcement, Fanout, NoFanout
from authgate.core.store import SessionId, UserId
from authgate.storage.engine import create_database_engine
from authgate.storage.notify import PostgresFanout, RedisFanout, open_fanout
from authgate.storage.sql import SqlStore
from helpers import new_postgres_database
from services import Redis

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_an_announcement_survives_encoding() -> None:
    sent = Announcement(
        [(SessionId("s-1"), NOW)], [(UserId("u-1"), NOW + timedelta(seconds=1))], keys=True
    )

    (message,) = sent.encode()
    got = Announcement.decode(message, now=NOW)

    assert got.sessions == [("s-1", NOW)]
    assert got.users == [("u-1", NOW + timedelta(seconds=1))]
    assert got.keys


def test_a_large_announcement_is_split_into_messages_notify_can_carry() -> None:
    sessions = [(SessionId(f"{n:036d}"), NOW) for n in range(1000)]

    messages = Announcement(sessions).encode()

    assert len(messages) > 1
    assert all(len(m.encode()) < 8000 for m in messages)
    decoded = [s for m in messages for s in Announcement.decode(m, now=NOW).sessions]
    assert decoded == sessions


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[]",
        '{"s": "x"}',
        '{"s": [[1, 2]]}',
        '{"s": [["s-1", "yesterday"]]}',
        '{"s": [["s-1", 1e300]]}',
        '{"s": [["s-1", NaN]]}',
        json.dumps({"u": [["x" * 65, NOW.timestamp()]]}),
    ],
)
def test_a_malformed_message_is_dropped_not_raised(message: str) -> None:
    got = Announcement.decode(message, now=NOW)

    assert (list(got.sessions), list(got.users), got.keys) == ([], [], False)


def test_an_instant_far_in_the_future_is_refused() -> None:
    """A forged valid-after a year ahead would lock a user out; revocations happen now."""
    later = NOW + timedelta(days=365)
    message = json.dumps({"u": [["u-1", later.timestamp()]], "s": [["s-1", NOW.timestamp()]]})

    got = Announcement.decode(message, now=NOW)

    assert got.users == []
    assert got.sessions == [("s-1", NOW)]


# -- real transports ---------------------------------------------------------------------


async def first_delivery(
    listener: Fanout, publisher: Fanout, announcement: Announcement
) -> tuple[Announcement, int]:
    """Start `listener`, publish once connected, return what arrived and the connections."""
    delivered: asyncio.Queue[Announcement] = asyncio.Queue()
    connected = asyncio.Event()
    connections = 0

    def on_connect() -> None:
        nonlocal connections
        connections += 1
        connected.set()

    task = asyncio.create_task(listener.listen(delivered.put_nowait, connected=on_connect))
    try:
        await asyncio.wait_for(connected.wait(), 10)
        await asyncio.to_thread(publisher.publish, announcement)
        got = await asyncio.wait_for(delivered.get(), 10)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return got, connections


@pytest.fixture
def postgres_store(request: pytest.FixtureRequest) -> Iterator[SqlStore]:
    engine = create_database_engine(new_postgres_database(request))
    yield SqlStore(engine)
    engine.dispose()


def test_redis_pub_sub_carries_an_announcement(redis_server: Redis) -> None:
    now = datetime.now(UTC).replace(microsecond=0)  # listeners refuse instants far ahead
    listener, publisher = RedisFanout(redis_server.url), RedisFanout(redis_server.url)
    try:
        got, _ = asyncio.run(
            first_delivery(listener, publisher, Announcement([(SessionId("s-1"), now)]))
        )
    finally:
        listener.close()
        publisher.close()

    assert got.sessions == [("s-1", now)]


@pytest.mark.postgresql
def test_postgres_listen_notify_carries_an_announcement(postgres_store: SqlStore) -> None:
    fanout = PostgresFanout(postgres_store)

    got, _ = asyncio.run(first_delivery(fanout, fanout, Announcement(keys=True)))

    assert got.keys


@pytest.mark.redis  # a Redis server of its own, to restart
def test_the_redis_listener_reconnects_after_a_restart_and_asks_to_catch_up() -> None:
    server = Redis().start()
    listener, publisher = RedisFanout(server.url), RedisFanout(server.url)

    async def scenario() -> tuple[Announcement, int]:
        delivered: asyncio.Queue[Announcement] = asyncio.Queue()
        connections: asyncio.Queue[int] = asyncio.Queue()
        task = asyncio.create_task(
            listener.listen(delivered.put_nowait, connected=lambda: connections.put_nowait(1))
        )
        try:
            await asyncio.wait_for(connections.get(), 10)
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)  # same port, a new server
            await asyncio.wait_for(connections.get(), 15)
            await asyncio.to_thread(publisher.publish, Announcement(keys=True))
            got = await asyncio.wait_for(delivered.get(), 10)
            return got, 2 + connections.qsize()
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    try:
        got, connections = asyncio.run(scenario())
    finally:
        listener.close()
        publisher.close()
        server.stop()

    assert got.keys
    assert connections == 2


def test_publishing_to_an_unreachable_redis_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from services import free_port

    fanout = RedisFanout(f"redis://127.0.0.1:{free_port()}/0")

    fanout.publish(Announcement([(SessionId("s-1"), NOW)]))

    assert "could not announce" in caplog.text
    fanout.close()


@pytest.mark.parametrize(
    ("redis", "backend", "expected"),
    [
        (True, "sqlite", RedisFanout),
        (True, "postgresql", RedisFanout),
        (False, "postgresql", PostgresFanout),
        (False, "sqlite", NoFanout),
    ],
)
def test_the_mode_follows_the_settings(
    redis: bool, backend: str, expected: Callable[..., Fanout], database_url: str
) -> None:
    engine = create_database_engine(database_url)
    fanout = open_fanout("redis://127.0.0.1:1/0" if redis else None, SqlStore(engine))

    assert isinstance(fanout, expected)  # type: ignore[arg-type]
    engine.dispose()

"""RemoteKeys against a real server: the JWKS is cached as HTTP says, refetched for a new key
at most once per interval, and kept when the server goes away.

A counting proxy stands between the verifier and the server, so every fetch is seen; the
keys' clock is frozen, so the cache and the rate limit move only when a test says.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from authgate import RemoteKeys, UntrustedToken, Verifier
from authgate.core.clock import FrozenClock
from authgate.verifier.keys import MAX_DOCUMENT_BYTES
from servers import Server

from . import SignedIn, sign_in, start_server
from .proxy import Proxy

INTERVAL = timedelta(seconds=10)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def verifier(server: Server, proxy: Proxy, clock: FrozenClock) -> Iterator[Verifier]:
    keys = RemoteKeys(proxy.jwks_url, refetch_interval=INTERVAL, clock=clock)
    with Verifier(server.url, keys=keys) as made:
        yield made


def with_kid(token: str, kid: str) -> str:
    """The token with another kid in its header: a key nobody has."""
    header, payload, signature = token.split(".")
    fields = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    fields["kid"] = kid
    encoded = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")
    return ".".join([encoded, payload, signature])


def test_keys_are_fetched_once_for_many_verifications(
    verifier: Verifier, proxy: Proxy, user: SignedIn, server: Server
) -> None:
    other = sign_in(server)

    for _ in range(20):
        verifier.verify(user.access_token)
        verifier.verify(other.access_token)

    assert proxy.fetches == 1


def test_keys_are_fetched_once_by_threads_verifying_at_the_same_time(
    verifier: Verifier, proxy: Proxy, user: SignedIn
) -> None:
    proxy.delay = 0.2  # every thread arrives while the first fetch is still under way
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def verify() -> None:
        barrier.wait()
        outcomes.append(verifier.verify(user.access_token).subject)

    threads = [threading.Thread(target=verify) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (outcomes, proxy.fetches) == ([user.user_id] * 8, 1)


@pytest.mark.parametrize(
    ("cache_control", "fresh_for"),
    [
        pytest.param(None, timedelta(seconds=300), id="the-servers-own-max-age-300"),
        pytest.param("public, max-age=60", timedelta(seconds=60), id="max-age-60"),
        pytest.param("max-age=3", INTERVAL, id="max-age-below-the-interval"),
        pytest.param("no-store", INTERVAL, id="no-store"),
        pytest.param("no-cache", INTERVAL, id="no-cache"),
        pytest.param("max-age=bogus", INTERVAL, id="max-age-invalid"),
        pytest.param("max-age=31536000", timedelta(hours=1), id="a-year-capped-at-an-hour"),
    ],
)
def test_keys_are_fetched_again_when_the_caching_headers_say(
    verifier: Verifier,
    proxy: Proxy,
    clock: FrozenClock,
    user: SignedIn,
    cache_control: str | None,
    fresh_for: timedelta,
) -> None:
    proxy.cache_control = cache_control
    verifier.verify(user.access_token)

    clock.advance(seconds=fresh_for.total_seconds() - 1)
    verifier.verify(user.access_token)
    fetches_while_fresh = proxy.fetches
    clock.advance(seconds=1)
    verifier.verify(user.access_token)

    assert (fetches_while_fresh, proxy.fetches) == (1, 2)


def test_unchanged_keys_are_revalidated_with_their_etag(
    verifier: Verifier, proxy: Proxy, clock: FrozenClock, user: SignedIn
) -> None:
    proxy.etag = True
    verifier.verify(user.access_token)
    clock.advance(seconds=300)

    claims = verifier.verify(user.access_token)

    assert (proxy.fetches, proxy.not_modified, claims.subject) == (2, 1, user.user_id)


def test_a_flood_of_unknown_kids_costs_at_most_one_fetch_per_interval(
    verifier: Verifier, proxy: Proxy, clock: FrozenClock, user: SignedIn
) -> None:
    verifier.verify(user.access_token)
    fetches = []
    for _ in range(3):
        for n in range(50):
            with pytest.raises(UntrustedToken):
                verifier.verify(with_kid(user.access_token, f"made-up-{n}"))
        fetches.append(proxy.fetches)
        clock.advance(seconds=INTERVAL.total_seconds())

    assert fetches == [1, 2, 3]


BROKEN = [
    pytest.param("refused", id="connection-refused"),
    pytest.param((503, b'{"error": "overloaded"}'), id="http-503"),
    pytest.param((404, b"not here"), id="http-404"),
    pytest.param((200, b"<html>maintenance</html>"), id="not-json"),
    pytest.param((200, b'{"error": "not a jwks"}'), id="not-a-jwks"),
    pytest.param((200, b'{"keys": "none"}'), id="keys-not-a-list"),
    pytest.param((200, b" " * (MAX_DOCUMENT_BYTES + 1)), id="too-large"),
]


def break_(proxy: Proxy, how: str | tuple[int, bytes]) -> None:
    if how == "refused":
        proxy.stop()
    else:
        assert isinstance(how, tuple)
        proxy.failure = how


@pytest.mark.parametrize("how", BROKEN)
def test_keys_fetched_before_the_server_broke_keep_verifying(
    verifier: Verifier,
    proxy: Proxy,
    clock: FrozenClock,
    user: SignedIn,
    how: str | tuple[int, bytes],
) -> None:
    verifier.verify(user.access_token)
    break_(proxy, how)
    clock.advance(seconds=301)  # stale: the next verification fetches, and fails

    assert verifier.verify(user.access_token).subject == user.user_id
    with pytest.raises(UntrustedToken):
        verifier.verify(with_kid(user.access_token, "made-up"))


@pytest.mark.parametrize("how", BROKEN)
def test_token_is_untrusted_while_the_keys_could_never_be_fetched(
    verifier: Verifier, proxy: Proxy, user: SignedIn, how: str | tuple[int, bytes]
) -> None:
    break_(proxy, how)

    with pytest.raises(UntrustedToken):
        verifier.verify(user.access_token)
    with pytest.raises(UntrustedToken):
        asyncio.run(verifier.averify(user.access_token))


def test_keys_are_fetched_once_the_broken_server_is_back_after_the_interval(
    verifier: Verifier, proxy: Proxy, clock: FrozenClock, user: SignedIn
) -> None:
    proxy.failure = (503, b"")
    with pytest.raises(UntrustedToken):
        verifier.verify(user.access_token)
    proxy.failure = None
    clock.advance(seconds=INTERVAL.total_seconds())

    assert verifier.verify(user.access_token).subject == user.user_id
    assert proxy.fetches == 2


def test_async_verification_fetches_keys_without_blocking_the_event_loop(
    verifier: Verifier, proxy: Proxy, user: SignedIn
) -> None:
    proxy.delay = 0.5

    async def main() -> tuple[str, int]:
        ticks = 0
        done = asyncio.Event()

        async def tick() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        claims = await verifier.averify(user.access_token)
        done.set()
        await ticker
        return claims.subject, ticks

    subject, ticks = asyncio.run(main())

    assert subject == user.user_id
    assert ticks >= 20  # the loop ran on for most of the half second the fetch took


# -- a key rotation in the middle, on a server of its own ----------------------------------


@pytest.fixture(scope="module")
def rotating_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("rotating"))
    yield running
    running.stop()


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


def signed_in_after_rotation(server: Server, old_kid: str) -> SignedIn:
    """Sign in until the server signs with its new key (it follows within a second)."""
    deadline = time.monotonic() + 10
    while True:
        fresh = sign_in(server)
        if kid_of(fresh.access_token) != old_kid or time.monotonic() > deadline:
            return fresh
        time.sleep(0.2)


def test_token_of_a_freshly_rotated_key_verifies_after_one_refetch_and_old_tokens_still_do(
    rotating_server: Server, clock: FrozenClock, tmp_path: Path
) -> None:
    proxy = Proxy(rotating_server.url)
    keys = RemoteKeys(proxy.jwks_url, refetch_interval=INTERVAL, clock=clock)
    try:
        with Verifier(rotating_server.url, keys=keys) as verifier:
            before = sign_in(rotating_server)
            verifier.verify(before.access_token)

            rotating_server.command("keys", "rotate", "--delay", "0")
            after = signed_in_after_rotation(rotating_server, kid_of(before.access_token))
            assert kid_of(after.access_token) != kid_of(before.access_token)

            with pytest.raises(UntrustedToken):  # fetched just now: the limit holds
                verifier.verify(after.access_token)
            clock.advance(seconds=INTERVAL.total_seconds())
            assert verifier.verify(after.access_token).subject == after.user_id
            assert verifier.verify(before.access_token).subject == before.user_id
            assert proxy.fetches == 2
    finally:
        proxy.stop()


def test_server_log_shows_the_verifier_fetched_through_the_proxy_only(
    server: Server, verifier: Verifier, proxy: Proxy, user: SignedIn
) -> None:
    """The proxy's count is the server's: each fetch it counts reached the server once."""
    before = server.log.count("GET /.well-known/jwks.json")
    verifier.verify(user.access_token)

    deadline = time.monotonic() + 5
    while server.log.count("GET /.well-known/jwks.json") == before and time.monotonic() < deadline:
        time.sleep(0.05)

    assert server.log.count("GET /.well-known/jwks.json") - before == proxy.fetches == 1
    assert (
        httpx.get(proxy.jwks_url).json() == httpx.get(f"{server.url}/.well-known/jwks.json").json()
    )


def test_failed_fetch_is_logged_without_the_token_or_any_key(
    verifier: Verifier,
    proxy: Proxy,
    clock: FrozenClock,
    user: SignedIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    verifier.verify(user.access_token)
    keys = httpx.get(proxy.jwks_url).json()["keys"]
    proxy.failure = (503, b"")
    clock.advance(seconds=301)

    with caplog.at_level("INFO", logger="authgate"):
        verifier.verify(user.access_token)
        with pytest.raises(UntrustedToken):
            verifier.verify(with_kid(user.access_token, "made-up"))

    assert "could not fetch the JWKS" in caplog.text
    assert "HTTP 503" in caplog.text
    assert user.access_token.split(".")[2] not in caplog.text
    assert all(key["n"] not in caplog.text for key in keys)

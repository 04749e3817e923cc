"""Refunds of the per-account sign-in throttle, in memory and in Redis (web/throttle.py).

An attempt is counted before its password is checked and given back when it succeeds; a
refund never gives the next window more than its limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from authgate.errors import Throttled
from authgate.settings import Settings
from authgate.web.throttle import Throttle, rates
from services import Redis

ACCOUNT = "ada@example.com"
Scenario = Callable[[Throttle], Awaitable[None]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def redis_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "memory":
        return None
    redis: Redis = request.getfixturevalue("redis_server")
    redis.flush()
    return redis.url


def run(scenario: Scenario, *, limit: str, redis_url: str | None) -> None:
    async def main() -> None:
        throttle = Throttle(rates(Settings(throttle_sign_in_account=limit)), redis_url=redis_url)
        try:
            await scenario(throttle)
        finally:
            await throttle.close()

    asyncio.run(main())


async def attempts_allowed(throttle: Throttle, tries: int) -> int:
    allowed = 0
    for _ in range(tries):
        try:
            await throttle.hit("sign_in_account", ACCOUNT)
        except Throttled:
            continue
        allowed += 1
    return allowed


def test_a_refunded_attempt_leaves_the_whole_limit(redis_url: str | None) -> None:
    async def scenario(throttle: Throttle) -> None:
        for _ in range(5):  # five right passwords
            await throttle.hit("sign_in_account", ACCOUNT)
            await throttle.refund("sign_in_account", ACCOUNT)

        assert await attempts_allowed(throttle, 3) == 2

    run(scenario, limit="2/minute", redis_url=redis_url)


@pytest.mark.slow  # sleeps past a real one-second window
def test_a_refund_after_its_window_ended_adds_nothing_to_the_next(redis_url: str | None) -> None:
    async def scenario(throttle: Throttle) -> None:
        await throttle.hit("sign_in_account", ACCOUNT)
        await asyncio.sleep(1.2)  # the one-second window ends while the password is checked
        await throttle.refund("sign_in_account", ACCOUNT)

        assert await attempts_allowed(throttle, 3) == 2

    run(scenario, limit="2/second", redis_url=redis_url)


def test_a_refused_attempt_says_when_to_retry(redis_url: str | None) -> None:
    async def scenario(throttle: Throttle) -> None:
        await attempts_allowed(throttle, 2)
        with pytest.raises(Throttled) as refused:
            await throttle.hit("sign_in_account", ACCOUNT)
        assert 1 <= refused.value.retry_after <= 60

    run(scenario, limit="2/minute", redis_url=redis_url)

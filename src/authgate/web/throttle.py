"""Throttles on sign-up, sign-in and refresh, with the `limits` library's moving windows.

Counters live in this process's memory, or in Redis when AUTHGATE_REDIS_URL is set, so
that every worker and instance counts against the same limits.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from authgate.errors import Overloaded, Throttled
from authgate.settings import Settings

Rule = Literal["sign_up", "sign_in_ip", "sign_in_account", "token"]
logger = logging.getLogger("authgate")


def throttle_storage(redis_url: str | None) -> tuple[Storage, Callable[[], Awaitable[None]]]:
    """Memory for one process; Redis (through redis-py) for many. Returns (storage, close)."""
    if redis_url is None:
        return MemoryStorage(), _nothing
    from redis.asyncio import ConnectionPool

    # Our own pool, so that shutdown can close its connections.
    pool = ConnectionPool.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    storage = RedisStorage(
        "async+" + redis_url,
        implementation="redispy",
        key_prefix="authgate",
        wrap_exceptions=True,
        connection_pool=pool,  # type: ignore[arg-type]  # passed on to redis-py as is
    )
    return storage, pool.aclose


async def _nothing() -> None:
    return None


class Throttle:
    """Counts attempts per rule and key and refuses those over the rule's rate.

    When Redis is unreachable the attempt is refused with 503, not let through: a
    throttle that opens whenever its store fails is no throttle.
    """

    def __init__(
        self, settings: Settings, *, refused: Callable[[Rule], None] = lambda rule: None
    ) -> None:
        """`refused` hears of each attempt refused for being over its rule's rate."""
        self.refused = refused
        self.storage, self.close = throttle_storage(settings.redis_url)
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._rules: dict[Rule, RateLimitItem] = {
            "sign_up": parse(settings.throttle_sign_up),
            "sign_in_ip": parse(settings.throttle_sign_in_ip),
            "sign_in_account": parse(settings.throttle_sign_in_account),
            "token": parse(settings.throttle_token),
        }

    async def hit(self, rule: Rule, key: str) -> None:
        """Count one attempt.

        Raises:
            Throttled: the attempt is over the rate; it was not counted.
            Overloaded: the counters' store (Redis) is unreachable.
        """
        try:
            allowed = await self._limiter.hit(self._rules[rule], rule, key)
        except StorageError as exc:
            raise self._unavailable(exc) from None
        if not allowed:
            self.refused(rule)
            raise Throttled(await self._retry_after(rule, key))

    async def check(self, rule: Rule, key: str) -> None:
        """Refuse without counting when `key` has no attempts left (e.g. failed sign-ins).

        Raises:
            Throttled: no attempts left.
            Overloaded: the counters' store (Redis) is unreachable.
        """
        try:
            allowed = await self._limiter.test(self._rules[rule], rule, key)
        except StorageError as exc:
            raise self._unavailable(exc) from None
        if not allowed:
            self.refused(rule)
            raise Throttled(await self._retry_after(rule, key))

    async def _retry_after(self, rule: Rule, key: str) -> int:
        try:
            stats = await self._limiter.get_window_stats(self._rules[rule], rule, key)
        except StorageError:
            return 1
        return max(1, math.ceil(stats.reset_time - time.time()))

    @staticmethod
    def _unavailable(exc: StorageError) -> Overloaded:
        logger.warning("throttle counters unreachable: %s", type(exc.storage_error).__name__)
        return Overloaded(retry_after=1)

"""Throttles on sign-up, sign-in, refresh, passkey challenges and mail, with the `limits`
library's windows.

Counters live in this process's memory, or in Redis when AUTHGATE_REDIS_URL is set, so
that every worker and instance counts against the same limits. Attempts are counted in
moving windows; failed sign-ins per account in fixed windows, whose counters can give an
attempt back (a moving window cannot), so that each attempt is counted before its password
is checked and given back when it succeeds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal, get_args

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
)
from limits.errors import StorageError

from authgate.errors import Overloaded, Throttled
from authgate.settings import Settings

Rule = Literal[
    "sign_up",
    "sign_in_ip",
    "sign_in_account",
    "token",
    "passkey_options",
    "mail_address",
    "mail_ip",
]
Refundable = Literal["sign_in_account"]  # counted in fixed windows, see refund()
REFUNDABLE = frozenset(get_args(Refundable))
# A fixed window's counter is a Redis string, a moving window's a list: under keys of their
# own, instances of two versions during a rolling upgrade never meet the other's type.
FIXED_WINDOW = "fixed"
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
        self,
        rates: Mapping[Rule, str],
        *,
        redis_url: str | None,
        refused: Callable[[Rule], None] = lambda rule: None,
        now: Callable[[], float] = time.time,
    ) -> None:
        """`rates` in the `limits` notation ("5/minute"); `refused` hears of each attempt
        refused for being over its rule's rate. `now` is the clock `limits` keeps windows by.
        """
        self.refused = refused
        self.storage, self.close = throttle_storage(redis_url)
        self._now = now
        self._rules: dict[Rule, RateLimitItem] = {rule: parse(rate) for rule, rate in rates.items()}
        moving, fixed = MovingWindowRateLimiter(self.storage), FixedWindowRateLimiter(self.storage)
        self._limiters: dict[Rule, RateLimiter] = {
            rule: fixed if rule in REFUNDABLE else moving for rule in self._rules
        }

    async def hit(self, rule: Rule, key: str) -> None:
        """Count one attempt; for a Refundable rule, before it is made.

        Raises:
            Throttled: the attempt is over the rate; it is not let through.
            Overloaded: the counters' store (Redis) is unreachable.
        """
        try:
            allowed = await self._limiters[rule].hit(self._rules[rule], *self._names(rule, key))
        except StorageError as exc:
            raise self._unavailable(exc) from None
        if not allowed:
            self.refused(rule)
            raise Throttled(await self._retry_after(rule, key), rule=rule)

    async def refund(self, rule: Refundable, key: str) -> None:
        """Give back an attempt counted by hit() that should not count (a right password).

        Counting after the check instead would let every concurrent attempt through the
        check before the first failure was counted. If the window ended meanwhile, the
        attempt was not in the new one and nothing is given back. When the store is
        unreachable the attempt stays counted: a refund that fails only makes the limit
        stricter.
        """
        item = self._rules[rule]
        counter = item.key_for(*self._names(rule, key))
        try:
            left = await self.storage.incr(counter, item.get_expiry(), amount=-1)
            if left < 0:
                await self.storage.incr(counter, item.get_expiry(), amount=1)
        except StorageError as exc:
            logger.warning("throttle counters unreachable: %s", type(exc.storage_error).__name__)

    async def _retry_after(self, rule: Rule, key: str) -> int:
        try:
            stats = await self._limiters[rule].get_window_stats(
                self._rules[rule], *self._names(rule, key)
            )
        except StorageError:
            return 1
        return max(1, math.ceil(stats.reset_time - self._now()))

    @staticmethod
    def _names(rule: Rule, key: str) -> tuple[str, ...]:
        return (rule, FIXED_WINDOW, key) if rule in REFUNDABLE else (rule, key)

    @staticmethod
    def _unavailable(exc: StorageError) -> Overloaded:
        logger.warning("throttle counters unreachable: %s", type(exc.storage_error).__name__)
        return Overloaded(retry_after=1)


def rates(settings: Settings) -> dict[Rule, str]:
    """Each rule's rate, as the settings name it."""
    return {
        "sign_up": settings.throttle_sign_up,
        "sign_in_ip": settings.throttle_sign_in_ip,
        "sign_in_account": settings.throttle_sign_in_account,
        "token": settings.throttle_token,
        "passkey_options": settings.throttle_passkey_options,
        "mail_address": settings.throttle_mail_address,
        "mail_ip": settings.throttle_mail_ip,
    }

"""Throttles on sign-up, sign-in and refresh, with the `limits` library's moving windows.

Counters live in this process's memory; they are shared through Redis once the service
has several instances.
"""

from __future__ import annotations

import math
import time
from typing import Literal

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from authgate.errors import Throttled
from authgate.settings import Settings

Rule = Literal["sign_up", "sign_in_ip", "sign_in_account", "token"]


class Throttle:
    """Counts attempts per rule and key and refuses those over the rule's rate."""

    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._rules: dict[Rule, RateLimitItem] = {
            "sign_up": parse(settings.throttle_sign_up),
            "sign_in_ip": parse(settings.throttle_sign_in_ip),
            "sign_in_account": parse(settings.throttle_sign_in_account),
            "token": parse(settings.throttle_token),
        }

    def hit(self, rule: Rule, key: str) -> None:
        """Count one attempt.

        Raises:
            Throttled: the attempt is over the rate; it was not counted.
        """
        if not self._limiter.hit(self._rules[rule], rule, key):
            raise Throttled(self._retry_after(rule, key))

    def check(self, rule: Rule, key: str) -> None:
        """Refuse without counting when `key` has no attempts left (e.g. failed sign-ins).

        Raises:
            Throttled: no attempts left.
        """
        if not self._limiter.test(self._rules[rule], rule, key):
            raise Throttled(self._retry_after(rule, key))

    def _retry_after(self, rule: Rule, key: str) -> int:
        stats = self._limiter.get_window_stats(self._rules[rule], rule, key)
        return max(1, math.ceil(stats.reset_time - time.time()))

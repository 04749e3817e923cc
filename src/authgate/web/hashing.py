"""The bounded pool that runs password work off the event loop.

A flood of sign-ins queues here, never on the loop, so guarded routes keep answering.
When the queue is full the request is refused at once (503 + Retry-After) rather than
left waiting without bound.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from authgate.errors import Overloaded

P = ParamSpec("P")
R = TypeVar("R")


class HashingPool:
    def __init__(self, *, workers: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="authgate-hash")
        self._capacity = workers + queue
        self._in_flight = 0  # touched only on the event loop

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn` on a hashing thread.

        Raises:
            Overloaded: every worker is busy and the queue is full.
        """
        if self._in_flight >= self._capacity:
            raise Overloaded(retry_after=1)
        self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, functools.partial(fn, *args, **kwargs)
            )
        finally:
            self._in_flight -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

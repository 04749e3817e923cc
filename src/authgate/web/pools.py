"""Bounded thread pools that keep slow and blocking work off the event loop.

Two run in the server: one hashes passwords (argon2id, the slow part of sign-up and
sign-in), one does the database work of the other routes. Both are bounded twice: a
fixed number of threads, and a queue limit past which a request is refused at once
(503 + Retry-After) rather than left waiting without bound.

Measured on this project's 2-core machine: more threads do not make SQLite work faster
under the GIL, they make it slower (16 threads rotating refresh tokens: 265/s; one
thread: 585/s), so the database pool stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from authgate.errors import Overloaded

P = ParamSpec("P")
R = TypeVar("R")


class WorkPool:
    """A fixed set of threads with a bounded queue in front of them."""

    def __init__(self, *, name: str, workers: int, queue: int, nice: int = 0) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix=f"authgate-{name}",
            initializer=functools.partial(_lower_priority, nice) if nice else None,
        )
        self._capacity = workers + queue
        self._in_flight = 0  # touched only on the event loop

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn` on one of the pool's threads.

        Raises:
            Overloaded: every thread is busy and the queue is full.
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


def _lower_priority(nice: int) -> None:
    """Make this thread yield the CPU to the event loop when both want it (Linux: per thread)."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)

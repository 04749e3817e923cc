"""Bounded thread pools that keep slow and blocking work off the event loop.

Two run in the server: one hashes passwords (argon2id, the slow part of sign-up and
sign-in), one does the database work of the other routes. Both are bounded twice: a
fixed number of threads, and a queue limit past which a request is refused at once
(503 + Retry-After) rather than left waiting without bound.

Measured on this project's 2-core machine: many threads make SQLite work slower under
the GIL (16 threads rotating refresh tokens: 265/s; one thread: 585/s, before SqlStore's
write lock), while two beat one now that writes take turns at that lock (POST /token
300-360/s with one, 420-470/s with two, four no better), so the pool stays at two.

Shutdown is bounded too. The threads are daemon threads of the pool's own, not a
`ThreadPoolExecutor`'s: the interpreter joins those at exit (`threading._register_atexit`),
so one endless hash would keep a stopped server alive. Queued work is cancelled, and
running work gets a fixed time to finish before the process leaves it behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from datetime import timedelta
from queue import Empty, SimpleQueue
from typing import Any, ParamSpec, TypeVar

from authgate.errors import Overloaded

P = ParamSpec("P")
R = TypeVar("R")
# A future and its call; Any since one queue carries every result type.
Job = tuple["Future[Any]", Callable[[], object]]


class WorkPool:
    """A fixed set of threads with a bounded queue in front of them."""

    def __init__(self, *, name: str, workers: int, queue: int, nice: int = 0) -> None:
        self._name = name
        self._workers = workers
        self._nice = nice
        self._capacity = workers + queue
        self._in_flight = 0  # touched only on the event loop
        self._closed = False
        self._jobs: SimpleQueue[Job | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []  # started as work arrives
        # The threads hold the queue, never the pool: a pool dropped without shutdown()
        # still ends its threads, as a ThreadPoolExecutor does.
        self._release = weakref.finalize(self, _release, self._jobs, self._threads)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn` on one of the pool's threads.

        Raises:
            Overloaded: every thread is busy and the queue is full.
        """
        if self._closed or self._in_flight >= self._capacity:
            raise Overloaded(retry_after=1)  # a closed pool: the server is stopping
        self._in_flight += 1
        try:
            future: Future[R] = Future()
            self._jobs.put((future, functools.partial(fn, *args, **kwargs)))
            if len(self._threads) < min(self._workers, self._in_flight):
                self._start_thread()
            # Cancelling the awaiting task cancels the job too, unless it already runs.
            return await asyncio.wrap_future(future)
        finally:
            self._in_flight -= 1

    def shutdown(self, *, timeout: timedelta = timedelta(seconds=2)) -> None:
        """Refuse new work, cancel queued work, and wait at most `timeout` for running work.

        Work still running after that is left to its daemon thread, which ends with the
        process: a stuck hash or query cannot hold a stopping server.
        """
        self._closed = True
        with contextlib.suppress(Empty):
            while True:
                job = self._jobs.get_nowait()
                if job is not None:
                    job[0].cancel()
        self._release()
        deadline = time.monotonic() + timeout.total_seconds()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=_work,
            args=(self._jobs, self._nice),
            name=f"authgate-{self._name}_{len(self._threads)}",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)


def _work(jobs: SimpleQueue[Job | None], nice: int) -> None:
    """One pool thread: run jobs until it takes the stop mark (None) from the queue."""
    if nice:
        _lower_priority(nice)
    while (job := jobs.get()) is not None:
        future, call = job
        del job
        if not future.set_running_or_notify_cancel():
            continue  # cancelled while queued
        try:
            future.set_result(call())
        except BaseException as exc:  # handed to the awaiting task, as an executor does
            future.set_exception(exc)
        del future, call  # keep nothing of the last job alive while idle


def _release(jobs: SimpleQueue[Job | None], threads: list[threading.Thread]) -> None:
    for _ in threads:
        jobs.put(None)


def _lower_priority(nice: int) -> None:
    """Make this thread yield the CPU to the event loop when both want it (Linux: per thread)."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


def give_back_free_memory() -> None:
    """Return the main heap's free memory to the OS (glibc's `malloc_trim`); else a no-op.

    An argon2id hash allocates its whole memory cost (19 MiB with the recommended preset)
    and frees it; glibc keeps blocks that large for reuse. A hash thread's arena keeps
    them whatever one asks, but the main heap gives them back on request, so work done
    once at start (the pacer's calibration) runs on the main thread and ends here.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to give back this way
        return

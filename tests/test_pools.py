"""Work pools: bounded threads, and a bounded queue answered with Overloaded."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from authgate.errors import Overloaded
from authgate.web.pools import WorkPool


def test_work_runs_off_the_event_loop_thread() -> None:
    pool = WorkPool(name="test", workers=1, queue=1)

    async def main() -> int | None:
        return await pool.run(threading.get_ident)

    try:
        assert asyncio.run(main()) != threading.get_ident()
    finally:
        pool.shutdown()


def test_a_full_queue_is_refused_at_once_with_overloaded() -> None:
    pool = WorkPool(name="test", workers=1, queue=1)
    release = threading.Event()

    async def main() -> None:
        busy = [asyncio.ensure_future(pool.run(release.wait, 5)) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert pool.in_flight == 2
        with pytest.raises(Overloaded) as refused:
            await pool.run(release.wait, 5)
        assert refused.value.retry_after >= 1
        release.set()
        assert await asyncio.gather(*busy) == [True, True]
        assert pool.in_flight == 0

    try:
        asyncio.run(main())
    finally:
        pool.shutdown()


def test_a_nice_pool_runs_its_threads_at_lower_priority() -> None:
    pool = WorkPool(name="test", workers=1, queue=1, nice=5)

    async def main() -> int:
        return await pool.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    try:
        assert asyncio.run(main()) == os.getpriority(os.PRIO_PROCESS, 0) + 5
    finally:
        pool.shutdown()

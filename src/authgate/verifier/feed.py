"""The revocations authgate servers announce on Redis, applied in a protected app as they come.

A server that ends a session (sign-out, a revoked or stolen refresh token) or all of a
user's tokens (sign-out everywhere, a disabled user, a new password) publishes it on the
Redis channel `authgate_revocations` (see `authgate.storage.notify`). A Verifier given the same
Redis URL subscribes in a background thread and refuses those tokens from then on.

Delay: milliseconds while the subscription is connected. A message published while it is
not (before it first connects, or while Redis is unreachable; it reconnects on its own) is
not recovered: the token it revoked stays valid here until its `exp`, the bound every
verifier without a feed has anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from authgate.core.announcements import Announcement
from authgate.core.clock import Clock, utc_now
from authgate.core.revocations import Revocations
from authgate.errors import ConfigurationError
from authgate.storage.notify import RedisFanout


class RevocationFeed:
    """A subscription to the servers' revocation announcements, feeding `revocations`.

    Raises:
        ConfigurationError: redis-py is not installed, or the URL is not a Redis URL.
    """

    def __init__(self, redis_url: str, revocations: Revocations, *, clock: Clock = utc_now):
        try:
            self._fanout = RedisFanout(redis_url, clock=clock)
        except ImportError:
            raise ConfigurationError(
                "a revocation feed needs redis-py: pip install 'authgate[redis]'"
            ) from None
        except ValueError:
            raise ConfigurationError("the revocation feed's URL is not a Redis URL") from None
        self.revocations = revocations
        self.clock = clock
        self._connected = threading.Event()
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(
            target=self._run, name="authgate-revocation-feed", daemon=True
        )
        self._thread.start()
        self._started.wait()

    def wait_connected(self, timeout: float) -> bool:
        """Wait until the subscription has been made once; False after `timeout` seconds."""
        return self._connected.wait(timeout)

    def close(self) -> None:
        """Unsubscribe and stop the background thread."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout=10)
        self._fanout.close()

    def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(self._listen())

    async def _listen(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()
        await self._fanout.listen(self._deliver, connected=self._connected.set)

    def _deliver(self, announcement: Announcement) -> None:
        self.revocations.learn(sessions=announcement.sessions, valid_after=announcement.users)
        self.revocations.prune(self.clock())

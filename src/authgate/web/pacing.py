"""How soon a failed sign-in is answered: no sooner than a floor over the costliest check.

Imported users keep their bcrypt hashes until they next sign in, and a bcrypt check costs
what its cost says, not what argon2id costs: without a floor, the time of a wrong password
told an imported account from a native one and from an unknown e-mail (DESIGN.md §4).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import Callable
from typing import TypeVar

from authgate.core.passwords import BCRYPT_MAX_COST, Passwords
from authgate.core.store import UserStore
from authgate.errors import InvalidCredentials
from authgate.web.pools import WorkPool

R = TypeVar("R")
HEADROOM = 1.25  # over the slowest check seen, so that its own jitter hides under the floor
HALF_LIFE = 60.0  # seconds in which a raise by a slow check observed under load halves


class Pacer:
    """Holds the answer to each failed credential check until a floor after it began.

    The floor is seeded at startup by calibrate() and raised by any slower failed check
    observed since (a loaded machine, a user imported with a higher cost later). A raise
    halves every HALF_LIFE seconds, back toward the calibration, so that one stall does not
    slow every failed sign-in for good, while a machine that stays loaded keeps raising it.
    The wait is an asyncio.sleep on the event loop, after the hashing thread is free: it
    costs no CPU and no thread, and a successful sign-in never waits.
    """

    def __init__(self, *, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._calibrated = 0.0
        self._peak = 0.0
        self._peak_at = now()

    @property
    def floor(self) -> float:
        """Seconds after a check began before its failure is answered."""
        return HEADROOM * max(self._calibrated, self._raised(self._now()))

    def calibrate(self, passwords: Passwords, store: UserStore) -> None:
        """Seed the floor with the costliest checks the service makes, timed once each.

        Those are an unknown e-mail's dummy check (argon2id, the current preset) and a check
        of the stored bcrypt hash of the highest cost still checked (BCRYPT_MAX_COST), found
        by one query. Blocking: run it on a hashing thread, before serving.
        """
        guess = secrets.token_urlsafe(16)  # matches no stored hash
        stored = store.costliest_bcrypt_hash(at_most=BCRYPT_MAX_COST)
        checks: list[Callable[[], object]] = [lambda: passwords.verify_dummy(guess)]
        if stored is not None:
            checks.append(lambda: passwords.verify(stored, guess))
        for check in checks:
            started = self._now()
            with contextlib.suppress(InvalidCredentials):
                check()
            self._calibrated = max(self._calibrated, self._now() - started)

    def observe(self, seconds: float) -> None:
        """Count a failed check that took `seconds`."""
        now = self._now()
        if seconds >= self._raised(now):
            self._peak, self._peak_at = seconds, now

    def _raised(self, now: float) -> float:
        return self._peak * math.pow(0.5, (now - self._peak_at) / HALF_LIFE)

    async def check(self, pool: WorkPool, work: Callable[[], R]) -> R:
        """Run a credential check on `pool`; a failure is answered no sooner than the floor.

        Raises:
            InvalidCredentials: the check failed; raised once the floor has passed.
            Overloaded: the pool's queue is full; raised at once, nothing was checked.
        """
        started = 0.0  # taken on the thread: time queued for one is not the check's

        def timed() -> R:
            nonlocal started
            started = self._now()
            return work()

        try:
            return await pool.run(timed)
        except InvalidCredentials:
            taken = self._now() - started
            self.observe(taken)
            await asyncio.sleep(self.floor - taken)
            raise

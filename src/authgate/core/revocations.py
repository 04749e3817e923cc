"""Which access tokens are refused before they expire: ended sessions and users' valid-after.

Both checks are dictionary lookups, done on every guarded request. Only revocations
younger than one access-token lifetime matter: older tokens have expired anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from authgate.core.store import SessionId, UserId
from authgate.core.tokens import AccessClaims
from authgate.errors import RevokedToken

Announce = Callable[[Sequence[tuple[SessionId, datetime]], Sequence[tuple[UserId, datetime]]], None]


class Revocations:
    """The in-memory set of revoked sessions and users' valid-after instants.

    What this process revokes is also passed to `announce`, which tells the other
    processes; what they announce comes back through `learn`, which does not echo it.
    """

    def __init__(self, *, window: timedelta, announce: Announce | None = None) -> None:
        self.window = window
        self.announce = announce
        self._sessions: dict[str, datetime] = {}
        self._valid_after: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self._pruned_at: datetime | None = None

    def check(self, claims: AccessClaims) -> None:
        """Refuse a verified token whose session ended or whose user signed out everywhere.

        Raises:
            RevokedToken: either way.
        """
        if claims.session_id in self._sessions:
            raise RevokedToken
        valid_after = self._valid_after.get(claims.subject)
        if valid_after is not None and claims.issued_at < valid_after:
            raise RevokedToken

    def revoke_sessions(self, revoked: Iterable[tuple[SessionId, datetime]]) -> None:
        """Refuse these sessions' tokens here, and announce it to the other processes."""
        revoked = list(revoked)
        self.learn(sessions=revoked)
        if self.announce is not None and revoked:
            self.announce(revoked, ())

    def set_valid_after(self, entries: Iterable[tuple[UserId, datetime]]) -> None:
        """Refuse these users' older tokens here, and announce it to the other processes."""
        entries = list(entries)
        self.learn(valid_after=entries)
        if self.announce is not None and entries:
            self.announce((), entries)

    def learn(
        self,
        *,
        sessions: Iterable[tuple[SessionId, datetime]] = (),
        valid_after: Iterable[tuple[UserId, datetime]] = (),
    ) -> None:
        """Record revocations another process made (announced, or read from the database)."""
        with self._lock:
            self._sessions.update(sessions)
            for user_id, at in valid_after:
                at = at.replace(microsecond=0)  # tokens carry whole seconds (iat)
                if at > self._valid_after.get(user_id, at - timedelta(seconds=1)):
                    self._valid_after[user_id] = at

    def prune(self, now: datetime) -> None:
        """Forget revocations older than the window: their tokens have expired.

        Rebuilding the sets takes milliseconds at 100,000 entries (bench/growth.py), so it
        runs at most once a tenth of the window, however often it is called.
        """
        if self._pruned_at is not None and now - self._pruned_at < self.window / 10:
            return
        self._pruned_at = now
        horizon = now - self.window
        with self._lock:
            self._sessions = {k: v for k, v in self._sessions.items() if v >= horizon}
            self._valid_after = {k: v for k, v in self._valid_after.items() if v >= horizon}

    def __len__(self) -> int:
        return len(self._sessions) + len(self._valid_after)

"""What the core needs from storage: value types and the store Protocols.

Implementations match these Protocols without inheriting from them (see storage/sql.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NewType, Protocol

UserId = NewType("UserId", str)
SessionId = NewType("SessionId", str)


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    email: str
    password_hash: str
    created_at: datetime
    disabled_at: datetime | None = None
    # Access tokens issued before this whole second are refused (sign-out-all, disable).
    valid_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """One sign-in and the family of refresh tokens rotated from it."""

    id: SessionId
    user_id: UserId
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip: str | None = None
    user_agent: str | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """A stored refresh token (by hash) and the session it belongs to."""

    token_hash: str
    session: Session
    used_at: datetime | None
    # The user's valid-after instant: sessions started before it are over (password change).
    user_valid_after: datetime | None = None
    user_email: str = ""  # for the access token minted with the successor
    user_disabled_at: datetime | None = None  # a disabled user's sessions cannot refresh
    # For a used token, inside the grace window only: its successor, sealed under a key that
    # only the token itself derives (core/sessions.py). Erased once the window has passed.
    sealed_successor: bytes | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    kind: str
    at: datetime
    user_id: UserId | None = None
    session_id: SessionId | None = None
    ip: str | None = None
    detail: Mapping[str, str] | None = None


class UserStore(Protocol):
    def add_user(self, user: User) -> None:
        """Raises EmailTaken when the e-mail (case-insensitively) is already registered."""

    def add_users(self, users: Sequence[User]) -> Sequence[UserId]:
        """Store many users in one transaction; return the ids of those stored.

        Skips, without an error, each user whose id or e-mail (case-insensitively) is
        taken, whether by a stored user or by an earlier one of `users`.
        """

    def existing_user_ids(self, ids: Collection[UserId]) -> Collection[UserId]:
        """Those of `ids` that belong to stored users."""

    def user_by_email(self, email: str) -> User | None: ...

    def user_by_id(self, user_id: UserId) -> User | None: ...

    def list_users(self, *, limit: int, offset: int = 0) -> Sequence[User]: ...

    def set_password_hash(self, user_id: UserId, password_hash: str) -> None: ...

    def replace_password_hash(self, user_id: UserId, old: str, new: str) -> bool:
        """Set `new` only while the stored hash is still `old`; False when it changed."""

    def set_disabled(self, user_id: UserId, *, at: datetime | None) -> None:
        """Disable (at an instant) or re-enable (None) a user."""

    def set_valid_after(self, user_id: UserId, at: datetime) -> None: ...

    def users_valid_after_since(self, since: datetime) -> Sequence[tuple[UserId, datetime]]:
        """Users whose valid-after instant is at or after `since`."""

    def costliest_bcrypt_hash(self, *, at_most: int) -> str | None:
        """A stored bcrypt hash of the highest cost up to `at_most`, or None if there is none."""


class SessionStore(Protocol):
    def start_session(self, session: Session, token_hash: str, *, password_hash: str) -> bool:
        """Store a new session and its first refresh token together, if the user allows it.

        Returns False, storing nothing, unless the user is still enabled and still has
        `password_hash`: a sign-in that checked the password before a disable or a password
        change committed must not start a session after it. Serialised with those changes,
        so either the session is refused or their "end every session" sees it.
        """

    def find_refresh_token(self, token_hash: str) -> RefreshRecord | None: ...

    def rotate_refresh_token(
        self,
        token_hash: str,
        successor_hash: str,
        *,
        sealed_successor: bytes | None,
        now: datetime,
    ) -> bool:
        """Atomically mark `token_hash` used and store its successor (and the sealed copy).

        Returns False, changing nothing, when the token was already used or its session
        has ended: of two concurrent rotations exactly one returns True. The session's
        older sealed successors are erased: only the newest can still be asked for again.
        """

    def forget_successors(self, *, used_before: datetime) -> int:
        """Erase the sealed successors of tokens used before `used_before`; return how many."""

    def get_session(self, session_id: SessionId) -> Session | None: ...

    def live_sessions(self, user_id: UserId, *, now: datetime) -> Sequence[Session]:
        """Sessions of the user that are neither revoked nor past their absolute lifetime."""

    def end_session(self, session_id: SessionId, *, now: datetime, reason: str) -> bool:
        """Revoke one session; False when it was unknown or already ended."""

    def end_user_sessions(
        self, user_id: UserId, *, now: datetime, reason: str
    ) -> Sequence[SessionId]:
        """Revoke every live session of the user; return their ids."""

    def sessions_revoked_since(self, since: datetime) -> Sequence[tuple[SessionId, datetime]]: ...


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None: ...


class NoAudit:
    """An AuditLog that keeps nothing, for tools and tests that do not look."""

    def record(self, event: AuditEvent) -> None:
        return None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A signing key as kept in storage: PEM, sealed when a key-encryption key is set."""

    kid: str
    alg: str
    material: bytes
    sealed: bool
    created_at: datetime
    retired_at: datetime | None = None  # verifies until then; None = until a rotation
    activates_at: datetime | None = None  # signs from then on; None = from created_at

    @property
    def signs_from(self) -> datetime:
        return self.activates_at or self.created_at


class KeyStore(Protocol):
    def signing_keys(self) -> Sequence[StoredKey]:
        """Every stored key, retired ones included, oldest first."""

    def add_first_signing_key(self, key: StoredKey) -> bool:
        """Store `key` unless a live key of its algorithm exists; True when stored.

        Of processes starting together on an empty database, exactly one stores its key.
        """

    def add_next_signing_key(self, key: StoredKey, *, retire_others_at: datetime) -> None:
        """Store `key` and retire every other live key at `retire_others_at` (or sooner)."""

    def server_secret(self, name: str, *, candidate: bytes, sealed: bool) -> tuple[bytes, bool]:
        """Return the stored secret called `name`, storing `candidate` first if there is none.

        Of concurrent callers, all get the one value that was stored first.
        """

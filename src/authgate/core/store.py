"""What the core needs from storage: value types and the store Protocols.

Implementations match these Protocols without inheriting from them (see storage/sql.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NewType, Protocol

if TYPE_CHECKING:
    from authgate.core.letters import Envelope
    from authgate.core.links import LinkToken

UserId = NewType("UserId", str)
SessionId = NewType("SessionId", str)

# Why a session ended, and the kind of its audit event, when a sign-in went past
# AUTHGATE_MAX_SESSIONS_PER_USER (SessionStore.start_session).
SESSION_LIMIT = "session_limit"


@dataclass(frozen=True, slots=True)
class User:
    id: UserId
    email: str
    password_hash: str
    created_at: datetime
    disabled_at: datetime | None = None
    # Access tokens issued before this whole second are refused (sign-out-all, disable).
    valid_after: datetime | None = None
    email_verified_at: datetime | None = None  # when its owner last proved the address

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


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
    # When the person last proved who they are in this session (the `auth_time` claim).
    authenticated_at: datetime | None = None
    amr: tuple[str, ...] = ()  # how they proved it (RFC 8176): the `amr` claim

    @property
    def auth_time(self) -> datetime:
        return self.authenticated_at or self.created_at


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
    user_email_verified: bool = False  # for the access token minted with the successor
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
    def add_user(self, user: User, *, mailing: Mailing = ...) -> None:
        """Store a user, and its mailing in the same transaction.

        Raises EmailTaken when the e-mail (case-insensitively) is already registered.
        """

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
    def start_session(
        self, session: Session, token_hash: str, *, password_hash: str, max_sessions: int = 0
    ) -> Sequence[SessionId] | None:
        """Store a new session and its first refresh token together, if the user allows it.

        Returns None, storing nothing, unless the user is still enabled and still has
        `password_hash`: a sign-in that checked the password before a disable or a password
        change committed must not start a session after it. Serialised with those changes,
        so either the session is refused or their "end every session" sees it.

        With `max_sessions` (0 = no limit), the user's least recently used live sessions
        beyond it, the new one counted, end in the same transaction, with the reason
        SESSION_LIMIT; they are returned. Serialised with the user's other sign-ins, so
        concurrent ones never leave more than `max_sessions` live.
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

    def current_refresh_token(self, session_id: SessionId) -> str | None:
        """The hash of the live session's unused refresh token; None when it has ended."""

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

    def end_all_sessions(self, *, now: datetime, reason: str) -> Sequence[SessionId]:
        """Revoke every live session of every user; return their ids."""

    def sessions_revoked_since(self, since: datetime) -> Sequence[tuple[SessionId, datetime]]: ...

    def reauthenticate_session(
        self, session_id: SessionId, *, at: datetime, amr: tuple[str, ...]
    ) -> bool:
        """Record a fresh proof of identity in a live session; False if it has ended."""


@dataclass(frozen=True, slots=True)
class Mailing:
    """Links and letters stored in the same transaction as the change they announce.

    No letter for a change rolled back, no change without its letter (DESIGN §8).
    """

    links: Sequence[LinkToken] = ()
    envelopes: Sequence[Envelope] = ()


class AccountMailStore(Protocol):
    """The changes of accounts by e-mail, each one transaction with its Mailing."""

    def add_mailing(self, mailing: Mailing) -> None: ...

    def find_link(self, token_hash: str) -> LinkToken | None: ...

    def verify_email(self, token_hash: str, *, now: datetime) -> UserId | None:
        """Spend a verify link and mark its address verified, if it is still the user's.

        None, changing nothing, when the link is unknown, spent, expired or of another
        purpose.
        """

    def set_email_verified(self, user_id: UserId, *, at: datetime | None) -> None: ...

    def reset_password(
        self, token_hash: str, password_hash: str, *, now: datetime, mailing: Mailing
    ) -> Sequence[SessionId] | None:
        """Spend a reset link, set the password and end every session (returned).

        The user's other reset links die with it. None, changing nothing, when the link
        is not a usable reset link.
        """

    def change_password(
        self,
        user_id: UserId,
        password_hash: str,
        *,
        now: datetime,
        keep: SessionId | None,
        end_others: bool,
        mailing: Mailing,
    ) -> Sequence[SessionId]:
        """Set the password; the user's reset links die. With `end_others`, end every
        session but `keep` and return them."""

    def change_email(
        self, token_hash: str, *, now: datetime, mailing: Mailing
    ) -> tuple[UserId, str] | None:
        """Spend a change link and switch to its address (verified); return the user and
        the old address. None when the link is not usable.

        Raises:
            EmailTaken: another account took the address meanwhile; nothing changed.
        """

    def revert_email(
        self, token_hash: str, *, now: datetime, mailing: Mailing
    ) -> tuple[UserId, Sequence[SessionId]] | None:
        """Spend a revert link: put its address back, cancel pending changes, make the
        password unusable and end every session (returned). None when not usable.

        Raises:
            EmailTaken: another account has the old address now; nothing changed.
        """

    def delete_user(
        self, user_id: UserId, *, now: datetime, mailing: Mailing
    ) -> Sequence[SessionId]:
        """Erase the account's data, leaving a tombstone; end and return its sessions."""

    def purge_deleted_users(self, *, deleted_before: datetime) -> int:
        """Remove tombstones older than `deleted_before`; return how many."""


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

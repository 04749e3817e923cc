"""Sessions and their refresh-token families: start, rotate, detect reuse, end.

A refresh token is 256 random bits, stored only as its SHA-256 hash. Rotating one marks
it used and stores its random successor in one conditional update, so two concurrent
rotations can never both succeed. A used token that comes back after the grace window is
taken as theft (RFC 9700 §4.14.2) and revokes the whole session.

Inside the window a retry (two tabs, a lost response) gets the same successor. For that
the successor is kept, for the window only, sealed with AES-GCM under a key derived by
HKDF from the *presented* token, which the database never holds. So the database alone
yields no token, and an old token with the database yields at most the one successor
minted within the last window; the sealed copies are erased when the window has passed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authgate.core.clock import Clock
from authgate.core.revocations import Revocations
from authgate.core.store import (
    SESSION_LIMIT,
    AuditEvent,
    AuditLog,
    NoAudit,
    RefreshRecord,
    Session,
    SessionId,
    SessionStore,
    User,
    UserId,
)
from authgate.errors import InvalidCredentials, RefreshTokenReused, SessionEnded, UnknownSession

REFRESH_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_USER_AGENT = 512
SUCCESSOR_KEY_INFO = b"authgate refresh successor"
NONCE_BYTES = 12
RENEW_ATTEMPTS = 3  # concurrent refreshes a renewal waits out before it gives up


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    lifetime: timedelta = timedelta(days=30)
    idle_timeout: timedelta = timedelta(days=7)
    reuse_grace: timedelta = timedelta(seconds=10)
    # Live sessions one user may have; a sign-in beyond ends the least recently used
    # (ASVS V7.1.2). 0 = no limit.
    max_per_user: int = 0


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_refresh_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def seal_successor(successor: str, *, presented: str) -> bytes:
    """The successor, encrypted under a key only the presented token derives (AES-256-GCM).

    The presented token's hash is the associated data, so a sealed copy opens only in its
    own row.
    """
    nonce = os.urandom(NONCE_BYTES)
    aad = hash_refresh_token(presented).encode("ascii")
    return nonce + _successor_cipher(presented).encrypt(nonce, successor.encode("ascii"), aad)


def open_successor(sealed: bytes, *, presented: str) -> str | None:
    """The successor sealed for `presented`, or None when it does not open."""
    aad = hash_refresh_token(presented).encode("ascii")
    try:
        plain = _successor_cipher(presented).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad
        )
    except (InvalidTag, ValueError):
        return None
    return plain.decode("ascii")


def _successor_cipher(presented: str) -> AESGCM:
    # The token holds 256 random bits: HKDF needs no salt to turn it into a key.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SUCCESSOR_KEY_INFO)
    return AESGCM(hkdf.derive(presented.encode("ascii")))


class Sessions:
    """Starts, rotates and ends sessions, and keeps `revocations` up to date."""

    def __init__(
        self,
        store: SessionStore,
        *,
        policy: SessionPolicy,
        revocations: Revocations,
        clock: Clock,
        audit: AuditLog | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.revocations = revocations
        self.clock = clock
        self.audit = audit or NoAudit()

    def start(
        self,
        user: User,
        *,
        ip: str | None = None,
        user_agent: str | None = None,
        amr: tuple[str, ...] = ("pwd",),
    ) -> tuple[Session, str]:
        """Open a session for `user` as it was read; return it and its first refresh token.

        Under the policy's session limit the user's least recently used sessions beyond it
        end as a sign-out would: their tokens are refused at once, in every process.

        Raises:
            InvalidCredentials: the user was disabled, or its password changed, since it
                was read (a sign-in racing a disable must not outlive it).
        """
        now = self.clock()
        user_id = user.id
        session = Session(
            id=SessionId(str(uuid.uuid4())),
            user_id=user_id,
            created_at=now,
            last_used_at=now,
            expires_at=now + self.policy.lifetime,
            ip=ip,
            user_agent=(user_agent or None) and user_agent[:MAX_USER_AGENT],
            amr=amr,
        )
        token = new_refresh_token()
        ended = self.store.start_session(
            session,
            hash_refresh_token(token),
            password_hash=user.password_hash,
            max_sessions=self.policy.max_per_user,
        )
        if ended is None:
            raise InvalidCredentials
        self.revocations.revoke_sessions((sid, now) for sid in ended)
        self.audit.record(
            AuditEvent("sign_in", at=now, user_id=user_id, session_id=session.id, ip=ip)
        )
        for sid in ended:
            self.audit.record(
                AuditEvent(
                    SESSION_LIMIT,
                    at=now,
                    user_id=user_id,
                    session_id=sid,
                    ip=ip,
                    detail={"ended_by": session.id},
                )
            )
        return session, token

    def rotate(self, refresh_token: str, *, ip: str | None = None) -> tuple[RefreshRecord, str]:
        """Trade a refresh token for its successor; return the presented token's record.

        Raises:
            SessionEnded: the token is unknown, or its session expired, idled out or ended.
            RefreshTokenReused: the token was already rotated and the grace window has
                passed; the session is revoked, with its access tokens.
        """
        record = self._find(refresh_token)
        self._check_alive(record)
        now = self.clock()
        if record.used_at is None:
            successor = new_refresh_token()
            sealed = (
                seal_successor(successor, presented=refresh_token)
                if self.policy.reuse_grace
                else None
            )
            if self.store.rotate_refresh_token(
                record.token_hash,
                hash_refresh_token(successor),
                sealed_successor=sealed,
                now=now,
            ):
                return record, successor
            record = self._find(refresh_token)  # a concurrent rotation won; see what it did
            self._check_alive(record)
        if record.used_at is None:  # the update failed for a reason _check_alive missed
            raise SessionEnded("the session has ended", session_id=record.session.id)
        if self.policy.reuse_grace and now - record.used_at <= self.policy.reuse_grace:
            retry = self._successor_of(record, refresh_token)
            if retry is not None:
                return record, retry
        self._revoke(record.session, reason="refresh_token_reused", ip=ip)
        raise RefreshTokenReused(session_id=record.session.id)

    def renew(self, session_id: SessionId) -> str | None:
        """Replace the session's refresh token with a new one, as a rotation does, for a
        client that proved again who it is (ASVS V7.2.4); None when the session has ended
        (or, past all reason, was refreshed RENEW_ATTEMPTS times meanwhile).

        The replaced token is spent with no successor sealed for it: the server never saw
        that token here, so none can be. Presented again, even inside the grace window, it
        is reuse (`rotate`), and the session is revoked. The absolute end does not move.
        """
        for _ in range(RENEW_ATTEMPTS):
            current = self.store.current_refresh_token(session_id)
            if current is None:
                return None
            successor = new_refresh_token()
            if self.store.rotate_refresh_token(
                current, hash_refresh_token(successor), sealed_successor=None, now=self.clock()
            ):
                return successor
            # A refresh of the same session rotated `current` meanwhile: renew its successor.
        return None

    def end(self, session_id: SessionId, *, reason: str = "signed_out") -> bool:
        """End one session; False when it was unknown or already over."""
        session = self.store.get_session(session_id)
        if session is None:
            return False
        return self._revoke(session, reason=reason)

    def end_by_refresh_token(self, refresh_token: str) -> bool:
        """End the session a refresh token belongs to; False when there is none to end."""
        if not REFRESH_TOKEN_SHAPE.fullmatch(refresh_token):
            return False
        record = self.store.find_refresh_token(hash_refresh_token(refresh_token))
        return record is not None and self._revoke(record.session, reason="signed_out")

    def end_all(self, user_id: UserId, *, reason: str = "signed_out_everywhere") -> int:
        """End every session of a user; their access tokens are refused from now on."""
        now = self.clock()
        ended = self.store.end_user_sessions(user_id, now=now, reason=reason)
        self.revocations.revoke_sessions((sid, now) for sid in ended)
        self.audit.record(AuditEvent(reason, at=now, user_id=user_id))
        return len(ended)

    def end_everyones(self, *, reason: str) -> int:
        """End every live session of every user; their access tokens are refused from now on."""
        now = self.clock()
        ended = self.store.end_all_sessions(now=now, reason=reason)
        self.revocations.revoke_sessions((sid, now) for sid in ended)
        self.audit.record(AuditEvent(reason, at=now, detail={"sessions": str(len(ended))}))
        return len(ended)

    def cut_off(self, user_id: UserId, *, reason: str) -> int:
        """End every session of a user whose credentials changed (disabled, new password).

        Access tokens issued before now are refused at once, and no session started before
        now refreshes again, in any process; return how many sessions were ended.
        """
        self.revocations.set_valid_after([(user_id, self.clock())])
        return self.end_all(user_id, reason=reason)

    def end_for_user(self, user_id: UserId, session_id: SessionId) -> None:
        """End one of the user's own live sessions.

        Raises:
            UnknownSession: no live session of this user has that id.
        """
        session = self.store.get_session(session_id)
        if (
            session is None
            or session.user_id != user_id
            or not self._revoke(session, reason="ended")
        ):
            raise UnknownSession

    def live(self, user_id: UserId) -> Sequence[Session]:
        """The user's sessions that can still refresh, most recently used first."""
        now = self.clock()
        sessions = [
            s
            for s in self.store.live_sessions(user_id, now=now)
            if now - s.last_used_at <= self.policy.idle_timeout
        ]
        return sorted(sessions, key=lambda s: s.last_used_at, reverse=True)

    def session_of(self, refresh_token: str) -> SessionId | None:
        """The session a refresh token belongs to, used or not; None for an unknown token."""
        try:
            return self._find(refresh_token).session.id
        except SessionEnded:
            return None

    def _find(self, refresh_token: str) -> RefreshRecord:
        if not REFRESH_TOKEN_SHAPE.fullmatch(refresh_token):
            raise SessionEnded("the refresh token is not one authgate issued")
        record = self.store.find_refresh_token(hash_refresh_token(refresh_token))
        if record is None:
            raise SessionEnded("the refresh token is unknown")
        return record

    def _check_alive(self, record: RefreshRecord) -> None:
        session, now = record.session, self.clock()
        if session.revoked_at is not None:
            raise SessionEnded("the session has ended", session_id=session.id)
        if record.user_disabled_at is not None:
            self._revoke(session, reason="user_disabled")
            raise SessionEnded("the session has ended", session_id=session.id)
        if record.user_valid_after is not None and session.created_at < record.user_valid_after:
            # Started before a password change or a disable, perhaps in another process.
            self._revoke(session, reason="credentials_changed")
            raise SessionEnded("the session has ended", session_id=session.id)
        if now >= session.expires_at:
            raise SessionEnded("the session has expired", session_id=session.id)
        if now - session.last_used_at > self.policy.idle_timeout:
            self._revoke(session, reason="idle_timeout")
            raise SessionEnded("the session was idle for too long", session_id=session.id)

    def forget_successors(self) -> int:
        """Erase the sealed successors whose grace window has passed; return how many."""
        return self.store.forget_successors(used_before=self.clock() - self.policy.reuse_grace)

    def _successor_of(self, record: RefreshRecord, refresh_token: str) -> str | None:
        """The successor a used token was traded for, while that successor is still unused."""
        if record.sealed_successor is None:
            return None
        successor = open_successor(record.sealed_successor, presented=refresh_token)
        if successor is None:
            return None
        twin = self.store.find_refresh_token(hash_refresh_token(successor))
        return successor if twin is not None and twin.used_at is None else None

    def _revoke(self, session: Session, *, reason: str, ip: str | None = None) -> bool:
        now = self.clock()
        ended = self.store.end_session(session.id, now=now, reason=reason)
        # Refuse its access tokens from the next request on, even if another process ended it.
        self.revocations.revoke_sessions([(session.id, now)])
        if ended:
            self.audit.record(
                AuditEvent(reason, at=now, user_id=session.user_id, session_id=session.id, ip=ip)
            )
        return ended

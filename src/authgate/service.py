"""The assembled service: database, keys, accounts, sessions and the guard, from Settings.

The web app and the CLI both start here, so they share one idea of what the service is.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy.exc import OperationalError

from authgate.core.clock import Clock, utc_now
from authgate.core.guard import Guard
from authgate.core.keys import KeyRing, seal, unseal
from authgate.core.passwords import RECOMMENDED, Passwords, Preset
from authgate.core.revocations import Revocations
from authgate.core.sessions import SessionPolicy, Sessions
from authgate.core.store import AuditEvent, AuditLog, Session, User, UserId
from authgate.core.tokens import LEEWAY, AccessClaims, issue_access_token
from authgate.core.users import Accounts
from authgate.errors import ConfigurationError, InvalidGrant, RefreshTokenReused
from authgate.fanout import Announcement, open_fanout
from authgate.keychain import Keychain, Rotation
from authgate.metrics import Metrics
from authgate.settings import Settings
from authgate.storage.schema import schema_state, upgrade
from authgate.storage.sql import SqlStore
from authgate.storage.tables import create_database_engine

logger = logging.getLogger("authgate")

# The purposes of server_key(), and the label each derives its key from AUTHGATE_SECRET by.
SERVER_KEYS = {
    "csrf": b"authgate csrf",  # HMAC(key, session id): the cookie transport's CSRF token
}
# Revocations committed this long before the last poll are still picked up by the next.
POLL_OVERLAP = timedelta(seconds=5)


class ObservedAudit:
    """The audit log, whose every event is also shown to `observe` (the metrics)."""

    def __init__(self, log: AuditLog, observe: Callable[[AuditEvent], None]) -> None:
        self.log = log
        self.observe = observe

    def record(self, event: AuditEvent) -> None:
        self.log.record(event)
        self.observe(event)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What a sign-in or a refresh hands back to the client."""

    access_token: str
    claims: AccessClaims
    refresh_token: str
    session: Session
    expires_in: int


class Service:
    """authgate, assembled: open it with Settings, then call it from routes or commands."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        preset: Preset = RECOMMENDED,
        migrate: Literal["if-empty", "never"] = "if-empty",
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = create_database_engine(settings.database_url)
        self.store = SqlStore(self.engine)
        kek = settings.key_encryption_key.reveal() if settings.key_encryption_key else None
        try:
            with self.store.startup_lock():
                self._check_schema(migrate)
                if kek is not None and self.store.seal_secrets(lambda clear: seal(clear, kek)):
                    logger.info("encrypted the keys and secrets that were stored in clear")
                self.keychain = Keychain(
                    self.store,
                    algorithm=settings.algorithm,
                    secret=settings.secret.reveal().encode() if settings.secret else None,
                    key_encryption_key=kek,
                    now=clock(),
                )
        except OperationalError as exc:
            self.engine.dispose()
            raise ConfigurationError(
                f"cannot reach the database at AUTHGATE_DATABASE_URL: {_reason(exc)}"
            ) from None
        except BaseException:
            self.engine.dispose()  # a refused start leaves no connection behind
            raise
        # Said at every server start (web/app.py), by `authgate serve` and in GET /ready.
        self.warnings: Sequence[str] = self._warnings()
        self.fanout = open_fanout(settings.redis_url, self.store)
        self.metrics = Metrics()
        self.audit = ObservedAudit(self.store, self.metrics.record)
        self.passwords = Passwords(preset, min_length=settings.password_min_length)
        self.accounts = Accounts(self.store, self.passwords, clock=clock, audit=self.audit)
        self.revocations = Revocations(
            window=settings.access_token_ttl + LEEWAY,
            announce=lambda s, u: self.fanout.publish(Announcement(s, u)),
        )
        self.guard = Guard(
            keys=self.keys,
            issuer=settings.issuer,
            audience=settings.audience,
            revocations=self.revocations,
            clock=clock,
            capacity=settings.token_cache_size,
            max_lifetime=settings.access_token_ttl + LEEWAY,
            on_verify=self.metrics.verify_seconds.observe,
        )
        self.sessions = Sessions(
            self.store,
            policy=SessionPolicy(
                lifetime=settings.refresh_token_ttl,
                idle_timeout=settings.session_idle_timeout,
                reuse_grace=settings.refresh_reuse_grace,
            ),
            revocations=self.revocations,
            clock=clock,
            audit=self.audit,
        )
        self.metrics.watch(self.metrics.revocations, lambda: len(self.revocations))
        self._synced_at = clock() - self.revocations.window
        self.sync_revocations()

    # -- the guard: the hot path of every protected route ---------------------

    def read(self, token: str) -> AccessClaims:
        """Verify an access token and refuse it if its session or user was revoked.

        Raises:
            InvalidToken: any reason; the subclass says which.
        """
        return self.guard.read(token)

    # -- flows --------------------------------------------------------------

    def sign_in(
        self, email: str, password: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> SignedIn:
        """Raises: InvalidCredentials."""
        user = self.accounts.sign_in(email, password, ip=ip)
        session, refresh_token = self.sessions.start(user, ip=ip, user_agent=user_agent)
        return self._signed_in(user.id, user.email, session, refresh_token)

    def refresh(self, refresh_token: str, *, ip: str | None = None) -> SignedIn:
        """Raises: InvalidGrant (SessionEnded or RefreshTokenReused)."""
        try:
            record, successor = self.sessions.rotate(refresh_token, ip=ip)
        except RefreshTokenReused:
            self.metrics.refreshes.labels("reused").inc()
            raise
        except InvalidGrant:
            self.metrics.refreshes.labels("ended").inc()
            raise
        self.metrics.refreshes.labels("rotated").inc()
        session = record.session
        return self._signed_in(session.user_id, record.user_email, session, successor)

    def disable_user(self, user_id: UserId) -> int:
        """Disable a user and end all its sessions; return how many were ended."""
        self.accounts.set_disabled(user_id, True)
        self.revocations.set_valid_after([(user_id, self.clock())])
        return self.sessions.end_all(user_id, reason="user_disabled")

    def change_password(self, user_id: UserId, new_password: str) -> int:
        """Set a new password and end every session; return how many were ended.

        Raises:
            PasswordRejected: the password breaks the policy.
        """
        self.accounts.change_password(user_id, new_password)
        self.revocations.set_valid_after([(user_id, self.clock())])
        return self.sessions.end_all(user_id, reason="password_changed")

    def live_users(self, *, limit: int, offset: int = 0) -> Sequence[User]:
        return self.store.list_users(limit=limit, offset=offset)

    # -- what other processes did -------------------------------------------

    @property
    def keys(self) -> KeyRing:
        """The current key ring; it changes when a rotation takes effect."""
        return self.keychain.ring

    def sync_revocations(self) -> None:
        """Learn revocations made by other processes (the CLI, other workers)."""
        now = self.clock()
        since = self._synced_at - POLL_OVERLAP
        self.revocations.learn(
            sessions=self.store.sessions_revoked_since(since),
            valid_after=self.store.users_valid_after_since(since),
        )
        self.revocations.prune(now)
        self._synced_at = now

    def refresh_keys(self) -> bool:
        """Follow rotations: a new key published, switched to, or retired. True on change."""
        changed = self.keychain.refresh(self.clock())
        if changed:
            self.guard.use_keys(self.keychain.ring)
            logger.info("signing with key %s", self.keychain.ring.signing.kid)
        return changed

    def catch_up(self) -> None:
        """The periodic poll: what announcements missed, and sealed successors past their window."""
        self.sync_revocations()
        self.refresh_keys()
        self.sessions.forget_successors()

    def learn(self, announcement: Announcement) -> None:
        """Apply what another process announced (cheap: no database, safe on the event loop)."""
        self.revocations.learn(sessions=announcement.sessions, valid_after=announcement.users)

    def rotate_keys(self, delay: timedelta | None = None) -> Rotation:
        """Publish the next signing key now; it signs after `delay` (the setting by default).

        Raises:
            ConfigurationError: HS keys come from the secret and are not rotated here.
        """
        rotation = self.keychain.rotate(
            self.clock(),
            delay=self.settings.key_rotation_delay if delay is None else delay,
            token_lifetime=self.settings.access_token_ttl + LEEWAY,
        )
        self.guard.use_keys(self.keychain.ring)
        self.fanout.publish(Announcement(keys=True))
        return rotation

    def close(self) -> None:
        close = getattr(self.fanout, "close", None)
        if close is not None:
            close()
        self.engine.dispose()

    def _signed_in(self, user_id: UserId, email: str, session: Session, refresh: str) -> SignedIn:
        ttl = self.settings.access_token_ttl
        token, claims = issue_access_token(
            subject=user_id,
            email=email,
            session_id=session.id,
            keys=self.keys,
            issuer=self.settings.issuer,
            audience=self.settings.audience,
            now=self.clock(),
            ttl=ttl,
        )
        return SignedIn(token, claims, refresh, session, int(ttl.total_seconds()))

    def _warnings(self) -> list[str]:
        """What an operator must hear at every start: weaknesses of this configuration."""
        if self.settings.key_encryption_key is not None or not self.store.unsealed_secrets():
            return []
        return [
            "private signing keys and server secrets are stored unencrypted in the database: "
            "whoever reads it "
            "can sign tokens. Set AUTHGATE_KEY_ENCRYPTION_KEY (`authgate secret` prints one); "
            "the next start encrypts the stored keys"
        ]

    def _check_schema(self, migrate: Literal["if-empty", "never"]) -> None:
        state = schema_state(self.engine)
        if state == "empty" and migrate == "if-empty":
            upgrade(self.engine)
        elif state != "current":
            raise ConfigurationError(
                f"the database schema is {state} this version of authgate; "
                "run `authgate db upgrade`"
                if state != "ahead"
                else "the database was migrated by a newer authgate; upgrade authgate"
            )

    def server_key(self, name: str) -> bytes:
        """A 256-bit HMAC key for one purpose (`SERVER_KEYS`), the same in every process.

        Derived from AUTHGATE_SECRET when it is set; otherwise generated once, stored
        (sealed when AUTHGATE_KEY_ENCRYPTION_KEY is set) and read back by every process.

        Raises:
            ConfigurationError: the stored keys are sealed and no key-encryption key is set.
        """
        if self.settings.secret is not None:
            secret = self.settings.secret.reveal().encode()
            return hmac.new(secret, SERVER_KEYS[name], hashlib.sha256).digest()
        kek = self.settings.key_encryption_key
        candidate = secrets.token_bytes(32)
        value, sealed = self.store.server_secret(
            name,
            candidate=seal(candidate, kek.reveal()) if kek else candidate,
            sealed=kek is not None,
        )
        if not sealed:
            return value
        if kek is None:
            raise ConfigurationError(
                "the stored secrets are encrypted; set AUTHGATE_KEY_ENCRYPTION_KEY"
            )
        return unseal(value, kek.reveal())


def _reason(exc: OperationalError) -> str:
    """The driver's first line, which names the cause (refused, unknown host, bad password)."""
    lines = str(exc.orig).strip().splitlines()
    return lines[0] if lines else type(exc.orig).__name__

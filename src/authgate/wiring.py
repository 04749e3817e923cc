"""The wiring: database, keys, accounts, sessions and the guard, assembled from Settings.

`Parts` opens what the settings name and keeps the process in step with the others (the
catch-up poll, announcements, key rotations). The use cases routes and commands call are
in service.py; only the wiring (web/app.py, the CLI's opening, tests) reaches in here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy.exc import OperationalError

from authgate.core.account_mail import AccountMail, LinkLifetimes
from authgate.core.announcements import Announcement
from authgate.core.clock import Clock, utc_now
from authgate.core.factors import SecondFactors
from authgate.core.guard import Guard
from authgate.core.keychain import Keychain, server_key
from authgate.core.keys import KeyRing, seal
from authgate.core.letters import Templates
from authgate.core.passkeys import Passkeys
from authgate.core.passwords import RECOMMENDED, Passwords, Preset
from authgate.core.revocations import Revocations
from authgate.core.sessions import SessionPolicy, Sessions
from authgate.core.store import AuditEvent, AuditLog, SessionId, UserId
from authgate.core.tokens import LEEWAY
from authgate.core.users import Accounts
from authgate.errors import ConfigurationError
from authgate.metrics import Metrics
from authgate.settings import Settings
from authgate.storage.engine import create_database_engine, startup_lock
from authgate.storage.factors import SqlFactors
from authgate.storage.notify import open_fanout
from authgate.storage.outbox import SqlOutbox
from authgate.storage.passkeys import SqlPasskeys
from authgate.storage.schema import schema_state, upgrade
from authgate.storage.sql import SqlStore

logger = logging.getLogger("authgate")

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


class Parts:
    """authgate's parts, assembled from Settings: open once per process, close at the end."""

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
            with startup_lock(self.engine):
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
            self.store.close()
            self.engine.dispose()
            raise ConfigurationError(
                f"cannot reach the database at AUTHGATE_DATABASE_URL: {_reason(exc)}"
            ) from None
        except BaseException:
            self.store.close()
            self.engine.dispose()  # a refused start leaves no connection behind
            raise
        # Said at every server start (web/app.py), by `authgate serve` and in GET /ready.
        self.warnings: Sequence[str] = self._warnings()
        self.fanout = open_fanout(settings.redis_url, self.store, clock=clock)
        self.metrics = Metrics()
        self.audit = ObservedAudit(self.store, self.metrics.record)
        self.passwords = Passwords(preset, min_length=settings.password_min_length)
        self.accounts = Accounts(self.store, self.passwords, clock=clock, audit=self.audit)
        self.outbox = SqlOutbox(self.store)
        # The server's sender sets this to its wake-up (web/app.py); tools leave it be.
        self.mail_queued: Callable[[], None] = lambda: None
        self.templates = Templates(settings.mail_templates)
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
        self.account_mail = AccountMail(
            self.store,
            self.passwords,
            templates=self.templates,
            public_url=settings.public_base,
            lifetimes=LinkLifetimes(
                verify_email=settings.verify_link_ttl,
                reset_password=settings.reset_link_ttl,
                change_email=settings.email_change_link_ttl,
                revert_email=settings.revert_link_ttl,
            ),
            key_encryption_key=kek,
            clock=clock,
            audit=self.audit,
            sessions_ended=self._sessions_ended,
            queued=lambda: self.mail_queued(),
        )
        self.passkeys = Passkeys(
            SqlPasskeys(self.store),
            self.store,
            rp_id=settings.passkey_rp_id,
            rp_name=urlsplit(settings.public_base).hostname or "authgate",
            origins=settings.passkey_origins,
            clock=clock,
            audit=self.audit,
            notify=self.account_mail.notify,
        )
        self.factors = SecondFactors(
            SqlFactors(self.store),
            self.store,
            issuer_name=urlsplit(settings.public_base).hostname or "authgate",
            recovery_key=functools.cache(lambda: self.server_key("recovery-codes")),
            key_encryption_key=kek,
            clock=clock,
            audit=self.audit,
            notify=self.account_mail.notify,
            passkeys=self.passkeys,
        )
        self.metrics.watch(self.metrics.revocations, lambda: len(self.revocations))
        self._synced_at = clock() - self.revocations.window
        self.sync_revocations()

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
        """The periodic poll: what announcements missed, sealed successors past their window,
        and deleted accounts whose sessions every process has heard of."""
        self.sync_revocations()
        self.refresh_keys()
        self.sessions.forget_successors()
        horizon = self.clock() - self.revocations.window - 2 * POLL_OVERLAP
        self.store.purge_deleted_users(deleted_before=horizon)

    def _sessions_ended(self, ended: Sequence[SessionId], user_id: UserId | None) -> None:
        """Refuse these sessions' access tokens (and, given a user, all its older ones) now."""
        now = self.clock()
        if user_id is not None:
            self.revocations.set_valid_after([(user_id, now)])
        self.revocations.revoke_sessions((sid, now) for sid in ended)

    def learn(self, announcement: Announcement) -> None:
        """Apply what another process announced (cheap: no database, safe on the event loop)."""
        self.revocations.learn(sessions=announcement.sessions, valid_after=announcement.users)

    def close(self) -> None:
        close = getattr(self.fanout, "close", None)
        if close is not None:
            close()
        self.store.close()
        self.engine.dispose()

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
        """A 256-bit HMAC key for one purpose, the same in every process (core/keychain.py)."""
        kek = self.settings.key_encryption_key
        return server_key(
            self.store,
            name,
            secret=self.settings.secret.reveal() if self.settings.secret else None,
            key_encryption_key=kek.reveal() if kek else None,
        )


def _reason(exc: OperationalError) -> str:
    """The driver's first line, which names the cause (refused, unknown host, bad password)."""
    lines = str(exc.orig).strip().splitlines()
    return lines[0] if lines else type(exc.orig).__name__

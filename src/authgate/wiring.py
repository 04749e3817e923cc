"""The wiring: database, keys, accounts, sessions and the guard, assembled from Settings.

`Parts` opens what the settings name and keeps the process in step with the others (the
catch-up poll, announcements, key rotations). The use cases routes and commands call are
in service.py; only the wiring (web/app.py, the CLI's opening, tests) reaches in here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, timedelta
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy.exc import OperationalError

from authgate.core.account_mail import AccountMail, LinkLifetimes
from authgate.core.announcements import Announcement
from authgate.core.breached import RangeApi
from authgate.core.clock import Clock, utc_now
from authgate.core.factors import SecondFactors
from authgate.core.guard import Guard
from authgate.core.keychain import Keychain, server_key
from authgate.core.keys import KeyRing, reseal, sealed_prefix
from authgate.core.letters import Templates
from authgate.core.passkeys import Passkeys
from authgate.core.passwords import RECOMMENDED, Passwords, Preset, context_words
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
from authgate.web.logs import key_values

logger = logging.getLogger("authgate")
audit_logger = logging.getLogger("authgate.audit")

# Revocations committed this long before the last poll are still picked up by the next.
POLL_OVERLAP = timedelta(seconds=5)


class ObservedAudit:
    """The audit log, whose every event is also shown to `observe` (the metrics) and written
    as a line on the `authgate.audit` logger, once stored.

    The line lets operators keep the audit trail in a log system of their own, out of reach
    of whoever controls this database (ASVS V16.4.3). It holds what the row holds: ids, the
    address and the details, never an e-mail, a password, a token or a code.
    """

    def __init__(self, log: AuditLog, observe: Callable[[AuditEvent], None]) -> None:
        self.log = log
        self.observe = observe

    def record(self, event: AuditEvent) -> None:
        self.log.record(event)
        self.observe(event)
        if audit_logger.isEnabledFor(logging.INFO):
            log_audit_event(event)


def log_audit_event(event: AuditEvent) -> None:
    """`sign_in at=… user_id=… session_id=… ip=…` and the details, on `authgate.audit`; in
    JSON, the same as keys (the kind as `event`, the details as an object, `detail`)."""
    fields = {
        "at": event.at.astimezone(UTC).isoformat(timespec="milliseconds"),
        "user_id": event.user_id,
        "session_id": event.session_id,
        "ip": event.ip,
    }
    known = {name: value for name, value in fields.items() if value is not None}
    detail = dict(event.detail or {})
    audit_logger.info(
        "%s %s",
        event.kind,
        key_values({**known, **detail}),
        extra={"event": event.kind, **known, **({"detail": detail} if detail else {})},
    )


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
                if kek is not None:
                    self._seal_stored_secrets(kek)
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
        self.breach_check = (
            None
            if settings.breached_passwords_url is None
            else RangeApi(
                settings.breached_passwords_url,
                timeout=settings.breached_passwords_timeout.total_seconds(),
                on_check=lambda outcome: self.metrics.breached_passwords.labels(outcome).inc(),
            )
        )
        self.passwords = Passwords(
            preset,
            min_length=settings.password_min_length,
            context_words=service_words(settings),
            breach_check=self.breach_check,
        )
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
                max_per_user=settings.max_sessions_per_user,
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
            totp_drift_steps=settings.totp_drift_steps,
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
        expired MFA and passkey challenges, and deleted accounts whose sessions every process
        has heard of."""
        self.sync_revocations()
        self.refresh_keys()
        self.sessions.forget_successors()
        self.factors.forget_challenges()
        self.passkeys.forget_challenges()
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
        if self.breach_check is not None:
            self.breach_check.close()
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

    def _seal_stored_secrets(self, kek: str) -> None:
        """Seal under the current KEK, in the current format, every stored secret that is in
        clear, in the older Fernet format or under a previous KEK (ASVS V11.2.2).

        It runs under the startup lock, before anything here reads a secret, and in one
        transaction: after one start, the previous keys can leave the settings.
        """
        previous = tuple(key.reveal() for key in self.settings.previous_key_encryption_keys)
        sealed = self.store.seal_secrets(
            lambda stored, was_sealed: reseal(
                stored, sealed=was_sealed, key_encryption_key=kek, previous=previous
            ),
            current=sealed_prefix(kek),
        )
        if sealed:
            logger.info("sealed %d stored keys and secrets under the key-encryption key", sealed)

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


def service_words(settings: Settings) -> frozenset[str]:
    """What a password must not be built from, whoever uses it (ASVS V6.2.11).

    authgate's name, the labels of the hosts it answers on (issuer, public URL), the display
    name it mails from, and the operator's own words.
    """
    hosts = [urlsplit(url).hostname or "" for url in (settings.issuer, settings.public_base)]
    display_name = settings.mail_from.rpartition("<")[0]
    return context_words("authgate", *hosts, display_name, *settings.password_context_words)

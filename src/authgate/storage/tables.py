"""The schema as SQLAlchemy tables, and the column types that hide secrets and keep UTC.

The engine, its dialect's ways and its startup lock are in storage/engine.py.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)

logger = logging.getLogger("authgate")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class HiddenBytes(bytes):
    """Key material read from the database: it never shows itself in a repr or a log."""

    def __repr__(self) -> str:
        return "<hidden bytes>"


class HiddenStr(str):
    """A password hash read from the database: never shown in a repr or a log."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<hidden>"


class SecretBinary(TypeDecorator[bytes]):
    """LargeBinary whose values, as read, hide from SQLAlchemy's DEBUG row logging."""

    impl = LargeBinary
    cache_ok = True

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        return None if value is None else HiddenBytes(value)


class SecretString(TypeDecorator[str]):
    """String whose values, as read, hide from SQLAlchemy's DEBUG row logging."""

    impl = String(255)
    cache_ok = True

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else HiddenStr(value)


metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False, unique=True),
    Column("password_hash", SecretString, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime),
    Column("valid_after", UtcDateTime, index=True),
    Column("email_verified_at", UtcDateTime),
    # An account deleted by its owner is a tombstone (no e-mail, no password) for one
    # access-token lifetime, so that every process learns its sessions ended; then it goes.
    Column("deleted_at", UtcDateTime),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("ip", String(64)),
    Column("user_agent", String(512)),
    Column("revoked_at", UtcDateTime),
    Column("revoked_reason", String(64)),
    # When the person last proved who they are in this session (the `auth_time` claim).
    Column("authenticated_at", UtcDateTime),
    Column("amr", String(64)),  # how (RFC 8176 values, space-separated): the `amr` claim
    Index("ix_sessions_user_id", "user_id"),
    Index("ix_sessions_revoked_at", "revoked_at"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(36), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    # AES-GCM under a key only the token derives; kept for the grace window (core/sessions.py)
    Column("successor", SecretBinary),
    Index("ix_refresh_tokens_session_id", "session_id"),
    # Few rows have a sealed successor at any time: the erasing poll reads only those.
    Index(
        "ix_refresh_tokens_sealed_used_at",
        "used_at",
        sqlite_where=text("successor IS NOT NULL"),
        postgresql_where=text("successor IS NOT NULL"),
    ),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("material", SecretBinary, nullable=False),
    Column("sealed", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime),
    Column("activates_at", UtcDateTime),  # signs from then on; published from created_at
)

server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", SecretBinary, nullable=False),
    Column("sealed", Boolean, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("user_id", String(36)),
    Column("session_id", String(36)),
    Column("ip", String(64)),
    Column("detail", Text),
    Index("ix_audit_events_user_id", "user_id"),
)

# One-time links sent by mail (core/links.py): only the SHA-256 of the token is kept.
link_tokens = Table(
    "link_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("email", String(320), nullable=False),  # the address the link is about
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Index("ix_link_tokens_user_id", "user_id"),
)

# Mail waiting to leave, written in the transaction of the change it announces
# (storage/outbox.py). The body is sealed with the key-encryption key when one is set and
# erased once delivered: it may hold a live link.
outbox = Table(
    "outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("body", SecretBinary),
    Column("sealed", Boolean, nullable=False),
    Column("state", String(16), nullable=False),  # pending, sending, sent, dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("claim", String(36)),  # the sender holding it while state is "sending"
    Column("claimed_until", UtcDateTime),
    Column("sent_at", UtcDateTime),
    Column("last_error", String(512)),
    Index("ix_outbox_due", "state", "next_attempt_at"),
)

# Second factors (core/factors.py). A TOTP secret is sealed with the KEK when one is set;
# `last_step` is the newest time step whose code was accepted, so a code works once.
totp_factors = Table(
    "totp_factors",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("secret", SecretBinary, nullable=False),
    Column("sealed", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("confirmed_at", UtcDateTime),
    Column("last_step", Integer),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),  # HMAC-SHA256 under a server key
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Index("ix_recovery_codes_user_id", "user_id"),
)

# The password step of a sign-in that needs a second factor: an opaque, single-use token.
mfa_challenges = Table(
    "mfa_challenges",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("password_version", String(64), nullable=False),  # SHA-256 of the hash checked
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Column("failures", Integer, nullable=False),
)


# Passkeys (core/passkeys.py): WebAuthn credentials. The public key is public; the counter
# and backup flags are checked at every use. Challenges are kept as their SHA-256, used once.
passkeys = Table(
    "passkeys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("credential_id", String(1400), nullable=False, unique=True),  # base64url, ≤1023 bytes
    Column("public_key", LargeBinary, nullable=False),  # COSE_Key
    Column("sign_count", BigInteger, nullable=False),  # an unsigned 32-bit counter
    Column("transports", String(255), nullable=False),  # space-separated hints
    Column("backup_eligible", Boolean, nullable=False),
    Column("backup_state", Boolean, nullable=False),
    Column("name", String(64), nullable=False),
    Column("aaguid", String(36), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Index("ix_passkeys_user_id", "user_id"),
)

webauthn_challenges = Table(
    "webauthn_challenges",
    metadata,
    Column("challenge_hash", String(64), primary_key=True),
    Column("purpose", String(16), nullable=False),  # register, authenticate
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE")),  # to register
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Index("ix_webauthn_challenges_expires_at", "expires_at"),
)

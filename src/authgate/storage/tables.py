"""The schema as SQLAlchemy tables, their column types, and the engine for a database URL.

SQLite runs in WAL mode with `synchronous=NORMAL`: a committed transaction survives a
crash of the process. Write transactions start with BEGIN IMMEDIATE, so concurrent
writers queue on the busy timeout instead of failing on a lock upgrade.
"""

from __future__ import annotations

import logging
import os
import stat
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    make_url,
    text,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError

from authgate.errors import ConfigurationError

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


# The files SQLite and authgate keep beside a database file.
SIDE_FILES = ("-wal", "-shm", "-journal", ".lock")


def keep_private(database: str) -> None:
    """Create the SQLite file readable by its owner only (0600), and tighten what is not.

    It holds password hashes, refresh-token hashes and, unless a key-encryption key is
    set, private keys. SQLite creates its -wal, -shm and -journal files with the mode of
    the database file, so creating that one 0600, whatever the umask, covers them; files
    left by an older version are tightened, loudly.
    """
    os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    for path in (database, *(database + suffix for suffix in SIDE_FILES)):
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(path, 0o600)
            logger.warning("%s was readable by others (%o); made it owner-only (600)", path, mode)


# The forms hosting providers hand out, and the driver authgate uses for each.
POSTGRES_SCHEMES = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}
# Connections each process keeps: its database threads (web/app.py) plus the CLI's one.
POOL_SIZE = 8


def database_url(url: str) -> URL:
    """Parse `url`; a plain `postgresql://` or `postgres://` URL gets the psycopg 3 driver.

    Raises:
        ConfigurationError: not a database URL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError("AUTHGATE_DATABASE_URL is not a database URL") from None
    driver = POSTGRES_SCHEMES.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def create_database_engine(url: str) -> Engine:
    """An engine for `url`: SQLite set up for WAL and explicit transactions, or a pool."""
    parsed = database_url(url)
    # hide_parameters: bound values (password hashes, key material) never reach SQL logs.
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            parsed,
            pool_size=POOL_SIZE,
            max_overflow=POOL_SIZE,
            pool_pre_ping=True,
            pool_recycle=1800,
            hide_parameters=True,
        )
    if (
        parsed.database
        and parsed.database != ":memory:"
        and not parsed.database.startswith("file:")
    ):
        keep_private(parsed.database)
    engine = create_engine(
        parsed, hide_parameters=True, connect_args={"check_same_thread": False, "timeout": 30}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: object) -> None:
        # Let SQLAlchemy's "begin" event, below, start every transaction itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine

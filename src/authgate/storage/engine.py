"""One home for the database and its dialect: the engine, file modes, locks, inserts.

SQLite (the default, one file) runs in WAL mode with `synchronous=NORMAL`: a committed
transaction survives a crash of the process. Write transactions start with BEGIN
IMMEDIATE, so concurrent writers queue on the busy timeout instead of failing on a lock
upgrade. PostgreSQL (by URL, psycopg 3) gets a connection pool. Everything authgate does
differently on the two is decided here, from `dialect_of(engine)`.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Insert, Table, create_engine, event, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError

from authgate.errors import ConfigurationError

logger = logging.getLogger("authgate")

Dialect = Literal["sqlite", "postgresql"]
# pg_advisory_lock key for startup: any fixed 64-bit number; this one spells "authgate".
STARTUP_LOCK = int.from_bytes(b"authgate", "big") >> 1
# SQLite work is mostly CPU under the GIL, and writes take turns (SqlStore's write lock):
# two threads let one read or sign while the other writes; more only queue (web/pools.py).
DATABASE_THREADS: dict[Dialect, int] = {"sqlite": 2, "postgresql": 8}


def dialect_of(engine: Engine) -> Dialect:
    """Which of the two databases authgate runs on this engine is."""
    name = engine.dialect.name
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    raise ConfigurationError(
        f"AUTHGATE_DATABASE_URL: authgate runs on SQLite or PostgreSQL, not {name}"
    )


def database_threads(engine: Engine) -> int:
    """How many threads should do this database's work in one process."""
    return DATABASE_THREADS[dialect_of(engine)]


def insert_or_skip(engine: Engine, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING, in the engine's dialect."""
    dialect = postgresql if dialect_of(engine) == "postgresql" else sqlite
    statement: Insert = dialect.insert(table).on_conflict_do_nothing()
    return statement


SQLITE_CONNECT_ARGS = {"check_same_thread": False, "timeout": 30}
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
    engine = create_engine(parsed, hide_parameters=True, connect_args=SQLITE_CONNECT_ARGS)
    event.listen(engine, "connect", _sqlite_pragmas)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_lean_engine(engine: Engine) -> Engine:
    """The engine of SqlStore's statements: for an SQLite file, a second pool on it.

    Its connections have the same pragmas but no "begin" hook: a read of one statement
    needs no transaction (it is a consistent snapshot in autocommit), and a write sends
    its own BEGIN IMMEDIATE. An engine without event listeners spares each statement
    SQLAlchemy's event dispatch: a user by id measured about 70 µs through the main
    engine and 45 µs through this one. PostgreSQL, or an in-memory SQLite database that a
    second pool would not share: `engine` itself.
    """
    url = engine.url
    if dialect_of(engine) != "sqlite" or url.database in (None, "", ":memory:"):
        return engine
    if url.database.startswith("file:"):
        return engine
    reads = create_engine(url, hide_parameters=True, connect_args=SQLITE_CONNECT_ARGS)
    event.listen(reads, "connect", _sqlite_pragmas)
    return reads


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    """Every SQLite connection: WAL, and transactions begun by SQLAlchemy's "begin" event."""
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


def lock_table(conn: Connection, table: str) -> None:
    """Serialise check-then-insert across processes (SQLite's BEGIN IMMEDIATE already does).

    SHARE ROW EXCLUSIVE conflicts with itself and with writes, not with plain reads.
    """
    if dialect_of(conn.engine) == "postgresql":
        conn.execute(text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))


@contextmanager
def startup_lock(engine: Engine) -> Iterator[None]:
    """Hold off other processes starting on this database (migrations, first keys).

    PostgreSQL: a session advisory lock. SQLite: flock() on a `.lock` file beside the
    database. Never on the database file itself: closing any descriptor of that file
    drops the POSIX locks SQLite holds on it in this process (sqlite.org/howtocorrupt).
    """
    if dialect_of(engine) == "sqlite":
        with _file_lock(engine.url.database):
            yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK})
            conn.commit()


@contextmanager
def _file_lock(database: str | None) -> Iterator[None]:
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: `authgate serve` still opens the database first
        yield
        return
    descriptor = os.open(database + ".lock", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

"""Throwaway PostgreSQL and Redis servers, started from the machine's binaries.

The way pytest-postgresql does it (initdb into a temporary folder, a free port, stopped at
the end), written out here because pg_ctl and postgres refuse to run as root, which is how
CI runs: as root, the cluster belongs to the `postgres` account and the server runs as it.

Without the binaries these tests skip, unless AUTHGATE_REQUIRE_SERVICES is set (CI sets
it): then a missing server is a failure, so CI can never pass without PostgreSQL and Redis.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
import redis

REQUIRE_ENV = "AUTHGATE_REQUIRE_SERVICES"


def missing(what: str) -> NoReturn:
    """Skip for lack of `what`, or fail when the services are required."""
    message = f"{what} not found; install the Debian packages postgresql and redis-server"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{message} ({REQUIRE_ENV} is set)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(ready: object, *, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(Exception):
            if ready():  # type: ignore[operator]
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within 30 s")


def _postgres_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Postgres:
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1 only."""

    def __init__(self) -> None:
        bindir = _postgres_bindir()
        if bindir is None:
            missing("PostgreSQL (initdb)")
        self.bindir = bindir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="authgate-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:  # postgres will not run as root: hand the folder to its account
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                missing("a `postgres` account to run PostgreSQL as (root can't)")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Postgres:
        subprocess.run(
            [*self._as, str(self.bindir / "initdb"), "-D", str(self.data), "-U", "authgate",
             "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
            check=True, capture_output=True,
        )  # fmt: skip
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.folder),
            "max_connections": "400",
            # A throwaway cluster: durability off, speed on.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        args = [f"-c{name}={value}" for name, value in settings.items()]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*self._as, str(self.bindir / "postgres"), "-D", str(self.data), *args],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait(self._accepts, what="postgres", process=self.process, log=self.log)
        return self

    def _accepts(self) -> bool:
        with psycopg.connect(self.conninfo("postgres"), connect_timeout=2):
            return True

    def conninfo(self, database: str) -> str:
        return f"postgresql://authgate@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create `name` (a copy of `template`, if given) and return its URL."""
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            clause = f" TEMPLATE {template}" if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{clause}')  # type: ignore[arg-type]
        return self.conninfo(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # "smart" shutdown is SIGTERM; fast enough here
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class Redis:
    """redis-server on 127.0.0.1 and a free port, keeping nothing on disk."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server")
        self.binary = binary
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="authgate-redis-"))
        self.log = self.folder / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
                 "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait(self._pong, what="redis-server", process=self.process, log=self.log)
        return self

    def _pong(self) -> bool:
        with redis.Redis.from_url(self.url, socket_timeout=2) as client:
            return bool(client.ping())

    def flush(self) -> None:
        with redis.Redis.from_url(self.url) as client:
            client.flushall()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def running(server: Postgres | Redis) -> Iterator[Postgres | Redis]:
    try:
        yield server.start()
    finally:
        server.stop()

"""Shared fixtures: settings on a fresh database, a frozen clock, the service, the app.

Every test that takes `database_url` (directly or through settings, service, app or
client) runs twice: on a SQLite file and on a database of a throwaway PostgreSQL cluster
(tests/core runs once, on SQLite: the domain's rules do not depend on the database).

The tiers: `pytest_collection_modifyitems` below marks each test by its folder, its
parameters and its fixtures (the markers are listed in pyproject.toml), so that
`pytest -m "not slow"` is the quick loop while plain `pytest` runs everything.
"""

from __future__ import annotations

import pytest

# The shared assertions in helpers.py explain their failures as a test's own asserts do.
pytest.register_assert_rewrite("helpers")

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.service import Service
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import GENEROUS_THROTTLES, new_postgres_database
from services import Postgres, Redis
from smtp import Mailbox

BACKENDS = ["sqlite", "postgresql"]
SQLITE = "sqlite:///"
TESTS = Path(__file__).parent
SLOW_TIERS = ("postgresql", "redis", "e2e", "browser", "fuzz")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for tier in tiers(item):
            item.add_marker(tier)
        if any(item.get_closest_marker(tier) for tier in SLOW_TIERS):
            item.add_marker("slow")


def tiers(item: pytest.Item) -> set[str]:
    """The tiers a test's folder, file name, parameters and fixtures put it in.

    A test that reaches a server some other way (a fixture parameter, getfixturevalue, a
    process it starts itself) carries the marker in its own file.
    """
    folder = item.path.relative_to(TESTS).parts[0]
    fixtures = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    found = set()
    if folder in {"e2e", "browser"}:
        found.add(folder)
    if any(name == "server" or name.endswith("_server") for name in fixtures - {"redis_server"}):
        found.add("e2e")  # a running `authgate serve`: tests/verifier, tests/test_server.py
    if item.path.name.endswith("_fuzz.py"):
        found.add("fuzz")
    if "postgres" in fixtures or (callspec and callspec.params.get("backend") == "postgresql"):
        found.add("postgresql")
    if "redis_server" in fixtures:
        found.add("redis")
    return found


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL cluster for the whole run; each test gets a database of its own."""
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    server = Redis().start()
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database: a new SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        return f"{SQLITE}{tmp_path / 'authgate.db'}"
    return new_postgres_database(request)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database holding an RS256 signing key, made once per run.

    Migrating and generating a 2048-bit RSA key is most of the cost of starting a service;
    copying this file instead (`filled_from`) keeps the many small tests fast.
    """
    path = tmp_path_factory.mktemp("template") / "authgate.db"
    start = datetime(2030, 1, 1, tzinfo=UTC)
    Service(Settings(database_url=SQLITE + str(path)), clock=lambda: start).close()
    return path


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Path:
    """An empty folder and database, and no other AUTHGATE_* variable: where an operator
    runs `authgate` commands (tests/test_cli.py, tests/test_import.py)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("AUTHGATE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", database_url)
    return tmp_path


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, **GENEROUS_THROTTLES)


@pytest.fixture
def service(settings: Settings, clock: FrozenClock) -> Iterator[Service]:
    svc = Service(settings, clock=clock, preset=FAST_FOR_TESTS)
    yield svc
    svc.close()


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> FastAPI:
    return create_app(settings, clock=clock, preset=FAST_FOR_TESTS)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on a free port (tests/smtp.py), empty."""
    box = Mailbox().start()
    yield box
    box.stop()

"""Shared fixtures: settings on a fresh database, a frozen clock, the service, the app.

Every test that takes `database_url` (directly or through settings, service, app or
client) runs twice: on a SQLite file and on a database of a throwaway PostgreSQL cluster.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.service import Service
from authgate.settings import Settings
from authgate.web.app import create_app
from services import Postgres, Redis

BACKENDS = ["sqlite", "postgresql"]
_databases = itertools.count()

PASSWORD = "correct horse battery staple"
GENEROUS = "10000/minute"


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


def new_postgres_database(request: pytest.FixtureRequest, *, template: str | None = None) -> str:
    """A new database on the session's cluster (a copy of `template`), dropped after the test."""
    server: Postgres = request.getfixturevalue("postgres")
    name = f"test_{next(_databases)}"
    url = server.create_database(name, template=template)
    request.addfinalizer(lambda: server.drop_database(name))
    return url


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database: a new SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'authgate.db'}"
    return new_postgres_database(request)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        throttle_sign_up=GENEROUS,
        throttle_sign_in_ip=GENEROUS,
        throttle_sign_in_account=GENEROUS,
        throttle_token=GENEROUS,
    )


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


def sign_up_and_in(
    client: TestClient, email: str = "ada@example.com", password: str = PASSWORD
) -> dict[str, str]:
    """Create a user through the API and sign in; return the token response body."""
    assert client.post("/sign-up", json={"email": email, "password": password}).status_code == 201
    response = client.post("/sign-in", json={"email": email, "password": password})
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


def filled_from(template: Path, database_url: str, tmp_path: Path) -> str:
    """`database_url`, first filled with a copy of `template` when it is a fresh SQLite file.

    Migrating and generating a signing key is most of the cost of starting a service;
    copying a database made once keeps many small tests fast. Other URLs pass through.
    """
    path = Path(database_url.removeprefix("sqlite:///"))
    if not database_url.startswith("sqlite:///") or path.exists() or tmp_path not in path.parents:
        return database_url
    with (
        contextlib.closing(sqlite3.connect(template)) as source,
        contextlib.closing(sqlite3.connect(path)) as copy,
    ):
        source.backup(copy)
    return database_url


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

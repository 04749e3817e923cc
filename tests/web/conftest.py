"""Fixtures for the HTTP tests: apps on other settings, and clients at other addresses."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import postgres_template as make_postgres_template
from helpers import templated_database_url
from services import Postgres

from .helpers import FromIp, MakeClient, companion


@pytest.fixture(scope="session")
def postgres_template(postgres: Postgres) -> str:
    """The same, as a PostgreSQL template database that CREATE DATABASE copies."""
    return make_postgres_template(postgres, "template_web")


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A copy of the template, migrated and holding a key: a SQLite file or a PG database."""
    return templated_database_url(backend, tmp_path, request)


@pytest.fixture
def make_client(settings: Settings, clock: FrozenClock) -> Iterator[MakeClient]:
    """Start a client on a new app whose settings differ from `settings` by `changes`.

    The app shares the test's database and clock; `ip` is the address it sees.
    """
    with contextlib.ExitStack() as stack:

        def make(*, ip: str = "testclient", **changes: object) -> TestClient:
            app = create_app(
                dataclasses.replace(settings, **changes), clock=clock, preset=FAST_FOR_TESTS
            )
            return stack.enter_context(TestClient(app, client=(ip, 50000)))

        yield make


@pytest.fixture
def from_ip() -> Iterator[FromIp]:
    """Another client on an already running app, seen by it as coming from `ip`."""
    with contextlib.ExitStack() as stack:

        def make(running: TestClient, ip: str) -> TestClient:
            # Not entered: entering would run the app's lifespan a second time.
            other = companion(running, client=(ip, 50000))
            stack.callback(other.close)
            return other

        yield make

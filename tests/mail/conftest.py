"""Fixtures for the delivery tests: settings that send to the test's Mailbox, the app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.settings import Secret, Settings
from authgate.web.app import create_app
from helpers import GENEROUS_THROTTLES, templated_database_url
from helpers import postgres_template as make_postgres_template
from services import Postgres
from smtp import Mailbox

from . import MAIL_FROM, PUBLIC_URL


@pytest.fixture(scope="session")
def postgres_template(postgres: Postgres) -> str:
    """A migrated PostgreSQL database holding a signing key, copied by CREATE DATABASE."""
    return make_postgres_template(postgres, "template_mail")


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A copy of the template, migrated and holding a key: a SQLite file or a PG database."""
    return templated_database_url(backend, tmp_path, request)


@pytest.fixture
def settings(database_url: str, mailbox: Mailbox) -> Settings:
    """Mail to the test's Mailbox, retried after 1 s then 2 s, dead after the third try."""
    return Settings(
        database_url=database_url,
        public_url=PUBLIC_URL,
        smtp_url=Secret(mailbox.url),
        mail_from=MAIL_FROM,
        mail_retry_delay=timedelta(seconds=1),
        mail_max_attempts=3,
        **GENEROUS_THROTTLES,
    )


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> FastAPI:
    """The app, its sender not started yet (it starts with the lifespan)."""
    return create_app(settings, clock=clock, preset=FAST_FOR_TESTS)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client of the app with its lifespan running: the sender delivers meanwhile."""
    with TestClient(app) as test_client:
        yield test_client

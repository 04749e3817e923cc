"""What tests in every folder share: the test password and key-encryption key, throttles no
test reaches, a Bearer header, the refusal of an invalid token, fresh databases, and TOTP
codes by the real clock.

Plain values and functions only; fixtures live in the conftest.py files. Tests import this
module as any other, never `from conftest import`: a conftest is pytest's to load, and
importing one by name works only while its folder happens to come first on sys.path.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pyotp
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authgate.core.totp import STEP_SECONDS

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from authgate.service import Service
    from services import Postgres

PASSWORD = "correct horse battery staple"

KEY_ENCRYPTION_KEY = "iRsCazFUuPzRkVXhq5_w-I9aF-hUj7f6xHotVtKeTrg"
"""An `authgate secret` output, printed once: weaker keys stop startup (ASVS V11.4.4)."""

GENEROUS = "1000000/minute"
"""A throttle rate no test reaches, though every request of a test comes from one address."""
GENEROUS_THROTTLES = {
    "throttle_sign_up": GENEROUS,
    "throttle_sign_in_ip": GENEROUS,
    "throttle_sign_in_account": GENEROUS,
    "throttle_token": GENEROUS,
    "throttle_passkey_options": GENEROUS,
    "throttle_mail_address": GENEROUS,
    "throttle_mail_ip": GENEROUS,
}
"""Every throttle out of the way, as Settings fields: `Settings(..., **GENEROUS_THROTTLES)`."""
THROTTLES = {f"AUTHGATE_{name.upper()}": rate for name, rate in GENEROUS_THROTTLES.items()}
"""The same as environment variables, for real `authgate serve` processes."""

INVALID_TOKEN = 'Bearer error="invalid_token"'
"""The challenge of a 401 for an invalid, expired, tampered or revoked token (RFC 6750 §3.1)."""

_databases = itertools.count()


class Answer(Protocol):
    """An HTTP response, from the in-process TestClient or from httpx against a server."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


def bearer(token: str) -> dict[str, str]:
    """The Authorization header that presents `token`."""
    return {"Authorization": f"Bearer {token}"}


def assert_refused_as_invalid_token(response: Answer) -> None:
    """`response` is a 401 whose challenge says the token presented is not valid."""
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == INVALID_TOKEN


def sign_up_and_in(
    client: TestClient, email: str = "ada@example.com", password: str = PASSWORD
) -> dict[str, str]:
    """Create a user through the API and sign in; return the token response body."""
    assert client.post("/sign-up", json={"email": email, "password": password}).status_code == 201
    response = client.post("/sign-in", json={"email": email, "password": password})
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


LINK_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_-]{43})")


@contextlib.contextmanager
def service_from_env() -> Iterator[Service]:
    """A Service of its own, as another process would open it from the environment: it
    learns what a command did from the database (tests of `authgate` commands)."""
    import os

    from authgate.core.clock import utc_now
    from authgate.core.passwords import FAST_FOR_TESTS
    from authgate.service import Service
    from authgate.settings import Settings

    service = Service(Settings.from_env(os.environ), clock=utc_now, preset=FAST_FOR_TESTS)
    try:
        yield service
    finally:
        service.close()


def mailed_token(service: Service, kind: str, *, to: str | None = None) -> str:
    """The link token in the newest outbox letter of `kind` (to `to`), as its reader gets it."""
    for envelope in service.outbox(limit=500):
        if envelope.kind == kind and (to is None or envelope.recipient == to):
            letter = service.open_mail(envelope)
            assert letter is not None, f"the {kind} mail was delivered and erased"
            found = LINK_TOKEN.search(letter.text)
            assert found is not None, f"no link in the {kind} mail"
            return found.group(1)
    raise AssertionError(f"no {kind} mail{f' to {to}' if to else ''} in the outbox")


TOTP_MARGIN = 5.0
"""Seconds a code computed by the real clock needs to reach the server within its own step."""


def fresh_totp_step(*, after: int | None = None) -> int:
    """The real clock's TOTP step, once at least TOTP_MARGIN seconds of it are left and it
    is later than `after` (a step whose code was used already); sleeps into the next otherwise.

    The server accepts only the current step's code (AUTHGATE_TOTP_DRIFT_STEPS is 0), so a
    code computed in a step's last moments could arrive in the next step and be refused.
    """
    while True:
        now = time.time()
        step, left = int(now // STEP_SECONDS), STEP_SECONDS - now % STEP_SECONDS
        if left >= TOTP_MARGIN and (after is None or step > after):
            return step
        time.sleep(left + 0.05)


def fresh_totp(secret: str) -> str:
    """The code an authenticator app holding `secret` shows now, with time left to use it."""
    return pyotp.TOTP(secret).at(fresh_totp_step() * STEP_SECONDS)


def new_postgres_database(request: pytest.FixtureRequest, *, template: str | None = None) -> str:
    """A new database on the session's cluster (a copy of `template`), dropped after the test.

    Only for tests marked `postgresql` (the `backend` parameter marks its own), so that
    `pytest -m "not slow"` never starts the cluster.
    """
    if request.node.get_closest_marker("postgresql") is None:
        pytest.fail(f"{request.node.nodeid} uses PostgreSQL: mark it postgresql", pytrace=False)
    server: Postgres = request.getfixturevalue("postgres")
    name = f"test_{next(_databases)}"
    url = server.create_database(name, template=template)
    request.addfinalizer(lambda: server.drop_database(name))
    return url


def postgres_template(server: Postgres, name: str) -> str:
    """A migrated PostgreSQL database holding a signing key, for CREATE DATABASE to copy."""
    from datetime import UTC, datetime

    from authgate.service import Service
    from authgate.settings import Settings

    url = server.create_database(name)
    start = datetime(2030, 1, 1, tzinfo=UTC)
    Service(Settings(database_url=url), clock=lambda: start).close()
    return name


def templated_database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A copy of the run's template, migrated and holding a key: a SQLite file or a PG database.

    For a folder's conftest whose `postgres_template` fixture names its template database.
    """
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        return filled_from(template, f"sqlite:///{tmp_path / 'authgate.db'}", tmp_path)
    return new_postgres_database(request, template=request.getfixturevalue("postgres_template"))


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


def sealed_by_fernet(data: bytes, key_encryption_key: str) -> bytes:
    """`data` sealed as authgate did before the `ag1` format: a Fernet token (AES-128-CBC
    with HMAC-SHA256) under a key HKDF derived from the key-encryption key."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"authgate key encryption"
    ).derive(key_encryption_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived)).encrypt(data)

"""What a copy of the database gives an attacker: no token, no chain, no readable file.

The review's attack: read authgate.db (it was created 0644), hold one old, already used
refresh token, and compute every later token of its session, never tripping reuse
detection, because a retry's successor was HMAC(server secret, presented token). The
attacker here knows the design, tries every derivation the stored bytes allow, and must
get nothing but the one successor minted within the last grace window.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.service import Service
from authgate.settings import Secret, Settings
from authgate.web.app import create_app
from helpers import sign_up_and_in

GRACE = timedelta(seconds=10)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "authgate.db"


@pytest.fixture
def client(path: Path, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=f"sqlite:///{path}"), clock=clock, preset=FAST_FOR_TESTS)
    with TestClient(app) as test_client:
        yield test_client


def refresh(client: TestClient, token: str) -> str:
    response = client.post("/token", json={"refresh_token": token})
    assert response.status_code == 200, response.text
    successor: str = response.json()["refresh_token"]
    return successor


def stolen_rows(path: Path) -> list[dict[str, object]]:
    """Every row of every table of a copy of the database file, as the attacker reads it."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [dict(row) for table in tables for row in db.execute(f"SELECT * FROM {table}")]  # noqa: S608


def tokens_an_attacker_derives(path: Path, old_token: str) -> set[str]:
    """Every refresh token the stolen rows and one old token yield, by any derivation known.

    HMAC-SHA256 of the old token under every stored byte string (the old successor design),
    and AES-GCM opening of every stored byte string under a key HKDF derives from the old
    token (the current one, which must yield only what the grace window still allows).
    """
    derived: set[str] = set()
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"authgate refresh successor")
    cipher = AESGCM(hkdf.derive(old_token.encode()))
    for row in stolen_rows(path):
        for value in row.values():
            if not isinstance(value, bytes):
                continue
            digest = hmac.new(value, old_token.encode(), hashlib.sha256).digest()
            derived.add(base64.urlsafe_b64encode(digest).decode().rstrip("="))
            for aad in (hashlib.sha256(old_token.encode()).hexdigest().encode(), b"", None):
                with contextlib.suppress(InvalidTag, ValueError):
                    derived.add(cipher.decrypt(value[:12], value[12:], aad).decode())
    return derived


def test_an_old_token_and_the_database_yield_no_later_token(
    client: TestClient, clock: FrozenClock, path: Path
) -> None:
    first = sign_up_and_in(client)["refresh_token"]
    clock.advance(1)
    second = refresh(client, first)
    clock.advance(GRACE.total_seconds() + 1)
    third = refresh(client, second)
    clock.advance(GRACE.total_seconds() + 1)
    fourth = refresh(client, third)
    client.app.state.service.parts.catch_up()  # the poll erases what the window no longer needs

    derived = tokens_an_attacker_derives(path, first) | tokens_an_attacker_derives(path, second)

    assert derived.isdisjoint({second, third, fourth})


def test_inside_the_grace_window_an_old_token_yields_only_its_own_successor(
    client: TestClient, clock: FrozenClock, path: Path
) -> None:
    """The attack's control: the derivations work, and reach exactly what the window allows."""
    first = sign_up_and_in(client)["refresh_token"]
    clock.advance(GRACE.total_seconds() + 1)
    second = refresh(client, first)
    third = refresh(client, second)  # at once: `second` is inside its window

    assert third in tokens_an_attacker_derives(path, second)
    assert tokens_an_attacker_derives(path, first).isdisjoint({second, third})


def test_the_database_alone_holds_no_refresh_token(client: TestClient, path: Path) -> None:
    token = sign_up_and_in(client)["refresh_token"]
    successor = refresh(client, token)

    dump = b"".join(str(value).encode() for row in stolen_rows(path) for value in row.values())

    assert token.encode() not in dump
    assert successor.encode() not in dump


def test_the_database_and_its_side_files_are_readable_by_their_owner_only(
    client: TestClient, path: Path
) -> None:
    previous = os.umask(0o022)  # the usual umask, which made 0644 files before
    try:
        sign_up_and_in(client)  # writes: the WAL and its index exist now
    finally:
        os.umask(previous)

    files = sorted(path.parent.glob(path.name + "*"))

    assert {f.name for f in files} >= {"authgate.db", "authgate.db-wal", "authgate.db-shm"}
    assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {
        f.name: "0o600" for f in files
    }


def test_a_database_left_readable_by_others_is_made_owner_only_at_start(
    path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    Service(Settings(database_url=f"sqlite:///{path}"), clock=clock).close()
    path.chmod(0o644)
    lock = path.with_name(path.name + ".lock")
    lock.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="authgate"):
        Service(Settings(database_url=f"sqlite:///{path}"), clock=clock).close()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert "owner-only" in caplog.text


def test_start_up_says_loudly_that_private_keys_are_stored_in_clear(
    path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="authgate"):
        app = create_app(Settings(database_url=f"sqlite:///{path}"), clock=clock)
    with TestClient(app) as client:
        ready = client.get("/ready")

    assert "AUTHGATE_KEY_ENCRYPTION_KEY" in caplog.text
    assert "authgate secret" in caplog.text
    assert ready.status_code == 200
    assert any("unencrypted" in warning for warning in ready.json()["warnings"])


def test_a_key_encryption_key_seals_the_keys_stored_in_clear_and_ends_the_warning(
    path: Path, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{path}"
    Service(Settings(database_url=url), clock=clock).close()
    kek = Secret(base64.urlsafe_b64encode(os.urandom(32)).decode())
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger="authgate"):
        sealed = Service(Settings(database_url=url, key_encryption_key=kek), clock=clock)
    sealed.close()

    clear = [row for row in stolen_rows(path) if "sealed" in row and not row["sealed"]]
    assert clear == []
    assert sealed.warnings == []
    assert "unencrypted" not in caplog.text

"""End-to-end tests against real `authgate serve` processes: races, crashes, restarts.

The shared pieces live here: a client for a server on loopback, and read-only looks at a
server's tokens and its SQLite file (throttles and the Bearer header are in tests/helpers.py).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import sqlite3
import ssl
from pathlib import Path
from typing import Any

import httpx


def http_client(url: str) -> httpx.Client:
    """A client for a server on loopback, with a generous timeout for a busy machine."""
    return httpx.Client(base_url=url, timeout=60, verify=_tls_context())


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # The servers speak plain HTTP, but each httpx client loads the CA bundle into a context
    # of its own unless given one: ~50 ms a client, seconds for fifty on a busy machine.
    return ssl.create_default_context()


def unverified_session_id(access_token: str) -> str:
    """The `sid` claim of an access token, read without verification (for inspection only)."""
    part = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    session_id: str = claims["sid"]
    return session_id


def query(database: Path, sql: str, parameters: tuple[object, ...] = ()) -> list[Any]:
    """Rows from a server's SQLite file, read through a read-only connection."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return db.execute(sql, parameters).fetchall()

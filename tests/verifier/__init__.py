"""Verifiers and framework adapters against a real `authgate serve`: the plain pieces the
tests share (the fixtures are in conftest.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from authgate.core.keys import KeyRing, SigningKey
from authgate.core.tokens import issue_access_token
from helpers import PASSWORD, THROTTLES
from servers import Server
from services import free_port

AUDIENCE = "authgate"  # the server's default


def start_server(folder: Path, **settings: str) -> Server:
    """A started server whose issuer is its own URL, with throttles out of the way."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    return Server(folder, {"AUTHGATE_ISSUER": issuer, **THROTTLES, **settings}, port=port).start()


@dataclass(frozen=True)
class SignedIn:
    user_id: str
    email: str
    access_token: str
    refresh_token: str


def sign_in(server: Server) -> SignedIn:
    """Sign up a new user on `server` and sign in."""
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    with httpx.Client(base_url=server.url, timeout=30) as client:
        created = client.post("/sign-up", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        answer = client.post("/sign-in", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
    body = answer.json()
    return SignedIn(created.json()["id"], email, body["access_token"], body["refresh_token"])


def mint(
    key: SigningKey,
    *,
    issuer: str,
    scopes: Iterable[str] = (),
    roles: Iterable[str] = (),
    ttl: timedelta = timedelta(minutes=15),
) -> str:
    """A token as the server would issue it, with scopes and roles, signed by `key`."""
    token, _ = issue_access_token(
        subject="user-minted",
        email="minted@example.com",
        session_id="session-minted",
        keys=KeyRing(key),
        issuer=issuer,
        audience=AUDIENCE,
        now=datetime.now(UTC),
        ttl=ttl,
        scopes=scopes,
        roles=roles,
    )
    return token

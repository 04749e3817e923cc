"""One real `authgate serve` for the verifier tests, users signed in there, and a test key.

The server's issuer is its own URL, so discovery works as in production. Tokens with
scopes, which the server does not issue yet, are signed in-test by `test_key`, which
verifiers built on StaticKeys trust.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from authgate.core.keys import KeyRing, SigningKey, generate_key
from authgate.core.tokens import issue_access_token
from servers import PASSWORD, Server, free_port

from .proxy import Proxy

GENEROUS = "1000000/minute"
THROTTLES = {
    "AUTHGATE_THROTTLE_SIGN_UP": GENEROUS,
    "AUTHGATE_THROTTLE_SIGN_IN_IP": GENEROUS,
    "AUTHGATE_THROTTLE_SIGN_IN_ACCOUNT": GENEROUS,
    "AUTHGATE_THROTTLE_TOKEN": GENEROUS,
}
AUDIENCE = "authgate"  # the server's default


def start_server(folder: Path, **settings: str) -> Server:
    """A started server whose issuer is its own URL, with throttles out of the way."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    return Server(folder, {"AUTHGATE_ISSUER": issuer, **THROTTLES, **settings}, port=port).start()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The authgate server most verifier tests share; no test changes its keys or users."""
    running = start_server(tmp_path_factory.mktemp("authgate"))
    yield running
    running.stop()


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


@pytest.fixture(scope="session")
def user(server: Server) -> SignedIn:
    """A user signed in on the shared server, for tests that only read its token."""
    return sign_in(server)


@pytest.fixture(scope="session")
def test_key() -> SigningKey:
    return generate_key("ES256", now=datetime.now(UTC))


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


@pytest.fixture
def proxy(server: Server) -> Iterator[Proxy]:
    """A counting relay in front of the shared server."""
    relay = Proxy(server.url)
    yield relay
    relay.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

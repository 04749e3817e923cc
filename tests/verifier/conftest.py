"""One real `authgate serve` for the verifier tests, users signed in there, and a test key.

The server's issuer is its own URL, so discovery works as in production. Tokens with
scopes, which the server does not issue yet, are signed in-test by `test_key`, which
verifiers built on StaticKeys trust.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from authgate.core.keys import SigningKey, generate_key
from servers import Server

from . import SignedIn, sign_in, start_server
from .proxy import Proxy


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The authgate server most verifier tests share; no test changes its keys or users."""
    running = start_server(tmp_path_factory.mktemp("authgate"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def user(server: Server) -> SignedIn:
    """A user signed in on the shared server, for tests that only read its token."""
    return sign_in(server)


@pytest.fixture(scope="session")
def test_key() -> SigningKey:
    return generate_key("ES256", now=datetime.now(UTC))


@pytest.fixture
def proxy(server: Server) -> Iterator[Proxy]:
    """A counting relay in front of the shared server."""
    relay = Proxy(server.url)
    yield relay
    relay.stop()

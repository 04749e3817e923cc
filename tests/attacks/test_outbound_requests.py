"""Tokens that name a URL or carry a key make authgate fetch nothing (RFC 8725 §3.10).

A verifier that follows `jku` or `x5u`, a key's `x5u`, a certificate's AIA or CRL address,
a URL-shaped `kid` or a token's own `iss` (OpenID discovery) lets an attacker choose the
key, and makes the server a request-forgery proxy. Each row points at a listening socket
on 127.0.0.1 that records every connection; the token is sent to the core and to a guarded
route, must be refused by both, and after half a second the listener must have seen
nothing. A control row connects on purpose, to show the listener would notice.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID
from fastapi.testclient import TestClient

from authgate.errors import InvalidToken
from authgate.service import Service
from helpers import bearer

from .test_forged_tokens import (
    Target,
    attacker_certificate,
    attacker_jwk,
    rs256_by_attacker,
    server_signed,
)

EMAIL = "ada@example.com"
SETTLE = 0.5  # seconds a background fetch gets to show up before the listener is read


class Listener:
    """A TCP socket on 127.0.0.1 that records the first line of every connection to it."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._socket.settimeout(0.05)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._seen: list[str] = []
        self._thread = threading.Thread(target=self._serve, name="listener", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()
        return f"http://{host}:{port}"

    def connections(self, *, after: float = SETTLE) -> list[str]:
        """What connected so far, read after waiting `after` seconds for stragglers."""
        time.sleep(after)
        with self._lock:
            return list(self._seen)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    first = ""
            with self._lock:
                self._seen.append(first or "(a connection that sent nothing)")


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


# -- what the attacker sends ------------------------------------------------------

Row = Callable[[Target, str], str]
"""Given the target and a URL on the listener (unique to the row), make the token."""


def attacker_signed_with_header(name: str) -> Row:
    def row(t: Target, url: str) -> str:
        return rs256_by_attacker({**t.header, name: url}, t.claims)

    return row


def server_signed_with_header(name: str) -> Row:
    def row(t: Target, url: str) -> str:
        return server_signed(t, header={name: url})

    return row


def jwk_carrying_x5u(t: Target, url: str) -> str:
    """An embedded attacker key whose own `x5u` says where its certificate lives."""
    return rs256_by_attacker({**t.header, "jwk": {**attacker_jwk(), "x5u": url}}, t.claims)


def x5c_with_fetchable_addresses(t: Target, url: str) -> str:
    """An attacker certificate whose AIA and CRL distribution point name the listener."""
    chain = [
        attacker_certificate(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(f"{url}/ca.der"),
                    )
                ]
            ),
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(f"{url}/crl.der")], None, None, None
                    )
                ]
            ),
        )
    ]
    return rs256_by_attacker({**t.header, "x5c": chain}, t.claims)


def kid_is_a_url(t: Target, url: str) -> str:
    return rs256_by_attacker({**t.header, "kid": f"{url}/jwks.json"}, t.claims)


def unknown_kid_and_issuer_at_listener(t: Target, url: str) -> str:
    """What a discovering verifier would resolve: {iss}/.well-known/openid-configuration."""
    return rs256_by_attacker({**t.header, "kid": "attacker-key"}, {**t.claims, "iss": url})


def issuer_at_listener_on_genuine_signature(t: Target, url: str) -> str:
    return server_signed(t, claims={"iss": url})


ROWS = [
    pytest.param(attacker_signed_with_header("jku"), id="jku"),
    pytest.param(server_signed_with_header("jku"), id="jku-on-genuine-signature"),
    pytest.param(attacker_signed_with_header("x5u"), id="x5u"),
    pytest.param(server_signed_with_header("x5u"), id="x5u-on-genuine-signature"),
    pytest.param(jwk_carrying_x5u, id="jwk-embedded-attacker-key-with-x5u"),
    pytest.param(x5c_with_fetchable_addresses, id="x5c-certificate-with-aia-and-crl-urls"),
    pytest.param(kid_is_a_url, id="kid-is-a-url"),
    pytest.param(unknown_kid_and_issuer_at_listener, id="unknown-kid-issuer-at-listener"),
    pytest.param(issuer_at_listener_on_genuine_signature, id="issuer-at-listener"),
]


def row_url(listener: Listener, request: pytest.FixtureRequest) -> str:
    """A URL on the listener whose path names the row, so a stray request says who sent it."""
    return f"{listener.url}/{request.node.callspec.id}"


# -- the two surfaces -------------------------------------------------------------


def refused_by_the_core(service: Service, token: str) -> bool:
    try:
        service.read(token)
    except InvalidToken:
        return True
    return False


def refused_by_a_guarded_route(client: TestClient, token: str) -> bool:
    response = client.get("/test", headers=bearer(token))
    return (response.status_code, response.json().get("error")) == (401, "invalid_token")


@pytest.mark.slow  # waits half a second for connections that must not come
def test_the_listener_notices_a_connection(listener: Listener) -> None:
    """The control: a request to the listener's URL is seen, so silence means none was made."""
    with socket.create_connection(("127.0.0.1", int(listener.url.rsplit(":", 1)[1]))) as conn:
        conn.sendall(b"GET /control HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")

    assert listener.connections() == ["GET /control HTTP/1.1"]


@pytest.mark.parametrize("row", ROWS)
def test_token_naming_a_url_is_refused_by_the_core(
    row: Row,
    listener: Listener,
    request: pytest.FixtureRequest,
    shared_service: Service,
    core_target: Target,
) -> None:
    with pytest.raises(InvalidToken):
        shared_service.read(row(core_target, row_url(listener, request)))


@pytest.mark.parametrize("row", ROWS)
def test_token_naming_a_url_is_refused_by_a_guarded_route(
    row: Row,
    listener: Listener,
    request: pytest.FixtureRequest,
    shared_client: TestClient,
    http_target: Target,
) -> None:
    response = shared_client.get(
        "/test", headers=bearer(row(http_target, row_url(listener, request)))
    )

    assert (response.status_code, response.json()["error"]) == (401, "invalid_token")


@pytest.mark.slow  # waits half a second for connections that must not come
@pytest.mark.parametrize("row", ROWS)
def test_token_naming_a_url_makes_no_outbound_request(
    row: Row,
    listener: Listener,
    request: pytest.FixtureRequest,
    shared_service: Service,
    core_target: Target,
    shared_client: TestClient,
    http_target: Target,
) -> None:
    """Sent to both surfaces, then half a second for any background fetch to arrive."""
    url = row_url(listener, request)
    refused = (
        refused_by_the_core(shared_service, row(core_target, url)),
        refused_by_a_guarded_route(shared_client, row(http_target, url)),
    )

    assert (refused, listener.connections()) == ((True, True), [])

"""The Starlette backend: request.auth scopes, and what a route without @requires sees."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from authgate import SigningKey
from servers import Server

from . import SignedIn, mint
from .sites import Site, starlette_site


@pytest.fixture
def site(server: Server, test_key: SigningKey) -> Iterator[Site]:
    with starlette_site({"ISSUER": server.url, "KEYS": {"keys": [test_key.public_jwk()]}}) as built:
        yield built


def test_request_auth_lists_authenticated_and_the_tokens_scopes(
    site: Site, server: Server, test_key: SigningKey
) -> None:
    token = mint(test_key, issuer=server.url, scopes=["write:things", "read:things"])

    answer = site.get("/me", f"Bearer {token}")

    assert answer.body["auth"] == ["authenticated", "read:things", "write:things"]


def test_route_without_requires_serves_a_request_without_a_token_as_anonymous(
    site: Site,
) -> None:
    answer = site.get("/public")

    assert (answer.status, answer.body) == (200, {"authenticated": False})


def test_refused_token_is_answered_401_on_every_route_by_the_middleware(
    site: Site, user: SignedIn
) -> None:
    """AuthenticationMiddleware's way: a bad credential is an error wherever it is sent."""
    answer = site.get("/public", f"Bearer {user.access_token}")  # not the test key's

    assert (answer.status, answer.challenge) == (401, 'Bearer error="invalid_token"')
    assert answer.body["error"] == "invalid_token"

"""One contract for every adapter, through each framework's own test client.

200 with the claims for a valid token; 401 with a bare `Bearer` challenge without one;
401 with `error="invalid_token"` for a refused one; 403 with `error="insufficient_scope"`
for a valid token without the route's scope (RFC 6750 §3, §3.1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from authgate import SigningKey
from servers import Server

from . import SignedIn, mint
from .sites import SITES, Site
from .test_verifier import claims_edited, not_a_token, signature_flipped, signed_by_a_foreign_key

FRAMEWORKS = list(SITES)


@pytest.fixture(params=FRAMEWORKS)
def site(request: pytest.FixtureRequest, server: Server) -> Iterator[Site]:
    """A site whose verifier finds the server's keys by discovery."""
    with SITES[request.param]({"ISSUER": server.url}) as built:
        yield built


@pytest.fixture(params=FRAMEWORKS)
def scoped_site(
    request: pytest.FixtureRequest, server: Server, test_key: SigningKey
) -> Iterator[Site]:
    """A site trusting the test key, which signs tokens with scopes."""
    settings = {"ISSUER": server.url, "KEYS": {"keys": [test_key.public_jwk()]}}
    with SITES[request.param](settings) as built:
        yield built


def test_valid_token_gets_200_and_the_claims(site: Site, user: SignedIn) -> None:
    answer = site.get("/me", f"Bearer {user.access_token}")

    assert answer.status == 200
    assert (answer.body["sub"], answer.body["email"]) == (user.user_id, user.email)


def test_bearer_scheme_is_case_insensitive(site: Site, user: SignedIn) -> None:
    assert site.get("/me", f"bearer {user.access_token}").status == 200


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("Basic dXNlcjpwYXNzd29yZA==", id="basic-scheme"),
        pytest.param("Bearer", id="bearer-without-token"),
        pytest.param("Bearer    ", id="bearer-blank"),
    ],
)
def test_request_without_a_bearer_token_gets_401_and_a_bare_challenge(
    site: Site, authorization: str | None
) -> None:
    answer = site.get("/me", authorization)

    assert (answer.status, answer.challenge) == (401, "Bearer")


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(claims_edited, id="claims-edited"),
        pytest.param(signature_flipped, id="signature-flipped"),
        pytest.param(signed_by_a_foreign_key, id="unknown-key"),
        pytest.param(not_a_token, id="junk"),
    ],
)
def test_refused_token_gets_401_and_invalid_token(
    site: Site, user: SignedIn, forge: Callable[[str], str]
) -> None:
    answer = site.get("/me", f"Bearer {forge(user.access_token)}")

    assert (answer.status, answer.challenge) == (401, 'Bearer error="invalid_token"')


def test_token_without_the_routes_scope_gets_403_and_insufficient_scope(
    scoped_site: Site, server: Server, test_key: SigningKey
) -> None:
    token = mint(test_key, issuer=server.url, scopes=["write:things"])

    answer = scoped_site.get("/things", f"Bearer {token}")

    assert answer.status == 403
    assert answer.challenge is not None
    assert answer.challenge.startswith('Bearer error="insufficient_scope"')


def test_token_with_the_routes_scope_gets_200(
    scoped_site: Site, server: Server, test_key: SigningKey
) -> None:
    token = mint(test_key, issuer=server.url, scopes=["read:things", "write:things"])

    answer = scoped_site.get("/things", f"Bearer {token}")

    assert (answer.status, answer.body["scopes"]) == (200, ["read:things", "write:things"])


def test_route_that_needs_no_scope_admits_a_token_without_scopes(
    scoped_site: Site, server: Server, test_key: SigningKey
) -> None:
    assert scoped_site.get("/me", f"Bearer {mint(test_key, issuer=server.url)}").status == 200


def test_expired_token_gets_401_and_invalid_token(
    scoped_site: Site, server: Server, test_key: SigningKey
) -> None:
    from datetime import timedelta

    token = mint(test_key, issuer=server.url, ttl=timedelta(minutes=-5))

    answer = scoped_site.get("/me", f"Bearer {token}")

    assert (answer.status, answer.challenge) == (401, 'Bearer error="invalid_token"')

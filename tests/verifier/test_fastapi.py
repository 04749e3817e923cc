"""The FastAPI dependency: FastAPI's own Security scopes, the OpenAPI scheme, typed claims."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from authgate import AccessClaims, SigningKey, StaticKeys, Verifier
from authgate.verifier.fastapi import RequireUser
from helpers import bearer
from servers import Server

from . import mint
from .sites import Site, fastapi_site


@pytest.fixture
def site(server: Server, test_key: SigningKey) -> Iterator[Site]:
    with fastapi_site({"ISSUER": server.url, "KEYS": {"keys": [test_key.public_jwk()]}}) as built:
        yield built


@pytest.mark.parametrize(
    ("scopes", "status"),
    [pytest.param(["read:things"], 200, id="with-the-scope"), pytest.param([], 403, id="without")],
)
def test_security_scopes_are_required_like_with_scopes(
    site: Site, server: Server, test_key: SigningKey, scopes: list[str], status: int
) -> None:
    token = mint(test_key, issuer=server.url, scopes=scopes)

    answer = site.get("/things-by-security", f"Bearer {token}")

    assert answer.status == status


def test_insufficient_scope_challenge_names_the_scope_needed(
    site: Site, server: Server, test_key: SigningKey
) -> None:
    answer = site.get("/things", f"Bearer {mint(test_key, issuer=server.url)}")

    assert answer.challenge == 'Bearer error="insufficient_scope", scope="read:things"'


def make_app(verifier: Verifier) -> FastAPI:
    app = FastAPI()
    require_user = RequireUser(verifier)

    @app.get("/me")
    def me(claims: AccessClaims = Depends(require_user)) -> dict[str, str]:  # noqa: B008
        assert isinstance(claims, AccessClaims)
        return {"sub": claims.subject}

    return app


def test_openapi_schema_declares_the_bearer_scheme_on_the_route(test_key: SigningKey) -> None:
    app = make_app(Verifier("https://auth.example", keys=StaticKeys([test_key])))

    schema = app.openapi()

    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert schema["paths"]["/me"]["get"]["security"] == [{"HTTPBearer": []}]


def test_dependency_hands_the_route_access_claims(server: Server, test_key: SigningKey) -> None:
    app = make_app(Verifier(server.url, keys=StaticKeys([test_key])))

    with TestClient(app) as client:
        answer = client.get("/me", headers=bearer(mint(test_key, issuer=server.url)))

    assert answer.json() == {"sub": "user-minted"}


@pytest.mark.parametrize("scope", ["read things", "", 'say"hi"'])
def test_with_scopes_refuses_what_is_not_a_scope_token(test_key: SigningKey, scope: str) -> None:
    require_user = RequireUser(Verifier("https://auth.example", keys=StaticKeys([test_key])))

    with pytest.raises(ValueError, match="scope"):
        require_user.with_scopes(scope)

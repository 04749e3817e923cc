"""Public routes: JWKS, OpenID discovery, health, readiness, docs, OpenAPI, unknown routes."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from authgate.settings import Secret, Settings
from helpers import bearer, sign_up_and_in

from .helpers import PRIVATE_JWK_MEMBERS, MakeClient, is_error_body, jwt_header

MAX_AGE = re.compile(r"(?:^|[\s,])max-age=([1-9][0-9]*)(?:$|[\s,])")


def hs256(make_client: MakeClient) -> TestClient:
    return make_client(algorithm="HS256", secret=Secret(secrets.token_urlsafe(32)))


# -- JWKS --------------------------------------------------------------------


def test_jwks_answers_200_with_a_key_set(client: TestClient) -> None:
    response = client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert len(response.json()["keys"]) >= 1


def test_jwks_may_be_cached_for_a_while(client: TestClient) -> None:
    response = client.get("/.well-known/jwks.json")

    assert MAX_AGE.search(response.headers["Cache-Control"])


def test_jwks_names_each_keys_id_algorithm_and_use(client: TestClient) -> None:
    keys = client.get("/.well-known/jwks.json").json()["keys"]

    assert all(k["kid"] and k["alg"] == "RS256" and k["use"] == "sig" for k in keys)


def test_jwks_publishes_no_private_key_members(client: TestClient) -> None:
    keys = client.get("/.well-known/jwks.json").json()["keys"]

    assert all(PRIVATE_JWK_MEMBERS.isdisjoint(k) for k in keys)


def test_jwks_holds_the_key_that_signed_an_access_token(client: TestClient) -> None:
    header = jwt_header(sign_up_and_in(client)["access_token"])

    keys = client.get("/.well-known/jwks.json").json()["keys"]

    assert {(header["kid"], header["alg"])} <= {(k["kid"], k["alg"]) for k in keys}


def test_jwks_is_empty_with_a_shared_secret_algorithm(make_client: MakeClient) -> None:
    """An HS256 secret is never published."""
    response = hs256(make_client).get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.json() == {"keys": []}


def test_hs256_mode_issues_tokens_the_guard_accepts(make_client: MakeClient) -> None:
    hs = hs256(make_client)
    token = sign_up_and_in(hs)["access_token"]

    assert jwt_header(token)["alg"] == "HS256"
    assert hs.get("/test", headers=bearer(token)).status_code == 200


def test_hs256_mode_refreshes_tokens(make_client: MakeClient) -> None:
    hs = hs256(make_client)

    response = hs.post("/token", json={"refresh_token": sign_up_and_in(hs)["refresh_token"]})

    assert response.status_code == 200
    assert hs.get("/test", headers=bearer(response.json()["access_token"])).status_code == 200


def test_hs256_mode_refuses_a_token_made_with_another_secret(make_client: MakeClient) -> None:
    token = sign_up_and_in(hs256(make_client))["access_token"]

    response = hs256(make_client).get("/test", headers=bearer(token))

    assert response.status_code == 401


# -- OpenID discovery ----------------------------------------------------------


@pytest.fixture
def discovery(client: TestClient) -> dict[str, object]:
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def test_discovery_names_the_issuer(discovery: dict[str, object], settings: Settings) -> None:
    assert discovery["issuer"] == settings.issuer


def test_discovery_points_at_the_jwks_and_token_endpoints(
    discovery: dict[str, object], settings: Settings
) -> None:
    issuer = settings.issuer.rstrip("/")

    assert discovery["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert discovery["token_endpoint"] == f"{issuer}/token"


def test_discovery_lists_the_signing_algorithm(discovery: dict[str, object]) -> None:
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]


def test_discovery_follows_the_issuer_setting(make_client: MakeClient) -> None:
    elsewhere = make_client(issuer="https://auth.example.com")

    body = elsewhere.get("/.well-known/openid-configuration").json()

    assert (body["issuer"], body["jwks_uri"]) == (
        "https://auth.example.com",
        "https://auth.example.com/.well-known/jwks.json",
    )


def test_discovery_lists_hs256_in_hs256_mode(make_client: MakeClient) -> None:
    body = hs256(make_client).get("/.well-known/openid-configuration").json()

    assert body["id_token_signing_alg_values_supported"] == ["HS256"]


# -- health, readiness, docs ---------------------------------------------------


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_probe_answers_200(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"])  # a file to corrupt
def test_ready_answers_503_when_the_database_file_is_corrupt(
    client: TestClient, settings: Settings
) -> None:
    """Every query now fails, so the instance must leave the load balancer's rotation."""
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    for path in database.parent.glob(database.name + "*"):
        with path.open("r+b") as file:
            file.write(b"not a database! " * (path.stat().st_size // 16 + 1))

    response = client.get("/ready")

    assert response.status_code == 503
    assert is_error_body(response.json())


def test_docs_serve_the_swagger_ui(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "swagger" in response.text.lower()


CONTRACT_ROUTES = {
    ("post", "/sign-up"),
    ("post", "/sign-in"),
    ("get", "/test"),
    ("get", "/me"),
    ("post", "/token"),
    ("post", "/sign-out"),
    ("post", "/sign-out-all"),
    ("get", "/sessions"),
    ("delete", "/sessions/{session_id}"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/openid-configuration"),
    ("get", "/health"),
    ("get", "/ready"),
}


def test_openapi_schema_lists_every_contract_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    documented = {(method, path) for path, operations in paths.items() for method in operations}
    assert CONTRACT_ROUTES - documented == set()


def test_openapi_schema_offers_the_password_flow_at_sign_in(client: TestClient) -> None:
    """So that Swagger's Authorize button signs in through /sign-in."""
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]

    flows = [s["flows"]["password"]["tokenUrl"] for s in schemes.values() if s["type"] == "oauth2"]
    assert [url.rsplit("/", 1)[-1] for url in flows] == ["sign-in"]


# -- unknown routes and methods ------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("GET", "/no-such-route", 404, id="unknown-route"),
        pytest.param("POST", "/.well-known/nothing", 404, id="unknown-well-known"),
        pytest.param("GET", "/sign-up", 405, id="wrong-method"),
        pytest.param("DELETE", "/sessions", 405, id="wrong-method-on-guarded-route"),
    ],
)
def test_an_unknown_route_or_method_gets_the_error_shape(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)

    assert response.status_code == status
    assert is_error_body(response.json())

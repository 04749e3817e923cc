"""The Flask extension: async views, a Verifier from app.config, and misuse made loud."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, g

from authgate import ConfigurationError, SigningKey, Verifier
from authgate.verifier.flask import AuthGate, require_token
from helpers import bearer
from servers import Server

from . import SignedIn, mint
from .sites import Site, flask_site


@pytest.fixture
def site(server: Server, test_key: SigningKey) -> Iterator[Site]:
    with flask_site({"ISSUER": server.url, "KEYS": {"keys": [test_key.public_jwk()]}}) as built:
        yield built


def test_async_view_is_guarded_too(site: Site, server: Server, test_key: SigningKey) -> None:
    token = mint(test_key, issuer=server.url)

    assert site.get("/me-async", f"Bearer {token}").status == 200
    assert site.get("/me-async").status == 401


def test_extension_builds_its_verifier_from_the_apps_config(server: Server, user: SignedIn) -> None:
    app = Flask(__name__)
    app.config["AUTHGATE_ISSUER"] = server.url
    AuthGate().init_app(app)

    @app.get("/me")
    @require_token()
    def me() -> dict[str, str]:
        return {"sub": g.authgate_claims.subject}

    answer = app.test_client().get("/me", headers=bearer(user.access_token))

    assert answer.get_json() == {"sub": user.user_id}
    assert isinstance(app.extensions["authgate"], Verifier)


def test_extension_without_an_issuer_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="AUTHGATE_ISSUER"):
        AuthGate(Flask(__name__))


def test_guarded_view_without_the_extension_is_a_programming_error(user: SignedIn) -> None:
    app = Flask(__name__)
    app.testing = True

    @app.get("/me")
    @require_token()
    def me() -> str:
        return "unreachable"

    with pytest.raises(RuntimeError, match="AuthGate"):
        app.test_client().get("/me", headers=bearer(user.access_token))


def test_scopes_given_as_one_string_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="list"):
        require_token(scopes="read:things")

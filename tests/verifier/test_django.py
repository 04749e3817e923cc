"""The Django middleware, decorator and DRF classes beyond the shared contract."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest

from authgate import SigningKey
from servers import Server

from . import SignedIn, mint
from .sites import Site, django_site, rest_framework_site

importlib.import_module(f"{__package__}.django_site")  # Django is configured before its imports

from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.test import override_settings  # noqa: E402

from authgate.verifier.django import configured_verifier  # noqa: E402


@pytest.fixture
def site(server: Server, test_key: SigningKey) -> Iterator[Site]:
    with django_site({"ISSUER": server.url, "KEYS": {"keys": [test_key.public_jwk()]}}) as built:
        yield built


@pytest.fixture
def api(server: Server, test_key: SigningKey) -> Iterator[Site]:
    settings = {"ISSUER": server.url, "KEYS": {"keys": [test_key.public_jwk()]}}
    with rest_framework_site(settings) as built:
        yield built


def test_middleware_gives_an_unguarded_view_the_claims_and_a_token_user(
    site: Site, server: Server, test_key: SigningKey
) -> None:
    answer = site.get("/public", f"Bearer {mint(test_key, issuer=server.url)}")

    assert answer.body == {"claims": True, "user": "TokenUser"}


def test_middleware_lets_a_request_with_a_refused_token_reach_an_unguarded_view(
    site: Site, user: SignedIn
) -> None:
    answer = site.get("/public", f"Bearer {user.access_token}")  # not the test key's

    assert (answer.status, answer.body["claims"]) == (200, False)


def test_guarded_view_sees_the_token_user_as_request_user(
    site: Site, server: Server, test_key: SigningKey
) -> None:
    answer = site.get("/me", f"Bearer {mint(test_key, issuer=server.url)}")

    assert answer.body["user"] == "minted@example.com"


def test_async_view_is_guarded_too(site: Site, server: Server, test_key: SigningKey) -> None:
    assert site.get("/me-async", f"Bearer {mint(test_key, issuer=server.url)}").status == 200
    assert site.get("/me-async").status == 401


def test_rest_framework_request_user_is_the_token_user(
    api: Site, server: Server, test_key: SigningKey
) -> None:
    answer = api.get("/me", f"Bearer {mint(test_key, issuer=server.url)}")

    assert (answer.status, answer.body["user"]) == (200, "minted@example.com")


def test_rest_framework_insufficient_scope_names_the_scope_needed(
    api: Site, server: Server, test_key: SigningKey
) -> None:
    answer = api.get("/things", f"Bearer {mint(test_key, issuer=server.url)}")

    assert answer.challenge == 'Bearer error="insufficient_scope", scope="read:things"'
    assert answer.body["detail"].startswith("the access token lacks a scope")


@pytest.mark.parametrize(
    "authgate",
    [
        pytest.param(None, id="missing"),
        pytest.param("https://auth.example", id="not-a-dict"),
        pytest.param({"AUDIENCE": "authgate"}, id="no-issuer"),
        pytest.param({"ISSUER": "https://auth.example", "LEEWAY": "soon"}, id="bad-leeway"),
    ],
)
def test_bad_authgate_setting_is_improperly_configured(authgate: object) -> None:
    with override_settings(AUTHGATE=authgate), pytest.raises(ImproperlyConfigured):
        configured_verifier()

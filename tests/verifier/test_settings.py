"""Verifier.from_settings: one reading of AUTHGATE_* names for the environment, Flask, Django."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from authgate import ConfigurationError, RemoteKeys, SigningKey, StaticKeys, Verifier

ISSUER = "https://auth.example"


def test_issuer_alone_gives_discovery_the_default_audience_and_leeway() -> None:
    verifier = Verifier.from_settings({"AUTHGATE_ISSUER": ISSUER})

    assert (verifier.issuer, verifier.audience, verifier.leeway) == (
        ISSUER,
        "authgate",
        timedelta(seconds=10),
    )
    assert isinstance(verifier.keys, RemoteKeys)
    assert (verifier.keys.issuer, verifier.keys.jwks_url) == (ISSUER, None)


def test_environment_strings_are_read_as_their_types() -> None:
    verifier = Verifier.from_settings(
        {
            "AUTHGATE_ISSUER": ISSUER,
            "AUTHGATE_AUDIENCE": "orders",
            "AUTHGATE_JWKS_URL": f"{ISSUER}/keys",
            "AUTHGATE_LEEWAY": "5",
            "AUTHGATE_REFETCH_INTERVAL": "30",
            "AUTHGATE_REDIS_URL": "",
            "AUTHGATE_DATABASE_URL": "sqlite:///ignored.db",
        }
    )

    assert (verifier.audience, verifier.leeway, verifier.feed) == (
        "orders",
        timedelta(seconds=5),
        None,
    )
    assert isinstance(verifier.keys, RemoteKeys)
    assert (verifier.keys.jwks_url, verifier.keys.refetch_interval) == (
        f"{ISSUER}/keys",
        timedelta(seconds=30),
    )


@pytest.mark.parametrize("as_text", [True, False], ids=["json-text", "mapping"])
def test_keys_setting_gives_static_keys(test_key: SigningKey, as_text: bool) -> None:
    jwks = {"keys": [test_key.public_jwk()]}

    verifier = Verifier.from_settings(
        {"ISSUER": ISSUER, "KEYS": json.dumps(jwks) if as_text else jwks, "LEEWAY": 0},
        prefix="",
    )

    assert isinstance(verifier.keys, StaticKeys)
    assert verifier.keys.keys().get(test_key.kid) is not None
    assert verifier.leeway == timedelta(0)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        pytest.param({"AUTHGATE_ISSUER": ""}, "AUTHGATE_ISSUER", id="no-issuer"),
        pytest.param({"AUTHGATE_ISSUER": 7}, "AUTHGATE_ISSUER", id="issuer-not-a-string"),
        pytest.param({"AUTHGATE_LEEWAY": "ten"}, "AUTHGATE_LEEWAY", id="leeway-a-word"),
        pytest.param({"AUTHGATE_LEEWAY": "-1"}, "AUTHGATE_LEEWAY", id="leeway-negative"),
        pytest.param({"AUTHGATE_LEEWAY": True}, "AUTHGATE_LEEWAY", id="leeway-a-boolean"),
        pytest.param({"AUTHGATE_LEEWAY": "9" * 5000}, "AUTHGATE_LEEWAY", id="leeway-huge"),
        pytest.param({"AUTHGATE_LEEWAY": "300"}, "leeway", id="leeway-five-minutes"),
        pytest.param({"AUTHGATE_TOKEN_CACHE_SIZE": "lots"}, "AUTHGATE_TOKEN_CACHE_SIZE", id="size"),
        pytest.param({"AUTHGATE_KEYS": "{not json"}, "AUTHGATE_KEYS", id="keys-not-json"),
        pytest.param({"AUTHGATE_KEYS": "[1, 2]"}, "AUTHGATE_KEYS", id="keys-a-list"),
        pytest.param({"AUTHGATE_KEYS": '{"keys": []}'}, "key", id="keys-empty"),
        pytest.param(
            {"AUTHGATE_KEYS": '{"keys": []}', "AUTHGATE_JWKS_URL": f"{ISSUER}/keys"},
            "not both",
            id="keys-and-jwks-url",
        ),
        pytest.param({"AUTHGATE_JWKS_URL": "file:///etc/passwd"}, "http", id="jwks-url-file"),
        pytest.param({"AUTHGATE_REFETCH_INTERVAL": "0"}, "positive", id="refetch-interval-0"),
    ],
)
def test_bad_setting_is_a_configuration_error_naming_it(
    settings: dict[str, object], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Verifier.from_settings({"AUTHGATE_ISSUER": ISSUER, **settings})

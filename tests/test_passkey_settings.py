"""The WebAuthn settings: the relying-party id and origins follow AUTHGATE_PUBLIC_URL unless
set, and a bad or mismatched value stops startup with a message naming the variable."""

from __future__ import annotations

import pytest

from authgate.errors import ConfigurationError
from authgate.settings import Settings


def from_env(**variables: str) -> Settings:
    return Settings.from_env({f"AUTHGATE_{k}": v for k, v in variables.items()}, env_file=None)


@pytest.mark.parametrize(
    ("variables", "rp_id", "origins"),
    [
        pytest.param({}, "localhost", ("http://localhost:8000",), id="the-issuer"),
        pytest.param(
            {"PUBLIC_URL": "https://auth.example.com/login/"},
            "auth.example.com",
            ("https://auth.example.com",),
            id="the-public-url",
        ),
        pytest.param(
            {"PUBLIC_URL": "https://auth.example.com:443"},
            "auth.example.com",
            ("https://auth.example.com",),
            id="default-port-dropped",
        ),
        pytest.param(
            {
                "PUBLIC_URL": "https://auth.example.com",
                "WEBAUTHN_RP_ID": "example.com",
                "WEBAUTHN_ORIGINS": "https://auth.example.com, https://app.example.com:8443/",
            },
            "example.com",
            ("https://auth.example.com", "https://app.example.com:8443"),
            id="set",
        ),
    ],
)
def test_the_relying_party_follows_the_public_url_unless_set(
    variables: dict[str, str], rp_id: str, origins: tuple[str, ...]
) -> None:
    settings = from_env(**variables)
    assert (settings.passkey_rp_id, settings.passkey_origins) == (rp_id, origins)


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"WEBAUTHN_RP_ID": "127.0.0.1"}, "AUTHGATE_WEBAUTHN_RP_ID"),
        ({"WEBAUTHN_RP_ID": "https://example.com"}, "AUTHGATE_WEBAUTHN_RP_ID"),
        ({"WEBAUTHN_RP_ID": "Example.COM"}, "AUTHGATE_WEBAUTHN_RP_ID"),
        ({"WEBAUTHN_RP_ID": "example.com:443"}, "AUTHGATE_WEBAUTHN_RP_ID"),
        ({"WEBAUTHN_ORIGINS": "localhost:8000"}, "AUTHGATE_WEBAUTHN_ORIGINS"),
        ({"WEBAUTHN_ORIGINS": "https://localhost/login"}, "AUTHGATE_WEBAUTHN_ORIGINS"),
        ({"WEBAUTHN_ORIGINS": "https://localhost?x=1"}, "AUTHGATE_WEBAUTHN_ORIGINS"),
        (
            {"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "http://auth.example.com"},
            "AUTHGATE_WEBAUTHN_ORIGINS",
        ),
        # An origin that is not on the RP id: browsers would refuse every ceremony.
        ({"WEBAUTHN_ORIGINS": "https://evil.example"}, "AUTHGATE_WEBAUTHN_RP_ID"),
        (
            {"PUBLIC_URL": "https://auth.example.com", "WEBAUTHN_RP_ID": "other.example"},
            "AUTHGATE_WEBAUTHN_RP_ID",
        ),
        (
            {"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://notexample.com"},
            "AUTHGATE_WEBAUTHN_RP_ID",
        ),
    ],
)
def test_a_bad_relying_party_stops_startup(variables: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        from_env(**variables)

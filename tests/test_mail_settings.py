"""The settings of DESIGN.md §8: each bad value stops startup with a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from authgate.errors import ConfigurationError
from authgate.settings import Settings


def from_env(**variables: str) -> Settings:
    return Settings.from_env({f"AUTHGATE_{k}": v for k, v in variables.items()}, env_file=None)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PUBLIC_URL", "accounts.example.com"),
        ("PUBLIC_URL", "ftp://accounts.example.com"),
        ("PUBLIC_URL", "http://accounts.example.com"),  # links with tokens over plain http
        ("PUBLIC_URL", "https://accounts.example.com/?next=x"),
        ("SMTP_URL", "mail.example.com:587"),
        ("SMTP_URL", "http://mail.example.com"),
        ("SMTP_URL", "smtp://mail.example.com:notaport"),
        ("SMTP_URL", "smtp://"),
        ("MAIL_FROM", "no address here"),
        ("MAIL_FROM", "a@example.com\r\nBcc: victim@example.com"),
        ("MAIL_TEMPLATES", "/nonexistent/templates"),
        ("MAIL_MAX_ATTEMPTS", "0"),
        ("MAIL_RETRY_DELAY", "0"),
        ("REAUTH_MAX_AGE", "0"),
        ("RESET_LINK_TTL", "0"),
        ("RESET_LINK_TTL", "an hour"),
        ("THROTTLE_MAIL_ADDRESS", "lots"),
        ("THROTTLE_MAIL_IP", "5 per fortnight"),
        ("REQUIRE_VERIFIED_EMAIL", "yes please"),
    ],
)
def test_a_bad_mail_setting_is_refused_by_name(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"AUTHGATE_{variable}"):
        from_env(**{variable: value})


def test_links_start_with_the_public_url_or_else_the_issuer(tmp_path: Path) -> None:
    assert from_env(ISSUER="https://id.example.com").public_base == "https://id.example.com"
    both = from_env(ISSUER="https://id.example.com", PUBLIC_URL="https://accounts.example.com/")
    assert both.public_base == "https://accounts.example.com"
    assert from_env(PUBLIC_URL="http://localhost:8000").public_base == "http://localhost:8000"


def test_the_smtp_password_never_shows(tmp_path: Path) -> None:
    settings = from_env(SMTP_URL="smtps://mailer:hunter2-secret@mail.example.com:465")
    assert "hunter2" not in repr(settings)
    assert settings.smtp_url is not None
    assert "hunter2" in settings.smtp_url.reveal()


def test_mail_settings_have_their_documented_defaults() -> None:
    settings = Settings()
    assert settings.smtp_url is None
    assert settings.require_verified_email is False
    assert settings.reauth_max_age.total_seconds() == 300
    assert settings.reset_link_ttl.total_seconds() == 3600
    assert settings.verify_link_ttl.total_seconds() == 86400
    assert (settings.throttle_mail_address, settings.throttle_mail_ip) == ("5/hour", "30/hour")

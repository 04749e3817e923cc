"""`authgate users mfa` and `users mfa-reset` for an account with a passkey, through
main([...]): the passkeys are shown by name, and a reset removes them."""

from __future__ import annotations

import pytest

from authenticators import SoftAuthenticator
from authgate.cli import main
from authgate.errors import MfaRequired
from helpers import PASSWORD, service_from_env

pytestmark = pytest.mark.usefixtures("environment")

EMAIL = "ada@example.com"


@pytest.fixture
def with_passkey(environment: object) -> None:
    """An account with one passkey, made on the default issuer's origin."""
    with service_from_env() as service:
        user = service.sign_up(EMAIL, PASSWORD)
        device = SoftAuthenticator(service.settings.passkey_origins[0])
        options = service.passkey_registration_options(user.id)
        service.register_passkey(user.id, device.create(options), name="Laptop")


@pytest.mark.usefixtures("with_passkey")
def test_users_mfa_shows_the_passkeys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "mfa", EMAIL]) == 0
    shown = capsys.readouterr().out
    assert "passkeys (Laptop)" in shown
    assert "TOTP" not in shown


@pytest.mark.usefixtures("with_passkey")
def test_users_mfa_reset_removes_the_passkeys(capsys: pytest.CaptureFixture[str]) -> None:
    with service_from_env() as service, pytest.raises(MfaRequired):
        service.sign_in(EMAIL, PASSWORD)
    assert main(["users", "mfa-reset", EMAIL]) == 0
    assert "removed every second factor" in capsys.readouterr().out
    with service_from_env() as service:
        assert service.passkeys(service.find_user(EMAIL).id) == []
        assert service.sign_in(EMAIL, PASSWORD).access_token

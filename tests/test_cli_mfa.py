"""`authgate users mfa` and `users mfa-reset`: what a support desk sees and does about a
user's second factors, through main([...]) on both databases."""

from __future__ import annotations

import pytest

from authgate.cli import main
from authgate.errors import MfaRequired
from helpers import PASSWORD, fresh_totp, service_from_env

pytestmark = pytest.mark.usefixtures("environment")

EMAIL = "ada@example.com"


def enrol() -> None:
    with service_from_env() as service:
        user = service.sign_up(EMAIL, PASSWORD)
        secret = service.enrol_totp(user.id).secret
        service.confirm_totp(user.id, fresh_totp(secret))


def test_users_mfa_shows_the_factors(capsys: pytest.CaptureFixture[str]) -> None:
    with service_from_env() as service:
        service.sign_up(EMAIL, PASSWORD)
    assert main(["users", "mfa", EMAIL]) == 0
    assert "has no second factor" in capsys.readouterr().out
    with service_from_env() as service:
        user = service.find_user(EMAIL)
        service.confirm_totp(user.id, fresh_totp(service.enrol_totp(user.id).secret))
    assert main(["users", "mfa", EMAIL]) == 0
    shown = capsys.readouterr().out
    assert "authenticator app (TOTP)" in shown
    assert "recovery codes left: 10 of 10" in shown


def test_users_mfa_reset_removes_the_factors_audits_and_mails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    enrol()
    with service_from_env() as service, pytest.raises(MfaRequired):
        service.sign_in(EMAIL, PASSWORD)
    assert main(["users", "mfa-reset", EMAIL]) == 0
    assert "removed every second factor" in capsys.readouterr().out
    with service_from_env() as service:
        assert service.sign_in(EMAIL, PASSWORD).access_token
        user = service.find_user(EMAIL)
        events, _ = service.audit_events(user_id=user.id)
        assert "second_factors_reset" in [e.kind for e in events]
        notices = [service.open_mail(e) for e in service.outbox() if e.kind == "security_notice"]
        assert any(n and "removed by an operator" in n.text for n in notices)
    assert main(["users", "mfa-reset", EMAIL]) == 0
    assert "no second factor to remove" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["mfa", "mfa-reset"])
def test_unknown_users_fail_plainly(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", command, "nobody@example.com"]) == 1
    assert "Traceback" not in capsys.readouterr().err

"""The `authgate` command, called as main([...]) in-process, on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from authgate.cli import main
from authgate.service import Service
from authgate.settings import Settings
from helpers import PASSWORD

# Every command runs in an empty folder with its own database, as an operator would.
pytestmark = pytest.mark.usefixtures("environment")


def create_user(monkeypatch: pytest.MonkeyPatch, email: str = "ada@example.com") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    return main(["users", "create", email, "--password-stdin"])


def test_secret_prints_256_random_bits(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["secret"]) == 0
    first = capsys.readouterr().out.strip()
    main(["secret"])
    second = capsys.readouterr().out.strip()
    assert len(first) == 43
    assert first != second


def test_users_create_then_list_shows_the_user(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert create_user(monkeypatch) == 0
    capsys.readouterr()
    assert main(["users", "list"]) == 0
    assert "ada@example.com" in capsys.readouterr().out


def test_users_create_refuses_a_common_password_with_exit_status_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("password1\n"))
    assert main(["users", "create", "ada@example.com", "--password-stdin"]) == 1
    assert "too common" in capsys.readouterr().err


def test_users_disable_ends_sessions_and_refuses_sign_in(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_user(monkeypatch)
    settings = Settings.from_env(os.environ)
    service = Service(settings)
    signed_in = service.sign_in("ada@example.com", PASSWORD)
    service.close()

    assert main(["users", "disable", "ADA@example.com"]) == 0
    assert "ended 1 session" in capsys.readouterr().out

    service = Service(settings)  # a fresh process learns of the revocation from the database
    with pytest.raises(Exception, match="session has ended"):
        service.read(signed_in.access_token)
    with pytest.raises(Exception, match="incorrect"):
        service.sign_in("ada@example.com", PASSWORD)
    service.close()


def test_users_disable_of_an_unknown_user_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "disable", "nobody@example.com"]) == 1
    assert "no such user" in capsys.readouterr().err


def test_keys_jwks_prints_the_public_key_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "jwks"]) == 0
    jwks = json.loads(capsys.readouterr().out)
    assert [key["alg"] for key in jwks["keys"]] == ["RS256"]
    assert "d" not in jwks["keys"][0]


def test_keys_list_names_the_signing_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "list"]) == 0
    assert "signing" in capsys.readouterr().out


def test_token_inspect_explains_a_valid_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_user(monkeypatch)
    service = Service(Settings.from_env(os.environ))
    token = service.sign_in("ada@example.com", PASSWORD).access_token
    service.close()
    capsys.readouterr()

    assert main(["token", "inspect", token]) == 0
    output = capsys.readouterr().out
    assert "valid" in output
    assert "ada@example.com" in output
    assert "exp:" in output


def test_token_inspect_says_why_a_tampered_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_user(monkeypatch)
    service = Service(Settings.from_env(os.environ))
    header, payload, signature = service.sign_in("ada@example.com", PASSWORD).access_token.split(
        "."
    )
    service.close()
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]

    assert main(["token", "inspect", f"{header}.{payload}.{flipped}"]) == 1
    assert "UntrustedToken" in capsys.readouterr().out


def test_token_inspect_refuses_garbage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "inspect", "not-a-token"]) == 1
    assert "not a JWS" in capsys.readouterr().err


def test_db_upgrade_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert "empty -> current" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "current -> current" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUTHGATE_ACCESS_TOKEN_TTL", "fifteen"),
        ("AUTHGATE_ALGORITHM", "none"),
        ("AUTHGATE_THROTTLE_TOKEN", "lots"),
        ("AUTHGATE_PASSWORD_MIN_LENGTH", "4"),
        ("AUTHGATE_SECRET", "short"),
        ("AUTHGATE_KEY_ENCRYPTION_KEY", "a passphrase"),
    ],
)
def test_a_bad_setting_stops_with_a_message_naming_the_variable(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, value)
    if variable == "AUTHGATE_SECRET":
        monkeypatch.setenv("AUTHGATE_ALGORITHM", "HS256")
    assert main(["keys", "list"]) == 2
    assert variable in capsys.readouterr().err


def test_settings_are_read_from_a_dotenv_file(
    environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (environment / ".env").write_text("AUTHGATE_ALGORITHM=ES256\n")
    assert main(["keys", "jwks"]) == 0
    assert json.loads(capsys.readouterr().out)["keys"][0]["alg"] == "ES256"


def test_unknown_command_is_a_usage_error() -> None:
    assert main(["frobnicate"]) == 2


def test_users_set_password_ends_sessions_and_the_new_password_signs_in(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_user(monkeypatch)
    settings = Settings.from_env(os.environ)
    service = Service(settings)
    service.sign_in("ada@example.com", PASSWORD)
    service.close()
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new passphrase\n"))

    assert main(["users", "set-password", "ada@example.com", "--password-stdin"]) == 0
    assert "ended 1 session" in capsys.readouterr().out

    service = Service(settings)
    assert service.sign_in("ada@example.com", "a brand new passphrase").session.user_id
    service.close()


def test_keys_rotate_publishes_the_next_key_before_it_signs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["keys", "jwks"]) == 0
    before = {k["kid"] for k in json.loads(capsys.readouterr().out)["keys"]}

    assert main(["keys", "rotate", "--delay", "600"]) == 0
    assert "published RS256 key" in capsys.readouterr().out

    assert main(["keys", "jwks"]) == 0
    after = {k["kid"] for k in json.loads(capsys.readouterr().out)["keys"]}
    assert before < after
    assert len(after) == 2
    assert main(["keys", "list"]) == 0
    listing = capsys.readouterr().out
    assert "next" in listing
    assert "signing" in listing
    service = Service(Settings.from_env(os.environ))
    assert service.parts.keys.signing.kid in before  # the old key signs until the delay is over
    service.close()


def test_keys_rotate_with_no_delay_signs_with_the_new_key_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["keys", "rotate", "--delay", "0"]) == 0
    kid = capsys.readouterr().out.split("key ", 1)[1].split()[0]

    service = Service(Settings.from_env(os.environ))
    assert service.parts.keys.signing.kid == kid
    service.close()


def test_keys_rotate_refuses_a_shared_secret_algorithm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTHGATE_ALGORITHM", "HS256")
    monkeypatch.setenv("AUTHGATE_SECRET", "x7Qm2Lp9Vt4Rk8Wz1Ny6Hb3Cd5Fg0Js_Ae-UiQz0k1cE")
    assert main(["keys", "rotate"]) == 2
    assert "AUTHGATE_SECRET" in capsys.readouterr().err


def test_serve_refuses_several_workers_without_redis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--workers", "2"]) == 2
    assert "AUTHGATE_REDIS_URL" in capsys.readouterr().err


def test_serve_refuses_a_schema_that_is_behind_and_names_the_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from alembic import command
    from sqlalchemy import create_engine

    from authgate.storage.engine import database_url
    from authgate.storage.schema import _config

    assert main(["db", "upgrade"]) == 0
    engine = create_engine(database_url(os.environ["AUTHGATE_DATABASE_URL"]))
    command.downgrade(_config(engine), "0001")
    engine.dispose()
    capsys.readouterr()

    assert main(["serve"]) == 2
    assert "run `authgate db upgrade`" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert "behind -> current" in capsys.readouterr().out


def test_a_database_that_is_not_there_is_a_clear_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from services import free_port

    monkeypatch.setenv("AUTHGATE_DATABASE_URL", f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    assert main(["keys", "list"]) == 2
    error = capsys.readouterr().err
    assert "cannot reach the database" in error
    assert "AUTHGATE_DATABASE_URL" in error


def sign_in_twice(settings: Settings, email: str = "ada@example.com") -> str:
    """A failed sign-in from one address, then a good one from another; the session id."""
    service = Service(settings)
    with pytest.raises(Exception, match="incorrect"):
        service.sign_in(email, "not the password", ip="198.51.100.7")
    session_id = service.sign_in(email, PASSWORD, ip="203.0.113.9").session.id
    service.close()
    return session_id


def test_audit_lists_a_users_events_newest_first_as_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_user(monkeypatch)
    session_id = sign_in_twice(Settings.from_env(os.environ))
    capsys.readouterr()

    assert main(["audit", "--user", "ADA@example.com", "--json"]) == 0

    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["kind"] for e in events] == ["sign_in", "sign_in_failed", "sign_up"]
    assert events[0]["session_id"] == session_id
    assert (events[0]["ip"], events[1]["ip"]) == ("203.0.113.9", "198.51.100.7")
    assert {e["email"] for e in events} == {"ada@example.com"}
    assert events[0]["at"] >= events[1]["at"] >= events[2]["at"]


def test_audit_table_shows_time_event_session_ip_and_detail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_user(monkeypatch)
    session_id = sign_in_twice(Settings.from_env(os.environ))
    monkeypatch.setenv("COLUMNS", "200")
    capsys.readouterr()

    assert main(["audit", "--user", "ada@example.com"]) == 0

    rows = [line for line in capsys.readouterr().out.splitlines() if "sign_in" in line]
    assert "sign_in " in rows[0]
    assert session_id[:8] in rows[0]
    assert "203.0.113.9" in rows[0]
    assert "sign_in_failed" in rows[1]
    assert "198.51.100.7" in rows[1]


def test_audit_without_a_user_shows_everyones_latest_events_up_to_the_limit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    create_user(monkeypatch, "ada@example.com")
    create_user(monkeypatch, "bob@example.com")
    sign_in_twice(Settings.from_env(os.environ), "bob@example.com")
    capsys.readouterr()

    assert main(["audit", "--limit", "3", "--json"]) == 0

    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["kind"], e["email"]) for e in events] == [
        ("sign_in", "bob@example.com"),
        ("sign_in_failed", "bob@example.com"),
        ("sign_up", "bob@example.com"),
    ]
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["audit", "--limit", "4"]) == 0
    table = capsys.readouterr().out
    assert "ada@example.com" in table
    assert "bob@example.com" in table


def test_audit_of_an_unknown_user_fails_with_exit_status_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["audit", "--user", "nobody@example.com"]) == 1
    assert "no user with the e-mail nobody@example.com" in capsys.readouterr().err


def test_audit_of_a_new_database_says_there_are_no_events(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["audit"]) == 0
    assert "no audit events" in capsys.readouterr().out


def test_audit_limit_below_1_is_a_usage_error() -> None:
    assert main(["audit", "--limit", "0"]) == 2

"""`authgate mail list|show|retry` and `authgate users verify|reset-link`, called as
main([...]) in-process on SQLite and on PostgreSQL, on mail the real use cases queued.

No AUTHGATE_SMTP_URL is set: mail stays in the outbox, as on a developer's laptop, and a
link printed by the command is followed through the real app.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from authgate.cli import main
from authgate.core.clock import FrozenClock, utc_now
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.store import User
from authgate.errors import EmailNotVerified, InvalidCredentials, InvalidLink
from authgate.service import Service
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import PASSWORD

pytestmark = pytest.mark.usefixtures("environment")

LINK = re.compile(r"https?://\S+")
NEW_PASSWORD = "a brand new passphrase"
LEASE = timedelta(minutes=2)


@pytest.fixture
def clock() -> FrozenClock:
    """A clock an hour behind the real one, moved a minute per step: mail has an order,
    and every link it carries is still valid for the commands, which run on real time."""
    return FrozenClock(utc_now().replace(microsecond=0) - timedelta(hours=1))


@contextlib.contextmanager
def opened(clock: FrozenClock | None = None) -> Iterator[Service]:
    """Another process on the same database, as the server would be."""
    service = Service(Settings.from_env(os.environ), clock=clock or utc_now, preset=FAST_FOR_TESTS)
    try:
        yield service
    finally:
        service.close()


def sign_up(clock: FrozenClock, email: str = "ada@example.com") -> User:
    """A new account, and its verification mail in the outbox."""
    clock.advance(minutes=1)
    with opened(clock) as service:
        return service.sign_up(email, PASSWORD)


def forgot_password(clock: FrozenClock, email: str = "ada@example.com", times: int = 1) -> None:
    with opened(clock) as service:
        for _ in range(times):
            clock.advance(minutes=1)
            service.forgot_password(email)


def links_in(output: str) -> list[str]:
    return LINK.findall(output)


def token_of(link: str) -> str:
    (token,) = parse_qs(urlsplit(link).query)["token"]
    return token


def audited(email: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["audit", "--user", email, "--json"]) == 0
    return [json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()]


def assert_refused_plainly(status: int, error: str, *, says: str) -> None:
    assert status != 0
    assert says in error
    assert "Traceback" not in error


# -- mail list ---------------------------------------------------------------


def test_mail_list_of_an_empty_outbox_says_so_and_how_mail_is_read_without_smtp(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["mail", "list"]) == 0

    output = capsys.readouterr().out
    assert "the outbox is empty" in output
    assert "AUTHGATE_SMTP_URL is not set" in output
    assert "`authgate mail show ID`" in output


def test_mail_list_with_an_smtp_server_set_leaves_out_the_outbox_hint(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(clock)
    monkeypatch.setenv("AUTHGATE_SMTP_URL", "smtp://127.0.0.1:2525")
    monkeypatch.setenv("COLUMNS", "200")

    assert main(["mail", "list"]) == 0

    output = capsys.readouterr().out
    assert "ada@example.com" in output
    assert "AUTHGATE_SMTP_URL" not in output


def test_mail_list_shows_every_message_newest_first(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(clock, "ada@example.com")
    sign_up(clock, "bob@example.com")
    forgot_password(clock, "ada@example.com")
    with opened() as service:
        newest_first = service.outbox()
    monkeypatch.setenv("COLUMNS", "200")

    assert main(["mail", "list"]) == 0

    rows = [line for line in capsys.readouterr().out.splitlines() if "@example.com" in line]
    assert [(e.kind, e.recipient) for e in newest_first] == [
        ("reset_password", "ada@example.com"),
        ("verify_email", "bob@example.com"),
        ("verify_email", "ada@example.com"),
    ]
    assert len(rows) == 3
    for row, envelope in zip(rows, newest_first, strict=True):
        assert envelope.id[:8] in row
        assert envelope.id not in row  # the short id only
        assert envelope.kind in row
        assert envelope.recipient in row
        assert envelope.subject in row
        assert f"{envelope.created_at:%Y-%m-%d %H:%M}" in row
        assert re.search(r"\bpending\b.*\b0\b", row)
    assert "Reset your authgate password" in rows[0]


def test_mail_list_shows_one_state_and_at_most_the_limit(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(clock, "ada@example.com")
    sign_up(clock, "bob@example.com")
    monkeypatch.setenv("COLUMNS", "200")

    assert main(["mail", "list", "--limit", "1"]) == 0
    output = capsys.readouterr().out
    assert "bob@example.com" in output
    assert "ada@example.com" not in output

    assert main(["mail", "list", "--state", "dead"]) == 0
    assert "no dead mail in the outbox" in capsys.readouterr().out

    assert main(["mail", "list", "--state", "pending"]) == 0
    output = capsys.readouterr().out
    assert "bob@example.com" in output
    assert "ada@example.com" in output


@pytest.mark.parametrize(
    "args", [["--state", "lost"], ["--limit", "0"], ["--limit", "many"]], ids=str
)
def test_mail_list_refuses_bad_options_as_a_usage_error(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["mail", "list", *args])

    assert status == 2
    assert_refused_plainly(status, capsys.readouterr().err, says="Invalid value")


# -- mail show ---------------------------------------------------------------


def test_mail_show_prints_the_link_whole_and_the_link_verifies_the_address(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user = sign_up(clock)
    with opened() as service:
        (envelope,) = service.outbox()
        letter = service.open_mail(envelope)
    assert letter is not None
    (mailed,) = links_in(letter.text)
    monkeypatch.setenv("COLUMNS", "40")  # narrower than the link: it must not wrap

    assert main(["mail", "show", envelope.id[:8]]) == 0

    output = capsys.readouterr().out
    lines = output.splitlines()
    assert mailed in lines  # the exact link, alone on its line
    assert links_in(output) == [mailed]
    assert f"To:         {user.email}" in lines
    assert f"Subject:    {envelope.subject}" in lines
    assert "Kind:       verify_email" in lines
    assert "State:      pending" in lines
    assert "Attempts:   0" in lines
    settings = Settings.from_env(os.environ)
    with TestClient(create_app(settings, preset=FAST_FOR_TESTS)) as client:
        opened_page = client.get(urlsplit(mailed).path, params={"token": token_of(mailed)})
        pressed = client.post(urlsplit(mailed).path, json={"token": token_of(mailed)})
    assert opened_page.status_code == 200
    assert pressed.status_code == 204
    with opened() as service:
        assert service.user(user.id).email_verified


def test_mail_show_takes_the_full_id_too(
    clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(clock)
    with opened() as service:
        (envelope,) = service.outbox()

    assert main(["mail", "show", envelope.id]) == 0

    assert f"Id:         {envelope.id}" in capsys.readouterr().out.splitlines()


def test_mail_show_of_a_delivered_message_says_its_body_was_erased(
    clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(clock)
    with opened(clock) as service:
        ((envelope, claim),) = service.parts.outbox.claim(now=clock(), lease=LEASE, limit=5)
        assert service.parts.outbox.delivered(envelope.id, claim, now=clock())

    assert main(["mail", "show", envelope.id[:8]]) == 0

    output = capsys.readouterr().out
    assert "delivered; its body was erased" in output
    assert "State:      sent" in output.splitlines()
    assert links_in(output) == []


def test_mail_show_of_an_unknown_id_fails_with_exit_status_1(
    clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(clock)

    status = main(["mail", "show", "no-such-id"])

    assert status == 1
    error = capsys.readouterr().err
    assert_refused_plainly(status, error, says="no message in the outbox")
    assert "no-such-id" in error


def test_mail_show_of_an_ambiguous_prefix_asks_for_more_of_the_id(
    clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(clock)
    forgot_password(clock, times=16)  # 17 ids, 16 hex digits: two share their first one
    with opened() as service:
        firsts = collections.Counter(e.id[0] for e in service.outbox(limit=100))
    ((shared, count),) = firsts.most_common(1)
    assert count >= 2

    status = main(["mail", "show", shared])

    assert status == 1
    assert_refused_plainly(status, capsys.readouterr().err, says="more than one message")


# -- mail retry --------------------------------------------------------------


def test_mail_retry_puts_a_dead_message_back_to_be_sent_now(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(clock)
    with opened(clock) as service:
        ((envelope, claim),) = service.parts.outbox.claim(now=clock(), lease=LEASE, limit=5)
        error = "550 5.1.1 <ada@example.com>: mailbox unavailable, no such user here at all"
        assert service.parts.outbox.failed(envelope.id, claim, error=error, retry_at=None)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["mail", "list", "--state", "dead"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if envelope.id[:8] in line]
    assert "550 5.1.1" in row
    assert "…" in row  # the long error, shortened
    assert re.search(r"\bdead\b.*\b1\b", row)

    assert main(["mail", "retry", envelope.id[:8]]) == 0

    assert "is due again" in capsys.readouterr().out
    with opened() as service:
        retried = service.find_mail(envelope.id)
        assert (retried.state, retried.attempts, retried.last_error) == ("pending", 0, None)
        claimed = service.parts.outbox.claim(now=utc_now(), lease=LEASE, limit=5)
        assert [e.id for e, _ in claimed] == [envelope.id]  # a sender takes it at once
    assert main(["audit", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["kind"] == "mail_retried"
    assert events[0]["detail"] == {"mail": envelope.id}


def test_mail_retry_of_a_delivered_message_fails_with_exit_status_1(
    clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(clock)
    with opened(clock) as service:
        ((envelope, claim),) = service.parts.outbox.claim(now=clock(), lease=LEASE, limit=5)
        assert service.parts.outbox.delivered(envelope.id, claim, now=clock())

    status = main(["mail", "retry", envelope.id[:8]])

    assert status == 1
    assert_refused_plainly(status, capsys.readouterr().err, says="delivered already")
    with opened() as service:
        assert service.find_mail(envelope.id).state == "sent"


def test_mail_retry_of_an_unknown_id_fails_with_exit_status_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["mail", "retry", "0123abcd"])

    assert status == 1
    assert_refused_plainly(status, capsys.readouterr().err, says="no message in the outbox")


# -- users verify ------------------------------------------------------------


def test_users_verify_marks_the_address_verified_and_audits_it(
    clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    user = sign_up(clock)

    assert main(["users", "verify", "ADA@example.com"]) == 0

    assert "marked ada@example.com verified" in capsys.readouterr().out
    with opened() as service:
        assert service.user(user.id).email_verified
    assert audited(user.email, capsys)[0] == "email_verified_by_operator"
    assert main(["users", "verify", "ada@example.com"]) == 0
    assert "verified already" in capsys.readouterr().out
    assert audited(user.email, capsys).count("email_verified_by_operator") == 1


def test_users_verify_lets_in_a_user_where_verified_addresses_are_required(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTHGATE_REQUIRE_VERIFIED_EMAIL", "true")
    sign_up(clock)
    with opened() as service, pytest.raises(EmailNotVerified):
        service.sign_in("ada@example.com", PASSWORD)

    assert main(["users", "verify", "ada@example.com"]) == 0

    with opened() as service:
        signed_in = service.sign_in("ada@example.com", PASSWORD)
        assert service.read(signed_in.access_token).email_verified is True


# -- users reset-link --------------------------------------------------------


def test_users_reset_link_resets_the_password_once(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user = sign_up(clock)
    monkeypatch.setenv("COLUMNS", "40")

    assert main(["users", "reset-link", "ada@example.com"]) == 0

    output = capsys.readouterr().out
    (link,) = links_in(output)
    assert link in output.splitlines()
    assert urlsplit(link).path == "/password/reset"
    assert "works once" in output
    assert "AUTHGATE_RESET_LINK_TTL" in output
    body = {"token": token_of(link), "password": NEW_PASSWORD}
    with TestClient(create_app(Settings.from_env(os.environ), preset=FAST_FOR_TESTS)) as client:
        first = client.post("/password/reset", json=body)
        second = client.post("/password/reset", json={**body, "password": "yet another phrase"})
    assert first.status_code == 204
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_link"
    with opened() as service:
        assert service.sign_in("ada@example.com", NEW_PASSWORD).access_token
        with pytest.raises(InvalidCredentials):
            service.sign_in("ada@example.com", PASSWORD)
        with pytest.raises(InvalidLink):
            service.reset_password(token_of(link), "still another phrase")
        # The link was handed over, never mailed: the outbox has no reset letter.
        assert "reset_password" not in [e.kind for e in service.outbox()]
    assert {"reset_link_issued", "password_reset"} <= set(audited(user.email, capsys))


def test_users_reset_link_of_a_disabled_user_says_it_cannot_sign_in_yet(
    clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(clock)
    assert main(["users", "disable", "ada@example.com"]) == 0
    capsys.readouterr()

    assert main(["users", "reset-link", "ada@example.com"]) == 0

    captured = capsys.readouterr()
    assert len(links_in(captured.out)) == 1
    assert "authgate users enable" in captured.err


def test_users_reset_link_expires_after_the_reset_link_ttl(
    clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up(clock)
    monkeypatch.setenv("AUTHGATE_RESET_LINK_TTL", "600")

    assert main(["users", "reset-link", "ada@example.com"]) == 0

    (link,) = links_in(capsys.readouterr().out)
    late = FrozenClock(utc_now() + timedelta(seconds=601))  # the link was made before now
    with opened(late) as service, pytest.raises(InvalidLink):
        service.reset_password(token_of(link), NEW_PASSWORD)
    with opened() as service:
        service.reset_password(token_of(link), NEW_PASSWORD)


@pytest.mark.parametrize("command", ["verify", "reset-link"])
def test_users_commands_of_an_unknown_user_fail_with_exit_status_1(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["users", command, "nobody@example.com"])

    assert status == 1
    captured = capsys.readouterr()
    assert_refused_plainly(status, captured.err, says="no such user")
    assert links_in(captured.out) == []

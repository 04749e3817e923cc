"""`authgate users sign-out` and `authgate sessions end-all`: an operator ends sessions,
through main([...]) on both databases; the ended sessions' tokens stop working."""

from __future__ import annotations

import io

import pytest

from authgate.cli import main
from authgate.errors import InvalidGrant, InvalidToken
from authgate.service import SignedIn
from helpers import PASSWORD, service_from_env

pytestmark = pytest.mark.usefixtures("environment")

ADA = "ada@example.com"
GRACE = "grace@example.com"


def signed_in(*emails: str, times: int = 1) -> list[SignedIn]:
    """Sign each user up, then in `times` times; every session started."""
    with service_from_env() as service:
        for email in emails:
            service.sign_up(email, PASSWORD)
        return [service.sign_in(email, PASSWORD) for email in emails for _ in range(times)]


def still_works(session: SignedIn) -> bool:
    """Whether the session's access token is accepted and its refresh token trades."""
    with service_from_env() as service:
        try:
            service.read(session.access_token)
            service.refresh(session.refresh_token)
        except (InvalidToken, InvalidGrant):
            return False
        return True


def audited(kind: str) -> list[dict[str, str]]:
    """The details of the audit events of `kind`, newest first."""
    with service_from_env() as service:
        events, _ = service.audit_events()
        return [dict(e.detail or {}) for e in events if e.kind == kind]


def test_users_sign_out_ends_every_session_of_the_user(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sessions = signed_in(ADA, times=2)

    assert main(["users", "sign-out", "ADA@example.com"]) == 0

    assert "ended 2 session(s)" in capsys.readouterr().out
    assert [still_works(s) for s in sessions] == [False, False]
    assert audited("signed_out_by_operator") == [{}]


def test_users_sign_out_leaves_other_users_signed_in() -> None:
    ada, grace = signed_in(ADA, GRACE)

    assert main(["users", "sign-out", ADA]) == 0

    assert (still_works(ada), still_works(grace)) == (False, True)


def test_users_sign_out_of_a_user_with_no_session_ends_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    signed_in(ADA)
    main(["users", "sign-out", ADA])
    capsys.readouterr()

    assert main(["users", "sign-out", ADA]) == 0
    assert "ended 0 session(s)" in capsys.readouterr().out


def test_users_sign_out_of_an_unknown_user_fails_plainly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    signed_in(ADA)

    assert main(["users", "sign-out", "nobody@example.com"]) == 1

    err = capsys.readouterr().err
    assert "no such user" in err
    assert "Traceback" not in err


def test_sessions_end_all_ends_every_session_of_every_user(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sessions = signed_in(ADA, GRACE, times=2)

    assert main(["sessions", "end-all", "--yes"]) == 0

    assert "ended 4 session(s)" in capsys.readouterr().out
    assert [still_works(s) for s in sessions] == [False] * 4
    assert audited("all_sessions_ended") == [{"sessions": "4"}]


def test_sessions_end_all_goes_ahead_when_the_prompt_is_answered_yes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    [ada] = signed_in(ADA)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))

    assert main(["sessions", "end-all"]) == 0

    assert "End every session of every user?" in capsys.readouterr().out
    assert not still_works(ada)


@pytest.mark.parametrize("answer", ["n\n", "\n", ""], ids=["no", "default", "no-input"])
def test_sessions_end_all_ends_nothing_unless_confirmed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], answer: str
) -> None:
    [ada] = signed_in(ADA)
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))

    assert main(["sessions", "end-all"]) == 1

    assert "Traceback" not in capsys.readouterr().err
    assert still_works(ada)
    assert audited("all_sessions_ended") == []

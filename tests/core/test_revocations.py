"""The in-memory revocation set: what it refuses, and what it forgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from authgate.core.revocations import Revocations
from authgate.core.store import SessionId, UserId
from authgate.core.tokens import AccessClaims
from authgate.errors import RevokedToken

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=910)


def claims(*, session: str = "s-1", user: str = "u-1", issued: datetime = NOW) -> AccessClaims:
    return AccessClaims(
        issuer="iss",
        subject=user,
        audience=("aud",),
        issued_at=issued,
        expires_at=issued + timedelta(seconds=900),
        token_id="j",
        session_id=session,
        email="ada@example.com",
    )


def test_a_revoked_session_is_refused_and_others_are_not() -> None:
    revocations = Revocations(window=WINDOW)
    revocations.revoke_sessions([(SessionId("s-1"), NOW)])

    with pytest.raises(RevokedToken):
        revocations.check(claims(session="s-1"))
    revocations.check(claims(session="s-2"))


def test_tokens_issued_before_a_users_valid_after_second_are_refused() -> None:
    revocations = Revocations(window=WINDOW)
    revocations.set_valid_after([(UserId("u-1"), NOW + timedelta(seconds=1, microseconds=5))])

    with pytest.raises(RevokedToken):
        revocations.check(claims(issued=NOW))
    revocations.check(claims(issued=NOW + timedelta(seconds=1)))


def test_prune_forgets_revocations_older_than_the_window() -> None:
    revocations = Revocations(window=WINDOW)
    revocations.revoke_sessions([(SessionId("old"), NOW), (SessionId("new"), NOW + WINDOW)])

    revocations.prune(NOW + WINDOW + timedelta(seconds=1))

    assert len(revocations) == 1
    revocations.check(claims(session="old"))


def test_prune_runs_at_most_once_a_tenth_of_the_window() -> None:
    revocations = Revocations(window=WINDOW)
    revocations.prune(NOW)
    revocations.revoke_sessions([(SessionId("old"), NOW - 2 * WINDOW)])

    revocations.prune(NOW + WINDOW / 20)
    assert len(revocations) == 1
    revocations.prune(NOW + WINDOW / 10)
    assert len(revocations) == 0

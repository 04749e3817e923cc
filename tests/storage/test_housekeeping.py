"""The periodic poll's housekeeping (Parts.catch_up), on every database: MFA and passkey
challenges past their lifetime are deleted, and live ones are kept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Table, select

from authgate.core.clock import FrozenClock
from authgate.core.factors import CHALLENGE_LIFETIME as MFA_LIFETIME
from authgate.core.passkeys import CHALLENGE_LIFETIME as PASSKEY_LIFETIME
from authgate.service import Service
from authgate.storage.tables import mfa_challenges, webauthn_challenges
from helpers import PASSWORD

Ask = Callable[[Service], object]


def mfa_token(service: Service) -> object:
    """The password step of a sign-in that needs a second factor."""
    user = service.parts.store.user_by_email("ada@example.com")
    if user is None:
        user = service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    return service.parts.factors.challenge(user)


def passkey_options(service: Service) -> object:
    """What the signed-out page asks for on every load, for passkey autofill."""
    return service.parts.passkeys.authentication_options()


def created(service: Service, table: Table) -> list[datetime]:
    with service.parts.store.reading() as conn:
        return list(conn.execute(select(table.c.created_at)).scalars())


@pytest.mark.parametrize(
    ("ask", "table", "lifetime"),
    [
        pytest.param(mfa_token, mfa_challenges, MFA_LIFETIME, id="mfa"),
        pytest.param(passkey_options, webauthn_challenges, PASSKEY_LIFETIME, id="passkey"),
    ],
)
def test_the_poll_deletes_expired_challenges_and_keeps_live_ones(
    service: Service, clock: FrozenClock, ask: Ask, table: Table, lifetime: timedelta
) -> None:
    ask(service)
    ask(service)
    clock.advance(lifetime.total_seconds() + 1)
    ask(service)

    service.parts.catch_up()

    assert created(service, table) == [clock()]

"""The guard's cache of verified tokens: fast on a hit, never more permissive than a miss."""

from __future__ import annotations

import pytest

from authgate.core.clock import FrozenClock
from authgate.core.guard import Guard
from authgate.core.keys import KeyRing, generate_key
from authgate.core.revocations import Revocations
from authgate.core.store import SessionId
from authgate.core.tokens import LEEWAY, issue_access_token
from authgate.errors import ExpiredToken, RevokedToken, UntrustedToken
from authgate.service import Service

TTL_SECONDS = 900


def make_guard(service: Service, clock: FrozenClock, *, capacity: int = 10) -> Guard:
    return Guard(
        keys=service.parts.keys,
        issuer=service.settings.issuer,
        audience=service.settings.audience,
        revocations=service.parts.revocations,
        clock=clock,
        capacity=capacity,
    )


def mint(service: Service, clock: FrozenClock, session_id: str = "s-1") -> str:
    token, _ = issue_access_token(
        subject="u-1",
        email="ada@example.com",
        session_id=session_id,
        keys=service.parts.keys,
        issuer=service.settings.issuer,
        audience=service.settings.audience,
        now=clock(),
        ttl=service.settings.access_token_ttl,
    )
    return token


def test_a_second_read_returns_the_same_claims_from_the_cache(
    service: Service, clock: FrozenClock
) -> None:
    guard = make_guard(service, clock)
    token = mint(service, clock)

    first = guard.read(token)

    assert guard.read(token) is first
    assert len(guard) == 1


def test_a_cached_token_is_refused_once_its_session_is_revoked(
    service: Service, clock: FrozenClock
) -> None:
    guard = make_guard(service, clock)
    token = mint(service, clock, session_id="s-revoked")
    guard.read(token)

    service.parts.revocations.revoke_sessions([(SessionId("s-revoked"), clock())])

    with pytest.raises(RevokedToken):
        guard.read(token)


def test_a_cached_token_expires_on_time(service: Service, clock: FrozenClock) -> None:
    guard = make_guard(service, clock)
    token = mint(service, clock)
    guard.read(token)

    clock.advance(TTL_SECONDS + LEEWAY.total_seconds())

    with pytest.raises(ExpiredToken):
        guard.read(token)
    assert len(guard) == 0


def test_the_cache_holds_at_most_its_capacity(service: Service, clock: FrozenClock) -> None:
    guard = make_guard(service, clock, capacity=2)

    for session in ("a", "b", "c"):
        guard.read(mint(service, clock, session_id=session))

    assert len(guard) == 2


def test_capacity_zero_verifies_every_time(service: Service, clock: FrozenClock) -> None:
    guard = make_guard(service, clock, capacity=0)
    token = mint(service, clock)

    assert guard.read(token) == guard.read(token)
    assert len(guard) == 0


def test_switching_key_rings_forgets_tokens_the_old_ring_verified(
    service: Service, clock: FrozenClock
) -> None:
    guard = make_guard(service, clock)
    token = mint(service, clock)
    guard.read(token)

    guard.use_keys(KeyRing(generate_key("ES256", now=clock())))

    with pytest.raises(UntrustedToken):
        guard.read(token)


def test_revocations_of_a_fresh_set_do_not_leak_between_guards(
    service: Service, clock: FrozenClock
) -> None:
    """Two guards with their own revocation sets judge the same token independently."""
    token = mint(service, clock, session_id="s-x")
    other = Guard(
        keys=service.parts.keys,
        issuer=service.settings.issuer,
        audience=service.settings.audience,
        revocations=Revocations(window=service.parts.revocations.window),
        clock=clock,
    )
    service.parts.revocations.revoke_sessions([(SessionId("s-x"), clock())])

    assert other.read(token).session_id == "s-x"
    with pytest.raises(RevokedToken):
        make_guard(service, clock).read(token)

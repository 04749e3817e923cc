"""Sessions: refresh-token rotation, the reuse grace window, theft detection, ending."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.errors import RefreshTokenReused, RevokedToken, SessionEnded, UnknownSession
from authgate.service import Service, SignedIn
from authgate.settings import Settings

PASSWORD = "correct horse battery staple"
GRACE = 10  # seconds: Settings' default refresh_reuse_grace
OpenService = Callable[..., Service]  # keyword arguments: Settings fields to change


@pytest.fixture
def open_service(settings: Settings, clock: FrozenClock) -> Iterator[OpenService]:
    """Build a Service on the test database with some settings changed."""
    opened: list[Service] = []

    def open_with(**changes: Any) -> Service:  # Settings fields, checked by Settings
        service = Service(
            dataclasses.replace(settings, **changes), clock=clock, preset=FAST_FOR_TESTS
        )
        opened.append(service)
        return service

    yield open_with
    for service in opened:
        service.close()


def signed_in(service: Service, email: str = "ada@example.com") -> SignedIn:
    service.parts.accounts.sign_up(email, PASSWORD)
    return service.sign_in(email, PASSWORD)


def test_rotation_returns_a_new_refresh_token_for_the_same_session(service: Service) -> None:
    first = signed_in(service)

    record, successor = service.parts.sessions.rotate(first.refresh_token)

    assert (record.session.id, successor != first.refresh_token) == (first.session.id, True)


def test_successor_can_be_rotated_in_turn(service: Service, clock: FrozenClock) -> None:
    first = signed_in(service)
    _, second = service.parts.sessions.rotate(first.refresh_token)
    clock.advance(60)

    _, third = service.parts.sessions.rotate(second)

    assert third not in (first.refresh_token, second)


@pytest.mark.parametrize("seconds_later", [0, 1, GRACE])
def test_retry_inside_the_grace_window_gets_the_same_successor(
    service: Service, clock: FrozenClock, seconds_later: int
) -> None:
    first = signed_in(service)
    _, successor = service.parts.sessions.rotate(first.refresh_token)
    clock.advance(seconds_later)

    _, again = service.parts.sessions.rotate(first.refresh_token)

    assert again == successor


def test_successor_handed_out_twice_inside_the_grace_window_still_rotates(
    service: Service, clock: FrozenClock
) -> None:
    first = signed_in(service)
    service.parts.sessions.rotate(first.refresh_token)
    clock.advance(1)
    _, successor = service.parts.sessions.rotate(first.refresh_token)

    _, next_token = service.parts.sessions.rotate(successor)

    assert next_token != successor


def test_retry_inside_the_grace_window_is_reuse_once_the_successor_was_used(
    service: Service, clock: FrozenClock
) -> None:
    first = signed_in(service)
    _, successor = service.parts.sessions.rotate(first.refresh_token)
    clock.advance(1)
    service.parts.sessions.rotate(successor)
    clock.advance(1)

    with pytest.raises(RefreshTokenReused):
        service.parts.sessions.rotate(first.refresh_token)


@pytest.mark.parametrize("seconds_later", [GRACE + 1, 3600])
def test_reuse_after_the_grace_window_is_detected(
    service: Service, clock: FrozenClock, seconds_later: int
) -> None:
    first = signed_in(service)
    service.parts.sessions.rotate(first.refresh_token)
    clock.advance(seconds_later)

    with pytest.raises(RefreshTokenReused):
        service.parts.sessions.rotate(first.refresh_token)


def test_successor_is_refused_after_reuse_was_detected(
    service: Service, clock: FrozenClock
) -> None:
    first = signed_in(service)
    _, successor = service.parts.sessions.rotate(first.refresh_token)
    clock.advance(GRACE + 1)
    with pytest.raises(RefreshTokenReused):
        service.parts.sessions.rotate(first.refresh_token)

    with pytest.raises(SessionEnded):
        service.parts.sessions.rotate(successor)


def test_access_token_of_the_session_is_revoked_after_reuse_was_detected(
    service: Service, clock: FrozenClock
) -> None:
    first = signed_in(service)
    service.parts.sessions.rotate(first.refresh_token)
    clock.advance(GRACE + 1)
    with pytest.raises(RefreshTokenReused):
        service.parts.sessions.rotate(first.refresh_token)

    with pytest.raises(RevokedToken):
        service.read(first.access_token)


def test_reuse_leaves_the_users_other_sessions_alone(service: Service, clock: FrozenClock) -> None:
    first = signed_in(service)
    other = service.sign_in("ada@example.com", PASSWORD)
    service.parts.sessions.rotate(first.refresh_token)
    clock.advance(GRACE + 1)
    with pytest.raises(RefreshTokenReused):
        service.parts.sessions.rotate(first.refresh_token)

    session = service.parts.sessions.rotate(other.refresh_token)[0].session

    assert session.id == other.session.id


def test_zero_grace_makes_an_immediate_retry_a_reuse(open_service: OpenService) -> None:
    service = open_service(refresh_reuse_grace=timedelta(0))
    first = signed_in(service)
    service.parts.sessions.rotate(first.refresh_token)

    with pytest.raises(RefreshTokenReused):
        service.parts.sessions.rotate(first.refresh_token)


def test_session_still_refreshes_just_before_its_absolute_lifetime(
    open_service: OpenService, clock: FrozenClock
) -> None:
    service = open_service(refresh_token_ttl=timedelta(hours=1))
    first = signed_in(service)
    clock.advance(3599)

    session = service.parts.sessions.rotate(first.refresh_token)[0].session

    assert session.id == first.session.id


def test_session_ends_at_its_absolute_lifetime_however_active(
    open_service: OpenService, clock: FrozenClock
) -> None:
    service = open_service(
        refresh_token_ttl=timedelta(hours=1), session_idle_timeout=timedelta(minutes=40)
    )
    first = signed_in(service)
    clock.advance(minutes=30)
    _, token = service.parts.sessions.rotate(first.refresh_token)
    clock.advance(minutes=30)

    with pytest.raises(SessionEnded):
        service.parts.sessions.rotate(token)


def test_session_still_refreshes_at_exactly_its_idle_timeout(
    open_service: OpenService, clock: FrozenClock
) -> None:
    service = open_service(session_idle_timeout=timedelta(hours=1))
    first = signed_in(service)
    clock.advance(hours=1)

    session = service.parts.sessions.rotate(first.refresh_token)[0].session

    assert session.id == first.session.id


def test_session_ends_after_its_idle_timeout(open_service: OpenService, clock: FrozenClock) -> None:
    service = open_service(session_idle_timeout=timedelta(hours=1))
    first = signed_in(service)
    clock.advance(hours=1, seconds=1)

    with pytest.raises(SessionEnded):
        service.parts.sessions.rotate(first.refresh_token)


def test_each_rotation_restarts_the_idle_timeout(
    open_service: OpenService, clock: FrozenClock
) -> None:
    service = open_service(session_idle_timeout=timedelta(hours=1))
    first = signed_in(service)
    clock.advance(minutes=50)
    _, token = service.parts.sessions.rotate(first.refresh_token)
    clock.advance(minutes=50)

    session = service.parts.sessions.rotate(token)[0].session

    assert session.id == first.session.id


def test_ended_session_refuses_its_refresh_token(service: Service) -> None:
    first = signed_in(service)
    service.parts.sessions.end(first.session.id)

    with pytest.raises(SessionEnded):
        service.parts.sessions.rotate(first.refresh_token)


def test_end_all_ends_every_session_of_the_user(service: Service) -> None:
    first = signed_in(service)
    service.sign_in("ada@example.com", PASSWORD)

    ended = service.parts.sessions.end_all(first.session.user_id)

    assert (ended, service.parts.sessions.live(first.session.user_id)) == (2, [])


@pytest.mark.parametrize("which", [0, 1])
def test_end_all_refuses_every_refresh_token_of_the_user(service: Service, which: int) -> None:
    sign_ins = [signed_in(service), service.sign_in("ada@example.com", PASSWORD)]
    service.parts.sessions.end_all(sign_ins[0].session.user_id)

    with pytest.raises(SessionEnded):
        service.parts.sessions.rotate(sign_ins[which].refresh_token)


@pytest.mark.parametrize("which", [0, 1])
def test_end_all_revokes_every_access_token_of_the_user(service: Service, which: int) -> None:
    sign_ins = [signed_in(service), service.sign_in("ada@example.com", PASSWORD)]
    service.parts.sessions.end_all(sign_ins[0].session.user_id)

    with pytest.raises(RevokedToken):
        service.read(sign_ins[which].access_token)


def test_end_all_leaves_other_users_sessions_alone(service: Service) -> None:
    ada = signed_in(service, "ada@example.com")
    bob = signed_in(service, "bob@example.com")

    service.parts.sessions.end_all(ada.session.user_id)

    assert service.read(bob.access_token).subject == bob.session.user_id


def test_user_can_end_their_own_session(service: Service) -> None:
    first = signed_in(service)
    service.parts.sessions.end_for_user(first.session.user_id, first.session.id)

    with pytest.raises(SessionEnded):
        service.parts.sessions.rotate(first.refresh_token)


def test_ending_another_users_session_is_an_unknown_session(service: Service) -> None:
    ada = signed_in(service, "ada@example.com")
    bob = signed_in(service, "bob@example.com")

    with pytest.raises(UnknownSession):
        service.parts.sessions.end_for_user(ada.session.user_id, bob.session.id)


def test_another_users_session_survives_an_attempt_to_end_it(service: Service) -> None:
    ada = signed_in(service, "ada@example.com")
    bob = signed_in(service, "bob@example.com")
    with pytest.raises(UnknownSession):
        service.parts.sessions.end_for_user(ada.session.user_id, bob.session.id)

    session = service.parts.sessions.rotate(bob.refresh_token)[0].session

    assert session.id == bob.session.id


def test_ending_an_already_ended_session_is_an_unknown_session(service: Service) -> None:
    first = signed_in(service)
    service.parts.sessions.end_for_user(first.session.user_id, first.session.id)

    with pytest.raises(UnknownSession):
        service.parts.sessions.end_for_user(first.session.user_id, first.session.id)


@pytest.mark.parametrize(
    "refresh_token",
    [
        pytest.param("", id="empty"),
        pytest.param("short", id="short"),
        pytest.param("a" * 42, id="42-characters"),
        pytest.param("a" * 44, id="44-characters"),
        pytest.param("a" * 42 + "=", id="padded"),
        pytest.param("+" * 43, id="standard-base64-alphabet"),
        pytest.param("é" * 43, id="non-ascii"),
        pytest.param("a" * 10_000, id="10k-characters"),
        pytest.param("eyJhbGciOiJub25lIn0.e30.", id="a-jwt"),
    ],
)
def test_malformed_refresh_token_is_a_session_ended(service: Service, refresh_token: str) -> None:
    with pytest.raises(SessionEnded):
        service.parts.sessions.rotate(refresh_token)


def test_well_formed_but_unknown_refresh_token_is_a_session_ended(service: Service) -> None:
    with pytest.raises(SessionEnded):
        service.parts.sessions.rotate("A" * 43)


# -- renewal: a new refresh token for a session that proved again who it is (V7.2.4) ----


def test_renewal_gives_a_new_token_of_the_same_session(service: Service) -> None:
    first = signed_in(service)

    renewed = service.parts.sessions.renew(first.session.id)

    assert renewed is not None
    assert renewed != first.refresh_token
    record, _ = service.parts.sessions.rotate(renewed)
    assert (record.session.id, record.session.expires_at) == (
        first.session.id,
        first.session.expires_at,
    )


@pytest.mark.parametrize("seconds_later", [0, GRACE + 1])
def test_the_renewed_token_is_reuse_inside_the_grace_window_and_after(
    service: Service, clock: FrozenClock, seconds_later: int
) -> None:
    """No retry can get its successor: it was never presented, so none was sealed for it."""
    first = signed_in(service)
    renewed = service.parts.sessions.renew(first.session.id)
    clock.advance(seconds_later)

    with pytest.raises(RefreshTokenReused):
        service.parts.sessions.rotate(first.refresh_token)
    assert renewed is not None
    with pytest.raises(SessionEnded):
        service.parts.sessions.rotate(renewed)


def test_renewal_after_a_rotation_replaces_the_successor(
    service: Service, clock: FrozenClock
) -> None:
    """A retry of the rotated token inside its window finds its successor spent: reuse."""
    first = signed_in(service)
    _, successor = service.parts.sessions.rotate(first.refresh_token)

    renewed = service.parts.sessions.renew(first.session.id)

    assert renewed not in (None, successor)
    with pytest.raises(RefreshTokenReused):
        service.parts.sessions.rotate(first.refresh_token)


def test_an_ended_session_is_not_renewed(service: Service) -> None:
    first = signed_in(service)
    service.sign_out(first.session.id)

    assert service.parts.sessions.renew(first.session.id) is None

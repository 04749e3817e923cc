"""Signing-key rotation on a frozen clock: published first, signing later, retired last."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.tokens import LEEWAY
from authgate.errors import UntrustedToken
from authgate.service import Service
from authgate.settings import Settings
from helpers import PASSWORD

DELAY = timedelta(minutes=10)


def token_for(service: Service, email: str = "ada@example.com") -> str:
    if service.parts.store.user_by_email(email) is None:
        service.parts.accounts.sign_up(email, PASSWORD)
    return service.sign_in(email, PASSWORD).access_token


def test_a_rotation_publishes_the_next_key_but_keeps_signing_with_the_old(
    service: Service,
) -> None:
    old = service.parts.keys.signing.kid

    rotation = service.rotate_keys(DELAY)

    assert set(service.parts.keys.keys) == {old, rotation.kid}
    assert {k["kid"] for k in service.parts.keys.jwks()["keys"]} == {old, rotation.kid}
    assert service.parts.keys.signing.kid == old


def test_the_next_key_signs_once_the_delay_is_over(service: Service, clock: FrozenClock) -> None:
    old_token = token_for(service)
    rotation = service.rotate_keys(DELAY)

    clock.advance(DELAY.total_seconds())
    assert service.parts.refresh_keys()

    assert service.parts.keys.signing.kid == rotation.kid
    assert service.read(token_for(service)).subject  # a token of the new key verifies
    assert service.read(old_token).subject  # and so does one of the old key


def test_the_old_key_retires_after_its_last_token_expired(
    service: Service, clock: FrozenClock, settings: Settings
) -> None:
    old = service.parts.keys.signing.kid
    rotation = service.rotate_keys(DELAY)
    clock.advance(DELAY.total_seconds())
    service.parts.refresh_keys()
    last_old_token_expires = rotation.activates_at + settings.access_token_ttl

    assert rotation.retires_old_at > last_old_token_expires + LEEWAY
    clock.advance((rotation.retires_old_at - clock()).total_seconds() - 1)
    assert not service.parts.refresh_keys()  # not yet
    clock.advance(1)
    assert service.parts.refresh_keys()

    assert old not in service.parts.keys.keys
    assert {k["kid"] for k in service.parts.keys.jwks()["keys"]} == {rotation.kid}


def test_a_token_of_a_retired_key_is_refused(service: Service, clock: FrozenClock) -> None:
    """A token can't outlive its key; here the clock jumps so it would, if the key stayed."""
    rotation = service.rotate_keys(timedelta(0))
    forged_late = token_for(service)  # signed by the new key...
    service.rotate_keys(timedelta(0))  # ...which is rotated out at once
    clock.advance((rotation.retires_old_at - clock()).total_seconds() + 1)
    service.parts.refresh_keys()

    with pytest.raises(UntrustedToken):
        service.read(forged_late)


def test_another_process_follows_a_rotation_on_its_next_refresh(
    service: Service, settings: Settings, clock: FrozenClock
) -> None:
    other = Service(settings, clock=clock, preset=FAST_FOR_TESTS)
    try:
        rotation = service.rotate_keys(DELAY)
        assert rotation.kid not in other.parts.keys.keys

        assert other.parts.refresh_keys()
        assert rotation.kid in other.parts.keys.keys
        assert other.parts.keys.signing.kid != rotation.kid

        clock.advance(DELAY.total_seconds())
        assert other.parts.refresh_keys()
        assert other.parts.keys.signing.kid == rotation.kid
    finally:
        other.close()


def test_processes_starting_together_on_an_empty_database_agree_on_one_key(
    settings: Settings, clock: FrozenClock
) -> None:
    services: list[Service] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        try:
            services.append(Service(settings, clock=clock, preset=FAST_FOR_TESTS))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert len({svc.parts.keys.signing.kid for svc in services}) == 1
        assert len(services[0].parts.store.signing_keys()) == 1
    finally:
        for svc in services:
            svc.close()

"""The metrics count what happened: sign-ins by outcome, rotations, theft, audit events."""

from __future__ import annotations

import pytest

from authgate.errors import InvalidCredentials, RefreshTokenReused, SessionEnded
from authgate.service import Service
from helpers import PASSWORD


def sample(service: Service, name: str, **labels: str) -> float:
    value = service.parts.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_sign_ins_are_counted_by_outcome(service: Service) -> None:
    service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    service.sign_in("ada@example.com", PASSWORD)
    for email in ("ada@example.com", "nobody@example.com"):
        with pytest.raises(InvalidCredentials):
            service.sign_in(email, "wrong password")

    assert sample(service, "authgate_sign_ins_total", outcome="success") == 1
    assert sample(service, "authgate_sign_ins_total", outcome="invalid_credentials") == 2
    assert sample(service, "authgate_sign_ups_total") == 1
    assert sample(service, "authgate_security_events_total", kind="sign_in_failed") == 2


def test_rotations_reuse_and_ended_sessions_are_counted_apart(service: Service) -> None:
    service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    first = service.sign_in("ada@example.com", PASSWORD).refresh_token
    service.refresh(first)
    service.parts.clock.advance(60)  # type: ignore[attr-defined]  # the FrozenClock fixture
    with pytest.raises(RefreshTokenReused):
        service.refresh(first)
    with pytest.raises(SessionEnded):
        service.refresh("never-issued-" + "x" * 30)

    assert sample(service, "authgate_refreshes_total", outcome="rotated") == 1
    assert sample(service, "authgate_refreshes_total", outcome="reused") == 1
    assert sample(service, "authgate_refreshes_total", outcome="ended") == 1
    assert sample(service, "authgate_security_events_total", kind="refresh_token_reused") == 1


def test_the_revocation_gauge_reads_the_live_set(service: Service) -> None:
    service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    signed_in = service.sign_in("ada@example.com", PASSWORD)
    assert sample(service, "authgate_revocations_in_memory") == 0

    service.parts.sessions.end(signed_in.session.id)

    assert sample(service, "authgate_revocations_in_memory") == 1


def test_no_label_carries_an_email_an_address_or_a_token(service: Service) -> None:
    service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    signed_in = service.sign_in("ada@example.com", PASSWORD, ip="203.0.113.9")
    service.refresh(signed_in.refresh_token, ip="203.0.113.9")

    text = service.parts.metrics.exposition().decode()

    for secret in ("ada@example.com", "203.0.113.9", signed_in.refresh_token, PASSWORD):
        assert secret not in text
    assert signed_in.session.id not in text

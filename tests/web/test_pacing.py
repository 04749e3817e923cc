"""The floor under failed sign-ins (web/pacing.py): calibrated, raised, and never for a success.

The floor's purpose, equal times for every kind of failed sign-in, is checked with real
hashing costs in tests/attacks/test_sign_in_timing.py.
"""

from __future__ import annotations

import time

import bcrypt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.service import Service
from authgate.web.pacing import HALF_LIFE, HEADROOM, Pacer
from helpers import PASSWORD

IMPORTED = "imported@example.com"
NATIVE = "native@example.com"
WRONG_PASSWORD = "not the password, but as long"


def bcrypt_hash(password: str, cost: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()


def test_the_costliest_bcrypt_hash_is_found_up_to_the_cost_still_checked(
    service: Service,
) -> None:
    cheap, costly = bcrypt_hash(PASSWORD, 4), bcrypt_hash(PASSWORD, 5)
    service.parts.accounts.add("cheap@example.com", cheap)
    service.parts.accounts.add("costly@example.com", costly)
    service.parts.accounts.add("hostile@example.com", "$2b$31$" + costly[7:])  # never computed
    service.parts.accounts.sign_up(NATIVE, PASSWORD)

    assert service.parts.store.costliest_bcrypt_hash(at_most=14) == costly
    assert service.parts.store.costliest_bcrypt_hash(at_most=4) == cheap


def test_a_store_without_bcrypt_hashes_has_no_costliest(service: Service) -> None:
    service.parts.accounts.sign_up(NATIVE, PASSWORD)

    assert service.parts.store.costliest_bcrypt_hash(at_most=14) is None


def test_calibration_covers_a_stored_bcrypt_hash(service: Service) -> None:
    """The service hashes with FAST_FOR_TESTS: argon2id alone sets a floor of microseconds."""
    argon2_only = Pacer()
    argon2_only.calibrate(service.parts.passwords, service.parts.store)
    service.parts.accounts.add(IMPORTED, bcrypt_hash(PASSWORD, 10))
    with_bcrypt = Pacer()

    with_bcrypt.calibrate(service.parts.passwords, service.parts.store)

    assert with_bcrypt.floor > 10 * argon2_only.floor


class Stopwatch:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def test_a_slow_failed_check_raises_the_floor_and_the_raise_halves_every_minute() -> None:
    clock = Stopwatch()
    pacer = Pacer(now=clock)
    pacer.observe(0.4)
    raised = pacer.floor

    clock.seconds += HALF_LIFE
    pacer.observe(0.1)  # faster than the halved raise: changes nothing

    assert raised == pytest.approx(0.4 * HEADROOM)
    assert pacer.floor == pytest.approx(raised / 2)


@pytest.mark.slow  # a failed sign-in here waits out a real 1.25 s floor
def test_a_successful_sign_in_does_not_wait_for_the_floor(app: FastAPI, client: TestClient) -> None:
    assert client.post("/sign-up", json={"email": NATIVE, "password": PASSWORD}).status_code == 201
    pacer: Pacer = app.state.pacer
    pacer.observe(1.0)  # as if a check had once taken a second: failures wait 1.25 s

    started = time.perf_counter()
    signed_in = client.post("/sign-in", json={"email": NATIVE, "password": PASSWORD})
    succeeded_in = time.perf_counter() - started
    started = time.perf_counter()
    failed = client.post("/sign-in", json={"email": NATIVE, "password": WRONG_PASSWORD})
    failed_in = time.perf_counter() - started

    assert (signed_in.status_code, failed.status_code) == (200, 401)
    assert succeeded_in < 1.0 <= failed_in

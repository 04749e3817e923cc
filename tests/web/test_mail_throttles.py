"""Every route that sends mail is throttled per address and per IP, alike for addresses
with and without an account: a 429 reveals no more than a 202 (DESIGN.md §8)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import GENEROUS_THROTTLES, PASSWORD, bearer, sign_up_and_in

EMAIL = "ada@example.com"


def throttled_client(
    settings: Settings, clock: FrozenClock, *, address: str, ip: str
) -> TestClient:
    rates = {**GENEROUS_THROTTLES, "throttle_mail_address": address, "throttle_mail_ip": ip}
    tight = Settings(database_url=settings.database_url, **rates)
    return TestClient(create_app(tight, clock=clock, preset=FAST_FOR_TESTS))


@pytest.fixture
def per_address(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    with throttled_client(settings, clock, address="2/hour", ip="1000/hour") as client:
        yield client


@pytest.fixture
def per_ip(settings: Settings, clock: FrozenClock) -> Iterator[TestClient]:
    with throttled_client(settings, clock, address="1000/hour", ip="3/hour") as client:
        yield client


@pytest.mark.parametrize("address", [EMAIL, "nobody@example.com"])
@pytest.mark.parametrize("route", ["/password/forgot", "/email/verify/request"])
def test_the_third_mail_to_one_address_in_an_hour_is_429(
    per_address: TestClient, address: str, route: str
) -> None:
    per_address.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    answers = [per_address.post(route, json={"email": address}) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    refused = answers[2]
    assert refused.json()["error"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    # Another address is not held up by this one.
    assert per_address.post(route, json={"email": "carol@example.com"}).status_code == 202


def test_a_429_looks_the_same_for_known_and_unknown_addresses(per_address: TestClient) -> None:
    per_address.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    last = {}
    for address in (EMAIL, "nobody@example.com"):
        for _ in range(3):
            last[address] = per_address.post("/password/forgot", json={"email": address})
    known, unknown = last[EMAIL], last["nobody@example.com"]
    assert known.status_code == unknown.status_code == 429
    assert known.json() == unknown.json()


def test_addresses_are_counted_case_insensitively(per_address: TestClient) -> None:
    for address in ("ada@example.com", "ADA@example.com"):
        assert per_address.post("/password/forgot", json={"email": address}).status_code == 202
    refused = per_address.post("/password/forgot", json={"email": "Ada@Example.com"})
    assert refused.status_code == 429


def test_mail_sending_routes_share_a_per_ip_limit(per_ip: TestClient) -> None:
    tokens = sign_up_and_in(per_ip)
    answers = [
        per_ip.post("/password/forgot", json={"email": "a@example.com"}),
        per_ip.post("/email/verify/request", json={"email": "b@example.com"}),
        per_ip.post("/email/verify/request", headers=bearer(tokens["access_token"])),
        per_ip.post(
            "/email/change",
            headers=bearer(tokens["access_token"]),
            json={"new_email": "ada@example.org"},
        ),
    ]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]

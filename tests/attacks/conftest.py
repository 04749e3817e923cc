"""Module-scoped fixtures of the attack tables: one service and one app per module.

Reading a token changes nothing, so the rows of a module share them rather than building
a database, migrations and an RSA key for each case.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.service import Service
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import PASSWORD, sign_up_and_in

from .test_forged_tokens import EMAIL, Target


@pytest.fixture(scope="module")
def shared_clock() -> FrozenClock:
    return FrozenClock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def shared_service(
    tmp_path_factory: pytest.TempPathFactory, shared_clock: FrozenClock
) -> Iterator[Service]:
    settings = Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('core') / 'a.db'}")
    service = Service(settings, clock=shared_clock, preset=FAST_FOR_TESTS)
    yield service
    service.close()


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory: pytest.TempPathFactory, shared_clock: FrozenClock) -> FastAPI:
    settings = Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('http') / 'a.db'}")
    return create_app(settings, clock=shared_clock, preset=FAST_FOR_TESTS)


@pytest.fixture(scope="module")
def shared_client(shared_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(shared_app) as client:
        yield client


@pytest.fixture(scope="module")
def core_target(shared_service: Service, shared_clock: FrozenClock) -> Target:
    shared_service.parts.accounts.sign_up(EMAIL, PASSWORD)
    signed_in = shared_service.sign_in(EMAIL, PASSWORD)
    return Target(
        shared_service.parts.keys, shared_clock(), signed_in.access_token, signed_in.refresh_token
    )


@pytest.fixture(scope="module")
def http_target(
    shared_app: FastAPI, shared_client: TestClient, shared_clock: FrozenClock
) -> Target:
    body = sign_up_and_in(shared_client, EMAIL, PASSWORD)
    keys = shared_app.state.service.parts.keys
    return Target(keys, shared_clock(), body["access_token"], body["refresh_token"])

"""A failed sign-in takes as long for an imported account as for any other (DESIGN.md §4).

Imported users keep the tutorial's bcrypt hashes (cost 10) until they next sign in, and a
bcrypt check at cost 10 costs about twice an argon2id check at the RECOMMENDED preset: the
time of a wrong password told an imported account from a native one and from an unknown
e-mail. Every failed sign-in is now answered no sooner than a floor that covers the
costliest check. The app hashes with the real RECOMMENDED preset, the imported user is
added before startup (where the floor is calibrated), and the kinds of attempt take turns,
forward then backward, so a busy machine slows each kind alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import bcrypt
import pytest
from fastapi.testclient import TestClient

from authgate.service import Service
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import GENEROUS_THROTTLES, PASSWORD

# Timings of the RECOMMENDED hashing preset, measured over many rounds: seconds each.
pytestmark = pytest.mark.slow

IMPORTED = "imported@example.com"  # a bcrypt hash from the Node tutorial
NATIVE = "native@example.com"  # signed up here: argon2id
UNKNOWN = "nobody@example.com"
WRONG_PASSWORD = "not the password, but as long"
WARM_UP = 2  # turns of each kind, not measured
ROUNDS = 12  # turns of each kind, measured; even, so each order comes up as often
TOLERANCE = 1.15  # slowest median / fastest median


@pytest.fixture(scope="module")
def recommended(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A client of an app hashing with RECOMMENDED, with an imported and a native user."""
    folder = tmp_path_factory.mktemp("timing")
    settings = Settings(database_url=f"sqlite:///{folder / 'authgate.db'}", **GENEROUS_THROTTLES)
    app = create_app(settings)  # preset defaults to RECOMMENDED
    service: Service = app.state.service
    tutorial_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    service.parts.accounts.add(IMPORTED, tutorial_hash)
    service.parts.accounts.sign_up(NATIVE, PASSWORD)
    with TestClient(app) as client:
        yield client


def failed_sign_in_seconds(client: TestClient, email: str) -> float:
    started = time.perf_counter()
    response = client.post("/sign-in", json={"email": email, "password": WRONG_PASSWORD})
    seconds = time.perf_counter() - started
    assert response.status_code == 401, response.text
    return seconds


def test_failed_sign_ins_take_as_long_for_imported_native_and_unknown_accounts(
    recommended: TestClient,
) -> None:
    kinds = {"imported-bcrypt": IMPORTED, "native-argon2id": NATIVE, "unknown-email": UNKNOWN}
    for _ in range(WARM_UP):
        for email in kinds.values():
            failed_sign_in_seconds(recommended, email)
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    for round_ in range(ROUNDS):
        for kind in list(kinds) if round_ % 2 == 0 else reversed(list(kinds)):
            seconds[kind].append(failed_sign_in_seconds(recommended, kinds[kind]))

    medians = {kind: statistics.median(taken) for kind, taken in seconds.items()}
    described = ", ".join(f"{kind}: {median * 1000:.1f} ms" for kind, median in medians.items())
    assert max(medians.values()) / min(medians.values()) < TOLERANCE, described

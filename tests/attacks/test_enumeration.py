"""Sign-in reveals no account: an unknown e-mail answers like a known one, as fast.

DESIGN.md §4: unknown e-mail and wrong password get the same status, the same body and the
same work. The app hashes with the real RECOMMENDED preset (FAST_FOR_TESTS would make every
attempt too cheap to tell apart). The two kinds of attempt interleave, so a busy machine
slows both alike, and the medians of 40 of each must be within 0.8..1.25 of each other.
A disabled account, signed in with its right password, is a third probe.

The order is ABBA ABBA..., not ABAB: the hashing pool hands work to its threads in turn, so
with ABAB one kind always ran on one thread and the other on the other, and whatever made
one thread slower (a cold allocator arena, a busy core) biased the ratio by up to 25% from
run to run. ABBA gives each kind every thread and every position alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache

import pytest
from fastapi.testclient import TestClient

from authgate.core.store import UserId
from authgate.errors import InvalidCredentials
from authgate.service import Service
from authgate.settings import Settings
from authgate.web.app import create_app
from helpers import GENEROUS_THROTTLES, PASSWORD

# Timings of the RECOMMENDED hashing preset, measured over many rounds: seconds each.
pytestmark = pytest.mark.slow

KNOWN = "ada@example.com"
DISABLED = "grace@example.com"
UNKNOWN = "nobody@example.com"
WRONG_PASSWORD = "not the password, but as long"
WARM_UP = 3  # of each kind, not measured: first calls fill caches and connection pools
ROUNDS = 40  # of each kind, measured; even, so each order comes up as often
LOWEST_RATIO, HIGHEST_RATIO = 0.8, 1.25

Answer = tuple[object, ...]  # what a caller learns from one attempt, timing aside
Attempt = Callable[[], Answer]


@dataclass
class Trial:
    """Alternating attempts of two kinds: what each answered and how long each took."""

    answers: dict[str, set[Answer]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def median(self, kind: str) -> float:
        return statistics.median(self.seconds[kind])

    def ratio(self, kind: str, other: str) -> float:
        return self.median(kind) / self.median(other)

    def describe(self) -> str:
        return ", ".join(f"{k}: median {self.median(k) * 1000:.1f} ms" for k in self.seconds)


def alternate(attempts: dict[str, Attempt]) -> Trial:
    """Run the attempts ABBA ABBA..., ROUNDS times each, after WARM_UP unmeasured turns."""
    trial = Trial({kind: set() for kind in attempts}, {kind: [] for kind in attempts})
    for _ in range(WARM_UP):
        for attempt in attempts.values():
            attempt()
    kinds = list(attempts)
    for round_ in range(ROUNDS):
        for kind in kinds if round_ % 2 == 0 else reversed(kinds):
            started = time.perf_counter()
            answer = attempts[kind]()
            trial.seconds[kind].append(time.perf_counter() - started)
            trial.answers[kind].add(answer)
    return trial


# -- the two layers: HTTP through the in-process client, and the service itself ------


def over_http(client: TestClient, email: str, password: str) -> Attempt:
    def attempt() -> Answer:
        response = client.post("/sign-in", json={"email": email, "password": password})
        return response.status_code, response.text

    return attempt


def in_the_service(service: Service, email: str, password: str) -> Attempt:
    def attempt() -> Answer:
        try:
            service.sign_in(email, password, ip="203.0.113.9")
        except InvalidCredentials as refused:
            return type(refused).__name__, refused.detail
        return ("signed in",)

    return attempt


LAYERS = ["http", "service"]
PROBES = {  # a known account, tried in a way that must fail like an unknown e-mail
    "wrong-password": (KNOWN, WRONG_PASSWORD),
    "disabled-account": (DISABLED, PASSWORD),
}


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, str], Trial]]:
    """One app with the RECOMMENDED hashing preset; each (layer, probe) trial runs once."""
    folder = tmp_path_factory.mktemp("enumeration")
    settings = Settings(database_url=f"sqlite:///{folder / 'authgate.db'}", **GENEROUS_THROTTLES)
    app = create_app(settings)  # preset defaults to RECOMMENDED
    service: Service = app.state.service
    with TestClient(app) as client:
        for email in (KNOWN, DISABLED):
            signed_up = client.post("/sign-up", json={"email": email, "password": PASSWORD})
            assert signed_up.status_code == 201
            if email == DISABLED:
                service.disable_user(UserId(signed_up.json()["id"]))

        layers: dict[str, Callable[[str, str], Attempt]] = {
            "http": lambda email, password: over_http(client, email, password),
            "service": lambda email, password: in_the_service(service, email, password),
        }

        @cache
        def trial(layer: str, probe: str) -> Trial:
            attempt = layers[layer]
            email, password = PROBES[probe]
            return alternate(
                {"unknown-email": attempt(UNKNOWN, WRONG_PASSWORD), probe: attempt(email, password)}
            )

        yield trial


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("probe", PROBES)
def test_unknown_email_gets_the_same_answer_as_a_known_account(
    trials: Callable[[str, str], Trial], layer: str, probe: str
) -> None:
    trial = trials(layer, probe)
    assert len(trial.answers["unknown-email"]) == 1  # one answer, every time
    assert trial.answers["unknown-email"] == trial.answers[probe]


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("probe", PROBES)
def test_unknown_email_takes_as_long_as_a_known_account(
    trials: Callable[[str, str], Trial], layer: str, probe: str
) -> None:
    trial = trials(layer, probe)
    ratio = trial.ratio("unknown-email", probe)
    assert LOWEST_RATIO <= ratio <= HIGHEST_RATIO, f"ratio {ratio:.2f}; {trial.describe()}"

"""Claims on the outbox, on every database: two senders never hold one envelope, a lease
that ran out frees it, and an envelope given back is due again at once, untried."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from authgate.core.clock import FrozenClock
from authgate.core.letters import Letter, pack
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.store import Mailing
from authgate.service import Service
from authgate.settings import Settings
from authgate.storage.outbox import SqlOutbox

LEASE = timedelta(minutes=3)
ENVELOPES = 300
BATCH = 7


@pytest.fixture
def services(database_url: str, clock: FrozenClock) -> Iterator[tuple[Service, Service]]:
    """Two services on one database, each with its own connections: two server processes."""
    settings = Settings(database_url=database_url)
    first = Service(settings, clock=clock, preset=FAST_FOR_TESTS)
    second = Service(settings, clock=clock, preset=FAST_FOR_TESTS)
    yield first, second
    first.close()
    second.close()


def queue(service: Service, clock: FrozenClock, count: int) -> list[str]:
    envelopes = [
        pack(
            Letter("verify_email", f"user{n}@example.com", "Confirm", "text", "<p>html</p>"),
            now=clock(),
            key_encryption_key=None,
        )
        for n in range(count)
    ]
    service.parts.store.add_mailing(Mailing((), envelopes))
    return [e.id for e in envelopes]


def drain(outbox: SqlOutbox, clock: FrozenClock, start: threading.Barrier) -> list[str]:
    """Claim batch after batch until nothing is due; the ids this claimer got."""
    start.wait()
    taken: list[str] = []
    while claimed := outbox.claim(now=clock(), lease=LEASE, limit=BATCH):
        taken += [envelope.id for envelope, _ in claimed]
    return taken


def test_two_senders_draining_one_outbox_never_claim_the_same_envelope(
    services: tuple[Service, Service], clock: FrozenClock
) -> None:
    queued = queue(services[0], clock, ENVELOPES)
    start = threading.Barrier(4)
    outboxes = [s.parts.outbox for s in services] * 2  # two threads a process, too

    with ThreadPoolExecutor(len(outboxes)) as pool:
        shares = list(pool.map(lambda box: drain(box, clock, start), outboxes))

    taken = [envelope_id for share in shares for envelope_id in share]
    assert sorted(taken) == sorted(queued)  # each one exactly once
    assert services[0].parts.outbox.counts() == {"sending": ENVELOPES}


def test_a_live_claim_is_not_taken_and_a_lapsed_one_is(
    services: tuple[Service, Service], clock: FrozenClock
) -> None:
    (envelope_id,) = queue(services[0], clock, 1)
    first, second = (s.parts.outbox for s in services)
    ((_, claim),) = first.claim(now=clock(), lease=LEASE, limit=5)

    assert second.claim(now=clock() + LEASE - timedelta(seconds=1), lease=LEASE, limit=5) == []
    ((taken, new_claim),) = second.claim(
        now=clock() + LEASE + timedelta(seconds=1), lease=LEASE, limit=5
    )

    assert (taken.id, taken.attempts) == (envelope_id, 2)
    assert not first.delivered(envelope_id, claim, now=clock())  # the first sender lost it
    assert second.delivered(envelope_id, new_claim, now=clock())


def test_released_envelopes_are_due_at_once_without_counting_an_attempt(
    services: tuple[Service, Service], clock: FrozenClock
) -> None:
    queued = queue(services[0], clock, 3)
    outbox = services[0].parts.outbox
    claimed = outbox.claim(now=clock(), lease=LEASE, limit=5)
    claim = claimed[0][1]

    assert outbox.release("another claim", queued) == 0
    assert outbox.release(claim, queued[:2]) == 2

    again = services[1].parts.outbox.claim(now=clock(), lease=LEASE, limit=5)
    assert sorted(e.id for e, _ in again) == sorted(queued[:2])
    assert {e.attempts for e, _ in again} == {1}
    assert outbox.counts() == {"sending": 3}


def test_claims_come_longest_due_first(
    services: tuple[Service, Service], clock: FrozenClock
) -> None:
    service = services[0]
    queued = queue(service, clock, 5)
    older = queue(service, FrozenClock(clock() - timedelta(hours=1)), 1)

    claimed = service.parts.outbox.claim(now=clock(), lease=LEASE, limit=10)

    assert claimed[0][0].id == older[0]
    assert sorted(e.id for e, _ in claimed[1:]) == sorted(queued)

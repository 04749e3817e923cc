"""A sign-in in flight must not outlive a disable or a password change that lands mid-way.

Sign-in reads the user, spends tens of milliseconds hashing, then starts a session. The
review disabled the user inside that window and got a live session in 5 of 16 trials. Here
the change lands in the middle of the hash, trial after trial, on both databases; whatever
the sign-in answers, nothing it hands out may work once the change has returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from authgate.core.passwords import RECOMMENDED, Passwords
from authgate.core.store import UserId
from authgate.errors import InvalidCredentials, InvalidGrant, InvalidToken
from authgate.service import Service, SignedIn
from authgate.settings import Settings
from helpers import PASSWORD

TRIALS = 16
NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    # Real hashing cost: the window between reading the user and starting the session.
    svc = Service(settings, preset=RECOMMENDED)
    yield svc
    svc.close()


def hash_seconds() -> float:
    passwords = Passwords(RECOMMENDED)
    stored = passwords.hash(PASSWORD)
    started = time.perf_counter()
    passwords.verify(stored, PASSWORD)
    return time.perf_counter() - started


def race(service: Service, change: Callable[[Service, UserId], object]) -> list[str]:
    """Sign in while `change` runs, their starts spread around each other; list what went wrong.

    A disable writes at once; a password change hashes first. The offsets, from 1.5 hashes
    before the sign-in starts to 3 after, put each change's write before, inside and after
    the sign-in's window, trial by trial.
    """
    hashing = hash_seconds()
    problems, refused = [], 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for trial in range(TRIALS):
            email = f"racer{trial}@example.com"
            user = service.parts.accounts.sign_up(email, PASSWORD)
            offset = hashing * (4.5 * trial / (TRIALS - 1) - 1.5)
            if offset < 0:
                changing = pool.submit(change, service, user.id)
                time.sleep(-offset)
                signing_in = pool.submit(service.sign_in, email, PASSWORD)
            else:
                signing_in = pool.submit(service.sign_in, email, PASSWORD)
                time.sleep(offset)
                changing = pool.submit(change, service, user.id)
            changing.result()
            try:
                result = signing_in.result()
            except InvalidCredentials:
                refused += 1  # the change came first, or landed mid-hash and was seen
                continue
            problems += still_working(service, result, user.id, trial)
    if refused in (0, TRIALS):  # the race was never run both ways
        problems.append(f"{refused} of {TRIALS} sign-ins were refused")
    return problems


def still_working(service: Service, result: SignedIn, user_id: UserId, trial: int) -> list[str]:
    """What a sign-in handed out that still works after the change returned."""
    problems = []
    service.parts.sync_revocations()  # what every process's poll does; a no-op when announced
    try:
        service.read(result.access_token)
        problems.append(f"trial {trial}: the access token still works")
    except InvalidToken:
        pass
    try:
        service.refresh(result.refresh_token)
        problems.append(f"trial {trial}: the refresh token still works")
    except InvalidGrant:
        pass
    if any(s.id == result.session.id for s in service.parts.sessions.live(user_id)):
        problems.append(f"trial {trial}: the session is still live")
    return problems


def test_a_disable_landing_mid_sign_in_leaves_nothing_that_works(service: Service) -> None:
    assert race(service, lambda svc, user_id: svc.disable_user(user_id)) == []


def test_a_password_change_landing_mid_sign_in_leaves_nothing_that_works(
    service: Service,
) -> None:
    changed = race(service, lambda svc, user_id: svc.change_password(user_id, NEW_PASSWORD))

    assert changed == []


def test_a_disabled_user_cannot_refresh_even_a_session_that_escaped(service: Service) -> None:
    """Belt and braces: refresh itself refuses a disabled user, whatever the session says."""
    service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    signed_in = service.sign_in("ada@example.com", PASSWORD)
    user_id = signed_in.session.user_id
    # Disabled in the store alone: its sessions are not ended.
    service.parts.store.set_disabled(user_id, at=service.parts.clock())

    with pytest.raises(InvalidGrant):
        service.refresh(signed_in.refresh_token)

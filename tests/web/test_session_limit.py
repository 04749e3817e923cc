"""AUTHGATE_MAX_SESSIONS_PER_USER (ASVS V7.1.2): a sign-in beyond the limit ends the
account's least recently used sessions, as a sign-out would, however the person signed in
and however many sign in at once."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authenticators import SoftAuthenticator
from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.store import UserId
from authgate.service import Service, SignedIn
from authgate.settings import Settings
from helpers import INVALID_TOKEN, PASSWORD, bearer, sign_up_and_in

from .helpers import MakeClient, jwt_claims

EMAIL = "ada@example.com"
CREDENTIALS = {"email": EMAIL, "password": PASSWORD}
ORIGIN = "http://localhost:8000"  # the default issuer's origin: the passkeys' RP id
Tokens = dict[str, str]


def service_of(client: TestClient) -> Service:
    assert isinstance(client.app, FastAPI)
    service: Service = client.app.state.service
    return service


def sign_in(client: TestClient) -> Tokens:
    answer = client.post("/sign-in", json=CREDENTIALS)
    assert answer.status_code == 200, answer.text
    tokens: Tokens = answer.json()
    return tokens


def refreshed(client: TestClient, tokens: Tokens) -> Tokens:
    answer = client.post("/token", json={"refresh_token": tokens["refresh_token"]})
    assert answer.status_code == 200, answer.text
    fresh: Tokens = answer.json()
    return fresh


def session_id(tokens: Tokens) -> str:
    sid: str = jwt_claims(tokens["access_token"])["sid"]
    return sid


def works(client: TestClient, tokens: Tokens) -> bool:
    """Both of the session's tokens still work: the access token, then the refresh token."""
    me = client.get("/me", headers=bearer(tokens["access_token"]))
    again = client.post("/token", json={"refresh_token": tokens["refresh_token"]})
    return me.status_code == 200 and again.status_code == 200


@pytest.fixture
def limited(make_client: MakeClient) -> TestClient:
    """An app that lets one account have two live sessions."""
    return make_client(max_sessions_per_user=2)


@pytest.fixture
def sessions(limited: TestClient, clock: FrozenClock) -> tuple[Tokens, Tokens, Tokens]:
    """Ada's phone signs in, then her laptop; the phone refreshes, then a tablet signs in.

    The laptop, though started after the phone, is then the least recently used.
    """
    phone = sign_up_and_in(limited, EMAIL)
    clock.advance(60)
    laptop = sign_in(limited)
    clock.advance(60)
    phone = refreshed(limited, phone)
    clock.advance(60)
    tablet = sign_in(limited)
    return phone, laptop, tablet


def test_a_sign_in_beyond_the_limit_ends_the_least_recently_used_sessions_refresh_token(
    limited: TestClient, sessions: tuple[Tokens, Tokens, Tokens]
) -> None:
    _, laptop, _ = sessions

    answer = limited.post("/token", json={"refresh_token": laptop["refresh_token"]})

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_grant"


def test_the_ended_sessions_access_token_is_refused_at_once(
    limited: TestClient, sessions: tuple[Tokens, Tokens, Tokens]
) -> None:
    _, laptop, _ = sessions

    answer = limited.get("/me", headers=bearer(laptop["access_token"]))

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == INVALID_TOKEN


def test_the_most_recently_used_sessions_keep_working(
    limited: TestClient, sessions: tuple[Tokens, Tokens, Tokens]
) -> None:
    phone, _, tablet = sessions

    assert works(limited, phone)
    assert works(limited, tablet)


def test_the_session_list_holds_only_the_sessions_within_the_limit(
    limited: TestClient, sessions: tuple[Tokens, Tokens, Tokens]
) -> None:
    phone, _, tablet = sessions

    listed = limited.get("/sessions", headers=bearer(tablet["access_token"])).json()

    assert sorted(s["id"] for s in listed) == sorted([session_id(phone), session_id(tablet)])


def test_a_session_ended_by_the_limit_is_audited_with_the_sign_in_that_ended_it(
    limited: TestClient, sessions: tuple[Tokens, Tokens, Tokens]
) -> None:
    _, laptop, tablet = sessions
    user_id = UserId(jwt_claims(tablet["access_token"])["sub"])

    events, _ = service_of(limited).audit_events(user_id=user_id)

    [ended] = [e for e in events if e.kind == "session_limit"]
    assert ended.session_id == session_id(laptop)
    assert ended.detail == {"ended_by": session_id(tablet)}


@pytest.mark.parametrize("limit", [1, 3])
def test_only_the_newest_sessions_up_to_the_limit_stay_live(
    make_client: MakeClient, clock: FrozenClock, limit: int
) -> None:
    client = make_client(max_sessions_per_user=limit)
    signed_in = [sign_up_and_in(client, EMAIL)]
    for _ in range(limit + 1):
        clock.advance(1)
        signed_in.append(sign_in(client))

    assert [works(client, tokens) for tokens in signed_in] == [False, False] + [True] * limit


def test_without_a_limit_every_session_lives_on(client: TestClient, clock: FrozenClock) -> None:
    """The default, 0, sets no limit."""
    signed_in = [sign_up_and_in(client, EMAIL)]
    for _ in range(9):
        clock.advance(1)
        signed_in.append(sign_in(client))

    assert all(works(client, tokens) for tokens in signed_in)


# -- every way of signing in is held to it ---------------------------------------------


def by_password(client: TestClient, clock: FrozenClock) -> tuple[Tokens, Tokens]:
    first = sign_up_and_in(client, EMAIL)
    clock.advance(60)
    return first, sign_in(client)


def by_passkey(client: TestClient, clock: FrozenClock) -> tuple[Tokens, Tokens]:
    first = sign_up_and_in(client, EMAIL)
    device = SoftAuthenticator(ORIGIN)
    headers = bearer(first["access_token"])
    options = client.post("/passkeys/register/options", headers=headers).json()
    credential = device.create(options)
    added = client.post("/passkeys", headers=headers, json={"credential": credential, "name": "K"})
    assert added.status_code == 201, added.text
    clock.advance(60)
    challenge = client.post("/passkeys/authenticate/options").json()
    answer = client.post("/sign-in/passkey", json={"credential": device.get(challenge)})
    assert answer.status_code == 200, answer.text
    return first, answer.json()


def by_second_factor(client: TestClient, clock: FrozenClock) -> tuple[Tokens, Tokens]:
    first = sign_up_and_in(client, EMAIL)
    headers = bearer(first["access_token"])
    secret = client.post("/mfa/totp", headers=headers).json()["secret"]
    code = pyotp.TOTP(secret).at(clock())
    assert client.post("/mfa/totp/confirm", headers=headers, json={"code": code}).status_code == 200
    clock.advance(60)
    challenged = client.post("/sign-in", json=CREDENTIALS).json()
    code = pyotp.TOTP(secret).at(clock())
    answer = client.post("/sign-in/mfa", json={"mfa_token": challenged["mfa_token"], "code": code})
    assert answer.status_code == 200, answer.text
    return first, answer.json()


@pytest.mark.parametrize("second_sign_in", [by_password, by_passkey, by_second_factor])
def test_every_way_of_signing_in_ends_the_session_beyond_the_limit(
    make_client: MakeClient,
    clock: FrozenClock,
    second_sign_in: Callable[[TestClient, FrozenClock], tuple[Tokens, Tokens]],
) -> None:
    client = make_client(max_sessions_per_user=1)

    first, second = second_sign_in(client, clock)

    assert (works(client, first), works(client, second)) == (False, True)


# -- concurrent sign-ins ----------------------------------------------------------------

SIGN_INS = 12
ROUNDS = 3


@pytest.fixture
def instances(settings: Settings, clock: FrozenClock) -> Iterator[list[Service]]:
    """Two services on one database with a limit of 2, as two processes would be."""
    limited = dataclasses.replace(settings, max_sessions_per_user=2)
    opened = [Service(limited, clock=clock, preset=FAST_FOR_TESTS) for _ in range(2)]
    yield opened
    for service in opened:
        service.close()


def test_concurrent_sign_ins_never_leave_more_live_sessions_than_the_limit(
    instances: list[Service], clock: FrozenClock
) -> None:
    user = instances[0].sign_up(EMAIL, PASSWORD)
    barrier = threading.Barrier(SIGN_INS)

    def sign_in_at_once(n: int) -> SignedIn:
        barrier.wait()
        return instances[n % 2].sign_in(EMAIL, PASSWORD)

    live_counts = []
    for _ in range(ROUNDS):
        clock.advance(1)
        with ThreadPoolExecutor(max_workers=SIGN_INS) as pool:
            list(pool.map(sign_in_at_once, range(SIGN_INS)))
        live_counts.append(len(instances[0].live_sessions(user.id)))

    assert live_counts == [2] * ROUNDS

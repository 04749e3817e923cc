"""Revocations announced by a real server on real Redis reach a Verifier within a second."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from authgate import ConfigurationError, InvalidToken, RevokedToken, Verifier
from helpers import PASSWORD, bearer
from servers import Server
from services import Redis

from . import sign_in, start_server


@pytest.fixture(scope="module")
def announcing_server(
    tmp_path_factory: pytest.TempPathFactory, redis_server: Redis
) -> Iterator[Server]:
    running = start_server(
        tmp_path_factory.mktemp("announcing"), AUTHGATE_REDIS_URL=redis_server.url
    )
    yield running
    running.stop()


@pytest.fixture
def verifier(announcing_server: Server, redis_server: Redis) -> Iterator[Verifier]:
    with Verifier(announcing_server.url, redis_url=redis_server.url) as listening:
        assert listening.feed is not None
        assert listening.feed.wait_connected(timeout=10)
        yield listening


def seconds_until_refused(verifier: Verifier, token: str, *, limit: float = 3.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            verifier.verify(token)
        except RevokedToken:
            return time.monotonic() - started
        time.sleep(0.01)
    return float("inf")


def test_token_of_a_session_signed_out_on_the_server_is_refused_within_a_second(
    verifier: Verifier, announcing_server: Server
) -> None:
    user = sign_in(announcing_server)
    verifier.verify(user.access_token)  # verified, and remembered

    signed_out = httpx.post(f"{announcing_server.url}/sign-out", headers=bearer(user.access_token))

    assert signed_out.status_code == 204
    assert seconds_until_refused(verifier, user.access_token) < 1.0


def test_every_token_of_a_user_signed_out_everywhere_is_refused_within_a_second(
    verifier: Verifier, announcing_server: Server
) -> None:
    laptop = sign_in(announcing_server)
    phone = httpx.post(
        f"{announcing_server.url}/sign-in",
        json={"email": laptop.email, "password": PASSWORD},
    ).json()["access_token"]
    verifier.verify(phone)

    signed_out = httpx.post(
        f"{announcing_server.url}/sign-out-all", headers=bearer(laptop.access_token)
    )

    assert signed_out.status_code == 204
    assert seconds_until_refused(verifier, phone) < 1.0
    with pytest.raises(RevokedToken):
        verifier.verify(laptop.access_token)


def test_other_sessions_still_verify_after_a_sign_out(
    verifier: Verifier, announcing_server: Server
) -> None:
    leaving, staying = sign_in(announcing_server), sign_in(announcing_server)
    httpx.post(f"{announcing_server.url}/sign-out", headers=bearer(leaving.access_token))
    seconds_until_refused(verifier, leaving.access_token)

    assert verifier.verify(staying.access_token).subject == staying.user_id


def test_without_the_feed_a_signed_out_token_verifies_until_it_expires(
    announcing_server: Server,
) -> None:
    """The documented bound of a verifier that does not listen: the token's `exp`."""
    user = sign_in(announcing_server)
    httpx.post(f"{announcing_server.url}/sign-out", headers=bearer(user.access_token))
    time.sleep(0.2)

    with Verifier(announcing_server.url) as deaf:
        assert deaf.verify(user.access_token).subject == user.user_id


@pytest.mark.parametrize(
    "url",
    [pytest.param("http://127.0.0.1:6379", id="http-scheme"), pytest.param("nonsense", id="junk")],
)
def test_redis_url_that_is_not_one_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="Redis URL"):
        Verifier("https://auth.example", redis_url=url)


def test_revoked_token_is_an_invalid_token(verifier: Verifier, announcing_server: Server) -> None:
    user = sign_in(announcing_server)
    httpx.post(f"{announcing_server.url}/sign-out", headers=bearer(user.access_token))
    seconds_until_refused(verifier, user.access_token)

    with pytest.raises(InvalidToken):
        verifier.verify(user.access_token)

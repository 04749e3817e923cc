"""Access tokens: issue and read for every algorithm, their claims, time window and audience."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from authgate.core.keys import ALGORITHMS, SYMMETRIC, Algorithm, KeyRing, generate_key, secret_key
from authgate.core.tokens import (
    LEEWAY,
    MAX_TOKEN_LENGTH,
    AccessClaims,
    issue_access_token,
    read_access_token,
)
from authgate.errors import ExpiredToken, ForeignToken, MalformedToken

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)
ISSUER = "https://auth.example"
AUDIENCE = "api"
SECOND = timedelta(seconds=1)


def ring_for(alg: Algorithm) -> KeyRing:
    if alg in SYMMETRIC:
        return KeyRing(secret_key(alg, secrets.token_bytes(32), created_at=NOW))
    return KeyRing(generate_key(alg, now=NOW))


@pytest.fixture(scope="module")
def keys() -> KeyRing:
    return ring_for("ES256")


def issue(keys: KeyRing, *, now: datetime = NOW, email: str = "ada@example.com") -> str:
    token, _ = issue_access_token(
        subject="user-1",
        email=email,
        session_id="session-1",
        keys=keys,
        issuer=ISSUER,
        audience=AUDIENCE,
        now=now,
        ttl=TTL,
    )
    return token


def read(token: str, keys: KeyRing, *, now: datetime = NOW, **where: str) -> AccessClaims:
    return read_access_token(
        token,
        keys=keys,
        issuer=where.get("issuer", ISSUER),
        audience=where.get("audience", AUDIENCE),
        now=now,
    )


def segment(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_token_issued_with_an_algorithm_reads_back_with_its_claims(alg: Algorithm) -> None:
    ring = ring_for(alg)
    token, issued = issue_access_token(
        subject="user-1",
        email="ada@example.com",
        session_id="session-1",
        keys=ring,
        issuer=ISSUER,
        audience=AUDIENCE,
        now=NOW,
        ttl=TTL,
    )

    assert read(token, ring) == issued


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_token_header_names_the_algorithm_kid_and_access_token_type(alg: Algorithm) -> None:
    ring = ring_for(alg)

    header = segment(issue(ring), 0)

    assert header == {"alg": alg, "kid": ring.signing.kid, "typ": "at+jwt"}


def test_token_carries_the_rfc9068_claims(keys: KeyRing) -> None:
    now = NOW + timedelta(microseconds=654_321)
    token, issued = issue_access_token(
        subject="user-1",
        email="ada@example.com",
        session_id="session-1",
        keys=keys,
        issuer=ISSUER,
        audience=AUDIENCE,
        now=now,
        ttl=TTL,
    )

    assert segment(token, 1) == {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + TTL).timestamp()),
        "jti": issued.token_id,
        "sid": "session-1",
        "email": "ada@example.com",
    }


def test_every_token_gets_its_own_jti(keys: KeyRing) -> None:
    assert segment(issue(keys), 1)["jti"] != segment(issue(keys), 1)["jti"]


def test_token_is_refused_once_expired_beyond_the_leeway(keys: KeyRing) -> None:
    token = issue(keys)

    with pytest.raises(ExpiredToken):
        read(token, keys, now=NOW + TTL + LEEWAY)


def test_token_is_accepted_just_after_exp_within_the_leeway(keys: KeyRing) -> None:
    token = issue(keys)

    claims = read(token, keys, now=NOW + TTL + LEEWAY - SECOND)

    assert claims.expires_at == NOW + TTL


def test_token_issued_in_the_future_beyond_the_leeway_is_refused(keys: KeyRing) -> None:
    token = issue(keys, now=NOW + LEEWAY + SECOND)

    with pytest.raises(ExpiredToken):
        read(token, keys, now=NOW)


def test_token_issued_in_the_future_within_the_leeway_is_accepted(keys: KeyRing) -> None:
    token = issue(keys, now=NOW + LEEWAY)

    assert read(token, keys, now=NOW).issued_at == NOW + LEEWAY


def test_token_from_another_issuer_is_foreign(keys: KeyRing) -> None:
    token = issue(keys)

    with pytest.raises(ForeignToken):
        read(token, keys, issuer="https://evil.example")


def test_token_for_another_audience_is_foreign(keys: KeyRing) -> None:
    token = issue(keys)

    with pytest.raises(ForeignToken):
        read(token, keys, audience="another-api")


def test_validly_signed_token_longer_than_the_limit_is_malformed(keys: KeyRing) -> None:
    token = issue(keys, email="a" * MAX_TOKEN_LENGTH + "@example.com")
    assert len(token) > MAX_TOKEN_LENGTH

    with pytest.raises(MalformedToken):
        read(token, keys)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda token: token + "é", id="trailing-e-acute"),
        pytest.param(lambda token: "\u200b" + token, id="leading-zero-width-space"),
        pytest.param(lambda token: token.replace(".", "\u2024", 1), id="one-dot-leader"),
    ],
)
def test_token_with_non_ascii_characters_is_malformed(
    keys: KeyRing, tamper: Callable[[str], str]
) -> None:
    with pytest.raises(MalformedToken):
        read(tamper(issue(keys)), keys)

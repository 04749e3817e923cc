"""Access tokens: issue and read for every algorithm, claims, scopes, time window, audience."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from joserfc.jws import CompactSignature, sign_compact

from authgate.core.keys import ALGORITHMS, SYMMETRIC, Algorithm, KeyRing, generate_key, secret_key
from authgate.core.tokens import (
    LEEWAY,
    MAX_TOKEN_LENGTH,
    AccessClaims,
    issue_access_token,
    read_access_token,
    unverified_kid,
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


def issue_with_claims(
    keys: KeyRing,
    *,
    now: datetime = NOW,
    email: str = "ada@example.com",
    scopes: list[str] | None = None,
    roles: list[str] | None = None,
) -> tuple[str, AccessClaims]:
    return issue_access_token(
        subject="user-1",
        email=email,
        session_id="session-1",
        keys=keys,
        issuer=ISSUER,
        audience=AUDIENCE,
        now=now,
        ttl=TTL,
        scopes=scopes or (),
        roles=roles or (),
    )


def issue(keys: KeyRing, *, now: datetime = NOW, email: str = "ada@example.com") -> str:
    return issue_with_claims(keys, now=now, email=email)[0]


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
    token, issued = issue_with_claims(ring)

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
        "email_verified": False,
    }


def test_token_carries_auth_time_and_email_verified_when_given(keys: KeyRing) -> None:
    signed_in = NOW - timedelta(minutes=3, microseconds=5)
    token, _ = issue_access_token(
        subject="user-1",
        email="ada@example.com",
        email_verified=True,
        auth_time=signed_in,
        session_id="session-1",
        keys=keys,
        issuer=ISSUER,
        audience=AUDIENCE,
        now=NOW,
        ttl=TTL,
    )
    claims = segment(token, 1)
    assert (claims["email_verified"], claims["auth_time"]) == (True, int(signed_in.timestamp()))
    read = read_access_token(token, keys=keys, issuer=ISSUER, audience=AUDIENCE, now=NOW)
    assert (read.email_verified, read.auth_time) == (True, signed_in.replace(microsecond=0))


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


def signed(keys: KeyRing, **claims: object) -> str:
    """A token with the genuine claims, `claims` changed (None drops one), properly signed."""
    _, issued = issue_with_claims(keys)
    payload = {**issued.as_dict(), **claims}
    body = json.dumps({k: v for k, v in payload.items() if v is not None}).encode()
    header = {"alg": keys.signing.alg, "kid": keys.signing.kid, "typ": "at+jwt"}
    key = keys.signing
    return sign_compact(CompactSignature(header, body), key.algorithm, key.jwk).decode()


def test_scopes_and_roles_read_back_as_they_were_issued(keys: KeyRing) -> None:
    token, issued = issue_with_claims(keys, scopes=["write:things", "read:things"], roles=["admin"])

    claims = read(token, keys)

    assert claims == issued
    assert claims.scopes == frozenset({"read:things", "write:things"})
    assert claims.roles == frozenset({"admin"})


def test_scopes_travel_as_one_space_separated_scope_claim(keys: KeyRing) -> None:
    token, _ = issue_with_claims(
        keys, scopes=["write:things", "read:things"], roles=["editor", "admin"]
    )

    payload = segment(token, 1)

    assert (payload["scope"], payload["roles"]) == ("read:things write:things", ["admin", "editor"])


def test_token_without_scope_or_roles_claims_has_none(keys: KeyRing) -> None:
    claims = read(issue(keys), keys)

    assert (claims.scopes, claims.roles) == (frozenset(), frozenset())


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        pytest.param("scope", ["read"], id="scope-as-a-list"),
        pytest.param("scope", 7, id="scope-as-a-number"),
        pytest.param("scope", "", id="scope-empty"),
        pytest.param("scope", "read  write", id="scope-with-a-double-space"),
        pytest.param("scope", " read", id="scope-with-a-leading-space"),
        pytest.param("scope", 'read"', id="scope-with-a-quote"),
        pytest.param("scope", "read\\", id="scope-with-a-backslash"),
        pytest.param("scope", "read\twrite", id="scope-with-a-tab"),
        pytest.param("scope", "lecture:é", id="scope-not-ascii"),
        pytest.param("roles", "admin", id="roles-as-a-string"),
        pytest.param("roles", ["admin", 7], id="roles-with-a-number"),
        pytest.param("roles", [""], id="roles-with-an-empty-one"),
        pytest.param("roles", {"admin": True}, id="roles-as-an-object"),
    ],
)
def test_scope_or_roles_of_the_wrong_shape_make_a_signed_token_malformed(
    keys: KeyRing, claim: str, value: object
) -> None:
    with pytest.raises(MalformedToken, match=claim):
        read(signed(keys, **{claim: value}), keys)


@pytest.mark.parametrize(
    ("scopes", "roles"),
    [
        pytest.param(["read write"], [], id="scope-with-a-space"),
        pytest.param([""], [], id="empty-scope"),
        pytest.param(['say"hi"'], [], id="scope-with-quotes"),
        pytest.param([], [""], id="empty-role"),
    ],
)
def test_issuing_a_token_with_a_bad_scope_or_role_is_a_programming_error(
    keys: KeyRing, scopes: list[str], roles: list[str]
) -> None:
    with pytest.raises(ValueError, match=r"scope|role"):
        issue_with_claims(keys, scopes=scopes, roles=roles)


def test_unverified_kid_is_the_kid_of_the_header(keys: KeyRing) -> None:
    assert unverified_kid(issue(keys)) == keys.signing.kid


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("not a token", id="junk"),
        pytest.param("eyJhbGciOiJub25lIn0.e30.", id="no-kid"),
        pytest.param("eyJraWQiOjd9.e30.", id="kid-a-number"),
        pytest.param("W10.e30.", id="header-a-list"),
        pytest.param("é.e30.", id="not-ascii"),
    ],
)
def test_unverified_kid_of_a_token_without_a_string_kid_is_none(token: str) -> None:
    assert unverified_kid(token) is None

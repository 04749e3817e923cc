"""Property tests of the token reader: any input gives claims or InvalidToken, nothing else.

`read_access_token` and `Service.read` face whatever arrives in an Authorization header.
Whatever it is (any text, any bytes, three base64url segments of any JSON, even a token
genuinely signed over a hostile header or payload), the only outcomes allowed are
AccessClaims or an InvalidToken; a TypeError or a RecursionError would be a 500 over HTTP.
A second family of properties changes one character of a genuine token: the result is
refused, or says exactly what the original said, never anything else.
"""

from __future__ import annotations

import base64
import json
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authgate.core.clock import FrozenClock
from authgate.core.keys import KeyRing, generate_key
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.tokens import (
    MAX_TOKEN_LENGTH,
    AccessClaims,
    issue_access_token,
    read_access_token,
)
from authgate.errors import InvalidToken
from authgate.service import Service
from authgate.settings import Settings

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ISSUER = "http://localhost:8000"
AUDIENCE = "authgate"
B64URL = string.ascii_letters + string.digits + "-_"

# Fixed budgets keep this file under ~10 s; raise them locally to search harder.
CHEAP = settings(max_examples=300, deadline=None)
STRUCTURED = settings(max_examples=150, deadline=None)
SIGNED = settings(max_examples=100, deadline=None)  # an RSA signature per example
MUTATIONS = settings(max_examples=500, deadline=None)


@cache
def ring() -> KeyRing:
    return KeyRing(generate_key("RS256", now=NOW))


@cache
def genuine() -> tuple[str, AccessClaims]:
    return issue_access_token(
        subject="c0ffee00-0000-4000-8000-000000000000",
        email="ada@example.com",
        session_id="5e551011-0000-4000-8000-000000000000",
        keys=ring(),
        issuer=ISSUER,
        audience=AUDIENCE,
        now=NOW,
        ttl=timedelta(minutes=15),
    )


def read(token: str) -> AccessClaims | InvalidToken:
    """What the reader makes of `token`; any other exception escapes and fails the test."""
    try:
        return read_access_token(token, keys=ring(), issuer=ISSUER, audience=AUDIENCE, now=NOW)
    except InvalidToken as refused:
        return refused


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# -- strategies --------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=()))  # surrogates and controls too
latin_1 = st.binary().map(lambda raw: raw.decode("latin-1"))  # what a header can carry
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and ±Infinity too: json.dumps writes them, json.loads reads them
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


def json_bytes(value: object) -> bytes:
    return json.dumps(value).encode()


@st.composite
def headers(draw: st.DrawFn) -> object:
    """Mostly header-shaped: authgate's three names with odd values, plus stray members."""
    plausible = {
        "alg": st.sampled_from(["RS256", "HS256", "none", "ES256", "PS256"]) | json_values,
        "kid": st.just(ring().signing.kid) | json_values,
        "typ": st.sampled_from(["at+jwt", "AT+JWT", "application/at+jwt", "JWT"]) | json_values,
    }
    header = draw(
        st.fixed_dictionaries({}, optional=plausible)
        | st.dictionaries(st.sampled_from(["alg", "kid", "typ", "crit", "b64", "jku"]), json_values)
    )
    return header if draw(st.booleans()) else draw(st.just(header) | json_values)


@st.composite
def claims(draw: st.DrawFn) -> object:
    """Mostly claims-shaped: the genuine claims with some replaced, dropped or added."""
    real = genuine()[1].as_dict()
    edits = draw(st.dictionaries(st.sampled_from([*real, "nbf"]), json_values, max_size=3))
    dropped = draw(st.sets(st.sampled_from(list(real)), max_size=2))
    shaped = {k: v for k, v in {**real, **edits}.items() if k not in dropped}
    return shaped if draw(st.booleans()) else draw(json_values)


segment = (
    headers().map(json_bytes).map(b64)
    | claims().map(json_bytes).map(b64)
    | st.binary().map(b64)
    | st.text(B64URL + "=+/ \n.")
)
structured = st.lists(segment, min_size=1, max_size=6).map(".".join) | st.tuples(
    headers().map(json_bytes), claims().map(json_bytes), st.binary()
).map(lambda parts: ".".join(b64(part) for part in parts))


def signed_over(header: object, payload: bytes) -> str:
    """Signed with the server's own key: what a hostile header or payload gets past."""
    key = ring().signing
    signing_input = f"{b64(json_bytes(header))}.{b64(payload)}"
    return f"{signing_input}.{b64(key.algorithm.sign(signing_input.encode(), key.jwk))}"


# -- any input: claims or InvalidToken ---------------------------------------------------


@CHEAP
@given(token=any_text)
def test_reading_any_text_gives_claims_or_invalid_token(token: str) -> None:
    assert isinstance(read(token), AccessClaims | InvalidToken)


@CHEAP
@given(token=latin_1)
def test_reading_any_bytes_as_latin_1_gives_claims_or_invalid_token(token: str) -> None:
    assert isinstance(read(token), AccessClaims | InvalidToken)


@STRUCTURED
@given(token=structured)
def test_reading_any_three_segments_gives_claims_or_invalid_token(token: str) -> None:
    assert isinstance(read(token), AccessClaims | InvalidToken)


@SIGNED
@given(header=headers(), payload=claims().map(json_bytes) | st.binary())
def test_reading_a_genuinely_signed_hostile_token_gives_claims_or_invalid_token(
    header: object, payload: bytes
) -> None:
    """Past the signature check: the header and claims parsers meet anything the key signs."""
    assert isinstance(read(signed_over(header, payload)), AccessClaims | InvalidToken)


def test_a_deeply_nested_signed_payload_is_invalid_token() -> None:
    """What the strategies above can't reach: JSON nested deeper than the recursion limit,
    in a token short enough to be parsed at all."""
    header = {"alg": "RS256", "kid": ring().signing.kid, "typ": "at+jwt"}
    token = signed_over(header, b"[" * 2500 + b"]" * 2500)
    assert len(token) <= MAX_TOKEN_LENGTH

    assert isinstance(read(token), InvalidToken)


# -- the service's guard: the same, with the revocation check ---------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'a.db'}")
    service = Service(settings, clock=FrozenClock(NOW), preset=FAST_FOR_TESTS)
    yield service
    service.close()


@STRUCTURED
@given(token=any_text | latin_1 | structured)
def test_service_read_of_anything_gives_claims_or_invalid_token(
    service: Service, token: str
) -> None:
    try:
        outcome: object = service.read(token)
    except InvalidToken as refused:
        outcome = refused

    assert isinstance(outcome, AccessClaims | InvalidToken)


# -- one character changed -------------------------------------------------------------


def with_character(token: str, position: int, character: str) -> str:
    return token[:position] + character + token[position + 1 :]


@MUTATIONS
@given(position=st.integers(min_value=0), character=st.sampled_from(B64URL + ".=+/ "))
def test_one_changed_character_never_reads_as_other_claims(position: int, character: str) -> None:
    """At any position (modulo the token's length), any character a base64 decoder knows."""
    token, claims = genuine()
    mutated = with_character(token, position % len(token), character)

    outcome = read(mutated)

    assert outcome == claims or isinstance(outcome, InvalidToken)
    assert outcome != claims or mutated in {token, *non_canonical_spellings(token)}


def lenient_twins(segment: str) -> list[str]:
    """Other last characters that decode to the same bytes, for a decoder that ignores the
    unused low bits of a segment's final character (Python's own base64 does)."""

    def lenient(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    return [
        segment[:-1] + c
        for c in B64URL
        if c != segment[-1] and len(segment) % 4 and lenient(segment[:-1] + c) == lenient(segment)
    ]


def non_canonical_spellings(token: str) -> list[str]:
    parts = token.split(".")
    return [
        ".".join([*parts[:i], twin, *parts[i + 1 :]])
        for i, part in enumerate(parts)
        for twin in lenient_twins(part)
    ]


def test_a_genuine_token_has_non_canonical_spellings_to_try() -> None:
    """The RS256 signature is 342 characters: its last one carries 4 unused bits."""
    assert len(non_canonical_spellings(genuine()[0])) >= 15


def test_every_non_canonical_spelling_of_a_genuine_token_is_refused() -> None:
    """joserfc decodes strictly, so a token has exactly one spelling.

    Were a non-canonical twin accepted it would carry identical claims (the bytes are the
    same), so this is about malleability, not forgery; but it is what joserfc 1.8 does and
    what keeps a token's text a usable identity.
    """
    outcomes = [read(twin) for twin in non_canonical_spellings(genuine()[0])]

    assert all(isinstance(outcome, InvalidToken) for outcome in outcomes)

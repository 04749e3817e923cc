"""The Verifier against a real authgate server: good tokens pass, every bad one is refused."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from authgate import (
    AccessClaims,
    ConfigurationError,
    ExpiredToken,
    ForeignToken,
    InvalidToken,
    MalformedToken,
    RemoteKeys,
    SigningKey,
    StaticKeys,
    UntrustedToken,
    Verifier,
)
from authgate.core.clock import FrozenClock
from authgate.core.keys import generate_key, secret_key
from authgate.core.tokens import LEEWAY
from servers import Server

from . import SignedIn, mint
from .proxy import Proxy


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def claims_edited(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    claims["sub"] = "someone-else"
    return ".".join([header, b64(json.dumps(claims).encode()), signature])


def signature_flipped(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(unb64(signature))
    raw[0] ^= 1
    return ".".join([header, payload, b64(bytes(raw))])


def alg_none(token: str) -> str:
    header, payload, _ = token.split(".")
    fields = {**json.loads(unb64(header)), "alg": "none"}
    return ".".join([b64(json.dumps(fields).encode()), payload, ""])


def header_names_its_own_key(token: str) -> str:
    header, payload, signature = token.split(".")
    fields = {**json.loads(unb64(header)), "jku": "https://evil.example/jwks.json"}
    return ".".join([b64(json.dumps(fields).encode()), payload, signature])


def signed_by_a_foreign_key(token: str) -> str:
    return mint(generate_key("RS256", now=datetime.now(UTC)), issuer=_issuer(token))


def segments_missing(token: str) -> str:
    return token.rsplit(".", 1)[0]


def not_a_token(token: str) -> str:
    return "not a token"


def _issuer(token: str) -> str:
    issuer: str = json.loads(unb64(token.split(".")[1]))["iss"]
    return issuer


FORGERIES = [
    pytest.param(claims_edited, UntrustedToken, id="claims-edited"),
    pytest.param(signature_flipped, UntrustedToken, id="signature-flipped"),
    pytest.param(alg_none, UntrustedToken, id="alg-none"),
    pytest.param(header_names_its_own_key, UntrustedToken, id="jku-header"),
    pytest.param(signed_by_a_foreign_key, UntrustedToken, id="unknown-kid"),
    pytest.param(segments_missing, MalformedToken, id="two-segments"),
    pytest.param(not_a_token, MalformedToken, id="junk"),
]


@pytest.fixture(scope="module")
def verifier(server: Server) -> Iterator[Verifier]:
    """Keys found the way production finds them: discovery from the issuer."""
    with Verifier(server.url) as shared:
        yield shared


def test_token_from_the_server_verifies_with_the_user_it_names(
    verifier: Verifier, user: SignedIn
) -> None:
    claims = verifier.verify(user.access_token)

    assert (claims.subject, claims.email, claims.audience) == (
        user.user_id,
        user.email,
        ("authgate",),
    )


def test_token_from_the_server_verifies_in_async_code(verifier: Verifier, user: SignedIn) -> None:
    claims = asyncio.run(verifier.averify(user.access_token))

    assert claims.subject == user.user_id


@pytest.mark.parametrize(("forge", "refusal"), FORGERIES)
def test_forged_token_is_refused_as_invalid_and_says_why(
    verifier: Verifier,
    user: SignedIn,
    forge: Callable[[str], str],
    refusal: type[InvalidToken],
) -> None:
    with pytest.raises(refusal):
        verifier.verify(forge(user.access_token))


@pytest.mark.parametrize(("forge", "refusal"), FORGERIES)
def test_forged_token_is_refused_in_async_code_too(
    verifier: Verifier,
    user: SignedIn,
    forge: Callable[[str], str],
    refusal: type[InvalidToken],
) -> None:
    with pytest.raises(refusal):
        asyncio.run(verifier.averify(forge(user.access_token)))


def test_refresh_token_presented_as_an_access_token_is_malformed(
    verifier: Verifier, user: SignedIn
) -> None:
    with pytest.raises(MalformedToken):
        verifier.verify(user.refresh_token)


@pytest.mark.parametrize(
    "where",
    [
        pytest.param({"audience": "another-api"}, id="another-audience"),
        pytest.param({"issuer": "https://another-issuer.example"}, id="another-issuer"),
    ],
)
def test_token_meant_for_another_audience_or_from_another_issuer_is_foreign(
    server: Server, user: SignedIn, where: dict[str, str]
) -> None:
    issuer = where.get("issuer", server.url)
    keys = RemoteKeys(f"{server.url}/.well-known/jwks.json")
    audience = where.get("audience", "authgate")
    with Verifier(issuer, audience=audience, keys=keys) as verifier, pytest.raises(ForeignToken):
        verifier.verify(user.access_token)


def expires_at(token: str) -> datetime:
    return datetime.fromtimestamp(json.loads(unb64(token.split(".")[1]))["exp"], UTC)


def test_token_is_refused_as_expired_once_past_exp_and_the_leeway(
    server: Server, user: SignedIn
) -> None:
    clock = FrozenClock(expires_at(user.access_token) + LEEWAY)
    with Verifier(server.url, clock=clock) as verifier, pytest.raises(ExpiredToken):
        verifier.verify(user.access_token)


def test_token_is_accepted_within_the_leeway_after_exp(server: Server, user: SignedIn) -> None:
    clock = FrozenClock(expires_at(user.access_token) + LEEWAY - timedelta(seconds=1))
    with Verifier(server.url, clock=clock) as verifier:
        assert verifier.verify(user.access_token).subject == user.user_id


def test_token_is_refused_at_exp_with_no_leeway(server: Server, user: SignedIn) -> None:
    clock = FrozenClock(expires_at(user.access_token))
    verifier = Verifier(server.url, clock=clock, leeway=timedelta(0))
    with verifier, pytest.raises(ExpiredToken):
        verifier.verify(user.access_token)


def test_remembered_token_is_refused_once_it_expires(server: Server, user: SignedIn) -> None:
    """The cache of verified tokens checks expiry on every hit."""
    clock = FrozenClock(datetime.now(UTC))
    with Verifier(server.url, clock=clock) as verifier:
        verifier.verify(user.access_token)
        clock.advance(seconds=(expires_at(user.access_token) - clock()).total_seconds())
        clock.advance(seconds=LEEWAY.total_seconds())

        with pytest.raises(ExpiredToken):
            verifier.verify(user.access_token)


@pytest.mark.parametrize(
    "leeway",
    [pytest.param(timedelta(seconds=-1), id="negative"), pytest.param(timedelta(61), id="days")],
)
def test_leeway_outside_zero_to_a_minute_is_a_configuration_error(leeway: timedelta) -> None:
    with pytest.raises(ConfigurationError, match="leeway"):
        Verifier("https://auth.example", leeway=leeway)


def test_static_keys_verify_a_token_with_its_scopes_and_roles(
    server: Server, test_key: SigningKey
) -> None:
    token = mint(test_key, issuer=server.url, scopes=["read:things"], roles=["admin"])
    verifier = Verifier(server.url, keys=StaticKeys([test_key.public_jwk()]))

    claims = verifier.verify(token)

    assert (claims.scopes, claims.roles) == (frozenset({"read:things"}), frozenset({"admin"}))


def test_static_keys_from_the_servers_jwks_verify_its_tokens(
    server: Server, user: SignedIn
) -> None:
    jwks = httpx.get(f"{server.url}/.well-known/jwks.json").json()
    verifier = Verifier(server.url, keys=StaticKeys(jwks))

    assert verifier.verify(user.access_token).subject == user.user_id


def test_static_keys_refuse_the_servers_tokens_when_they_hold_other_keys(
    server: Server, user: SignedIn, test_key: SigningKey
) -> None:
    verifier = Verifier(server.url, keys=StaticKeys([test_key]))

    with pytest.raises(UntrustedToken):
        verifier.verify(user.access_token)


def test_static_keys_keep_only_the_public_half_of_a_private_key(test_key: SigningKey) -> None:
    held = StaticKeys([test_key]).keys().get(test_key.kid)

    assert held is not None
    assert not held.private
    assert not held.jwk.is_private


def test_static_hmac_key_verifies_tokens_of_a_server_sharing_the_secret(server: Server) -> None:
    shared = secret_key("HS256", secrets.token_bytes(32), created_at=datetime.now(UTC))
    verifier = Verifier(server.url, keys=StaticKeys([shared]))

    assert verifier.verify(mint(shared, issuer=server.url)).subject == "user-minted"


def test_static_keys_without_a_key_are_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        StaticKeys({"keys": []})


def test_discovery_document_naming_another_issuer_is_not_trusted(
    server: Server, user: SignedIn, proxy: Proxy
) -> None:
    """The issuer asked is the proxy; the document it relays names the server."""
    verifier = Verifier(server.url, keys=RemoteKeys(issuer=proxy.url))
    with verifier, pytest.raises(UntrustedToken):
        verifier.verify(user.access_token)

    assert proxy.requests["/.well-known/openid-configuration"] == 1
    assert proxy.fetches == 0


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("ftp://auth.example/jwks.json", id="ftp"),
        pytest.param("https:///jwks.json", id="no-host"),
        pytest.param("auth.example/jwks.json", id="no-scheme"),
        pytest.param("https://auth.example:https/jwks.json", id="port-not-a-number"),
        pytest.param("https://[::1/jwks.json", id="bracket-left-open"),
    ],
)
def test_jwks_url_that_is_not_http_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigurationError, match="http"):
        RemoteKeys(url)


def test_remote_keys_need_exactly_one_of_a_jwks_url_and_an_issuer() -> None:
    with pytest.raises(ConfigurationError):
        RemoteKeys("https://auth.example/jwks.json", issuer="https://auth.example")


def test_claims_are_the_typed_access_claims(verifier: Verifier, user: SignedIn) -> None:
    claims = verifier.verify(user.access_token)

    assert isinstance(claims, AccessClaims)
    assert claims.expires_at - claims.issued_at == timedelta(minutes=15)

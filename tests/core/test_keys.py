"""Signing keys: generation, kids, JWKS export and import, HS secrets, sealing, PEM round trips."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey

from authgate.core.keys import (
    Algorithm,
    KeyRing,
    SigningKey,
    generate_key,
    load_jwk,
    load_key,
    seal,
    secret_key,
    unseal,
)
from authgate.core.tokens import AccessClaims, issue_access_token, read_access_token
from authgate.errors import ConfigurationError, UntrustedToken
from helpers import KEY_ENCRYPTION_KEY

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
ASYMMETRIC = ["RS256", "PS256", "ES256", "EdDSA"]
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
# RFC 7638 §3.2: the members a thumbprint is computed over, per key type.
THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


def rfc7638_thumbprint(jwk: dict[str, object]) -> str:
    required = {name: jwk[name] for name in THUMBPRINT_MEMBERS[str(jwk["kty"])]}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("alg", "key_type"),
    [("RS256", RSAKey), ("PS256", RSAKey), ("ES256", ECKey), ("EdDSA", OKPKey)],
)
def test_generated_key_has_the_requested_algorithm_and_key_type(
    alg: Algorithm, key_type: type[Key]
) -> None:
    key = generate_key(alg, now=NOW)

    assert (key.alg, type(key.jwk), key.private) == (alg, key_type, True)


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_generate_key_refuses_hmac_algorithms(alg: Algorithm) -> None:
    with pytest.raises(ValueError, match="secret"):
        generate_key(alg, now=NOW)


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_kid_is_the_rfc7638_thumbprint_of_the_public_key(alg: Algorithm) -> None:
    key = generate_key(alg, now=NOW)

    assert key.kid == rfc7638_thumbprint(key.public_jwk())


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_kid_is_the_same_after_the_key_is_reloaded_from_its_pem(alg: Algorithm) -> None:
    key = generate_key(alg, now=NOW)

    reloaded = load_key(alg, key.private_pem(), kid="ignored", created_at=NOW)

    assert rfc7638_thumbprint(reloaded.public_jwk()) == key.kid


def test_two_generated_keys_have_different_kids() -> None:
    assert generate_key("ES256", now=NOW).kid != generate_key("ES256", now=NOW).kid


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_public_jwk_names_its_kid_alg_and_use(alg: Algorithm) -> None:
    key = generate_key(alg, now=NOW)

    entry = key.public_jwk()

    assert (entry["kid"], entry["alg"], entry["use"]) == (key.kid, alg, "sig")


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_public_jwk_has_no_private_members(alg: Algorithm) -> None:
    entry = generate_key(alg, now=NOW).public_jwk()

    assert PRIVATE_MEMBERS.isdisjoint(entry)


def test_public_jwk_is_refused_for_an_hmac_key() -> None:
    key = secret_key("HS256", secrets.token_bytes(32), created_at=NOW)

    with pytest.raises(ValueError, match="symmetric"):
        key.public_jwk()


def test_jwks_lists_the_asymmetric_keys_and_leaves_out_hmac_keys() -> None:
    hmac_key = secret_key("HS256", secrets.token_bytes(32), created_at=NOW)
    ec_key = generate_key("ES256", now=NOW)

    jwks = KeyRing(hmac_key, [ec_key]).jwks()

    assert jwks == {"keys": [ec_key.public_jwk()]}


def test_jwks_of_a_ring_with_only_an_hmac_key_is_empty() -> None:
    ring = KeyRing(secret_key("HS512", secrets.token_bytes(64), created_at=NOW))

    assert ring.jwks() == {"keys": []}


def test_secret_key_kid_is_stable_for_the_same_secret() -> None:
    secret = secrets.token_bytes(32)

    first = secret_key("HS256", secret, created_at=NOW)
    second = secret_key("HS256", secret, created_at=NOW + timedelta(days=1))

    assert first.kid == second.kid


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"secret", id="a-word"),
        pytest.param(secrets.token_bytes(31), id="31-random-bytes"),
    ],
)
def test_secret_key_refuses_a_secret_shorter_than_32_bytes(secret: bytes) -> None:
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        secret_key("HS256", secret, created_at=NOW)


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(b"a" * 64, id="one-letter"),
        pytest.param(b"0123456789" * 8, id="digits-repeated"),
        pytest.param(bytes(range(11)) * 4, id="eleven-values"),
    ],
)
def test_secret_key_refuses_a_repetitive_secret(secret: bytes) -> None:
    with pytest.raises(ConfigurationError, match="repetitive"):
        secret_key("HS256", secret, created_at=NOW)


def test_secret_key_accepts_32_random_bytes() -> None:
    key = secret_key("HS256", secrets.token_bytes(32), created_at=NOW)

    assert key.symmetric


def test_secret_key_refuses_an_asymmetric_algorithm() -> None:
    with pytest.raises(ValueError, match="HMAC"):
        secret_key("RS256", secrets.token_bytes(32), created_at=NOW)


def test_sealed_data_unseals_with_the_same_key_encryption_key() -> None:
    sealed = seal(b"private key material", KEY_ENCRYPTION_KEY)

    assert unseal(sealed, KEY_ENCRYPTION_KEY) == b"private key material"


def test_sealed_data_does_not_contain_the_plaintext() -> None:
    assert b"private key material" not in seal(b"private key material", KEY_ENCRYPTION_KEY)


def test_unseal_with_another_key_encryption_key_is_a_configuration_error() -> None:
    sealed = seal(b"private key material", KEY_ENCRYPTION_KEY)

    with pytest.raises(ConfigurationError):
        unseal(sealed, secrets.token_urlsafe(32))


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_key_loaded_from_its_private_pem_signs_tokens_the_original_verifies(alg: Algorithm) -> None:
    original = generate_key(alg, now=NOW)
    loaded = load_key(alg, original.private_pem(), kid=original.kid, created_at=NOW)
    token, _ = issue_access_token(
        subject="user-1",
        email="ada@example.com",
        session_id="session-1",
        keys=KeyRing(loaded),
        issuer="https://auth.example",
        audience="api",
        now=NOW,
        ttl=timedelta(minutes=15),
    )

    claims = read_access_token(
        token, keys=KeyRing(original), issuer="https://auth.example", audience="api", now=NOW
    )

    assert claims.subject == "user-1"


def test_verify_only_key_cannot_be_the_signing_key() -> None:
    original = generate_key("ES256", now=NOW)
    assert isinstance(original.jwk, ECKey)
    public_pem = original.jwk.as_pem(private=False)
    verify_only = load_key("ES256", public_pem, kid=original.kid, created_at=NOW, private=False)

    with pytest.raises(ConfigurationError, match="no private part"):
        KeyRing(verify_only)


def test_signing_key_is_in_its_own_ring() -> None:
    key: SigningKey = generate_key("EdDSA", now=NOW)

    assert KeyRing(key).get(key.kid) is key


def test_verify_only_ring_has_no_signing_key() -> None:
    ring = KeyRing(None, [generate_key("ES256", now=NOW)])

    with pytest.raises(ConfigurationError, match="only verifies"):
        ring.signing  # noqa: B018 - the property raises


def test_verify_only_ring_cannot_issue_tokens() -> None:
    ring = KeyRing(None, [generate_key("ES256", now=NOW)])

    with pytest.raises(ConfigurationError, match="only verifies"):
        issue_for(ring)


def issue_for(keys: KeyRing) -> tuple[str, AccessClaims]:
    """A 15-minute access token for one user, signed by `keys`."""
    return issue_access_token(
        subject="user-1",
        email="ada@example.com",
        session_id="session-1",
        keys=keys,
        issuer="https://auth.example",
        audience="api",
        now=NOW,
        ttl=timedelta(minutes=15),
    )


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_ring_from_the_jwks_verifies_the_tokens_of_the_signing_ring(alg: Algorithm) -> None:
    signing = KeyRing(generate_key(alg, now=NOW))
    token, issued = issue_for(signing)

    verifying = KeyRing.from_jwks(signing.jwks())

    assert (
        read_access_token(
            token, keys=verifying, issuer="https://auth.example", audience="api", now=NOW
        )
        == issued
    )


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_jwk_loads_as_a_verify_only_key_with_its_kid_and_alg(alg: Algorithm) -> None:
    original = generate_key(alg, now=NOW)

    loaded = load_jwk(original.public_jwk())

    assert (loaded.kid, loaded.alg, loaded.private) == (original.kid, alg, False)
    assert loaded.public_jwk() == original.public_jwk()


def test_private_jwk_loads_as_its_public_half_only() -> None:
    original = generate_key("ES256", now=NOW)
    private_entry = {**original.jwk.as_dict(private=True), "kid": original.kid, "alg": "ES256"}

    loaded = load_jwk(private_entry)

    assert not loaded.jwk.is_private
    assert PRIVATE_MEMBERS.isdisjoint(loaded.jwk.as_dict(private=False))


def public_entry(alg: Algorithm, /, **changes: object) -> dict[str, object]:
    entry = generate_key(alg, now=NOW).public_jwk()
    entry.update(changes)
    return {name: value for name, value in entry.items() if value is not None}


def rsa_1024_entry() -> dict[str, object]:
    small = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the key refused here
    numbers = small.public_key().public_numbers()

    def b64(number: int) -> str:
        raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return {"kty": "RSA", "n": b64(numbers.n), "e": b64(numbers.e), "kid": "small", "alg": "RS256"}


def p384_entry() -> dict[str, object]:
    return {**ECKey.generate_key("P-384").as_dict(private=False), "kid": "p384", "alg": "ES256"}


def hmac_secret_entry() -> dict[str, object]:
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return {"kty": "oct", "k": secret, "kid": "hs", "alg": "HS256"}


def point_off_the_curve() -> dict[str, object]:
    entry = public_entry("ES256")
    entry["y"] = entry["x"]  # (x, x) is not a point on P-256
    return entry


UNUSABLE_JWKS = [
    pytest.param(lambda: public_entry("ES256", kid=None), id="no-kid"),
    pytest.param(lambda: public_entry("ES256", kid=""), id="empty-kid"),
    pytest.param(lambda: public_entry("ES256", kid="k" * 257), id="kid-too-long"),
    pytest.param(lambda: public_entry("ES256", kid=7), id="kid-not-a-string"),
    pytest.param(lambda: public_entry("ES256", alg=None), id="no-alg"),
    pytest.param(lambda: public_entry("ES256", alg="none"), id="alg-none"),
    pytest.param(lambda: public_entry("ES256", alg="ES384"), id="alg-unsupported"),
    pytest.param(hmac_secret_entry, id="hmac-secret"),
    pytest.param(lambda: public_entry("RS256", alg="ES256"), id="rsa-key-labelled-ec"),
    pytest.param(lambda: public_entry("EdDSA", alg="ES256"), id="okp-key-labelled-ec"),
    pytest.param(p384_entry, id="ec-key-on-another-curve"),
    pytest.param(lambda: public_entry("ES256", use="enc"), id="encryption-key"),
    pytest.param(lambda: public_entry("ES256", x=12), id="member-not-a-string"),
    pytest.param(lambda: public_entry("RS256", n="!!not-base64!!"), id="member-not-base64url"),
    pytest.param(point_off_the_curve, id="ec-point-off-the-curve"),
    pytest.param(rsa_1024_entry, id="rsa-1024-bits"),
]


@pytest.mark.parametrize("entry", UNUSABLE_JWKS)
def test_unusable_jwk_is_refused_with_a_configuration_error(
    entry: Callable[[], dict[str, object]],
) -> None:
    with pytest.raises(ConfigurationError):
        load_jwk(entry())


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({}, id="no-keys"),
        pytest.param({"keys": {"kid": "x"}}, id="keys-not-a-list"),
        pytest.param({"keys": ["x"]}, id="entry-not-an-object"),
    ],
)
def test_ring_from_something_that_is_not_a_jwks_is_refused(document: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        KeyRing.from_jwks(document)


def test_token_signed_rs256_is_refused_by_the_same_rsa_key_published_as_ps256() -> None:
    """The key fixes the algorithm (RFC 8725 §3.1), even a key learned from a JWKS."""
    signing = KeyRing(generate_key("RS256", now=NOW))
    token, _ = issue_for(signing)
    relabelled = KeyRing(None, [load_jwk({**signing.signing.public_jwk(), "alg": "PS256"})])

    with pytest.raises(UntrustedToken, match="algorithm"):
        read_access_token(
            token, keys=relabelled, issuer="https://auth.example", audience="api", now=NOW
        )

"""Signing keys, the key ring that verifies with them, JWKS export and sealing at rest.

Each key fixes its own algorithm; a token's header never chooses it (RFC 8725 §2.1, §3.1).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSAlgModel, JWSRegistry

from authgate.errors import ConfigurationError

Algorithm = Literal["RS256", "ES256", "EdDSA", "PS256", "HS256", "HS384", "HS512"]
ALGORITHMS: tuple[Algorithm, ...] = get_args(Algorithm)
SYMMETRIC: frozenset[str] = frozenset({"HS256", "HS384", "HS512"})
MIN_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key and the one algorithm it is used with.

    `private` is False for a verify-only key (a JWKS entry, a public PEM).
    """

    kid: str
    alg: Algorithm
    jwk: Key
    created_at: datetime
    private: bool = True
    algorithm: JWSAlgModel = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Read straight from the registry: JWSRegistry.get_alg() would warn on every
        # EdDSA use (RFC 9864 prefers the name Ed25519; the design keeps EdDSA).
        object.__setattr__(self, "algorithm", JWSRegistry.algorithms[self.alg])

    @property
    def symmetric(self) -> bool:
        return self.alg in SYMMETRIC

    def public_jwk(self) -> dict[str, object]:
        """The JWKS entry: public parameters plus kid, alg and use. Never for HS keys."""
        if self.symmetric:
            raise ValueError("a symmetric key has no public form")
        entry: dict[str, object] = dict(self.jwk.as_dict(private=False))
        entry.update(kid=self.kid, alg=self.alg, use="sig")
        return entry

    def private_pem(self) -> bytes:
        if isinstance(self.jwk, OctKey) or not self.private:
            raise ValueError("only an asymmetric private key has a private PEM")
        return self.jwk.as_pem(private=True)


def generate_key(alg: Algorithm, *, now: datetime) -> SigningKey:
    """Make a new asymmetric key for `alg`, with a kid from its RFC 7638 thumbprint."""
    jwk: Key
    if alg in ("RS256", "PS256"):
        jwk = RSAKey.generate_key(2048, private=True)
    elif alg == "ES256":
        jwk = ECKey.generate_key("P-256", private=True)
    elif alg == "EdDSA":
        jwk = OKPKey.generate_key("Ed25519", private=True)
    else:
        raise ValueError(f"{alg} keys come from a secret, not from generate_key()")
    return SigningKey(kid=jwk.thumbprint(), alg=alg, jwk=jwk, created_at=now)


def load_key(
    alg: Algorithm, pem: bytes, *, kid: str, created_at: datetime, private: bool = True
) -> SigningKey:
    """Rebuild a stored asymmetric key from its PEM."""
    jwk: Key
    if alg in ("RS256", "PS256"):
        jwk = RSAKey.import_key(pem)
    elif alg == "ES256":
        jwk = ECKey.import_key(pem)
    elif alg == "EdDSA":
        jwk = OKPKey.import_key(pem)
    else:
        raise ValueError(f"{alg} is not an asymmetric algorithm")
    return SigningKey(kid=kid, alg=alg, jwk=jwk, created_at=created_at, private=private)


def secret_key(alg: Algorithm, secret: bytes, *, created_at: datetime) -> SigningKey:
    """An HS key from a shared secret; its kid is a digest, so it is stable across restarts.

    Raises:
        ConfigurationError: the secret is shorter than 32 bytes.
    """
    if alg not in SYMMETRIC:
        raise ValueError(f"{alg} is not an HMAC algorithm")
    check_secret(secret, name="secret")
    kid = base64.urlsafe_b64encode(hashlib.sha256(b"authgate-kid:" + secret).digest()[:12])
    return SigningKey(
        kid=kid.decode().rstrip("="), alg=alg, jwk=OctKey.import_key(secret), created_at=created_at
    )


def check_secret(secret: bytes, *, name: str) -> None:
    """Refuse a secret that is too short or too uniform to hold 256 bits of randomness.

    Raises:
        ConfigurationError: naming `name`.
    """
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"{name} must be at least {MIN_SECRET_BYTES} bytes of randomness "
            f"(got {len(secret)}); `authgate secret` prints a good one"
        )
    if len(set(secret)) < 12:
        raise ConfigurationError(
            f"{name} is too repetitive to be random; `authgate secret` prints a good one"
        )


class KeyRing:
    """One key that signs and every key that still verifies, looked up by kid.

    Keys stay in the ring until the last token they signed has expired, as itsdangerous
    keeps a list of secrets for rotation.
    """

    __slots__ = ("_by_kid", "signing")

    def __init__(self, signing: SigningKey, verifying: Iterable[SigningKey] = ()) -> None:
        if not signing.private:
            raise ConfigurationError("the signing key has no private part")
        self.signing = signing
        self._by_kid: dict[str, SigningKey] = {k.kid: k for k in verifying}
        self._by_kid[signing.kid] = signing

    def get(self, kid: str) -> SigningKey | None:
        return self._by_kid.get(kid)

    @property
    def keys(self) -> Mapping[str, SigningKey]:
        return self._by_kid

    def jwks(self) -> dict[str, list[dict[str, object]]]:
        """The public JWK Set (RFC 7517); empty when the ring holds only HS keys."""
        return {"keys": [k.public_jwk() for k in self._by_kid.values() if not k.symmetric]}


def _fernet(key_encryption_key: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"authgate key encryption"
    ).derive(key_encryption_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(data: bytes, key_encryption_key: str) -> bytes:
    """Encrypt key material for storage (Fernet: AES-128-CBC + HMAC-SHA256)."""
    return _fernet(key_encryption_key).encrypt(data)


def unseal(data: bytes, key_encryption_key: str) -> bytes:
    """Decrypt what `seal` produced.

    Raises:
        ConfigurationError: the key-encryption key is not the one it was sealed with.
    """
    try:
        return _fernet(key_encryption_key).decrypt(data)
    except InvalidToken:
        raise ConfigurationError(
            "AUTHGATE_KEY_ENCRYPTION_KEY does not decrypt the stored keys"
        ) from None

"""Signing keys, the key ring that verifies with them, JWKS export and import, sealing at rest.

Each key fixes its own algorithm; a token's header never chooses it (RFC 8725 §2.1, §3.1).

Why one module of about 350 lines: every way a key comes into being (generated, a PEM, a
JWK, a secret after its randomness check) ends in the one SigningKey type and its ring.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, get_args

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey
from joserfc.jws import JWSAlgModel, JWSRegistry

from authgate.errors import ConfigurationError

Algorithm = Literal["RS256", "ES256", "EdDSA", "PS256", "HS256", "HS384", "HS512"]
ALGORITHMS: tuple[Algorithm, ...] = get_args(Algorithm)
SYMMETRIC: frozenset[str] = frozenset({"HS256", "HS384", "HS512"})
MIN_SECRET_BYTES = 32
# How far below random bytes of the same length a secret's byte entropy may fall (bits per
# byte; `_looks_random`). At 32 bytes that leaves 112 bits, which 32 random bytes miss with
# probability below 3e-18 (computed exactly from the counts of 32 uniform draws).
ENTROPY_MARGIN = 1.5
HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
TEXT_BYTES = frozenset(range(0x20, 0x7F)) | frozenset(b"\t\n\r")
MIN_RSA_BITS = 2048
MAX_KID_LENGTH = 256
# What a public JWK of each asymmetric algorithm is made of (RFC 7518 §6, RFC 8037 §2): its
# key type, the curve it must be on, and the only members read from it.
PUBLIC_JWK_SHAPES: dict[Algorithm, tuple[str, str | None, tuple[str, ...]]] = {
    "RS256": ("RSA", None, ("n", "e")),
    "PS256": ("RSA", None, ("n", "e")),
    "ES256": ("EC", "P-256", ("crv", "x", "y")),
    "EdDSA": ("OKP", "Ed25519", ("crv", "x")),
}


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
    return SigningKey(
        kid=kid, alg=alg, jwk=_imported(alg, bytes(pem)), created_at=created_at, private=private
    )


@functools.lru_cache(maxsize=64)
def _imported(alg: Algorithm, pem: bytes) -> Key:
    """The key a PEM holds, imported once per process.

    Importing checks the key in full (for RSA, about 35 ms of CPU): a process that opens
    the same stored key again (a CLI command, each app a test suite builds) pays once.
    Keys are never changed after import, so sharing one is safe.
    """
    if alg in ("RS256", "PS256"):
        return RSAKey.import_key(pem)
    if alg == "ES256":
        return ECKey.import_key(pem)
    if alg == "EdDSA":
        return OKPKey.import_key(pem)
    raise ValueError(f"{alg} is not an asymmetric algorithm")


def secret_key(alg: Algorithm, secret: bytes, *, created_at: datetime) -> SigningKey:
    """An HS key from a shared secret; its kid is a digest, so it is stable across restarts.

    Raises:
        ConfigurationError: the secret is not at least 32 random bytes (`check_secret`).
    """
    if alg not in SYMMETRIC:
        raise ValueError(f"{alg} is not an HMAC algorithm")
    check_secret(secret, name="secret")
    kid = base64.urlsafe_b64encode(hashlib.sha256(b"authgate-kid:" + secret).digest()[:12])
    return SigningKey(
        kid=kid.decode().rstrip("="), alg=alg, jwk=OctKey.import_key(secret), created_at=created_at
    )


def load_jwk(entry: Mapping[str, object]) -> SigningKey:
    """A verify-only key from a public JWK that names its own `kid` and `alg` (a JWKS entry).

    Only the public members are read, so a private JWK yields its public half. The JWK must
    carry `alg`: a key without one would leave the token's header to choose the algorithm
    (RFC 8725 §3.1).

    Raises:
        ConfigurationError: no usable `kid` or `alg`, an HS (secret) key, a key type or
            curve that does not fit the algorithm, an RSA key under 2048 bits, a key not
            meant for signatures, or members that are not a valid key.
    """
    kid = entry.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise ConfigurationError("a JWK needs a kid of 1 to 256 characters")
    alg = next((name for name in PUBLIC_JWK_SHAPES if name == entry.get("alg")), None)
    if alg is None:
        raise ConfigurationError(
            f"JWK {kid!r}: alg must be one of {', '.join(PUBLIC_JWK_SHAPES)}; "
            "a JWK Set carries public keys only"
        )
    if entry.get("use", "sig") != "sig":
        raise ConfigurationError(f"JWK {kid!r} is not meant for signatures")
    key_type, curve, members = PUBLIC_JWK_SHAPES[alg]
    if entry.get("kty") != key_type or (curve is not None and entry.get("crv") != curve):
        raise ConfigurationError(f"JWK {kid!r}: {alg} needs a {curve or key_type} key")
    public: dict[str, str | list[str]] = {"kty": key_type}
    for name in members:
        value = entry.get(name)
        if not isinstance(value, str):
            raise ConfigurationError(f"JWK {kid!r}: member {name!r} must be a string")
        public[name] = value
    if key_type == "RSA" and _rsa_bits(public["n"]) < MIN_RSA_BITS:
        raise ConfigurationError(f"JWK {kid!r}: an RSA key needs at least {MIN_RSA_BITS} bits")
    jwk: Key
    try:
        if key_type == "RSA":
            jwk = RSAKey.import_key(public)
        elif key_type == "EC":
            jwk = ECKey.import_key(public)
        else:
            jwk = OKPKey.import_key(public)
    except (JoseError, ValueError, TypeError, LookupError):
        raise ConfigurationError(f"JWK {kid!r} is not a valid {key_type} public key") from None
    # Verify-only keys have no creation time; the epoch marks "unknown" without inventing one.
    created_at = datetime.fromtimestamp(0, UTC)
    return SigningKey(kid=kid, alg=alg, jwk=jwk, created_at=created_at, private=False)


def _rsa_bits(modulus: object) -> int:
    """The size of a JWK's base64url modulus, 0 when it is not one."""
    if not isinstance(modulus, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))
    except (ValueError, binascii.Error):
        return 0
    return int.from_bytes(raw, "big").bit_length()


def check_secret(secret: str | bytes, *, name: str) -> None:
    """Refuse a secret that is not at least 32 random bytes.

    Text, which is what an environment variable holds, must encode the random bytes:
    base64url with or without padding, standard base64, or hex, as `authgate secret`,
    `openssl rand -base64 32` and `openssl rand -hex 32` print them. Bytes that are not
    ASCII text are taken as the random bytes themselves. Either way there must be at least
    32 of them, they must not spell text, and they must look random (`_looks_random`).
    Repeats, counting sequences, constant runs and encoded passphrases fail; 32 random
    bytes fail with probability below 1e-13 (all 32 happening to be printable characters).

    Raises:
        ConfigurationError: naming `name`.
    """
    hint = "`authgate secret` prints a good one"
    random_bytes = _secret_bytes(secret)
    if random_bytes is None:
        raise ConfigurationError(
            f"{name} must be a random value of at least {MIN_SECRET_BYTES} bytes, encoded as "
            f"base64url, base64 or hex; {hint}"
        )
    if len(random_bytes) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"{name} must be at least {MIN_SECRET_BYTES} bytes of randomness "
            f"(it holds {len(random_bytes)}); {hint}"
        )
    if _is_text(random_bytes) or not _looks_random(random_bytes):
        raise ConfigurationError(
            f"{name} is too repetitive or predictable to be random (repeats, sequences or "
            f"words); {hint}"
        )


def _secret_bytes(secret: str | bytes) -> bytes | None:
    """The random bytes a secret stands for; None for text in none of the encodings."""
    if isinstance(secret, bytes) and not _is_text(secret):
        return secret  # raw key material, handed over by code rather than typed
    try:
        text = secret if isinstance(secret, str) else secret.decode("ascii")
        if HEX.fullmatch(text):
            return bytes.fromhex(text)
        if BASE64URL.fullmatch(text):
            unpadded = text.rstrip("=")
            return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
        if BASE64.fullmatch(text):
            return base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error is one: bad padding or length
        return None
    return None


def _is_text(data: bytes) -> bool:
    """Printable ASCII and whitespace only: typed or encoded, not raw random bytes."""
    return all(byte in TEXT_BYTES for byte in data)


def _looks_random(data: bytes) -> bool:
    """Whether the bytes and their successive differences are as varied as random bytes.

    n random bytes are n independent uniform draws, and so are their differences (mod
    256): the empirical Shannon entropy of each stays near log2(n) bits per byte (at most
    8), about 4.8 for 32 bytes. A constant run, or a few bytes repeated however often, has
    few distinct bytes; a counting sequence (0, 1, 2, ... or hex 0123...ef) has few
    distinct differences. Either falls more than ENTROPY_MARGIN below.
    """
    expected = math.log2(min(len(data), 256))
    differences = bytes((b - a) % 256 for a, b in itertools.pairwise(data))
    return min(_entropy(data), _entropy(differences)) >= expected - ENTROPY_MARGIN


def _entropy(data: bytes) -> float:
    """The Shannon entropy of the byte frequencies in `data`, in bits per byte."""
    total = len(data)
    return -sum(n / total * math.log2(n / total) for n in Counter(data).values())


class KeyRing:
    """One key that signs and every key that still verifies, looked up by kid.

    Keys stay in the ring until the last token they signed has expired, as itsdangerous
    keeps a list of secrets for rotation. A ring built with `signing=None` only verifies:
    that is what a protected app holds, with the keys of an authgate server's JWKS.
    """

    __slots__ = ("_by_kid", "_signing")

    def __init__(self, signing: SigningKey | None, verifying: Iterable[SigningKey] = ()) -> None:
        if signing is not None and not signing.private:
            raise ConfigurationError("the signing key has no private part")
        self._signing = signing
        self._by_kid: dict[str, SigningKey] = {k.kid: k for k in verifying}
        if signing is not None:
            self._by_kid[signing.kid] = signing

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, object]) -> KeyRing:
        """A verify-only ring of every key in a JWK Set (RFC 7517 §5).

        Raises:
            ConfigurationError: not a JWK Set, or an entry `load_jwk` refuses.
        """
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise ConfigurationError("a JWK Set is an object with a list of keys")
        keys = []
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise ConfigurationError("each JWK in a JWK Set is an object")
            keys.append(load_jwk(entry))
        return cls(None, keys)

    @property
    def signing(self) -> SigningKey:
        """The key new tokens are signed with.

        Raises:
            ConfigurationError: the ring only verifies.
        """
        if self._signing is None:
            raise ConfigurationError("this key ring only verifies: it has no signing key")
        return self._signing

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

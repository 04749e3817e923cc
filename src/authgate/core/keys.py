"""Signing keys, the key ring that verifies with them, JWKS export and import, sealing at rest.

Each key fixes its own algorithm; a token's header never chooses it (RFC 8725 §2.1, §3.1).

Why one module of about 470 lines: every way a key comes into being (generated, a PEM, a
JWK, a secret after its randomness check) ends in the one SigningKey type and its ring,
and the sealing at the end is what every stored private key goes through.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import itertools
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, get_args

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
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


# Sealing at rest (ASVS 5.0 V11.3.2, V11.2.2). `seal` writes
#     ag1.<key id>.<base64url(12-byte nonce + AES-256-GCM ciphertext and tag)>
# `ag1` names the format, so a later one can be told apart and stored values re-sealed; the
# key id (8 hex digits) names the key-encryption key, so a rotation knows which key opens
# what. Values sealed before are Fernet tokens (AES-128-CBC with HMAC-SHA256, a legacy mode
# for ASVS): `unseal` still reads them and startup re-seals them (wiring.py).
SEALED_HEADER = re.compile(rb"ag1\.([0-9a-f]{8})\.")
SEALED_NONCE_BYTES = 12
GCM_TAG_BYTES = 16
FERNET_TOKEN = b"gAAAAA"  # base64url of version byte 0x80 and a timestamp's zero high bytes


def sealing_key_id(key_encryption_key: str) -> str:
    """The 8 hex digits that name this key-encryption key in the values it sealed.

    An HKDF output of its own, independent of the sealing key: 32 bits derived from a
    secret of 256 random bits (`check_secret`) help no search for it.
    """
    hkdf = HKDF(algorithm=hashes.SHA256(), length=4, salt=None, info=b"authgate sealing key id")
    return hkdf.derive(key_encryption_key.encode()).hex()


def sealed_prefix(key_encryption_key: str) -> bytes:
    """How every value `seal` writes under this key begins: the format and the key id."""
    return b"ag1." + sealing_key_id(key_encryption_key).encode() + b"."


def seal(data: bytes, key_encryption_key: str) -> bytes:
    """Encrypt a secret for storage: AES-256-GCM under a key HKDF derives from the KEK.

    Every value gets a fresh random 96-bit nonce: far fewer values are ever sealed under
    one key than the 2^32 that NIST SP 800-38D §8.3 allows random nonces. The prefix
    (format and key id) is the associated data, so a value relabelled with another format
    version or key id does not open: a later format can never be made to read these bytes
    as its own, nor this one a later format's (no downgrade by editing the label).
    """
    prefix = sealed_prefix(key_encryption_key)
    nonce = os.urandom(SEALED_NONCE_BYTES)
    ciphertext = _sealing_key(key_encryption_key).encrypt(nonce, bytes(data), prefix)
    return prefix + base64.urlsafe_b64encode(nonce + ciphertext)


def unseal(data: bytes, key_encryption_key: str, *, previous: Sequence[str] = ()) -> bytes:
    """Decrypt what `seal` wrote under the KEK or a previous one, or an older Fernet token.

    A sealed value is opened with the key its id names; a Fernet token, which names none,
    with each key in turn.

    Raises:
        ConfigurationError: none of the keys opens it: another key sealed it, or it was
            altered (a uniform refusal that says nothing of the contents).
    """
    data = bytes(data)
    keys = (key_encryption_key, *previous)
    opened = _open_fernet(data, keys) if data.startswith(FERNET_TOKEN) else _open(data, keys)
    if opened is None:
        raise ConfigurationError(
            "AUTHGATE_KEY_ENCRYPTION_KEY does not decrypt the stored keys"
            + (", nor does any of AUTHGATE_PREVIOUS_KEY_ENCRYPTION_KEYS" if previous else "")
        )
    return opened


def reseal(
    stored: bytes, *, sealed: bool, key_encryption_key: str, previous: Sequence[str] = ()
) -> bytes:
    """A stored value (in clear, or sealed in any format under any of the keys) sealed anew
    under the KEK in the current format.

    Raises:
        ConfigurationError: it is sealed and none of the keys opens it.
    """
    clear = unseal(stored, key_encryption_key, previous=previous) if sealed else bytes(stored)
    return seal(clear, key_encryption_key)


def _open(data: bytes, keys: Sequence[str]) -> bytes | None:
    header = SEALED_HEADER.match(data)
    if header is None:
        return None
    body = data[header.end() :]
    try:
        raw = base64.urlsafe_b64decode(body)
    except ValueError:  # binascii.Error is one
        return None
    # b64decode skips characters outside the alphabet and ignores a last digit's spare
    # bits: only the canonical encoding is taken, so no altered byte of a value opens.
    if base64.urlsafe_b64encode(raw) != body or len(raw) < SEALED_NONCE_BYTES + GCM_TAG_BYTES:
        return None
    nonce, ciphertext = raw[:SEALED_NONCE_BYTES], raw[SEALED_NONCE_BYTES:]
    key_id = header[1].decode()
    for key in keys:
        if sealing_key_id(key) != key_id:
            continue
        try:
            return _sealing_key(key).decrypt(nonce, ciphertext, header[0])
        except InvalidTag:
            continue
    return None


def _open_fernet(data: bytes, keys: Sequence[str]) -> bytes | None:
    for key in keys:
        try:
            return _fernet(key).decrypt(data)
        except InvalidToken:
            continue
    return None


def _sealing_key(key_encryption_key: str) -> AESGCM:
    # The KEK holds at least 256 random bits (`check_secret`): HKDF needs no salt for it.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"authgate sealing ag1")
    return AESGCM(hkdf.derive(key_encryption_key.encode()))


def _fernet(key_encryption_key: str) -> Fernet:
    """The key of the values sealed before the `ag1` format: read, never written."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"authgate key encryption")
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(key_encryption_key.encode())))

"""Keychain: the stored signing keys as a ring that follows rotations made by any process.

A rotation (`authgate keys rotate`) stores the next key with a future `activates_at`: from
then on it is in the JWKS, so verifiers (other workers, other instances, services with a
cached JWKS) know it before it signs anything. At `activates_at` every process switches to
it on its own clock; the old key keeps verifying until `retired_at`, after the last token
it signed has expired. Each process re-reads the keys on its catch-up poll and whenever a
rotation is announced, so nothing has to reach every process at one instant.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from authgate.core.keys import (
    SYMMETRIC,
    Algorithm,
    KeyRing,
    SigningKey,
    generate_key,
    load_key,
    seal,
    secret_key,
    unseal,
)
from authgate.core.store import KeyStore, StoredKey
from authgate.errors import ConfigurationError

logger = logging.getLogger("authgate")

ASYMMETRIC = ("RS256", "PS256", "ES256", "EdDSA")


@dataclass(frozen=True, slots=True)
class Rotation:
    """What `rotate` scheduled: the next key signs at `activates_at`, the old ones retire later."""

    kid: str
    alg: str
    activates_at: datetime
    retires_old_at: datetime


class Keychain:
    """The current KeyRing of `algorithm`, refreshed from the store; rotates on request."""

    def __init__(
        self,
        store: KeyStore,
        *,
        algorithm: Algorithm,
        secret: bytes | None,
        key_encryption_key: str | None,
        now: datetime,
    ) -> None:
        self.store = store
        self.algorithm = algorithm
        self._kek = key_encryption_key
        self._loaded: dict[str, SigningKey] = {}
        if algorithm in SYMMETRIC:
            if secret is None:
                raise ConfigurationError(f"AUTHGATE_SECRET is required with {algorithm}")
            self.ring = KeyRing(secret_key(algorithm, secret, created_at=now))
            return
        stored = self._live(now)
        if not any(k.alg == algorithm for k in stored):
            if self.store.add_first_signing_key(self._new(now)):
                logger.info("generated a new %s signing key", algorithm)
            stored = self._live(now)
        ring = self._ring(stored, now)
        if ring is None:
            raise ConfigurationError(
                f"the only {algorithm} keys start signing later (`authgate keys list`); "
                "keep the previous AUTHGATE_ALGORITHM until then"
            )
        self.ring = ring

    @property
    def symmetric(self) -> bool:
        return self.algorithm in SYMMETRIC

    def refresh(self, now: datetime) -> bool:
        """Re-read the stored keys; True when the ring changed (a rotation took effect)."""
        if self.symmetric:
            return False
        ring = self._ring(self._live(now), now)
        if ring is None or (
            ring.signing.kid == self.ring.signing.kid and ring.keys.keys() == self.ring.keys.keys()
        ):
            return False
        self.ring = ring
        return True

    def rotate(self, now: datetime, *, delay: timedelta, token_lifetime: timedelta) -> Rotation:
        """Store the next key, signing from `now + delay`; retire the others after that.

        The old keys verify until the last token they can have signed has expired, plus
        a minute for clocks that disagree.

        Raises:
            ConfigurationError: HS keys come from AUTHGATE_SECRET; they are not stored.
        """
        if self.symmetric:
            raise ConfigurationError(
                f"{self.algorithm} keys come from AUTHGATE_SECRET: rotate by changing the secret"
            )
        activates_at = now + delay
        retire_at = activates_at + token_lifetime + timedelta(minutes=1)
        key = self._new(now, activates_at=activates_at)
        self.store.add_next_signing_key(key, retire_others_at=retire_at)
        self.refresh(now)
        return Rotation(key.kid, key.alg, activates_at, retire_at)

    def _live(self, now: datetime) -> list[StoredKey]:
        return [k for k in self.store.signing_keys() if k.retired_at is None or k.retired_at > now]

    def _ring(self, stored: list[StoredKey], now: datetime) -> KeyRing | None:
        """Every live key verifies; the newest active key of the algorithm signs."""
        active = [k for k in stored if k.alg == self.algorithm and k.signs_from <= now]
        if not active:
            return None
        newest = max(active, key=lambda k: (k.signs_from, k.created_at, k.kid))
        keys = [self._load(k) for k in stored]
        return KeyRing(self._loaded[newest.kid], keys)

    def _new(self, now: datetime, *, activates_at: datetime | None = None) -> StoredKey:
        key = generate_key(self.algorithm, now=now)
        pem = key.private_pem()
        return StoredKey(
            kid=key.kid,
            alg=key.alg,
            material=seal(pem, self._kek) if self._kek else pem,
            sealed=self._kek is not None,
            created_at=now,
            activates_at=activates_at,
        )

    def _load(self, stored: StoredKey) -> SigningKey:
        loaded = self._loaded.get(stored.kid)
        if loaded is not None:
            return loaded
        material = stored.material
        if stored.sealed:
            if self._kek is None:
                raise ConfigurationError(
                    "the stored signing keys are encrypted; set AUTHGATE_KEY_ENCRYPTION_KEY"
                )
            material = unseal(material, self._kek)
        if stored.alg not in ASYMMETRIC:
            raise ConfigurationError(
                f"stored key {stored.kid} has an unknown algorithm {stored.alg}"
            )
        alg: Algorithm = stored.alg  # type: ignore[assignment]  # narrowed by the check above
        loaded = load_key(alg, material, kid=stored.kid, created_at=stored.created_at)
        self._loaded[stored.kid] = loaded
        return loaded


# The purposes of server_key(), and the label each derives its key from AUTHGATE_SECRET by.
SERVER_KEYS = {
    "csrf": b"authgate csrf",  # HMAC(key, session id): the cookie transport's CSRF token
    "recovery-codes": b"authgate recovery codes",  # HMAC(key, code): stored recovery codes
}


def server_key(
    store: KeyStore, name: str, *, secret: str | None, key_encryption_key: str | None
) -> bytes:
    """A 256-bit HMAC key for one purpose (`SERVER_KEYS`), the same in every process.

    Derived from AUTHGATE_SECRET when it is set; otherwise generated once, stored
    (sealed when a key-encryption key is set) and read back by every process.

    Raises:
        ConfigurationError: the stored keys are sealed and no key-encryption key is set.
    """
    if secret is not None:
        return hmac.new(secret.encode(), SERVER_KEYS[name], hashlib.sha256).digest()
    candidate = secrets.token_bytes(32)
    value, sealed = store.server_secret(
        name,
        candidate=seal(candidate, key_encryption_key) if key_encryption_key else candidate,
        sealed=key_encryption_key is not None,
    )
    if not sealed:
        return value
    if key_encryption_key is None:
        raise ConfigurationError(
            "the stored secrets are encrypted; set AUTHGATE_KEY_ENCRYPTION_KEY"
        )
    return unseal(value, key_encryption_key)

"""The key material and settings every app in bench/adapters shares, from one folder.

bench/adapters/run.py makes the folder once per run and names it in BENCH_ADAPTERS_DIR:
one RSA-2048 key (RS256, authgate's default algorithm) that signs every token, as a
private PEM, a public PEM and a JWK Set, plus the peers' SQLite databases. Every app,
authgate's and the peers', verifies RS256 signatures with the same public key.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from joserfc.jwk import RSAKey

from authgate.core.keys import KeyRing, SigningKey, generate_key, load_key
from authgate.core.tokens import issue_access_token

ISSUER = "http://127.0.0.1:8000"
AUDIENCE = "authgate"
SUBJECT = "1"  # the user every token names (the peers' user rows have this id)
EMAIL = "bench@example.com"
PASSWORD = "correct horse battery staple"
TOKEN_LIFETIME = timedelta(hours=1)  # the longest an authgate verifier accepts by default


def folder() -> Path:
    return Path(os.environ["BENCH_ADAPTERS_DIR"])


def private_pem() -> str:
    return (folder() / "private.pem").read_text()


def public_pem() -> str:
    return (folder() / "public.pem").read_text()


def verifier_settings() -> dict[str, str]:
    """Verifier.from_settings for every authgate app: static keys, the revocation feed when
    the run has a Redis server (BENCH_REDIS_URL), and BENCH_TOKEN_CACHE_SIZE if set."""
    settings = {
        "AUTHGATE_ISSUER": ISSUER,
        "AUTHGATE_AUDIENCE": AUDIENCE,
        "AUTHGATE_KEYS": (folder() / "jwks.json").read_text(),
    }
    redis_url = os.environ.get("BENCH_REDIS_URL")
    if redis_url:
        settings["AUTHGATE_REDIS_URL"] = redis_url
    cache_size = os.environ.get("BENCH_TOKEN_CACHE_SIZE")
    if cache_size:
        settings["AUTHGATE_TOKEN_CACHE_SIZE"] = cache_size
    return settings


def make_keys(into: Path) -> SigningKey:
    """Write a new RS256 key into `into` (PEMs and JWK Set); return it."""
    key = generate_key("RS256", now=datetime.now(UTC))
    into.mkdir(parents=True, exist_ok=True)
    (into / "private.pem").write_bytes(key.private_pem())
    (into / "public.pem").write_bytes(RSAKey.import_key(key.private_pem()).as_pem(private=False))
    (into / "jwks.json").write_text(json.dumps({"keys": [key.public_jwk()]}))
    (into / "kid").write_text(key.kid)
    return key


def authgate_token() -> str:
    """An access token as an authgate server issues it, signed with the run's key."""
    key = load_key(
        "RS256",
        private_pem().encode(),
        kid=(folder() / "kid").read_text(),
        created_at=datetime.now(UTC),
    )
    token, _ = issue_access_token(
        subject=SUBJECT,
        email=EMAIL,
        session_id="bench-session",
        keys=KeyRing(key),
        issuer=ISSUER,
        audience=AUDIENCE,
        now=datetime.now(UTC),
        ttl=TOKEN_LIFETIME,
    )
    return token

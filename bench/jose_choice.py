"""Sign and verify cost of PyJWT and joserfc for each algorithm authgate offers.

Run: python bench/jose_choice.py  (medians of 5 rounds; prints a markdown table)
"""

from __future__ import annotations

import secrets
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jws
from joserfc import jwt as rfc_jwt
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

CLAIMS = {
    "iss": "https://auth.example",
    "sub": "0b6f7f3c-1d1e-4c55-9a51-6c8e3f2d9a10",
    "aud": "api",
    "iat": int(time.time()),
    "exp": int(time.time()) + 900,
    "jti": "x" * 22,
    "sid": "y" * 22,
    "email": "someone@example.com",
}

REGISTRY = rfc_jwt.JWTClaimsRegistry(
    aud={"essential": True, "value": "api"}, exp={"essential": True}
)


def keys() -> dict[str, tuple[object, object, object, object]]:
    """(pyjwt signing key, pyjwt verify key, joserfc signing key, joserfc verify key)."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    secret = secrets.token_bytes(32)
    return {
        "RS256": (
            rsa_key,
            rsa_key.public_key(),
            RSAKey.import_key(rsa_key),
            RSAKey.import_key(rsa_key.public_key()),
        ),
        "PS256": (
            rsa_key,
            rsa_key.public_key(),
            RSAKey.import_key(rsa_key),
            RSAKey.import_key(rsa_key.public_key()),
        ),
        "ES256": (
            ec_key,
            ec_key.public_key(),
            ECKey.import_key(ec_key),
            ECKey.import_key(ec_key.public_key()),
        ),
        "EdDSA": (
            ed_key,
            ed_key.public_key(),
            OKPKey.import_key(ed_key),
            OKPKey.import_key(ed_key.public_key()),
        ),
        "HS256": (secret, secret, OctKey.import_key(secret), OctKey.import_key(secret)),
    }


def ops_per_second(fn: Callable[[], object], seconds: float = 0.4) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            fn()
        count += 50
    return count / elapsed


def cases(
    alg: str, py_sign: Any, py_verify: Any, rfc_sign: Any, rfc_verify: Any
) -> dict[str, Callable[[], object]]:
    py_token = jwt.encode(CLAIMS, py_sign, algorithm=alg, headers={"kid": "k1", "typ": "at+jwt"})
    rfc_token = rfc_jwt.encode(
        {"alg": alg, "kid": "k1", "typ": "at+jwt"}, CLAIMS, rfc_sign, algorithms=[alg]
    )
    return {
        "pyjwt sign": lambda: jwt.encode(CLAIMS, py_sign, algorithm=alg),
        "joserfc sign": lambda: rfc_jwt.encode({"alg": alg}, CLAIMS, rfc_sign, algorithms=[alg]),
        # Full verification: signature plus exp/aud claim checks, as a guard needs.
        "pyjwt verify": lambda: jwt.decode(py_token, py_verify, algorithms=[alg], audience="api"),
        "joserfc verify": lambda: REGISTRY.validate(
            rfc_jwt.decode(rfc_token, rfc_verify, algorithms=[alg]).claims
        ),
        "pyjwt signature only": lambda: jwt.api_jws.decode_complete(
            py_token, py_verify, algorithms=[alg]
        ),
        "joserfc signature only": lambda: jws.deserialize_compact(
            rfc_token, rfc_verify, algorithms=[alg]
        ),
    }


def main() -> None:
    # joserfc flags the name EdDSA as deprecated in favour of Ed25519 (RFC 9864).
    warnings.simplefilter("ignore")
    rows = []
    for alg, key_set in keys().items():
        fns = cases(alg, *key_set)
        samples: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(5):  # rounds interleave the cases, so machine noise hits each alike
            for name, fn in fns.items():
                samples[name].append(ops_per_second(fn))
        rows.append((alg, {name: statistics.median(s) for name, s in samples.items()}))
    names = list(rows[0][1])
    print("| alg | " + " | ".join(f"{n} ops/s" for n in names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for alg, medians in rows:
        print(f"| {alg} | " + " | ".join(f"{medians[n]:,.0f}" for n in names) + " |")


if __name__ == "__main__":
    main()

"""Access tokens: JWS compact JWTs in the RFC 9068 profile, issued and read.

Reading always verifies. The key ring decides the algorithm by `kid`; the header's
`alg` must merely agree with it (RFC 8725 §3.1), and headers that point elsewhere
(`jku`, `x5u`, `jwk`, `x5c`) or demand extensions (`crit`) are refused.
"""

from __future__ import annotations

import binascii
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from joserfc.errors import JoseError
from joserfc.jws import CompactSignature, extract_compact, sign_compact, verify_compact

from authgate.core.keys import KeyRing
from authgate.errors import (
    ExpiredToken,
    ForeignToken,
    MalformedToken,
    UntrustedToken,
)

TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # RFC 9068 §2.1, §4
ALLOWED_HEADERS = frozenset({"alg", "kid", "typ"})
MAX_TOKEN_LENGTH = 8192
LEEWAY = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says."""

    issuer: str
    subject: str  # the user id
    audience: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    token_id: str
    session_id: str
    email: str

    def as_dict(self) -> dict[str, object]:
        """The JWT claims set (RFC 7519 names, integer times)."""
        return {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience[0] if len(self.audience) == 1 else list(self.audience),
            "iat": int(self.issued_at.timestamp()),
            "exp": int(self.expires_at.timestamp()),
            "jti": self.token_id,
            "sid": self.session_id,
            "email": self.email,
        }


def issue_access_token(
    *,
    subject: str,
    email: str,
    session_id: str,
    keys: KeyRing,
    issuer: str,
    audience: str,
    now: datetime,
    ttl: timedelta,
) -> tuple[str, AccessClaims]:
    """Sign a new access token with the ring's signing key; return it and its claims."""
    issued_at = now.replace(microsecond=0)
    claims = AccessClaims(
        issuer=issuer,
        subject=subject,
        audience=(audience,),
        issued_at=issued_at,
        expires_at=issued_at + ttl,
        token_id=secrets.token_urlsafe(16),
        session_id=session_id,
        email=email,
    )
    key = keys.signing
    header = {"alg": key.alg, "kid": key.kid, "typ": TOKEN_TYPE}
    payload = json.dumps(claims.as_dict(), separators=(",", ":")).encode()
    token = sign_compact(CompactSignature(header, payload), key.algorithm, key.jwk)
    return token.decode("ascii"), claims


def read_access_token(
    token: str,
    *,
    keys: KeyRing,
    issuer: str,
    audience: str,
    now: datetime,
    leeway: timedelta = LEEWAY,
) -> AccessClaims:
    """Verify `token` and return its claims.

    Raises:
        MalformedToken: not a compact JWS, bad base64 or JSON, claims of the wrong type.
        UntrustedToken: unknown kid, an algorithm other than the key's, a bad signature,
            or a header that names outside keys or critical extensions.
        ExpiredToken: `exp` has passed or `nbf`/`iat` lies in the future (beyond leeway).
        ForeignToken: wrong `typ`, `iss` or `aud`.
    """
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise MalformedToken
    try:
        signed = extract_compact(token.encode("ascii"))
    except (JoseError, ValueError, binascii.Error):
        raise MalformedToken from None
    header = signed.headers()
    if not isinstance(header, dict) or not ALLOWED_HEADERS.issuperset(header):
        raise UntrustedToken("the token header carries parameters authgate does not accept")
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise UntrustedToken("the token was signed by an unknown key")
    if header.get("alg") != key.alg:
        raise UntrustedToken("the token's algorithm is not its key's")
    try:
        valid = verify_compact(signed, key.algorithm, key.jwk)
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise UntrustedToken("the token's signature does not verify")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES:
        raise ForeignToken("the token is not an access token")

    claims, not_before = _parse_claims(signed.payload)
    if not_before is not None and not_before > now + leeway:
        raise ExpiredToken("the access token is not valid yet")
    if claims.expires_at <= now - leeway:
        raise ExpiredToken("the access token has expired")
    if claims.issued_at > now + leeway:
        raise ExpiredToken("the access token was issued in the future")
    if claims.issuer != issuer:
        raise ForeignToken("the access token has another issuer")
    if audience not in claims.audience:
        raise ForeignToken("the access token is meant for another audience")
    return claims


def _parse_claims(payload: bytes) -> tuple[AccessClaims, datetime | None]:
    try:
        raw = json.loads(payload)
    except (ValueError, RecursionError):
        raise MalformedToken("the token payload is not JSON") from None
    if not isinstance(raw, dict):
        raise MalformedToken("the token payload is not a JSON object")
    aud = raw.get("aud")
    audience = (aud,) if isinstance(aud, str) else aud
    if not (isinstance(audience, list | tuple) and all(isinstance(a, str) for a in audience)):
        raise MalformedToken("claim 'aud' must be a string or a list of strings")
    not_before = None if raw.get("nbf") is None else _instant(raw, "nbf")
    claims = AccessClaims(
        issuer=_text(raw, "iss"),
        subject=_text(raw, "sub"),
        audience=tuple(audience),
        issued_at=_instant(raw, "iat"),
        expires_at=_instant(raw, "exp"),
        token_id=_text(raw, "jti"),
        session_id=_text(raw, "sid"),
        email=_text(raw, "email"),
    )
    return claims, not_before


def _text(raw: Mapping[str, object], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str):
        raise MalformedToken(f"claim '{name}' must be a string")
    return value


def _instant(raw: Mapping[str, object], name: str) -> datetime:
    value = raw.get(name)
    # bool is an int in Python, but never a NumericDate.
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise MalformedToken(f"claim '{name}' must be a number")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedToken(f"claim '{name}' is out of range") from None

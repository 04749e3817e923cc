"""Access tokens: JWS compact JWTs in the RFC 9068 profile, issued and read.

Reading always verifies. The key ring decides the algorithm by `kid`; the header's
`alg` must merely agree with it (RFC 8725 §3.1), and headers that point elsewhere
(`jku`, `x5u`, `jwk`, `x5c`) or demand extensions (`crit`) are refused.
"""

from __future__ import annotations

import binascii
import json
import re
import secrets
from collections.abc import Iterable, Mapping
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
# The longest `exp - iat` a reader accepts unless told otherwise; the server passes its own
# AUTHGATE_ACCESS_TOKEN_TTL plus the leeway.
MAX_LIFETIME = timedelta(hours=1)
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), joined by single spaces.
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


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
    scopes: frozenset[str] = frozenset()  # the `scope` claim, RFC 9068 §2.2.3
    roles: frozenset[str] = frozenset()  # the `roles` claim, RFC 9068 §2.2.3.1 (RFC 7643)
    email_verified: bool = False  # OpenID Connect Core §5.1
    auth_time: datetime | None = None  # when the user last proved who they are (RFC 9068 §2.2.1)
    amr: tuple[str, ...] = ()  # how they proved it (RFC 8176: pwd, otp, hwk, swk, mfa)

    def as_dict(self) -> dict[str, object]:
        """The JWT claims set (RFC 7519 names, integer times); `scope` and `roles` if any."""
        claims: dict[str, object] = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience[0] if len(self.audience) == 1 else list(self.audience),
            "iat": int(self.issued_at.timestamp()),
            "exp": int(self.expires_at.timestamp()),
            "jti": self.token_id,
            "sid": self.session_id,
            "email": self.email,
            "email_verified": self.email_verified,
        }
        if self.auth_time is not None:
            claims["auth_time"] = int(self.auth_time.timestamp())
        if self.amr:
            claims["amr"] = list(self.amr)
        if self.scopes:
            claims["scope"] = " ".join(sorted(self.scopes))
        if self.roles:
            claims["roles"] = sorted(self.roles)
        return claims


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
    scopes: Iterable[str] = (),
    roles: Iterable[str] = (),
    email_verified: bool = False,
    auth_time: datetime | None = None,
    amr: Iterable[str] = (),
) -> tuple[str, AccessClaims]:
    """Sign a new access token with the ring's signing key; return it and its claims.

    Raises:
        ConfigurationError: the ring only verifies.
        ValueError: a scope that is not an RFC 6749 §3.3 scope-token, or an empty role.
    """
    scopes, roles = frozenset(scopes), frozenset(roles)
    for scope in scopes:
        if not SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"{scope!r} is not a scope-token (RFC 6749 §3.3)")
    if "" in roles:
        raise ValueError("a role is a non-empty string")
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
        scopes=scopes,
        roles=roles,
        email_verified=email_verified,
        auth_time=None if auth_time is None else auth_time.replace(microsecond=0),
        amr=tuple(amr),
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
    max_lifetime: timedelta = MAX_LIFETIME,
) -> AccessClaims:
    """Verify `token` and return its claims.

    `max_lifetime` bounds `exp - iat`: a token that lives longer than the issuer's own
    tokens was not minted by its normal path (a leaked key, a cracked secret), and would
    outlive any revocation the reader remembers. Pass the issuer's lifetime plus leeway.

    Raises:
        MalformedToken: not a compact JWS, bad base64 or JSON, claims of the wrong type
            (`iat` and `exp` are required, RFC 9068 §2.2).
        UntrustedToken: unknown kid, an algorithm other than the key's, a bad signature,
            or a header that names outside keys or critical extensions.
        ExpiredToken: `exp` has passed, `nbf`/`iat` lies in the future (beyond leeway),
            or `exp - iat` is longer than `max_lifetime`.
        ForeignToken: wrong `typ`, `iss` or `aud`.
    """
    signed = _extract(token)
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
    if claims.expires_at - claims.issued_at > max_lifetime:
        allowed = int(max_lifetime.total_seconds())
        raise ExpiredToken(
            f"the access token lives longer (exp - iat) than the {allowed} s allowed"
        )
    if claims.issuer != issuer:
        raise ForeignToken("the access token has another issuer")
    if audience not in claims.audience:
        raise ForeignToken("the access token is meant for another audience")
    return claims


def unverified_kid(token: str) -> str | None:
    """The `kid` a token's header names, read WITHOUT verifying anything; None if none.

    Only for deciding whether fetching the keys again could help a token that names an
    unknown key. Never base any other decision on it.
    """
    try:
        header = _extract(token).headers()
    except MalformedToken:
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def _extract(token: str) -> CompactSignature:
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise MalformedToken
    try:
        return extract_compact(token.encode("ascii"))
    except (JoseError, ValueError, binascii.Error):
        raise MalformedToken from None


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
        scopes=_scopes(raw),
        roles=_roles(raw),
        email_verified=_flag(raw, "email_verified"),
        auth_time=None if raw.get("auth_time") is None else _instant(raw, "auth_time"),
        amr=_methods(raw),
    )
    return claims, not_before


def _text(raw: Mapping[str, object], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str):
        raise MalformedToken(f"claim '{name}' must be a string")
    return value


def _flag(raw: Mapping[str, object], name: str) -> bool:
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise MalformedToken(f"claim '{name}' must be true or false")
    return value


def _methods(raw: Mapping[str, object]) -> tuple[str, ...]:
    value = raw.get("amr")
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise MalformedToken("claim 'amr' must be a list of non-empty strings")
    return tuple(value)


def _scopes(raw: Mapping[str, object]) -> frozenset[str]:
    value = raw.get("scope")
    if value is None:
        return frozenset()
    if not isinstance(value, str):
        raise MalformedToken("claim 'scope' must be a string of space-separated scopes")
    scopes = value.split(" ")
    if not all(SCOPE_TOKEN.fullmatch(scope) for scope in scopes):
        raise MalformedToken("claim 'scope' is not a list of scope-tokens (RFC 6749 §3.3)")
    return frozenset(scopes)


def _roles(raw: Mapping[str, object]) -> frozenset[str]:
    value = raw.get("roles")
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(r, str) and r for r in value):
        raise MalformedToken("claim 'roles' must be a list of non-empty strings")
    return frozenset(value)


def _instant(raw: Mapping[str, object], name: str) -> datetime:
    value = raw.get(name)
    # bool is an int in Python, but never a NumericDate.
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise MalformedToken(f"claim '{name}' must be a number")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedToken(f"claim '{name}' is out of range") from None

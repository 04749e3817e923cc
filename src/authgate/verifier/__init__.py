"""The Verifier: what a protected Python service uses to check authgate access tokens.

It reads tokens with the server's own code (`read_access_token`, through the server's
`Guard` and its cache of verified tokens), with keys from the server's JWK Set. Adapters
for FastAPI, Starlette, Flask and Django live beside it and import their framework only
when imported themselves.

    verifier = Verifier("https://auth.example.com")   # keys found by discovery
    claims = verifier.verify(token)                   # or: await verifier.averify(token)
    claims = verifier.verify(token, max_age=300, require_amr=["otp"])   # step-up, RFC 9470
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

from authgate.core.clock import Clock, utc_now
from authgate.core.guard import DEFAULT_CAPACITY, Guard
from authgate.core.keys import KeyRing
from authgate.core.revocations import Revocations
from authgate.core.tokens import (
    LEEWAY,
    MAX_LIFETIME,
    SCOPE_TOKEN,
    AccessClaims,
    unverified_kid,
)
from authgate.errors import ConfigurationError, StaleAuthentication, UntrustedToken
from authgate.verifier.feed import RevocationFeed
from authgate.verifier.keys import REFETCH_INTERVAL, KeySource, RemoteKeys, StaticKeys

__all__ = [
    "KeySource",
    "RemoteKeys",
    "StaticKeys",
    "StepUp",
    "Verifier",
    "require_methods",
    "require_recent",
]

DEFAULT_AUDIENCE = "authgate"  # the server's AUTHGATE_AUDIENCE default
LONGEST_LEEWAY = timedelta(minutes=1)
# At least the server's AUTHGATE_ACCESS_TOKEN_TTL: longer-lived tokens are refused, and
# revocations are remembered this long.
MAX_TOKEN_LIFETIME = MAX_LIFETIME


class Verifier:
    """Verifies authgate access tokens: signature, key, type, time window, issuer, audience.

    Args:
        issuer: the server's AUTHGATE_ISSUER; tokens must carry exactly this `iss`.
        audience: the server's AUTHGATE_AUDIENCE; tokens must list it in `aud`.
        keys: where the keys come from; by default RemoteKeys(issuer=issuer), the JWK Set
            that the issuer's discovery document names.
        leeway: clock skew allowed on `exp`, `nbf` and `iat`; at most a minute.
        cache_size: verified tokens remembered (each hit still checks expiry and
            revocation); 0 verifies every time.
        redis_url: the server's AUTHGATE_REDIS_URL, to refuse the tokens of ended sessions
            and signed-out users within milliseconds (see `authgate.verifier.feed` for
            what a lost message means). Without it, a token is good until its `exp`.
        max_token_lifetime: the server's AUTHGATE_ACCESS_TOKEN_TTL or more (default an
            hour): a token whose `exp - iat` is longer, beyond the leeway, is refused, as
            the server refuses it, and revocations are remembered this long.
        clock: the time tokens are checked against.

    Raises:
        ConfigurationError: a bad issuer, leeway, cache size or token lifetime, or an
            unusable Redis URL.
    """

    def __init__(
        self,
        issuer: str,
        *,
        audience: str = DEFAULT_AUDIENCE,
        keys: KeySource | None = None,
        leeway: timedelta = LEEWAY,
        cache_size: int = DEFAULT_CAPACITY,
        redis_url: str | None = None,
        max_token_lifetime: timedelta = MAX_TOKEN_LIFETIME,
        clock: Clock = utc_now,
    ) -> None:
        if not issuer or not audience:
            raise ConfigurationError("a Verifier needs the issuer and the audience of its tokens")
        if not timedelta(0) <= leeway <= LONGEST_LEEWAY:
            raise ConfigurationError("the leeway must be between 0 and 60 seconds")
        if cache_size < 0:
            raise ConfigurationError("the token cache size must be 0 (no cache) or more")
        if max_token_lifetime <= timedelta(0):
            raise ConfigurationError("the longest token lifetime must be positive")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.clock = clock
        self.keys: KeySource = keys if keys is not None else RemoteKeys(issuer=issuer)
        self.revocations = Revocations(window=max_token_lifetime + leeway)
        self._guard = Guard(
            keys=KeyRing(None),
            issuer=issuer,
            audience=audience,
            revocations=self.revocations,
            clock=clock,
            capacity=cache_size,
            leeway=leeway,
            max_lifetime=max_token_lifetime + leeway,
        )
        self.feed = (
            None if redis_url is None else RevocationFeed(redis_url, self.revocations, clock=clock)
        )

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, object], *, prefix: str = "AUTHGATE_"
    ) -> Verifier:
        """A Verifier from named settings: os.environ, Flask's app.config, Django's AUTHGATE.

        Names, after `prefix`: ISSUER (required), AUDIENCE, JWKS_URL (instead of discovery),
        KEYS (a JWK Set, as a mapping or JSON text, instead of fetching), LEEWAY,
        REFETCH_INTERVAL and ACCESS_TOKEN_TTL (seconds), TOKEN_CACHE_SIZE, REDIS_URL.
        Unset and empty values mean the default, as for the server's own settings.

        Raises:
            ConfigurationError: naming the setting that is missing or wrong.
        """
        values = _Settings(settings, prefix)
        issuer = values.text("ISSUER")
        if issuer is None:
            raise ConfigurationError(f"{prefix}ISSUER is required: the authgate server's issuer")
        jwks_url, jwks = values.text("JWKS_URL"), values.jwks("KEYS")
        if jwks_url is not None and jwks is not None:
            raise ConfigurationError(f"set {prefix}JWKS_URL or {prefix}KEYS, not both")
        keys: KeySource
        if jwks is not None:
            keys = StaticKeys(jwks)
        else:
            interval = values.seconds("REFETCH_INTERVAL")
            interval = REFETCH_INTERVAL if interval is None else interval
            keys = (
                RemoteKeys(jwks_url, refetch_interval=interval)
                if jwks_url is not None
                else RemoteKeys(issuer=issuer, refetch_interval=interval)
            )
        leeway = values.seconds("LEEWAY")
        cache_size = values.number("TOKEN_CACHE_SIZE")
        lifetime = values.seconds("ACCESS_TOKEN_TTL")
        if lifetime == timedelta(0):
            raise ConfigurationError(f"{prefix}ACCESS_TOKEN_TTL must be a positive number")
        return cls(
            issuer,
            audience=values.text("AUDIENCE") or DEFAULT_AUDIENCE,
            keys=keys,
            leeway=LEEWAY if leeway is None else leeway,
            cache_size=DEFAULT_CAPACITY if cache_size is None else cache_size,
            redis_url=values.text("REDIS_URL"),
            max_token_lifetime=MAX_TOKEN_LIFETIME if lifetime is None else lifetime,
        )

    def verify(
        self,
        token: str,
        *,
        max_age: int | timedelta | None = None,
        require_amr: Iterable[str] = (),
    ) -> AccessClaims:
        """Return the claims of a valid authgate access token.

        A token naming a key this verifier does not hold makes it fetch the keys again
        (rate-limited), so tokens signed by a freshly rotated key verify at once.

        `max_age` (seconds or a timedelta) and `require_amr` ask for a step-up (RFC 9470):
        a sign-in (`auth_time`) at most that old, by every one of those methods (`amr`).

        Raises:
            MalformedToken: not a well-formed access token.
            UntrustedToken: a bad signature, or a key this verifier does not hold, also
                when the keys cannot be fetched.
            ExpiredToken: outside its time window (beyond the leeway), or living longer
                than `max_token_lifetime`.
            ForeignToken: another type, issuer or audience.
            RevokedToken: its session or user was signed out (with `redis_url` only).
            StaleAuthentication: a valid token whose sign-in is older than `max_age`, of
                unknown age, or without a method of `require_amr`.
            ValueError: a `max_age` or `require_amr` that is not one (see StepUp.of).
        """
        self._follow(self.keys.keys())
        try:
            claims = self._guard.read(token)
        except UntrustedToken:
            kid = self._unknown_kid(token)
            if kid is None or not self._follow(self.keys.keys(missing=kid), kid):
                raise
            claims = self._guard.read(token)
        if max_age is not None or require_amr:
            self._step_up(claims, max_age, require_amr)
        return claims

    async def averify(
        self,
        token: str,
        *,
        max_age: int | timedelta | None = None,
        require_amr: Iterable[str] = (),
    ) -> AccessClaims:
        """`verify` for asyncio code: fetching keys runs in a worker thread, off the loop.

        Raises:
            InvalidToken: as `verify`.
            StaleAuthentication: as `verify`.
        """
        self._follow(await self._keys_off_loop(None))
        try:
            claims = self._guard.read(token)
        except UntrustedToken:
            kid = self._unknown_kid(token)
            if kid is None or not self._follow(await self._keys_off_loop(kid), kid):
                raise
            claims = self._guard.read(token)
        if max_age is not None or require_amr:
            self._step_up(claims, max_age, require_amr)
        return claims

    def close(self) -> None:
        """Stop the revocation feed and close the key source's connections."""
        if self.feed is not None:
            self.feed.close()
        self.keys.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Verifier(issuer={self.issuer!r}, audience={self.audience!r}, keys={self.keys!r})"

    def _step_up(
        self, claims: AccessClaims, max_age: int | timedelta | None, amr: Iterable[str]
    ) -> None:
        step_up = StepUp.of(max_age=max_age, require_amr=amr)
        if step_up is not None:
            step_up.check(claims, now=self.clock())

    async def _keys_off_loop(self, missing: str | None) -> KeyRing:
        if self.keys.fetch_due(missing=missing):
            return await asyncio.to_thread(self.keys.keys, missing=missing)
        return self.keys.keys(missing=missing)

    def _follow(self, ring: KeyRing, kid: str | None = None) -> bool:
        """Verify with `ring` from now on; True when it holds `kid`."""
        if ring is not self._guard.keys:
            self._guard.use_keys(ring)  # forgets tokens verified with keys that may be gone
        return kid is not None and ring.get(kid) is not None

    def _unknown_kid(self, token: str) -> str | None:
        """The kid of a token signed by a key not in the ring: fetching again might help."""
        kid = unverified_kid(token)
        return kid if kid is not None and self._guard.keys.get(kid) is None else None


def require_recent(claims: AccessClaims, *, max_age: timedelta, now: datetime) -> None:
    """Refuse a token whose user signed in (`auth_time`) longer than `max_age` ago.

    A token without `auth_time` is refused too: nothing says when its user signed in.

    Raises:
        StaleAuthentication: carrying `max_age` in whole seconds, for RFC 9470's challenge.
    """
    if claims.auth_time is None or now - claims.auth_time > max_age:
        raise StaleAuthentication(int(max_age.total_seconds()))


def require_methods(claims: AccessClaims, amr: Iterable[str]) -> None:
    """Refuse a token whose sign-in did not use every one of `amr` (RFC 8176 values).

    Each value must appear in the token's `amr` claim as it is: "mfa" is met by an "mfa"
    in the token, not by the token listing two methods.

    Raises:
        StaleAuthentication: carrying the methods missing, as `missing_amr`.
        ValueError: `amr` is one string rather than a list of them.
    """
    if isinstance(amr, str):
        raise ValueError('pass the methods as a list of strings, such as ["otp"]')
    missing = frozenset(amr).difference(claims.amr)
    if missing:
        raise StaleAuthentication(missing_amr=tuple(sorted(missing)))


@dataclass(frozen=True, slots=True)
class StepUp:
    """What a route asks of the sign-in behind a token (RFC 9470): how recent, which methods.

    Adapters build one where a route is declared (`StepUp.of`) and check it per request.
    """

    max_age: timedelta | None = None
    amr: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, *, max_age: int | timedelta | None = None, require_amr: Iterable[str] = ()
    ) -> StepUp | None:
        """The step-up these route options ask for, checked once; None when they ask none.

        Raises:
            ValueError: `max_age` is not a number of seconds or a timedelta of 0 or more,
                or `require_amr` is not a list of RFC 8176 method names (one string is
                not a list: pass `["otp"]`, not `"otp"`).
        """
        if isinstance(require_amr, str):
            raise ValueError('pass require_amr as a list of strings, such as ["otp"]')
        amr = frozenset(require_amr)
        for method in amr:
            # The names go into a quoted WWW-Authenticate parameter: no quotes, no spaces.
            if not isinstance(method, str) or not SCOPE_TOKEN.fullmatch(method):
                raise ValueError(f"{method!r} is not an authentication method name (RFC 8176)")
        if max_age is None:
            return cls(None, amr) if amr else None
        if isinstance(max_age, bool) or not isinstance(max_age, int | timedelta):
            raise ValueError("max_age is a number of seconds or a timedelta")
        age = max_age if isinstance(max_age, timedelta) else timedelta(seconds=max_age)
        if age < timedelta(0):
            raise ValueError("max_age must be 0 seconds or more")
        return cls(age, amr)

    def check(self, claims: AccessClaims, *, now: datetime) -> None:
        """Admit a token that meets this step-up, or refuse it.

        The methods are checked first: signing in again with them also makes the sign-in
        recent, so a client that follows the first refusal does not meet a second one.

        Raises:
            StaleAuthentication: with `missing_amr` or `max_age`, saying what to do.
        """
        if self.amr:
            require_methods(claims, self.amr)
        if self.max_age is not None:
            require_recent(claims, max_age=self.max_age, now=now)


class _Settings:
    """Settings read by name, each value narrowed once, errors naming the setting."""

    def __init__(self, values: Mapping[str, object], prefix: str) -> None:
        self.values = values
        self.prefix = prefix

    def _raw(self, name: str) -> object:
        value = self.values.get(self.prefix + name)
        return None if value is None or value == "" else value

    def text(self, name: str) -> str | None:
        value = self._raw(name)
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{self.prefix}{name} must be a string")
        return value

    def number(self, name: str) -> int | None:
        value = self._raw(name)
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value) if len(value.strip()) <= 9 else -1
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            value = -1
        if value is not None and not 0 <= value < 10**9:
            raise ConfigurationError(f"{self.prefix}{name} must be a whole number, 0 or more")
        return value

    def seconds(self, name: str) -> timedelta | None:
        value = self.number(name)
        return None if value is None else timedelta(seconds=value)

    def jwks(self, name: str) -> Mapping[str, object] | None:
        value = self._raw(name)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ConfigurationError(f"{self.prefix}{name} is not JSON") from None
        if value is not None and not isinstance(value, Mapping):
            raise ConfigurationError(f"{self.prefix}{name} must be a JWK Set")
        return value

"""Where a Verifier gets its keys: a fixed set, or an authgate server's JWK Set over HTTP.

RemoteKeys keeps the JWK Set as long as HTTP caching allows (RFC 9111: Cache-Control
max-age, no-store and no-cache, Age, Expires, ETag revalidation), fetches it again at once
when a token names a key it does not hold, never more often than once per
`refetch_interval`, and keeps the keys it has when a fetch fails.

Why one module of about 300 lines: the HTTP caching rules and the refetch limit act on
the same cached state under one lock.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from authgate.core.clock import Clock, utc_now
from authgate.core.keys import KeyRing, SigningKey, load_jwk
from authgate.errors import ConfigurationError

if TYPE_CHECKING:  # imported on the first fetch: a server that never fetches saves ~4 MiB
    import httpx

logger = logging.getLogger("authgate.verifier")

REFETCH_INTERVAL = timedelta(seconds=10)
TIMEOUT = timedelta(seconds=5)
# Without caching headers, keep the keys as long as authgate's own max-age says.
DEFAULT_MAX_AGE = timedelta(minutes=5)
# However long a server says, look again within the hour: a key removed from the JWK Set
# (retired, or compromised) stops verifying here within that time.
LONGEST_MAX_AGE = timedelta(hours=1)
MAX_DOCUMENT_BYTES = 512 * 1024


class KeySource(Protocol):
    """The keys a Verifier checks signatures with."""

    def keys(self, *, missing: str | None = None) -> KeyRing:
        """The current keys; fetched first when stale, or when the kid `missing` is not
        among them and fetching is allowed. Never raises for a failed fetch."""

    def fetch_due(self, *, missing: str | None = None) -> bool:
        """Whether `keys()` would fetch now (async callers then run it off the event loop)."""

    def close(self) -> None:
        """Release connections."""


class StaticKeys:
    """Keys given up front: a JWK Set, public JWKs, or SigningKeys (an HS secret key too).

    Raises:
        ConfigurationError: not a JWK Set, a JWK `load_jwk` refuses, or no key at all.
    """

    def __init__(self, keys: Mapping[str, object] | Iterable[Mapping[str, object] | SigningKey]):
        if isinstance(keys, Mapping):
            ring = KeyRing.from_jwks(keys)
        else:
            ring = KeyRing(None, [_public(key) for key in keys])
        if not ring.keys:
            raise ConfigurationError("StaticKeys needs at least one key")
        self._ring = ring

    def keys(self, *, missing: str | None = None) -> KeyRing:
        return self._ring

    def fetch_due(self, *, missing: str | None = None) -> bool:
        return False

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"StaticKeys(kids={sorted(self._ring.keys)})"


def _public(key: Mapping[str, object] | SigningKey) -> SigningKey:
    if not isinstance(key, SigningKey):
        return load_jwk(key)
    # A protected app never needs a private key: keep only the public half of one.
    return key if key.symmetric or not key.private else load_jwk(key.public_jwk())


class RemoteKeys:
    """An authgate server's JWK Set, fetched over HTTP and cached.

    Give either the JWKS URL, or the issuer: then the URL is the `jwks_uri` of
    `{issuer}/.well-known/openid-configuration`, looked up at the first fetch, whose own
    `issuer` must be exactly this one (OpenID Connect Discovery 1.0 §4.3).

    `refetch_interval` bounds how often the server is asked, whatever happens: a flood of
    tokens naming made-up kids costs at most one request per interval, and so do
    `no-store` answers and a server that is down. `clock` serves the cache and that limit.

    Raises:
        ConfigurationError: neither or both of `jwks_url` and `issuer`, a URL that is not
            http(s), or a refetch interval that is not positive.
    """

    def __init__(
        self,
        jwks_url: str | None = None,
        *,
        issuer: str | None = None,
        refetch_interval: timedelta = REFETCH_INTERVAL,
        timeout: timedelta = TIMEOUT,
        clock: Clock = utc_now,
    ) -> None:
        if (jwks_url is None) == (issuer is None):
            raise ConfigurationError("RemoteKeys needs either a JWKS URL or an issuer")
        if refetch_interval <= timedelta(0) or timeout <= timedelta(0):
            raise ConfigurationError("the refetch interval and the timeout must be positive")
        self.jwks_url = None if jwks_url is None else _http_url(jwks_url, what="the JWKS URL")
        self.issuer = issuer
        self._discovery_url = (
            None
            if issuer is None
            else _http_url(f"{issuer.rstrip('/')}/.well-known/openid-configuration", what="issuer")
        )
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self.clock = clock
        self._ring = KeyRing(None)
        self._entries: object = None
        self._etag: str | None = None
        self._fresh_until: datetime | None = None
        self._attempted_at: datetime | None = None
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def keys(self, *, missing: str | None = None) -> KeyRing:
        if self.fetch_due(missing=missing):
            with self._lock:
                # Another thread may have fetched while this one waited for the lock.
                if self._due(missing):
                    self._fetch()
        return self._ring

    def fetch_due(self, *, missing: str | None = None) -> bool:
        if self._due(missing):
            return True
        # A fetch under way may bring the missing key: wait for it rather than refuse.
        # Callers that hold every key they need go on with the keys they have.
        return missing is not None and self._lock.locked() and self._ring.get(missing) is None

    def _due(self, missing: str | None) -> bool:
        """Fetching now is needed (stale, or a key is missing) and allowed (rate limit)."""
        now = self.clock()
        if self._attempted_at is not None and now - self._attempted_at < self.refetch_interval:
            return False
        if self._fresh_until is None or now >= self._fresh_until:
            return True
        return missing is not None and self._ring.get(missing) is None

    def close(self) -> None:
        return None  # each fetch opens and closes its own connection

    def __repr__(self) -> str:
        return f"RemoteKeys({self.jwks_url or self._discovery_url!r})"

    def _fetch(self) -> None:
        import httpx

        now = self.clock()
        self._attempted_at = now
        url = self.jwks_url or self._discovery_url
        if self._tls is None:
            # Loading the CA bundle costs tens of milliseconds: once, not at every fetch.
            self._tls = httpx.create_ssl_context()
        # A connection per fetch: fetches are minutes apart, and nothing stays open to close.
        client = httpx.Client(
            timeout=self.timeout.total_seconds(),
            verify=self._tls,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )
        try:
            url = self.jwks_url or self._discover(client)
            response, document = self._get(client, url, etag=self._etag)
            if document is not None:
                self._take(document)
                self._etag = response.headers.get("etag")
        except (_Unusable, httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            reason = str(exc) if isinstance(exc, _Unusable) else type(exc).__name__
            logger.warning(
                "could not fetch the JWKS from %s (%s); still using the %d keys it had",
                _shown(url),
                reason,
                len(self._ring.keys),
            )
            return
        finally:
            client.close()
        lifetime = min(
            max(_lifetime(response.headers, now), self.refetch_interval), LONGEST_MAX_AGE
        )
        self._fresh_until = now + lifetime

    def _discover(self, client: httpx.Client) -> str:
        assert self._discovery_url is not None  # noqa: S101 - set whenever jwks_url is not
        _, document = self._get(client, self._discovery_url, etag=None)
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise _Unusable("the discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise _Unusable("the discovery document has no jwks_uri")
        try:
            self.jwks_url = _http_url(jwks_uri, what="jwks_uri")
        except ConfigurationError as exc:
            raise _Unusable(str(exc)) from None
        return self.jwks_url

    @staticmethod
    def _get(client: httpx.Client, url: str, *, etag: str | None) -> tuple[httpx.Response, object]:
        """GET a JSON document; None for a 304 answer to `If-None-Match: etag`."""
        headers = {"If-None-Match": etag} if etag else {}
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304 and etag:
                return response, None
            if response.status_code != 200:
                raise _Unusable(f"HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise _Unusable(f"larger than {MAX_DOCUMENT_BYTES} bytes")
        try:
            return response, json.loads(body)
        except (ValueError, RecursionError):
            raise _Unusable("not JSON") from None

    def _take(self, document: object) -> None:
        """Use the keys of a fetched JWK Set; the same set keeps the same ring."""
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise _Unusable("not a JWK Set")
        if entries == self._entries:
            return
        keys = []
        for entry in entries:
            try:
                if not isinstance(entry, dict):
                    raise ConfigurationError("a JWK is an object")
                keys.append(load_jwk(entry))
            except ConfigurationError as exc:
                # Forward compatible, as JWKS clients are: other kinds of keys may appear.
                logger.info("skipping a JWK this verifier cannot use: %s", exc)
        self._ring = KeyRing(None, keys)
        self._entries = entries


class _Unusable(Exception):
    """A fetch that answered, but with nothing usable; the message says why."""


def _http_url(url: str, *, what: str) -> str:
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, a bracket left open
        valid = False
    if not valid:
        raise ConfigurationError(f"{what} must be an http(s) URL")
    return url


def _shown(url: str | None) -> str:
    """A URL fit for a log line: without a password it might carry, or its query."""
    parts = urlsplit(url or "")
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def _lifetime(headers: httpx.Headers, now: datetime) -> timedelta:
    """How long a response stays fresh (RFC 9111 §4.2.1); DEFAULT_MAX_AGE when unsaid."""
    directives: dict[str, str] = {}
    for directive in headers.get_list("cache-control", split_commas=True):
        name, _, value = directive.strip().partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return timedelta(0)
    if "max-age" in directives:
        max_age = _seconds(directives["max-age"])
        if max_age is None:
            return timedelta(0)  # RFC 9111 §4.2.1: an invalid max-age makes it stale
        return timedelta(seconds=max(0, max_age - (_seconds(headers.get("age", "")) or 0)))
    if "expires" in headers:
        expires = _http_date(headers["expires"])
        if expires is None:
            return timedelta(0)  # RFC 9111 §5.3: an invalid Expires is in the past
        date = _http_date(headers.get("date", "")) or now
        return max(timedelta(0), expires - date)
    return DEFAULT_MAX_AGE


def _seconds(text: str) -> int | None:
    """A delta-seconds value (RFC 9111 §1.2.2), capped far beyond any cache lifetime."""
    if not text.isdigit() or not text.isascii():
        return None
    return int(text) if len(text) <= 9 else 10**9


def _http_date(text: str) -> datetime | None:
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)

"""Settings: one frozen dataclass, read once from the environment (and `.env`) at the edge."""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Literal, TypeVar, get_args
from urllib.parse import urlsplit

from authgate.core.keys import ALGORITHMS, SYMMETRIC, Algorithm, check_secret, sealing_key_id
from authgate.errors import ConfigurationError

PREFIX = "AUTHGATE_"
T = TypeVar("T")
logger = logging.getLogger("authgate.settings")


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


LOG_LEVELS = ("debug", "info", "warning", "error")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
SameSite = Literal["lax", "strict"]
# Where cookies without `Secure` are acceptable: a developer's own machine over plain http.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything an operator can set; see the README's settings table."""

    database_url: str = "sqlite:///./authgate.db"
    redis_url: str | None = None
    issuer: str = "http://localhost:8000"
    audience: str = "authgate"
    algorithm: Algorithm = "RS256"
    secret: Secret | None = None
    key_encryption_key: Secret | None = None
    # Keys that sealed what is stored before a rotation: read only, and only until the next
    # start has sealed everything anew under key_encryption_key (wiring.py).
    previous_key_encryption_keys: tuple[Secret, ...] = ()
    access_token_ttl: timedelta = timedelta(seconds=900)
    refresh_token_ttl: timedelta = timedelta(seconds=2_592_000)
    session_idle_timeout: timedelta = timedelta(seconds=604_800)
    refresh_reuse_grace: timedelta = timedelta(seconds=10)
    password_min_length: int = 8
    # Words a password must not be built from besides the service's own names and the
    # user's address (ASVS V6.2.11): a brand, a product, a city.
    password_context_words: tuple[str, ...] = ()
    # A k-anonymity range API (Have I Been Pwned's protocol) asked about every new password,
    # on top of the offline lists; unset = offline only (ASVS V6.2.12).
    breached_passwords_url: str | None = None
    breached_passwords_timeout: timedelta = timedelta(seconds=2)
    # At most this many live sessions per account; a new sign-in ends the least recently
    # used ones beyond it (ASVS V7.1.2). 0 = no limit.
    max_sessions_per_user: int = 0
    throttle_sign_up: str = "20/hour"
    throttle_sign_in_ip: str = "60/minute"
    throttle_sign_in_account: str = "5/minute"
    throttle_token: str = "120/minute"  # noqa: S105 - a rate, not a secret
    # Passkey challenges handed out per IP: the signed-out page asks for one on every load
    # (passkey autofill), so they are not counted against sign-in attempts.
    throttle_passkey_options: str = "120/minute"
    hashing_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    hashing_queue: int = 64
    revocation_poll_interval: timedelta = timedelta(seconds=1)
    token_cache_size: int = 10_000
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    # Twice the JWKS Cache-Control max-age: every verifier has the next key before it signs.
    key_rotation_delay: timedelta = timedelta(seconds=600)
    # The cookie transport (browsers, the account page at /): see web/cookies.py.
    cookie_secure: bool = True
    cookie_samesite: SameSite = "lax"
    # The reverse proxies whose X-Forwarded-For/-Proto count; none by default, so a client
    # cannot choose the address that throttles, sessions and the audit log see.
    trusted_proxies: tuple[Network, ...] = ()
    # Accounts by e-mail (DESIGN §8). Links in mail start with the public URL (the issuer
    # when unset), never with a request's Host header.
    public_url: str | None = None
    smtp_url: Secret | None = None  # unset: mail stays in the outbox (`authgate mail list`)
    mail_from: str = "authgate <no-reply@localhost>"
    mail_templates: Path | None = None
    require_verified_email: bool = False
    reauth_max_age: timedelta = timedelta(seconds=300)
    verify_link_ttl: timedelta = timedelta(seconds=86_400)
    reset_link_ttl: timedelta = timedelta(seconds=3_600)
    email_change_link_ttl: timedelta = timedelta(seconds=86_400)
    revert_link_ttl: timedelta = timedelta(seconds=604_800)
    throttle_mail_address: str = "5/hour"
    throttle_mail_ip: str = "30/hour"
    # `required`: an account without a second factor may only set one up (DESIGN §9).
    mfa: Literal["optional", "required"] = "optional"
    # TOTP steps of 30 seconds accepted either side of the current one. 0: a code lives 30
    # seconds (ASVS 5.0 V6.5.5); 1 forgives a phone clock a step off, but a code then works
    # for 90 seconds (RFC 6238 §5.2).
    totp_drift_steps: int = 0
    mail_max_attempts: int = 8
    mail_retry_delay: timedelta = timedelta(seconds=30)  # doubled after each failure
    # Passkeys (DESIGN §9): the relying-party id credentials are scoped to, and the origins
    # browsers may run the ceremonies on; both follow the public URL when unset.
    webauthn_rp_id: str | None = None
    webauthn_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigurationError(f"AUTHGATE_ALGORITHM must be one of {', '.join(ALGORITHMS)}")
        if self.algorithm in SYMMETRIC and self.secret is None:
            raise ConfigurationError(
                f"AUTHGATE_SECRET is required with AUTHGATE_ALGORITHM={self.algorithm}; "
                "`authgate secret` prints one"
            )
        if self.secret is not None:
            # Whatever the algorithm: when set, it also keys the server's own HMAC keys.
            check_secret(self.secret.reveal(), name="AUTHGATE_SECRET")
        if self.key_encryption_key is not None:
            # The sealing key comes from it by HKDF, which does not stretch a passphrase
            # (ASVS V11.4.4): only as much randomness as the secret's makes it unguessable.
            check_secret(self.key_encryption_key.reveal(), name="AUTHGATE_KEY_ENCRYPTION_KEY")
        _check_previous_keys(self)
        for name in ("access_token_ttl", "refresh_token_ttl", "session_idle_timeout"):
            if getattr(self, name) <= timedelta(0):
                raise ConfigurationError(
                    f"{PREFIX}{name.upper()} must be a positive number of seconds"
                )
        if self.refresh_reuse_grace < timedelta(0):
            raise ConfigurationError("AUTHGATE_REFRESH_REUSE_GRACE must be 0 or more seconds")
        if not 8 <= self.password_min_length <= 1024:
            raise ConfigurationError("AUTHGATE_PASSWORD_MIN_LENGTH must be between 8 and 1024")
        for name in (
            "throttle_sign_up",
            "throttle_sign_in_ip",
            "throttle_sign_in_account",
            "throttle_token",
            "throttle_passkey_options",
            "throttle_mail_address",
            "throttle_mail_ip",
        ):
            _check_rate(getattr(self, name), f"{PREFIX}{name.upper()}")
        _check_mail(self)
        _check_webauthn(self)
        _check_passwords(self)
        if not 0 <= self.totp_drift_steps <= 2:
            raise ConfigurationError("AUTHGATE_TOTP_DRIFT_STEPS must be 0, 1 or 2")
        if self.max_sessions_per_user < 0:
            raise ConfigurationError(
                "AUTHGATE_MAX_SESSIONS_PER_USER must be 0 (no limit) or a positive number"
            )
        if self.hashing_workers < 1 or self.hashing_queue < 1:
            raise ConfigurationError(
                "AUTHGATE_HASHING_WORKERS and AUTHGATE_HASHING_QUEUE must be at least 1"
            )
        if self.revocation_poll_interval < timedelta(seconds=1):
            raise ConfigurationError("AUTHGATE_REVOCATION_POLL_INTERVAL must be at least 1 second")
        if self.redis_url is not None and not self.redis_url.startswith(REDIS_SCHEMES):
            raise ConfigurationError(
                "AUTHGATE_REDIS_URL must start with " + ", ".join(REDIS_SCHEMES)
            )
        if self.log_level not in LOG_LEVELS:
            raise ConfigurationError(f"AUTHGATE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in ("text", "json"):
            raise ConfigurationError("AUTHGATE_LOG_FORMAT must be text or json")
        if not self.issuer or not self.audience:
            raise ConfigurationError("AUTHGATE_ISSUER and AUTHGATE_AUDIENCE must not be empty")
        if self.cookie_samesite not in get_args(SameSite):
            raise ConfigurationError("AUTHGATE_COOKIE_SAMESITE must be lax or strict")
        if not self.cookie_secure and not _is_local(self.issuer):
            # Cookies without Secure travel over plain http, where anyone on the path reads
            # them: that is only acceptable on the developer's own machine.
            raise ConfigurationError(
                "AUTHGATE_COOKIE_SECURE=false is for development on http://localhost only; "
                f"AUTHGATE_ISSUER is {self.issuer!r}"
            )
        _require_extras(self)

    @property
    def public_base(self) -> str:
        """Where browsers reach authgate: AUTHGATE_PUBLIC_URL, else the issuer."""
        return (self.public_url or self.issuer).rstrip("/")

    @property
    def passkey_rp_id(self) -> str:
        """The WebAuthn relying-party id: AUTHGATE_WEBAUTHN_RP_ID, else the public URL's host."""
        return self.webauthn_rp_id or _host(self.public_base) or "localhost"

    @property
    def passkey_origins(self) -> tuple[str, ...]:
        """Where ceremonies may run: AUTHGATE_WEBAUTHN_ORIGINS, else the public URL's origin."""
        return self.webauthn_origins or ((_origin(self.public_base) or "http://localhost"),)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], *, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Build settings from `AUTHGATE_*` variables, falling back to a `.env` file.

        Raises:
            ConfigurationError: naming the variable whose value is bad.
        """
        values = dict(_read_env_file(env_file)) if env_file is not None else {}
        values.update((k, v) for k, v in environ.items() if k.startswith(PREFIX))
        for name in sorted(set(values) - {PREFIX + f.upper() for f in cls.__dataclass_fields__}):
            logger.warning("ignoring %s: authgate has no such setting", name)

        kwargs: dict[str, object] = {}

        def take(name: str, parse: Callable[[str], T]) -> None:
            raw = values.get(PREFIX + name.upper())
            if raw is None:
                return
            try:
                kwargs[name] = parse(raw.strip())
            except (ValueError, TypeError) as exc:
                raise ConfigurationError(f"{PREFIX}{name.upper()}: {exc}") from None

        for name in (
            "database_url",
            "issuer",
            "audience",
            "throttle_sign_up",
            "throttle_sign_in_ip",
            "throttle_sign_in_account",
            "throttle_token",
            "throttle_passkey_options",
            "throttle_mail_address",
            "throttle_mail_ip",
            "mail_from",
        ):
            take(name, str)
        take("breached_passwords_url", lambda v: v.rstrip("/") or None)
        take("password_context_words", _words)
        take("public_url", lambda v: v.rstrip("/") or None)
        take("webauthn_rp_id", lambda v: v or None)
        take("webauthn_origins", _origins)
        take("smtp_url", lambda v: Secret(v) if v else None)
        take("mail_templates", lambda v: Path(v) if v else None)
        take("require_verified_email", _boolean)
        take("mfa", _mfa_policy)
        take("redis_url", lambda v: v or None)
        take("algorithm", _algorithm)
        take("cookie_secure", _boolean)
        take("cookie_samesite", _same_site)
        take("log_level", str.lower)
        take("log_format", str.lower)
        take("secret", lambda v: Secret(v) if v else None)
        take("key_encryption_key", lambda v: Secret(v) if v else None)
        take("previous_key_encryption_keys", _secrets)
        take("trusted_proxies", _networks)
        for name in (
            "access_token_ttl",
            "refresh_token_ttl",
            "session_idle_timeout",
            "refresh_reuse_grace",
            "revocation_poll_interval",
            "key_rotation_delay",
            "reauth_max_age",
            "verify_link_ttl",
            "reset_link_ttl",
            "email_change_link_ttl",
            "revert_link_ttl",
            "mail_retry_delay",
            "breached_passwords_timeout",
        ):
            take(name, _seconds)
        for name in (
            "password_min_length",
            "hashing_workers",
            "hashing_queue",
            "token_cache_size",
            "mail_max_attempts",
            "max_sessions_per_user",
            "totp_drift_steps",
        ):
            take(name, _whole_number)
        return cls(**kwargs)  # type: ignore[arg-type]  # each value was parsed to its field's type


SMTP_SCHEMES = ("smtp", "smtps")


def _check_mail(settings: Settings) -> None:
    """The §8 settings: a public URL links can start with, a reachable-looking SMTP URL."""
    public = settings.public_url
    if public is not None:
        try:
            parts = urlsplit(public)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError("AUTHGATE_PUBLIC_URL must be an http(s) URL with a host")
        if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
            # Links carrying reset tokens over plain http can be read on the way.
            raise ConfigurationError(
                "AUTHGATE_PUBLIC_URL must be https unless it is http://localhost"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError("AUTHGATE_PUBLIC_URL must not have a query or fragment")
    if settings.smtp_url is not None:
        try:
            smtp = urlsplit(settings.smtp_url.reveal())
            smtp.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            smtp = None
        if smtp is None or smtp.scheme not in SMTP_SCHEMES or not smtp.hostname:
            raise ConfigurationError(
                "AUTHGATE_SMTP_URL must look like smtp://user:password@host:587 "
                "(STARTTLS) or smtps://host:465"
            )
    _, address = parseaddr(settings.mail_from)
    if "@" not in address or any(c in settings.mail_from for c in "\r\n"):
        raise ConfigurationError(
            "AUTHGATE_MAIL_FROM must be an address, optionally with a name: "
            "'authgate <no-reply@example.com>'"
        )
    if settings.mail_templates is not None and not settings.mail_templates.is_dir():
        raise ConfigurationError("AUTHGATE_MAIL_TEMPLATES must name a directory")
    if settings.mfa not in ("optional", "required"):
        raise ConfigurationError("AUTHGATE_MFA must be optional or required")
    if settings.mail_max_attempts < 1:
        raise ConfigurationError("AUTHGATE_MAIL_MAX_ATTEMPTS must be at least 1")
    if settings.mail_retry_delay < timedelta(seconds=1):
        raise ConfigurationError("AUTHGATE_MAIL_RETRY_DELAY must be at least 1 second")
    for name in (
        "reauth_max_age",
        "verify_link_ttl",
        "reset_link_ttl",
        "email_change_link_ttl",
        "revert_link_ttl",
    ):
        if getattr(settings, name) <= timedelta(0):
            raise ConfigurationError(f"{PREFIX}{name.upper()} must be a positive number of seconds")


def _check_passwords(settings: Settings) -> None:
    """A range API reached over https (or on this machine), a sane timeout, usable words."""
    url = settings.breached_passwords_url
    if url is not None:
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(
                "AUTHGATE_BREACHED_PASSWORDS_URL must be an http(s) URL such as "
                "https://api.pwnedpasswords.com"
            )
        if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
            raise ConfigurationError(
                "AUTHGATE_BREACHED_PASSWORDS_URL must be https unless it is on localhost"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError(
                "AUTHGATE_BREACHED_PASSWORDS_URL must not have a query or fragment"
            )
    if not timedelta(seconds=1) <= settings.breached_passwords_timeout <= timedelta(seconds=30):
        raise ConfigurationError("AUTHGATE_BREACHED_PASSWORDS_TIMEOUT must be 1 to 30 seconds")
    for word in settings.password_context_words:
        if len(word) < 3:
            raise ConfigurationError(
                f"AUTHGATE_PASSWORD_CONTEXT_WORDS: {word!r} is shorter than 3 characters"
            )


def _check_previous_keys(settings: Settings) -> None:
    """Previous KEKs: only beside a KEK, and told apart from it by id.

    They are not held to the randomness check: they only open what was sealed before, and
    moving the stored secrets off a weak key onto a random one is what they are for.
    """
    name = "AUTHGATE_PREVIOUS_KEY_ENCRYPTION_KEYS"
    if not settings.previous_key_encryption_keys:
        return
    if settings.key_encryption_key is None:
        raise ConfigurationError(
            f"{name} needs AUTHGATE_KEY_ENCRYPTION_KEY, the key to seal the stored secrets under"
        )
    current = sealing_key_id(settings.key_encryption_key.reveal())
    for key in settings.previous_key_encryption_keys:
        # Startup takes a value whose key id is the current key's as sealed under it.
        if sealing_key_id(key.reveal()) == current:
            raise ConfigurationError(
                f"{name} must not hold AUTHGATE_KEY_ENCRYPTION_KEY (nor a key with its key id)"
            )


def _secrets(value: str) -> tuple[Secret, ...]:
    """Comma-separated secrets; blanks dropped."""
    return tuple(Secret(part.strip()) for part in value.split(",") if part.strip())


def _words(value: str) -> tuple[str, ...]:
    """Comma-separated words; blanks dropped."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _check_webauthn(settings: Settings) -> None:
    """An RP id that is a domain (browsers refuse IP addresses), and origins on it."""
    rp_id = settings.webauthn_rp_id
    if rp_id is not None and (not DOMAIN.fullmatch(rp_id) or _is_ip(rp_id)):
        raise ConfigurationError(
            "AUTHGATE_WEBAUTHN_RP_ID must be a domain name such as example.com "
            "(lowercase, no scheme or port; not an IP address)"
        )
    for origin in settings.webauthn_origins:
        host = _host(origin)
        if _origin(origin) != origin or host is None:
            raise ConfigurationError(
                f"AUTHGATE_WEBAUTHN_ORIGINS: {origin!r} is not an origin like "
                "https://example.com (scheme, host and port only)"
            )
        if origin.startswith("http://") and host not in LOCAL_HOSTS:
            raise ConfigurationError(
                f"AUTHGATE_WEBAUTHN_ORIGINS: {origin!r} must be https unless it is localhost"
            )
    rp_id = settings.passkey_rp_id
    for origin in settings.passkey_origins:
        host = _host(origin) or ""
        if host != rp_id and not host.endswith("." + rp_id):
            # WebAuthn L3 §5.1.3: the RP id is the origin's host or a suffix of it.
            raise ConfigurationError(
                f"the WebAuthn origin {origin} is not on the relying-party id {rp_id}: "
                "set AUTHGATE_WEBAUTHN_RP_ID and AUTHGATE_WEBAUTHN_ORIGINS to match"
            )


DOMAIN = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _origin(url: str) -> str | None:
    """scheme://host[:port] of a URL, as browsers write an origin (no default port)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _origins(value: str) -> tuple[str, ...]:
    """Comma-separated origins; an empty value means the public URL's."""
    return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())


def _read_env_file(path: Path) -> Mapping[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # the server extra; verifiers never read .env

    return {k: v for k, v in dotenv_values(path).items() if v is not None and k.startswith(PREFIX)}


def _algorithm(value: str) -> Algorithm:
    if value not in ALGORITHMS:
        raise ValueError(f"must be one of {', '.join(ALGORITHMS)}, not {value!r}")
    return value


# Settings that need an optional extra: (variable, is it used, the module, the extra).
EXTRAS: tuple[tuple[str, Callable[[Settings], bool], str, str], ...] = (
    (
        "AUTHGATE_DATABASE_URL",
        lambda s: s.database_url.split(":", 1)[0].split("+", 1)[0] in ("postgres", "postgresql"),
        "psycopg",
        "postgresql",
    ),
    ("AUTHGATE_REDIS_URL", lambda s: s.redis_url is not None, "redis", "redis"),
)


def _require_extras(settings: Settings) -> None:
    """A setting whose driver is not installed stops startup with one line, not a traceback."""
    for name, used, module, extra in EXTRAS:
        if used(settings) and importlib.util.find_spec(module) is None:
            raise ConfigurationError(
                f"{name} needs the {module} driver: pip install 'authgate[{extra}]'"
            )


def _is_local(url: str) -> bool:
    try:
        return urlsplit(url).hostname in LOCAL_HOSTS
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered not in {"true", "false", "1", "0"}:
        raise ValueError(f"must be true or false, not {value!r}")
    return lowered in {"true", "1"}


def _mfa_policy(value: str) -> Literal["optional", "required"]:
    lowered = value.lower()
    if lowered == "optional":
        return "optional"
    if lowered == "required":
        return "required"
    raise ValueError(f"must be optional or required, not {value!r}")


def _same_site(value: str) -> SameSite:
    lowered = value.lower()
    if lowered == "lax":
        return "lax"
    if lowered == "strict":
        return "strict"
    raise ValueError(f"must be lax or strict, not {value!r}")


def _networks(value: str) -> tuple[Network, ...]:
    """Comma-separated IP addresses and CIDR networks; an empty value means none."""
    networks = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as exc:
            raise ValueError(f"{exc} (expected IP addresses or CIDR networks)") from None
    return tuple(networks)


def _whole_number(value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"must be a whole number, not {value!r}")
    return int(value)


def _seconds(value: str) -> timedelta:
    return timedelta(seconds=_whole_number(value))


def _check_rate(value: str, name: str) -> None:
    from limits import parse_many  # the server extra

    try:
        parse_many(value)
    except ValueError:
        raise ConfigurationError(
            f"{name}: {value!r} is not a rate like '5/minute' or '20 per hour'"
        ) from None

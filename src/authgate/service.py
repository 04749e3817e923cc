"""The use cases: what routes and commands ask of authgate, and nothing else.

Each method is one thing a person or an operator does (sign up, sign in, refresh, sign
out, end a session, disable a user, rotate keys, import users…). Routes and commands call
these only; the parts they are built from (the store, the sessions, the keychain) are
the wiring's (wiring.py), and the rules are the domain's (core/). A new feature adds a use
case here and a route or a command, and touches nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Literal

from authgate.core.announcements import Announcement
from authgate.core.clock import Clock, utc_now
from authgate.core.keychain import Rotation
from authgate.core.mongo_import import BATCH_SIZE, Problem, Tally, import_users
from authgate.core.passwords import RECOMMENDED, Preset
from authgate.core.store import AuditEvent, Session, SessionId, User, UserId
from authgate.core.tokens import LEEWAY, AccessClaims, issue_access_token
from authgate.errors import InvalidGrant, RefreshTokenReused
from authgate.settings import Settings
from authgate.storage.schema import upgrade_database
from authgate.wiring import Parts

KeyState = Literal["signing", "next", "verifying", "retired", "signing (secret)"]


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What a sign-in or a refresh hands back to the client."""

    access_token: str
    claims: AccessClaims
    refresh_token: str
    session: Session
    expires_in: int


@dataclass(frozen=True, slots=True)
class KeyListing:
    """One signing key as `authgate keys list` shows it (HS keys have no times)."""

    kid: str
    alg: str
    state: KeyState
    created_at: datetime | None = None
    signs_from: datetime | None = None
    retired_at: datetime | None = None


class Service:
    """authgate's use cases over its assembled parts: open it with Settings, then call it."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        preset: Preset = RECOMMENDED,
        migrate: Literal["if-empty", "never"] = "if-empty",
    ) -> None:
        self.parts = Parts(settings, clock=clock, preset=preset, migrate=migrate)

    @property
    def settings(self) -> Settings:
        return self.parts.settings

    @property
    def warnings(self) -> Sequence[str]:
        """Weaknesses of this configuration, said at every server start and in /ready."""
        return self.parts.warnings

    def close(self) -> None:
        self.parts.close()

    # -- the guard: the hot path of every protected route ---------------------

    def read(self, token: str) -> AccessClaims:
        """Verify an access token and refuse it if its session or user was revoked.

        Raises:
            InvalidToken: any reason; the subclass says which.
        """
        return self.parts.guard.read(token)

    # -- accounts -----------------------------------------------------------

    def sign_up(self, email: str, password: str, *, ip: str | None = None) -> User:
        """Raises: InvalidEmail, PasswordRejected, EmailTaken."""
        return self.parts.accounts.sign_up(email, password, ip=ip)

    def sign_in(
        self, email: str, password: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> SignedIn:
        """Raises: InvalidCredentials."""
        user = self.parts.accounts.sign_in(email, password, ip=ip)
        session, refresh_token = self.parts.sessions.start(user, ip=ip, user_agent=user_agent)
        return self._signed_in(user.id, user.email, session, refresh_token)

    def account_key(self, email: str) -> str:
        """The key failed sign-ins are counted under, whether or not the account exists."""
        return self.parts.accounts.account_key(email)

    def user(self, user_id: UserId) -> User:
        """Raises: UnknownUser."""
        return self.parts.accounts.get(user_id)

    def find_user(self, email: str) -> User:
        """Raises: UnknownUser."""
        return self.parts.accounts.find(email)

    def list_users(self, *, limit: int, offset: int = 0) -> Sequence[User]:
        """Users oldest first, disabled ones included (each says so)."""
        return self.parts.store.list_users(limit=limit, offset=offset)

    def disable_user(self, user_id: UserId) -> int:
        """Disable a user and end all its sessions; return how many were ended."""
        self.parts.accounts.disable(user_id)
        return self.parts.sessions.cut_off(user_id, reason="user_disabled")

    def enable_user(self, user_id: UserId) -> None:
        """Let a disabled user sign in again."""
        self.parts.accounts.enable(user_id)

    def change_password(self, user_id: UserId, new_password: str) -> int:
        """Set a new password and end every session; return how many were ended.

        Raises:
            PasswordRejected: the password breaks the policy.
        """
        self.parts.accounts.change_password(user_id, new_password)
        return self.parts.sessions.cut_off(user_id, reason="password_changed")

    def import_users(
        self,
        stream: BinaryIO,
        *,
        source: str,
        batch_size: int = BATCH_SIZE,
        on_problem: Callable[[Problem], None],
        on_batch: Callable[[Tally], None],
    ) -> Tally:
        """Store the users of a mongoexport (core/mongo_import.py); count every record."""
        return import_users(
            stream,
            self.parts.store,
            clock=self.parts.clock,
            audit=self.parts.audit,
            source=source,
            batch_size=batch_size,
            on_problem=on_problem,
            on_batch=on_batch,
        )

    def audit_events(
        self, *, user_id: UserId | None = None, limit: int = 100
    ) -> tuple[Sequence[AuditEvent], Mapping[UserId, str]]:
        """The newest events (of one user, or everyone's), and the e-mail of each user named.

        A user who is gone is named by its id.
        """
        events = self.parts.store.audit_events(user_id=user_id, limit=limit)
        emails = {}
        for named in {event.user_id for event in events if event.user_id is not None}:
            found = self.parts.store.user_by_id(named)
            emails[named] = found.email if found else named
        return events, emails

    # -- sessions -----------------------------------------------------------

    def refresh(self, refresh_token: str, *, ip: str | None = None) -> SignedIn:
        """Raises: InvalidGrant (SessionEnded or RefreshTokenReused)."""
        metrics = self.parts.metrics
        try:
            record, successor = self.parts.sessions.rotate(refresh_token, ip=ip)
        except RefreshTokenReused:
            metrics.refreshes.labels("reused").inc()
            raise
        except InvalidGrant:
            metrics.refreshes.labels("ended").inc()
            raise
        metrics.refreshes.labels("rotated").inc()
        session = record.session
        return self._signed_in(session.user_id, record.user_email, session, successor)

    def session_of(self, refresh_token: str) -> SessionId | None:
        """The session a refresh token belongs to, used or not; None for an unknown token."""
        return self.parts.sessions.session_of(refresh_token)

    def sign_out(self, session_id: SessionId) -> bool:
        """End one session; False when it was unknown or already over."""
        return self.parts.sessions.end(session_id)

    def sign_out_by_refresh_token(self, refresh_token: str) -> bool:
        """End the session a refresh token belongs to; False when there is none to end."""
        return self.parts.sessions.end_by_refresh_token(refresh_token)

    def sign_out_everywhere(self, user_id: UserId) -> int:
        """End every session of the user; return how many."""
        return self.parts.sessions.end_all(user_id)

    def end_session(self, user_id: UserId, session_id: SessionId) -> None:
        """End one of the user's own sessions. Raises: UnknownSession."""
        self.parts.sessions.end_for_user(user_id, session_id)

    def live_sessions(self, user_id: UserId) -> Sequence[Session]:
        """The user's sessions that can still refresh, most recently used first."""
        return self.parts.sessions.live(user_id)

    # -- keys and discovery -------------------------------------------------

    def jwks(self) -> dict[str, list[dict[str, object]]]:
        """The public signing keys (RFC 7517)."""
        return self.parts.keys.jwks()

    def discovery(self) -> dict[str, object]:
        """OpenID Connect Discovery 1.0: where the keys and the token endpoint are."""
        settings = self.settings
        issuer = settings.issuer.rstrip("/")
        return {
            "issuer": settings.issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/me",
            "grant_types_supported": ["password", "refresh_token"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "token_endpoint_auth_methods_supported": ["none"],
            "id_token_signing_alg_values_supported": [settings.algorithm],
            "access_token_signing_alg_values_supported": [settings.algorithm],
        }

    def list_keys(self) -> Sequence[KeyListing]:
        """Every stored key and its state now; an HS key from the secret last."""
        parts = self.parts
        now, signing = parts.clock(), parts.keys.signing
        listing = []
        for key in parts.store.signing_keys():
            state: KeyState
            if key.retired_at is not None and key.retired_at <= now:
                state = "retired"
            elif key.kid == signing.kid:
                state = "signing"
            elif key.signs_from > now:
                state = "next"
            else:
                state = "verifying"
            listing.append(
                KeyListing(key.kid, key.alg, state, key.created_at, key.signs_from, key.retired_at)
            )
        if parts.keychain.symmetric:
            listing.append(KeyListing(signing.kid, signing.alg, "signing (secret)"))
        return listing

    def rotate_keys(self, delay: timedelta | None = None) -> Rotation:
        """Publish the next signing key now; it signs after `delay` (the setting by default).

        Raises:
            ConfigurationError: HS keys come from the secret and are not rotated here.
        """
        parts = self.parts
        rotation = parts.keychain.rotate(
            parts.clock(),
            delay=parts.settings.key_rotation_delay if delay is None else delay,
            token_lifetime=parts.settings.access_token_ttl + LEEWAY,
        )
        parts.guard.use_keys(parts.keychain.ring)
        parts.fanout.publish(Announcement(keys=True))
        return rotation

    # -- operations ---------------------------------------------------------

    def check_ready(self) -> None:
        """Raises whatever the database driver raises when the database does not answer."""
        self.parts.store.ping()

    def metrics(self) -> bytes:
        """This process's Prometheus metrics, in the text exposition format."""
        return self.parts.metrics.exposition()

    def _signed_in(self, user_id: UserId, email: str, session: Session, refresh: str) -> SignedIn:
        ttl = self.settings.access_token_ttl
        token, claims = issue_access_token(
            subject=user_id,
            email=email,
            session_id=session.id,
            keys=self.parts.keys,
            issuer=self.settings.issuer,
            audience=self.settings.audience,
            now=self.parts.clock(),
            ttl=ttl,
        )
        return SignedIn(token, claims, refresh, session, int(ttl.total_seconds()))


def upgrade_schema(settings: Settings) -> tuple[str, str]:
    """Create or migrate the database schema to this version; return its state before and after.

    A use case of its own: the Service opens only a database whose schema is current.
    """
    return upgrade_database(settings.database_url)

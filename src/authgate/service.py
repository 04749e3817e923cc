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
from authgate.core.factors import Enrolment
from authgate.core.keychain import Rotation
from authgate.core.letters import Envelope, Letter, unpack
from authgate.core.letters import State as MailState
from authgate.core.mongo_import import BATCH_SIZE, Problem, Tally, import_users
from authgate.core.passkeys import StoredPasskey
from authgate.core.passwords import RECOMMENDED, Preset
from authgate.core.store import AuditEvent, Session, SessionId, User, UserId
from authgate.core.tokens import LEEWAY, AccessClaims, issue_access_token
from authgate.core.users import normalize_email
from authgate.errors import (
    EmailNotVerified,
    FullAuthenticationRequired,
    InvalidCredentials,
    InvalidGrant,
    MfaRequired,
    RefreshTokenReused,
    SessionEnded,
    StaleAuthentication,
    UnknownMail,
)
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
        """Create a user and store its verification mail with it.

        Raises: InvalidEmail, PasswordRejected, EmailTaken.
        """
        welcome = self.parts.account_mail.verification
        user = self.parts.accounts.sign_up(email, password, ip=ip, welcome=welcome)
        self.parts.mail_queued()
        return user

    def sign_in(
        self, email: str, password: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> SignedIn:
        """Raises: InvalidCredentials; EmailNotVerified (AUTHGATE_REQUIRE_VERIFIED_EMAIL),
        only after the password was right."""
        user = self.parts.accounts.sign_in(email, password, ip=ip)
        if self.settings.require_verified_email and not user.email_verified:
            raise EmailNotVerified
        methods = self.parts.factors.methods(user.id)
        if methods:
            raise MfaRequired(self.parts.factors.challenge(user), methods)
        return self._start(user, ip=ip, user_agent=user_agent, amr=("pwd",))

    def sign_in_mfa(
        self,
        mfa_token: str,
        *,
        code: str | None = None,
        recovery_code: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> SignedIn:
        """Finish a sign-in that answered `mfa_required`, with a TOTP or a recovery code.

        Raises: InvalidMfaToken; InvalidCredentials (a wrong code).
        """
        user, amr = self.parts.factors.complete(mfa_token, code=code, recovery_code=recovery_code)
        return self._start(user, ip=ip, user_agent=user_agent, amr=amr)

    def reauthenticate(
        self,
        claims: AccessClaims,
        *,
        password: str | None = None,
        code: str | None = None,
        recovery_code: str | None = None,
        passkey: Mapping[str, object] | None = None,
    ) -> SignedIn:
        """Prove again who you are, as fully as a sign-in does (ASVS V7.5.1): the password,
        with a code or a recovery code too when the account has a second factor, or a
        passkey's answer that verified the person. The same session goes on with a fresh
        `auth_time` (RFC 9470), a new access token and a new refresh token: the one it had
        is spent, as a rotation spends it (ASVS V7.2.4).

        Raises:
            FullAuthenticationRequired: one factor of an account with two; nothing checked.
            InvalidCredentials: a part is wrong.
            SessionEnded: the session ended meanwhile.
        """
        parts = self.parts
        user = parts.accounts.get(UserId(claims.subject))
        methods = parts.factors.methods(user.id)
        one_factor = password is None or (code is None and recovery_code is None)
        if methods and passkey is None and one_factor:
            # Refused before any check: it spends no code and tells nothing of the part sent.
            raise FullAuthenticationRequired(methods)
        amr = self._proof(
            user, password=password, code=code, recovery_code=recovery_code, passkey=passkey
        )
        if not amr:
            parts.audit.record(
                AuditEvent("reauthentication_failed", at=parts.clock(), user_id=user.id)
            )
            raise InvalidCredentials
        session_id, now = SessionId(claims.session_id), parts.clock()
        # `amr` keeps every method this session has proven (a session that began with two
        # factors keeps `mfa` after a password-only confirmation); `auth_time` is the latest.
        amr = tuple(dict.fromkeys((*claims.amr, *amr)))
        if not parts.store.reauthenticate_session(session_id, at=now, amr=amr):
            raise SessionEnded("the session has ended", session_id=session_id)
        refresh_token = parts.sessions.renew(session_id)
        session = parts.store.get_session(session_id)
        if refresh_token is None or session is None:
            raise SessionEnded("the session has ended", session_id=session_id)
        parts.audit.record(
            AuditEvent("reauthenticated", at=now, user_id=user.id, session_id=session_id)
        )
        return self._signed_in(
            user.id, user.email, session, refresh_token, email_verified=user.email_verified
        )

    def _proof(
        self,
        user: User,
        *,
        password: str | None,
        code: str | None,
        recovery_code: str | None,
        passkey: Mapping[str, object] | None,
    ) -> tuple[str, ...]:
        """The methods (`amr`) that every part sent proves; () when any part is wrong."""
        parts = self.parts
        if passkey is not None:
            return parts.passkeys.check_alone(user, passkey) or ()
        if password is None:
            return ()
        try:
            parts.passwords.verify(user.password_hash, password)
        except InvalidCredentials:
            return ()  # checked first: a wrong password spends no code
        if code is None and recovery_code is None:
            return ("pwd",)
        second = parts.factors.check_second_factor(user, code=code, recovery_code=recovery_code)
        return second or ()

    def mfa_subject(self, mfa_token: str) -> str:
        """Whose sign-in an mfa_token continues (the throttle's key), or the token itself."""
        return self.parts.factors.subject(mfa_token)

    def enrol_totp(self, user_id: UserId) -> Enrolment:
        """Raises: FactorExists."""
        return self.parts.factors.enrol_totp(self.user(user_id))

    def confirm_totp(self, user_id: UserId, code: str) -> list[str]:
        """Activate the authenticator app; the ten recovery codes. Raises: InvalidCode."""
        return self.parts.factors.confirm_totp(user_id, code)

    def remove_totp(self, user_id: UserId) -> None:
        """Raises: UnknownFactor."""
        self.parts.factors.remove_totp(user_id)

    def new_recovery_codes(self, user_id: UserId) -> list[str]:
        """Raises: UnknownFactor."""
        return self.parts.factors.new_recovery_codes(user_id)

    def second_factors(self, user_id: UserId) -> tuple[tuple[str, ...], int]:
        """The second factors the account has, and its unused recovery codes (`users mfa`)."""
        factors = self.parts.factors
        return factors.methods(user_id), factors.recovery_codes_left(user_id)

    def reset_second_factors(self, user_id: UserId) -> bool:
        """Remove every second factor (`users mfa-reset`); audited and mailed. False if none."""
        return self.parts.factors.reset(user_id)

    def _start(
        self, user: User, *, ip: str | None, user_agent: str | None, amr: tuple[str, ...]
    ) -> SignedIn:
        session, refresh_token = self.parts.sessions.start(
            user, ip=ip, user_agent=user_agent, amr=amr
        )
        return self._signed_in(
            user.id, user.email, session, refresh_token, email_verified=user.email_verified
        )

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

    # -- accounts by e-mail (DESIGN §8) ---------------------------------------

    def check_recent_sign_in(self, claims: AccessClaims) -> None:
        """Sensitive changes need a sign-in within AUTHGATE_REAUTH_MAX_AGE (RFC 9470).

        Raises:
            StaleAuthentication: carrying the max age to tell the client.
        """
        max_age = self.settings.reauth_max_age
        auth_time = claims.auth_time
        if auth_time is None or self.parts.clock() - auth_time > max_age:
            raise StaleAuthentication(int(max_age.total_seconds()))

    def request_verification(self, user_id: UserId) -> bool:
        """Mail a new verification link unless the address is verified; True when queued."""
        return self.parts.account_mail.request_verification(user_id)

    def request_verification_by_email(self, email: str) -> None:
        """The same for someone who cannot sign in yet; nothing for unknown addresses."""
        self.parts.account_mail.request_verification_by_email(email)

    def verify_email(self, token: str) -> UserId:
        """Raises: InvalidLink."""
        return self.parts.account_mail.verify(token)

    def check_address(self, email: str) -> None:
        """Raises InvalidEmail when `email` is not an address (its form only: no lookup)."""
        normalize_email(email)

    def forgot_password(self, email: str) -> None:
        """Mail a reset link if an enabled account has the address; nothing otherwise."""
        self.parts.account_mail.forgot(email)

    def reset_password(self, token: str, new_password: str) -> UserId:
        """Raises: InvalidLink, PasswordRejected."""
        return self.parts.account_mail.reset(token, new_password)

    def change_own_password(
        self,
        claims: AccessClaims,
        current_password: str,
        new_password: str,
        *,
        sign_out_others: bool,
    ) -> int:
        """Raises: InvalidCredentials, PasswordRejected. Returns the sessions ended."""
        return self.parts.account_mail.change_password(
            UserId(claims.subject),
            current_password,
            new_password,
            session=SessionId(claims.session_id),
            sign_out_others=sign_out_others,
        )

    def request_email_change(self, user_id: UserId, new_email: str) -> None:
        """Raises: InvalidEmail, EmailTaken."""
        self.parts.account_mail.request_email_change(user_id, new_email)

    def confirm_email_change(self, token: str) -> UserId:
        """Raises: InvalidLink, EmailTaken."""
        return self.parts.account_mail.confirm_email_change(token)

    def revert_email_change(self, token: str) -> UserId:
        """Raises: InvalidLink, EmailTaken."""
        return self.parts.account_mail.revert_email(token)

    def delete_account(self, user_id: UserId) -> None:
        """Raises: UnknownUser."""
        self.parts.account_mail.delete_account(user_id)

    def mark_verified(self, user_id: UserId) -> None:
        """An operator vouches for the address (`authgate users verify`)."""
        self.parts.store.set_email_verified(user_id, at=self.parts.clock())
        self.parts.audit.record(
            AuditEvent("email_verified_by_operator", at=self.parts.clock(), user_id=user_id)
        )

    def reset_link(self, user_id: UserId) -> str:
        """A one-time reset link for a support desk (`authgate users reset-link`); audited."""
        return self.parts.account_mail.reset_link(self.user(user_id))

    # -- the outbox -----------------------------------------------------------

    def outbox(self, *, state: MailState | None = None, limit: int = 50) -> Sequence[Envelope]:
        """The newest mail first, of one state or all."""
        return self.parts.outbox.list(state=state, limit=limit)

    def find_mail(self, id_or_prefix: str) -> Envelope:
        """One envelope by its id or an unambiguous prefix. Raises: UnknownMail."""
        found = self.parts.outbox.find(id_or_prefix) if id_or_prefix else []
        if not found:
            raise UnknownMail(f"no message in the outbox has an id starting with {id_or_prefix!r}")
        if len(found) > 1:
            raise UnknownMail(f"more than one message's id starts with {id_or_prefix!r}")
        return found[0]

    def open_mail(self, envelope: Envelope) -> Letter | None:
        """The letter in an envelope; None once delivered (its body is erased then)."""
        kek = self.settings.key_encryption_key
        return unpack(envelope, key_encryption_key=kek.reveal() if kek else None)

    def retry_mail(self, envelope_id: str) -> bool:
        """Send a dead or waiting message again, from now; False if it cannot be."""
        retried = self.parts.outbox.retry(envelope_id, now=self.parts.clock())
        if retried:
            self.parts.audit.record(
                AuditEvent("mail_retried", at=self.parts.clock(), detail={"mail": envelope_id})
            )
        return retried

    # -- passkeys (DESIGN §9) --------------------------------------------------

    def passkey_registration_options(self, user_id: UserId) -> dict[str, object]:
        """Options for `navigator.credentials.create()`, with a challenge of this account's."""
        return self.parts.passkeys.registration_options(self.user(user_id))

    def register_passkey(
        self, user_id: UserId, credential: Mapping[str, object], *, name: str
    ) -> StoredPasskey:
        """Raises: InvalidPasskey."""
        return self.parts.passkeys.register(self.user(user_id), credential, name=name)

    def passkeys(self, user_id: UserId) -> Sequence[StoredPasskey]:
        return self.parts.passkeys.of(user_id)

    def rename_passkey(self, user_id: UserId, passkey_id: str, name: str) -> StoredPasskey:
        """Raises: UnknownPasskey."""
        return self.parts.passkeys.rename(user_id, passkey_id, name)

    def remove_passkey(self, user_id: UserId, passkey_id: str) -> None:
        """Raises: UnknownPasskey."""
        self.parts.passkeys.remove(user_id, passkey_id)

    def passkey_sign_in_options(self) -> dict[str, object]:
        """Options for `navigator.credentials.get()` naming no account (discoverable)."""
        return self.parts.passkeys.authentication_options()

    def sign_in_passkey(
        self,
        credential: Mapping[str, object],
        *,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> SignedIn:
        """A passwordless sign-in with a passkey that verified the person.

        Raises: InvalidCredentials; EmailNotVerified (AUTHGATE_REQUIRE_VERIFIED_EMAIL).
        """
        parts = self.parts
        try:
            user, amr = parts.passkeys.sign_in(credential)
        except InvalidCredentials as exc:
            # Why goes to the audit log only: every refusal answers the same.
            reason = {"method": "passkey", "reason": exc.detail}
            parts.audit.record(AuditEvent("sign_in_failed", at=parts.clock(), ip=ip, detail=reason))
            raise InvalidCredentials("the passkey could not be verified") from None
        if self.settings.require_verified_email and not user.email_verified:
            raise EmailNotVerified
        return self._start(user, ip=ip, user_agent=user_agent, amr=amr)

    def sign_in_mfa_passkey(
        self,
        mfa_token: str,
        credential: Mapping[str, object],
        *,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> SignedIn:
        """Finish a sign-in that answered `mfa_required` with a passkey of that account.

        Raises: InvalidMfaToken; InvalidCredentials (not a passkey of the account's).
        """
        user, amr = self.parts.factors.complete(mfa_token, passkey=credential)
        return self._start(user, ip=ip, user_agent=user_agent, amr=amr)

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
        return self._signed_in(
            session.user_id,
            record.user_email,
            session,
            successor,
            email_verified=record.user_email_verified,
        )

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

    def sign_out_user(self, user_id: UserId) -> int:
        """An operator ends every session of a user (`authgate users sign-out`), audited;
        running servers refuse its access tokens within a second. Returns how many ended."""
        return self.parts.sessions.end_all(user_id, reason="signed_out_by_operator")

    def end_all_sessions(self) -> int:
        """An operator ends every live session of every user (`authgate sessions end-all`),
        audited; running servers refuse their access tokens within a second. Returns how
        many ended."""
        return self.parts.sessions.end_everyones(reason="all_sessions_ended")

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

    def _signed_in(
        self,
        user_id: UserId,
        email: str,
        session: Session,
        refresh: str,
        *,
        email_verified: bool,
    ) -> SignedIn:
        ttl = self.settings.access_token_ttl
        token, claims = issue_access_token(
            subject=user_id,
            email=email,
            email_verified=email_verified,
            auth_time=session.auth_time,
            amr=session.amr,
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

"""Second factors (DESIGN §9): an authenticator app (TOTP) with recovery codes, and the
second step of a sign-in that needs one.

When an account has a confirmed factor, a right password yields no session but a
challenge: an opaque `mfa_token`, single use, valid 5 minutes, bound to the password it
followed (a password change voids it), worth nothing anywhere else. `complete` trades it
and a code for the user and the methods used (`amr`, RFC 8176).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from authgate.core import totp
from authgate.core.clock import Clock
from authgate.core.keys import seal, unseal
from authgate.core.store import AuditEvent, AuditLog, User, UserId, UserStore
from authgate.core.users import email_key
from authgate.errors import (
    ConfigurationError,
    FactorExists,
    InvalidCode,
    InvalidCredentials,
    InvalidMfaToken,
    UnknownFactor,
)

CHALLENGE_LIFETIME = timedelta(minutes=5)
MAX_CHALLENGE_FAILURES = 5  # wrong codes before an mfa_token is void (the throttle counts too)
MFA_TOKEN_LENGTH = 43  # token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class StoredTotp:
    user_id: UserId
    secret: bytes
    sealed: bool
    created_at: datetime
    confirmed_at: datetime | None
    last_step: int | None


@dataclass(frozen=True, slots=True)
class StoredChallenge:
    token_hash: str
    user_id: UserId
    password_version: str
    expires_at: datetime
    used_at: datetime | None
    failures: int


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What an authenticator app needs: the secret, as text, as a URI and as a QR code."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class PasskeyFactor(Protocol):
    """Passkeys as a second factor (core/passkeys.py's Passkeys)."""

    def registered(self, user_id: UserId) -> bool: ...
    def check(self, user: User, credential: Mapping[str, object]) -> tuple[str, ...] | None: ...
    def remove_all(self, user_id: UserId) -> int: ...


class FactorStore(Protocol):
    def totp(self, user_id: UserId) -> StoredTotp | None: ...
    def begin_totp(
        self, user_id: UserId, secret: bytes, *, sealed: bool, now: datetime
    ) -> bool: ...
    def confirm_totp(
        self, user_id: UserId, *, step: int, now: datetime, code_hashes: Sequence[str]
    ) -> bool: ...
    def use_step(self, user_id: UserId, step: int) -> bool: ...
    def remove_totp(self, user_id: UserId) -> bool: ...
    def replace_recovery_codes(
        self, user_id: UserId, code_hashes: Sequence[str], *, now: datetime
    ) -> None: ...
    def use_recovery_code(self, user_id: UserId, code_hash: str, *, now: datetime) -> bool: ...
    def recovery_codes_left(self, user_id: UserId) -> int: ...
    def add_challenge(
        self,
        token_hash: str,
        user_id: UserId,
        *,
        password_version: str,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...
    def challenge(self, token_hash: str) -> StoredChallenge | None: ...
    def spend_challenge(self, token_hash: str, *, now: datetime, max_failures: int) -> bool: ...
    def count_failure(self, token_hash: str) -> None: ...
    def forget_challenges(self, *, expired_before: datetime) -> int: ...


def password_version(password_hash: str) -> str:
    """Which password a challenge followed, without keeping a second copy of its hash."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class SecondFactors:
    """Enrol, confirm and remove an authenticator app; recovery codes; the MFA sign-in step."""

    def __init__(
        self,
        store: FactorStore,
        users: UserStore,
        *,
        issuer_name: str,
        recovery_key: Callable[[], bytes],
        key_encryption_key: str | None,
        clock: Clock,
        audit: AuditLog,
        notify: Callable[[User, str], None],
        passkeys: PasskeyFactor | None = None,
        totp_drift_steps: int = 0,
    ) -> None:
        """`recovery_key()` is the server key recovery codes are hashed under; `notify(user,
        what)` mails the account a security notice; `passkeys`, when given, count as a
        second factor too; `totp_drift_steps` is how many 30-second steps either side of
        the current one an app's code may be from (AUTHGATE_TOTP_DRIFT_STEPS)."""
        self.store = store
        self.users = users
        self.issuer_name = issuer_name
        self._recovery_key = recovery_key
        self._kek = key_encryption_key
        self.clock = clock
        self.audit = audit
        self._notify = notify
        self.passkeys = passkeys
        self.totp_drift_steps = totp_drift_steps

    def recovery_codes_left(self, user_id: UserId) -> int:
        return self.store.recovery_codes_left(user_id)

    def methods(self, user_id: UserId) -> tuple[str, ...]:
        """The second factors a sign-in of this account must complete with; () for none."""
        found = self.store.totp(user_id)
        methods: tuple[str, ...] = ("totp", "recovery_code") if found and found.confirmed_at else ()
        if self.passkeys is not None and self.passkeys.registered(user_id):
            methods += ("passkey",)
        return methods

    # -- the authenticator app ------------------------------------------------

    def enrol_totp(self, user: User) -> Enrolment:
        """Start enrolment: a new secret, active once a code from it is confirmed.

        Raises:
            FactorExists: an authenticator app is set up already.
        """
        secret = totp.new_secret()
        stored = seal(secret.encode(), self._kek) if self._kek else secret.encode()
        if not self.store.begin_totp(
            user.id, stored, sealed=self._kek is not None, now=self.clock()
        ):
            raise FactorExists
        uri = totp.provisioning_uri(secret, account=user.email, issuer=self.issuer_name)
        return Enrolment(secret, uri, totp.qr_svg(uri))

    def confirm_totp(self, user_id: UserId, code: str) -> list[str]:
        """Activate the app with a code it shows; return the ten recovery codes, shown once.

        Raises:
            InvalidCode: no enrolment under way, or not its code now.
        """
        found = self.store.totp(user_id)
        if found is None or found.confirmed_at is not None:
            raise InvalidCode("no authenticator app is waiting for confirmation")
        step = self._matching_step(found, code, after=None)
        if step is None:
            raise InvalidCode
        codes = totp.new_recovery_codes()
        hashes = [totp.hash_recovery_code(c, key=self._recovery_key()) for c in codes]
        if not self.store.confirm_totp(user_id, step=step, now=self.clock(), code_hashes=hashes):
            raise InvalidCode("no authenticator app is waiting for confirmation")
        self._changed(user_id, "second_factor_added", "an authenticator app was set up")
        return codes

    def remove_totp(self, user_id: UserId) -> None:
        """Raises: UnknownFactor."""
        if not self.store.remove_totp(user_id):
            raise UnknownFactor
        self._changed(user_id, "second_factor_removed", "the authenticator app was removed")

    def reset(self, user_id: UserId) -> bool:
        """Remove every second factor (a support desk's `users mfa-reset`); False if none."""
        removed = self.store.remove_totp(user_id)
        if self.passkeys is not None and self.passkeys.remove_all(user_id):
            removed = True
        if not removed:
            return False
        self._changed(
            user_id, "second_factors_reset", "every second factor was removed by an operator"
        )
        return True

    def new_recovery_codes(self, user_id: UserId) -> list[str]:
        """A new set of ten; the old set stops working. Raises: UnknownFactor (no app)."""
        if "totp" not in self.methods(user_id):
            raise UnknownFactor
        codes = totp.new_recovery_codes()
        hashes = [totp.hash_recovery_code(c, key=self._recovery_key()) for c in codes]
        self.store.replace_recovery_codes(user_id, hashes, now=self.clock())
        self._record("recovery_codes_replaced", user_id)
        return codes

    # -- the second step of a sign-in ----------------------------------------

    def challenge(self, user: User) -> str:
        """The mfa_token for a sign-in whose password was right."""
        token, now = secrets.token_urlsafe(32), self.clock()
        self.store.add_challenge(
            _hash_token(token),
            user.id,
            password_version=password_version(user.password_hash),
            now=now,
            expires_at=now + CHALLENGE_LIFETIME,
        )
        return token

    def forget_challenges(self) -> int:
        """Delete the mfa_tokens past their lifetime, spent or not; return how many (the
        periodic poll in wiring.py runs this)."""
        return self.store.forget_challenges(expired_before=self.clock())

    def subject(self, mfa_token: str) -> str:
        """The user an mfa_token belongs to (for throttling), or the token's hash if none."""
        token_hash = _hash_token(mfa_token) if mfa_token.isascii() else "-"
        found = self.store.challenge(token_hash) if len(mfa_token) == MFA_TOKEN_LENGTH else None
        user = self.users.user_by_id(found.user_id) if found else None
        # The key failed sign-ins of the account are counted under: one limit for both steps.
        return email_key(user.email) if user else f"mfa:{token_hash}"

    def complete(
        self,
        mfa_token: str,
        *,
        code: str | None = None,
        recovery_code: str | None = None,
        passkey: Mapping[str, object] | None = None,
    ) -> tuple[User, tuple[str, ...]]:
        """Trade an mfa_token and a code (or a passkey's answer to a challenge of
        core/passkeys.py) for the user and how they signed in (`amr`).

        Raises:
            InvalidMfaToken: unknown, used, expired, failed too often, or its password changed.
            InvalidCredentials: the code is wrong (counted against the token).
        """
        now = self.clock()
        if len(mfa_token) != MFA_TOKEN_LENGTH or not mfa_token.isascii():
            raise InvalidMfaToken
        token_hash = _hash_token(mfa_token)
        found = self.store.challenge(token_hash)
        if (
            found is None
            or found.used_at is not None
            or found.expires_at <= now
            or found.failures >= MAX_CHALLENGE_FAILURES
        ):
            raise InvalidMfaToken
        user = self.users.user_by_id(found.user_id)
        if (
            user is None
            or user.disabled_at is not None
            or password_version(user.password_hash) != found.password_version
        ):
            raise InvalidMfaToken
        if passkey is not None:
            amr = self._check_passkey(user, passkey)
        else:
            amr = self._check_code(user, code=code, recovery_code=recovery_code)
        if amr is None:
            self.store.count_failure(token_hash)
            self._record("mfa_failed", user.id)
            raise InvalidCredentials(
                "the code is not valid" if passkey is None else "the passkey could not be verified"
            )
        if not self.store.spend_challenge(token_hash, now=now, max_failures=MAX_CHALLENGE_FAILURES):
            raise InvalidMfaToken
        return user, amr

    def check_second_factor(
        self, user: User, *, code: str | None, recovery_code: str | None
    ) -> tuple[str, ...] | None:
        """A current, unused code of the user's authenticator app, or one of its recovery
        codes (then used up, as at a sign-in): the `amr` of a sign-in with the password and
        it, else None. The caller has checked the password."""
        return self._check_code(user, code=code, recovery_code=recovery_code)

    def _check_code(
        self, user: User, *, code: str | None, recovery_code: str | None
    ) -> tuple[str, ...] | None:
        factor = self.store.totp(user.id)
        if factor is None or factor.confirmed_at is None:
            return None
        if code is not None:
            step = self._matching_step(factor, code, after=factor.last_step)
            if step is None or not self.store.use_step(user.id, step):
                return None  # wrong, or replayed inside its window
            return ("pwd", "otp", "mfa")
        if recovery_code is not None:
            hashed = totp.hash_recovery_code(recovery_code, key=self._recovery_key())
            if not self.store.use_recovery_code(user.id, hashed, now=self.clock()):
                return None
            left = self.store.recovery_codes_left(user.id)
            self._changed(
                user.id,
                "recovery_code_used",
                f"a recovery code was used to sign in ({left} left)",
            )
            return ("pwd", "otp", "mfa")
        return None

    def _check_passkey(
        self, user: User, credential: Mapping[str, object]
    ) -> tuple[str, ...] | None:
        if self.passkeys is None:
            return None
        key = self.passkeys.check(user, credential)
        return None if key is None else ("pwd", *key, "mfa")

    def _matching_step(self, factor: StoredTotp, code: str, *, after: int | None) -> int | None:
        """The step of `code` within the configured window: every check of a code (enrolment,
        sign-in, reauthentication) goes through here, so all accept the same codes."""
        return totp.matching_step(
            self._secret(factor),
            code,
            now=self.clock(),
            after=after,
            drift_steps=self.totp_drift_steps,
        )

    def _secret(self, factor: StoredTotp) -> str:
        if not factor.sealed:
            return factor.secret.decode()
        if self._kek is None:
            raise ConfigurationError(
                "TOTP secrets are sealed with AUTHGATE_KEY_ENCRYPTION_KEY, which is not set"
            )
        return unseal(factor.secret, self._kek).decode()

    def _changed(self, user_id: UserId, kind: str, what: str) -> None:
        self._record(kind, user_id)
        user = self.users.user_by_id(user_id)
        if user is not None:
            self._notify(user, what)

    def _record(self, kind: str, user_id: UserId) -> None:
        self.audit.record(AuditEvent(kind, at=self.clock(), user_id=user_id))

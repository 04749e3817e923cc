"""User accounts: sign-up, sign-in, disable, password change."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

from email_validator import EmailNotValidError, validate_email

from authgate.core.clock import Clock
from authgate.core.passwords import Passwords
from authgate.core.store import AuditEvent, AuditLog, Mailing, NoAudit, User, UserId, UserStore
from authgate.errors import InvalidCredentials, InvalidEmail, UnknownUser

MAX_EMAIL_LENGTH = 254  # RFC 5321 §4.5.3.1.3, as a path
MAX_LOCAL_PART_LENGTH = 64  # RFC 5321 §4.5.3.1.1


def normalize_email(email: str) -> str:
    """Validate an address and return its normalised form (domain lowercased, IDNA).

    Raises:
        InvalidEmail: with the validator's explanation.
    """
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidEmail("the e-mail address is too long")
    try:
        address = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"the e-mail address is not valid: {exc}") from None
    except UnicodeError:
        raise InvalidEmail("the e-mail address contains invalid characters") from None
    if len(address.local_part) > MAX_LOCAL_PART_LENGTH:
        raise InvalidEmail("the part of the e-mail address before the @ is too long")
    return address.normalized


def email_key(email: str) -> str:
    """The form e-mails are compared in: case-insensitive, as people expect."""
    return email.lower()


class Accounts:
    """Creates users and checks their passwords."""

    def __init__(
        self,
        store: UserStore,
        passwords: Passwords,
        *,
        clock: Clock,
        audit: AuditLog | None = None,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.store = store
        self.passwords = passwords
        self.clock = clock
        self.audit = audit or NoAudit()
        self._new_id = new_id

    def sign_up(
        self,
        email: str,
        password: str,
        *,
        ip: str | None = None,
        welcome: Callable[[User], Mailing] | None = None,
    ) -> User:
        """Create a user; `welcome` gives the mail stored with it (the verification link).

        Raises:
            InvalidEmail: the address does not validate.
            PasswordRejected: the password breaks the policy.
            EmailTaken: a user has this e-mail already, in any letter case.
        """
        address = normalize_email(email)
        self.passwords.check_policy(password, email=address)
        return self.add(address, self.passwords.hash(password), ip=ip, welcome=welcome)

    def add(
        self,
        email: str,
        password_hash: str,
        *,
        ip: str | None = None,
        welcome: Callable[[User], Mailing] | None = None,
    ) -> User:
        """Store a user whose password is already hashed (sign-up, imports, the CLI).

        Raises:
            EmailTaken: a user has this e-mail already, in any letter case.
        """
        user = User(
            id=UserId(self._new_id()),
            email=email,
            password_hash=password_hash,
            created_at=self.clock(),
        )
        if welcome is None:
            self.store.add_user(user)
        else:
            self.store.add_user(user, mailing=welcome(user))
        self.audit.record(AuditEvent("sign_up", at=user.created_at, user_id=user.id, ip=ip))
        return user

    def sign_in(self, email: str, password: str, *, ip: str | None = None) -> User:
        """Return the user these credentials belong to, with the password hash now stored.

        Raises:
            InvalidCredentials: for an unknown e-mail, a wrong password and a disabled
                user alike, after the same amount of hashing work.
        """
        user = self._find(email)
        try:
            if user is None:
                self.passwords.verify_dummy(password)
            self.passwords.verify(user.password_hash, password)
            if user.disabled_at is not None:
                raise InvalidCredentials
        except InvalidCredentials:
            # Recorded for unknown e-mails too, so both failures do the same work.
            user_id = user.id if user else None
            self.audit.record(AuditEvent("sign_in_failed", at=self.clock(), user_id=user_id, ip=ip))
            raise
        if self.passwords.needs_rehash(user.password_hash, password):
            rehashed = self.passwords.hash(password)
            # Only over the hash just checked: a password set meanwhile must not be undone.
            if not self.store.replace_password_hash(user.id, user.password_hash, rehashed):
                raise InvalidCredentials
            user = dataclasses.replace(user, password_hash=rehashed)
            self.audit.record(AuditEvent("password_rehashed", at=self.clock(), user_id=user.id))
        return user

    def account_key(self, email: str) -> str:
        """The throttling key for an e-mail, whether or not an account exists."""
        try:
            return email_key(normalize_email(email))
        except InvalidEmail:
            return email_key(email)

    def get(self, user_id: UserId) -> User:
        """Raises: UnknownUser."""
        user = self.store.user_by_id(user_id)
        if user is None:
            raise UnknownUser
        return user

    def find(self, email: str) -> User:
        """Raises: UnknownUser."""
        user = self._find(email)
        if user is None:
            raise UnknownUser
        return user

    def disable(self, user_id: UserId) -> None:
        """Refuse the user's sign-ins and tokens from now on; its sessions end next (Service)."""
        now = self.clock()
        self.store.set_disabled(user_id, at=now)
        self.store.set_valid_after(user_id, now)
        self.audit.record(AuditEvent("user_disabled", at=now, user_id=user_id))

    def enable(self, user_id: UserId) -> None:
        """Let a disabled user sign in again (tokens from before the disable stay refused)."""
        now = self.clock()
        self.store.set_disabled(user_id, at=None)
        self.audit.record(AuditEvent("user_enabled", at=now, user_id=user_id))

    def change_password(self, user_id: UserId, new_password: str) -> None:
        """Set a new password and the user's valid-after instant.

        Sessions started before now can no longer refresh, and access tokens issued before
        this second are refused; Service.change_password also ends the sessions at once.

        Raises:
            PasswordRejected: the password breaks the policy.
        """
        user = self.store.user_by_id(user_id)
        self.passwords.check_policy(new_password, email=user.email if user else None)
        self.store.set_password_hash(user_id, self.passwords.hash(new_password))
        now = self.clock()
        self.store.set_valid_after(user_id, now)
        self.audit.record(AuditEvent("password_changed", at=now, user_id=user_id))

    def _find(self, email: str) -> User | None:
        try:
            address = normalize_email(email)
        except InvalidEmail:
            return None
        return self.store.user_by_email(address)

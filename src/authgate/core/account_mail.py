"""Accounts by e-mail (DESIGN §8): verify an address, reset a forgotten password, change
the password or the address, delete the account, and the security notices of each.

Every change is stored in one transaction with the links and letters it sends (`Mailing`).
Links carry 256 random bits and are kept as SHA-256 only; the store spends a link with a
conditional update, so two presses of one button change the account once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from authgate.core.clock import Clock
from authgate.core.letters import Envelope, Letter, Templates, pack
from authgate.core.links import (
    LINK_TOKEN_SHAPE,
    LinkToken,
    Purpose,
    hash_link_token,
    link_url,
    new_link_token,
)
from authgate.core.passwords import Passwords
from authgate.core.store import (
    AccountMailStore,
    AuditEvent,
    AuditLog,
    Mailing,
    SessionId,
    User,
    UserId,
    UserStore,
)
from authgate.core.users import email_key, normalize_email
from authgate.errors import EmailTaken, InvalidCredentials, InvalidEmail, InvalidLink, UnknownUser


@dataclass(frozen=True, slots=True)
class LinkLifetimes:
    verify_email: timedelta = timedelta(hours=24)
    reset_password: timedelta = timedelta(hours=1)
    change_email: timedelta = timedelta(hours=24)
    revert_email: timedelta = timedelta(days=7)

    def of(self, purpose: Purpose) -> timedelta:
        lifetime: timedelta = getattr(self, purpose.value)
        return lifetime


class Store(AccountMailStore, UserStore, Protocol):
    """What the flows need: the user reads and the account-mail writes."""


class AccountMail:
    """The flows of DESIGN §8 over a store, the password rules and the mail templates."""

    def __init__(
        self,
        store: Store,
        passwords: Passwords,
        *,
        templates: Templates,
        public_url: str,
        product: str = "authgate",
        lifetimes: LinkLifetimes = LinkLifetimes(),
        key_encryption_key: str | None = None,
        clock: Clock,
        audit: AuditLog,
        sessions_ended: Callable[[Sequence[SessionId], UserId | None], None],
        queued: Callable[[], None] = lambda: None,
    ) -> None:
        """`sessions_ended(ids, user)` refuses those sessions' access tokens at once (and
        every older token of `user` when given), here and in the other processes."""
        self.store = store
        self.passwords = passwords
        self.templates = templates
        self.public_url = public_url.rstrip("/")
        self.product = product
        self.lifetimes = lifetimes
        self._kek = key_encryption_key
        self.clock = clock
        self.audit = audit
        self._sessions_ended = sessions_ended
        self._queued = queued  # wakes this process's sender

    # -- verification -------------------------------------------------------

    def verification(self, user: User) -> Mailing:
        """The link and letter that ask a new account to confirm its address."""
        link, url = self._link(user.id, Purpose.VERIFY_EMAIL, user.email)
        return Mailing([link], [self._letter("verify_email", user.email, link=url, purpose=link)])

    def request_verification(self, user_id: UserId) -> bool:
        """Mail a new verification link unless the address is verified; True when sent."""
        user = self.store.user_by_id(user_id)
        if user is None:
            raise UnknownUser
        if user.email_verified:
            return False
        self.store.add_mailing(self.verification(user))
        self._queued()
        return True

    def request_verification_by_email(self, email: str) -> None:
        """The same for someone who cannot sign in yet; silent about unknown addresses."""
        user = self._find(email)
        if user is not None and user.disabled_at is None and not user.email_verified:
            self.store.add_mailing(self.verification(user))
            self._queued()

    def verify(self, token: str) -> UserId:
        """Raises: InvalidLink."""
        user_id = self.store.verify_email(self._hash(token), now=self.clock())
        if user_id is None:
            raise InvalidLink
        self._record("email_verified", user_id)
        return user_id

    # -- passwords ----------------------------------------------------------

    def forgot(self, email: str) -> None:
        """Mail a reset link if an enabled account has this address; nothing otherwise.

        The caller answers the same either way, before this runs (web/routes/recovery.py).
        """
        user = self._find(email)
        if user is None or user.disabled_at is not None:
            return
        link, url = self._link(user.id, Purpose.RESET_PASSWORD, user.email)
        letter = self._letter("reset_password", user.email, link=url, purpose=link)
        self.store.add_mailing(Mailing([link], [letter]))
        self._queued()
        self._record("password_reset_requested", user.id)

    def check_link(self, token: str, purpose: Purpose) -> LinkToken:
        """The stored link, if it can still be used for `purpose`. Raises: InvalidLink."""
        link = self.store.find_link(self._hash(token))
        if link is None or not link.usable(purpose, now=self.clock()):
            raise InvalidLink
        return link

    def reset(self, token: str, new_password: str) -> UserId:
        """Set a new password from a reset link and end every session.

        Raises:
            InvalidLink: not a usable reset link (checked before the password).
            PasswordRejected: the link stays usable for another try.
        """
        link = self.check_link(token, Purpose.RESET_PASSWORD)
        user = self.store.user_by_id(link.user_id)
        if user is None:
            raise InvalidLink
        self.passwords.check_policy(new_password, email=user.email)
        password_hash = self.passwords.hash(new_password)
        now = self.clock()
        notice = self._password_notice(user.email, how="reset with a link sent by mail", now=now)
        ended = self.store.reset_password(
            link.token_hash, password_hash, now=now, mailing=Mailing((), [notice])
        )
        if ended is None:
            raise InvalidLink
        self._queued()
        self._sessions_ended(ended, user.id)
        self._record("password_reset", user.id)
        return user.id

    def change_password(
        self,
        user_id: UserId,
        current: str,
        new: str,
        *,
        session: SessionId | None,
        sign_out_others: bool,
    ) -> int:
        """Change the password of a signed-in user who knows the current one.

        Returns how many other sessions ended.

        Raises:
            InvalidCredentials: the current password is wrong.
            PasswordRejected: the new one breaks the policy.
        """
        user = self.store.user_by_id(user_id)
        if user is None:
            raise InvalidCredentials
        self.passwords.verify(user.password_hash, current)
        self.passwords.check_policy(new, email=user.email)
        password_hash = self.passwords.hash(new)
        now = self.clock()
        notice = self._password_notice(user.email, how="changed", now=now)
        ended = self.store.change_password(
            user_id,
            password_hash,
            now=now,
            keep=session,
            end_others=sign_out_others,
            mailing=Mailing((), [notice]),
        )
        self._queued()
        self._sessions_ended(ended, None)
        self._record("password_changed", user_id, session_id=session)
        return len(ended)

    # -- the address --------------------------------------------------------

    def request_email_change(self, user_id: UserId, new_email: str) -> None:
        """Mail a confirmation link to the new address and a notice to the current one.

        Raises:
            InvalidEmail: the new address does not validate, or is the current one.
            EmailTaken: another account has it.
        """
        address = normalize_email(new_email)
        user = self.store.user_by_id(user_id)
        if user is None:
            raise UnknownUser
        if email_key(address) == email_key(user.email):
            raise InvalidEmail("that is the account's address already")
        if self.store.user_by_email(address) is not None:
            raise EmailTaken
        confirm, confirm_url = self._link(user_id, Purpose.CHANGE_EMAIL, address)
        revert, revert_url = self._link(user_id, Purpose.REVERT_EMAIL, user.email)
        letters = [
            self._letter(
                "confirm_email_change",
                address,
                link=confirm_url,
                purpose=confirm,
                old_email=user.email,
            ),
            self._letter(
                "email_change_requested",
                user.email,
                link=revert_url,
                purpose=revert,
                new_email=address,
            ),
        ]
        self.store.add_mailing(Mailing([confirm, revert], letters))
        self._queued()
        self._record("email_change_requested", user_id)

    def confirm_email_change(self, token: str) -> UserId:
        """Switch to the confirmed address; tell both addresses.

        Raises:
            InvalidLink: not a usable confirmation link.
            EmailTaken: another account took the address meanwhile.
        """
        link = self.check_link(token, Purpose.CHANGE_EMAIL)
        user = self.store.user_by_id(link.user_id)
        if user is None:
            raise InvalidLink
        old = user.email
        revert, revert_url = self._link(user.id, Purpose.REVERT_EMAIL, old)
        letters = [
            self._letter(
                "email_changed",
                old,
                link=revert_url,
                purpose=revert,
                old_email=old,
                new_email=link.email,
            ),
            self._letter("email_changed", link.email, link="", old_email=old, new_email=link.email),
        ]
        changed = self.store.change_email(
            link.token_hash, now=self.clock(), mailing=Mailing([revert], letters)
        )
        if changed is None:
            raise InvalidLink
        self._queued()
        self._record("email_changed", user.id)
        return user.id

    def revert_email(self, token: str) -> UserId:
        """Undo an address change ("this wasn't me").

        Puts the old address back, signs everyone out, and mails that address a reset
        link: the password is unusable until then, since whoever changed the address may
        know it.

        Raises:
            InvalidLink: not a usable revert link.
            EmailTaken: another account has the old address now.
        """
        link = self.check_link(token, Purpose.REVERT_EMAIL)
        reset, reset_url = self._link(link.user_id, Purpose.RESET_PASSWORD, link.email)
        letter = self._letter("reset_password", link.email, link=reset_url, purpose=reset)
        reverted = self.store.revert_email(
            link.token_hash, now=self.clock(), mailing=Mailing([reset], [letter])
        )
        if reverted is None:
            raise InvalidLink
        user_id, ended = reverted
        self._queued()
        self._sessions_ended(ended, user_id)
        self._record("email_change_reverted", user_id)
        return user_id

    def delete_account(self, user_id: UserId) -> None:
        """Delete the account and end every session; tell the address it is gone."""
        user = self.store.user_by_id(user_id)
        if user is None:
            raise UnknownUser
        now = self.clock()
        letter = self._letter("account_deleted", user.email, when=_when(now))
        ended = self.store.delete_user(user_id, now=now, mailing=Mailing((), [letter]))
        self._queued()
        self._sessions_ended(ended, user_id)
        self._record("account_deleted", user_id)

    def notify(self, user: User, what: str) -> None:
        """Mail the account a security notice: `what` happened (a factor added, removed…)."""
        now = self.clock()
        letter = self._letter("security_notice", user.email, what=what, when=_when(now))
        self.store.add_mailing(Mailing((), [letter]))
        self._queued()

    # -- the parts ----------------------------------------------------------

    def reset_link(self, user: User) -> str:
        """A one-time reset link for a support desk to hand over (`authgate users reset-link`)."""
        link, url = self._link(user.id, Purpose.RESET_PASSWORD, user.email)
        self.store.add_mailing(Mailing([link], []))
        self._record("reset_link_issued", user.id)
        return url

    def _link(self, user_id: UserId, purpose: Purpose, email: str) -> tuple[LinkToken, str]:
        token, now = new_link_token(), self.clock()
        link = LinkToken(
            token_hash=hash_link_token(token),
            user_id=user_id,
            purpose=purpose,
            email=email,
            created_at=now,
            expires_at=now + self.lifetimes.of(purpose),
        )
        return link, link_url(self.public_url, purpose, token)

    def _letter(
        self, kind: str, to: str, *, purpose: LinkToken | None = None, **context: object
    ) -> Envelope:
        values: Mapping[str, object] = {
            "product": self.product,
            "public_url": self.public_url,
            "expires": _duration(self.lifetimes.of(purpose.purpose)) if purpose else "",
            **context,
        }
        letter: Letter = self.templates.render(kind, to=to, context=values)
        return pack(letter, now=self.clock(), key_encryption_key=self._kek)

    def _password_notice(self, to: str, *, how: str, now: datetime) -> Envelope:
        forgot = f"{self.public_url}/#forgot-password"  # the account page's form
        return self._letter("password_changed", to, how=how, when=_when(now), forgot_url=forgot)

    def _find(self, email: str) -> User | None:
        try:
            return self.store.user_by_email(normalize_email(email))
        except InvalidEmail:
            return None

    def _hash(self, token: str) -> str:
        if not LINK_TOKEN_SHAPE.fullmatch(token):
            raise InvalidLink
        return hash_link_token(token)

    def _record(self, kind: str, user_id: UserId, *, session_id: SessionId | None = None) -> None:
        self.audit.record(AuditEvent(kind, at=self.clock(), user_id=user_id, session_id=session_id))


def _when(now: datetime) -> str:
    return now.strftime("%Y-%m-%d %H:%M UTC")


def _duration(lifetime: timedelta) -> str:
    seconds = int(lifetime.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"

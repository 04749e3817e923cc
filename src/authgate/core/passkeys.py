"""Passkeys (WebAuthn Level 3, verified by py_webauthn): register one while signed in, list,
rename and delete them, and sign in with one, passwordless or as the second factor after a
password.

Every ceremony answers a challenge of ours: 32 random bytes, kept server-side as their
SHA-256, single use, valid 5 minutes, for one purpose (and, to register, one account). The
relying-party id and the origins a browser may answer from are settings. Each use stores the
signature counter (one that does not go forward is a cloned authenticator's) and the backup
flags: backup eligibility is fixed when a credential is made, so a change is refused.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from authgate.core.clock import Clock
from authgate.core.store import AuditEvent, AuditLog, User, UserId, UserStore
from authgate.errors import InvalidCredentials, InvalidPasskey, UnknownPasskey

if TYPE_CHECKING:
    from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
    from webauthn.helpers.structs import AuthenticationCredential

CHALLENGE_LIFETIME = timedelta(minutes=5)
CHALLENGE_BYTES = 32
TIMEOUT_MS = 300_000  # what the browser is told: the challenge's own lifetime
MAX_CREDENTIAL_ID_BYTES = 1023  # WebAuthn L3 §5.8.3: longer ones are refused
NAME_LENGTH = 64
DEFAULT_NAME = "Passkey"
Purpose = Literal["register", "authenticate"]


@dataclass(frozen=True, slots=True)
class StoredPasskey:
    id: str
    user_id: UserId
    credential_id: str  # base64url, as browsers and the JSON forms of WebAuthn name it
    public_key: bytes  # COSE_Key
    sign_count: int
    transports: tuple[str, ...]
    backup_eligible: bool  # a synced passkey (BE flag): fixed for the credential's life
    backup_state: bool  # backed up now (BS flag): may change
    name: str
    aaguid: str
    created_at: datetime
    last_used_at: datetime | None


class PasskeyStore(Protocol):
    def add_challenge(
        self,
        challenge_hash: str,
        *,
        purpose: Purpose,
        user_id: UserId | None,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...
    def spend_challenge(
        self, challenge_hash: str, *, purpose: Purpose, user_id: UserId | None, now: datetime
    ) -> bool: ...
    def forget_challenges(self, *, expired_before: datetime) -> int: ...
    def add_passkey(self, passkey: StoredPasskey) -> bool: ...
    def passkeys(self, user_id: UserId) -> Sequence[StoredPasskey]: ...
    def has_passkey(self, user_id: UserId) -> bool: ...
    def passkey_by_credential(self, credential_id: str) -> StoredPasskey | None: ...
    def rename_passkey(
        self, user_id: UserId, passkey_id: str, name: str
    ) -> StoredPasskey | None: ...
    def remove_passkey(self, user_id: UserId, passkey_id: str) -> bool: ...
    def remove_passkeys(self, user_id: UserId) -> int: ...
    def record_use(
        self,
        passkey_id: str,
        *,
        sign_count_before: int,
        sign_count: int,
        backup_state: bool,
        now: datetime,
    ) -> bool: ...


def _hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


def _name(name: str) -> str:
    cleaned = "".join(c for c in name if c.isprintable()).strip()[:NAME_LENGTH]
    return cleaned or DEFAULT_NAME


def key_method(passkey: StoredPasskey) -> str:
    """RFC 8176 §2: `swk` for a synced passkey, whose key lives in software that copies it
    between devices; `hwk` for one bound to its device's hardware."""
    return "swk" if passkey.backup_eligible else "hwk"


class Passkeys:
    """The WebAuthn ceremonies of one relying party, and the passkeys they register."""

    def __init__(
        self,
        store: PasskeyStore,
        users: UserStore,
        *,
        rp_id: str,
        rp_name: str,
        origins: Sequence[str],
        clock: Clock,
        audit: AuditLog,
        notify: Callable[[User, str], None],
    ) -> None:
        """`origins`: where browsers may answer from (scheme://host[:port]); `notify(user,
        what)` mails the account a security notice."""
        self.store = store
        self.users = users
        self.rp_id = rp_id
        self.rp_name = rp_name
        self.origins = list(origins)
        self.clock = clock
        self.audit = audit
        self._notify = notify

    # -- registering and managing ---------------------------------------------

    def registration_options(self, user: User) -> dict[str, object]:
        """The options for `navigator.credentials.create()`, in WebAuthn's JSON form."""
        from webauthn import generate_registration_options, options_to_json
        from webauthn.helpers.structs import (
            AttestationConveyancePreference,
            AuthenticatorSelectionCriteria,
            PublicKeyCredentialDescriptor,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        challenge = self._challenge("register", user.id)
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self.rp_name,
            user_name=user.email,
            # The user handle: the account's id, which says nothing about the person.
            user_id=user.id.encode(),
            challenge=challenge,
            timeout=TIMEOUT_MS,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                # Discoverable, so that it can sign in with no e-mail typed, and verifying
                # the person (PIN or biometrics), so that it is a factor of its own.
                resident_key=ResidentKeyRequirement.REQUIRED,
                require_resident_key=True,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=_bytes(p.credential_id))
                for p in self.store.passkeys(user.id)
            ],
        )
        return _json(options_to_json(options))

    def register(self, user: User, credential: Mapping[str, object], *, name: str) -> StoredPasskey:
        """Verify what `navigator.credentials.create()` answered and keep the passkey.

        Raises:
            InvalidPasskey: malformed, not for our challenge (unknown, used, expired, another
                account's), origin or RP id, no user verification, or registered already.
        """
        from webauthn import verify_registration_response
        from webauthn.helpers import parse_client_data_json, parse_registration_credential_json
        from webauthn.helpers.structs import CredentialDeviceType

        now = self.clock()
        try:
            parsed = parse_registration_credential_json(dict(credential))
            client_data = parse_client_data_json(parsed.response.client_data_json)
        except Exception:  # hostile input fails in the parsers' many ways: all are refusals
            raise InvalidPasskey("the passkey's answer is malformed") from None
        challenge = client_data.challenge
        if not self.store.spend_challenge(
            _hash(challenge), purpose="register", user_id=user.id, now=now
        ):
            raise InvalidPasskey("the passkey answered an unknown, used or expired challenge")
        if client_data.cross_origin:  # made inside another site's frame
            raise InvalidPasskey("the passkey was made in a frame of another site")
        try:
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origins,
                require_user_verification=True,
            )
        except Exception as exc:  # the library's refusals, and what hostile CBOR raises
            self._record("passkey_refused", user.id, reason=_reason(exc))
            raise InvalidPasskey(f"the passkey does not verify: {_reason(exc)}") from None
        if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
            raise InvalidPasskey("the passkey's credential id is too long")
        passkey = StoredPasskey(
            id=str(uuid.uuid4()),
            user_id=user.id,
            credential_id=_base64url(verified.credential_id),
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=tuple(t.value for t in parsed.response.transports or ()),
            backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            backup_state=verified.credential_backed_up,
            name=_name(name),
            aaguid=verified.aaguid,
            created_at=now,
            last_used_at=None,
        )
        if not self.store.add_passkey(passkey):
            raise InvalidPasskey("this passkey is registered already")
        # The notice leaves the name out: whoever holds a session chooses it.
        self._changed(user.id, "passkey_added", "a passkey was added")
        return passkey

    def of(self, user_id: UserId) -> Sequence[StoredPasskey]:
        """The account's passkeys, oldest first."""
        return self.store.passkeys(user_id)

    def registered(self, user_id: UserId) -> bool:
        return self.store.has_passkey(user_id)

    def rename(self, user_id: UserId, passkey_id: str, name: str) -> StoredPasskey:
        """Raises: UnknownPasskey (none of this account's)."""
        renamed = self.store.rename_passkey(user_id, passkey_id, _name(name))
        if renamed is None:
            raise UnknownPasskey
        return renamed

    def remove(self, user_id: UserId, passkey_id: str) -> None:
        """Raises: UnknownPasskey (none of this account's)."""
        if not self.store.remove_passkey(user_id, passkey_id):
            raise UnknownPasskey
        self._changed(user_id, "passkey_removed", "a passkey was removed")

    def remove_all(self, user_id: UserId) -> int:
        """Delete every passkey of the account (a support desk's reset); how many there were."""
        return self.store.remove_passkeys(user_id)

    # -- signing in -----------------------------------------------------------

    def authentication_options(self) -> dict[str, object]:
        """Options for `navigator.credentials.get()` that name no account: the authenticator
        offers its discoverable credentials for our RP id, and must verify the person."""
        from webauthn import generate_authentication_options, options_to_json
        from webauthn.helpers.structs import UserVerificationRequirement

        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=self._challenge("authenticate", None),
            timeout=TIMEOUT_MS,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return _json(options_to_json(options))

    def sign_in(self, credential: Mapping[str, object]) -> tuple[User, tuple[str, ...]]:
        """A passwordless sign-in: the account whose passkey answered, and the `amr`.

        The authenticator must have verified the person (PIN or biometrics): with the key it
        holds, that makes two factors, so the `amr` says `mfa` (RFC 8176 §2) next to the key
        (`hwk` or `swk`) and `user`, the closest value RFC 8176 has for a check of the person
        that may have been either a PIN (`pin`) or a biometric (`fpt`, `face`).

        Raises:
            InvalidCredentials: for every reason alike (the detail says which).
        """
        passkey = self._verify(credential, owner=None, require_user_verification=True)
        user = self.users.user_by_id(passkey.user_id)
        if user is None or user.disabled_at is not None:
            raise InvalidCredentials("the passkey's account cannot sign in")
        return user, (key_method(passkey), "user", "mfa")

    def check(self, user: User, credential: Mapping[str, object]) -> tuple[str, ...] | None:
        """A passkey of `user` answered our challenge: its `amr` (`hwk` or `swk`), else None.

        For a second factor after a password: the person need not be verified by the
        authenticator here, possessing the key is the factor.
        """
        try:
            passkey = self._verify(credential, owner=user.id, require_user_verification=False)
        except InvalidCredentials:
            return None
        return (key_method(passkey),)

    def check_alone(self, user: User, credential: Mapping[str, object]) -> tuple[str, ...] | None:
        """A passkey of `user` that verified the person answered our challenge: the `amr` of
        a passwordless sign-in (`sign_in`), else None.

        For proving again who one is with the passkey alone (ASVS V7.5.1): as at a sign-in,
        the key and the verified person make the two factors.
        """
        try:
            passkey = self._verify(credential, owner=user.id, require_user_verification=True)
        except InvalidCredentials:
            return None
        return (key_method(passkey), "user", "mfa")

    def _verify(
        self,
        credential: Mapping[str, object],
        *,
        owner: UserId | None,
        require_user_verification: bool,
    ) -> StoredPasskey:
        """The passkey whose signature answers one of our challenges, its use recorded.

        Raises:
            InvalidCredentials: malformed, challenge unknown/used/expired, unknown passkey,
                another account's, bad signature, wrong origin or RP id, no user
                verification when required, counter not forward, backup eligibility changed.
        """
        from webauthn.helpers import parse_authentication_credential_json, parse_client_data_json
        from webauthn.helpers.structs import CredentialDeviceType

        now = self.clock()
        try:
            parsed = parse_authentication_credential_json(dict(credential))
            client_data = parse_client_data_json(parsed.response.client_data_json)
        except Exception:  # hostile input fails in the parsers' many ways: all are refusals
            raise InvalidCredentials("the passkey's answer is malformed") from None
        # Spent before anything else is checked: a challenge is good for one answer, right
        # or wrong, so a captured answer can never be played again.
        if not self.store.spend_challenge(
            _hash(client_data.challenge), purpose="authenticate", user_id=None, now=now
        ):
            raise InvalidCredentials("the passkey answered an unknown, used or expired challenge")
        if client_data.cross_origin:  # answered inside another site's frame
            raise InvalidCredentials("the passkey was used from a frame of another site")
        passkey = self.store.passkey_by_credential(_base64url(parsed.raw_id))
        if passkey is None or (owner is not None and passkey.user_id != owner):
            raise InvalidCredentials("the passkey is not registered to this account")
        handle = parsed.response.user_handle
        if handle is not None and handle != passkey.user_id.encode():
            raise InvalidCredentials("the passkey names another account")
        verified = self._check_signature(
            parsed, client_data.challenge, passkey, uv=require_user_verification
        )
        eligible = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
        if eligible != passkey.backup_eligible:
            reason = "the passkey's backup eligibility changed"
            self._record("passkey_refused", passkey.user_id, reason=reason)
            raise InvalidCredentials(reason)
        if not self.store.record_use(
            passkey.id,
            sign_count_before=passkey.sign_count,
            sign_count=verified.new_sign_count,
            backup_state=verified.credential_backed_up,
            now=now,
        ):  # another use of the same count got there first
            raise InvalidCredentials("the passkey's signature counter did not go forward")
        return passkey

    def _check_signature(
        self,
        parsed: AuthenticationCredential,
        challenge: bytes,
        passkey: StoredPasskey,
        *,
        uv: bool,
    ) -> VerifiedAuthentication:
        from webauthn import verify_authentication_response

        try:
            return verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origins,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=uv,
            )
        except Exception as exc:  # the library's refusals, and what hostile data raises
            reason = f"the passkey's answer does not verify: {_reason(exc)}"
            self._record("passkey_refused", passkey.user_id, reason=reason)
            raise InvalidCredentials(reason) from None

    def forget_challenges(self) -> int:
        """Delete the challenges past their lifetime, answered or not; return how many.

        Anyone may ask for a challenge (the signed-out page does on every load), so the
        periodic poll (wiring.py) runs this to keep their table small.
        """
        return self.store.forget_challenges(expired_before=self.clock())

    # -- the parts ------------------------------------------------------------

    def _challenge(self, purpose: Purpose, user_id: UserId | None) -> bytes:
        challenge, now = secrets.token_bytes(CHALLENGE_BYTES), self.clock()
        self.store.add_challenge(
            _hash(challenge),
            purpose=purpose,
            user_id=user_id,
            now=now,
            expires_at=now + CHALLENGE_LIFETIME,
        )
        return challenge

    def _changed(self, user_id: UserId, kind: str, what: str) -> None:
        self._record(kind, user_id)
        user = self.users.user_by_id(user_id)
        if user is not None:
            self._notify(user, what)

    def _record(self, kind: str, user_id: UserId, *, reason: str | None = None) -> None:
        detail = {"reason": reason} if reason else None
        self.audit.record(AuditEvent(kind, at=self.clock(), user_id=user_id, detail=detail))


def _reason(exc: Exception) -> str:
    """The library's words for a refusal (they hold no secret), bounded for the audit log."""
    return (str(exc) or type(exc).__name__)[:200]


def _json(text: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(text)
    return loaded


def _base64url(raw: bytes) -> str:
    from webauthn.helpers import bytes_to_base64url

    return bytes_to_base64url(raw)


def _bytes(encoded: str) -> bytes:
    from webauthn import base64url_to_bytes

    return base64url_to_bytes(encoded)

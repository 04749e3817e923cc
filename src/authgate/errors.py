"""The whole authgate exception tree.

    AuthgateError                 root; never raised itself
    ├── InvalidToken              "invalid_token"         refuse this token
    │   ├── MalformedToken        wrong segments, bad base64 or JSON, wrong claim types
    │   ├── UntrustedToken        signature fails, unknown kid, algorithm not the key's
    │   ├── ExpiredToken          outside its time window, or a lifetime (exp - iat) too long
    │   ├── ForeignToken          issuer, audience or token type is not ours
    │   └── RevokedToken          its session ended or its user signed out everywhere
    ├── InvalidGrant              "invalid_grant"         refuse this refresh token
    │   ├── RefreshTokenReused    a rotated token came back; its session is now revoked
    │   └── SessionEnded          refresh token unknown, expired, revoked or signed out
    ├── NoCredentials             "unauthorized"          a guarded route got no Bearer token
    ├── StaleAuthentication       "insufficient_user_authentication"  sign in again first:
    │                             more recently (.max_age) or by other methods (.missing_amr)
    ├── InvalidCredentials        "invalid_credentials"   sign-in failed
    ├── EmailNotVerified          "email_not_verified"    sign-in refused until the address is
    ├── InvalidLink               "invalid_link"          a mailed link unknown, used, expired
    ├── MfaRequired               "mfa_required"          right password; now the second factor
    ├── FullAuthenticationRequired  "full_authentication_required"  re-authentication of an
    │                             account with a second factor sent one factor only
    ├── InvalidMfaToken           "invalid_mfa_token"     unknown, used, expired or another's
    ├── InvalidCode               "invalid_code"          a code that does not confirm enrolment
    ├── FactorExists              "already_enrolled"
    ├── EnrolmentRequired         "mfa_enrolment_required"  AUTHGATE_MFA=required, none set up
    ├── UnknownFactor             "not_found"             no such second factor
    ├── InvalidPasskey            "invalid_passkey"       a new passkey that does not verify
    ├── UnknownPasskey            "not_found"             no passkey of this account by that id
    ├── EmailTaken                "email_taken"
    ├── InvalidEmail              "invalid_email"
    ├── PasswordRejected          "password_rejected"     carries .reason
    ├── UnknownSession            "not_found"             no live session of this user by that id
    ├── UnknownUser               "not_found"
    ├── UnknownMail               "not_found"             no message in the outbox by that id
    ├── Throttled                 "too_many_requests"     carries .retry_after (seconds), .rule
    ├── Overloaded                "overloaded"            a queue full or Redis down; .retry_after
    └── ConfigurationError        bad settings or keys, found at startup

Callers need only `except InvalidToken` (or `InvalidGrant`); the subclasses serve logs,
metrics and tests. Context goes into attributes, never a password, a token or a key.
"""

from __future__ import annotations


class AuthgateError(Exception):
    """Root of every error authgate raises on purpose."""

    code = "error"
    message = "authentication error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)

    @property
    def detail(self) -> str:
        return str(self)


class InvalidToken(AuthgateError):
    """An access token that must be refused."""

    code = "invalid_token"
    message = "the access token is invalid"


class MalformedToken(InvalidToken):
    message = "the access token is malformed"


class UntrustedToken(InvalidToken):
    message = "the access token's signature or key is not trusted"


class ExpiredToken(InvalidToken):
    message = "the access token is outside its validity period"


class ForeignToken(InvalidToken):
    message = "the access token was not issued for this service"


class RevokedToken(InvalidToken):
    message = "the access token's session has ended"


class InvalidGrant(AuthgateError):
    """A refresh token that must be refused (RFC 6749 §5.2 `invalid_grant`)."""

    code = "invalid_grant"
    message = "the refresh token is invalid, expired or revoked"

    def __init__(self, message: str | None = None, *, session_id: str | None = None) -> None:
        super().__init__(message)
        self.session_id = session_id


class RefreshTokenReused(InvalidGrant):
    message = "the refresh token was already used; the session has been revoked"


class SessionEnded(InvalidGrant):
    pass


class NoCredentials(AuthgateError):
    """A guarded route was called without a Bearer token (RFC 6750 §3.1: no error code)."""

    code = "unauthorized"
    message = "this route needs a Bearer access token"


class StaleAuthentication(AuthgateError):
    """A route needs a stronger sign-in than the token's (RFC 9470 §3).

    `max_age` (seconds) is set when the sign-in is too old or its time unknown;
    `missing_amr` names the methods (RFC 8176 `amr` values) it should have used.
    """

    code = "insufficient_user_authentication"
    message = "this needs a recent sign-in; sign in again"

    def __init__(self, max_age: int | None = None, *, missing_amr: tuple[str, ...] = ()) -> None:
        if max_age is not None:
            super().__init__(
                f"this needs a sign-in within the last {max_age} seconds; sign in again"
            )
        elif missing_amr:
            super().__init__(
                f"this needs a sign-in with {' and '.join(missing_amr)}; sign in again with it"
            )
        else:
            super().__init__()
        self.max_age = max_age
        self.missing_amr = missing_amr


class EmailNotVerified(AuthgateError):
    """Sign-in refused (AUTHGATE_REQUIRE_VERIFIED_EMAIL) until the address is confirmed."""

    code = "email_not_verified"
    message = (
        "confirm your e-mail address with the link we sent first; "
        'POST /email/verify/request {"email": ...} sends a new one'
    )


class InvalidLink(AuthgateError):
    """A mailed link that is unknown, already used, expired, or meant for something else."""

    code = "invalid_link"
    message = "this link is invalid, already used or expired"


class MfaRequired(AuthgateError):
    """The password was right and the account has a second factor: finish at /sign-in/mfa.

    Carries the single-use `mfa_token` of this password step and the `methods` accepted.
    """

    code = "mfa_required"
    message = "this account has a second factor: POST /sign-in/mfa with the mfa_token"

    def __init__(self, mfa_token: str, methods: tuple[str, ...]) -> None:
        super().__init__()
        self.mfa_token = mfa_token
        self.methods = methods


class FullAuthenticationRequired(AuthgateError):
    """A re-authentication proved one factor of an account that has two (ASVS V7.5.1).

    Nothing was checked: send the password with a code or a recovery code, or a passkey's
    answer. Carries the account's second factors as `methods`, as MfaRequired does.
    """

    code = "full_authentication_required"
    message = (
        "this account has a second factor: send the password with a code (or a recovery "
        "code), or a passkey's answer"
    )

    def __init__(self, methods: tuple[str, ...]) -> None:
        super().__init__()
        self.methods = methods


class InvalidMfaToken(AuthgateError):
    code = "invalid_mfa_token"
    message = "the mfa_token is unknown, used or expired; sign in again"


class InvalidCode(AuthgateError):
    code = "invalid_code"
    message = "the code is not the one the authenticator shows now"


class EnrolmentRequired(AuthgateError):
    """AUTHGATE_MFA=required: a session without a second factor may only set one up."""

    code = "mfa_enrolment_required"
    message = (
        "this account must set up a second factor first (POST /mfa/totp), then sign in "
        "again with it"
    )


class FactorExists(AuthgateError):
    code = "already_enrolled"
    message = "an authenticator app is set up already; remove it first"


class UnknownFactor(AuthgateError):
    code = "not_found"
    message = "the account has no such second factor"


class InvalidPasskey(AuthgateError):
    """What `navigator.credentials.create()` answered does not register: malformed, for no
    challenge of ours (unknown, used, expired, another account's), from another origin or
    RP id, without user verification, or a passkey registered already."""

    code = "invalid_passkey"
    message = "the passkey could not be verified; try adding it again"


class UnknownPasskey(AuthgateError):
    code = "not_found"
    message = "the account has no passkey by that id"


class InvalidCredentials(AuthgateError):
    code = "invalid_credentials"
    message = "the e-mail or password is incorrect"


class EmailTaken(AuthgateError):
    code = "email_taken"
    message = "an account with this e-mail already exists"


class InvalidEmail(AuthgateError):
    code = "invalid_email"
    message = "the e-mail address is not valid"


class PasswordRejected(AuthgateError):
    """A new password that the policy refuses; `reason` says why in plain words."""

    code = "password_rejected"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownSession(AuthgateError):
    code = "not_found"
    message = "no such session"


class UnknownUser(AuthgateError):
    code = "not_found"
    message = "no such user"


class UnknownMail(AuthgateError):
    code = "not_found"
    message = "no such message in the outbox (or the id prefix is ambiguous)"


class Throttled(AuthgateError):
    """Too many attempts; try again after `retry_after` seconds. `rule` names the throttle
    that refused (for the log: the answer does not say)."""

    code = "too_many_requests"
    message = "too many requests; try again later"

    def __init__(self, retry_after: int, *, rule: str | None = None) -> None:
        super().__init__()
        self.retry_after = max(1, retry_after)
        self.rule = rule


class Overloaded(AuthgateError):
    """A queue is full or a shared service (Redis) is unreachable; retry in `retry_after` s."""

    code = "overloaded"
    message = "the service is busy; try again shortly"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__()
        self.retry_after = retry_after


class ConfigurationError(AuthgateError):
    """Bad settings or keys, found at startup."""

    code = "configuration_error"

"""Request and response shapes. Strict: a number is not a string, an unknown shape is a 422."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _no_surrogates(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must not contain unpaired surrogate characters") from None
    return value


Text = Annotated[str, AfterValidator(_no_surrogates)]


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Credentials(Body):
    # No length limits here: the 1 MiB body cap bounds them, and the core answers an
    # over-long e-mail as the contract says (422 at sign-up, 401 at sign-in).
    email: Annotated[Text, Field(examples=["ada@example.com"])]
    password: Annotated[Text, Field(examples=["a long, memorable passphrase"])]


class RefreshRequest(Body):
    """`refresh_token`, or `token` as the Node tutorial called it; neither: the cookie's."""

    refresh_token: Text | None = None
    token: Text | None = None

    @property
    def value(self) -> str | None:
        return self.refresh_token if self.refresh_token is not None else self.token


class SignOutRequest(Body):
    refresh_token: Text | None = None
    token: Text | None = None

    @property
    def value(self) -> str | None:
        return self.refresh_token if self.refresh_token is not None else self.token


class EmailIn(Body):
    email: Annotated[Text, Field(examples=["ada@example.com"])]


class VerifyRequest(Body):
    """Without a Bearer token (someone who cannot sign in yet): the address to verify."""

    email: Text | None = None


class LinkIn(Body):
    """The token of a link from a mail (the `token` query parameter of its page)."""

    token: Text


class ResetIn(Body):
    token: Text
    password: Annotated[Text, Field(examples=["a new, long passphrase"])]


class PasswordChangeIn(Body):
    current_password: Text
    new_password: Text
    sign_out_others: bool = Field(
        default=True, description="End every other session of the account (ASVS V7.4.3)."
    )


class EmailChangeIn(Body):
    new_email: Annotated[Text, Field(examples=["ada@example.org"])]


class MfaIn(Body):
    """The second step of a sign-in: the mfa_token, and a TOTP code, a recovery code or a
    passkey's answer (`navigator.credentials.get()` as JSON, to /passkeys/authenticate/options)."""

    mfa_token: Text
    code: Text | None = None
    recovery_code: Text | None = None
    passkey: dict[str, object] | None = None


class ReauthenticateIn(Body):
    """The password, with a code of the authenticator app or a recovery code when the
    account has a second factor; or a passkey's answer (to /passkeys/authenticate/options)
    alone."""

    password: Text | None = None
    code: Text | None = None
    recovery_code: Text | None = None
    passkey: dict[str, object] | None = None

    def sends_one_proof(self) -> bool:
        """Something to check, in one shape: a passkey alone, or at most one code."""
        codes = 2 - (self.code, self.recovery_code).count(None)
        if self.passkey is not None:
            return self.password is None and codes == 0
        return codes <= 1 and (self.password is not None or codes == 1)


class CodeIn(Body):
    code: Annotated[Text, Field(examples=["123456"])]


class EnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class FactorsOut(BaseModel):
    """The second factors an account has: an authenticator app, and unused recovery codes."""

    totp: bool
    recovery_codes_left: int


PasskeyName = Annotated[Text, Field(min_length=1, max_length=64, examples=["Laptop"])]
WebAuthnCredential = Annotated[
    dict[str, object],
    Field(
        description="What the browser's `navigator.credentials.create()` or `.get()` answered, "
        "as JSON (`PublicKeyCredential.toJSON()`): base64url for every binary value."
    ),
]


class PasskeyIn(Body):
    credential: WebAuthnCredential
    name: PasskeyName = "Passkey"


class PasskeyNameIn(Body):
    name: PasskeyName


class PasskeySignInIn(Body):
    credential: WebAuthnCredential


class PasskeyOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    synced: bool = Field(description="Backup eligible: a passkey the platform syncs.")
    backed_up: bool


class AcceptedOut(BaseModel):
    """202: the request is taken; what it leads to is told by mail, not here."""

    detail: str


class UserOut(BaseModel):
    id: str
    email: str
    created_at: datetime


class MeOut(UserOut):
    email_verified: bool


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6750 scheme name
    expires_in: int
    refresh_token: str


class CookieTokenOut(BaseModel):
    """The answer in cookie transport: the tokens are in httpOnly cookies, not here."""

    expires_in: int


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool


class ErrorOut(BaseModel):
    error: str
    detail: str

"""Accounts: sign-up, sign-in, legacy hashes, disabling and changing passwords."""

from __future__ import annotations

import bcrypt
import pytest

from authgate.core.clock import FrozenClock
from authgate.core.store import User
from authgate.core.users import MAX_EMAIL_LENGTH
from authgate.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidGrant,
    PasswordRejected,
    RevokedToken,
)
from authgate.service import Service

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different horse entirely"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("ada@example.com", "ada@example.com"),
        ("ada@EXAMPLE.COM", "ada@example.com"),
        ("Ada@Example.COM", "Ada@example.com"),
        ("ada@BÜCHER.example", "ada@bücher.example"),
    ],
)
def test_sign_up_stores_the_normalised_address(service: Service, given: str, stored: str) -> None:
    user = service.parts.accounts.sign_up(given, PASSWORD)

    assert service.parts.accounts.get(user.id).email == stored


@pytest.mark.parametrize("again", ["ada@example.com", "ADA@EXAMPLE.COM", "aDa@eXaMpLe.CoM"])
def test_sign_up_refuses_an_email_taken_in_any_letter_case(service: Service, again: str) -> None:
    service.parts.accounts.sign_up("Ada@example.com", PASSWORD)

    with pytest.raises(EmailTaken):
        service.parts.accounts.sign_up(again, PASSWORD)


@pytest.mark.parametrize(
    "email",
    [
        pytest.param("", id="empty"),
        pytest.param("ada", id="no-at-sign"),
        pytest.param("ada@", id="no-domain"),
        pytest.param("@example.com", id="no-local-part"),
        pytest.param("ada@example", id="no-dot-in-domain"),
        pytest.param("ada@@example.com", id="two-at-signs"),
        pytest.param("ada@example..com", id="empty-domain-label"),
        pytest.param(".ada@example.com", id="leading-dot"),
        pytest.param("ada smith@example.com", id="space-in-local-part"),
        pytest.param(" ada@example.com", id="leading-space"),
        pytest.param("ada@example.com\n", id="trailing-newline"),
        pytest.param("ada@example.com\x00", id="nul-byte"),
        pytest.param("Ada <ada@example.com>", id="display-name"),
        pytest.param("ada@[127.0.0.1]", id="ip-literal"),
        pytest.param("ada@-example.com", id="domain-starts-with-hyphen"),
        pytest.param("a\ud800@example.com", id="unpaired-surrogate"),
        pytest.param("a@" + "b" * (MAX_EMAIL_LENGTH - 6) + ".com", id="over-254-characters"),
        pytest.param("a" * 65 + "@example.com", id="local-part-over-64-characters"),
    ],
)
def test_sign_up_refuses_an_invalid_email(service: Service, email: str) -> None:
    with pytest.raises(InvalidEmail):
        service.parts.accounts.sign_up(email, PASSWORD)


def test_sign_up_refuses_a_password_the_policy_rejects(service: Service) -> None:
    with pytest.raises(PasswordRejected):
        service.parts.accounts.sign_up("ada@example.com", "short")


def test_sign_up_does_not_store_the_password_in_clear(service: Service) -> None:
    user = service.parts.accounts.sign_up("ada@example.com", PASSWORD)

    stored = service.parts.accounts.get(user.id).password_hash

    assert (stored.startswith("$argon2id$"), PASSWORD in stored) == (True, False)


def test_sign_in_returns_the_user_whatever_the_letter_case_of_the_email(service: Service) -> None:
    user = service.parts.accounts.sign_up("ada@example.com", PASSWORD)

    assert service.parts.accounts.sign_in("ADA@Example.com", PASSWORD).id == user.id


@pytest.mark.parametrize(
    ("email", "password"),
    [
        pytest.param("nobody@example.com", PASSWORD, id="unknown-email"),
        pytest.param("not an e-mail", PASSWORD, id="invalid-email"),
        pytest.param("ada@example.com", "correct horse battery stapler", id="wrong-password"),
        pytest.param("ada@example.com", "", id="empty-password"),
        pytest.param("ada@example.com", PASSWORD * 40, id="oversized-password"),
    ],
)
def test_sign_in_with_bad_credentials_is_invalid_credentials(
    service: Service, email: str, password: str
) -> None:
    service.parts.accounts.sign_up("ada@example.com", PASSWORD)

    with pytest.raises(InvalidCredentials):
        service.parts.accounts.sign_in(email, password)


def test_unknown_email_and_wrong_password_fail_with_the_same_message(service: Service) -> None:
    service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials) as unknown:
        service.parts.accounts.sign_in("nobody@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials) as wrong:
        service.parts.accounts.sign_in("ada@example.com", NEW_PASSWORD)

    assert str(unknown.value) == str(wrong.value)


def test_disabled_user_cannot_sign_in_even_with_the_right_password(service: Service) -> None:
    user = service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    service.disable_user(user.id)

    with pytest.raises(InvalidCredentials):
        service.parts.accounts.sign_in("ada@example.com", PASSWORD)


def test_re_enabled_user_can_sign_in_again(service: Service) -> None:
    user = service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    service.disable_user(user.id)
    service.parts.accounts.enable(user.id)

    assert service.parts.accounts.sign_in("ada@example.com", PASSWORD).id == user.id


@pytest.fixture
def bcrypt_user(service: Service) -> User:
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    return service.parts.accounts.add("bob@example.com", legacy)


def test_user_with_a_legacy_bcrypt_hash_signs_in(service: Service, bcrypt_user: User) -> None:
    assert service.parts.accounts.sign_in("bob@example.com", PASSWORD).id == bcrypt_user.id


def test_sign_in_replaces_a_legacy_bcrypt_hash_with_argon2id(
    service: Service, bcrypt_user: User
) -> None:
    service.parts.accounts.sign_in("bob@example.com", PASSWORD)

    assert service.parts.accounts.get(bcrypt_user.id).password_hash.startswith("$argon2id$")


def test_rehashed_legacy_user_still_signs_in_with_the_same_password(
    service: Service, bcrypt_user: User
) -> None:
    service.parts.accounts.sign_in("bob@example.com", PASSWORD)

    assert service.parts.accounts.sign_in("bob@example.com", PASSWORD).id == bcrypt_user.id


def test_failed_sign_in_keeps_the_legacy_hash(service: Service, bcrypt_user: User) -> None:
    with pytest.raises(InvalidCredentials):
        service.parts.accounts.sign_in("bob@example.com", NEW_PASSWORD)

    assert service.parts.accounts.get(bcrypt_user.id).password_hash == bcrypt_user.password_hash


def test_changed_password_signs_in(service: Service) -> None:
    user = service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    service.parts.accounts.change_password(user.id, NEW_PASSWORD)

    assert service.parts.accounts.sign_in("ada@example.com", NEW_PASSWORD).id == user.id


def test_old_password_no_longer_signs_in_after_a_change(service: Service) -> None:
    user = service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    service.parts.accounts.change_password(user.id, NEW_PASSWORD)

    with pytest.raises(InvalidCredentials):
        service.parts.accounts.sign_in("ada@example.com", PASSWORD)


def test_change_password_applies_the_policy(service: Service) -> None:
    user = service.parts.accounts.sign_up("ada@example.com", PASSWORD)

    with pytest.raises(PasswordRejected):
        service.parts.accounts.change_password(user.id, "password1")


def test_access_token_issued_before_a_password_change_is_revoked(
    service: Service, clock: FrozenClock
) -> None:
    service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    before = service.sign_in("ada@example.com", PASSWORD)
    clock.advance(1)  # valid-after has whole-second precision, like iat
    service.parts.accounts.change_password(before.session.user_id, NEW_PASSWORD)
    service.parts.sync_revocations()

    with pytest.raises(RevokedToken):
        service.read(before.access_token)


def test_access_token_issued_after_a_password_change_is_accepted(
    service: Service, clock: FrozenClock
) -> None:
    user = service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    clock.advance(1)
    service.parts.accounts.change_password(user.id, NEW_PASSWORD)
    service.parts.sync_revocations()
    clock.advance(1)

    after = service.sign_in("ada@example.com", NEW_PASSWORD)

    assert service.read(after.access_token).subject == user.id


def test_refresh_token_issued_before_a_password_change_is_refused(
    service: Service, clock: FrozenClock
) -> None:
    """Otherwise whoever holds an old refresh token mints fresh access tokens after the change.

    DESIGN.md §3: a password change takes effect on the very next request; the docstring
    of Accounts.change_password: "tokens issued before now stop working".
    """
    service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    before = service.sign_in("ada@example.com", PASSWORD)
    clock.advance(1)
    service.parts.accounts.change_password(before.session.user_id, NEW_PASSWORD)
    service.parts.sync_revocations()

    with pytest.raises(InvalidGrant):
        service.refresh(before.refresh_token)


def test_refresh_token_of_a_disabled_user_is_refused(service: Service) -> None:
    user = service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    signed_in = service.sign_in("ada@example.com", PASSWORD)
    service.disable_user(user.id)

    with pytest.raises(InvalidGrant):
        service.refresh(signed_in.refresh_token)


def test_access_token_of_a_disabled_user_is_revoked(service: Service) -> None:
    user = service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    signed_in = service.sign_in("ada@example.com", PASSWORD)
    service.disable_user(user.id)

    with pytest.raises(RevokedToken):
        service.read(signed_in.access_token)


def test_service_password_change_refuses_old_tokens_on_the_very_next_request(
    service: Service, clock: FrozenClock
) -> None:
    """No poll needed in the process that changed it: sessions end and the set updates."""
    service.parts.accounts.sign_up("ada@example.com", PASSWORD)
    before = service.sign_in("ada@example.com", PASSWORD)

    assert service.change_password(before.session.user_id, NEW_PASSWORD) == 1

    with pytest.raises(RevokedToken):
        service.read(before.access_token)

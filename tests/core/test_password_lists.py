"""The password policy's lists: breached passwords shipped offline, and context words
(the service's names, the user's address) that must not carry a password (ASVS V6.2.11,
V6.2.12, V6.1.2)."""

from __future__ import annotations

import pytest

from authgate.core.breached import offline_breached
from authgate.core.passwords import FAST_FOR_TESTS, MAX_LENGTH, Passwords, common_passwords
from authgate.errors import PasswordRejected
from authgate.settings import Settings
from authgate.wiring import service_words
from helpers import PASSWORD

EMAIL = "jane.doe@example-shop.com"


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(FAST_FOR_TESTS, context_words=service_words(Settings()))


def test_the_offline_breached_list_comes_from_a_package_and_is_not_authgates_own() -> None:
    breached = offline_breached()
    assert len(breached) >= 30_000 - 100  # zxcvbn ships its 30,000 with a few duplicates
    assert len(breached - common_passwords()) > 15_000


@pytest.mark.parametrize("password", ["Minecraft", "q1w2e3r4t5", "FIREBIRD", "goodstuff"])
def test_a_breached_password_outside_the_common_list_is_refused(
    passwords: Passwords, password: str
) -> None:
    folded = password.lower()
    assert folded in offline_breached(), "pick a password the shipped list holds"
    assert folded not in common_passwords(), "this test is about the package's list"
    with pytest.raises(PasswordRejected, match="too common"):
        passwords.check_policy(password)


def test_a_full_width_breached_password_is_refused_as_the_typed_one(passwords: Passwords) -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "firebird")
    with pytest.raises(PasswordRejected, match="too common"):
        passwords.check_policy(full_width)


@pytest.mark.parametrize(
    "password",
    [
        "authgate",
        "Authgate2024!",
        "AUTHGATE-authgate",
        "".join(chr(ord(c) + 0xFEE0) for c in "authgate") + "123",  # full-width: the same word
    ],
)
def test_the_service_name_cannot_carry_a_password(passwords: Passwords, password: str) -> None:
    with pytest.raises(PasswordRejected, match="this service's name or your e-mail"):
        passwords.check_policy(password)


@pytest.mark.parametrize(
    "password",
    [EMAIL, "jane.doe1990", "JaneDoe!!", "doe-jane-2000", "example-shop1", "jane.doe@example"],
)
def test_the_users_address_cannot_carry_a_password(passwords: Passwords, password: str) -> None:
    passwords.check_policy(password)  # fine for someone else
    with pytest.raises(PasswordRejected, match="your e-mail address"):
        passwords.check_policy(password, email=EMAIL)


@pytest.mark.parametrize("address", ["bo@xy.io", "Bo@XY.io"])
def test_a_password_that_is_the_address_is_refused_however_short_its_parts(
    address: str,
) -> None:
    lenient = Passwords(FAST_FOR_TESTS)
    lenient.check_policy(address, email="someone@else.org")
    with pytest.raises(PasswordRejected, match="your e-mail address"):
        lenient.check_policy(address, email="bo@xy.io")


@pytest.mark.parametrize(
    "password",
    [
        "authgate keeps my horse stapled",  # the name inside a long passphrase
        "jane's correct horse battery",
        "comcomcomcom",  # a top-level domain is not a word of the address
    ],
)
def test_a_context_word_inside_enough_else_is_accepted(passwords: Passwords, password: str) -> None:
    passwords.check_policy(password, email=EMAIL)


def test_the_operators_words_and_host_names_are_context_words() -> None:
    settings = Settings(
        issuer="https://auth.acme-widgets.example",
        mail_from="Acme Widgets <no-reply@acme-widgets.example>",
        password_context_words=("Roadrunner",),
    )
    words = service_words(settings)
    assert {"authgate", "auth", "acme", "widgets", "example", "roadrunner"} <= words
    assert not words & {"www", "no", "reply", "com"}
    strict = Passwords(FAST_FOR_TESTS, context_words=words)
    for password in ("roadrunner99", "AcmeWidgets1", "acme-example"):
        with pytest.raises(PasswordRejected, match="this service's name"):
            strict.check_policy(password)
    strict.check_policy(PASSWORD)


def test_a_64_character_password_is_accepted_and_1024_is_the_ceiling(passwords: Passwords) -> None:
    sixty_four = ("correct horse battery staple " * 3)[:64]
    passwords.check_policy(sixty_four, email=EMAIL)
    passwords.check_policy("x" + "q7#" * ((MAX_LENGTH - 1) // 3), email=EMAIL)
    with pytest.raises(PasswordRejected, match="at most 1024"):
        passwords.check_policy("q" * (MAX_LENGTH + 1))


def test_context_words_shorter_than_three_characters_stop_startup() -> None:
    with pytest.raises(Exception, match="AUTHGATE_PASSWORD_CONTEXT_WORDS"):
        Settings.from_env({"AUTHGATE_PASSWORD_CONTEXT_WORDS": "acme, io"}, env_file=None)


def test_the_offline_lists_hold_3000_passwords_as_long_as_the_minimum() -> None:
    listed = common_passwords() | offline_breached()
    assert sum(len(p) >= 8 for p in listed) >= 3_000
    assert sum(len(p) >= 8 for p in common_passwords()) < 3_000  # the package is what counts

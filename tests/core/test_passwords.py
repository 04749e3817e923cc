"""Password hashing (argon2id, legacy bcrypt) and the password policy."""

from __future__ import annotations

import bcrypt
import pytest

from authgate.core.passwords import (
    FAST_FOR_TESTS,
    MAX_LENGTH,
    RECOMMENDED,
    Passwords,
    common_passwords,
)
from authgate.errors import InvalidCredentials, PasswordRejected
from helpers import PASSWORD


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(FAST_FOR_TESTS)


def bcrypt_hash(password: str, prefix: str) -> str:
    """A legacy hash as another system stored it ($2y$ is PHP's name for $2b$)."""
    salt = bcrypt.gensalt(rounds=4, prefix=b"2a" if prefix == "2a" else b"2b")
    hashed = bcrypt.hashpw(password.encode(), salt).decode()
    return hashed.replace("$2b$", f"${prefix}$", 1)


def test_recommended_preset_hashes_with_owasp_argon2id_parameters() -> None:
    hashed = Passwords(RECOMMENDED).hash(PASSWORD)

    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_password_verifies_against_its_own_hash(passwords: Passwords) -> None:
    assert passwords.verify(passwords.hash(PASSWORD), PASSWORD) is True


def test_wrong_password_is_invalid_credentials(passwords: Passwords) -> None:
    hashed = passwords.hash(PASSWORD)

    with pytest.raises(InvalidCredentials):
        passwords.verify(hashed, "correct horse battery stapler")


def test_same_password_hashes_differently_each_time(passwords: Passwords) -> None:
    assert passwords.hash(PASSWORD) != passwords.hash(PASSWORD)


@pytest.mark.parametrize(
    "stored_hash",
    [
        pytest.param("", id="empty"),
        pytest.param("plaintext password", id="not-a-hash"),
        pytest.param("$argon2id$v=19$m=64,t=1,p=1$garbage", id="truncated-argon2id"),
        pytest.param("$2b$04$garbage", id="truncated-bcrypt"),
    ],
)
def test_unreadable_stored_hash_is_invalid_credentials(
    passwords: Passwords, stored_hash: str
) -> None:
    with pytest.raises(InvalidCredentials):
        passwords.verify(stored_hash, PASSWORD)


@pytest.mark.parametrize("prefix", ["2a", "2b", "2y"])
def test_legacy_bcrypt_hash_verifies(passwords: Passwords, prefix: str) -> None:
    stored = bcrypt_hash(PASSWORD, prefix)
    assert stored.startswith(f"${prefix}$04$")

    assert passwords.verify(stored, PASSWORD) is True


@pytest.mark.parametrize("prefix", ["2a", "2b", "2y"])
def test_legacy_bcrypt_hash_refuses_a_wrong_password(passwords: Passwords, prefix: str) -> None:
    stored = bcrypt_hash(PASSWORD, prefix)

    with pytest.raises(InvalidCredentials):
        passwords.verify(stored, "correct horse battery stapler")


@pytest.mark.parametrize("prefix", ["2a", "2b", "2y"])
def test_legacy_bcrypt_hash_needs_rehash(passwords: Passwords, prefix: str) -> None:
    assert passwords.needs_rehash(bcrypt_hash(PASSWORD, prefix), PASSWORD) is True


def test_legacy_bcrypt_hash_of_a_password_over_72_bytes_is_kept(passwords: Passwords) -> None:
    """bcrypt checked only 72 bytes; rehashing another tail would lock the owner out."""
    long_password = "x" * 80

    assert passwords.needs_rehash(bcrypt_hash(long_password[:72], "2b"), long_password) is False


def test_own_argon2id_hash_needs_no_rehash(passwords: Passwords) -> None:
    assert passwords.needs_rehash(passwords.hash(PASSWORD), PASSWORD) is False


def test_argon2id_hash_with_other_parameters_needs_rehash(passwords: Passwords) -> None:
    other = Passwords(RECOMMENDED).hash(PASSWORD)

    assert passwords.needs_rehash(other, PASSWORD) is True


def test_argon2id_reads_the_whole_password_past_72_bytes(passwords: Passwords) -> None:
    """Unlike bcrypt, two long passwords differing only at character 80 do not match."""
    first = "a" * 79 + "b" + "c" * 20
    second = "a" * 79 + "X" + "c" * 20
    hashed = passwords.hash(first)

    with pytest.raises(InvalidCredentials):
        passwords.verify(hashed, second)


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("pässwörd mit Ümläuten", id="latin-accents"),
        pytest.param("密码是正确的马电池", id="cjk"),
        pytest.param("lock 🔐 and key 🔑", id="emoji"),
        pytest.param("before\x00after NUL", id="nul-byte"),
        pytest.param("\x00" * 8, id="only-nul-bytes"),
    ],
)
def test_unusual_characters_round_trip(passwords: Passwords, password: str) -> None:
    assert passwords.verify(passwords.hash(password), password) is True


def test_password_is_not_cut_at_a_nul_byte(passwords: Passwords) -> None:
    hashed = passwords.hash("before\x00after NUL")

    with pytest.raises(InvalidCredentials):
        passwords.verify(hashed, "before")


def test_canonically_equivalent_spellings_verify(passwords: Passwords) -> None:
    """NFKC (NIST SP 800-63B §5.1.1.2): a composed é matches e + combining acute."""
    hashed = passwords.hash("caf\u00e9 au lait")

    assert passwords.verify(hashed, "cafe\u0301 au lait") is True


def test_policy_refuses_a_password_longer_than_the_maximum(passwords: Passwords) -> None:
    with pytest.raises(PasswordRejected, match="at most"):
        passwords.check_policy("x" * (MAX_LENGTH + 1))


def test_policy_accepts_a_password_of_the_maximum_length(passwords: Passwords) -> None:
    passwords.check_policy("x" * (MAX_LENGTH - 1) + "y")


def test_verify_refuses_a_password_longer_than_the_maximum_even_when_it_matches(
    passwords: Passwords,
) -> None:
    """Refused before hashing: even the hash of that very password does not let it in."""
    too_long = "x" * (MAX_LENGTH + 1)
    hashed = passwords.hash(too_long)

    with pytest.raises(InvalidCredentials):
        passwords.verify(hashed, too_long)


@pytest.mark.parametrize("password", ["", "a", "seven77"])
def test_policy_refuses_a_password_shorter_than_the_minimum(
    passwords: Passwords, password: str
) -> None:
    with pytest.raises(PasswordRejected, match="at least 8"):
        passwords.check_policy(password)


def test_policy_accepts_an_uncommon_password_of_the_minimum_length(passwords: Passwords) -> None:
    passwords.check_policy("zq8#Lm2!")


def test_policy_minimum_is_configurable() -> None:
    with pytest.raises(PasswordRejected, match="at least 12"):
        Passwords(FAST_FOR_TESTS, min_length=12).check_policy("zq8#Lm2!xyz")


@pytest.mark.parametrize("password", ["password1", "iloveyou", "PassWord1", "QWERTYUIOP"])
def test_policy_refuses_a_common_password_in_any_letter_case(
    passwords: Passwords, password: str
) -> None:
    assert password.lower() in common_passwords()

    with pytest.raises(PasswordRejected, match="too common"):
        passwords.check_policy(password)


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("abcdefgh\ud800", id="lone-high-surrogate"),
        pytest.param("\udc00abcdefgh", id="lone-low-surrogate"),
    ],
)
def test_policy_refuses_an_unpaired_surrogate(passwords: Passwords, password: str) -> None:
    with pytest.raises(PasswordRejected, match="surrogate"):
        passwords.check_policy(password)


def test_verify_refuses_an_unpaired_surrogate(passwords: Passwords) -> None:
    with pytest.raises(InvalidCredentials):
        passwords.verify(passwords.hash(PASSWORD), "abcdefgh\ud800")


@pytest.mark.parametrize(
    "password",
    [
        pytest.param(PASSWORD, id="ordinary"),
        pytest.param("", id="empty"),
        pytest.param("authgate dummy password", id="the-dummy-hash-password"),
        pytest.param("x" * (MAX_LENGTH + 1), id="too-long"),
        pytest.param("abcdefgh\ud800", id="unpaired-surrogate"),
    ],
)
def test_verify_dummy_always_fails(passwords: Passwords, password: str) -> None:
    with pytest.raises(InvalidCredentials):
        passwords.verify_dummy(password)

"""The password policy judges what is hashed: the NFKC form, case-folded for the common list.

A password is hashed NFKC-normalised (NIST SP 800-63B §5.1.1.2), so "password" typed in
full-width letters (U+FF50 U+FF41 ...) is "password": the policy must refuse both.
"""

from __future__ import annotations

import unicodedata

import pytest
from fastapi.testclient import TestClient

from authgate.core.passwords import FAST_FOR_TESTS, Passwords, common_passwords
from authgate.errors import PasswordRejected

EMAIL = "ada@example.com"


def full_width(text: str) -> str:
    """ASCII letters, digits and signs as their full-width forms (U+FF01 to U+FF5E)."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


def bold(text: str) -> str:
    """Lowercase ASCII letters as MATHEMATICAL BOLD SMALL letters (U+1D41A on)."""
    return "".join(chr(0x1D41A + ord(char) - ord("a")) for char in text)


COMMON_SPELLINGS = [
    pytest.param(full_width("password"), id="full-width"),
    pytest.param(full_width("PASSWORD1"), id="full-width-upper-case-and-digit"),
    pytest.param(full_width("QWERTY123"), id="full-width-qwerty123"),
    pytest.param("p" + full_width("a") + "s" + full_width("s") + "word", id="half-and-full-width"),
    pytest.param("PassWord", id="letter-case"),
    pytest.param(full_width("PassWord"), id="full-width-letter-case"),
    pytest.param(bold("password"), id="mathematical-bold"),
]
# Combining sequences that NFKC composes: eight characters typed, four hashed.
SHRINKING = [
    pytest.param("e\u0301" * 4, id="combining-acute"),
    pytest.param("\u1100\u1161" * 4, id="hangul-jamo"),
]
FINE = [
    pytest.param("パスワードは秘密です", id="japanese"),
    pytest.param("léon's 3rd passphrase", id="latin-accents"),
    pytest.param(full_width("zq8#Lm2!"), id="full-width-uncommon"),
]


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(FAST_FOR_TESTS)


def test_the_common_list_is_in_the_form_passwords_are_compared_in() -> None:
    """Lowercase ASCII: what NFKC and case folding make of any spelling of its entries."""
    assert all(entry.isascii() and entry == entry.lower() for entry in common_passwords())


@pytest.mark.parametrize("password", COMMON_SPELLINGS)
def test_policy_refuses_every_spelling_of_a_common_password(
    passwords: Passwords, password: str
) -> None:
    assert unicodedata.normalize("NFKC", password).lower() in common_passwords()

    with pytest.raises(PasswordRejected, match="too common"):
        passwords.check_policy(password)


@pytest.mark.parametrize("password", SHRINKING)
def test_policy_counts_the_length_of_what_is_hashed(passwords: Passwords, password: str) -> None:
    assert len(password) == 8
    assert len(unicodedata.normalize("NFKC", password)) == 4

    with pytest.raises(PasswordRejected, match="at least 8"):
        passwords.check_policy(password)


@pytest.mark.parametrize("password", FINE)
def test_policy_accepts_an_uncommon_non_ascii_password(passwords: Passwords, password: str) -> None:
    passwords.check_policy(password)


@pytest.mark.parametrize("password", [*COMMON_SPELLINGS, *SHRINKING])
def test_sign_up_refuses_them_with_422_and_password_does_not_sign_in(
    client: TestClient, password: str
) -> None:
    response = client.post("/sign-up", json={"email": EMAIL, "password": password})

    assert response.status_code == 422
    assert response.json()["error"] == "password_rejected"
    for attempt in (password, unicodedata.normalize("NFKC", password)):
        signed_in = client.post("/sign-in", json={"email": EMAIL, "password": attempt})
        assert signed_in.status_code == 401


@pytest.mark.parametrize("password", FINE)
def test_sign_up_accepts_a_fine_non_ascii_password_in_either_spelling(
    client: TestClient, password: str
) -> None:
    response = client.post("/sign-up", json={"email": EMAIL, "password": password})
    assert response.status_code == 201

    for attempt in (password, unicodedata.normalize("NFKC", password)):
        signed_in = client.post("/sign-in", json={"email": EMAIL, "password": attempt})
        assert signed_in.status_code == 200

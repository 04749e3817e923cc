"""Sealing at rest: AES-256-GCM in a versioned format that names its key (ASVS 5.0
V11.3.2), older Fernet values still read, and previous key-encryption keys for a rotation
(V11.2.2). What the store does with them at startup is in tests/storage/test_sealing.py."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authgate.core.keys import reseal, seal, sealed_prefix, sealing_key_id, unseal
from authgate.errors import ConfigurationError
from authgate.settings import Secret, Settings
from helpers import sealed_by_fernet

SECRET = b"-----BEGIN PRIVATE KEY-----"
FORMAT = re.compile(rb"ag1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+=*")
PREFIX_LENGTH = len(b"ag1.") + 8 + len(b".")
NONCE, TAG = 12, 16


def strong_key() -> str:
    """A key-encryption key as `authgate secret` prints one."""
    return secrets.token_urlsafe(32)


def body_of(sealed: bytes) -> bytes:
    """Nonce, ciphertext and tag: the base64url after the prefix, decoded."""
    return base64.urlsafe_b64decode(sealed[PREFIX_LENGTH:])


def with_body(sealed: bytes, body: bytes) -> bytes:
    return sealed[:PREFIX_LENGTH] + base64.urlsafe_b64encode(body)


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


# -- the format ---------------------------------------------------------------------------


def test_a_sealed_value_opens_with_the_key_encryption_key_that_sealed_it() -> None:
    kek = strong_key()

    assert unseal(seal(SECRET, kek), kek) == SECRET


def test_a_sealed_value_names_its_format_and_key_and_holds_a_nonce_the_ciphertext_and_a_tag() -> (
    None
):
    kek = strong_key()
    sealed = seal(SECRET, kek)

    assert FORMAT.fullmatch(sealed)
    assert sealed.startswith(b"ag1." + sealing_key_id(kek).encode() + b".")
    assert sealed.startswith(sealed_prefix(kek))
    assert len(body_of(sealed)) == NONCE + len(SECRET) + TAG
    assert SECRET not in sealed
    assert SECRET not in body_of(sealed)


def test_the_sealing_key_is_aes_256_gcm_with_the_format_and_key_id_as_associated_data() -> None:
    """The label is authenticated: the same bytes under another label do not open, so no
    later format reads them as its own and no edit of the label goes unnoticed."""
    kek = strong_key()
    sealed = seal(SECRET, kek)
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"authgate sealing ag1"
    ).derive(kek.encode())
    body = body_of(sealed)
    cipher = AESGCM(key)

    assert cipher.decrypt(body[:NONCE], body[NONCE:], sealed_prefix(kek)) == SECRET
    with pytest.raises(InvalidTag):
        cipher.decrypt(body[:NONCE], body[NONCE:], b"")
    with pytest.raises(InvalidTag):
        cipher.decrypt(body[:NONCE], body[NONCE:], b"ag2." + sealed[4:PREFIX_LENGTH])


def test_sealing_one_value_twice_gives_two_values_with_fresh_nonces() -> None:
    kek = strong_key()

    sealed = {seal(SECRET, kek) for _ in range(200)}

    assert len(sealed) == 200
    assert len({body_of(value)[:NONCE] for value in sealed}) == 200


# -- tampering ----------------------------------------------------------------------------


def relabelled_as_version_2(sealed: bytes) -> bytes:
    return b"ag2" + sealed[3:]


def with_another_key_id(sealed: bytes) -> bytes:
    key_id = sealed[4:12].decode()
    other = f"{(int(key_id, 16) + 1) % 2**32:08x}".encode()
    return sealed[:4] + other + sealed[12:]


def nonce_changed(sealed: bytes) -> bytes:
    return with_body(sealed, flipped(body_of(sealed), 0))


def ciphertext_changed(sealed: bytes) -> bytes:
    return with_body(sealed, flipped(body_of(sealed), NONCE + 3))


def tag_changed(sealed: bytes) -> bytes:
    return with_body(sealed, flipped(body_of(sealed), len(body_of(sealed)) - 1))


def tag_cut_short(sealed: bytes) -> bytes:
    return with_body(sealed, body_of(sealed)[:-1])


def bytes_appended(sealed: bytes) -> bytes:
    return with_body(sealed, body_of(sealed) + b"\x00")


def without_its_prefix(sealed: bytes) -> bytes:
    return sealed[PREFIX_LENGTH:]


ALTERATIONS = [
    pytest.param(relabelled_as_version_2, id="format-version"),
    pytest.param(with_another_key_id, id="key-id"),
    pytest.param(nonce_changed, id="nonce"),
    pytest.param(ciphertext_changed, id="ciphertext"),
    pytest.param(tag_changed, id="tag"),
    pytest.param(tag_cut_short, id="truncated"),
    pytest.param(bytes_appended, id="extended"),
    pytest.param(without_its_prefix, id="prefix-removed"),
]


@pytest.mark.parametrize("alter", ALTERATIONS)
def test_a_sealed_value_altered_in_any_part_is_refused(alter: Callable[[bytes], bytes]) -> None:
    kek = strong_key()

    with pytest.raises(ConfigurationError, match="does not decrypt") as refused:
        unseal(alter(seal(SECRET, kek)), kek)

    assert "PRIVATE" not in str(refused.value)


def test_no_byte_of_a_sealed_value_can_be_changed_unnoticed() -> None:
    """Every position, prefix and base64url text alike: decoding takes only the canonical
    encoding, so not even the spare bits of the last character are free."""
    kek = strong_key()
    sealed = seal(SECRET, kek)

    for at in range(len(sealed)):
        for bit in (0x01, 0x02, 0x20):
            altered = sealed[:at] + bytes([sealed[at] ^ bit]) + sealed[at + 1 :]
            with pytest.raises(ConfigurationError, match="does not decrypt"):
                unseal(altered, kek)


# -- older values and other keys ----------------------------------------------------------


def test_a_value_sealed_with_fernet_by_an_older_version_still_opens() -> None:
    kek = strong_key()
    older = sealed_by_fernet(SECRET, kek)

    assert older.startswith(b"gAAAAA")
    assert unseal(older, kek) == SECRET


def test_an_altered_fernet_value_is_refused() -> None:
    kek = strong_key()
    older = base64.urlsafe_b64decode(sealed_by_fernet(SECRET, kek))

    for at in (9, 30, len(older) - 1):  # IV, ciphertext, HMAC
        with pytest.raises(ConfigurationError, match="does not decrypt"):
            unseal(base64.urlsafe_b64encode(flipped(older, at)), kek)


@pytest.mark.parametrize("sealed_by", [seal, sealed_by_fernet], ids=["ag1", "fernet"])
def test_a_value_sealed_under_a_previous_key_opens_when_that_key_is_given(
    sealed_by: Callable[[bytes, str], bytes],
) -> None:
    previous, current = strong_key(), strong_key()
    sealed = sealed_by(SECRET, previous)

    assert unseal(sealed, current, previous=(strong_key(), previous)) == SECRET
    with pytest.raises(ConfigurationError, match="nor does any of AUTHGATE_PREVIOUS_KEY"):
        unseal(sealed, current, previous=(strong_key(),))


@pytest.mark.parametrize("sealed_by", [seal, sealed_by_fernet], ids=["ag1", "fernet"])
def test_a_value_sealed_under_another_key_is_refused_with_the_clear_error(
    sealed_by: Callable[[bytes, str], bytes],
) -> None:
    with pytest.raises(
        ConfigurationError, match=r"^AUTHGATE_KEY_ENCRYPTION_KEY does not decrypt the stored keys$"
    ):
        unseal(sealed_by(SECRET, strong_key()), strong_key())


@pytest.mark.parametrize(
    ("stored", "sealed"),
    [
        pytest.param(lambda kek, previous: SECRET, False, id="clear"),
        pytest.param(lambda kek, previous: sealed_by_fernet(SECRET, kek), True, id="fernet"),
        pytest.param(lambda kek, previous: seal(SECRET, previous), True, id="previous-key"),
        pytest.param(
            lambda kek, previous: sealed_by_fernet(SECRET, previous), True, id="fernet-previous"
        ),
    ],
)
def test_resealing_gives_the_current_format_under_the_current_key(
    stored: Callable[[str, str], bytes], sealed: bool
) -> None:
    kek, previous = strong_key(), strong_key()

    resealed = reseal(
        stored(kek, previous), sealed=sealed, key_encryption_key=kek, previous=[previous]
    )

    assert resealed.startswith(sealed_prefix(kek))
    assert unseal(resealed, kek) == SECRET


# -- the setting --------------------------------------------------------------------------


def test_previous_key_encryption_keys_are_read_comma_separated_from_the_environment() -> None:
    current, first, second = strong_key(), strong_key(), strong_key()

    settings = Settings.from_env(
        {
            "AUTHGATE_KEY_ENCRYPTION_KEY": current,
            "AUTHGATE_PREVIOUS_KEY_ENCRYPTION_KEYS": f"{first}, {second},",
        },
        env_file=None,
    )

    assert settings.previous_key_encryption_keys == (Secret(first), Secret(second))
    assert first not in repr(settings)


def test_a_weak_previous_key_encryption_key_is_taken_so_its_secrets_can_move_off_it() -> None:
    """A deployment that sealed under a passphrase (before startup checked) can rotate away."""
    weak, strong = "a passphrase", strong_key()
    settings = Settings(
        key_encryption_key=Secret(strong), previous_key_encryption_keys=(Secret(weak),)
    )
    assert settings.previous_key_encryption_keys == (Secret(weak),)
    with pytest.raises(ConfigurationError, match="AUTHGATE_KEY_ENCRYPTION_KEY"):
        Settings(key_encryption_key=Secret(weak))  # but never as the key sealing from now on


def test_previous_key_encryption_keys_without_a_current_one_stop_startup() -> None:
    with pytest.raises(ConfigurationError, match="needs AUTHGATE_KEY_ENCRYPTION_KEY"):
        Settings(previous_key_encryption_keys=(Secret(strong_key()),))


def test_the_current_key_encryption_key_among_the_previous_ones_stops_startup() -> None:
    kek = strong_key()

    with pytest.raises(ConfigurationError, match="must not hold AUTHGATE_KEY_ENCRYPTION_KEY"):
        Settings(key_encryption_key=Secret(kek), previous_key_encryption_keys=(Secret(kek),))
